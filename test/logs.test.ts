import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { JsonLogger } from '#operations';
import { type RunningTollgate, startTollgate } from '#test-support';
import { throwawayDatabase } from './support/postgres.js';
import { freePort, haveRedisServer, startRedisServer, stopProcess, waitFor } from './support/processes.js';

const MAIN = fileURLToPath(new URL('../apps/tollgate/src/main.js', import.meta.url));

type Entry = { time: string; level: string; message: string; context: string; [field: string]: unknown };

/** The real formatter, writing to an array instead of stdout. */
function capturingLogger() {
  const lines: string[] = [];
  const logger = new JsonLogger('debug', { write: (line) => lines.push(line) });
  const entries = () => lines.map((line) => JSON.parse(line) as Entry);
  const named = (message: string) => entries().filter((e) => e.message === message);
  return { logger, lines, entries, named };
}

const isIsoUtc = (time: string) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/.test(time) && !Number.isNaN(Date.parse(time));

describe('the server process logs one JSON object per line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-logs-'));
  let child: ChildProcess | undefined;
  after(async () => {
    if (child) await stopProcess(child, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('prints `tollgate listening` as {"time","level":"info","message","context",…fields}, and every other line the same way', async () => {
    const port = await freePort();
    child = spawn(process.execPath, [MAIN], {
      env: {
        ...process.env,
        DATABASE_URL: '',
        REDIS_URL: '',
        TOLLGATE_DATA_DIR: dir,
        PORT: String(port),
        HOST: '127.0.0.1',
        TOLLGATE_LOG_LEVEL: 'info',
        // A configured admin token: the generated one is printed as plain text (documented).
        TOLLGATE_ADMIN_TOKEN: randomBytes(32).toString('base64url'),
      },
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let stdout = '';
    child.stdout!.on('data', (chunk) => (stdout += chunk));
    const lines = () => stdout.split('\n').filter(Boolean);
    await waitFor(async () => stdout.includes('"tollgate listening"'), () => `no listening line:\n${stdout}`, 600, 100);
    child.kill('SIGTERM');
    await new Promise((resolve) => child!.once('exit', resolve));
    assert.equal(child.exitCode, 0, stdout);

    const entries = lines().map((line) => {
      const entry = (() => {
        try {
          return JSON.parse(line) as Entry;
        } catch {
          return assert.fail(`not JSON: ${line}`);
        }
      })();
      assert.ok(isIsoUtc(entry.time), line);
      assert.ok(['debug', 'info', 'warn', 'error'].includes(entry.level), line);
      assert.equal(typeof entry.message, 'string', line);
      assert.equal(typeof entry.context, 'string', line);
      assert.deepEqual(Object.keys(entry).slice(0, 4), ['time', 'level', 'message', 'context'], line);
      return entry;
    });
    const listening = entries.find((e) => e.message === 'tollgate listening')!;
    assert.equal(listening.level, 'info');
    assert.equal(listening.context, 'tollgate');
    assert.equal(listening.port, port);
    assert.equal(listening.hot_state, 'memory');
    assert.match(String(listening.database), /^embedded/);
    // Nest's own messages take the same shape, with Nest's context.
    assert.ok(entries.some((e) => e.context === 'NestFactory' && e.level === 'info'), 'Nest logs through the same logger');
    assert.ok(entries.some((e) => e.message === 'shutting down' && e.signal === 'SIGTERM'));
  });
});

describe('Redis going away and coming back is logged', { skip: !haveRedisServer() && 'needs redis-server' }, () => {
  it('warns `redis connection lost` once per connection, and logs `redis connection restored` with the downtime', async () => {
    const port = await freePort();
    const password = `pw-${randomBytes(8).toString('hex')}`;
    const args = ['--requirepass', password];
    let redis = await startRedisServer(port, args);
    const log = capturingLogger();
    let server: RunningTollgate | undefined;
    const connections = ['hot-state', 'hot-state-subscriber', 'risk-state'];
    const of = (message: string) => log.named(message).map((e) => e.connection).sort();
    try {
      server = await startTollgate({ REDIS_URL: `redis://:${password}@127.0.0.1:${port}` }, { logger: log.logger });
      assert.deepEqual(of('redis connection lost'), []);

      await stopProcess(redis, 'SIGKILL');
      const downAt = Date.now();
      await waitFor(async () => of('redis connection lost').length === 3, () => `no lost lines:\n${log.lines.join('\n')}`, 100, 100);
      // ioredis keeps retrying meanwhile: still one line per connection.
      await sleep(2000);
      assert.deepEqual(of('redis connection lost'), connections.slice().sort());
      for (const lost of log.named('redis connection lost')) {
        assert.equal(lost.level, 'warn');
        assert.equal(lost.context, 'redis');
        assert.equal(lost.address, `127.0.0.1:${port}`);
        assert.match(String(lost.error), /^(ECONNRESET|ECONNREFUSED)$/, 'the socket reset, or the server refusing the first retry');
      }
      assert.deepEqual(of('redis connection restored'), []);

      redis = await startRedisServer(port, args);
      await waitFor(async () => of('redis connection restored').length === 3, () => `no restored lines:\n${log.lines.join('\n')}`, 100, 100);
      const upAt = Date.now();
      assert.deepEqual(of('redis connection restored'), connections.slice().sort());
      for (const restored of log.named('redis connection restored')) {
        assert.equal(restored.level, 'info');
        const downtime = restored.downtime_ms as number;
        assert.ok(downtime >= 2000 && downtime <= upAt - downAt + 100, `downtime ${downtime} ms`);
      }
      assert.ok(!log.lines.some((line) => line.includes(password)), 'no password in the logs');
    } finally {
      await server?.close();
      await stopProcess(redis, 'SIGKILL');
    }
    // Closing the server is not an outage.
    assert.equal(log.named('redis connection lost').length, 3);
  });
});

describe('PostgreSQL going away and coming back is logged', { skip: !process.env.DATABASE_URL && 'needs DATABASE_URL (a PostgreSQL server to take away)' }, () => {
  it('warns `postgresql connection lost` once, and logs `postgresql connection restored` with the downtime', async () => {
    const db = await throwawayDatabase(`tollgate_logs_${process.pid}`);
    const log = capturingLogger();
    const server = await startTollgate({ DATABASE_URL: db.url }, { logger: log.logger });
    try {
      assert.equal(log.named('postgresql connection lost').length, 0);
      await db.takeAway();
      const downAt = Date.now();
      await waitFor(async () => log.named('postgresql connection lost').length > 0, () => `no lost line:\n${log.lines.join('\n')}`, 100, 100);
      // Requests fail meanwhile (503) and the probe keeps failing: still one line.
      await fetch(`${server.url}/readyz`);
      await fetch(`${server.url}/admin/clients`, { headers: { authorization: server.admin } });
      await sleep(2500);
      const [lost, ...more] = log.named('postgresql connection lost');
      assert.equal(more.length, 0, log.lines.join('\n'));
      assert.equal(lost!.level, 'warn');
      assert.equal(lost!.context, 'postgresql');
      assert.equal(lost!.connection, 'pool');
      assert.match(String(lost!.address), new RegExp(`/tollgate_logs_${process.pid}$`));
      // 57P01: terminated by an administrator; 55000: the database does not accept connections.
      assert.match(String(lost!.error), /^(57P01|55000)$/);
      assert.equal(log.named('postgresql connection restored').length, 0);

      await db.giveBack();
      await waitFor(async () => log.named('postgresql connection restored').length > 0, () => `no restored line:\n${log.lines.join('\n')}`, 100, 100);
      const [restored, ...again] = log.named('postgresql connection restored');
      assert.equal(again.length, 0);
      assert.equal(restored!.level, 'info');
      assert.ok((restored!.downtime_ms as number) >= 2500 && (restored!.downtime_ms as number) <= Date.now() - downAt + 100);
      assert.equal((await fetch(`${server.url}/readyz`)).status, 200);
    } finally {
      await server.close();
      await db.drop();
    }
    assert.equal(log.named('postgresql connection lost').length, 1, 'closing the server is not an outage');
  });
});
