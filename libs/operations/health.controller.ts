import { Controller, Get, Inject, Res } from '@nestjs/common';
import type { Response } from 'express';
import { HOT_STATE, type HotState } from '#hot-state';
import { DATABASE, type Database } from '#persistence';

@Controller()
export class HealthController {
  constructor(@Inject(DATABASE) private readonly db: Database, @Inject(HOT_STATE) private readonly hot: HotState) {}

  /** Liveness: the process is up and serving HTTP. */
  @Get('healthz')
  healthz() {
    return { status: 'ok' };
  }

  /** Readiness: the database answers, every committed migration is applied, the hot-state store answers. */
  @Get('readyz')
  async readyz(@Res() res: Response) {
    const checks: Record<string, string> = {};
    try {
      await this.db.ping();
      const status = await this.db.status();
      checks.database = 'ok';
      checks.migrations = status.pending.length || status.failed.length ? `pending: ${[...status.failed, ...status.pending].join(', ')}` : 'ok';
    } catch {
      checks.database = 'unreachable';
    }
    try {
      await this.hot.ping();
      checks[this.hot.kind] = 'ok';
    } catch {
      checks[this.hot.kind] = 'unreachable';
    }
    const ready = Object.values(checks).every((v) => v === 'ok');
    res.setHeader('Cache-Control', 'no-store');
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not_ready', checks });
  }
}
