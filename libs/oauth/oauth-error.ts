// OAuth 2.0 error classes, named after the `error` code they render as
// (RFC 6749 §5.2, RFC 6750 §3.1, RFC 9449 §7.1/§8, RFC 8707 §2, RFC 7009 §2.2.1).
// Modelled on oidc-provider's errors. Descriptions are sent to clients: never
// put tokens, proofs or assertions in them.

export class OAuthError extends Error {
  readonly error_description: string;

  constructor(readonly error: string, readonly status: number, description: string) {
    super(description);
    this.name = new.target.name;
    this.error_description = description;
  }
}

export class InvalidRequest extends OAuthError {
  constructor(description = 'request is invalid') { super('invalid_request', 400, description); }
}

export class InvalidClient extends OAuthError {
  constructor(description = 'client authentication failed') { super('invalid_client', 401, description); }
}

export class InvalidToken extends OAuthError {
  constructor(description = 'access token is invalid') { super('invalid_token', 401, description); }
}

// RFC 9449 §5 / §7.1
export class InvalidDpopProof extends OAuthError {
  constructor(description = 'DPoP proof is invalid') { super('invalid_dpop_proof', 401, description); }
}

// RFC 9449 §8: `nonce` is the fresh value to send in the DPoP-Nonce header.
export class UseDpopNonce extends OAuthError {
  constructor(description = 'authorization server requires nonce in DPoP proof', readonly nonce?: string) {
    super('use_dpop_nonce', 401, description);
  }
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

/** JSON body for an error response (RFC 6749 §5.2). */
export function toOAuthBody(err: OAuthError): { error: string; error_description: string } {
  return { error: err.error, error_description: err.error_description };
}
