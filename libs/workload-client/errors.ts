/** An OAuth error response (RFC 6749 §5.2) the client could not get past. */
export class WorkloadClientError extends Error {
  /** HTTP status, absent when the failure is the client's own (e.g. no authenticator). */
  readonly status?: number;
  readonly error: string;
  readonly error_description?: string;

  constructor(what: string, error: string, status?: number, description?: string) {
    // The server's description is safe to show; tokens, assertions and nonces never go in here.
    super(`${what}: ${status !== undefined ? `${status} ` : ''}${error}${description ? ` (${description})` : ''}`);
    this.name = new.target.name;
    this.error = error;
    if (status !== undefined) this.status = status;
    if (description !== undefined) this.error_description = description;
  }
}

/** The token endpoint refused a client_credentials request. */
export class TokenError extends WorkloadClientError {}

/** A step-up (docs/step-up.md §3, §4) or an enrolment (§5) failed. */
export class StepUpError extends WorkloadClientError {}
