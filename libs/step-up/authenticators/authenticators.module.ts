import { Module } from '@nestjs/common';
import { AdminAuthenticatorsController } from './admin-authenticators.controller.js';
import { AuthenticatorRepository } from './authenticator-repository.js';
import { Authenticators } from './authenticators.js';

/**
 * WebAuthn authenticators for `attested` step-ups (docs/step-up.md §5, §6): the service the
 * step-up endpoints use, and the admin API. Needs DATABASE, CONFIG and ADMIN_TOKEN from the app.
 */
@Module({
  controllers: [AdminAuthenticatorsController],
  providers: [AuthenticatorRepository, Authenticators],
  exports: [Authenticators],
})
export class AuthenticatorsModule {}
