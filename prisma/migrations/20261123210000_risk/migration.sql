-- CreateTable
CREATE TABLE "risk_policies" (
    "key" TEXT NOT NULL,
    "client_id" TEXT,
    "document" JSONB NOT NULL,
    "version" INTEGER NOT NULL DEFAULT 1,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "risk_policies_pkey" PRIMARY KEY ("key")
);

-- CreateTable
CREATE TABLE "decisions" (
    "id" TEXT NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL,
    "kind" TEXT NOT NULL,
    "client_id" TEXT,
    "method" TEXT,
    "route" TEXT,
    "decision" TEXT NOT NULL,
    "score" INTEGER NOT NULL,
    "reasons" JSONB NOT NULL DEFAULT '[]',
    "ip" TEXT,

    CONSTRAINT "decisions_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "risk_policies_client_id_key" ON "risk_policies"("client_id");

-- CreateIndex
CREATE INDEX "decisions_client_id_at_idx" ON "decisions"("client_id", "at");

-- CreateIndex
CREATE INDEX "decisions_decision_at_idx" ON "decisions"("decision", "at");

-- CreateIndex
CREATE INDEX "decisions_at_idx" ON "decisions"("at");

-- AddForeignKey
ALTER TABLE "risk_policies" ADD CONSTRAINT "risk_policies_client_id_fkey" FOREIGN KEY ("client_id") REFERENCES "clients"("client_id") ON DELETE CASCADE ON UPDATE CASCADE;
