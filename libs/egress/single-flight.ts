/**
 * At most one call in flight per key: callers asking for a key that is already being fetched
 * share that fetch's outcome. It keeps nothing once a call settles (caching is the caller's);
 * its size is bounded by the calls in flight, each bounded by its fetch's timeouts.
 */
export class SingleFlight<T> {
  private readonly inFlight = new Map<string, Promise<T>>();

  run(key: string, call: () => Promise<T>): Promise<T> {
    const current = this.inFlight.get(key);
    if (current) return current;
    const started = (async () => call())().finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, started);
    return started;
  }
}
