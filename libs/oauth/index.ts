export { OAuthModule } from './oauth.module.js';
export { ProviderHost } from './provider-host.js';
export { IntrospectionEndpoint, type IntrospectionRequest } from './introspection.js';
export { TOKEN_ERROR } from './provider.js';
