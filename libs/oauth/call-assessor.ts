import type { TokenVerdict } from './access-token.js';

/** What the check library answers about one call (libs/check CallAssessment). */
export interface ContextAssessment {
  decision: 'allow' | 'step_up' | 'deny' | 'invalid';
  decisionId: string;
  score: number;
  reasons: { code: string; score: number; detail?: string }[];
  headers: Record<string, string>;
  error?: string;
  errorDescription?: string;
  acrValues?: string;
  maxAge?: number;
}

export interface ContextInput {
  kind: 'introspection';
  method: string;
  url: string;
  target: string;
  ip?: string;
  authorization: string;
  proof?: string;
  /** The token, already verified by the caller. */
  verdict: TokenVerdict & { active: true };
}

/**
 * The seam between introspection (here) and the call assessment (libs/check, which depends on
 * this library): libs/check fills the slot at start-up, so introspection with context runs the
 * very same checks as the gateway check endpoint.
 */
export class CallAssessorSlot {
  assess?: (input: ContextInput) => Promise<ContextAssessment>;
}
