// DPoP proof verification, RFC 9449 §4.3 (with §7.1 key binding and §8 nonces).
import { createHash, type KeyObject } from 'node:crypto';
import type { JWK } from 'jose';
import { jwkThumbprint } from './jwk-thumbprint.js';
import { decodeJws, type DecodedJws, encodedHeaderOf, JwsInvalid, publicKeyOf, verifiableAlg, verifies } from './jws.js';
import { InvalidDpopProof, UseDpopNonce } from './oauth-error.js';

/**
 * Proof keys by thumbprint: a workload signs every proof with the same key, and importing it
 * costs more than verifying with it. Owner: this module. Bound: KEY_CACHE_MAX entries, oldest
 * dropped first. No invalidation needed: a thumbprint names exactly one key.
 */
const keyCache = new Map<string, KeyObject>();
const KEY_CACHE_MAX = 10_000;

function proofKey(jwk: Record<string, unknown>, jkt: string): KeyObject {
  let key = keyCache.get(jkt);
  if (!key) {
    key = publicKeyOf(jwk);
    if (keyCache.size >= KEY_CACHE_MAX) keyCache.delete(keyCache.keys().next().value!);
    keyCache.set(jkt, key);
  }
  return key;
}

/**
 * Proof headers whose signature verified, by their encoded form: a workload's proofs all carry
 * the same header (typ, alg, jwk), so its decoding, its checks (§4.3 steps 4, 5, 7), the key's
 * thumbprint and the key are worked out once. Owner: this module. Bound: HEADER_CACHE_MAX
 * entries, oldest dropped first. Only headers of proofs that verified are kept, so a stranger's
 * unsigned proofs cannot fill it. No invalidation needed: an encoded header names one header.
 */
interface KnownHeader {
  header: Record<string, unknown>;
  alg: string;
  jwk: Record<string, unknown>;
  jkt: string;
  key: KeyObject;
}
const headerCache = new Map<string, KnownHeader>();
const HEADER_CACHE_MAX = 10_000;

function rememberHeader(encoded: string, known: KnownHeader): void {
  if (headerCache.size >= HEADER_CACHE_MAX) headerCache.delete(headerCache.keys().next().value!);
  Object.freeze(known.jwk);
  Object.freeze(known.header);
  headerCache.set(encoded, known);
}

export interface DpopProofRules {
  algorithms: readonly string[]; // allowed JWS algs; 'none' and HS* are refused whatever this says
  maxAgeSeconds: number; // how old iat may be
  clockSkewSeconds: number; // how far in the future iat may be
}

export interface ExpectedProof {
  method: string;
  /** The request's URL; a URL object is used as it is (parsed once by the caller). */
  url: string | URL;
  accessToken?: string;
  /** BASE64URL(SHA-256(accessToken)) when the caller already has it (a verified token's `tokenHash`). */
  accessTokenHash?: string;
  boundJkt?: string;
  nonce?: { required: boolean; check(nonce: string): boolean; issue(): string };
  notBefore?: number;
}

export interface VerifiedProof {
  jkt: string;
  jti: string;
  iat: number;
  htm: string;
  htu: string;
  nonce?: string;
  publicJwk: JWK;
}

/** Single-use registry; `claim` resolves true the first time a key is seen. */
export interface ProofReplayGuard {
  claim(key: string, ttlSeconds: number, issuedAt?: number): Promise<boolean>;
}

/** Symmetric and unsigned algorithms can never prove possession of a public key. */
export const isAsymmetricAlg = (alg: string) => alg !== 'none' && !/^HS/i.test(alg);

const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'priv'];
const UNRESERVED = /[A-Za-z0-9\-._~]/;
const PERCENT_ESCAPE = /%([0-9A-Fa-f]{2})/g;

/**
 * RFC 9449 §4.3 step 9: compare htu without query and fragment, after RFC 3986
 * §6.2.2 syntax-based (case, percent-encoding, dot segments) and §6.2.3
 * scheme-based (default port, empty path) normalisation. Only http(s) URLs.
 */
export function normalizeHtu(url: string | URL): string {
  const u = typeof url === 'string' ? new URL(url) : url; // throws TypeError on an unparsable URL
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new TypeError('htu must be an http(s) URL');
  // WHATWG parsing already lowercased scheme/host, dropped the default port and dot segments.
  const path = u.pathname.replace(PERCENT_ESCAPE, (_, hex: string) => {
    const ch = String.fromCharCode(parseInt(hex, 16));
    return UNRESERVED.test(ch) ? ch : `%${hex.toUpperCase()}`;
  });
  const userinfo = u.username ? `${u.username}${u.password ? `:${u.password}` : ''}@` : '';
  return `${u.protocol}//${userinfo}${u.host}${path}`;
}

const refuse = (description: string) => new InvalidDpopProof(description);

/** §4.3 steps 4, 5 and 7 on a header not seen before: typing, algorithm, the public key and its thumbprint. */
function proofHeader(header: Record<string, unknown>, rules: DpopProofRules): Omit<KnownHeader, 'header'> {
  // §4.3 (4): explicit typing.
  if (header.typ !== 'dpop+jwt') throw refuse('DPoP proof typ must be dpop+jwt');
  // §4.3 (5): asymmetric, allowed by policy.
  const alg = header.alg;
  if (typeof alg !== 'string' || !isAsymmetricAlg(alg) || !rules.algorithms.includes(alg) || !verifiableAlg(alg)) {
    throw refuse('DPoP proof alg is not allowed');
  }
  // §4.3 (7): an asymmetric public key, no private members.
  const jwk = header.jwk as Record<string, unknown> | undefined;
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) throw refuse('DPoP proof jwk header is missing');
  if (jwk.kty === 'oct') throw refuse('DPoP proof jwk must be an asymmetric public key');
  if (PRIVATE_JWK_MEMBERS.some((m) => m in jwk)) throw refuse('DPoP proof jwk must not contain private key material');
  if (jwk.use !== undefined && jwk.use !== 'sig') throw refuse('DPoP proof jwk must be a signing key');
  if (jwk.alg !== undefined && jwk.alg !== alg) throw refuse('DPoP proof jwk alg does not match the header alg');
  const jkt = jwkThumbprint(jwk);
  if (!jkt) throw refuse('DPoP proof jwk must be an asymmetric public key');
  try {
    return { alg, jwk, jkt, key: proofKey(jwk, jkt) };
  } catch {
    throw refuse('DPoP proof jwk must be an asymmetric public key');
  }
}

export async function verifyDpopProof(
  proof: string | undefined,
  expected: ExpectedProof,
  rules: DpopProofRules,
  replay: ProofReplayGuard,
  now = Date.now() / 1000,
): Promise<VerifiedProof> {
  // §4.3 (1)-(2): exactly one DPoP header holding one well-formed JWT.
  if (Array.isArray(proof)) throw refuse('more than one DPoP proof was sent');
  if (typeof proof !== 'string' || proof.trim() === '') throw refuse('DPoP proof is missing');
  proof = proof.trim();
  if (proof.includes(',')) throw refuse('more than one DPoP proof was sent');

  const encodedHeader = encodedHeaderOf(proof);
  const known = headerCache.get(encodedHeader);
  let jws: DecodedJws;
  try {
    jws = decodeJws(proof, known?.header);
  } catch (err) {
    const problem = err instanceof JwsInvalid ? err.problem : 'json';
    throw refuse(problem === 'form' ? 'DPoP proof is not a JWS compact serialization' : problem === 'crit' ? 'DPoP proof uses crit header parameters' : 'DPoP proof header is not valid JSON');
  }
  // §4.3 (5): allowed by this caller's policy (a known header passed the rest of 4, 5 and 7 before).
  if (known && !rules.algorithms.includes(known.alg)) throw refuse('DPoP proof alg is not allowed');
  const { alg, jwk, jkt, key } = known ?? proofHeader(jws.header, rules);

  // §4.3 (6): the signature verifies with the embedded key.
  let good: boolean;
  try {
    good = verifies(jws, alg, key);
  } catch (err) {
    throw refuse(`DPoP proof could not be verified: ${err instanceof JwsInvalid ? err.message : 'the key does not fit the algorithm'}`);
  }
  if (!good) throw refuse('DPoP proof signature is invalid');
  if (!known) rememberHeader(encodedHeader, { header: jws.header, alg, jwk, jkt, key });
  const payload = jws.payload;
  // RFC 7519 §4.1.4, §4.1.5: a proof carrying exp or nbf is held to them too.
  const { exp, nbf } = payload;
  if (payload.iat !== undefined && typeof payload.iat !== 'number') throw refuse('DPoP proof could not be verified: "iat" claim must be a number');
  if (exp !== undefined && (typeof exp !== 'number' || now - rules.clockSkewSeconds >= exp)) throw refuse('DPoP proof could not be verified: "exp" claim timestamp check failed');
  if (nbf !== undefined && (typeof nbf !== 'number' || nbf > now + rules.clockSkewSeconds)) throw refuse('DPoP proof could not be verified: "nbf" claim timestamp check failed');

  // §4.3 (3) / §4.2: required claims.
  const { jti, htm, htu, iat, ath, nonce } = payload;
  if (typeof jti !== 'string' || jti === '') throw refuse('DPoP proof jti claim is missing');
  if (typeof htm !== 'string') throw refuse('DPoP proof htm claim is missing');
  if (typeof htu !== 'string') throw refuse('DPoP proof htu claim is missing');
  if (typeof iat !== 'number' || !Number.isFinite(iat)) throw refuse('DPoP proof iat claim is missing');

  // §4.3 (8): htm matches the request method.
  if (htm !== expected.method) throw refuse('DPoP proof htm does not match the request method');

  // §4.3 (9): htu matches the request URL, ignoring query and fragment. Normalising is idempotent,
  // so an htu sent already in the normal form of the request URL matches without being parsed.
  const requestHtu = normalizeHtu(expected.url);
  if (htu !== requestHtu) {
    let proofHtu: string;
    try {
      proofHtu = normalizeHtu(htu);
    } catch {
      throw refuse('DPoP proof htu is not a valid URL');
    }
    if (proofHtu !== requestHtu) throw refuse('DPoP proof htu does not match the request URL');
  }

  // §4.3 (11): iat within the acceptable window (§11.1).
  if (now - iat > rules.maxAgeSeconds + rules.clockSkewSeconds) throw refuse('DPoP proof iat is too old');
  if (iat - now > rules.clockSkewSeconds) throw refuse('DPoP proof iat is in the future');
  // Proofs issued before the replay store's horizon cannot be checked for reuse.
  if (expected.notBefore !== undefined && iat < expected.notBefore) throw refuse('DPoP proof iat is too old');

  // §4.3 (12): ath binds the proof to the presented access token.
  if (expected.accessToken !== undefined) {
    const want = expected.accessTokenHash ?? createHash('sha256').update(expected.accessToken).digest('base64url');
    if (ath !== want) throw refuse('DPoP proof ath does not match the access token');
  }

  // §4.3 (12) / §7.1: the proof key is the one the token is bound to (cnf.jkt).
  if (expected.boundJkt !== undefined && jkt !== expected.boundJkt) {
    throw refuse('DPoP proof key does not match the access token binding');
  }

  // §4.3 (10) / §8: server-provided nonce.
  if (nonce !== undefined && typeof nonce !== 'string') throw refuse('DPoP proof nonce claim must be a string');
  if (expected.nonce) {
    if (nonce === undefined) {
      if (expected.nonce.required) throw new UseDpopNonce('authorization server requires nonce in DPoP proof', expected.nonce.issue());
    } else if (!expected.nonce.check(nonce)) {
      throw new UseDpopNonce('DPoP proof nonce is invalid or expired', expected.nonce.issue());
    }
  }

  // §11.1: jti is single use. Claimed last so a proof refused above never burns its jti.
  const ttl = rules.maxAgeSeconds + 2 * rules.clockSkewSeconds;
  if (!(await replay.claim(`dpop:${jkt}:${jti}`, ttl, iat))) throw refuse('DPoP proof jti was already used');

  return { jkt, jti, iat, htm, htu, nonce, publicJwk: jwk as JWK };
}
