import { SingleFlight } from './single-flight.js';

/** How a FetchedKeySets cache refreshes (all in milliseconds). */
export interface KeySetRefresh {
  /** A good set is used this long before it is fetched again. */
  freshMs: number;
  /** After a failed fetch, no new attempt for this long (one fetch per period, however many ask). */
  retryMs: number;
  /** A `kid` the set lacks refetches it (a key rotation), at most this often per key set. */
  kidCooldownMs: number;
  /**
   * After a failed refresh the last good set keeps working this long after it was fetched (the
   * far end briefly down); 0: a failed refresh replaces the set with the refusal.
   */
  keepGoodMs: number;
}

interface Entry<T> {
  value?: T;
  refusal?: Error;
  /** When a fetch was last attempted. */
  triedAt: number;
  /** When the value was fetched. */
  goodAt: number;
  /** Next fetch due. */
  due: number;
}

/** What a key set looks like to the cache: keys that may carry a `kid`. */
export interface KeyedSet {
  keys: readonly { kid?: string }[];
}

/** Thrown when a set cannot be had: the fetch's own refusal, and when the next attempt is due. */
export class KeySetUnavailable extends Error {
  override readonly name = 'KeySetUnavailable';
  constructor(override readonly cause: Error, readonly retryAt: number) {
    super(cause.message);
  }
}

/**
 * Key sets fetched from URLs someone else controls (a client's jwks_uri, a trusted issuer's keys),
 * shared by every endpoint that verifies with them.
 *
 * Owner of the cache: the instance's creator (one per kind of key set). Bound: `max` sets, oldest
 * dropped. TTL and invalidation: per KeySetRefresh; callers key the set by whatever version makes
 * an admin change apply at once (e.g. `client@version`). At most one fetch in flight per key.
 */
export class FetchedKeySets<T extends KeyedSet> {
  private readonly cache = new Map<string, Entry<T>>();
  private readonly inFlight = new SingleFlight<Entry<T>>();

  constructor(private readonly refresh: KeySetRefresh, private readonly max = 10_000) {}

  /**
   * The set for `key`, fetched with `fetch` when due; `want.kid`, when the set lacks it, asks for
   * a fresh copy (within the cooldown). Rejects with KeySetUnavailable.
   */
  async get(key: string, fetch: () => Promise<T>, want: { kid?: string } = {}): Promise<T> {
    const now = Date.now();
    let entry = this.cache.get(key);
    const lacksKid = want.kid !== undefined && entry?.value !== undefined && !entry.value.keys.some((k) => k.kid === want.kid);
    if (!entry || entry.due <= now || (lacksKid && now - entry.triedAt >= this.refresh.kidCooldownMs)) {
      const previous = entry;
      entry = await this.inFlight.run(key, () => this.attempt(fetch, previous));
      this.remember(key, entry);
    }
    if (entry.value !== undefined) return entry.value;
    throw new KeySetUnavailable(entry.refusal!, entry.due);
  }

  /** Forget one set (its owner changed it) or all of them. */
  forget(key?: string): void {
    if (key === undefined) this.cache.clear();
    else this.cache.delete(key);
  }

  private async attempt(fetch: () => Promise<T>, previous: Entry<T> | undefined): Promise<Entry<T>> {
    const triedAt = Date.now();
    try {
      const value = await fetch();
      return { value, triedAt, goodAt: triedAt, due: triedAt + this.refresh.freshMs };
    } catch (error) {
      const refusal = error instanceof Error ? error : new Error('the key set could not be fetched');
      const keep = previous?.value !== undefined && triedAt - previous.goodAt < this.refresh.keepGoodMs;
      const due = triedAt + this.refresh.retryMs;
      // The last good keys stay in use until keepGoodMs after they were fetched, never longer.
      if (keep) return { value: previous!.value, refusal, triedAt, goodAt: previous!.goodAt, due: Math.min(due, previous!.goodAt + this.refresh.keepGoodMs) };
      return { refusal, triedAt, goodAt: 0, due };
    }
  }

  private remember(key: string, entry: Entry<T>): void {
    this.cache.delete(key);
    if (this.cache.size >= this.max) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(key, entry);
  }
}
