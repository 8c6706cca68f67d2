import { Inject, Logger, Module, type OnApplicationShutdown } from '@nestjs/common';
import { AuditModule } from '#audit';
import { CONFIG, type TollgateConfig } from '#config';
import { RiskJudge } from '../judge.js';
import { loadCountryData } from '../state/country.js';
import { openRiskStateStore, RISK_STATE, type RiskStateStore } from '../state/store.js';
import { PoliciesController } from './policies.controller.js';
import { PolicyDryRun } from './policy-dry-run.js';
import { PolicyRepository } from './policy-repository.js';
import { RiskStateController } from './risk-state.controller.js';
import { RiskPolicies } from './risk-policies.js';

/** Risk policies (storage, the cached effective policy per client, their admin API), the learned state and the one judge. */
@Module({
  imports: [AuditModule],
  controllers: [PoliciesController, RiskStateController],
  providers: [
    PolicyRepository,
    RiskPolicies,
    PolicyDryRun,
    RiskJudge,
    // One learned-state store per process (memory), or a connection to the shared one (Redis).
    {
      provide: RISK_STATE,
      inject: [CONFIG],
      useFactory: (config: TollgateConfig) => {
        loadCountryData(); // ~8 MB of offline data, read at start rather than on the first call
        // Nest's Logger writes to the application's logger (nothing with `logger: false`).
        return openRiskStateStore(config.redisUrl, { logger: new Logger('redis') });
      },
    },
  ],
  exports: [RiskPolicies, RiskJudge, RISK_STATE],
})
export class RiskModule implements OnApplicationShutdown {
  constructor(@Inject(RISK_STATE) private readonly state: RiskStateStore) {}

  async onApplicationShutdown(): Promise<void> {
    await this.state.close();
  }
}
