import { Inject, Injectable } from '@nestjs/common';
import { type AuditActor, auditRecord } from '#audit';
import { DATABASE, type Database, Prisma } from '#persistence';
import type { RiskPolicy } from '../core/types.js';

/** A stored policy document: the server default (clientId null) or a client's own. */
export interface StoredPolicy {
  clientId: string | null;
  document: RiskPolicy;
  /** 1 on the first put, +1 on every later one. */
  version: number;
  updatedAt: Date;
}

const DEFAULT_KEY = 'default';
const clientKey = (clientId: string) => `client:${clientId}`;

type Row = { clientId: string | null; document: Prisma.JsonValue; version: number; updatedAt: Date };

function toStored(row: Row): StoredPolicy {
  return { clientId: row.clientId, document: row.document as RiskPolicy, version: row.version, updatedAt: row.updatedAt };
}

/** The error Prisma raises when a foreign key has no parent: the client went away meanwhile. */
const isMissingParent = (error: unknown) => (error as { code?: string }).code === 'P2003';

/**
 * Every risk_policies query. A write commits together with its audit entry or not at all; the
 * audit entry carries the version written, so it is written in the same interactive transaction.
 */
@Injectable()
export class PolicyRepository {
  constructor(@Inject(DATABASE) private readonly db: Database) {}

  async getDefault(): Promise<StoredPolicy | null> {
    const row = await this.db.prisma.riskPolicy.findUnique({ where: { key: DEFAULT_KEY } });
    return row ? toStored(row) : null;
  }

  async getClient(clientId: string): Promise<StoredPolicy | null> {
    const row = await this.db.prisma.riskPolicy.findUnique({ where: { key: clientKey(clientId) } });
    return row ? toStored(row) : null;
  }

  /** The own policies of these clients, by client id (those without one are absent): one query. */
  async ownPolicies(clientIds: string[]): Promise<Map<string, RiskPolicy>> {
    if (!clientIds.length) return new Map();
    const rows = await this.db.prisma.riskPolicy.findMany({ where: { key: { in: clientIds.map(clientKey) } }, select: { clientId: true, document: true } });
    return new Map(rows.filter((r) => r.clientId !== null).map((r) => [r.clientId!, r.document as RiskPolicy]));
  }

  async clientExists(clientId: string): Promise<boolean> {
    const row = await this.db.prisma.client.findUnique({ where: { clientId }, select: { clientId: true } });
    return row !== null;
  }

  async putDefault(document: RiskPolicy, actor: AuditActor): Promise<StoredPolicy> {
    return this.db.prisma.$transaction(async (tx) => {
      const row = await tx.riskPolicy.upsert({
        where: { key: DEFAULT_KEY },
        create: { key: DEFAULT_KEY, document: document as Prisma.InputJsonObject },
        update: { document: document as Prisma.InputJsonObject, version: { increment: 1 } },
      });
      await tx.auditEvent.create({ data: auditRecord({ actor, action: 'policy.default.put', details: { version: row.version } }) });
      return toStored(row);
    });
  }

  /** Returns null when the client does not exist (nothing written). */
  async putClient(clientId: string, document: RiskPolicy, actor: AuditActor): Promise<StoredPolicy | null> {
    try {
      return await this.db.prisma.$transaction(async (tx) => {
        if (!(await tx.client.findUnique({ where: { clientId }, select: { clientId: true } }))) return null;
        const row = await tx.riskPolicy.upsert({
          where: { key: clientKey(clientId) },
          create: { key: clientKey(clientId), clientId, document: document as Prisma.InputJsonObject },
          update: { document: document as Prisma.InputJsonObject, version: { increment: 1 } },
        });
        await tx.auditEvent.create({
          data: auditRecord({ actor, action: 'policy.client.put', clientId, details: { version: row.version } }),
        });
        return toStored(row);
      });
    } catch (error) {
      if (isMissingParent(error)) return null; // deleted between the check and the insert
      throw error;
    }
  }

  /**
   * 'no_client' when the client does not exist; 'absent' when it has no policy of its own (nothing
   * written, no audit entry); otherwise the version that was removed.
   */
  async deleteClient(clientId: string, actor: AuditActor): Promise<number | 'no_client' | 'absent'> {
    return this.db.prisma.$transaction(async (tx) => {
      if (!(await tx.client.findUnique({ where: { clientId }, select: { clientId: true } }))) return 'no_client' as const;
      const row = await tx.riskPolicy.findUnique({ where: { key: clientKey(clientId) }, select: { version: true } });
      if (!row) return 'absent' as const;
      const { count } = await tx.riskPolicy.deleteMany({ where: { key: clientKey(clientId) } });
      if (count === 0) return 'absent' as const; // removed concurrently: that one is audited
      await tx.auditEvent.create({
        data: auditRecord({ actor, action: 'policy.client.delete', clientId, details: { version: row.version } }),
      });
      return row.version;
    });
  }
}
