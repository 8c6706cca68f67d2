import { Inject, Injectable } from '@nestjs/common';
import { auditRecord } from '#audit';
import { DATABASE, type Database } from '#persistence';

/** Console sign-ins and sign-outs in the audit log (who could act, from where; never the token). */
@Injectable()
export class ConsoleAudit {
  constructor(@Inject(DATABASE) private readonly db: Database) {}

  async record(action: 'console.signed_in' | 'console.signed_out', details: { ip?: string }): Promise<void> {
    await this.db.prisma.auditEvent.create({ data: auditRecord({ actor: 'console', action, details }) });
  }
}
