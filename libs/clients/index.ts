export { ClientsModule } from './clients.module.js';
export { ClientRegistry } from './client-registry.js';
export { ClientKeySets, ClientKeysUnavailable, fetchCheckedJwks, JwksBreaksKeyRules } from './client-key-sets.js';
export { checkClientJwks, publicJwks } from './client-keys.js';
export type { ClientRecord, ClientRole, ClientStatus } from './client-record.js';
export { SecretVerifier } from './client-secret.js';
export { ResourceCatalog, type ProtectedResource } from './resource-catalog.js';
export {
  claimAt,
  DEFAULT_MAX_LIFETIME,
  type FederatedIdentity,
  globMatches,
  identityMismatch,
  isTenantWide,
  spiffeTrustDomainOf,
  TENANT_CLAIMS,
} from './federated-identities.js';
