import type { IncomingMessage } from 'node:http';
import type { CounterStore } from '#hot-state';
import { parseIp } from '#risk';

/**
 * The address a request came from: the socket's, or behind a trusted proxy the last
 * X-Forwarded-For entry (the one our proxy appended; what oidc-provider reads with maxIpsCount 1).
 */
export function callerAddress(req: Pick<IncomingMessage, 'headers' | 'socket'>, trustProxy: boolean): string | undefined {
  if (trustProxy) {
    const forwarded = req.headers['x-forwarded-for'];
    const last = (Array.isArray(forwarded) ? forwarded.join(',') : forwarded)?.split(',').pop()?.trim();
    if (last) return last;
  }
  return req.socket?.remoteAddress;
}

/**
 * Who a failure is charged to: an IPv4 address, or an IPv6 /64 (one host usually holds a whole
 * /64, so counting single IPv6 addresses would give it 2^64 budgets). An IPv4-mapped address is
 * its IPv4 address.
 */
export function sourceOf(address: string | undefined): string {
  const ip = address === undefined ? undefined : parseIp(address);
  if (!ip) return 'unknown';
  if (ip.kind() === 'ipv4') return ip.toString();
  const parts = (ip as { parts: number[] }).parts.slice(0, 4).map((p) => p.toString(16));
  return `${parts.join(':')}::/64`;
}

export interface FailureBudgetLimits {
  /** Unauthenticated failures one source may cause per window, whatever client ids it names. */
  perSource: number;
  /** Unauthenticated failures one source may cause per window naming one client id. */
  perSourceAndClient: number;
  windowSeconds: number;
}

/** A client id worth a counter of its own: what a client id can look like (generated ones are `tg_…`). */
const PLAUSIBLE_CLIENT_ID = /^[\x21-\x7e]{1,200}$/;
/** Sources remembered as over budget in this process (oldest forgotten first past it). */
const MAX_SPENT = 100_000;
/** Attempts of one source waiting for their turn to be verified; past this they are refused at once. */
const MAX_WAITING = 1_000;

/** Attempts of one source (or source + client id) being verified now, and those waiting for a turn. */
interface Gate {
  running: number;
  waiting: (() => void)[];
  /** Its budget per window (perSource or perSourceAndClient). */
  limit: number;
}

/**
 * Brute-force budgets (docs/risk.md "Failed authentication"): failures nobody proved to be the
 * client they name are charged to the source that sent them, per source and per source + client
 * id, in fixed windows shared by every instance (hot-state counters). A source past its budget is
 * refused (429, RFC 6585 §4) before any signature work, from memory, until the window ends; the
 * real client, calling from its own network, keeps its budget. Owner of `spent`: this class;
 * bound MAX_SPENT; entries expire with their window.
 */
export class FailureBudget {
  private readonly spent = new Map<string, number>();
  /** Failures counted this window, as the shared counters last said (drives the gates' capacity). */
  private readonly seen = new Map<string, { window: number; count: number }>();
  private readonly gates = new Map<string, Gate>();
  private readonly windowMs: number;

  constructor(private readonly counters: CounterStore, private readonly limits: FailureBudgetLimits) {
    this.windowMs = limits.windowSeconds * 1000;
  }

  /** Seconds until `source` (naming `clientId`) may be answered again; 0 while within budget. Memory only. */
  retryAfter(source: string, clientId?: string, now = Date.now()): number {
    const until = Math.max(this.until(`s ${source}`, now), clientId && PLAUSIBLE_CLIENT_ID.test(clientId) ? this.until(`c ${source} ${clientId}`, now) : 0);
    return until > now ? Math.ceil((until - now) / 1000) : 0;
  }

  /**
   * Waits for this attempt's turn to be verified. At most as many attempts of a source (and of a
   * source naming one client id) are verified at a time as it has budget left, so a burst of
   * concurrent forged assertions costs at most the budget in signature work, not its size; many
   * good ones at once wait a few milliseconds. Resolves to the release (call it once the attempt
   * is judged and a failure charged), or to the seconds to wait when the budget is spent.
   */
  async enter(source: string, clientId?: string, now = Date.now()): Promise<{ release: () => void } | { retryAfter: number }> {
    const blocked = this.retryAfter(source, clientId, now);
    if (blocked) return { retryAfter: blocked };
    const keys = [`s ${source}`];
    if (clientId !== undefined && PLAUSIBLE_CLIENT_ID.test(clientId)) keys.unshift(`c ${source} ${clientId}`);
    const held: string[] = [];
    const release = () => {
      for (const key of held.splice(0)) this.leave(key);
    };
    for (const key of keys) {
      // A free turn is taken at once (no promise): the usual case, on every request.
      const joined = this.join(key, key.startsWith('c ') ? this.limits.perSourceAndClient : this.limits.perSource);
      if (joined !== true && !(await joined)) {
        release();
        return { retryAfter: Math.max(1, this.retryAfter(source, clientId)) };
      }
      held.push(key);
      // Failures judged while this attempt waited may have spent the budget.
      const spent = this.retryAfter(source, clientId);
      if (spent) {
        release();
        return { retryAfter: spent };
      }
    }
    return { release };
  }

  /** As many attempts of a key at a time as its budget has left this window (at least one). */
  private capacity(key: string, gate: Gate): number {
    return Math.max(1, gate.limit - this.failuresSeen(key, Date.now()));
  }

  private join(key: string, limit: number): true | Promise<boolean> {
    let gate = this.gates.get(key);
    if (!gate) {
      gate = { running: 0, waiting: [], limit };
      this.gates.set(key, gate);
    }
    if (gate.running < this.capacity(key, gate)) {
      gate.running++;
      return true;
    }
    if (gate.waiting.length >= MAX_WAITING) return Promise.resolve(false);
    // The turn is handed over by leave(): running stays as it is.
    return new Promise<boolean>((resolve) => gate.waiting.push(() => resolve(true)));
  }

  /**
   * An attempt is judged: its turn goes to the next waiting one if the budget left allows one
   * more at a time. Once the budget is spent every waiting attempt is woken, to be refused.
   */
  private leave(key: string): void {
    const gate = this.gates.get(key);
    if (!gate) return;
    if (this.spent.has(key) && this.until(key, Date.now()) > 0) {
      const woken = gate.waiting.splice(0);
      gate.running += woken.length;
      for (const wake of woken) wake();
    } else if (gate.waiting.length && gate.running - 1 < this.capacity(key, gate)) {
      return gate.waiting.shift()!();
    }
    if (--gate.running <= 0 && !gate.waiting.length) this.gates.delete(key);
  }

  private failuresSeen(key: string, now: number): number {
    const seen = this.seen.get(key);
    return seen && seen.window === Math.floor(now / this.windowMs) ? seen.count : 0;
  }

  private note(key: string, window: number, count: number): void {
    this.seen.delete(key);
    if (this.seen.size >= MAX_SPENT) this.seen.delete(this.seen.keys().next().value!);
    this.seen.set(key, { window, count });
  }

  /** Charges one unauthenticated failure to `source` (and to `source` + `clientId` when one was named). */
  async spend(source: string, clientId?: string, now = Date.now()): Promise<void> {
    const window = Math.floor(now / this.windowMs);
    const ends = (window + 1) * this.windowMs;
    const ttl = Math.ceil((ends - now) / 1000) + 1;
    const named = clientId !== undefined && PLAUSIBLE_CLIENT_ID.test(clientId);
    const [bySource, byClient] = await Promise.all([
      this.counters.add(`auth-failures:${window}:${source}`, ttl),
      named ? this.counters.add(`auth-failures:${window}:${source}:${clientId}`, ttl) : Promise.resolve(0),
    ]);
    this.note(`s ${source}`, window, bySource);
    if (named) this.note(`c ${source} ${clientId}`, window, byClient);
    if (bySource >= this.limits.perSource) this.mark(`s ${source}`, ends);
    if (named && byClient >= this.limits.perSourceAndClient) this.mark(`c ${source} ${clientId}`, ends);
  }

  private until(key: string, now: number): number {
    const until = this.spent.get(key);
    if (until === undefined) return 0;
    if (until <= now) {
      this.spent.delete(key);
      return 0;
    }
    return until;
  }

  private mark(key: string, until: number): void {
    this.spent.delete(key);
    if (this.spent.size >= MAX_SPENT) this.spent.delete(this.spent.keys().next().value!);
    this.spent.set(key, until);
  }
}
