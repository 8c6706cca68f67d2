import { Module } from '@nestjs/common';
import { CONFIG, type TollgateConfig } from '#config';
import { FailureBudget } from '#credentials';
import { HOT_STATE, type HotState } from '#hot-state';
import { ConsoleAudit } from './console-audit.js';
import { ConsoleController } from './console.controller.js';

/**
 * The admin console: static files and the session. Everything the console shows or changes goes
 * through the admin API (it has no routes of its own beyond its session).
 */
@Module({
  controllers: [ConsoleController],
  providers: [
    ConsoleAudit,
    // The same shared counters as client authentication's budget: a source's failures count once, wherever they happen.
    { provide: FailureBudget, inject: [CONFIG, HOT_STATE], useFactory: (config: TollgateConfig, hot: HotState) => new FailureBudget(hot.counters, config.authFailureBudget) },
  ],
})
export class ConsoleModule {}
