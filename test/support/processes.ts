import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** A loopback port nobody listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Waits until `ready()` holds, polling every `intervalMs`; throws `what` (or what it returns then) when it never does. */
export async function waitFor(ready: () => Promise<boolean>, what: string | (() => string), attempts = 100, intervalMs = 50): Promise<void> {
  for (let i = 0; i < attempts; i++) {
    if (await ready().catch(() => false)) return;
    await sleep(intervalMs);
  }
  throw new Error(typeof what === 'function' ? what() : what);
}

/** True once something answers HTTP at the URL (any status). */
export const answersHttp = (url: string) => async () => (await fetch(url), true);

/** Sends `signal` and resolves when the process has exited. */
export async function stopProcess(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}

/** A private redis-server on `port`, without persistence (as on the project's machines). */
export async function startRedisServer(port: number, args: string[] = []): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...args], { stdio: 'ignore' });
  const auth = args.includes('--requirepass') ? ['-a', args[args.indexOf('--requirepass') + 1]!, '--no-auth-warning'] : [];
  const pong = async () => spawnSync('redis-cli', ['-p', String(port), ...auth, 'ping']).stdout?.toString().includes('PONG') ?? false;
  await waitFor(pong, 'redis did not start', 50, 100);
  return child;
}

/** True when redis-server is installed (the suites that start their own skip otherwise). */
export const haveRedisServer = () => spawnSync('redis-server', ['--version']).status === 0;
