import { Inject, Logger, Module, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { ClientKeySets, ClientRegistry, ClientsModule, SecretVerifier } from '#clients';
import { CONFIG, type TollgateConfig } from '#config';
import { HOT_STATE, type HotState } from '#hot-state';
import { KEY_RING, type KeyRing } from '#keys';
import { DATABASE, type Database } from '#persistence';
import { AccessTokenVerifier } from './access-token.js';
import { DPOP_NONCES, DpopNonces } from './dpop-nonce.js';
import { clientKeys, WorkloadAuthenticator } from './workload-auth.js';
import { StepUpGrantSlot } from './step-up-grant.js';
import { CallAssessorSlot } from './call-assessor.js';
import { IssuanceRisk } from './issuance-risk.js';
import { GatewayAuthenticator } from './gateway-client.js';
import { AuthenticationFailures } from './authentication-failures.js';
import { FailureBudget } from './failure-budget.js';
import { AuditModule } from '#audit';
import { MetricsModule } from '#operations';
import { RiskModule } from '#risk';
import { deriveNonceSecret } from './provider.js';
import { ProviderHost } from './provider-host.js';
import { RevocationList } from './revocation-list.js';
import { TokenEndpointsController } from './token-endpoints.controller.js';

export const KEY_ENCRYPTION_KEY = Symbol('KeyEncryptionKey');
export { DPOP_NONCES };

@Module({
  imports: [ClientsModule, RiskModule, AuditModule, MetricsModule],
  controllers: [TokenEndpointsController],
  providers: [
    { provide: SecretVerifier, useFactory: () => new SecretVerifier() },
    {
      provide: FailureBudget,
      inject: [CONFIG, HOT_STATE],
      useFactory: (config: TollgateConfig, hot: HotState) => new FailureBudget(hot.counters, config.authFailureBudget),
    },
    AuthenticationFailures,
    CallAssessorSlot,
    StepUpGrantSlot,
    IssuanceRisk,
    GatewayAuthenticator,
    WorkloadAuthenticator,
    { provide: DPOP_NONCES, inject: [KEY_ENCRYPTION_KEY], useFactory: (kek: Buffer) => new DpopNonces(kek) },
    {
      provide: RevocationList,
      inject: [DATABASE, HOT_STATE],
      useFactory: async (db: Database, hot: HotState) => {
        const list = new RevocationList(db.prisma, hot.events);
        await list.init();
        return list;
      },
    },
    {
      provide: AccessTokenVerifier,
      inject: [CONFIG, KEY_RING, RevocationList, ClientRegistry],
      useFactory: (config: TollgateConfig, keys: KeyRing, revocations: RevocationList, clients: ClientRegistry) =>
        new AccessTokenVerifier(config.issuer, config.clockSkew, () => keys.publicJwks(), revocations, (id) => clients.lookup(id)),
    },
    {
      provide: ProviderHost,
      inject: [CONFIG, DATABASE, HOT_STATE, KEY_RING, KEY_ENCRYPTION_KEY, ClientRegistry, IssuanceRisk, StepUpGrantSlot, AuthenticationFailures, ClientKeySets],
      useFactory: (
        config: TollgateConfig,
        db: Database,
        hot: HotState,
        keys: KeyRing,
        kek: Buffer,
        clients: ClientRegistry,
        issuance: IssuanceRisk,
        stepUp: StepUpGrantSlot,
        failures: AuthenticationFailures,
        keySets: ClientKeySets,
      ) =>
        new ProviderHost({
          config,
          prisma: db.prisma,
          replay: hot.replay,
          lookupClient: (id) => clients.lookup(id),
          keysFor: (client, want) => clientKeys(keySets, client, want?.kid),
          failures,
          signingJwks: () => keys.privateJwks(),
          nonceSecret: deriveNonceSecret(kek),
          logger: new Logger('oauth'),
          issuance,
          stepUp,
        }),
    },
  ],
  exports: [AccessTokenVerifier, RevocationList, ProviderHost, SecretVerifier, DPOP_NONCES, CallAssessorSlot, GatewayAuthenticator, WorkloadAuthenticator, StepUpGrantSlot, AuthenticationFailures],
})
export class OAuthModule implements OnModuleInit, OnModuleDestroy {
  constructor(
    @Inject(KEY_RING) private readonly keys: KeyRing,
    @Inject(HOT_STATE) private readonly hot: HotState,
    private readonly host: ProviderHost,
    private readonly tokens: AccessTokenVerifier,
    private readonly revocations: RevocationList,
  ) {}

  onModuleInit(): void {
    // A rotation here or on another instance: reload keys, rebuild the provider's keystore.
    this.keys.onChange(() => {
      this.host.rebuild();
      this.tokens.refreshKeys();
    });
    this.hot.events.subscribe('keys', () => void this.keys.reload().catch(() => undefined));
    this.hot.events.onResync(() => void this.keys.reload().catch(() => undefined));
  }

  onModuleDestroy(): void {
    this.revocations.close();
  }
}
