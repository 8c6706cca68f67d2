import { generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import { exportJWK, type JWK, SignJWT } from 'jose';

/** The hand-over assertion lives this long: it is verified by oidc-provider within the same request. */
const LIFETIME_SECONDS = 30;

/**
 * The hand-over from ProviderHost to oidc-provider for a workload that authenticated with a
 * platform token (docs/federation.md, "How the token endpoint does it"). oidc-provider has no
 * extension point for other client credentials, so once ProviderHost has verified the platform
 * token against the client's federated identities it replaces the request's assertion with an
 * RFC 7523 assertion of the client (iss = sub = client_id) signed by this key, and the adapter
 * adds this key's public half to the keys of clients that have federated identities only.
 *
 * The key pair is made at start, per process, and the private key never leaves it: the request
 * that carries the hand-over assertion is handled by the process that made it, so nothing is
 * shared between instances or workers. The public key is never published anywhere else.
 */
export class FederatedAssertions {
  private readonly privateKey: KeyObject;
  readonly publicJwk: Promise<JWK>;
  private readonly kid = `tollgate-federation-${randomUUID()}`;

  constructor() {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    this.privateKey = privateKey;
    this.publicJwk = exportJWK(publicKey).then((jwk) => Object.freeze({ ...jwk, kid: this.kid, alg: 'ES256', use: 'sig' }));
  }

  /** A single-use RFC 7523 §3 assertion for `clientId`, addressed to `audience` (the token endpoint). */
  mint(clientId: string, audience: string): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ jti: randomUUID() })
      .setProtectedHeader({ alg: 'ES256', kid: this.kid })
      .setIssuer(clientId)
      .setSubject(clientId)
      .setAudience(audience)
      .setIssuedAt(now)
      .setExpirationTime(now + LIFETIME_SECONDS)
      .sign(this.privateKey);
  }
}
