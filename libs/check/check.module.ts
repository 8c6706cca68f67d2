import { Module } from '@nestjs/common';
import { AuditModule } from '#audit';
import { ClientsModule } from '#clients';
import { CredentialsModule } from '#credentials';
import { MetricsModule } from '#operations';
import { RiskModule } from '#risk';
import { CallAssessment } from './call-assessment.js';
import { CheckEndpoint } from './check-endpoint.js';
import { CheckController } from './check.controller.js';
import { AuthzenEndpoint } from './authzen.js';
import { ProtectedResourceMetadata } from './protected-resource-metadata.js';

/** Call assessment and its faces: the gateway check endpoint; introspection with context (libs/oauth) uses it too. */
@Module({
  imports: [CredentialsModule, RiskModule, AuditModule, MetricsModule, ClientsModule],
  controllers: [CheckController],
  providers: [CallAssessment, CheckEndpoint, AuthzenEndpoint, ProtectedResourceMetadata],
  exports: [CallAssessment, CheckEndpoint, AuthzenEndpoint, ProtectedResourceMetadata],
})
export class CheckModule {}
