// OAuth 2.0 error classes, named after the `error` code they render as
// (RFC 6749 §5.2, RFC 6750 §3.1, RFC 9449 §7.1/§8, RFC 8707 §2, RFC 7009 §2.2.1).
// Modelled on oidc-provider's errors. Descriptions are sent to clients: never
// put tokens, proofs or assertions in them.

export class OAuthError extends Error {
  readonly error_description: string;
  /** Seconds, sent as Retry-After (RFC 9110 §10.2.3) when set. */
  retryAfter?: number;

  constructor(readonly error: string, readonly status: number, description: string) {
    super(description);
    this.name = new.target.name;
    this.error_description = description;
  }
}

/** RFC 6749 §4.1.2.1 `temporarily_unavailable`, as a 503 with Retry-After (a platform's keys cannot be had now). */
export class TemporarilyUnavailable extends OAuthError {
  constructor(description: string, retryAfter: number) {
    super('temporarily_unavailable', 503, description);
    this.retryAfter = retryAfter;
  }
}

export class InvalidRequest extends OAuthError {
  constructor(description = 'request is invalid') { super('invalid_request', 400, description); }
}

/**
 * Why a client authentication failed, for the decision log, metrics and logs (never sent as
 * such: the description is). Codes before the client lookup describe the request alone; the
 * ones after it share one description so that an answer never tells whether a client exists.
 */
export type AuthFailureReason =
  | 'no_credentials'
  | 'assertion_type'
  | 'assertion_malformed'
  | 'assertion_typ'
  | 'assertion_alg'
  | 'assertion_issuer'
  | 'assertion_audience'
  | 'assertion_lifetime'
  | 'assertion_stale'
  | 'assertion_jti'
  | 'assertion_nonce'
  | 'unknown_client'
  | 'auth_method'
  | 'client_keys'
  | 'unknown_key'
  | 'assertion_signature'
  | 'assertion_replay'
  | 'client_secret'
  | 'assertion_invalid'
  /** docs/federation.md: a platform token from no trusted issuer, or matching none of the client's rules. */
  | 'untrusted_issuer'
  | 'identity_mismatch';

export class InvalidClient extends OAuthError {
  constructor(description = 'client authentication failed', readonly reason: AuthFailureReason = 'assertion_invalid') {
    super('invalid_client', 401, description);
  }
}

/**
 * RFC 6585 §4 with the RFC 8628 §3.5 `slow_down` code (registered for token error responses):
 * this source spent its budget of failed client authentications (docs/risk.md).
 */
export class SlowDown extends OAuthError {
  constructor(retryAfter: number, what = 'failed client authentications') {
    super('slow_down', 429, `too many ${what} from this network; retry after ${retryAfter} s`);
    this.retryAfter = retryAfter;
  }
}

export class InvalidToken extends OAuthError {
  constructor(description = 'access token is invalid') { super('invalid_token', 401, description); }
}

// RFC 9449 §5 (authorization server: 400) / §7.1 (resource server: 401)
export class InvalidDpopProof extends OAuthError {
  constructor(description = 'DPoP proof is invalid', status = 401) { super('invalid_dpop_proof', status, description); }
}

// RFC 9449 §8 (authorization server: 400) / §9 (resource server: 401): `nonce` is the fresh
// value to send in the DPoP-Nonce header.
export class UseDpopNonce extends OAuthError {
  constructor(description = 'authorization server requires nonce in DPoP proof', readonly nonce?: string, status = 401) {
    super('use_dpop_nonce', status, description);
  }
}

/** RFC 9449 §5, §8: at the authorization server's own endpoints DPoP errors are 400s. */
export function asAuthorizationServerError(err: unknown): unknown {
  if (err instanceof UseDpopNonce && err.status === 401) return new UseDpopNonce(err.error_description, err.nonce, 400);
  if (err instanceof InvalidDpopProof && err.status === 401) return new InvalidDpopProof(err.error_description, 400);
  return err;
}

// RFC 6749 §5.2
export class AccessDenied extends OAuthError {
  constructor(description = 'the request was denied', status = 403) { super('access_denied', status, description); }
}

export class InvalidGrant extends OAuthError {
  constructor(description = 'grant request is invalid') { super('invalid_grant', 400, description); }
}

export class InvalidScope extends OAuthError {
  constructor(description = 'requested scope is invalid') { super('invalid_scope', 400, description); }
}

// RFC 8707 §2
export class InvalidTarget extends OAuthError {
  constructor(description = 'requested resource is invalid') { super('invalid_target', 400, description); }
}


