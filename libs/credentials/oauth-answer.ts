// Every OAuth error and every WWW-Authenticate challenge Tollgate sends is rendered here, with one
// quoting rule: RFC 6749 §5.2 bodies, RFC 6750 §3 / RFC 9449 §7.1 challenges, RFC 9110 §11.6.1.
import { CLIENT_SIGNING_ALGS } from '#protocol';
import { type OAuthError, UseDpopNonce } from './oauth-error.js';

/** RFC 9110 §5.6.4 quoted-string: `"` and `\` are escaped with a backslash, controls dropped. */
export function quoted(value: string): string {
  return `"${value.replace(/[\u0000-\u001f\u007f]/g, '').replace(/["\\]/g, '\\$&')}"`;
}

/** RFC 9110 §11.6.1: `scheme name="value", name=number`; undefined parameters are left out. */
export function challenge(scheme: 'DPoP' | 'Bearer' | 'Basic', params: Record<string, string | number | undefined> = {}): string {
  const parts: string[] = [];
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined) parts.push(`${name}=${typeof value === 'number' ? value : quoted(value)}`);
  }
  return parts.length ? `${scheme} ${parts.join(', ')}` : scheme;
}

/** RFC 9449 §7.1: a DPoP challenge names the algorithms we accept for proofs. */
export function dpopChallenge(params: Record<string, string | number | undefined> = {}): string {
  return challenge('DPoP', { algs: CLIENT_SIGNING_ALGS.join(' '), ...params });
}

/** An answer ready to send: status, headers and the JSON body (or, with `raw`, that text as it is). */
export interface OAuthAnswer {
  status: number;
  headers: Record<string, string>;
  body: Record<string, unknown>;
  /** Sent instead of the JSON body, with the Content-Type in `headers` (RFC 9701 JWT responses). */
  raw?: string;
}

/**
 * An OAuth error as it goes on the wire: the RFC 6749 §5.2 body, `Cache-Control: no-store`,
 * `Retry-After` (RFC 9110 §10.2.3) when it has one, `DPoP-Nonce` for use_dpop_nonce (RFC 9449
 * §8, §9), and on 401 the challenge of the scheme the caller used (RFC 6749 §5.2: Basic for a
 * client that authenticated with HTTP Basic; none for one that authenticated in the form, which
 * has no scheme; DPoP for an access token).
 */
export function errorAnswer(err: OAuthError, caller: { usedBasic?: boolean; formAuthentication?: boolean } = {}): OAuthAnswer {
  const headers: Record<string, string> = { 'Cache-Control': 'no-store' };
  if (err instanceof UseDpopNonce && err.nonce) headers['DPoP-Nonce'] = err.nonce;
  if (err.retryAfter !== undefined) headers['Retry-After'] = String(err.retryAfter);
  if (err.status === 401) {
    const params = { error: err.error, error_description: err.error_description };
    if (err.error !== 'invalid_client') headers['WWW-Authenticate'] = dpopChallenge(params);
    else if (caller.usedBasic) headers['WWW-Authenticate'] = challenge('Basic', { realm: 'tollgate', ...params });
  }
  return { status: err.status, headers, body: { error: err.error, error_description: err.error_description } };
}

/** A dependency (the database, Redis) is down: 503 with Retry-After, so clients back off and retry (fail closed). */
export function unavailableAnswer(retryAfter = 5): OAuthAnswer {
  return {
    status: 503,
    headers: { 'Cache-Control': 'no-store', 'Retry-After': String(retryAfter) },
    body: { error: 'temporarily_unavailable', error_description: 'a dependency is unavailable; retry later' },
  };
}

/** Anything unexpected: a bare 500, never a stack trace or a detail. */
export function unexpectedAnswer(): OAuthAnswer {
  return { status: 500, headers: { 'Cache-Control': 'no-store' }, body: { error: 'server_error', error_description: 'unexpected error' } };
}
