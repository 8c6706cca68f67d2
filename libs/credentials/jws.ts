// JWS compact serialization (RFC 7515 §3.1, §5.2) verified with node:crypto, for the two
// signatures on the hot paths: DPoP proofs (RFC 9449) and Tollgate's own access tokens (RFC 9068).
//
// Why not jose here: jose 6 verifies through WebCrypto, which hands every operation to the libuv
// thread pool and back through promises; measured on the check path that hand-off and jose's
// parsing cost more than the ES256 verification itself. node:crypto verifies synchronously at the
// crypto floor. The surface is kept small: compact form only, a fixed list of algorithms, `crit`
// refused, and every claim rule stays with the caller. Client assertions (not a hot path) still
// go through jose.
import { createPublicKey, type KeyObject, verify as verifySignature, constants } from 'node:crypto';

export class JwsInvalid extends Error {
  override readonly name = 'JwsInvalid';

  /** What was wrong, for callers that word their own refusal: the form, a part's JSON, `crit`, or the key. */
  constructor(
    message: string,
    readonly problem: 'form' | 'json' | 'crit' | 'key' = 'key',
  ) {
    super(message);
  }
}

export interface DecodedJws {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
  /** `BASE64URL(header) || '.' || BASE64URL(payload)`: what was signed (RFC 7515 §5.2 step 8). */
  signingInput: string;
  signature: Buffer;
}

const COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

function json(part: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    throw new JwsInvalid(`${what} is not valid JSON`, 'json');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new JwsInvalid(`${what} is not a JSON object`, 'json');
  return value as Record<string, unknown>;
}

/** The first part of a compact JWS: its protected header as sent, which names exactly one header. */
export const encodedHeaderOf = (jws: string): string => jws.slice(0, jws.indexOf('.'));

/**
 * RFC 7515 §5.2 steps 1–7 (and RFC 7519 §7.2 for the payload): the parts, decoded; nothing
 * verified yet. `knownHeader`: what this JWS's encoded header decoded to before (a caller that
 * keeps headers it has seen by encodedHeaderOf), so it is not decoded again.
 */
export function decodeJws(jws: string, knownHeader?: Record<string, unknown>): DecodedJws {
  if (!COMPACT.test(jws)) throw new JwsInvalid('not a JWS compact serialization', 'form');
  const first = jws.indexOf('.');
  const second = jws.indexOf('.', first + 1);
  const header = knownHeader ?? json(jws.slice(0, first), 'header');
  // §4.1.11: extensions we do not understand must be refused (this includes RFC 7797 b64=false).
  if (header.crit !== undefined) throw new JwsInvalid('crit header parameters are not supported', 'crit');
  return {
    header,
    payload: json(jws.slice(first + 1, second), 'payload'),
    signingInput: jws.slice(0, second),
    signature: Buffer.from(jws.slice(second + 1), 'base64url'),
  };
}

interface Scheme {
  /** node:crypto digest, or null for EdDSA. */
  hash: string | null;
  kty: 'EC' | 'RSA' | 'OKP';
  /** EC: the curve and the raw signature length (RFC 7518 §3.4: R || S). */
  curve?: string;
  length?: number;
  pss?: boolean;
}

/** RFC 7518 §3.3–3.5, RFC 8037 §3.1: what each accepted algorithm means. */
const SCHEMES: Readonly<Record<string, Scheme>> = {
  ES256: { hash: 'sha256', kty: 'EC', curve: 'prime256v1', length: 64 },
  ES384: { hash: 'sha384', kty: 'EC', curve: 'secp384r1', length: 96 },
  RS256: { hash: 'sha256', kty: 'RSA' },
  PS256: { hash: 'sha256', kty: 'RSA', pss: true },
  PS384: { hash: 'sha384', kty: 'RSA', pss: true },
  EdDSA: { hash: null, kty: 'OKP' },
  Ed25519: { hash: null, kty: 'OKP' },
};

const KEY_TYPE: Readonly<Record<string, string>> = { ec: 'EC', rsa: 'RSA', 'rsa-pss': 'RSA', ed25519: 'OKP' };

/** Whether `alg` is one this module verifies. */
export const verifiableAlg = (alg: unknown): alg is string => typeof alg === 'string' && Object.hasOwn(SCHEMES, alg);

/**
 * RFC 7515 §5.2 step 8: the signature verifies with `key` under `alg`. False for a signature that
 * does not; throws JwsInvalid for a key that cannot be used with `alg` (RFC 7518 §3.3: RSA keys
 * of at least 2048 bits; the EC curve the algorithm names; EdDSA: Ed25519 only).
 */
export function verifies(jws: DecodedJws, alg: string, key: KeyObject): boolean {
  const scheme = SCHEMES[alg];
  if (!scheme) throw new JwsInvalid(`alg ${alg} is not supported`);
  if (fitFor.get(key) !== alg) {
    assertFit(key, alg, scheme);
    fitFor.set(key, alg);
  }
  if (scheme.kty === 'EC') {
    if (jws.signature.length !== scheme.length) return false;
    return verifySignature(scheme.hash, Buffer.from(jws.signingInput), { key, dsaEncoding: 'ieee-p1363' }, jws.signature);
  }
  if (scheme.kty === 'RSA') {
    const options = scheme.pss
      ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }
      : { key, padding: constants.RSA_PKCS1_PADDING };
    return verifySignature(scheme.hash, Buffer.from(jws.signingInput), options, jws.signature);
  }
  return verifySignature(null, Buffer.from(jws.signingInput), key, jws.signature);
}

/**
 * The algorithm each key was last found fit for: a key never changes, and reading its details
 * builds a new object in node:crypto on every call, so a cached key (a workload's DPoP key, our
 * signing keys) is judged once.
 */
const fitFor = new WeakMap<KeyObject, string>();

function assertFit(key: KeyObject, alg: string, scheme: Scheme): void {
  const type = key.asymmetricKeyType;
  if (key.type !== 'public' || !type || KEY_TYPE[type] !== scheme.kty) throw new JwsInvalid(`the key cannot be used with ${alg}`);
  const details = key.asymmetricKeyDetails ?? {};
  if (scheme.kty === 'EC' && details.namedCurve !== scheme.curve) throw new JwsInvalid(`the key's curve is not the one ${alg} uses`);
  if (scheme.kty === 'RSA') {
    if ((details.modulusLength ?? 0) < 2048) throw new JwsInvalid('RSA keys must be at least 2048 bits');
    // As for registered keys (libs/clients client-keys.ts): with e = 1 anyone can make a signature.
    const e = details.publicExponent ?? 0n;
    if (e < 65537n || e % 2n === 0n) throw new JwsInvalid('RSA public exponent must be odd and at least 65537');
  }
}

/** A public JWK as a node:crypto key (only the members that define the key; RFC 7517 §4). */
export function publicKeyOf(jwk: Record<string, unknown>): KeyObject {
  const { kty, crv, x, y, n, e } = jwk;
  const key = createPublicKey({ key: { kty, crv, x, y, n, e } as never, format: 'jwk' });
  if (key.type !== 'public') throw new JwsInvalid('not a public key');
  return key;
}
