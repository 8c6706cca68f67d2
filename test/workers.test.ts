// Issue 10 §3: TOLLGATE_WORKERS runs several Tollgate workers behind one port; what one worker
// refused, no other accepts. Real processes, real PostgreSQL and Redis.
import assert from 'node:assert/strict';
import { type ChildProcess, spawnSync } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { registerGateway, type RunningTollgate, type RunningWorkers, startWorkers, Workload } from '#test-support';
import { waitFor } from './support/processes.js';

const MAIN = fileURLToPath(new URL('../apps/tollgate/src/main.js', import.meta.url));
const shared = Boolean(process.env.DATABASE_URL && process.env.REDIS_URL);

/** A request on a connection of its own, so that the primary hands it to the next worker. */
function fresh(url: string, headers: Record<string, string>): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('TOLLGATE_WORKERS: several workers behind one port', { skip: !shared && 'needs DATABASE_URL and REDIS_URL' }, () => {
  let primary: ChildProcess;
  let server: RunningTollgate;
  let listening: RunningWorkers['listening'];

  before(async () => {
    ({ primary, server, listening } = await startWorkers());
  });
  after(async () => {
    if (primary && primary.exitCode === null) {
      primary.kill('SIGKILL');
      spawnSync('pkill', ['-KILL', '-P', String(primary.pid)]);
    }
  });

  it('two workers, each its own process, serve the one port', () => {
    const pids = new Set(listening().map((l) => l.pid));
    assert.equal(pids.size, 2);
    assert.ok(!pids.has(primary.pid!));
  });

  it('a DPoP proof used at one worker is refused at every other; /metrics counts every worker', async () => {
    const w = await Workload.register(server);
    const gw = await registerGateway(server);
    const token = await w.token();
    const target = 'https://api.example.test/orders/1';
    const headers = {
      'x-gateway-authorization': gw.basic,
      'x-original-method': 'GET',
      'x-original-url': target,
      authorization: `DPoP ${token}`,
      dpop: await w.proof('GET', target, { accessToken: token }),
    };
    const first = await fresh(`${server.url}/check`, headers);
    assert.equal(first.status, 200, JSON.stringify(first.body));
    const replays = await Promise.all(Array.from({ length: 6 }, () => fresh(`${server.url}/check`, headers)));
    for (const r of replays) {
      assert.equal(r.status, 401);
      assert.equal(r.body.error, 'invalid_dpop_proof');
    }
    const metrics = await new Promise<string>((resolve) => http.get(`${server.url}/metrics`, { agent: false }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve(text));
    }));
    const count = (decision: string) => Number(/(\d+)$/.exec(metrics.split('\n').find((l) => l.startsWith(`tollgate_decisions_total{kind="check",decision="${decision}"}`)) ?? '')?.[1] ?? 0);
    assert.equal(count('allow'), 1, 'the one allow, wherever it was made');
    assert.equal(count('invalid'), 6, 'every replay, at whichever worker');
  });

  it('a worker that dies is replaced; SIGTERM stops them all', async () => {
    const [one] = listening();
    process.kill(one!.pid, 'SIGKILL');
    await waitFor(async () => listening().length === 3, () => `no replacement: ${JSON.stringify(listening())}`, 100, 100);
    assert.equal((await fresh(`${server.url}/healthz`, {})).status, 200);
    const exited = new Promise<number | null>((resolve) => primary.once('exit', (code) => resolve(code)));
    primary.kill('SIGTERM');
    assert.equal(await exited, 0);
    for (const l of listening()) assert.throws(() => process.kill(l.pid, 0), 'every worker is gone');
  });
});

describe('TOLLGATE_WORKERS configuration', () => {
  it('refuses more than one worker on the embedded database (it serves one process)', () => {
    const run = spawnSync(process.execPath, [MAIN], { env: { ...process.env, DATABASE_URL: '', REDIS_URL: '', TOLLGATE_WORKERS: '2' }, encoding: 'utf8' });
    assert.equal(run.status, 2);
    assert.match(run.stderr, /TOLLGATE_WORKERS above 1 needs DATABASE_URL and REDIS_URL/);
  });
});
