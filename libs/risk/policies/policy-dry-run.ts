import { Injectable } from '@nestjs/common';
import { DecisionLog, type StoredDecision } from '#audit';
import { mergePolicies } from '../core/policy-check.js';
import { reevaluate } from '../core/recorded-context.js';
import type { Reason, RiskPolicy } from '../core/types.js';
import { PolicyRepository } from './policy-repository.js';
import { notFound, RiskPolicies } from './risk-policies.js';

/** How many of the newest decisions a dry run evaluates (issue 13: "the client's last 100 decisions"). */
export const DRY_RUN_DECISIONS = 100;

export interface DryRunEntry {
  decisionId: string;
  at: Date;
  kind: string;
  clientId: string | null;
  method: string | null;
  route: string | null;
  recorded: { decision: string; score: number };
  /** Null: the decision has no recorded context (made before contexts were kept, or not by the risk judge). */
  reevaluated: { decision: string; score: number; reasons: Reason[] } | null;
  /** Whether the outcome would differ; null when not re-evaluable. */
  changed: boolean | null;
}

export interface DryRunResult {
  clientId: string | null;
  entries: DryRunEntry[];
  evaluated: number;
  changed: number;
  notReevaluable: number;
}

/**
 * The policy dry run (docs/console.md, docs/risk.md): an edited policy, checked exactly as a PUT
 * checks it, evaluated against the newest decisions with the context each one recorded, by the
 * same pure evaluate() the risk judge runs. Reads only: nothing is stored, cached, announced or
 * audited.
 */
@Injectable()
export class PolicyDryRun {
  constructor(
    private readonly policies: RiskPolicies,
    private readonly repository: PolicyRepository,
    private readonly decisions: DecisionLog,
  ) {}

  /** A client's own policy as edited, merged over the current server default, against that client's newest decisions. */
  async forClient(clientId: string, document: unknown): Promise<DryRunResult> {
    const own = this.policies.validate(document);
    const [exists, base] = await Promise.all([this.repository.clientExists(clientId), this.policies.defaultPolicy()]);
    if (!exists) throw notFound(clientId);
    const effective = mergePolicies(base, own);
    const { decisions } = await this.decisions.query({ clientId, limit: DRY_RUN_DECISIONS });
    return summarise(clientId, decisions, () => effective);
  }

  /** The server default as edited, against the newest decisions of every client, each merged with that client's own policy. */
  async forDefault(document: unknown): Promise<DryRunResult> {
    const base = this.policies.validate(document);
    const { decisions } = await this.decisions.query({ limit: DRY_RUN_DECISIONS });
    const ids = [...new Set(decisions.map((d) => d.clientId).filter((id): id is string => id !== null))];
    const own = await this.repository.ownPolicies(ids);
    const effective = new Map<string, RiskPolicy>();
    return summarise(null, decisions, (clientId) => {
      let policy = effective.get(clientId);
      if (!policy) effective.set(clientId, (policy = mergePolicies(base, own.get(clientId))));
      return policy;
    });
  }
}

function summarise(clientId: string | null, decisions: StoredDecision[], policyOf: (clientId: string) => RiskPolicy): DryRunResult {
  let changed = 0;
  let notReevaluable = 0;
  const entries = decisions.map((d): DryRunEntry => {
    const again = d.clientId === null ? null : reevaluate(d.context, d.clientId, d.at, policyOf(d.clientId));
    const differs = again === null ? null : again.decision !== d.decision;
    if (again === null) notReevaluable++;
    else if (differs) changed++;
    return {
      decisionId: d.id,
      at: d.at,
      kind: d.kind,
      clientId: d.clientId,
      method: d.method,
      route: d.route,
      recorded: { decision: d.decision, score: d.score },
      reevaluated: again && { decision: again.decision, score: again.score, reasons: again.reasons },
      changed: differs,
    };
  });
  return { clientId, entries, evaluated: entries.length - notReevaluable, changed, notReevaluable };
}
