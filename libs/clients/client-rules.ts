import type { FieldProblem } from '#admin';
import { type EgressPolicy, egressUrlProblem } from '#egress';
import { checkClientJwks } from './client-keys.js';
import { federatedIdentityProblems } from './federated-identities.js';
import type { ClientRecord } from './client-record.js';

// RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;


/**
 * Whether `value` could name a client at all. Generated ids are `tg_` + base64url (16 characters);
 * 1–200 printable ASCII characters are allowed, so that nothing else (NUL, controls, lone
 * surrogates, megabytes) reaches a query: such an id is simply unknown.
 */
export function couldBeClientId(value: unknown): value is string {
  return typeof value === 'string' && /^[\x21-\x7e]{1,200}$/.test(value);
}

/** RFC 8707 §2: a resource is an absolute URI without a fragment. */
export function resourceProblem(value: string): string | undefined {
  const url = URL.parse(value);
  if (!url) return 'must be an absolute URI';
  if (value.includes('#')) return 'must not contain a fragment';
  return undefined;
}

/** The fields a complete client must satisfy, checked after a create or a patch is merged. */
export type ClientShape = Pick<
  ClientRecord,
  'roles' | 'tokenEndpointAuthMethod' | 'jwks' | 'jwksUri' | 'federatedIdentities' | 'scopes' | 'allowedResources' | 'accessTokenTtl'
>;

export async function clientProblems(c: ClientShape, maxTtl: number, egress: EgressPolicy): Promise<FieldProblem[]> {
  const problems: FieldProblem[] = [];
  const add = (field: string, message: string) => problems.push({ field, message });

  if (c.roles.length !== 1) add('roles', 'must be ["workload"] or ["gateway"]');
  const role = c.roles[0];
  if (role === 'workload') {
    if (c.tokenEndpointAuthMethod !== 'private_key_jwt') {
      add('token_endpoint_auth_method', 'workload clients authenticate with private_key_jwt (RFC 7523)');
    }
    // docs/federation.md: federated identities may stand instead of registered keys.
    if (c.jwks && c.jwksUri) add('jwks', 'send either jwks or jwks_uri, not both');
    else if (!c.jwks && !c.jwksUri && c.federatedIdentities.length === 0) {
      add('jwks', 'one of jwks, jwks_uri or federated_identities is required for private_key_jwt');
    }
    if (c.allowedResources.length === 0) add('allowed_resources', 'a workload needs at least one resource (RFC 8707) its tokens may be for');
  }
  if (role === 'gateway') {
    if (c.tokenEndpointAuthMethod !== 'client_secret_basic') {
      add('token_endpoint_auth_method', 'gateway clients authenticate with client_secret_basic');
    }
    if (c.jwks || c.jwksUri) add('jwks', 'gateway clients authenticate with a secret, not keys');
    if (c.federatedIdentities.length) add('federated_identities', 'gateway clients authenticate with a secret, not platform tokens');
  }
  if (c.jwks) {
    for (const p of await checkClientJwks(c.jwks)) add(p.field, p.message);
  }
  for (const p of federatedIdentityProblems(c.federatedIdentities)) add(p.field, p.message);
  if (c.jwksUri) {
    // https, and not an address of ours or of the network we run in (docs/operations.md,
    // "Outbound fetches"); every fetch checks the resolved address again.
    const problem = egressUrlProblem(c.jwksUri, egress);
    if (problem) add('jwks_uri', problem);
  }
  c.scopes.forEach((s, i) => {
    if (!SCOPE_TOKEN.test(s)) add(`scope[${i}]`, `"${s}" is not a valid scope token (RFC 6749 §3.3)`);
  });
  c.allowedResources.forEach((r, i) => {
    const problem = resourceProblem(r);
    if (problem) add(`allowed_resources[${i}]`, problem);
  });
  if (c.accessTokenTtl !== null && c.accessTokenTtl > maxTtl) {
    add('access_token_ttl', `must not exceed the server maximum of ${maxTtl} seconds`);
  }
  return problems;
}
