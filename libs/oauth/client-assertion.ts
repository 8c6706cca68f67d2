// private_key_jwt client authentication: RFC 7523 §2.2 and §3 (via RFC 7521 §4.2),
// OpenID Connect Core §9.
import { createHash, timingSafeEqual } from 'node:crypto';
import { calculateJwkThumbprint, createLocalJWKSet, decodeJwt, decodeProtectedHeader, errors, jwtVerify } from 'jose';
import type { CryptoKey, JWK, JWTPayload, JWTVerifyOptions } from 'jose';
import type { ProofReplayGuard } from './dpop-proof.js';
import { isAsymmetricAlg } from './dpop-proof.js';
import { InvalidClient } from './oauth-error.js';

export const JWT_BEARER_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

export interface AssertionExpectations {
  clientId: string; // expected iss and sub
  audiences: string[]; // acceptable aud values; one match suffices
  algorithms: string[];
  clockSkewSeconds: number;
  maxLifetimeSeconds: number; // exp - now must be <= this + skew
  expectedNonce?: string; // when set, claim `nonce` must equal it
}

export interface VerifiedAssertion {
  jti: string;
  exp: number;
  iat?: number;
  kid?: string;
  jkt: string; // RFC 7638 thumbprint of the verifying key
}

const JWS_COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
// Token types that must never double as a client assertion (RFC 8725 §3.11, §3.12).
const CONFUSABLE_TYPES = new Set(['dpop+jwt', 'at+jwt']);

const refuse = (description: string) => new InvalidClient(description);

/** Constant-time string equality (hashing first hides the length). */
function safeEqual(a: string, b: string): boolean {
  const h = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(h(a), h(b));
}

/** Verify against the client's JWKS; when several keys fit (no kid), try each in turn. */
async function verifyWithKeySet(assertion: string, keys: { keys: JWK[] }, options: JWTVerifyOptions) {
  let keySet: ReturnType<typeof createLocalJWKSet>;
  try {
    keySet = createLocalJWKSet(keys);
  } catch {
    throw refuse('client JWKS is invalid');
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

function describe(err: unknown): string {
  if (err instanceof errors.JWTExpired) return 'client assertion has expired';
  if (err instanceof errors.JWTClaimValidationFailed) {
    return err.reason === 'missing' ? `client assertion ${err.claim} claim is missing` : `client assertion ${err.claim} claim is invalid`;
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'client assertion signature is invalid';
  if (err instanceof errors.JWKSNoMatchingKey) return 'no registered client key matches the client assertion';
  if (err instanceof errors.JOSEAlgNotAllowed) return 'client assertion alg is not allowed';
  if (err instanceof errors.JOSEError) return `client assertion is invalid: ${err.message}`;
  return 'client assertion is invalid';
}

export async function verifyClientAssertion(
  assertion: string,
  assertionType: string | undefined,
  keys: { keys: JWK[] },
  expect: AssertionExpectations,
  replay: ProofReplayGuard,
  now = Date.now() / 1000,
): Promise<VerifiedAssertion> {
  // RFC 7523 §2.2
  if (assertionType !== JWT_BEARER_ASSERTION_TYPE) throw refuse(`client_assertion_type must be ${JWT_BEARER_ASSERTION_TYPE}`);
  if (typeof assertion !== 'string' || !JWS_COMPACT.test(assertion)) throw refuse('client assertion is not a JWS compact serialization');

  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(assertion);
  } catch {
    throw refuse('client assertion header is not valid JSON');
  }
  if (header.typ !== undefined) {
    const typ = String(header.typ).toLowerCase().replace(/^application\//, '');
    if (CONFUSABLE_TYPES.has(typ)) throw refuse('client assertion typ must not be a DPoP proof or access token type');
  }
  // RFC 7523 §3 (9): signed with an asymmetric algorithm the server accepts ('none'/HS* never).
  const algorithms = expect.algorithms.filter(isAsymmetricAlg);
  if (typeof header.alg !== 'string' || !algorithms.includes(header.alg)) throw refuse('client assertion alg is not allowed');

  // RFC 7523 §3 (1)-(4), (9): iss = sub = client_id, aud identifies us, exp present and not passed, signature.
  let payload: JWTPayload;
  let key: CryptoKey;
  try {
    ({ payload, key } = await verifyWithKeySet(assertion, keys, {
      algorithms,
      issuer: expect.clientId,
      subject: expect.clientId,
      audience: expect.audiences,
      requiredClaims: ['exp', 'jti'],
      currentDate: new Date(now * 1000),
      clockTolerance: expect.clockSkewSeconds,
    }));
  } catch (err) {
    throw err instanceof InvalidClient ? err : refuse(describe(err));
  }

  const { exp, iat, jti, nonce } = payload as Record<string, unknown>;
  if (typeof exp !== 'number') throw refuse('client assertion exp claim is missing'); // jose checked; narrows the type
  if (typeof jti !== 'string' || jti === '') throw refuse('client assertion jti claim is invalid');
  // Refuse long-lived assertions, which stay useful to a thief (RFC 7523 §3 (4) leaves the limit to the server).
  if (exp - now > expect.maxLifetimeSeconds + expect.clockSkewSeconds) throw refuse('client assertion lifetime is too long');
  // RFC 7523 §3 (6): iat may bound the age; refuse assertions from the future.
  if (typeof iat === 'number' && iat - now > expect.clockSkewSeconds) throw refuse('client assertion iat is in the future');
  if (expect.expectedNonce !== undefined && (typeof nonce !== 'string' || !safeEqual(nonce, expect.expectedNonce))) {
    throw refuse('client assertion nonce does not match');
  }

  const jkt = await calculateJwkThumbprint(key, 'sha256');

  // RFC 7523 §3 (7): jti single use, kept until the assertion expires. Claimed last, under the
  // key oidc-provider's token endpoint claims too, so one assertion is good for one request at
  // any of our endpoints, not once at each.
  const ttl = Math.max(1, Math.ceil(exp - now + expect.clockSkewSeconds));
  if (!(await replay.claim(assertionReplayKey(expect.clientId, jti), ttl))) throw refuse('client assertion jti was already used');

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
