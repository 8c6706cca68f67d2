import type { ClientRecord } from './client-record.js';

/**
 * Hot-path copy of client records (token, introspection and check paths read here, not the
 * database). Owner: ClientRegistry. Bound: `max` entries (oldest dropped first). TTL: `ttlMs`.
 * Invalidation: on every write through the registry, on change notices from other instances,
 * and wholesale when the notice channel reconnects. Misses are cached too, briefly, so that
 * unknown client ids cannot hammer the database.
 */
export class ClientCache {
  private readonly entries = new Map<string, { value: ClientRecord | null; expires: number }>();
  hits = 0;
  misses = 0;

  constructor(private readonly ttlMs: number, private readonly max = 10_000) {}

  get(clientId: string): ClientRecord | null | undefined {
    const entry = this.entries.get(clientId);
    if (!entry || entry.expires <= Date.now()) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    return entry.value;
  }

  set(clientId: string, value: ClientRecord | null): void {
    if (this.ttlMs <= 0) return;
    if (this.entries.size >= this.max) this.entries.delete(this.entries.keys().next().value!);
    const ttl = value ? this.ttlMs : Math.min(this.ttlMs, 5_000);
    this.entries.set(clientId, { value, expires: Date.now() + ttl });
  }

  delete(clientId: string): void {
    this.entries.delete(clientId);
  }

  clear(): void {
    this.entries.clear();
  }
}
