import { Inject, Injectable } from '@nestjs/common';
import { sessionReference } from '#admin';
import { auditRecord } from '#audit';
import { DATABASE, type Database } from '#persistence';

/**
 * Console sign-ins and sign-outs in the audit log (who could act, from where; never the token).
 * Each names its session by reference (`console_session`), as the changes made in it do.
 */
@Injectable()
export class ConsoleAudit {
  constructor(@Inject(DATABASE) private readonly db: Database) {}

  async record(action: 'console.signed_in' | 'console.signed_out', sessionId: string | undefined, details: { ip?: string }): Promise<void> {
    const actor = { name: 'console' as const, ...(sessionId === undefined ? {} : { session: sessionReference(sessionId) }) };
    await this.db.prisma.auditEvent.create({ data: auditRecord({ actor, action, details }) });
  }
}
