import { createHash } from 'node:crypto';

// RFC 7638 §3.2: the required members of each key type, in lexicographic order.
const REQUIRED: Record<string, string[]> = {
  EC: ['crv', 'kty', 'x', 'y'],
  OKP: ['crv', 'kty', 'x'],
  RSA: ['e', 'kty', 'n'],
};

/**
 * RFC 7638 SHA-256 JWK thumbprint, computed synchronously with node:crypto (jose's version
 * sends a 100-byte digest through WebCrypto's thread pool). Undefined for an unsupported or
 * malformed key.
 */
export function jwkThumbprint(jwk: Record<string, unknown>): string | undefined {
  const members = REQUIRED[jwk.kty as string];
  if (!members) return undefined;
  const canonical: Record<string, string> = {};
  for (const m of members) {
    if (typeof jwk[m] !== 'string') return undefined;
    canonical[m] = jwk[m] as string;
  }
  return createHash('sha256').update(JSON.stringify(canonical)).digest('base64url');
}
