import { randomUUID } from 'node:crypto';
import type { EventBus } from '#hot-state';
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

/** Change-notice topics of the shared feed: decisions, and who is listening for them. */
const DECISIONS_TOPIC = 'decisions';
const LISTENING_TOPIC = 'decision-listeners';
/** How often an instance with open streams says so; the others share for three such periods after the last. */
const LISTENING_EVERY_MS = 2000;
const SHARING_HOLD_MS = 3 * LISTENING_EVERY_MS;
/** Decisions one instance shares per turn of its event loop; beyond, they are not streamed elsewhere (counted as lost). */
const MAX_SHARED_PER_BATCH = 1000;

/**
 * Decisions as they are recorded, for live views (GET /admin/decisions/stream). The hot path pays
 * nothing without a listener and one array push with listeners: delivery to listeners
 * (filtering, serialising, writing to sockets) happens in a later turn of the event loop
 * (setImmediate), in batches, never inside record(). Owner of `pending`: this class; bound
 * MAX_PENDING; emptied every turn.
 *
 * Shared (share()) across instances and workers through the change notices (Redis pub/sub): an
 * instance with open streams says so every LISTENING_EVERY_MS; while some instance listens, every
 * instance publishes its decisions in one notice per turn, and the listening ones deliver the
 * others' decisions to their streams. Nobody listening, nobody publishes: no cost per decision.
 */
export class DecisionFeed {
  private readonly listeners = new Set<FeedListener>();
  private pending: FedDecision[] = [];
  private scheduled = false;
  private lostTotal = 0;
  private events?: EventBus;
  private readonly instance = randomUUID();
  /** Another instance has streams open (it said so within SHARING_HOLD_MS). */
  private sharing = false;
  private sharingTimer?: NodeJS.Timeout;
  private listeningTimer?: NodeJS.Timeout;

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

  /**
   * Joins the feeds of every instance on the same change notices. Call once, at start; stop()
   * ends it.
   */
  share(events: EventBus): void {
    this.events = events;
    events.subscribe(LISTENING_TOPIC, (from) => {
      if (from === this.instance) return;
      this.sharing = true;
      clearTimeout(this.sharingTimer);
      this.sharingTimer = setTimeout(() => (this.sharing = false), SHARING_HOLD_MS);
      this.sharingTimer.unref();
    });
    events.subscribe(DECISIONS_TOPIC, (message) => this.receive(message));
    this.listeningTimer = setInterval(() => this.announce(), LISTENING_EVERY_MS);
    this.listeningTimer.unref();
  }

  stop(): void {
    clearInterval(this.listeningTimer);
    clearTimeout(this.sharingTimer);
  }

  publish(decision: FedDecision): void {
    if (!this.listeners.size && !this.sharing) return;
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
    const first = this.listeners.size === 0;
    this.listeners.add(listener);
    // The others start sharing now, not at the next announcement.
    if (first) this.announce();
    return () => this.listeners.delete(listener);
  }

  /** Tells the other instances that streams are open here. */
  private announce(): void {
    if (this.events && this.listeners.size) this.events.publish(LISTENING_TOPIC, this.instance).catch(() => undefined);
  }

  /** Another instance's decisions: for this one's streams, when it has any. */
  private receive(message: string): void {
    if (!this.listeners.size) return;
    let shared: { from?: unknown; decisions?: unknown };
    try {
      shared = JSON.parse(message) as typeof shared;
    } catch {
      return;
    }
    if (shared.from === this.instance || !Array.isArray(shared.decisions)) return;
    const batch = (shared.decisions as (FedDecision & { at: string })[]).map((d) => ({ ...d, at: new Date(d.at) }));
    this.hand(batch);
  }

  private deliver(): void {
    this.scheduled = false;
    const batch = this.pending;
    this.pending = [];
    if (this.sharing && this.events) {
      const shared = batch.length > MAX_SHARED_PER_BATCH ? batch.slice(0, MAX_SHARED_PER_BATCH) : batch;
      this.lostTotal += batch.length - shared.length;
      this.events.publish(DECISIONS_TOPIC, JSON.stringify({ from: this.instance, decisions: shared })).catch(() => undefined);
    }
    if (this.listeners.size) this.hand(batch);
  }

  private hand(batch: readonly FedDecision[]): void {
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
