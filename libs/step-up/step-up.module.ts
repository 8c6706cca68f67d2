import { Module } from '@nestjs/common';
import { AuditModule } from '#audit';
import { CredentialsModule } from '#credentials';
import { AuthenticatorsModule } from './authenticators/index.js';
import { StepUpChallenges } from './challenges.js';
import { StepUpController } from './step-up.controller.js';

/** Step-up (docs/step-up.md): challenges, the step-up grant's checks, WebAuthn authenticators. */
@Module({
  imports: [CredentialsModule, AuthenticatorsModule, AuditModule],
  controllers: [StepUpController],
  providers: [StepUpChallenges],
  exports: [StepUpChallenges],
})
export class StepUpModule {}
