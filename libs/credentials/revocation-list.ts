import type { EventBus } from '#hot-state';
import type { PrismaClient } from '#persistence';

const TOPIC = 'revocations';

/**
 * Access tokens revoked before they expired (RFC 7009). Durable in revoked_tokens; every
 * instance keeps the unexpired ones in memory so the introspection and check paths never ask
 * the database. Owner: this class. Bound: only unexpired revocations (tokens live minutes).
 * Invalidation: entries fall out at their token's expiry; other instances learn of a revocation
 * through the event bus and reload everything after the bus reconnects.
 */
export class RevocationList {
  private readonly revoked = new Map<string, number>();
  private sweep?: NodeJS.Timeout;

  constructor(private readonly prisma: PrismaClient, private readonly events: EventBus) {}

  async init(): Promise<void> {
    await this.reload();
    this.events.subscribe(TOPIC, (message) => {
      const [jti, exp] = message.split(' ');
      if (jti && exp) this.revoked.set(jti, Number(exp));
    });
    this.events.onResync(() => void this.reload().catch(() => undefined));
    this.sweep = setInterval(() => {
      const now = Date.now() / 1000;
      for (const [jti, exp] of this.revoked) if (exp < now) this.revoked.delete(jti);
    }, 30_000);
    this.sweep.unref();
  }

  close(): void {
    clearInterval(this.sweep);
  }

  async reload(): Promise<void> {
    const rows = await this.prisma.revokedToken.findMany({ where: { expiresAt: { gt: new Date() } } });
    for (const row of rows) this.revoked.set(row.jti, Math.floor(row.expiresAt.getTime() / 1000));
  }

  has(jti: string): boolean {
    return this.revoked.has(jti);
  }

  async revoke(jti: string, clientId: string, exp: number): Promise<void> {
    await this.prisma.revokedToken.upsert({
      where: { jti },
      create: { jti, clientId, expiresAt: new Date(exp * 1000) },
      update: {},
    });
    this.revoked.set(jti, exp);
    await this.events.publish(TOPIC, `${jti} ${exp}`);
  }
}
