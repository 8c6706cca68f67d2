export { OAuthModule, KEY_ENCRYPTION_KEY } from './oauth.module.js';
export { ProviderHost } from './provider-host.js';
export { OAuthErrorFilter } from './oauth-error.filter.js';
export { OAUTH_ROUTES } from './provider.js';
export { AccessTokenVerifier, type AccessTokenClaims, type TokenVerdict } from './access-token.js';
export { verifyDpopProof, normalizeHtu, type VerifiedProof } from './dpop-proof.js';
export * from './oauth-error.js';
