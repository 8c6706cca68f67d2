import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import { type ConnectionLogger, ConnectionWatch, errorCode } from '#connection-watch';
import { PrismaClient } from './generated/client.js';
import { lockDataDir } from './data-dir-lock.js';
import { applyMigrations, migrationStatus, type MigrationStatus, type SqlRunner } from './migrations.js';
import { isDependencyUnavailable } from './unavailable.js';

export interface Database {
  readonly kind: 'postgresql' | 'embedded';
  readonly prisma: PrismaClient;
  /** Applies committed migrations; returns the names applied. */
  migrate(): Promise<string[]>;
  status(): Promise<MigrationStatus>;
  /**
   * One statement on the driver itself, not through Prisma; resolves to the rows it affected.
   * For bulk writes beside the request path (the decision log's batches): Prisma serialises a raw
   * query's parameters to JSON and parses them back, and its debug module keeps the arguments of
   * its last 100 calls even with debug output off (@prisma/debug `argsHistory`, for its crash
   * reports), so every batch document stayed reachable long enough to reach V8's old generation,
   * which only a full collection (a 40 ms pause in the bench) frees.
   */
  write(sql: string, params: readonly unknown[]): Promise<number>;
  /** Round trip to the database (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  databaseUrl?: string;
  /** Embedded mode: folder for PGlite's files; `memory://` keeps everything in memory (tests). */
  dataDir: string;
  /** Where a lost and restored PostgreSQL connection is logged (the embedded one cannot go away). */
  logger?: ConnectionLogger;
}

/** PostgreSQL when a URL is configured, otherwise embedded PostgreSQL (PGlite) in dataDir. */
export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  return options.databaseUrl ? openPostgres(options.databaseUrl, options.logger) : openEmbedded(options.dataDir);
}

/** How often the pool is probed with `SELECT 1`: while connected, and while the connection is lost. */
const POSTGRES_PROBE_MS = { connected: 5_000, lost: 1_000 } as const;

async function openPostgres(connectionString: string, logger: ConnectionLogger | undefined): Promise<Database> {
  const pool = new pg.Pool({ connectionString, max: 10, connectionTimeoutMillis: 5000 });
  const watch = watchPostgres(pool, logger, addressOf(connectionString));
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
  const withClient = async <T>(work: (runner: SqlRunner) => Promise<T>): Promise<T> => {
    const client = await pool.connect();
    try {
      return await work({
        exec: async (sql) => void (await client.query(sql)),
        query: async (sql, params) => (await client.query(sql, params as unknown[])).rows,
      });
    } finally {
      client.release();
    }
  };
  return {
    kind: 'postgresql',
    prisma,
    migrate: () => withClient((runner) => applyMigrations(runner, { advisoryLock: true })),
    status: () => withClient((runner) => migrationStatus(runner)),
    write: async (sql, params) => (await pool.query(sql, params as unknown[])).rowCount ?? 0,
    ping: async () => void (await pool.query('SELECT 1')),
    close: async () => {
      watch.stop();
      await prisma.$disconnect();
      await pool.end();
    },
  };
}

/**
 * Logs the pool losing PostgreSQL and getting it back. pg tells us some of it: an idle client
 * whose connection dies emits `error` on the pool (a PostgreSQL restart, pg_terminate_backend),
 * a query that failed releases its client with the error, and every new connection emits
 * `connect`. It does not tell us when opening a connection fails (the caller gets the error),
 * which is what happens once the pool has no client left; so a `SELECT 1` every few seconds
 * (more often while lost) notices the loss and the recovery even when nothing else runs. The
 * probe also keeps one connection open, so that a server going away is usually noticed at once.
 */
function watchPostgres(pool: pg.Pool, logger: ConnectionLogger | undefined, address: string | undefined): { stop(): void } {
  const watch = new ConnectionWatch('postgresql', 'pool', logger, address);
  // An idle client losing its connection must not crash the process (PostgreSQL restart).
  pool.on('error', (error) => watch.lost(errorCode(error)));
  pool.on('release', (error: Error | undefined) => {
    if (error && isDependencyUnavailable(error)) watch.lost(errorCode(error));
  });
  pool.on('connect', () => watch.restored());
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const probe = async () => {
    try {
      await pool.query('SELECT 1');
      watch.restored();
    } catch (error) {
      if (isDependencyUnavailable(error)) watch.lost(errorCode(error));
    }
    if (stopped) return;
    timer = setTimeout(probe, watch.isLost ? POSTGRES_PROBE_MS.lost : POSTGRES_PROBE_MS.connected);
    timer.unref();
  };
  timer = setTimeout(probe, POSTGRES_PROBE_MS.connected);
  timer.unref();
  return {
    stop: () => {
      stopped = true;
      clearTimeout(timer);
      watch.stop();
    },
  };
}

/** host:port/database of a connection string, for log lines (never the password). */
function addressOf(connectionString: string): string | undefined {
  try {
    const url = new URL(connectionString);
    return `${url.hostname}:${url.port || 5432}${url.pathname}`;
  } catch {
    return undefined;
  }
}

async function openEmbedded(dataDir: string): Promise<Database> {
  const inMemory = dataDir === 'memory://';
  const unlock = inMemory ? () => undefined : lockDataDir(dataDir);
  let pglite: PGlite;
  try {
    pglite = inMemory ? new PGlite() : new PGlite(join(dataDir, 'pgdata'));
    await pglite.waitReady;
  } catch (error) {
    unlock();
    throw error;
  }
  const prisma = new PrismaClient({ adapter: new PrismaPGlite(pglite) });
  const runner: SqlRunner = {
    exec: async (sql) => void (await pglite.exec(sql)),
    query: async (sql, params) => (await pglite.query(sql, params)).rows as any[],
  };
  return {
    kind: 'embedded',
    prisma,
    migrate: () => applyMigrations(runner, { advisoryLock: false }),
    status: () => migrationStatus(runner),
    // In a transaction of its own: PGlite is one connection, and a plain query could land inside
    // an interactive transaction Prisma has open on it; transaction() waits for that one to end.
    write: (sql, params) => pglite.transaction(async (tx) => (await tx.query(sql, params as unknown[])).affectedRows ?? 0),
    ping: async () => void (await pglite.query('SELECT 1')),
    close: async () => {
      await prisma.$disconnect();
      await pglite.close();
      unlock();
    },
  };
}
