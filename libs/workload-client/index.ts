// The workload SDK's public face (docs/step-up.md; README "The workload SDK"). Node built-ins
// only: no NestJS, no other Tollgate library, so the folder can be used from another repository.
export type {
  AuthenticationResponseJSON,
  Authenticator,
  AuthenticatorTransport,
  Base64UrlString,
  CreationOptionsJSON,
  CredentialDescriptorJSON,
  RegistrationResponseJSON,
  RequestOptionsJSON,
} from './authenticator.js';
export {
  STEP_UP_GRANT,
  WorkloadClient,
  type EnrolledAuthenticator,
  type StepUpChallenge,
  type TokenRequest,
  type TokenResponse,
  type WorkloadClientOptions,
  type WorkloadEndpoints,
} from './client.js';
export { StepUpError, TokenError, WorkloadClientError } from './errors.js';
export {
  federatedCallback,
  githubActionsToken,
  JWT_BEARER_ASSERTION_TYPE,
  JWT_SPIFFE_ASSERTION_TYPE,
  tokenFile,
  type FederatedCredential,
  type FederatedCredentialOptions,
  type GitHubActionsOptions,
} from './federated-credential.js';
export {
  generateDpopSigner,
  signerFromCryptoKey,
  signerFromKeyPair,
  type CryptoKey,
  type CryptoKeyPair,
  type JsonWebKey,
  type JwsSigner,
} from './jws.js';
export {
  SOFTWARE_AUTHENTICATOR_AAGUID,
  SoftwareAuthenticator,
  type SoftwareAuthenticatorOptions,
  type SoftwareAuthenticatorState,
  type SoftwareCredentialState,
} from './software-authenticator.js';
export { dpopProof, type ProofClaims } from './dpop.js';
export { parseWwwAuthenticate, type AuthChallenge } from './www-authenticate.js';
