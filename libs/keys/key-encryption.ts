import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Private signing keys are stored encrypted with AES-256-GCM under the key-encryption key (KEK)
 * from TOLLGATE_KEY_ENCRYPTION_KEY. The kid is bound as additional data so a ciphertext cannot
 * be moved to another row.
 */
export function encryptPrivateJwk(kek: Buffer, kid: string, jwk: object): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', kek, iv);
  cipher.setAAD(Buffer.from(kid));
  const data = Buffer.concat([cipher.update(JSON.stringify(jwk), 'utf8'), cipher.final()]);
  return ['v1', iv.toString('base64url'), data.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.');
}

export function decryptPrivateJwk(kek: Buffer, kid: string, sealed: string): Record<string, unknown> {
  const [version, iv, data, tag] = sealed.split('.');
  if (version !== 'v1' || !iv || !data || !tag) throw new Error(`signing key ${kid}: unknown encryption format`);
  const decipher = createDecipheriv('aes-256-gcm', kek, Buffer.from(iv, 'base64url'));
  decipher.setAAD(Buffer.from(kid));
  decipher.setAuthTag(Buffer.from(tag, 'base64url'));
  try {
    const clear = Buffer.concat([decipher.update(Buffer.from(data, 'base64url')), decipher.final()]);
    return JSON.parse(clear.toString('utf8'));
  } catch {
    throw new Error(
      `signing key ${kid} cannot be decrypted: TOLLGATE_KEY_ENCRYPTION_KEY is not the key it was stored with`,
    );
  }
}

/**
 * The configured KEK, or for a single-instance setup without one, a KEK generated once and
 * kept in the data folder (mode 0600). Several instances must share a configured KEK.
 */
export function loadKeyEncryptionKey(configured: Buffer | undefined, dataDir: string): { key: Buffer; source: 'config' | 'file' } {
  if (configured) return { key: configured, source: 'config' };
  if (dataDir === 'memory://') return { key: randomBytes(32), source: 'file' };
  const path = join(dataDir, 'key-encryption-key');
  if (existsSync(path)) {
    const key = Buffer.from(readFileSync(path, 'utf8').trim(), 'base64url');
    if (key.length !== 32) throw new Error(`${path} does not hold a 32-byte key`);
    return { key, source: 'file' };
  }
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const key = randomBytes(32);
  writeFileSync(path, key.toString('base64url'), { mode: 0o600, flag: 'wx' });
  return { key, source: 'file' };
}
