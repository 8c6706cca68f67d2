import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import { PrismaClient } from './generated/client.js';
import { lockDataDir } from './data-dir-lock.js';
import { applyMigrations, migrationStatus, type MigrationStatus, type SqlRunner } from './migrations.js';

export interface Database {
  readonly kind: 'postgresql' | 'embedded';
  readonly prisma: PrismaClient;
  /** Applies committed migrations; returns the names applied. */
  migrate(): Promise<string[]>;
  status(): Promise<MigrationStatus>;
  /** Round trip to the database (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  databaseUrl?: string;
  /** Embedded mode: folder for PGlite's files; `memory://` keeps everything in memory (tests). */
  dataDir: string;
}

/** PostgreSQL when a URL is configured, otherwise embedded PostgreSQL (PGlite) in dataDir. */
export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  return options.databaseUrl ? openPostgres(options.databaseUrl) : openEmbedded(options.dataDir);
}

async function openPostgres(connectionString: string): Promise<Database> {
  const pool = new pg.Pool({ connectionString, max: 10, connectionTimeoutMillis: 5000 });
  // An idle client losing its connection must not crash the process (PostgreSQL restart).
  pool.on('error', () => undefined);
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
    ping: async () => void (await pool.query('SELECT 1')),
    close: async () => {
      await prisma.$disconnect();
      await pool.end();
    },
  };
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
    ping: async () => void (await pglite.query('SELECT 1')),
    close: async () => {
      await prisma.$disconnect();
      await pglite.close();
      unlock();
    },
  };
}
