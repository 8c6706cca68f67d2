import { createHash, randomUUID } from 'node:crypto';
import { compactJws, type JwsSigner, publicJwkOf } from './jws.js';

/** RFC 9449 §4.2 `htu`: the target URI without query and fragment. */
export function htu(url: string | URL): string {
  const target = new URL(url);
  target.search = '';
  target.hash = '';
  return target.href;
}

/** RFC 9449 §4.2 `ath`: base64url SHA-256 of the ASCII access token. */
export function accessTokenHash(accessToken: string): string {
  return createHash('sha256').update(accessToken, 'ascii').digest('base64url');
}

export interface ProofClaims {
  /** The access token the proof accompanies (adds `ath`). */
  accessToken?: string;
  /** A server-provided nonce (RFC 9449 §8, §9) or, for the step-up grant, the challenge nonce. */
  nonce?: string;
}

/** A DPoP proof JWT (RFC 9449 §4.2) for one request. */
export async function dpopProof(signer: JwsSigner, method: string, url: string | URL, claims: ProofClaims = {}): Promise<string> {
  if (!signer.publicJwk) throw new TypeError('a DPoP signer needs its publicJwk (RFC 9449 §4.2 jwk header)');
  const payload: Record<string, unknown> = { jti: randomUUID(), htm: method.toUpperCase(), htu: htu(url), iat: Math.floor(Date.now() / 1000) };
  if (claims.accessToken !== undefined) payload.ath = accessTokenHash(claims.accessToken);
  if (claims.nonce !== undefined) payload.nonce = claims.nonce;
  return compactJws(signer, { typ: 'dpop+jwt', jwk: publicJwkOf(signer.publicJwk) }, payload);
}

/**
 * The latest `DPoP-Nonce` each server gave (RFC 9449 §8 for the authorization server, §9 for
 * resource servers): a server may rotate it on any response, so every response is looked at.
 */
export class DpopNonces {
  private readonly byOrigin = new Map<string, string>();

  get(url: string | URL): string | undefined {
    return this.byOrigin.get(new URL(url).origin);
  }

  /** Remembers the response's `DPoP-Nonce`, if it has one; true when it did. */
  remember(url: string | URL, response: { headers: { get(name: string): string | null } }): boolean {
    const nonce = response.headers.get('dpop-nonce');
    if (!nonce) return false;
    this.byOrigin.set(new URL(url).origin, nonce);
    return true;
  }
}
