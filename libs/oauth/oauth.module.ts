import { Inject, Logger, Module, type OnModuleInit } from '@nestjs/common';
import { CheckModule } from '#check';
import { ClientKeySets, ClientRegistry, ClientsModule } from '#clients';
import { CONFIG, type TollgateConfig } from '#config';
import { AuthenticationFailures, clientKeys, CredentialsModule } from '#credentials';
import { FederationModule, PlatformTokens } from '#federation';
import { HOT_STATE, type HotState } from '#hot-state';
import { KEY_ENCRYPTION_KEY, KEY_RING, type KeyRing } from '#keys';
import { Metrics, MetricsModule } from '#operations';
import { DATABASE, type Database } from '#persistence';
import { RiskJudge, RiskModule } from '#risk';
import { StepUpChallenges, StepUpModule } from '#step-up';
import { IntrospectionEndpoint } from './introspection.js';
import { FederatedAssertions } from './federated-assertions.js';
import { deriveNonceSecret } from './provider.js';
import { ProviderHost } from './provider-host.js';
import { TokenEndpointsController } from './token-endpoints.controller.js';

/**
 * The authorization server: oidc-provider (token endpoint, grants, metadata) behind ProviderHost,
 * introspection and revocation. It calls down into libs/check (introspection with context),
 * libs/step-up (the step-up grant's checks), libs/credentials and libs/risk.
 */
@Module({
  imports: [ClientsModule, CredentialsModule, RiskModule, CheckModule, StepUpModule, MetricsModule, FederationModule],
  controllers: [TokenEndpointsController],
  providers: [
    IntrospectionEndpoint,
    {
      provide: ProviderHost,
      inject: [CONFIG, DATABASE, HOT_STATE, KEY_RING, KEY_ENCRYPTION_KEY, ClientRegistry, ClientKeySets, RiskJudge, StepUpChallenges, AuthenticationFailures, Metrics, PlatformTokens],
      useFactory: (
        config: TollgateConfig,
        db: Database,
        hot: HotState,
        keys: KeyRing,
        kek: Buffer,
        clients: ClientRegistry,
        keySets: ClientKeySets,
        judge: RiskJudge,
        stepUp: StepUpChallenges,
        failures: AuthenticationFailures,
        metrics: Metrics,
        platformTokens: PlatformTokens,
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
          judge,
          stepUp,
          tokenAnswered: (status, error) => metrics.tokenAnswered(status, error),
          // Per process: the hand-over never leaves the process that verified the platform token.
          federation: { tokens: platformTokens, assertions: new FederatedAssertions() },
        }),
    },
  ],
  exports: [ProviderHost, IntrospectionEndpoint],
})
export class OAuthModule implements OnModuleInit {
  constructor(
    @Inject(KEY_RING) private readonly keys: KeyRing,
    @Inject(HOT_STATE) private readonly hot: HotState,
    private readonly host: ProviderHost,
  ) {}

  onModuleInit(): void {
    // A rotation here or on another instance: reload keys, rebuild the provider's keystore.
    this.keys.onChange(() => this.host.rebuild());
    this.hot.events.subscribe('keys', () => void this.keys.reload().catch(() => undefined));
    this.hot.events.onResync(() => void this.keys.reload().catch(() => undefined));
  }
}
