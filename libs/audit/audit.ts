import { Controller, Get, Inject, Injectable, Module, type OnModuleDestroy, type OnModuleInit, Query, UseGuards } from '@nestjs/common';
import { type AdminActor, AdminTokenGuard, singleQueryValues } from '#admin';
import { CONFIG, type TollgateConfig } from '#config';
import { HOT_STATE, type HotState } from '#hot-state';
import { MetricsModule } from '#operations';
import { DATABASE, type Database } from '#persistence';
import { DECISION_LOG_OPTIONS, DecisionLog, type DecisionLogOptions } from './decision-log.js';
import { DecisionsController } from './decisions.controller.js';

/** Who made a change: an admin caller (libs/admin AdminActor), or the server itself by name (`tollgate`, …). */
export type AuditActor = string | AdminActor;

export interface AuditEntry {
  actor: AuditActor;
  action: string;
  clientId?: string;
  /** Never tokens, secrets or private keys: callers pass descriptions of changes only. */
  details?: Record<string, unknown>;
}

/** The row to insert in the same transaction as the change it records (no change without its entry). */
export function auditRecord(entry: AuditEntry) {
  const actor: { name: string; session?: string } = typeof entry.actor === 'string' ? { name: entry.actor } : entry.actor;
  const details = { ...entry.details, ...(actor.session ? { console_session: actor.session } : {}) };
  return { actor: actor.name, action: entry.action, clientId: entry.clientId ?? null, details: details as object };
}

@Injectable()
class AuditQueries {
  constructor(@Inject(DATABASE) private readonly db: Database) {}

  async list(clientId: string | undefined, limit: number, before?: bigint) {
    const rows = await this.db.prisma.auditEvent.findMany({
      where: { ...(clientId ? { clientId } : {}), ...(before ? { id: { lt: before } } : {}) },
      orderBy: { id: 'desc' },
      take: limit,
    });
    return {
      events: rows.map((r) => ({ id: String(r.id), at: r.at.toISOString(), actor: r.actor, action: r.action, client_id: r.clientId, details: r.details })),
      next_cursor: rows.length === limit ? String(rows[rows.length - 1]!.id) : null,
    };
  }
}

@Controller('admin/audit')
@UseGuards(AdminTokenGuard)
class AuditController {
  constructor(private readonly queries: AuditQueries) {}

  @Get()
  list(@Query() query: Record<string, unknown>) {
    // `?client_id=a&client_id=b` arrives as an array: a 400 naming it (the query would fail with a 500).
    const { client_id: clientId, limit, cursor } = singleQueryValues(query, ['client_id', 'limit', 'cursor'] as const);
    const take = Math.min(Math.max(Number(limit) || 50, 1), 200);
    const before = cursor && /^\d+$/.test(cursor) ? BigInt(cursor) : undefined;
    return this.queries.list(clientId, take, before);
  }
}

/** Shares this instance's decision feed with the others' (DecisionFeed.share). */
@Injectable()
class DecisionFeedSharing implements OnModuleInit, OnModuleDestroy {
  constructor(
    private readonly log: DecisionLog,
    @Inject(HOT_STATE) private readonly hot: HotState,
  ) {}

  onModuleInit(): void {
    this.log.feed.share(this.hot.events);
  }

  onModuleDestroy(): void {
    this.log.feed.stop();
  }
}

/** Audit events and the decision log; import it to record decisions (DecisionLog). */
@Module({
  imports: [MetricsModule],
  controllers: [AuditController, DecisionsController],
  providers: [
    AuditQueries,
    DecisionLog,
    DecisionFeedSharing,
    {
      provide: DECISION_LOG_OPTIONS,
      inject: [CONFIG],
      useFactory: (config: TollgateConfig): Partial<DecisionLogOptions> => ({ durability: config.decisionDurability }),
    },
  ],
  exports: [DecisionLog],
})
export class AuditModule {}
