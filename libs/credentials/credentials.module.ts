import { Module } from '@nestjs/common';
import { AuditModule } from '#audit';
import { ClientRegistry, ClientsModule, SecretVerifier } from '#clients';
import { CONFIG, type TollgateConfig } from '#config';
import { HOT_STATE, type HotState } from '#hot-state';
import { KEY_ENCRYPTION_KEY, KEY_RING, type KeyRing } from '#keys';
import { MetricsModule } from '#operations';
import { FederationModule } from '#federation';
import { DATABASE, type Database } from '#persistence';
import { RiskModule } from '#risk';
import { AccessTokenVerifier } from './access-token.js';
import { AdminTokenThrottle } from './admin-token-throttle.js';
import { AuthenticationFailures } from './authentication-failures.js';
import { DPOP_NONCES, DpopNonces } from './dpop-nonce.js';
import { FailureBudget } from './failure-budget.js';
import { GatewayAuthenticator } from './gateway-client.js';
import { RevocationList } from './revocation-list.js';
import { WorkloadAuthenticator } from './workload-auth.js';

/**
 * What every path needs to trust a request (docs: architecture): workload and gateway
 * authentication with their failure budgets, DPoP nonces, access-token verification and the
 * revocation list. No oidc-provider, no controllers.
 */
@Module({
  imports: [ClientsModule, FederationModule, RiskModule, AuditModule, MetricsModule],
  providers: [
    { provide: SecretVerifier, useFactory: () => new SecretVerifier() },
    {
      provide: FailureBudget,
      inject: [CONFIG, HOT_STATE],
      useFactory: (config: TollgateConfig, hot: HotState) => new FailureBudget(hot.counters, config.authFailureBudget),
    },
    AuthenticationFailures,
    AdminTokenThrottle,
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
      useFactory: (config: TollgateConfig, keys: KeyRing, revocations: RevocationList, clients: ClientRegistry) => {
        const verifier = new AccessTokenVerifier(config.issuer, config.clockSkew, () => keys.publicJwks(), revocations, (id) => clients.lookup(id));
        // A rotation here or on another instance: the next verification imports the new key set.
        keys.onChange(() => verifier.refreshKeys());
        return verifier;
      },
    },
  ],
  exports: [AdminTokenThrottle, AccessTokenVerifier, RevocationList, SecretVerifier, DPOP_NONCES, GatewayAuthenticator, WorkloadAuthenticator, AuthenticationFailures],
})
export class CredentialsModule {}
