import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { DecisionLog, type DecisionKind } from '#audit';
import { Metrics } from '#operations';
import { RISK_STATE, type RiskStateStore } from '#risk';
import { FailureBudget, sourceOf } from './failure-budget.js';
import { type AuthFailureReason, SlowDown } from './oauth-error.js';

/** Where a client authenticates: the token endpoint, our own workload endpoints, and gateways. */
export type AuthEndpoint = 'token' | 'revocation' | 'step_up' | 'introspection' | 'check';

/** The decision-log kind each endpoint's failures are recorded under. */
const KIND: Readonly<Record<AuthEndpoint, DecisionKind>> = {
  token: 'issuance',
  revocation: 'revocation',
  step_up: 'step_up',
  introspection: 'introspection',
  check: 'check',
};

export interface FailedAuthentication {
  endpoint: AuthEndpoint;
  method: string;
  path: string;
  /** The caller's address (callerAddress), as the decision log keeps it. */
  ip?: string;
  /** The client id the request named (UNVERIFIED), when it named one. */
  clientId?: string;
  reason: AuthFailureReason;
  /** The request it happened in (X-Request-Id), for the decision log and the log line. */
  requestId?: string;
}

const CLIENT_ID_SHOWN = 200;
/** How long, on average, a refusal for a spent budget waits before it is sent. */
const SLOW_DOWN_DELAY_MS = 1000;
/** Refusals waiting at once; past this they are sent at once (each waiting one holds a socket). */
const MAX_SLOWED = 10_000;

/**
 * Failed authentications, attributed only to who caused them (docs/risk.md):
 * - `unauthenticated`: nobody proved to be the client the request named, so it says nothing
 *   about that client and never changes how it is answered. It is charged to the source's
 *   brute-force budget, and is visible: a decision-log entry (`invalid` with the reason code), a
 *   metric by reason and a log line at info.
 * - `authenticated`: the client proved itself and then failed (a bad DPoP proof, a bad step-up
 *   answer, a bad proof with a token that verified): it feeds that client's failed_auth_burst.
 */
@Injectable()
export class AuthenticationFailures {
  private readonly logger = new Logger('authentication');
  /** Refusals waiting out SLOW_DOWN_DELAY_MS now. */
  private slowed = 0;

  constructor(
    private readonly budget: FailureBudget,
    private readonly decisions: DecisionLog,
    private readonly metrics: Metrics,
    @Inject(RISK_STATE) private readonly state: RiskStateStore,
  ) {}

  /**
   * Waits for this attempt's turn (FailureBudget.enter) and resolves to its release, to call once
   * it is judged; rejects with SlowDown (429, Retry-After) when the source, or the source naming
   * this client id, spent its budget. The refusal is answered after SLOW_DOWN_DELAY_MS: a source
   * that ignores Retry-After gets about one answer per connection per second instead of
   * thousands, for the price of a timer (at most MAX_SLOWED at a time; beyond, at once).
   */
  async admit(endpoint: AuthEndpoint, ip: string | undefined, clientId?: string): Promise<() => void> {
    const turn = await this.budget.enter(sourceOf(ip), clientId);
    if ('release' in turn) return turn.release;
    return this.refuse(endpoint, turn.retryAfter);
  }

  /** As admit, without taking a turn: before anything of the request is read (the source alone). */
  async refuseIfSpent(endpoint: AuthEndpoint, ip: string | undefined): Promise<void> {
    const retryAfter = this.budget.retryAfter(sourceOf(ip));
    if (retryAfter) await this.refuse(endpoint, retryAfter);
  }

  private async refuse(endpoint: AuthEndpoint, retryAfter: number): Promise<never> {
    this.metrics.failureBudgetRefused(endpoint);
    if (this.slowed < MAX_SLOWED) {
      this.slowed++;
      try {
        // Spread over ±50 %, so that a flood's refusals do not all come due in the same instant.
        await sleep(Math.min(SLOW_DOWN_DELAY_MS * (0.5 + Math.random()), retryAfter * 1000));
      } finally {
        this.slowed--;
      }
    }
    throw new SlowDown(Math.max(1, retryAfter - 1));
  }

  /** A failure nobody proved to be its client: charged to the source, recorded, counted and logged. */
  async unauthenticated(f: FailedAuthentication): Promise<void> {
    const clientId = f.clientId?.slice(0, CLIENT_ID_SHOWN);
    this.metrics.authenticationFailed(f.endpoint, f.reason);
    this.logger.log({ message: 'client authentication failed', endpoint: f.endpoint, reason: f.reason, client_id: clientId, ip: f.ip, request_id: f.requestId });
    await Promise.all([
      this.budget.spend(sourceOf(f.ip), f.clientId).catch((error: unknown) =>
        this.logger.warn({ message: 'failure budget not updated', error: (error as Error)?.message }),
      ),
      this.decisions.record({
        id: randomUUID(),
        at: new Date(),
        kind: KIND[f.endpoint],
        clientId,
        method: f.method,
        route: f.path,
        decision: 'invalid',
        score: 0,
        reasons: [{ code: f.reason, score: 0 }],
        ip: f.ip,
        requestId: f.requestId,
      }),
    ]);
  }

  /** A failure by a client that proved to be itself: feeds its failed_auth_burst signal. */
  authenticated(clientId: string): void {
    void this.state.recordFailure(clientId, Date.now()).catch(() => undefined);
  }
}
