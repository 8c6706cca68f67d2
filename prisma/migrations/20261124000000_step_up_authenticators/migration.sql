-- CreateTable
CREATE TABLE "authenticators" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "client_id" TEXT NOT NULL,
    "credential_id" TEXT NOT NULL,
    "public_key" BYTEA NOT NULL,
    "counter" BIGINT NOT NULL DEFAULT 0,
    "format" TEXT NOT NULL,
    "aaguid" TEXT NOT NULL,
    "attestation" TEXT NOT NULL,
    "chain_verified" BOOLEAN NOT NULL,
    "name" TEXT,
    "transports" TEXT[],
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_used_at" TIMESTAMPTZ(3),
    "revoked_at" TIMESTAMPTZ(3),

    CONSTRAINT "authenticators_pkey" PRIMARY KEY ("id"),
    -- Not modelled by Prisma: what the application writes, enforced again by the database.
    CONSTRAINT "authenticators_attestation_check" CHECK ("attestation" IN ('basic', 'self', 'none')),
    CONSTRAINT "authenticators_counter_check" CHECK ("counter" >= 0)
);

-- CreateTable
CREATE TABLE "attestation_policies" (
    "client_id" TEXT NOT NULL,
    "policy" JSONB NOT NULL,
    "version" INTEGER NOT NULL DEFAULT 1,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "attestation_policies_pkey" PRIMARY KEY ("client_id")
);

-- CreateIndex
CREATE UNIQUE INDEX "authenticators_credential_id_key" ON "authenticators"("credential_id");

-- CreateIndex
CREATE INDEX "authenticators_client_id_idx" ON "authenticators"("client_id");

-- AddForeignKey
ALTER TABLE "authenticators" ADD CONSTRAINT "authenticators_client_id_fkey" FOREIGN KEY ("client_id") REFERENCES "clients"("client_id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "attestation_policies" ADD CONSTRAINT "attestation_policies_client_id_fkey" FOREIGN KEY ("client_id") REFERENCES "clients"("client_id") ON DELETE CASCADE ON UPDATE CASCADE;
