/**
 * Validation of a client's JWK Set (RFC 7517; RFC 7591 §2 `jwks`).
 *
 * Machine clients authenticate with `private_key_jwt` and may bind tokens with DPoP, so the keys
 * registered here are the root of a client's identity. Everything is checked strictly and every
 * problem names the exact member (`jwks.keys[1].d`) so registration errors can be returned as-is.
 *
 * Beyond the obvious shape checks, three cheap rules protect against keys that *import fine* in
 * WebCrypto/OpenSSL yet let anyone forge signatures (verified against Node 20 + jose v6):
 *   - RSA `e` = 1 (or another tiny/even exponent): with e = 1 the signature *is* the padded
 *     message, so any third party can mint a valid client assertion.
 *   - Ed25519 small-order points (e.g. the identity): `R = identity, S = 0` verifies for every
 *     message.
 *   - non-canonical encodings (wrong coordinate length, trailing base64url bits): the same key
 *     then has several spellings and several RFC 7638 thumbprints.
 */
import { Buffer } from 'node:buffer';
import { calculateJwkThumbprint, importJWK, type JWK } from 'jose';
import { CLIENT_SIGNING_ALGS, type ClientSigningAlg } from '#protocol';

/** The algorithms a client key may be for: the ones accepted for assertions and proofs (libs/protocol). */
export const CLIENT_KEY_ALGORITHMS = CLIENT_SIGNING_ALGS;
export type ClientKeyAlgorithm = ClientSigningAlg;

export interface KeyProblem {
  /** Path of the offending member, e.g. `jwks.keys[1].d`. */
  field: string;
  message: string;
}

export const MAX_CLIENT_KEYS = 10;
export const MIN_RSA_BITS = 2048;
/** Upper bound so a client cannot make every verification of its assertions arbitrarily expensive. */
export const MAX_RSA_BITS = 8192;

/** Members that carry private or symmetric key material (RFC 7518 §6.3.2, §6.4; `priv` is AKP). */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k', 'priv'] as const;

/** Members kept by {@link publicJwks}. */
const PUBLIC_MEMBERS = ['kty', 'crv', 'x', 'y', 'n', 'e', 'kid', 'alg', 'use', 'key_ops', 'x5c'] as const;

const EC_COORDINATE_BYTES: Readonly<Record<string, number>> = { 'P-256': 32, 'P-384': 48 };

type KeyShape = { kty: 'EC'; crv: 'P-256' | 'P-384' } | { kty: 'OKP'; crv: 'Ed25519' } | { kty: 'RSA' };

const ALG_SHAPE: Readonly<Record<ClientKeyAlgorithm, KeyShape>> = {
  ES256: { kty: 'EC', crv: 'P-256' },
  ES384: { kty: 'EC', crv: 'P-384' },
  EdDSA: { kty: 'OKP', crv: 'Ed25519' },
  Ed25519: { kty: 'OKP', crv: 'Ed25519' },
  PS256: { kty: 'RSA' },
  PS384: { kty: 'RSA' },
  RS256: { kty: 'RSA' },
};

/** Ed25519 field prime 2^255 - 19. */
const ED25519_P = (1n << 255n) - 19n;
/** y-coordinate of the order-8 points (the other order-8 pair has y = p - Y8); see libsodium's blocklist. */
const ED25519_Y8 = 2707385501144840649318225287225658788936804267575313519463743609750303402022n;
/** y-coordinates (mod p) of all eight points in the Ed25519 torsion subgroup. */
const ED25519_SMALL_ORDER_Y = new Set<bigint>([0n, 1n, ED25519_P - 1n, ED25519_Y8, ED25519_P - ED25519_Y8]);

const BASE64URL = /^[A-Za-z0-9_-]+$/;
/** Longest base64url member we are willing to decode (an 8192-bit modulus is 1366 characters). */
const MAX_MEMBER_CHARS = 2048;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads an own member only, so a polluted Object.prototype cannot inject `alg`, `use`, ... */
function own(obj: Record<string, unknown>, name: string): unknown {
  return Object.hasOwn(obj, name) ? obj[name] : undefined;
}

/** Strict, canonical base64url (no padding, no stray trailing bits). */
function decodeBase64url(value: unknown): Buffer | undefined {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_MEMBER_CHARS) return undefined;
  if (!BASE64URL.test(value)) return undefined;
  const bytes = Buffer.from(value, 'base64url');
  return bytes.toString('base64url') === value ? bytes : undefined;
}

function stripLeadingZeros(bytes: Buffer): Buffer {
  let i = 0;
  while (i < bytes.length && bytes[i] === 0) i++;
  return bytes.subarray(i);
}

/** Bit length of a big-endian unsigned integer, ignoring leading zero bytes. */
function bitLength(bytes: Buffer): number {
  const significant = stripLeadingZeros(bytes);
  if (significant.length === 0) return 0;
  return (significant.length - 1) * 8 + (32 - Math.clz32(significant[0]!));
}

function isClientKeyAlgorithm(value: unknown): value is ClientKeyAlgorithm {
  return typeof value === 'string' && (CLIENT_KEY_ALGORITHMS as readonly string[]).includes(value);
}

function shapeMatches(alg: ClientKeyAlgorithm, shape: KeyShape): boolean {
  const expected = ALG_SHAPE[alg];
  if (expected.kty !== shape.kty) return false;
  return !('crv' in expected) || ('crv' in shape && shape.crv === expected.crv);
}

function describeShape(shape: KeyShape): string {
  return 'crv' in shape ? `${shape.kty} ${shape.crv}` : shape.kty;
}

function defaultAlg(shape: KeyShape): ClientKeyAlgorithm {
  switch (shape.kty) {
    case 'EC':
      return shape.crv === 'P-256' ? 'ES256' : 'ES384';
    case 'OKP':
      return 'Ed25519';
    case 'RSA':
      return 'PS256';
  }
}

/** Checks a base64url member; returns the decoded bytes or records a problem. */
function requireBase64url(
  key: Record<string, unknown>,
  name: string,
  path: string,
  problems: KeyProblem[],
): Buffer | undefined {
  const value = own(key, name);
  if (value === undefined) {
    problems.push({ field: `${path}.${name}`, message: `"${name}" is required` });
    return undefined;
  }
  const bytes = decodeBase64url(value);
  if (!bytes) problems.push({ field: `${path}.${name}`, message: `"${name}" must be a canonical base64url string` });
  return bytes;
}

/**
 * Validates key-type specific members. Returns the key's shape when kty/crv are acceptable
 * (even if other members have problems), so alg consistency can still be checked.
 */
function checkKeyMaterial(key: Record<string, unknown>, path: string, problems: KeyProblem[]): KeyShape | undefined {
  const kty = own(key, 'kty');
  if (kty === 'oct') {
    problems.push({ field: `${path}.kty`, message: 'symmetric keys are not allowed' });
    return undefined;
  }
  if (kty !== 'EC' && kty !== 'OKP' && kty !== 'RSA') {
    problems.push({ field: `${path}.kty`, message: 'kty must be one of "EC", "OKP" or "RSA"' });
    return undefined;
  }
  const crv = own(key, 'crv');

  if (kty === 'EC') {
    if (crv !== 'P-256' && crv !== 'P-384') {
      problems.push({ field: `${path}.crv`, message: 'EC keys must use crv "P-256" or "P-384"' });
      return undefined;
    }
    const size = EC_COORDINATE_BYTES[crv]!;
    for (const coordinate of ['x', 'y'] as const) {
      const bytes = requireBase64url(key, coordinate, path, problems);
      if (bytes && bytes.length !== size) {
        problems.push({
          field: `${path}.${coordinate}`,
          message: `"${coordinate}" must be exactly ${size} bytes for ${crv}`,
        });
      }
    }
    return { kty, crv };
  }

  if (kty === 'OKP') {
    if (crv !== 'Ed25519') {
      problems.push({ field: `${path}.crv`, message: 'OKP keys must use crv "Ed25519"' });
      return undefined;
    }
    const x = requireBase64url(key, 'x', path, problems);
    if (x) {
      if (x.length !== 32) {
        problems.push({ field: `${path}.x`, message: '"x" must be exactly 32 bytes for Ed25519' });
      } else {
        // Little-endian y with the sign bit of x in the top bit.
        const y = BigInt(`0x${Buffer.from(x).reverse().toString('hex')}`) & ((1n << 255n) - 1n);
        if (y >= ED25519_P) {
          problems.push({ field: `${path}.x`, message: 'non-canonical Ed25519 point encoding' });
        } else if (ED25519_SMALL_ORDER_Y.has(y)) {
          problems.push({ field: `${path}.x`, message: 'Ed25519 public key is a small-order point (forgeable)' });
        }
      }
    }
    return { kty, crv };
  }

  // RSA
  const n = requireBase64url(key, 'n', path, problems);
  if (n) {
    const bits = bitLength(n);
    if (bits < MIN_RSA_BITS) {
      problems.push({ field: `${path}.n`, message: `RSA keys must be at least ${MIN_RSA_BITS} bits` });
    } else if (bits > MAX_RSA_BITS) {
      problems.push({ field: `${path}.n`, message: `RSA keys must be at most ${MAX_RSA_BITS} bits` });
    } else if ((n[n.length - 1]! & 1) === 0) {
      problems.push({ field: `${path}.n`, message: 'RSA modulus must be odd' });
    }
  }
  const e = requireBase64url(key, 'e', path, problems);
  if (e) {
    // FIPS 186-5 §A.1.1: e odd, 2^16 < e < 2^256. e = 1 makes signatures trivially forgeable.
    const bits = bitLength(e);
    const odd = e.length > 0 && (e[e.length - 1]! & 1) === 1;
    if (!odd || bits < 17 || bits > 256) {
      problems.push({ field: `${path}.e`, message: 'RSA public exponent must be odd, at least 65537 and below 2^256' });
    }
  }
  return { kty };
}

function checkOptionalMembers(
  key: Record<string, unknown>,
  path: string,
  shape: KeyShape | undefined,
  problems: KeyProblem[],
  uses: readonly string[] = ['sig'],
): void {
  const alg = own(key, 'alg');
  if (alg !== undefined) {
    if (!isClientKeyAlgorithm(alg)) {
      problems.push({
        field: `${path}.alg`,
        message: `unsupported alg (allowed: ${CLIENT_KEY_ALGORITHMS.join(', ')})`,
      });
    } else if (shape && !shapeMatches(alg, shape)) {
      problems.push({ field: `${path}.alg`, message: `unsupported alg ${alg} for an ${describeShape(shape)} key` });
    }
  }

  const use = own(key, 'use');
  if (use !== undefined && !uses.includes(use as string)) {
    problems.push({ field: `${path}.use`, message: `use must be ${uses.map((u) => `"${u}"`).join(' or ')} when present` });
  }

  // Not strictly required by RFC 7591, but jose refuses at verification time a key whose key_ops
  // lacks "verify", and anything else on a client's public signing key is meaningless.
  const keyOps = own(key, 'key_ops');
  if (
    keyOps !== undefined &&
    (!Array.isArray(keyOps) || keyOps.length !== 1 || keyOps[0] !== 'verify')
  ) {
    problems.push({ field: `${path}.key_ops`, message: 'key_ops must be ["verify"] when present' });
  }

  const kid = own(key, 'kid');
  if (kid !== undefined && (typeof kid !== 'string' || kid.length === 0)) {
    problems.push({ field: `${path}.kid`, message: 'kid must be a non-empty string when present' });
  }

  // x5c is kept by publicJwks; it is type-checked here but NOT verified against the key.
  const x5c = own(key, 'x5c');
  if (
    x5c !== undefined &&
    (!Array.isArray(x5c) || x5c.length === 0 || !x5c.every((c) => typeof c === 'string' && c.length > 0))
  ) {
    problems.push({ field: `${path}.x5c`, message: 'x5c must be a non-empty array of base64 strings' });
  }
}

/** The members that actually define the key, i.e. what is imported and stored. */
function keyMaterial(key: Record<string, unknown>, shape: KeyShape): JWK {
  return shape.kty === 'RSA'
    ? { kty: 'RSA', n: own(key, 'n') as string, e: own(key, 'e') as string }
    : shape.kty === 'EC'
      ? { kty: 'EC', crv: shape.crv, x: own(key, 'x') as string, y: own(key, 'y') as string }
      : { kty: 'OKP', crv: shape.crv, x: own(key, 'x') as string };
}

/**
 * Validates a client's JWK Set. Resolves to `[]` when acceptable, otherwise to every problem
 * found, each naming the offending member. Async because every structurally valid key is also
 * imported with jose `importJWK` (which catches e.g. EC points that are not on the curve).
 *
 * Never rejects: malformed input is reported as problems. `options.uses`: the `use` values
 * allowed (default `sig`; a SPIFFE bundle's keys say `jwt-svid`, SPIFFE Trust Domain and Bundle §4.2.1).
 */
export async function checkClientJwks(jwks: unknown, options: { uses?: readonly string[] } = {}): Promise<KeyProblem[]> {
  const problems: KeyProblem[] = [];
  if (!isRecord(jwks)) {
    return [{ field: 'jwks', message: 'jwks must be a JWK Set object' }];
  }
  const keys = own(jwks, 'keys');
  if (!Array.isArray(keys)) {
    return [{ field: 'jwks.keys', message: 'keys must be an array of JWKs' }];
  }
  if (keys.length === 0) {
    return [{ field: 'jwks.keys', message: 'keys must contain at least one key' }];
  }
  if (keys.length > MAX_CLIENT_KEYS) {
    // Stop here: do not spend import work on an oversized set.
    return [{ field: 'jwks.keys', message: `keys must contain at most ${MAX_CLIENT_KEYS} keys` }];
  }

  const kidOwner = new Map<string, number>();
  const imports: Array<Promise<KeyProblem | undefined>> = [];

  keys.forEach((key: unknown, index: number) => {
    const path = `jwks.keys[${index}]`;
    if (!isRecord(key)) {
      problems.push({ field: path, message: 'each key must be a JWK object' });
      return;
    }
    const keyProblems: KeyProblem[] = [];

    for (const member of PRIVATE_MEMBERS) {
      if (Object.hasOwn(key, member)) {
        keyProblems.push({ field: `${path}.${member}`, message: 'private key material must not be sent' });
      }
    }
    const shape = checkKeyMaterial(key, path, keyProblems);
    checkOptionalMembers(key, path, shape, keyProblems, options.uses);

    const kid = own(key, 'kid');
    if (typeof kid === 'string' && kid.length > 0) {
      const first = kidOwner.get(kid);
      if (first !== undefined) {
        keyProblems.push({ field: `${path}.kid`, message: `duplicate kid (also used by jwks.keys[${first}])` });
      } else {
        kidOwner.set(kid, index);
      }
    }

    problems.push(...keyProblems);

    // Only import keys that are otherwise clean: no noise, and never import private material.
    if (keyProblems.length === 0 && shape) {
      const alg = own(key, 'alg');
      const importAlg = isClientKeyAlgorithm(alg) ? alg : defaultAlg(shape);
      imports.push(
        importJWK(keyMaterial(key, shape), importAlg).then(
          () => undefined,
          (error: unknown) => ({
            field: path,
            message: `key could not be imported (${error instanceof Error ? error.name : 'error'})`,
          }),
        ),
      );
    }
  });

  for (const problem of await Promise.all(imports)) {
    if (problem) problems.push(problem);
  }
  // Keep a stable order (by key index) regardless of when imports settle.
  return problems.sort((a, b) => keyIndex(a.field) - keyIndex(b.field));
}

function keyIndex(field: string): number {
  const match = /^jwks\.keys\[(\d+)\]/.exec(field);
  return match ? Number(match[1]) : -1;
}

/**
 * RFC 7638 SHA-256 thumbprints (base64url), one per key, in order. Call on a set that passed
 * {@link checkClientJwks}; rejects if a key lacks its required members.
 */
export async function thumbprints(jwks: { readonly keys: readonly JWK[] }): Promise<string[]> {
  return Promise.all(jwks.keys.map((key) => calculateJwkThumbprint(key, 'sha256')));
}

/**
 * Returns a copy of the set keeping only public members (kty, crv, x, y, n, e, kid, alg, use,
 * key_ops, x5c). Defence in depth: even if a private member slipped past validation it is never
 * stored or echoed back. The input is not modified; arrays are copied.
 */
export function publicJwks(jwks: { readonly keys: readonly JWK[] }): { keys: JWK[] } {
  return {
    keys: jwks.keys.map((key) => {
      const out: Record<string, unknown> = {};
      for (const member of PUBLIC_MEMBERS) {
        if (!Object.hasOwn(key, member)) continue;
        const value: unknown = key[member];
        if (value === undefined) continue;
        out[member] = Array.isArray(value) ? [...(value as unknown[])] : value;
      }
      return out as JWK;
    }),
  };
}
