import { Inject, Injectable, Logger } from '@nestjs/common';
import type { JWK } from 'jose';
import { CONFIG, type TollgateConfig } from '#config';
import { type EgressPolicy, EgressRefused, fetchJson, JWKS_FETCH_LIMITS, SingleFlight } from '#egress';
import { checkClientJwks, publicJwks } from './client-keys.js';
import type { ClientRecord } from './client-record.js';

/** Why a client's keys cannot be had: `reason` is an egress refusal code or `key_rules`. */
export class ClientKeysUnavailable extends Error {
  override readonly name = 'ClientKeysUnavailable';

  constructor(readonly reason: string, message: string) {
    super(message);
  }
}

/** A good key set is used this long before it is fetched again. */
const KEYS_TTL_MS = 300_000;
/** A refused fetch (unreachable, too big, keys the rules refuse) is not retried for this long. */
const REFUSAL_TTL_MS = 30_000;
/** An assertion naming a kid the set lacks refetches it (a key rotation), at most this often per client. */
const REFRESH_COOLDOWN_MS = 10_000;
const MAX_CACHED = 10_000;

interface Cached {
  keys?: { keys: JWK[] };
  refusal?: ClientKeysUnavailable;
  fetchedAt: number;
  expires: number;
}

/**
 * A client's verification keys, for every endpoint that checks its assertions — oidc-provider's
 * token endpoint (through the adapter, which hands them over inline so oidc-provider never
 * fetches), revocation and step-up: the registered `jwks`, or its `jwks_uri` fetched through the
 * egress guard (https, allowed addresses only, 64 KiB, 2 s connect, 5 s total) and held to exactly
 * the rules registered keys pass (checkClientJwks: RSA `e` and size, Ed25519 small-order points,
 * curves, no private members, `alg`).
 *
 * Owner of the cache of fetched sets: this class. Bound: MAX_CACHED sets (oldest dropped). TTL:
 * KEYS_TTL_MS for a good set, REFUSAL_TTL_MS for a refused one, so a bad `jwks_uri` costs one fetch
 * per 30 s however many requests name the client. Invalidation: keyed by the client's version (an
 * admin change applies at once); an unknown `kid` refetches at most every REFRESH_COOLDOWN_MS. At
 * most one fetch in flight per URL.
 */
@Injectable()
export class ClientKeySets {
  private readonly cache = new Map<string, Cached>();
  private readonly inFlight = new SingleFlight<Cached>();
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
    const key = `${client.clientId}@${client.version}`;
    const now = Date.now();
    let entry = this.cache.get(key);
    const stale = !entry || entry.expires <= now;
    const lacksKid = want.kid !== undefined && entry?.keys !== undefined && !entry.keys.keys.some((k) => k.kid === want.kid);
    if (stale || (lacksKid && now - entry!.fetchedAt >= REFRESH_COOLDOWN_MS)) {
      entry = await this.inFlight.run(`${key} ${uri}`, () => this.fetch(client.clientId, uri));
      this.remember(key, entry);
    }
    if (entry!.refusal) throw entry!.refusal;
    return entry!.keys!;
  }

  private async fetch(clientId: string, uri: string): Promise<Cached> {
    const fetchedAt = Date.now();
    try {
      const body = await fetchJson(uri, JWKS_FETCH_LIMITS, this.policy);
      const problems = await checkClientJwks(body);
      if (problems.length) {
        const first = problems[0]!;
        throw new ClientKeysUnavailable('key_rules', `the key set breaks the key rules (${first.field}: ${first.message})`);
      }
      return { keys: publicJwks(body as { keys: JWK[] }), fetchedAt, expires: fetchedAt + KEYS_TTL_MS };
    } catch (error) {
      const refusal =
        error instanceof ClientKeysUnavailable
          ? error
          : error instanceof EgressRefused
            ? new ClientKeysUnavailable(error.reason, error.message)
            : new ClientKeysUnavailable('fetch', 'the key set could not be fetched');
      // Once per refusal period per client: what was refused and why (never the response body).
      this.logger.warn({ message: 'client jwks_uri refused', client_id: clientId, host: hostOf(uri), reason: refusal.reason, detail: refusal.message });
      return { refusal, fetchedAt, expires: fetchedAt + REFUSAL_TTL_MS };
    }
  }

  private remember(key: string, entry: Cached): void {
    this.cache.delete(key);
    if (this.cache.size >= MAX_CACHED) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(key, entry);
  }
}

const hostOf = (uri: string) => URL.parse(uri)?.host ?? 'unparsable';
