-- The call context each judged decision was made with (docs/risk.md "Recorded context"): the
-- facts and the learned-state answers the pure risk core evaluated, so that another policy can be
-- evaluated against past decisions (the policy dry run). No tokens, proofs or secrets. Nullable:
-- older rows and decisions the risk judge did not make have none.
ALTER TABLE "decisions" ADD COLUMN "context" JSONB;
