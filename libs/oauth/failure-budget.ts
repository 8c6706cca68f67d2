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
  private readonly windowMs: number;

  constructor(private readonly counters: CounterStore, private readonly limits: FailureBudgetLimits) {
    this.windowMs = limits.windowSeconds * 1000;
  }

  /** Seconds until `source` (naming `clientId`) may be answered again; 0 while within budget. Memory only. */
  retryAfter(source: string, clientId?: string, now = Date.now()): number {
    const until = Math.max(this.until(`s ${source}`, now), clientId && PLAUSIBLE_CLIENT_ID.test(clientId) ? this.until(`c ${source} ${clientId}`, now) : 0);
    return until > now ? Math.ceil((until - now) / 1000) : 0;
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
