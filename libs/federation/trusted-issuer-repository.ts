import { Inject, Injectable } from '@nestjs/common';
import { type AuditEntry, auditRecord } from '#audit';
import { DATABASE, type Database, Prisma } from '#persistence';
import type { TrustedIssuer } from './trusted-issuer.js';

type Row = NonNullable<Awaited<ReturnType<Database['prisma']['trustedIssuer']['findUnique']>>>;

function toRecord(row: Row): TrustedIssuer {
  return {
    id: row.id,
    kind: row.kind as TrustedIssuer['kind'],
    issuer: row.issuer,
    jwks: (row.jwks as TrustedIssuer['jwks']) ?? null,
    jwksUri: row.jwksUri,
    allowedAddresses: row.allowedAddresses,
    reusableTokens: row.reusableTokens,
    version: row.version,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

export type TrustedIssuerChanges = Partial<Pick<TrustedIssuer, 'jwks' | 'jwksUri' | 'allowedAddresses' | 'reusableTokens'>>;

function toData(c: TrustedIssuerChanges) {
  return {
    ...(c.jwks !== undefined ? { jwks: c.jwks === null ? Prisma.DbNull : (c.jwks as object) } : {}),
    ...(c.jwksUri !== undefined ? { jwksUri: c.jwksUri } : {}),
    ...(c.allowedAddresses !== undefined ? { allowedAddresses: c.allowedAddresses } : {}),
    ...(c.reusableTokens !== undefined ? { reusableTokens: c.reusableTokens } : {}),
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Whether `id` could name a trusted issuer (a UUID): anything else is simply unknown, never a query error. */
export const couldBeIssuerId = (id: string) => UUID.test(id);

/** Every trusted-issuer query; each write commits together with its audit entry or not at all. */
@Injectable()
export class TrustedIssuerRepository {
  constructor(@Inject(DATABASE) private readonly db: Database) {}

  async all(): Promise<TrustedIssuer[]> {
    const rows = await this.db.prisma.trustedIssuer.findMany({ orderBy: { createdAt: 'asc' } });
    return rows.map(toRecord);
  }

  async find(id: string): Promise<TrustedIssuer | null> {
    if (!couldBeIssuerId(id)) return null;
    const row = await this.db.prisma.trustedIssuer.findUnique({ where: { id } });
    return row ? toRecord(row) : null;
  }

  /** Null when an issuer of that name exists already (nothing written). */
  async create(fields: Pick<TrustedIssuer, 'kind' | 'issuer'> & TrustedIssuerChanges, audit: (id: string) => AuditEntry): Promise<TrustedIssuer | null> {
    try {
      return await this.db.prisma.$transaction(async (tx) => {
        const row = await tx.trustedIssuer.create({ data: { kind: fields.kind, issuer: fields.issuer, ...toData(fields) } });
        await tx.auditEvent.create({ data: auditRecord(audit(row.id)) });
        return toRecord(row);
      });
    } catch (error) {
      if ((error as { code?: string }).code === 'P2002') return null;
      throw error;
    }
  }

  /** Null when the issuer does not exist (nothing written). */
  async update(id: string, changes: TrustedIssuerChanges, audit: AuditEntry): Promise<TrustedIssuer | null> {
    if (!couldBeIssuerId(id)) return null;
    try {
      const [row] = await this.db.prisma.$transaction([
        this.db.prisma.trustedIssuer.update({ where: { id }, data: { ...toData(changes), version: { increment: 1 } } }),
        this.db.prisma.auditEvent.create({ data: auditRecord(audit) }),
      ]);
      return toRecord(row);
    } catch (error) {
      if ((error as { code?: string }).code === 'P2025') return null;
      throw error;
    }
  }

  async remove(id: string, audit: AuditEntry): Promise<boolean> {
    if (!couldBeIssuerId(id)) return false;
    try {
      await this.db.prisma.$transaction([
        this.db.prisma.trustedIssuer.delete({ where: { id } }),
        this.db.prisma.auditEvent.create({ data: auditRecord(audit) }),
      ]);
      return true;
    } catch (error) {
      if ((error as { code?: string }).code === 'P2025') return false;
      throw error;
    }
  }
}
