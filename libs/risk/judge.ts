import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { DecisionLog, type DecisionKind } from '#audit';
import { evaluate } from './core/evaluate.js';
import { recordedContext } from './core/recorded-context.js';
import type { Decision, Reason, RiskContext } from './core/types.js';
import { RiskPolicies } from './policies/risk-policies.js';
import { countryOf } from './state/country.js';
import { RISK_STATE, type RiskStateStore } from './state/store.js';

/** A decision with its id, as recorded and answered. */
export interface Judgement extends Decision {
  decisionId: string;
  reasons: Reason[];
}

/** Where a judged decision is recorded: its kind, and the method and route of what was judged. */
export interface JudgedRequest {
  kind: Extract<DecisionKind, 'issuance' | 'check' | 'introspection'>;
  method: string;
  route?: string;
  /** The request it is judged under (X-Request-Id), kept with the decision. */
  requestId?: string;
}

/**
 * The one risk judge (docs/risk.md), for every issuance and every call: the client's effective
 * policy and learned state (one round trip to the state store), the pure evaluation, the decision
 * recorded (durably before it is answered where the decision log says so), and, after an allow,
 * what it teaches, off the request's path.
 */
@Injectable()
export class RiskJudge {
  private readonly logger = new Logger('risk');

  constructor(
    @Inject(RISK_STATE) private readonly state: RiskStateStore,
    private readonly policies: RiskPolicies,
    private readonly decisions: DecisionLog,
  ) {}

  async judge(context: RiskContext, request: JudgedRequest): Promise<Judgement> {
    const ctx: RiskContext = context.country === undefined && context.ip !== undefined ? { ...context, country: countryOf(context.ip) } : context;
    const [policy, state] = await Promise.all([this.policies.effective(ctx.clientId), this.state.observe(ctx)]);
    const judgement: Judgement = { ...evaluate(ctx, state, policy), decisionId: randomUUID() };
    await this.decisions.record({
      id: judgement.decisionId,
      at: new Date(ctx.now),
      kind: request.kind,
      clientId: ctx.clientId,
      method: request.method,
      route: request.route,
      decision: judgement.decision,
      score: judgement.score,
      reasons: judgement.reasons,
      ip: ctx.ip,
      requestId: request.requestId,
      ...(ctx.federated ? { identity: ctx.federated } : {}),
      // What the evaluation read, for the policy dry run (assembled, not computed: see recordedContext).
      context: recordedContext(ctx, state),
    });
    if (judgement.decision === 'allow') {
      void this.state.learn(ctx).catch((error: unknown) => this.logger.warn({ message: 'risk state not updated', error: (error as Error).message, request_id: request.requestId }));
    }
    return judgement;
  }

  /** A failure by a client that proved to be itself (a bad DPoP proof, a bad step-up answer): its failed_auth_burst. */
  failed(clientId: string): void {
    void this.state.recordFailure(clientId, Date.now()).catch(() => undefined);
  }
}
