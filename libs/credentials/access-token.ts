import { createHash, type KeyObject } from 'node:crypto';
import type { ClientRecord } from '#clients';
import { SERVER_SIGNING_ALG } from '#protocol';
import { decodeJws, type DecodedJws, publicKeyOf, verifies } from './jws.js';
import type { RevocationList } from './revocation-list.js';

export interface AccessTokenClaims {
  iss: string;
  sub?: string;
  aud: string | string[];
  exp: number;
  iat: number;
  jti: string;
  nbf?: number;
  client_id: string;
  scope?: string;
  cnf?: { jkt?: string };
  acr?: string;
  amr?: string[];
  auth_time?: number;
  [claim: string]: unknown;
}

export type TokenVerdict =
  /** `tokenHash`: BASE64URL(SHA-256(token)), which is also the token's RFC 9449 §4.2 `ath`. */
  | { active: true; claims: AccessTokenClaims; client: ClientRecord; tokenHash: string }
  | { active: false; reason: 'malformed' | 'expired' | 'revoked' | 'client_inactive' };

/** Verified tokens kept, oldest dropped first: about what one instance sees in a token lifetime. */
const CACHE_MAX = 20_000;

/** RFC 9068 §2.1 and RFC 8725 §3.11: `typ` is at+jwt, also written application/at+jwt, any case. */
const isAtJwt = (typ: unknown) => typeof typ === 'string' && /^(application\/)?at\+jwt$/i.test(typ);

/**
 * Verifies Tollgate's own RFC 9068 access tokens locally: signature against the published keys
 * (node:crypto, jws.ts), `typ: at+jwt` (§2.1), issuer, expiry, the required claims (§2.2); then
 * revocation and the client's current status, both from memory. No database round trip.
 *
 * The same token comes back with every call for minutes, so a token whose signature and claims
 * verified is remembered until it expires, keyed by its SHA-256 (the tokens themselves are not
 * kept): owner this class; bound CACHE_MAX (oldest first); TTL its own `exp`; invalidated
 * wholesale when the key ring changes. Revocation and the client's status are still checked on
 * every call.
 */
export class AccessTokenVerifier {
  private keys?: Map<string, KeyObject>;
  private readonly verified = new Map<string, AccessTokenClaims>();

  constructor(
    private readonly issuer: string,
    private readonly clockSkew: number,
    private readonly publicJwks: () => { keys: object[] },
    private readonly revocations: RevocationList,
    private readonly lookupClient: (clientId: string) => Promise<ClientRecord | null>,
  ) {}

  /** Call when the key ring changes. */
  refreshKeys(): void {
    this.keys = undefined;
    this.verified.clear();
  }

  async verify(token: string, options: { ignoreExpiry?: boolean } = {}): Promise<TokenVerdict> {
    const now = Date.now() / 1000;
    const id = createHash('sha256').update(token).digest('base64url');
    let claims = this.verified.get(id);
    if (!claims) {
      const checked = this.check(token, now);
      if (typeof checked === 'string') {
        if (checked !== 'expired' || !options.ignoreExpiry) return { active: false, reason: checked };
        claims = this.signedClaims(token);
        if (!claims) return { active: false, reason: 'malformed' };
      } else {
        claims = checked;
        this.remember(id, claims);
      }
    } else if (!options.ignoreExpiry && now - this.clockSkew >= claims.exp) {
      this.verified.delete(id);
      return { active: false, reason: 'expired' };
    }
    if (this.revocations.has(claims.jti)) return { active: false, reason: 'revoked' };
    const client = await this.lookupClient(claims.client_id);
    if (!client || client.status !== 'active') return { active: false, reason: 'client_inactive' };
    return { active: true, claims, client, tokenHash: id };
  }

  /** The claims of a token whose signature and claims hold now, or why not. */
  private check(token: string, now: number): AccessTokenClaims | 'malformed' | 'expired' {
    const claims = this.signedClaims(token);
    if (!claims) return 'malformed';
    // RFC 7519 §4.1.4, §4.1.5, with the configured tolerance (as jose's clockTolerance).
    if (now - this.clockSkew >= claims.exp) return 'expired';
    if (claims.nbf !== undefined && claims.nbf > now + this.clockSkew) return 'malformed';
    return claims;
  }

  /** A token signed by one of our keys, with our issuer and the RFC 9068 §2.2 claims; undefined otherwise. */
  private signedClaims(token: string): AccessTokenClaims | undefined {
    let jws: DecodedJws;
    try {
      jws = decodeJws(token);
    } catch {
      return undefined;
    }
    const { header, payload } = jws;
    if (!isAtJwt(header.typ) || header.alg !== SERVER_SIGNING_ALG) return undefined;
    const candidates = typeof header.kid === 'string' ? [this.keyRing().get(header.kid)] : [...this.keyRing().values()];
    if (!candidates.some((key) => key !== undefined && verifies(jws, SERVER_SIGNING_ALG, key))) return undefined;
    const { iss, exp, iat, jti, client_id: clientId, aud, nbf } = payload;
    if (iss !== this.issuer || typeof exp !== 'number' || typeof iat !== 'number' || typeof jti !== 'string' || typeof clientId !== 'string') return undefined;
    if (aud === undefined || (nbf !== undefined && typeof nbf !== 'number')) return undefined;
    return payload as AccessTokenClaims;
  }

  private keyRing(): Map<string, KeyObject> {
    if (!this.keys) {
      this.keys = new Map();
      for (const jwk of this.publicJwks().keys as Record<string, unknown>[]) {
        if (typeof jwk.kid === 'string') this.keys.set(jwk.kid, publicKeyOf(jwk));
      }
    }
    return this.keys;
  }

  private remember(id: string, claims: AccessTokenClaims): void {
    if (this.verified.size >= CACHE_MAX) this.verified.delete(this.verified.keys().next().value!);
    this.verified.set(id, claims);
  }
}
