import { Module } from '@nestjs/common';
import { AuditModule } from '#audit';
import { CredentialsModule } from '#credentials';
import { MetricsModule } from '#operations';
import { RiskModule } from '#risk';
import { CallAssessment } from './call-assessment.js';
import { CheckEndpoint } from './check-endpoint.js';
import { CheckController } from './check.controller.js';

/** Call assessment and its faces: the gateway check endpoint; introspection with context (libs/oauth) uses it too. */
@Module({
  imports: [CredentialsModule, RiskModule, AuditModule, MetricsModule],
  controllers: [CheckController],
  providers: [CallAssessment, CheckEndpoint],
  exports: [CallAssessment, CheckEndpoint],
})
export class CheckModule {}
