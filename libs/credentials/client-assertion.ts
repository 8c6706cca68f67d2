// private_key_jwt client authentication: RFC 7523 §2.2 and §3 (via RFC 7521 §4.2),
// OpenID Connect Core §9.
import { createHash, timingSafeEqual } from 'node:crypto';
import { calculateJwkThumbprint, createLocalJWKSet, decodeJwt, decodeProtectedHeader, errors, jwtVerify } from 'jose';
import type { CryptoKey, JWK, JWTPayload, JWTVerifyOptions, ProtectedHeaderParameters } from 'jose';
import type { ProofReplayGuard } from './dpop-proof.js';
import { isAsymmetricAlg } from './dpop-proof.js';
import { JWT_BEARER_ASSERTION_TYPE } from '#protocol';
import { type AuthFailureReason, InvalidClient } from './oauth-error.js';


export interface AssertionExpectations {
  clientId: string; // expected iss and sub
  audiences: string[]; // acceptable aud values; one match suffices
  algorithms: readonly string[];
  clockSkewSeconds: number;
  maxLifetimeSeconds: number; // exp - now must be <= this + skew
  expectedNonce?: string; // when set, claim `nonce` must equal it
  /** Epoch seconds: an assertion issued before this cannot be checked for replay (the replay store's memory). */
  notBefore?: number;
}

export interface VerifiedAssertion {
  jti: string;
  exp: number;
  iat?: number;
  kid?: string;
  jkt: string; // RFC 7638 thumbprint of the verifying key
}

/** An assertion whose structure and claims passed, before any key is looked at. */
export interface AssertionShape {
  header: ProtectedHeaderParameters;
  payload: JWTPayload & { exp: number; jti: string };
}

const JWS_COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
// Token types that must never double as a client assertion (RFC 8725 §3.11, §3.12).
const CONFUSABLE_TYPES = new Set(['dpop+jwt', 'at+jwt']);
/** Longest assertion looked at: an RS256 assertion with an 8192-bit key is about 2 KB. */
const MAX_ASSERTION_LENGTH = 16_384;

const refuse = (reason: AuthFailureReason, description: string) => new InvalidClient(description, reason);

/**
 * What a failure after the client lookup says: one description, so that an answer never tells
 * whether a client id exists or which of its keys were tried (the reason code says it in the
 * decision log).
 */
export const NOT_VERIFIED = 'client authentication failed: the client assertion is not signed by a registered key of an active workload client';
const AFTER_LOOKUP = new Set<AuthFailureReason>(['unknown_client', 'auth_method', 'client_keys', 'unknown_key', 'assertion_signature', 'assertion_invalid']);

/** A refusal as the caller sees it: the reasons found after the client lookup all read NOT_VERIFIED. */
export function publicRefusal(err: InvalidClient): InvalidClient {
  return AFTER_LOOKUP.has(err.reason) ? new InvalidClient(NOT_VERIFIED, err.reason) : err;
}

/** Constant-time string equality (hashing first hides the length). */
function safeEqual(a: string, b: string): boolean {
  const h = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(h(a), h(b));
}

const claimRefusal = (claim: string, missing: boolean): InvalidClient => {
  const reason: AuthFailureReason =
    claim === 'aud' ? 'assertion_audience' : claim === 'iss' || claim === 'sub' ? 'assertion_issuer' : claim === 'jti' ? 'assertion_jti' : 'assertion_lifetime';
  return refuse(reason, `client assertion ${claim} claim is ${missing ? 'missing' : 'invalid'}`);
};

/**
 * RFC 7523 §2.2 and §3 (1)-(7) as far as they can be checked without a key: the assertion type,
 * a JWS compact serialization, an asymmetric algorithm we accept (§3 (9): never `none` or HS*), no
 * confusable `typ`, iss = sub = client_id, an `aud` that names us, `exp` present, not passed and
 * not too far ahead, `iat` not in the future, a `jti`, and not older than the replay store's
 * memory. Cheap by design: it runs before the client is looked up and before any key is fetched,
 * so an assertion that cannot be right costs no signature work and no fetch.
 */
export function assertionShape(assertion: unknown, assertionType: unknown, expect: AssertionExpectations, now = Date.now() / 1000): AssertionShape {
  if (assertionType !== JWT_BEARER_ASSERTION_TYPE) throw refuse('assertion_type', `client_assertion_type must be ${JWT_BEARER_ASSERTION_TYPE}`);
  if (typeof assertion !== 'string' || assertion.length > MAX_ASSERTION_LENGTH || !JWS_COMPACT.test(assertion)) {
    throw refuse('assertion_malformed', 'client assertion is not a JWS compact serialization');
  }
  let header: ProtectedHeaderParameters;
  let payload: JWTPayload;
  try {
    header = decodeProtectedHeader(assertion);
  } catch {
    throw refuse('assertion_malformed', 'client assertion header is not valid JSON');
  }
  try {
    payload = decodeJwt(assertion);
  } catch {
    throw refuse('assertion_malformed', 'client assertion payload is not a JSON object');
  }
  if (header.typ !== undefined) {
    const typ = String(header.typ).toLowerCase().replace(/^application\//, '');
    if (CONFUSABLE_TYPES.has(typ)) throw refuse('assertion_typ', 'client assertion typ must not be a DPoP proof or access token type');
  }
  if (typeof header.alg !== 'string' || !acceptedAlgorithms(expect).includes(header.alg)) throw refuse('assertion_alg', 'client assertion alg is not allowed');

  const { iss, sub, aud, exp, iat, jti, nbf } = payload;
  if (iss === undefined) throw claimRefusal('iss', true);
  if (iss !== expect.clientId) throw claimRefusal('iss', false);
  if (sub === undefined) throw claimRefusal('sub', true);
  if (sub !== expect.clientId) throw claimRefusal('sub', false);
  if (aud === undefined) throw claimRefusal('aud', true);
  const audiences = Array.isArray(aud) ? aud : [aud];
  if (!audiences.some((a) => typeof a === 'string' && expect.audiences.includes(a))) throw claimRefusal('aud', false);
  if (exp === undefined) throw claimRefusal('exp', true);
  if (typeof exp !== 'number' || !Number.isFinite(exp)) throw claimRefusal('exp', false);
  if (now - exp > expect.clockSkewSeconds) throw refuse('assertion_lifetime', 'client assertion has expired');
  // Refuse long-lived assertions, which stay useful to a thief (RFC 7523 §3 (4) leaves the limit to the server).
  if (exp - now > expect.maxLifetimeSeconds + expect.clockSkewSeconds) {
    throw refuse('assertion_lifetime', `client assertion lifetime is too long (its exp is more than ${expect.maxLifetimeSeconds} s ahead)`);
  }
  // RFC 7523 §3 (5), (6): nbf and iat bound the time the assertion is good; none from the future.
  if (iat !== undefined && (typeof iat !== 'number' || !Number.isFinite(iat))) throw claimRefusal('iat', false);
  if (typeof iat === 'number' && iat - now > expect.clockSkewSeconds) throw refuse('assertion_lifetime', 'client assertion iat is in the future');
  if (nbf !== undefined && (typeof nbf !== 'number' || nbf - now > expect.clockSkewSeconds)) throw refuse('assertion_lifetime', 'client assertion is not valid yet (nbf)');
  if (jti === undefined) throw claimRefusal('jti', true);
  if (typeof jti !== 'string' || jti === '' || jti.length > 512) throw claimRefusal('jti', false);
  // A replay store that restarted without persistence forgot what it saw before: an assertion
  // from before that moment could be a replay (docs/operations.md).
  if (expect.notBefore !== undefined && (typeof iat === 'number' ? iat : exp - expect.maxLifetimeSeconds) < expect.notBefore) {
    throw refuse('assertion_stale', 'client assertion predates the replay store; create a new one');
  }
  if (expect.expectedNonce !== undefined && (typeof payload.nonce !== 'string' || !safeEqual(payload.nonce, expect.expectedNonce))) {
    throw refuse('assertion_nonce', 'client assertion nonce does not match');
  }
  return { header, payload: payload as AssertionShape['payload'] };
}

const acceptedAlgorithms = (expect: AssertionExpectations) => expect.algorithms.filter(isAsymmetricAlg);

/** Verify against the client's JWKS; when several keys fit (no kid), try each in turn. */
async function verifyWithKeySet(assertion: string, keys: { keys: JWK[] }, options: JWTVerifyOptions) {
  let keySet: ReturnType<typeof createLocalJWKSet>;
  try {
    keySet = createLocalJWKSet(keys);
  } catch {
    throw refuse('client_keys', 'client JWKS is invalid');
  }
  try {
    const { payload, key } = await jwtVerify(assertion, keySet, options);
    return { payload, key };
  } catch (err) {
    if (!(err instanceof errors.JWKSMultipleMatchingKeys)) throw err;
    for await (const key of err) {
      try {
        const { payload } = await jwtVerify(assertion, key, options);
        return { payload, key };
      } catch (inner) {
        // The signature matched but a claim is bad: that is the answer, stop here.
        if (inner instanceof errors.JWTClaimValidationFailed || inner instanceof errors.JWTExpired || inner instanceof errors.JWTInvalid) throw inner;
      }
    }
    throw new errors.JWSSignatureVerificationFailed();
  }
}

function describe(err: unknown): InvalidClient {
  if (err instanceof errors.JWTExpired) return refuse('assertion_lifetime', 'client assertion has expired');
  if (err instanceof errors.JWTClaimValidationFailed) return claimRefusal(err.claim, err.reason === 'missing');
  if (err instanceof errors.JWSSignatureVerificationFailed) return refuse('assertion_signature', 'client assertion signature is invalid');
  if (err instanceof errors.JWKSNoMatchingKey) return refuse('unknown_key', 'no registered client key matches the client assertion');
  if (err instanceof errors.JOSEAlgNotAllowed) return refuse('assertion_alg', 'client assertion alg is not allowed');
  if (err instanceof errors.JOSEError) return refuse('assertion_invalid', `client assertion is invalid: ${err.message}`);
  return refuse('assertion_invalid', 'client assertion is invalid');
}

export async function verifyClientAssertion(
  assertion: string,
  assertionType: string | undefined,
  keys: { keys: JWK[] },
  expect: AssertionExpectations,
  replay: ProofReplayGuard,
  now = Date.now() / 1000,
): Promise<VerifiedAssertion> {
  const { header } = assertionShape(assertion, assertionType, expect, now);

  // RFC 7523 §3 (9): the signature, by one of the client's keys (jose re-checks the claims).
  let payload: JWTPayload;
  let key: CryptoKey;
  try {
    ({ payload, key } = await verifyWithKeySet(assertion, keys, {
      algorithms: acceptedAlgorithms(expect),
      issuer: expect.clientId,
      subject: expect.clientId,
      audience: expect.audiences,
      requiredClaims: ['exp', 'jti'],
      currentDate: new Date(now * 1000),
      clockTolerance: expect.clockSkewSeconds,
    }));
  } catch (err) {
    throw err instanceof InvalidClient ? err : describe(err);
  }
  const { exp, iat, jti } = payload as { exp: number; iat?: number; jti: string };

  const jkt = await calculateJwkThumbprint(key, 'sha256');

  // RFC 7523 §3 (7): jti single use, kept until the assertion expires. Claimed last, under the
  // key oidc-provider's token endpoint claims too, so one assertion is good for one request at
  // any of our endpoints, not once at each.
  const ttl = Math.max(1, Math.ceil(exp - now + expect.clockSkewSeconds));
  if (!(await replay.claim(assertionReplayKey(expect.clientId, jti), ttl, typeof iat === 'number' ? iat : exp - expect.maxLifetimeSeconds))) throw refuse('assertion_replay', 'client assertion jti was already used');

  return { jti, exp, iat: typeof iat === 'number' ? iat : undefined, kid: typeof header.kid === 'string' ? header.kid : undefined, jkt };
}

/** The replay-store key of an assertion: oidc-provider's ReplayDetection id (sha256 of iss ‖ jti) under its adapter prefix. */
export function assertionReplayKey(clientId: string, jti: string): string {
  return `oidc:${createHash('sha256').update(`${clientId}${jti}`).digest('base64url')}`;
}

/** iss (or sub) of an assertion, UNVERIFIED: only for looking the client up. */
export function unverifiedAssertionIssuer(assertion: string): string | undefined {
  try {
    const { iss, sub } = decodeJwt(assertion);
    if (typeof iss === 'string' && iss !== '') return iss;
    if (typeof sub === 'string' && sub !== '') return sub;
  } catch {
    // garbage in, nothing out
  }
  return undefined;
}
