import type { RiskPolicy } from '../core/types.js';

interface Entry {
  value: Promise<RiskPolicy>;
  expires: number;
}

/**
 * Hot-path copy of effective policies, one per client, plus the server default once.
 * Owner: RiskPolicies. Bound: `max` clients (oldest dropped first). Invalidation: a client's
 * entry on a write of its policy (here or on another instance, HotState topic 'policies') and on
 * a change of the client itself (topic 'clients': deletion cascades to its policy); everything
 * on a change of the default and when the notice channel resynchronises. TTL: `ttlMs`, only a
 * backstop for a notice whose publication failed (the writer logs it).
 *
 * Entries are the loads themselves (promises), so concurrent misses share one database read, and
 * an invalidation during a load drops that load: a read that may predate a change is never kept.
 * Failed loads are not remembered.
 */
export class PolicyCache {
  private defaultEntry: Entry | undefined;
  private readonly entries = new Map<string, Entry>();
  hits = 0;
  misses = 0;

  constructor(private readonly ttlMs: number, private readonly max = 10_000) {}

  get size(): number {
    return this.entries.size;
  }

  defaultPolicy(load: () => Promise<RiskPolicy>): Promise<RiskPolicy> {
    const now = Date.now();
    if (this.defaultEntry && this.defaultEntry.expires > now) return this.defaultEntry.value;
    const entry = { value: load(), expires: now + this.ttlMs };
    this.defaultEntry = entry;
    entry.value.catch(() => {
      if (this.defaultEntry === entry) this.defaultEntry = undefined;
    });
    return entry.value;
  }

  effective(clientId: string, load: () => Promise<RiskPolicy>): Promise<RiskPolicy> {
    const now = Date.now();
    const cached = this.entries.get(clientId);
    if (cached && cached.expires > now) {
      this.hits++;
      return cached.value;
    }
    this.misses++;
    if (cached) this.entries.delete(clientId);
    else if (this.entries.size >= this.max) this.entries.delete(this.entries.keys().next().value!);
    const entry = { value: load(), expires: now + this.ttlMs };
    this.entries.set(clientId, entry);
    entry.value.catch(() => {
      if (this.entries.get(clientId) === entry) this.entries.delete(clientId);
    });
    return entry.value;
  }

  /** One client's policy changed. */
  delete(clientId: string): void {
    this.entries.delete(clientId);
  }

  /** The default changed (every effective policy derives from it), or notices may have been lost. */
  clear(): void {
    this.defaultEntry = undefined;
    this.entries.clear();
  }
}
