/**
 * Client secrets for gateway clients (client_secret_basic / client_secret_post).
 *
 * Secrets are 256-bit random values shown once and stored only as scrypt hashes in the form
 * `scrypt$N$r$p$salt$hash` (salt and hash base64url). Verification is constant time and never
 * throws: anything malformed simply does not verify.
 */
import { Buffer } from 'node:buffer';
import { createHash, randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

const SCHEME = 'scrypt';
const COST_N = 16384;
const BLOCK_SIZE_R = 8;
const PARALLELISM_P = 1;
const KEY_BYTES = 32;
const SALT_BYTES = 16;
const SECRET_BYTES = 32;

/** Longest secret we will hash or verify; generated secrets are 43 characters. */
export const MAX_CLIENT_SECRET_LENGTH = 512;
/** Longest stored value we will parse (a well-formed one is ~90 characters). */
const MAX_STORED_LENGTH = 512;

/**
 * Bounds on parameters read back from a stored value, so a corrupted (or hostile) row cannot make
 * verification absurdly expensive or silently weak. They leave room to raise the cost later.
 */
const MIN_N = 16384;
const MIN_R = 8;
const MAX_MEMORY_BYTES = 64 * 1024 * 1024; // 128 * N * r
const MAX_WORK = 1 << 22; // N * r * p (current parameters: 2^17)

const BASE64URL = /^[A-Za-z0-9_-]+$/;
const DECIMAL = /^[1-9][0-9]{0,9}$/;

interface ScryptParams {
  N: number;
  r: number;
  p: number;
}

function scryptAsync(secret: string, salt: Buffer, keylen: number, params: ScryptParams): Promise<Buffer> {
  const options: ScryptOptions = {
    N: params.N,
    r: params.r,
    p: params.p,
    maxmem: 128 * params.N * params.r * (params.p + 1) + 1024 * 1024,
  };
  return new Promise((resolve, reject) => {
    scrypt(secret, salt, keylen, options, (error, key) => (error ? reject(error) : resolve(key)));
  });
}

function decodeBase64url(value: string): Buffer | undefined {
  if (!BASE64URL.test(value)) return undefined;
  const bytes = Buffer.from(value, 'base64url');
  return bytes.toString('base64url') === value ? bytes : undefined;
}

function parseDecimal(value: string): number | undefined {
  return DECIMAL.test(value) ? Number(value) : undefined;
}

interface ParsedHash extends ScryptParams {
  salt: Buffer;
  hash: Buffer;
}

function parseStored(stored: string): ParsedHash | undefined {
  if (stored.length > MAX_STORED_LENGTH) return undefined;
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== SCHEME) return undefined;
  const N = parseDecimal(parts[1]!);
  const r = parseDecimal(parts[2]!);
  const p = parseDecimal(parts[3]!);
  if (N === undefined || r === undefined || p === undefined) return undefined;
  if (N < MIN_N || (N & (N - 1)) !== 0) return undefined; // power of two, not weaker than today
  if (r < MIN_R) return undefined;
  if (128 * N * r > MAX_MEMORY_BYTES || N * r * p > MAX_WORK) return undefined;
  const salt = decodeBase64url(parts[4]!);
  const hash = decodeBase64url(parts[5]!);
  if (!salt || salt.length < SALT_BYTES || !hash || hash.length !== KEY_BYTES) return undefined;
  return { N, r, p, salt, hash };
}

function isAcceptableSecret(secret: unknown): secret is string {
  return typeof secret === 'string' && secret.length > 0 && secret.length <= MAX_CLIENT_SECRET_LENGTH;
}

/** A new client secret: 32 random bytes, base64url (43 characters). */
export function generateClientSecret(): string {
  return randomBytes(SECRET_BYTES).toString('base64url');
}

/**
 * Hashes a secret for storage: scrypt (N=16384, r=8, p=1, 32-byte key) with a random 16-byte
 * salt, formatted `scrypt$16384$8$1$<salt>$<hash>`.
 * Throws TypeError for an empty, non-string or over-long secret.
 */
export async function hashClientSecret(secret: string): Promise<string> {
  if (!isAcceptableSecret(secret)) {
    throw new TypeError(`client secret must be a non-empty string of at most ${MAX_CLIENT_SECRET_LENGTH} characters`);
  }
  const salt = randomBytes(SALT_BYTES);
  const params = { N: COST_N, r: BLOCK_SIZE_R, p: PARALLELISM_P };
  const hash = await scryptAsync(secret, salt, KEY_BYTES, params);
  return [SCHEME, COST_N, BLOCK_SIZE_R, PARALLELISM_P, salt.toString('base64url'), hash.toString('base64url')].join(
    '$',
  );
}

/**
 * Checks a presented secret against a stored hash in constant time. Resolves to false (never
 * rejects) for a wrong secret, a malformed or out-of-bounds stored value, or non-string input.
 */
export async function verifyClientSecret(secret: string, stored: string): Promise<boolean> {
  try {
    if (!isAcceptableSecret(secret) || typeof stored !== 'string') return false;
    const parsed = parseStored(stored);
    if (!parsed) return false;
    const derived = await scryptAsync(secret, parsed.salt, parsed.hash.length, parsed);
    return derived.length === parsed.hash.length && timingSafeEqual(derived, parsed.hash);
  } catch {
    return false;
  }
}

export interface SecretVerifierOptions {
  /** How long a successful verification is remembered. Default 60 000 ms. */
  ttlMs?: number;
  /** Maximum remembered verifications; the oldest is evicted first. Default 10 000. */
  maxEntries?: number;
  /** Clock, for tests. Default Date.now. */
  now?: () => number;
  /** The underlying check, for tests. Default {@link verifyClientSecret}. */
  verifySecret?: (secret: string, stored: string) => Promise<boolean>;
}

/**
 * Memoises successful secret verifications for hot paths.
 *
 * Why: scrypt is deliberately slow (~50 ms of CPU and 16 MiB per check, and it runs on libuv's
 * small thread pool), which is the point for stored hashes but ruinous for a gateway that
 * authenticates its client on *every* call. Remembering a success for 60 s makes the steady state
 * a single SHA-256.
 *
 * Safety: the cache key is sha256(clientId \0 stored \0 secret), so a hit requires the exact same
 * secret against the exact same stored hash: rotating the secret (new stored value) or deleting
 * the client (no stored value to pass) takes effect immediately, and the plaintext secret is never
 * kept. Failures are never cached, so a wrong guess always pays full scrypt cost and a correct
 * secret is never shadowed by an earlier failure. Memory is bounded (oldest evicted first).
 */
export class SecretVerifier {
  readonly #ttlMs: number;
  readonly #maxEntries: number;
  readonly #now: () => number;
  readonly #verifySecret: (secret: string, stored: string) => Promise<boolean>;
  /** cache key -> expiry (ms). Map iteration order is insertion order, i.e. oldest first. */
  readonly #entries = new Map<string, number>();

  constructor(options: SecretVerifierOptions = {}) {
    this.#ttlMs = options.ttlMs ?? 60_000;
    this.#maxEntries = Math.max(1, options.maxEntries ?? 10_000);
    this.#now = options.now ?? Date.now;
    this.#verifySecret = options.verifySecret ?? verifyClientSecret;
  }

  /** Number of remembered verifications (including not-yet-purged expired ones). */
  get size(): number {
    return this.#entries.size;
  }

  clear(): void {
    this.#entries.clear();
  }

  async verify(clientId: string, secret: string, stored: string): Promise<boolean> {
    if (typeof clientId !== 'string' || typeof secret !== 'string' || typeof stored !== 'string') return false;
    // A NUL inside clientId or stored would make the key's field boundaries ambiguous; such
    // values are never cached (they still verify normally).
    const cacheable = !clientId.includes('\0') && !stored.includes('\0');
    const key = cacheable ? createHash('sha256').update(`${clientId}\0${stored}\0${secret}`).digest('base64url') : '';

    if (cacheable) {
      const expiresAt = this.#entries.get(key);
      if (expiresAt !== undefined) {
        if (expiresAt > this.#now()) return true;
        this.#entries.delete(key);
      }
    }

    const ok = await this.#verifySecret(secret, stored);
    if (ok === true && cacheable) this.#remember(key);
    return ok === true;
  }

  #remember(key: string): void {
    const now = this.#now();
    this.#entries.delete(key);
    // Entries share one TTL, so the oldest are also the first to expire: purge those, then evict.
    for (const [oldest, expiresAt] of this.#entries) {
      if (expiresAt > now && this.#entries.size < this.#maxEntries) break;
      this.#entries.delete(oldest);
    }
    this.#entries.set(key, now + this.#ttlMs);
  }
}
