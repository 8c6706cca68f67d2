-- The request id (X-Request-Id, docs/operations.md) each decision was made under: ties a
-- decision to the answer and the log lines of the same request. Nullable: older rows have none.
ALTER TABLE "decisions" ADD COLUMN "request_id" TEXT;
