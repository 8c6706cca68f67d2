import { type DynamicModule, Global, Module } from '@nestjs/common';
import { ADMIN_SESSIONS, ADMIN_TOKEN, AdminSessions, OpenApiController } from '#admin';
import { AuditModule } from '#audit';
import { CheckModule } from '#check';
import { ClientsModule } from '#clients';
import { CONFIG, type TollgateConfig } from '#config';
import { ConsoleModule } from '#console';
import { FederationModule } from '#federation';
import { HOT_STATE, type HotState } from '#hot-state';
import { KEY_ENCRYPTION_KEY, KEY_RING, KeysModule, type KeyRing } from '#keys';
import { OAuthModule } from '#oauth';
import { HealthController, MetricsModule } from '#operations';
import { DATABASE, type Database } from '#persistence';
import { RiskModule } from '#risk';
import { StepUpModule } from '#step-up';

export interface Runtime {
  config: TollgateConfig;
  db: Database;
  hot: HotState;
  keys: KeyRing;
  kek: Buffer;
}

/** Wiring only: the opened resources become injectable, the capability modules are listed. */
@Global()
@Module({})
class RuntimeModule {
  static of(runtime: Runtime): DynamicModule {
    const providers = [
      { provide: CONFIG, useValue: runtime.config },
      { provide: DATABASE, useValue: runtime.db },
      { provide: HOT_STATE, useValue: runtime.hot },
      { provide: KEY_RING, useValue: runtime.keys },
      { provide: KEY_ENCRYPTION_KEY, useValue: runtime.kek },
      { provide: ADMIN_TOKEN, useValue: runtime.config.adminToken },
      { provide: ADMIN_SESSIONS, useValue: new AdminSessions(runtime.hot.challenges, runtime.config.consoleSessionTtl) },
    ];
    return { module: RuntimeModule, providers, exports: providers.map((p) => p.provide) };
  }
}

@Module({})
export class AppModule {
  static with(runtime: Runtime): DynamicModule {
    return {
      module: AppModule,
      imports: [RuntimeModule.of(runtime), ClientsModule, OAuthModule, KeysModule, AuditModule, MetricsModule, RiskModule, CheckModule, StepUpModule, FederationModule, ConsoleModule],
      controllers: [HealthController, OpenApiController],
    };
  }
}
