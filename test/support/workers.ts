import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { freePort, waitFor } from './processes.js';
import type { RunningTollgate } from './server.js';

const MAIN = fileURLToPath(new URL('../../apps/tollgate/src/main.js', import.meta.url));

/** A real `main.js` started with TOLLGATE_WORKERS=2, once both workers said they listen. */
export interface RunningWorkers {
  primary: ChildProcess;
  /** Its address and admin token, as a RunningTollgate (no in-process app: `tollgate` is absent). */
  server: RunningTollgate;
  /** The "tollgate listening" log lines so far, one per worker. */
  listening(): { pid: number; grpc_port?: number }[];
}

/** Starts the primary with two workers on a free port (DATABASE_URL and REDIS_URL from the environment), plus `env`. */
export async function startWorkers(env: Record<string, string> = {}): Promise<RunningWorkers> {
  const port = await freePort();
  const adminToken = randomBytes(32).toString('base64url');
  const primary = spawn(process.execPath, [MAIN], {
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      TOLLGATE_ISSUER: `http://127.0.0.1:${port}`,
      TOLLGATE_WORKERS: '2',
      TOLLGATE_ADMIN_TOKEN: adminToken,
      TOLLGATE_KEY_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64url'),
      TOLLGATE_LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  let stdout = '';
  primary.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  const listening = () => stdout.split('\n').filter((l) => l.includes('"tollgate listening"')).map((l) => JSON.parse(l) as { pid: number; grpc_port?: number });
  await waitFor(async () => listening().length === 2, () => `workers did not start:\n${stdout}`, 600, 100);
  const url = `http://127.0.0.1:${port}`;
  return { primary, listening, server: { url, issuer: url, adminToken, admin: `Bearer ${adminToken}` } as RunningTollgate };
}
