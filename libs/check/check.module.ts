import { Module } from '@nestjs/common';
import { AuditModule } from '#audit';
import { ClientsModule } from '#clients';
import { OAuthModule } from '#oauth';
import { RiskModule } from '#risk';
import { CallAssessment } from './call-assessment.js';
import { CheckController } from './check.controller.js';

@Module({
  imports: [ClientsModule, OAuthModule, RiskModule, AuditModule],
  controllers: [CheckController],
  providers: [CallAssessment],
  exports: [CallAssessment],
})
export class CheckModule {}
