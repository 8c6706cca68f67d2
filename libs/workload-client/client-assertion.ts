import { randomUUID } from 'node:crypto';
import { compactJws, type JwsSigner } from './jws.js';

export const JWT_BEARER_ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** How long an assertion is good for: RFC 7523 §3 wants `exp`; it only has to survive one request. */
const LIFETIME_SECONDS = 60;

/**
 * A private_key_jwt client assertion (RFC 7523 §3, OIDC Core §9): iss = sub = client_id, aud =
 * the issuer, single-use jti. `nonce` answers a step-up challenge (docs/step-up.md §4).
 */
export async function clientAssertion(signer: JwsSigner, clientId: string, audience: string, nonce?: string): Promise<string> {
  const iat = Math.floor(Date.now() / 1000);
  const claims: Record<string, unknown> = { iss: clientId, sub: clientId, aud: audience, jti: randomUUID(), iat, exp: iat + LIFETIME_SECONDS };
  if (nonce !== undefined) claims.nonce = nonce;
  return compactJws(signer, {}, claims);
}
