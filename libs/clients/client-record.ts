import type { JWK } from 'jose';
import { WORKLOAD_GRANT_TYPES } from '#protocol';
import type { FederatedIdentity } from './federated-identities.js';

export type ClientRole = 'workload' | 'gateway';
export type ClientStatus = 'active' | 'suspended';

/** A machine client as the rest of Tollgate sees it (never the stored secret). */
export interface ClientRecord {
  clientId: string;
  clientName: string | null;
  roles: ClientRole[];
  status: ClientStatus;
  tokenEndpointAuthMethod: 'private_key_jwt' | 'client_secret_basic';
  jwks: { keys: JWK[] } | null;
  jwksUri: string | null;
  /** Who may authenticate as this client with a platform token (docs/federation.md); [] when none. */
  federatedIdentities: FederatedIdentity[];
  scopes: string[];
  allowedResources: string[];
  accessTokenTtl: number | null;
  dpopBoundAccessTokens: boolean;
  requireDpopNonce: boolean;
  /** scrypt hash; present for gateway clients only. */
  secretHash: string | null;
  /** SHA-256 (base64url) of the RFC 7592 registration access token, when registered dynamically. */
  registrationTokenHash: string | null;
  version: number;
  createdAt: Date;
  updatedAt: Date;
}

/** RFC 7591 §3.2.1 field names, plus Tollgate's extensions (roles, allowed_resources, ...). */
export function clientView(c: ClientRecord) {
  return {
    client_id: c.clientId,
    client_name: c.clientName ?? undefined,
    client_id_issued_at: Math.floor(c.createdAt.getTime() / 1000),
    token_endpoint_auth_method: c.tokenEndpointAuthMethod,
    // docs/step-up.md §4: every workload may answer step-up challenges.
    grant_types: c.roles.includes('workload') ? [...WORKLOAD_GRANT_TYPES] : [],
    ...(c.jwks ? { jwks: c.jwks } : {}),
    ...(c.jwksUri ? { jwks_uri: c.jwksUri } : {}),
    ...(c.federatedIdentities.length ? { federated_identities: c.federatedIdentities } : {}),
    scope: c.scopes.join(' '),
    roles: c.roles,
    allowed_resources: c.allowedResources,
    access_token_ttl: c.accessTokenTtl ?? undefined,
    dpop_bound_access_tokens: c.dpopBoundAccessTokens,
    require_dpop_nonce: c.requireDpopNonce,
    status: c.status,
    created_at: c.createdAt.toISOString(),
    updated_at: c.updatedAt.toISOString(),
  };
}
export type ClientView = ReturnType<typeof clientView>;
