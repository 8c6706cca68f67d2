// `npm run db:deploy`: applies committed migrations to DATABASE_URL, recording them in
// `_prisma_migrations` as `prisma migrate deploy` does. Safe to run on every release and from
// several machines at once (PostgreSQL advisory lock).
import { ConfigError, loadConfig } from '#config';
import { openDatabase } from '#persistence';

try {
  const config = loadConfig();
  if (!config.databaseUrl) {
    process.stderr.write('DATABASE_URL is not set: the embedded database is migrated by the server at start.\n');
    process.exit(2);
  }
  const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  try {
    const applied = await db.migrate();
    const status = await db.status();
    process.stdout.write(
      `${applied.length ? `applied: ${applied.join(', ')}` : 'no pending migrations'}; ${status.applied.length} applied in total\n`,
    );
  } finally {
    await db.close();
  }
} catch (error) {
  process.stderr.write(`${error instanceof ConfigError ? error.message : `migration failed: ${(error as Error).message}`}\n`);
  process.exit(1);
}
