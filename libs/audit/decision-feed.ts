import type { DecisionReason } from './decision-log.js';

/** A decision as the feed hands it on: what the decision log stores, nothing more. */
export interface FedDecision {
  id: string;
  at: Date;
  kind: string;
  clientId: string | null;
  method: string | null;
  route: string | null;
  decision: string;
  score: number;
  reasons: DecisionReason[] | unknown;
  ip: string | null;
  /** The request id (X-Request-Id) of the request that was decided. */
  requestId?: string | null;
  /** docs/federation.md: the platform identity the workload authenticated with. */
  identity?: unknown;
}

export type FeedListener = (decisions: readonly FedDecision[]) => void;

/** Decisions held for delivery between two turns of the event loop; past it they are not streamed (counted). */
const MAX_PENDING = 10_000;

/**
 * Decisions as they are recorded, for live views (GET /admin/decisions/stream), in this process
 * only. The hot path pays nothing without a listener and one array push with listeners: delivery
 * to listeners (filtering, serialising, writing to sockets) happens in a later turn of the event
 * loop (setImmediate), in batches, never inside record(). Owner of `pending`: this class; bound
 * MAX_PENDING; emptied every turn.
 */
export class DecisionFeed {
  private readonly listeners = new Set<FeedListener>();
  private pending: FedDecision[] = [];
  private scheduled = false;
  private lostTotal = 0;

  get listening(): boolean {
    return this.listeners.size > 0;
  }

  get subscribers(): number {
    return this.listeners.size;
  }

  /** Decisions not streamed because delivery fell behind by more than MAX_PENDING. */
  get lost(): number {
    return this.lostTotal;
  }

  publish(decision: FedDecision): void {
    if (!this.listeners.size) return;
    if (this.pending.length >= MAX_PENDING) {
      this.lostTotal++;
      return;
    }
    this.pending.push(decision);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.deliver());
    }
  }

  /** Returns the unsubscribe function. */
  subscribe(listener: FeedListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private deliver(): void {
    this.scheduled = false;
    const batch = this.pending;
    this.pending = [];
    for (const listener of this.listeners) {
      try {
        listener(batch);
      } catch {
        // A listener's failure is its own (a closed socket): the others still get the batch.
        this.listeners.delete(listener);
      }
    }
  }
}
