export { AuthenticatorsModule } from './authenticators.module.js';
export {
  Authenticators,
  EnrolmentDenied,
  authenticatorView,
  enrolledView,
  type AttestationPolicyView,
  type AuthenticatorView,
  type EnrolledAuthenticatorView,
} from './authenticators.js';
export { AdminAuthenticatorsController } from './admin-authenticators.controller.js';
export { AttestationRefused, SUPPORTED_ALGORITHMS, verifyEnrolment, type AttestationType, type EnrolmentInput, type VerifiedEnrolment } from './attestation.js';
export { AssertionRefused, assertedCredentialId, verifyAuthenticatorAssertion, type AssertingAuthenticator, type AssertionInput } from './assertion.js';
export {
  ATTESTATION_FORMATS,
  checkAttestationPolicy,
  MAX_AUTHENTICATORS_LIMIT,
  type AttestationFormat,
  type AttestationPolicy,
  type PolicyCheck,
  type PolicyProblem,
} from './attestation-policy.js';
export { chainsToAnchor, type ChainResult } from './certificate-chain.js';
export { AuthenticatorRepository, type CreateResult, type StoredAttestationPolicy, type StoredAuthenticator } from './authenticator-repository.js';
