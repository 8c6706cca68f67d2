import { Module } from '@nestjs/common';
import { AuditModule } from '#audit';
import { OAuthModule } from '#oauth';
import { AuthenticatorsModule } from './authenticators/index.js';
import { StepUpChallenges } from './challenges.js';
import { StepUpController } from './step-up.controller.js';

/** Step-up (docs/step-up.md): challenges, the step-up grant's checks, WebAuthn authenticators. */
@Module({
  imports: [OAuthModule, AuthenticatorsModule, AuditModule],
  controllers: [StepUpController],
  providers: [StepUpChallenges],
})
export class StepUpModule {}
