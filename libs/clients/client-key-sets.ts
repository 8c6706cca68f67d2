import { Inject, Injectable, Logger } from '@nestjs/common';
import type { JWK } from 'jose';
import { CONFIG, type TollgateConfig } from '#config';
import { type EgressPolicy, EgressRefused, FetchedKeySets, fetchJson, JWKS_FETCH_LIMITS, KeySetUnavailable } from '#egress';
import { checkClientJwks, publicJwks } from './client-keys.js';
import type { ClientRecord } from './client-record.js';

/** Why a client's keys cannot be had: `reason` is an egress refusal code or `key_rules`. */
export class ClientKeysUnavailable extends Error {
  override readonly name = 'ClientKeysUnavailable';

  constructor(readonly reason: string, message: string) {
    super(message);
  }
}

/**
 * A good key set is used 300 s before it is fetched again; a refused fetch (unreachable, too big,
 * keys the rules refuse) is not retried for 30 s and replaces the set; an assertion naming a kid
 * the set lacks refetches it (a key rotation), at most every 10 s per client.
 */
const REFRESH = Object.freeze({ freshMs: 300_000, retryMs: 30_000, kidCooldownMs: 10_000, keepGoodMs: 0 });

/**
 * A client's verification keys, for every endpoint that checks its assertions — oidc-provider's
 * token endpoint (through the adapter, which hands them over inline so oidc-provider never
 * fetches), revocation and step-up: the registered `jwks`, or its `jwks_uri` fetched through the
 * egress guard (https, allowed addresses only, 64 KiB, 2 s connect, 5 s total) and held to exactly
 * the rules registered keys pass (checkClientJwks: RSA `e` and size, Ed25519 small-order points,
 * curves, no private members, `alg`).
 *
 * The cache of fetched sets is libs/egress' FetchedKeySets (owner: this class; bound 10,000 sets;
 * TTLs above), keyed by the client's version so that an admin change applies at once; a bad
 * `jwks_uri` costs one fetch per 30 s however many requests name the client.
 */
@Injectable()
export class ClientKeySets {
  private readonly sets = new FetchedKeySets<{ keys: JWK[] }>(REFRESH);
  private readonly policy: EgressPolicy;
  private readonly logger = new Logger('client-keys');

  constructor(@Inject(CONFIG) config: TollgateConfig) {
    this.policy = { allow: config.egressAllow, ...(config.egressCa ? { ca: config.egressCa } : {}) };
  }

  /** The client's keys; `want.kid`, when the set lacks it, asks for a fresh copy (within the cooldown). */
  async keysFor(client: ClientRecord, want: { kid?: string } = {}): Promise<{ keys: JWK[] }> {
    if (client.jwks) return client.jwks;
    const uri = client.jwksUri;
    if (!uri) throw new ClientKeysUnavailable('no_keys', 'the client has no keys');
    try {
      return await this.sets.get(`${client.clientId}@${client.version} ${uri}`, () => this.fetch(client.clientId, uri), want);
    } catch (error) {
      throw error instanceof KeySetUnavailable ? error.cause : error;
    }
  }

  private async fetch(clientId: string, uri: string): Promise<{ keys: JWK[] }> {
    try {
      return await fetchCheckedJwks(uri, this.policy);
    } catch (error) {
      const refusal =
        error instanceof JwksBreaksKeyRules
          ? new ClientKeysUnavailable('key_rules', error.message)
          : error instanceof EgressRefused
            ? new ClientKeysUnavailable(error.reason, error.message)
            : new ClientKeysUnavailable('fetch', 'the key set could not be fetched');
      // Once per refusal period per client: what was refused and why (never the response body).
      this.logger.warn({ message: 'client jwks_uri refused', client_id: clientId, host: hostOf(uri), reason: refusal.reason, detail: refusal.message });
      throw refusal;
    }
  }
}

/** A fetched key set that the key rules refuse (the first problem named). */
export class JwksBreaksKeyRules extends Error {
  override readonly name = 'JwksBreaksKeyRules';
}

/**
 * GET a JWK Set (RFC 7517 §5) through the egress guard and hold it to the client key rules:
 * public keys only, as registered keys (client keys, trusted issuers' keys). Rejects with
 * EgressRefused or JwksBreaksKeyRules. `select` picks the keys meant for verification first (a
 * SPIFFE bundle's `jwt-svid` keys); `use` values other than `sig` are allowed when `uses` names them.
 */
export async function fetchCheckedJwks(
  uri: string,
  policy: EgressPolicy,
  options: { uses?: readonly string[]; select?: (body: unknown) => unknown } = {},
): Promise<{ keys: JWK[] }> {
  const fetched = await fetchJson(uri, JWKS_FETCH_LIMITS, policy);
  const body = options.select ? options.select(fetched) : fetched;
  const problems = await checkClientJwks(body, options);
  if (problems.length) {
    const first = problems[0]!;
    throw new JwksBreaksKeyRules(`the key set breaks the key rules (${first.field}: ${first.message})`);
  }
  return publicJwks(body as { keys: JWK[] });
}

const hostOf = (uri: string) => URL.parse(uri)?.host ?? 'unparsable';
