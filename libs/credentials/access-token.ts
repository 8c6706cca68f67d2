import { createLocalJWKSet, type JWTPayload, jwtVerify } from 'jose';
import type { ClientRecord } from '#clients';
import type { RevocationList } from './revocation-list.js';

export interface AccessTokenClaims extends JWTPayload {
  client_id: string;
  scope?: string;
  cnf?: { jkt?: string };
  acr?: string;
  amr?: string[];
  auth_time?: number;
}

export type TokenVerdict =
  | { active: true; claims: AccessTokenClaims; client: ClientRecord }
  | { active: false; reason: 'malformed' | 'expired' | 'revoked' | 'client_inactive' };

/**
 * Verifies Tollgate's own RFC 9068 access tokens locally: signature against the published
 * keys, `typ: at+jwt` (§2.1), issuer, expiry; then revocation and the client's current status,
 * both from memory. No database round trip.
 */
export class AccessTokenVerifier {
  private keySet?: ReturnType<typeof createLocalJWKSet>;

  constructor(
    private readonly issuer: string,
    private readonly clockSkew: number,
    private readonly publicJwks: () => { keys: object[] },
    private readonly revocations: RevocationList,
    private readonly lookupClient: (clientId: string) => Promise<ClientRecord | null>,
  ) {}

  /** Call when the key ring changes. */
  refreshKeys(): void {
    this.keySet = undefined;
  }

  async verify(token: string, options: { ignoreExpiry?: boolean } = {}): Promise<TokenVerdict> {
    this.keySet ??= createLocalJWKSet(this.publicJwks() as any);
    let claims: AccessTokenClaims;
    try {
      ({ payload: claims } = (await jwtVerify(token, this.keySet, {
        issuer: this.issuer,
        typ: 'at+jwt',
        algorithms: ['ES256'],
        clockTolerance: options.ignoreExpiry ? Number.MAX_SAFE_INTEGER : this.clockSkew,
        requiredClaims: ['exp', 'iat', 'jti', 'client_id', 'aud'],
      })) as { payload: AccessTokenClaims });
    } catch (error) {
      return { active: false, reason: (error as { code?: string }).code === 'ERR_JWT_EXPIRED' ? 'expired' : 'malformed' };
    }
    if (this.revocations.has(claims.jti!)) return { active: false, reason: 'revoked' };
    const client = await this.lookupClient(claims.client_id);
    if (!client || client.status !== 'active') return { active: false, reason: 'client_inactive' };
    return { active: true, claims, client };
  }
}
