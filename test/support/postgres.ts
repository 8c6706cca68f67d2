import pg from 'pg';

/** A database of its own on the DATABASE_URL server, which a test can take away and give back. */
export interface ThrowawayDatabase {
  /** DATABASE_URL for it. */
  url: string;
  /** Refuses new connections and ends the open ones (what a PostgreSQL outage looks like to the pool). */
  takeAway(): Promise<void>;
  giveBack(): Promise<void>;
  /** Drops it (forcing out whoever is still connected) and closes the admin connection. */
  drop(): Promise<void>;
}

/** Creates an empty database `name` next to DATABASE_URL's; the caller must drop() it. */
export async function throwawayDatabase(name: string): Promise<ThrowawayDatabase> {
  const base = new URL(process.env.DATABASE_URL!);
  const adminUrl = new URL(base);
  adminUrl.pathname = '/postgres';
  const admin = new pg.Client({ connectionString: adminUrl.toString() });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(base);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    takeAway: async () => {
      await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS false`);
      await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, [name]);
    },
    giveBack: async () => void (await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`)),
    drop: async () => {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    },
  };
}
