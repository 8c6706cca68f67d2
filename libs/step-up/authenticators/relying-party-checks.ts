import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * The relying party's own checks on a WebAuthn response (WebAuthn L3 §7.1 steps 7–12 and 14 for
 * registration, §7.2 steps 10–15 for authentication): the type, challenge and origin in
 * clientDataJSON and the RP ID hash in the authenticator data. SimpleWebAuthn makes them too, but
 * its messages quote the expected challenge; running them first here gives refusals that name
 * what was wrong and never echo the challenge (a secret until answered).
 */
export type RelyingPartyProblem = 'malformed' | 'type' | 'challenge' | 'origin' | 'rp_id';

export interface Expected {
  type: 'webauthn.create' | 'webauthn.get';
  challenge: string;
  origin: string;
  rpId: string;
}

const digest = (value: string | Uint8Array) => createHash('sha256').update(value).digest();

/** Constant time: the challenge is a secret until the answer is accepted. */
export function sameChallenge(given: unknown, expected: string): boolean {
  return typeof given === 'string' && timingSafeEqual(digest(given), digest(expected));
}

export function clientDataProblem(clientDataJSON: string, expected: Expected): RelyingPartyProblem | undefined {
  let data: unknown;
  try {
    data = JSON.parse(Buffer.from(clientDataJSON, 'base64url').toString('utf8'));
  } catch {
    return 'malformed';
  }
  if (typeof data !== 'object' || data === null) return 'malformed';
  const { type, challenge, origin, crossOrigin, topOrigin } = data as Record<string, unknown>;
  if (type !== expected.type) return 'type';
  if (!sameChallenge(challenge, expected.challenge)) return 'challenge';
  // A workload talks to the issuer directly: no embedding page, so no cross-origin response.
  if (origin !== expected.origin || crossOrigin === true || topOrigin !== undefined) return 'origin';
  return undefined;
}

/** The first 32 bytes of authenticator data are SHA-256(RP ID) (WebAuthn L3 §6.1). */
export function rpIdHashMatches(authData: Uint8Array, rpId: string): boolean {
  return authData.length >= 37 && timingSafeEqual(authData.subarray(0, 32), digest(rpId));
}

export const isBase64url = (value: unknown): value is string => typeof value === 'string' && value.length > 0 && /^[A-Za-z0-9_-]+$/.test(value);

/** Client-safe wording of each problem, per ceremony. */
export function describe(problem: RelyingPartyProblem, ceremony: 'registration' | 'assertion', expected: Expected): string {
  switch (problem) {
    case 'malformed':
      return `the ${ceremony} response's clientDataJSON is not readable`;
    case 'type':
      return `the ${ceremony} response's clientDataJSON type is not ${expected.type}`;
    case 'challenge':
      return `the ${ceremony} response was made for another challenge`;
    case 'origin':
      return `the ${ceremony} response was made for another origin (expected ${expected.origin})`;
    case 'rp_id':
      return `the ${ceremony} response was made for another RP ID (expected ${expected.rpId})`;
  }
}
