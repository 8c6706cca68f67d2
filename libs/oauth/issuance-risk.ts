import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { DecisionLog } from '#audit';
import { type Acr, countryOf, evaluate, RISK_STATE, RiskPolicies, type RiskContext, type RiskStateStore } from '#risk';

export interface IssuanceInput {
  clientId: string;
  ip?: string;
  scopes: string[];
  audience?: string;
  dpopJkt?: string;
  /** A step-up grant: the level just proven (docs/step-up.md §4), which answers step-ups up to it. */
  proven?: { acr: string; authTime: number };
}

export interface IssuanceVerdict {
  decision: 'allow' | 'step_up' | 'deny';
  decisionId: string;
  score: number;
  reasons: { code: string; score: number }[];
  acr?: string;
  maxAge?: number;
}

/**
 * Risk at the token endpoint (issue 3 §4): the same engine as every call, with the issuance as
 * context. A deny refuses the token (access_denied); a step-up names the acr to prove.
 */
@Injectable()
export class IssuanceRisk {
  private readonly logger = new Logger('issuance-risk');

  constructor(
    @Inject(RISK_STATE) private readonly state: RiskStateStore,
    private readonly policies: RiskPolicies,
    private readonly decisions: DecisionLog,
  ) {}

  async assess(input: IssuanceInput): Promise<IssuanceVerdict> {
    const ctx: RiskContext = {
      kind: 'issuance',
      now: Date.now(),
      clientId: input.clientId,
      ip: input.ip,
      country: input.ip ? countryOf(input.ip) : undefined,
      audience: input.audience,
      scopes: input.scopes,
      dpopJkt: input.dpopJkt,
      ...(input.proven ? { proven: { acr: input.proven.acr as Acr, authTime: input.proven.authTime } } : {}),
    };
    const [policy, state] = await Promise.all([this.policies.effective(input.clientId), this.state.observe(ctx)]);
    const decision = evaluate(ctx, state, policy);
    const verdict: IssuanceVerdict = {
      decision: decision.decision,
      decisionId: randomUUID(),
      score: decision.score,
      reasons: decision.reasons.map((r) => ({ code: r.code, score: r.score })),
      acr: decision.acr,
      maxAge: decision.maxAge,
    };
    await this.decisions.record({
      id: verdict.decisionId,
      at: new Date(ctx.now),
      kind: 'issuance',
      clientId: input.clientId,
      method: 'POST',
      route: input.audience,
      decision: verdict.decision,
      score: verdict.score,
      reasons: verdict.reasons,
      ip: input.ip,
    });
    if (verdict.decision === 'allow') {
      void this.state.learn(ctx).catch((error: unknown) => this.logger.warn({ message: 'risk state not updated', error: (error as Error).message }));
    }
    return verdict;
  }
}
