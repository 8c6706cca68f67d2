// Workload identity federation (docs/federation.md): trusted issuers, their keys, and the
// verification of platform tokens against a client's federated identities.
export { FederationModule } from './federation.module.js';
export { IssuerKeysUnavailable } from './issuer-keys.js';
export { type FederatedAuthentication, PlatformTokenRefused, type PlatformTokenRefusal, PlatformTokens } from './platform-tokens.js';
export { TrustedIssuers } from './trusted-issuers.js';
export { type TrustedIssuer, trustedIssuerView, verificationKeys } from './trusted-issuer.js';
