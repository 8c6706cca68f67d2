-- AlterTable
ALTER TABLE "clients" ADD COLUMN "federated_identities" JSONB NOT NULL DEFAULT '[]';

-- AlterTable
ALTER TABLE "decisions" ADD COLUMN "identity" JSONB;

-- CreateTable
CREATE TABLE "trusted_issuers" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "kind" TEXT NOT NULL,
    "issuer" TEXT NOT NULL,
    "jwks" JSONB,
    "jwks_uri" TEXT,
    "allowed_addresses" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "reusable_tokens" BOOLEAN NOT NULL DEFAULT false,
    "version" INTEGER NOT NULL DEFAULT 1,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "trusted_issuers_pkey" PRIMARY KEY ("id"),
    -- Not modelled by Prisma: what the application writes, enforced again by the database.
    CONSTRAINT "trusted_issuers_kind_check" CHECK ("kind" IN ('oidc', 'spiffe'))
);

-- CreateIndex
CREATE UNIQUE INDEX "trusted_issuers_issuer_key" ON "trusted_issuers"("issuer");
