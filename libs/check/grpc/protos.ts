import { fileURLToPath } from 'node:url';
import grpc from '@grpc/grpc-js';
import { loadSync, type PackageDefinition } from '@grpc/proto-loader';

/** The vendored protos (README.md beside them names their origin). */
const PROTOS = fileURLToPath(new URL('../../../../libs/check/grpc/protos', import.meta.url));

/** The services Tollgate serves, and that a gateway (or a test playing one) calls. */
export interface ExtAuthzServices {
  definition: PackageDefinition;
  envoy: { service: { auth: { v3: { Authorization: grpc.ServiceClientConstructor } } } };
  grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } };
}

/**
 * Envoy's v3 ext_authz service and grpc.health.v1, loaded from the vendored protos with the
 * field names as the protos spell them (keepCase), so both ends read the same messages.
 */
export function loadExtAuthzServices(): ExtAuthzServices {
  const definition = loadSync(['envoy/service/auth/v3/external_auth.proto', 'grpc/health/v1/health.proto'], {
    includeDirs: [PROTOS],
    keepCase: true,
    longs: String,
    enums: String,
    defaults: false,
    oneofs: true,
  });
  return { definition, ...(grpc.loadPackageDefinition(definition) as unknown as Omit<ExtAuthzServices, 'definition'>) };
}
