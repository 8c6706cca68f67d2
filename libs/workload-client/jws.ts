import type { webcrypto } from 'node:crypto';

export type CryptoKey = webcrypto.CryptoKey;
export type CryptoKeyPair = webcrypto.CryptoKeyPair;
export type JsonWebKey = webcrypto.JsonWebKey;

/**
 * Whatever holds a private key and signs with it: a WebCrypto key, a TPM, a KMS. The client only
 * ever asks for signatures, so a key that cannot leave its hardware plugs in here.
 */
export interface JwsSigner {
  /** The JWS `alg` (RFC 7518 §3.1): ES256, EdDSA, RS256, PS256, … */
  readonly alg: string;
  /** The `kid` the issuer knows the key by (the client's registered JWKS). */
  readonly kid?: string;
  /** The public key, without private members. Required for DPoP signers (RFC 9449 §4.2 `jwk`). */
  readonly publicJwk?: JsonWebKey;
  /**
   * Signs the JWS signing input and returns the signature in JOSE form (RFC 7518 §3.4: ECDSA
   * is the raw 64-byte R‖S for ES256, not DER).
   */
  sign(signingInput: Uint8Array): Promise<Uint8Array>;
}

export const base64url = (bytes: Uint8Array | string): string => Buffer.from(bytes).toString('base64url');

/** A compact JWS (RFC 7515 §7.1) over a JSON payload; `alg` and `kid` come from the signer. */
export async function compactJws(signer: JwsSigner, header: Record<string, unknown>, payload: Record<string, unknown>): Promise<string> {
  const protectedHeader = { ...header, alg: signer.alg, ...(signer.kid !== undefined ? { kid: signer.kid } : {}) };
  const signingInput = `${base64url(JSON.stringify(protectedHeader))}.${base64url(JSON.stringify(payload))}`;
  const signature = await signer.sign(new TextEncoder().encode(signingInput));
  return `${signingInput}.${base64url(signature)}`;
}

const PUBLIC_MEMBERS: Record<string, readonly string[]> = { EC: ['kty', 'crv', 'x', 'y'], OKP: ['kty', 'crv', 'x'], RSA: ['kty', 'n', 'e'] };

/** The public members of a JWK only (RFC 7517 §4, RFC 7518 §6): never send `d` by mistake. */
export function publicJwkOf(jwk: JsonWebKey): JsonWebKey {
  const members = PUBLIC_MEMBERS[jwk.kty ?? ''];
  if (!members) throw new TypeError(`unsupported JWK key type ${String(jwk.kty)}`);
  return Object.fromEntries(members.filter((m) => (jwk as Record<string, unknown>)[m] !== undefined).map((m) => [m, (jwk as Record<string, unknown>)[m]]));
}

type SignParams = Parameters<typeof crypto.subtle.sign>[0];

const SHA = { '256': 'SHA-256', '384': 'SHA-384', '512': 'SHA-512' } as const;
const CURVE = { '256': 'P-256', '384': 'P-384', '512': 'P-521' } as const;

/** The WebCrypto parameters for a JWS alg (RFC 7518 §3, RFC 8037 §3.1), checked against the key. */
function signParams(key: CryptoKey, alg: string): SignParams {
  const algorithm = key.algorithm as { name: string; namedCurve?: string; hash?: { name: string } };
  const bits = /^(?:ES|RS|PS)(256|384|512)$/.exec(alg)?.[1] as keyof typeof SHA | undefined;
  const mismatch = () => new TypeError(`the key (${algorithm.name}) cannot sign ${alg}`);
  if (alg === 'EdDSA' || alg === 'Ed25519') {
    if (algorithm.name !== 'Ed25519' && algorithm.name !== 'Ed448') throw mismatch();
    return { name: algorithm.name };
  }
  if (!bits) throw new TypeError(`unsupported JWS alg ${alg}`);
  if (alg.startsWith('ES')) {
    if (algorithm.name !== 'ECDSA' || algorithm.namedCurve !== CURVE[bits]) throw mismatch();
    // WebCrypto's ECDSA signature is already R‖S, the JOSE form (RFC 7518 §3.4).
    return { name: 'ECDSA', hash: SHA[bits] };
  }
  const name = alg.startsWith('RS') ? 'RSASSA-PKCS1-v1_5' : 'RSA-PSS';
  // An RSA CryptoKey is bound to one hash when it is imported or generated.
  if (algorithm.name !== name || algorithm.hash?.name !== SHA[bits]) throw mismatch();
  // RFC 7518 §3.5: the PSS salt is as long as the hash.
  return name === 'RSA-PSS' ? { name, saltLength: Number(bits) / 8 } : { name };
}

/**
 * A signer over a WebCrypto private key. `publicJwk` is needed only for DPoP; see
 * `signerFromKeyPair` to take it from the pair.
 */
export function signerFromCryptoKey(privateKey: CryptoKey, alg: string, kid?: string, publicJwk?: JsonWebKey): JwsSigner {
  if (privateKey.type !== 'private') throw new TypeError('signerFromCryptoKey needs a private key');
  const params = signParams(privateKey, alg);
  return {
    alg,
    ...(kid !== undefined ? { kid } : {}),
    ...(publicJwk ? { publicJwk: publicJwkOf(publicJwk) } : {}),
    // The copy makes a Uint8Array<ArrayBuffer>: under the DOM lib (TypeScript's default) a view
    // that may be over a SharedArrayBuffer is not a BufferSource.
    sign: async (signingInput) => new Uint8Array(await crypto.subtle.sign(params, privateKey, new Uint8Array(signingInput))),
  };
}

/** A signer over a WebCrypto key pair, with its public JWK (so it can sign DPoP proofs). */
export async function signerFromKeyPair(pair: CryptoKeyPair, alg: string, kid?: string): Promise<JwsSigner> {
  const jwk = (await crypto.subtle.exportKey('jwk', pair.publicKey)) as JsonWebKey;
  return signerFromCryptoKey(pair.privateKey, alg, kid, jwk);
}

/**
 * A fresh ES256 DPoP key (RFC 9449 §4.2). The private key is not extractable: it lives as long as
 * this process, and tokens bound to it die with it.
 */
export async function generateDpopSigner(): Promise<JwsSigner> {
  const pair = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify'])) as CryptoKeyPair;
  return signerFromKeyPair(pair, 'ES256');
}
