import { randomUUID } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type JWK, SignJWT, type JWTPayload } from 'jose';
import { type AuditActor, auditRecord } from '#audit';
import type { PrismaClient } from '#persistence';
import { decryptPrivateJwk, encryptPrivateJwk } from './key-encryption.js';

export interface SigningKeyView {
  kid: string;
  alg: string;
  createdAt: Date;
  retiredAt: Date | null;
  expiresAt: Date | null;
  active: boolean;
}

interface LoadedKey extends SigningKeyView {
  publicJwk: JWK;
  privateJwk: JWK;
}

/**
 * The server's own ES256 signing keys (RFC 9068 §2.1 access tokens). One key signs; keys it
 * replaced stay published in the JWKS until every token they signed has expired.
 * Owner of the in-memory copy: this class; it reloads on `reload()` (rotation, other instance).
 */
export class KeyRing {
  private keys: LoadedKey[] = [];
  private readonly listeners: (() => void)[] = [];

  constructor(
    private readonly prisma: PrismaClient,
    private readonly kek: Buffer,
    /** Longest lifetime of a token we sign plus clock skew: how long a retired key stays published. */
    private readonly retiredKeyGraceSeconds: number,
  ) {}

  /** Loads keys, creating the first one when there is none. */
  async init(): Promise<void> {
    await this.reload();
    if (!this.keys.some((k) => k.active)) {
      await this.rotate();
    }
  }

  async reload(): Promise<void> {
    const now = new Date();
    const rows = await this.prisma.signingKey.findMany({ orderBy: { createdAt: 'desc' } });
    this.keys = rows
      .filter((r) => !r.expiresAt || r.expiresAt > now)
      .map((r) => ({
        kid: r.kid,
        alg: r.alg,
        createdAt: r.createdAt,
        retiredAt: r.retiredAt,
        expiresAt: r.expiresAt,
        active: !r.retiredAt,
        publicJwk: r.publicJwk as JWK,
        privateJwk: { ...(decryptPrivateJwk(this.kek, r.kid, r.privateJwkEncrypted) as JWK), kid: r.kid, alg: r.alg, use: 'sig' },
      }));
    for (const listener of this.listeners) listener();
    // Drop a retired key from the JWKS (and the provider's keystore) when its publication ends.
    clearTimeout(this.expiryTimer);
    const next = Math.min(...this.keys.map((k) => k.expiresAt?.getTime() ?? Infinity));
    if (Number.isFinite(next)) {
      this.expiryTimer = setTimeout(() => void this.reload().catch(() => undefined), Math.min(Math.max(next - Date.now(), 0) + 1000, 2 ** 31 - 1));
      this.expiryTimer.unref();
    }
  }

  private expiryTimer?: NodeJS.Timeout;

  close(): void {
    clearTimeout(this.expiryTimer);
  }

  /** Creates a new signing key; the previous one stops signing and is published until its tokens expire. */
  async rotate(actor: AuditActor = 'tollgate'): Promise<SigningKeyView> {
    const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
    const publicJwk = await exportJWK(publicKey);
    const kid = `${(await calculateJwkThumbprint(publicJwk)).slice(0, 16)}-${randomUUID().slice(0, 8)}`;
    const privateJwk = await exportJWK(privateKey);
    const now = new Date();
    await this.prisma.$transaction([
      this.prisma.signingKey.updateMany({
        where: { retiredAt: null },
        data: { retiredAt: now, expiresAt: new Date(now.getTime() + this.retiredKeyGraceSeconds * 1000) },
      }),
      this.prisma.signingKey.create({
        data: {
          kid,
          alg: 'ES256',
          publicJwk: { ...publicJwk, kid, alg: 'ES256', use: 'sig' },
          privateJwkEncrypted: encryptPrivateJwk(this.kek, kid, privateJwk),
        },
      }),
      this.prisma.auditEvent.create({ data: auditRecord({ actor, action: 'keys.rotate', details: { kid } }) }),
    ]);
    await this.reload();
    return this.list().find((k) => k.kid === kid)!;
  }

  /** Called after every reload (the OAuth provider rebuilds its keystore). */
  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  list(): SigningKeyView[] {
    return this.keys.map(({ publicJwk: _p, privateJwk: _k, ...view }) => view);
  }

  /** Private JWKs, the signing key first (oidc-provider signs with the first key of an alg). */
  privateJwks(): { keys: JWK[] } {
    return { keys: [...this.keys].sort((a, b) => Number(b.active) - Number(a.active)).map((k) => k.privateJwk) };
  }

  /** RFC 7517 JWK Set of every published key (retired keys until their tokens have expired). */
  publicJwks(): { keys: JWK[] } {
    const now = new Date();
    return { keys: this.keys.filter((k) => !k.expiresAt || k.expiresAt > now).map((k) => k.publicJwk) };
  }

  private signer?: { kid: string; key: Promise<Awaited<ReturnType<typeof importJWK>>> };

  /** Signs a JWT with the active key (RFC 9701 introspection responses). */
  async sign(payload: JWTPayload, typ: string): Promise<string> {
    const active = this.keys.find((k) => k.active);
    if (!active) throw new Error('no active signing key');
    if (this.signer?.kid !== active.kid) this.signer = { kid: active.kid, key: importJWK(active.privateJwk, 'ES256') as Promise<Awaited<ReturnType<typeof importJWK>>> };
    return new SignJWT(payload).setProtectedHeader({ alg: 'ES256', kid: active.kid, typ }).sign(await this.signer.key);
  }
}
