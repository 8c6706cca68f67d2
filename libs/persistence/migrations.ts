import { createHash, randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

/**
 * Applies the committed migrations in prisma/migrations, recording each in `_prisma_migrations`
 * with the same table layout and checksum (sha256 of migration.sql) as `prisma migrate deploy`,
 * so either tool can take over. We own this because the Prisma 7 CLI downloads a native schema
 * engine for every migrate command and that host is not always reachable (docs/operations.md).
 */
export interface SqlRunner {
  /** Runs one or more statements without parameters. */
  exec(sql: string): Promise<void>;
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
}

export interface MigrationStatus {
  applied: string[];
  pending: string[];
  /** Applied migrations whose file changed since: the database and the code disagree. */
  modified: string[];
  failed: string[];
}

const MIGRATIONS_DIR = fileURLToPath(new URL('../../../prisma/migrations/', import.meta.url));
// Prisma's own advisory lock id for migrations, so our applier and `prisma migrate` exclude each other.
const ADVISORY_LOCK = 72707369;

interface Migration {
  name: string;
  sql: string;
  checksum: string;
}

async function committedMigrations(dir = MIGRATIONS_DIR): Promise<Migration[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const names = entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
  return Promise.all(
    names.map(async (name) => {
      const sql = await readFile(`${dir}${name}/migration.sql`, 'utf8');
      return { name, sql, checksum: createHash('sha256').update(sql).digest('hex') };
    }),
  );
}

const CREATE_TABLE = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
  "id" VARCHAR(36) PRIMARY KEY NOT NULL,
  "checksum" VARCHAR(64) NOT NULL,
  "finished_at" TIMESTAMPTZ,
  "migration_name" VARCHAR(255) NOT NULL,
  "logs" TEXT,
  "rolled_back_at" TIMESTAMPTZ,
  "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(),
  "applied_steps_count" INTEGER NOT NULL DEFAULT 0
)`;

interface Row {
  migration_name: string;
  checksum: string;
  finished_at: Date | null;
  rolled_back_at: Date | null;
}

async function appliedRows(db: SqlRunner): Promise<Row[] | undefined> {
  const exists = await db.query<{ t: string | null }>(`SELECT to_regclass('"_prisma_migrations"')::text AS t`);
  if (!exists[0]?.t) return undefined;
  return db.query<Row>('SELECT migration_name, checksum, finished_at, rolled_back_at FROM "_prisma_migrations" ORDER BY started_at');
}

export async function migrationStatus(db: SqlRunner, dir?: string): Promise<MigrationStatus> {
  const migrations = await committedMigrations(dir);
  const rows = ((await appliedRows(db)) ?? []).filter((r) => !r.rolled_back_at);
  const done = new Map(rows.filter((r) => r.finished_at).map((r) => [r.migration_name, r.checksum]));
  return {
    applied: migrations.filter((m) => done.has(m.name)).map((m) => m.name),
    pending: migrations.filter((m) => !done.has(m.name)).map((m) => m.name),
    modified: migrations.filter((m) => done.has(m.name) && done.get(m.name) !== m.checksum).map((m) => m.name),
    failed: rows.filter((r) => !r.finished_at).map((r) => r.migration_name),
  };
}

/** Applies pending migrations, each in its own transaction. Returns the names applied. */
export async function applyMigrations(db: SqlRunner, options: { advisoryLock: boolean; dir?: string }): Promise<string[]> {
  if (options.advisoryLock) await db.query('SELECT pg_advisory_lock($1)', [ADVISORY_LOCK]);
  try {
    await db.exec(CREATE_TABLE);
    const status = await migrationStatus(db, options.dir);
    if (status.failed.length) {
      throw new Error(`migration ${status.failed[0]} failed earlier and needs attention (see _prisma_migrations.logs)`);
    }
    if (status.modified.length) {
      throw new Error(`migration ${status.modified[0]} was changed after it was applied`);
    }
    const migrations = await committedMigrations(options.dir);
    const applied: string[] = [];
    for (const m of migrations.filter((x) => status.pending.includes(x.name))) {
      await db.exec('BEGIN');
      try {
        await db.exec(m.sql);
        await db.query(
          `INSERT INTO "_prisma_migrations" (id, checksum, migration_name, finished_at, applied_steps_count) VALUES ($1, $2, $3, now(), 1)`,
          [randomUUID(), m.checksum, m.name],
        );
        await db.exec('COMMIT');
      } catch (error) {
        await db.exec('ROLLBACK');
        throw new Error(`migration ${m.name} failed: ${(error as Error).message}`, { cause: error });
      }
      applied.push(m.name);
    }
    return applied;
  } finally {
    if (options.advisoryLock) await db.query('SELECT pg_advisory_unlock($1)', [ADVISORY_LOCK]);
  }
}
