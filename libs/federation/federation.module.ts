import { Module } from '@nestjs/common';
import { IssuerKeys } from './issuer-keys.js';
import { PlatformTokens } from './platform-tokens.js';
import { TrustedIssuerRepository } from './trusted-issuer-repository.js';
import { TrustedIssuers } from './trusted-issuers.js';
import { TrustedIssuersController } from './trusted-issuers.controller.js';

/** Workload identity federation: trusted issuers, their keys, platform-token verification. */
@Module({
  controllers: [TrustedIssuersController],
  providers: [TrustedIssuerRepository, TrustedIssuers, IssuerKeys, PlatformTokens],
  exports: [TrustedIssuers, PlatformTokens],
})
export class FederationModule {}
