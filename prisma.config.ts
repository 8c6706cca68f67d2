import { defineConfig } from 'prisma/config';

// The Prisma CLI is used here only for `prisma generate`. Migrations are applied by Tollgate's
// own applier (`npm run db:deploy`), which records them in `_prisma_migrations` exactly as
// `prisma migrate deploy` does; see docs/operations.md for why.
export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
});
