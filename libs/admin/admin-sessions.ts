import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** Nest injection token for AdminSessions. */
export const ADMIN_SESSIONS = Symbol('AdminSessions');

/**
 * The console's session cookie. Over https it carries the `__Host-` prefix (RFC 6265bis §4.1.3.2:
 * Secure, Path=/, no Domain, so no sibling host can set or shadow it).
 */
export const SESSION_COOKIE = 'tollgate-console';
export const SECURE_SESSION_COOKIE = '__Host-tollgate-console';
/** Cookie-authenticated requests that change something carry their session's CSRF token here. */
export const CSRF_HEADER = 'x-tollgate-csrf';

export interface AdminSession {
  /** Sent back in CSRF_HEADER on every mutation; held by the page in memory only. */
  csrf: string;
  /** Epoch milliseconds. */
  expiresAt: number;
}

/** Where sessions live: the hot state's challenge store (libs/hot-state), seen from below. */
export interface SessionStore {
  put(key: string, value: string, ttlSeconds: number): Promise<void>;
  get(key: string): Promise<string | null>;
  take(key: string): Promise<string | null>;
}

const KEY_PREFIX = 'console-session:';
const ID = /^[A-Za-z0-9_-]{43}$/;

/** The key a session is stored under: a hash of its id, so a dump of the store holds no usable cookie. */
const keyOf = (id: string) => KEY_PREFIX + createHash('sha256').update(id).digest('base64url');

/** Constant-time equality of two short strings (different lengths are unequal without comparing content). */
export function sameSecret(given: unknown, expected: string): boolean {
  if (typeof given !== 'string') return false;
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/**
 * Console sessions, opened with the admin token and kept in the shared hot state, so that every
 * instance knows them and sign-out ends them everywhere (a stateless signed cookie could not be
 * ended before it expired). Absolute lifetime, no renewal: a stolen cookie is good for at most
 * `lifetimeSeconds`. Bound and expiry: the challenge store's (entries live `lifetimeSeconds`).
 */
export class AdminSessions {
  constructor(private readonly store: SessionStore, readonly lifetimeSeconds: number) {}

  /** A new session: its cookie value (the id, 256 random bits) and what the page may know of it. */
  async open(now = Date.now()): Promise<{ id: string; session: AdminSession }> {
    const id = randomBytes(32).toString('base64url');
    const session: AdminSession = { csrf: randomBytes(32).toString('base64url'), expiresAt: now + this.lifetimeSeconds * 1000 };
    await this.store.put(keyOf(id), JSON.stringify(session), this.lifetimeSeconds);
    return { id, session };
  }

  /** The live session this cookie value names, or null. */
  async find(id: string, now = Date.now()): Promise<AdminSession | null> {
    if (!ID.test(id)) return null;
    const stored = await this.store.get(keyOf(id));
    if (!stored) return null;
    const session = JSON.parse(stored) as AdminSession;
    return session.expiresAt > now ? session : null;
  }

  /** Ends the session on every instance. */
  async close(id: string): Promise<void> {
    if (ID.test(id)) await this.store.take(keyOf(id));
  }
}

/** The session id from a Cookie header (RFC 6265 §5.4), either cookie name; undefined without one. */
export function sessionCookie(header: unknown): string | undefined {
  if (typeof header !== 'string') return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    if (name === SESSION_COOKIE || name === SECURE_SESSION_COOKIE) return part.slice(eq + 1).trim();
  }
  return undefined;
}
