/** Stable codes for why an outbound fetch or a URL was refused (for logs and metrics). */
export type EgressRefusalReason =
  | 'not_https'
  | 'bad_url'
  | 'address_not_allowed'
  | 'dns'
  | 'connect'
  | 'tls'
  | 'timeout'
  | 'too_large'
  | 'status'
  | 'redirect'
  | 'not_json';

/**
 * Why a fetch or a URL was refused. The message names the host and the reason, never anything
 * from the response: its far end is controlled by someone else.
 */
export class EgressRefused extends Error {
  override readonly name = 'EgressRefused';

  constructor(readonly reason: EgressRefusalReason, message: string) {
    super(message);
  }
}
