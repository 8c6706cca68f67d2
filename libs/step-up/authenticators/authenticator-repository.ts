import { Inject, Injectable } from '@nestjs/common';
import { type AuditActor, auditRecord } from '#audit';
import { DATABASE, type Database, Prisma } from '#persistence';
import type { AttestationType, VerifiedEnrolment } from './attestation.js';
import type { AttestationPolicy } from './attestation-policy.js';

/** An enrolled authenticator as stored (table `authenticators`). */
export interface StoredAuthenticator {
  id: string;
  clientId: string;
  credentialId: string;
  /** COSE_Key: for verification only, never shown. */
  publicKey: Uint8Array;
  counter: number;
  format: string;
  aaguid: string;
  attestation: AttestationType;
  chainVerified: boolean;
  name: string | null;
  transports: string[];
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

export interface StoredAttestationPolicy {
  clientId: string;
  policy: AttestationPolicy;
  /** 1 on the first put, +1 on every later one. */
  version: number;
  createdAt: Date;
  updatedAt: Date;
}

export type CreateResult =
  | { kind: 'created'; authenticator: StoredAuthenticator }
  /** The client or its policy went away meanwhile. */
  | { kind: 'no_policy' }
  /** The policy was replaced (or removed and set again) after the response was verified against it. */
  | { kind: 'policy_changed' }
  | { kind: 'limit'; max: number }
  | { kind: 'duplicate' };

type AuthenticatorRow = Prisma.AuthenticatorGetPayload<object>;
type PolicyRow = Prisma.AttestationPolicyGetPayload<object>;

function toStored(row: AuthenticatorRow): StoredAuthenticator {
  return {
    id: row.id,
    clientId: row.clientId,
    credentialId: row.credentialId,
    publicKey: new Uint8Array(row.publicKey),
    counter: Number(row.counter),
    format: row.format,
    aaguid: row.aaguid,
    attestation: row.attestation as AttestationType,
    chainVerified: row.chainVerified,
    name: row.name,
    transports: row.transports,
    createdAt: row.createdAt,
    lastUsedAt: row.lastUsedAt,
    revokedAt: row.revokedAt,
  };
}

const toPolicy = (row: PolicyRow): StoredAttestationPolicy => ({
  clientId: row.clientId,
  policy: row.policy as unknown as AttestationPolicy,
  version: row.version,
  createdAt: row.createdAt,
  updatedAt: row.updatedAt,
});

/** Prisma: a unique constraint (credential_id) refused the insert. */
const isDuplicate = (error: unknown) => (error as { code?: string }).code === 'P2002';
/** Prisma: a foreign key has no parent — the client went away meanwhile. */
const isMissingParent = (error: unknown) => (error as { code?: string }).code === 'P2003';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Every `authenticators` and `attestation_policies` query. Writes commit together with their
 * audit entry (same transaction) or not at all; audit details never hold key material.
 */
@Injectable()
export class AuthenticatorRepository {
  constructor(@Inject(DATABASE) private readonly db: Database) {}

  async clientExists(clientId: string): Promise<boolean> {
    return (await this.db.prisma.client.findUnique({ where: { clientId }, select: { clientId: true } })) !== null;
  }

  // ---- authenticators

  /**
   * Stores a verified enrolment, re-checking inside the transaction what was checked before the
   * verification: the policy is still the one verified against (its version and update time: a
   * policy removed and set again starts at version 1 again), the client
   * holds fewer than max_authenticators active ones, and the credential id is new. The client's
   * row is locked first (SELECT … FOR UPDATE), so two concurrent enrolments of one client are
   * counted one after the other and cannot both take the last place.
   */
  async create(
    clientId: string,
    enrolment: VerifiedEnrolment & { name?: string },
    verifiedAgainst: Pick<StoredAttestationPolicy, 'version' | 'updatedAt'>,
    actor: AuditActor,
  ): Promise<CreateResult> {
    try {
      return await this.db.prisma.$transaction(async (tx): Promise<CreateResult> => {
        const locked = await tx.$queryRaw<{ client_id: string }[]>`SELECT client_id FROM clients WHERE client_id = ${clientId} FOR UPDATE`;
        if (locked.length === 0) return { kind: 'no_policy' };
        const policy = await tx.attestationPolicy.findUnique({ where: { clientId } });
        if (!policy) return { kind: 'no_policy' };
        if (policy.version !== verifiedAgainst.version || policy.updatedAt.getTime() !== verifiedAgainst.updatedAt.getTime()) {
          return { kind: 'policy_changed' };
        }
        const max = (policy.policy as unknown as AttestationPolicy).max_authenticators;
        const active = await tx.authenticator.count({ where: { clientId, revokedAt: null } });
        if (active >= max) return { kind: 'limit', max };
        if (await tx.authenticator.findUnique({ where: { credentialId: enrolment.credentialId }, select: { id: true } })) return { kind: 'duplicate' };
        const row = await tx.authenticator.create({
          data: {
            clientId,
            credentialId: enrolment.credentialId,
            publicKey: new Uint8Array(enrolment.publicKey),
            counter: BigInt(enrolment.counter),
            format: enrolment.format,
            aaguid: enrolment.aaguid,
            attestation: enrolment.attestation,
            chainVerified: enrolment.chainVerified,
            name: enrolment.name ?? null,
            transports: enrolment.transports,
          },
        });
        await tx.auditEvent.create({
          data: auditRecord({
            actor,
            action: 'authenticator.enrolled',
            clientId,
            details: {
              authenticator_id: row.id,
              credential_id: row.credentialId,
              format: row.format,
              aaguid: row.aaguid,
              attestation: row.attestation,
              chain_verified: row.chainVerified,
              name: row.name,
              policy_version: policy.version,
            },
          }),
        });
        return { kind: 'created', authenticator: toStored(row) };
      });
    } catch (error) {
      if (isDuplicate(error)) return { kind: 'duplicate' }; // inserted concurrently, by this client or another
      if (isMissingParent(error)) return { kind: 'no_policy' };
      throw error;
    }
  }

  /** Every authenticator of the client, revoked ones included, oldest first. */
  async listForClient(clientId: string): Promise<StoredAuthenticator[]> {
    const rows = await this.db.prisma.authenticator.findMany({ where: { clientId }, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] });
    return rows.map(toStored);
  }

  async listActive(clientId: string): Promise<StoredAuthenticator[]> {
    const rows = await this.db.prisma.authenticator.findMany({ where: { clientId, revokedAt: null }, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] });
    return rows.map(toStored);
  }

  async countActive(clientId: string): Promise<number> {
    return this.db.prisma.authenticator.count({ where: { clientId, revokedAt: null } });
  }

  /** The authenticator holding this credential, revoked or not, whichever client it belongs to. */
  async findByCredentialId(credentialId: string): Promise<StoredAuthenticator | null> {
    const row = await this.db.prisma.authenticator.findUnique({ where: { credentialId } });
    return row ? toStored(row) : null;
  }

  /** The active (not revoked) authenticator holding this credential. */
  async findActiveByCredentialId(credentialId: string): Promise<StoredAuthenticator | null> {
    const row = await this.db.prisma.authenticator.findFirst({ where: { credentialId, revokedAt: null } });
    return row ? toStored(row) : null;
  }

  async findById(id: string): Promise<StoredAuthenticator | null> {
    if (!UUID.test(id)) return null; // the column is uuid: anything else is simply not there
    const row = await this.db.prisma.authenticator.findUnique({ where: { id } });
    return row ? toStored(row) : null;
  }

  /**
   * Revokes one of the client's authenticators. 'not_found' for an unknown id or another
   * client's; 'already' when it was revoked before (nothing written, no audit entry).
   */
  async revoke(clientId: string, id: string, actor: AuditActor): Promise<'revoked' | 'already' | 'not_found'> {
    if (!UUID.test(id)) return 'not_found';
    return this.db.prisma.$transaction(async (tx) => {
      const { count } = await tx.authenticator.updateMany({ where: { id, clientId, revokedAt: null }, data: { revokedAt: new Date() } });
      if (count === 0) {
        const exists = await tx.authenticator.findFirst({ where: { id, clientId }, select: { id: true } });
        return exists ? ('already' as const) : ('not_found' as const);
      }
      const row = await tx.authenticator.findUniqueOrThrow({ where: { id } });
      await tx.auditEvent.create({
        data: auditRecord({ actor, action: 'authenticator.revoked', clientId, details: { authenticator_id: id, credential_id: row.credentialId, name: row.name } }),
      });
      return 'revoked' as const;
    });
  }

  /**
   * Stores a use as a compare-and-set on the counter (WebAuthn L3 §6.1.1): only an active
   * authenticator whose stored counter is below `newCounter` moves, so of two answers carrying
   * the same counter (a concurrent replay, or a clone) at most one is accepted. An authenticator
   * that never counts (0 → 0) is always recorded. False when nothing was updated.
   */
  async recordUse(id: string, newCounter: number): Promise<boolean> {
    const next = BigInt(newCounter);
    const { count } = await this.db.prisma.authenticator.updateMany({
      where: { id, revokedAt: null, OR: [{ counter: { lt: next } }, ...(newCounter === 0 ? [{ counter: 0n }] : [])] },
      data: { counter: next, lastUsedAt: new Date() },
    });
    return count === 1;
  }

  /** Flags a possible clone in the audit log (docs/step-up.md §9). */
  async recordCounterRegression(authenticator: StoredAuthenticator, presentedCounter: number | null, actor: AuditActor): Promise<void> {
    await this.db.prisma.auditEvent.create({
      data: auditRecord({
        actor,
        action: 'authenticator.counter_regression',
        clientId: authenticator.clientId,
        details: {
          authenticator_id: authenticator.id,
          credential_id: authenticator.credentialId,
          stored_counter: authenticator.counter,
          presented_counter: presentedCounter,
        },
      }),
    });
  }

  // ---- attestation policies

  async getPolicy(clientId: string): Promise<StoredAttestationPolicy | null> {
    const row = await this.db.prisma.attestationPolicy.findUnique({ where: { clientId } });
    return row ? toPolicy(row) : null;
  }

  /** Returns null when the client does not exist (nothing written). */
  async putPolicy(clientId: string, policy: AttestationPolicy, actor: AuditActor): Promise<StoredAttestationPolicy | null> {
    const document = policy as unknown as Prisma.InputJsonObject;
    try {
      return await this.db.prisma.$transaction(async (tx) => {
        if (!(await tx.client.findUnique({ where: { clientId }, select: { clientId: true } }))) return null;
        const row = await tx.attestationPolicy.upsert({
          where: { clientId },
          create: { clientId, policy: document },
          update: { policy: document, version: { increment: 1 } },
        });
        await tx.auditEvent.create({
          data: auditRecord({
            actor,
            action: 'attestation_policy.set',
            clientId,
            // A description of the change: anchors by count, not content.
            details: {
              version: row.version,
              formats: policy.formats,
              aaguids: policy.aaguids,
              trust_anchors: policy.trust_anchors.length,
              allow_software: policy.allow_software,
              max_authenticators: policy.max_authenticators,
            },
          }),
        });
        return toPolicy(row);
      });
    } catch (error) {
      if (isMissingParent(error)) return null;
      throw error;
    }
  }

  /** 'no_client', 'absent' (nothing written, no audit entry), or the version removed. */
  async deletePolicy(clientId: string, actor: AuditActor): Promise<number | 'no_client' | 'absent'> {
    return this.db.prisma.$transaction(async (tx) => {
      if (!(await tx.client.findUnique({ where: { clientId }, select: { clientId: true } }))) return 'no_client' as const;
      const row = await tx.attestationPolicy.findUnique({ where: { clientId }, select: { version: true } });
      if (!row) return 'absent' as const;
      const { count } = await tx.attestationPolicy.deleteMany({ where: { clientId } });
      if (count === 0) return 'absent' as const; // removed concurrently: that one is audited
      await tx.auditEvent.create({ data: auditRecord({ actor, action: 'attestation_policy.deleted', clientId, details: { version: row.version } }) });
      return row.version;
    });
  }
}
