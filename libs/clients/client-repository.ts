import { Inject, Injectable } from '@nestjs/common';
import { auditRecord, type AuditEntry } from '#audit';
import { DATABASE, type Database, likeLiteral, Prisma } from '#persistence';
import type { ClientRecord } from './client-record.js';

type Row = NonNullable<Awaited<ReturnType<Database['prisma']['client']['findUnique']>>>;

function toRecord(row: Row): ClientRecord {
  return {
    clientId: row.clientId,
    clientName: row.clientName,
    roles: row.roles as ClientRecord['roles'],
    status: row.status,
    tokenEndpointAuthMethod: row.tokenEndpointAuthMethod as ClientRecord['tokenEndpointAuthMethod'],
    jwks: (row.jwks as ClientRecord['jwks']) ?? null,
    jwksUri: row.jwksUri,
    federatedIdentities: (row.federatedIdentities as unknown as ClientRecord['federatedIdentities']) ?? [],
    scopes: row.scope.split(' ').filter(Boolean),
    allowedResources: row.allowedResources,
    accessTokenTtl: row.accessTokenTtl,
    dpopBoundAccessTokens: row.dpopBoundAccessTokens,
    requireDpopNonce: row.requireDpopNonce,
    secretHash: row.secretHash,
    registrationTokenHash: row.registrationTokenHash,
    version: row.version,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

export type ClientChanges = Partial<Omit<ClientRecord, 'clientId' | 'version' | 'createdAt' | 'updatedAt'>>;

function toData(c: ClientChanges) {
  return {
    ...(c.clientName !== undefined ? { clientName: c.clientName } : {}),
    ...(c.roles !== undefined ? { roles: c.roles } : {}),
    ...(c.status !== undefined ? { status: c.status } : {}),
    ...(c.tokenEndpointAuthMethod !== undefined ? { tokenEndpointAuthMethod: c.tokenEndpointAuthMethod } : {}),
    ...(c.jwks !== undefined ? { jwks: c.jwks === null ? Prisma.DbNull : (c.jwks as object) } : {}),
    ...(c.jwksUri !== undefined ? { jwksUri: c.jwksUri } : {}),
    ...(c.federatedIdentities !== undefined ? { federatedIdentities: c.federatedIdentities as unknown as object } : {}),
    ...(c.scopes !== undefined ? { scope: c.scopes.join(' ') } : {}),
    ...(c.allowedResources !== undefined ? { allowedResources: c.allowedResources } : {}),
    ...(c.accessTokenTtl !== undefined ? { accessTokenTtl: c.accessTokenTtl } : {}),
    ...(c.dpopBoundAccessTokens !== undefined ? { dpopBoundAccessTokens: c.dpopBoundAccessTokens } : {}),
    ...(c.requireDpopNonce !== undefined ? { requireDpopNonce: c.requireDpopNonce } : {}),
    ...(c.secretHash !== undefined ? { secretHash: c.secretHash } : {}),
    ...(c.registrationTokenHash !== undefined ? { registrationTokenHash: c.registrationTokenHash } : {}),
  };
}

/** Every client query; each write commits together with its audit entry or not at all. */
@Injectable()
export class ClientRepository {
  constructor(@Inject(DATABASE) private readonly db: Database) {}

  async find(clientId: string): Promise<ClientRecord | null> {
    const row = await this.db.prisma.client.findUnique({ where: { clientId } });
    return row ? toRecord(row) : null;
  }

  /**
   * A page in client id order, after `after`; `search`: only clients whose name or id contains it,
   * case-insensitively (a bound parameter, its LIKE wildcards escaped: `%` and `_` match only
   * themselves).
   */
  async list(limit: number, after?: string, search?: string): Promise<ClientRecord[]> {
    const pattern = search === undefined ? undefined : likeLiteral(search);
    const rows = await this.db.prisma.client.findMany({
      where: {
        ...(after ? { clientId: { gt: after } } : {}),
        ...(pattern ? { OR: [{ clientName: { contains: pattern, mode: 'insensitive' as const } }, { clientId: { contains: pattern, mode: 'insensitive' as const } }] } : {}),
      },
      orderBy: { clientId: 'asc' },
      take: limit,
    });
    return rows.map(toRecord);
  }

  /** What active workloads may ask tokens for: each one's resources (RFC 8707) and scopes. */
  async resourceGrants(): Promise<{ resources: string[]; scopes: string[]; dpopBound: boolean }[]> {
    const rows = await this.db.prisma.client.findMany({
      where: { status: 'active', roles: { has: 'workload' } },
      select: { allowedResources: true, scope: true, dpopBoundAccessTokens: true },
    });
    return rows.map((r) => ({ resources: r.allowedResources, scopes: r.scope.split(' ').filter(Boolean), dpopBound: r.dpopBoundAccessTokens }));
  }

  async create(clientId: string, fields: ClientChanges & Pick<ClientRecord, 'roles' | 'tokenEndpointAuthMethod'>, audit: AuditEntry): Promise<ClientRecord> {
    const data = { clientId, ...toData(fields) } as Parameters<Database['prisma']['client']['create']>[0]['data'];
    const [row] = await this.db.prisma.$transaction([
      this.db.prisma.client.create({ data }),
      this.db.prisma.auditEvent.create({ data: auditRecord(audit) }),
    ]);
    return toRecord(row);
  }

  /** Returns null when the client does not exist (nothing written). */
  async update(clientId: string, changes: ClientChanges, audit: AuditEntry): Promise<ClientRecord | null> {
    try {
      const [row] = await this.db.prisma.$transaction([
        this.db.prisma.client.update({ where: { clientId }, data: { ...toData(changes), version: { increment: 1 } } }),
        this.db.prisma.auditEvent.create({ data: auditRecord(audit) }),
      ]);
      return toRecord(row);
    } catch (error) {
      if ((error as { code?: string }).code === 'P2025') return null;
      throw error;
    }
  }

  async remove(clientId: string, audit: AuditEntry): Promise<boolean> {
    try {
      await this.db.prisma.$transaction([
        this.db.prisma.client.delete({ where: { clientId } }),
        this.db.prisma.auditEvent.create({ data: auditRecord(audit) }),
      ]);
      return true;
    } catch (error) {
      if ((error as { code?: string }).code === 'P2025') return false;
      throw error;
    }
  }
}
