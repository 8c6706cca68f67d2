-- AlterTable
ALTER TABLE "clients" ADD COLUMN "registration_token_hash" TEXT;
