import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import request from 'supertest';
import { freePort, registerGateway, type RunningTollgate, startTollgate, Workload } from '#test-support';
import { stopProcess, waitFor } from './support/processes.js';

// Issue 9 §4: an answered decision must not be lost when the process dies. A real server
// process, many /check calls, `kill -9` right after the last answer, a restart on the same
// database, then every answered decision id is looked up in GET /admin/decisions.

const MAIN = fileURLToPath(new URL('../apps/tollgate/src/main.js', import.meta.url));
const API = 'https://api.example.test';
const OUTSIDE = '203.0.113.10';
const ADMIN_TOKEN = randomBytes(32).toString('base64url');
const KEK = process.env.TOLLGATE_KEY_ENCRYPTION_KEY ?? Buffer.alloc(32, 7).toString('base64url');
/** Requests in flight: enough that the server queues decisions while answering others. */
const LANES = 16;

type Backend = { name: 'embedded'; dataDir: string } | { name: 'postgresql'; databaseUrl: string };

interface Answer {
  id: string;
  decision: string;
  /** performance.now() when the answer arrived. */
  at: number;
}

class ServerProcess {
  child?: ChildProcess;
  url = '';

  constructor(private readonly backend: Backend, private readonly env: Record<string, string> = {}) {}

  get tollgate(): RunningTollgate {
    return { url: this.url, issuer: this.url, admin: `Bearer ${ADMIN_TOKEN}`, adminToken: ADMIN_TOKEN } as RunningTollgate;
  }

  async start(): Promise<void> {
    const port = await freePort();
    this.url = `http://127.0.0.1:${port}`;
    // Only what this server is told: no DATABASE_URL/REDIS_URL leaking into the embedded run.
    const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(DATABASE_URL|REDIS_URL|TOLLGATE_|PORT$|HOST$)/.test(k)));
    const env: Record<string, string | undefined> = {
      ...inherited,
      PORT: String(port),
      HOST: '127.0.0.1',
      TOLLGATE_ISSUER: this.url,
      TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN,
      TOLLGATE_KEY_ENCRYPTION_KEY: KEK,
      TOLLGATE_LOG_LEVEL: 'warn',
      ...(this.backend.name === 'embedded'
        ? { TOLLGATE_DATA_DIR: this.backend.dataDir }
        : { DATABASE_URL: this.backend.databaseUrl, REDIS_URL: process.env.REDIS_URL }),
      ...this.env,
    };
    this.child = spawn(process.execPath, [MAIN], { env, stdio: ['ignore', 'ignore', 'inherit'] });
    const ready = async () => (await fetch(`${this.url}/readyz`)).status === 200;
    await waitFor(ready, `the server on ${this.url} did not become ready`, 300, 100);
  }

  /** SIGKILL: nothing runs in the process after it (no shutdown hook, no last flush). */
  kill(): Promise<void> {
    return this.child ? stopProcess(this.child, 'SIGKILL') : Promise.resolve();
  }

  stop(): Promise<void> {
    return this.child ? stopProcess(this.child) : Promise.resolve();
  }
}

/** Runs `count` jobs with at most LANES in flight. */
async function lanes(count: number, job: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: LANES }, async () => {
    while (next < count) await job(next++);
  }));
}

/** Every decision id the log holds from `since` on (GET /admin/decisions, paged). */
async function storedIds(server: ServerProcess, since: Date): Promise<Set<string>> {
  const ids = new Set<string>();
  let cursor: string | undefined;
  do {
    const res = await request(server.url)
      .get('/admin/decisions')
      .query({ since: since.toISOString(), limit: '200', ...(cursor ? { cursor } : {}) })
      .set('Authorization', `Bearer ${ADMIN_TOKEN}`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    for (const d of res.body.decisions as { decision_id: string }[]) ids.add(d.decision_id);
    cursor = res.body.next_cursor ?? undefined;
  } while (cursor);
  return ids;
}

/**
 * Calls of three kinds, interleaved: `invalid` (a registered gateway, a token that is no token),
 * `deny` (a valid token from outside the client's allowed_networks) and `allow`. Then kill -9
 * right after the last answer, restart on the same database, and look every answer up.
 */
async function crashAfterCalls(backend: Backend, env: Record<string, string>, calls: { invalid: number; deny: number; allow: number }) {
  const server = new ServerProcess(backend, env);
  await server.start();
  let killed = false;
  try {
    const gateway = await registerGateway(server.tollgate);
    const allowed = await Workload.register(server.tollgate, { allowed_resources: [`${API}/`] });
    const denied = await Workload.register(server.tollgate, { allowed_resources: [`${API}/`] });
    const [allowToken, denyToken] = [await allowed.token(), await denied.token()];
    await request(server.url).put(`/admin/clients/${denied.clientId}/policy`).set('Authorization', `Bearer ${ADMIN_TOKEN}`)
      .send({ allowed_networks: ['10.0.0.0/8'] }).expect(200);
    // Decisions carry the server's clock, which is this machine's; a second of margin.
    const since = new Date(Date.now() - 1000);

    const plan: ('invalid' | 'deny' | 'allow')[] = [];
    const left = { ...calls };
    const total = calls.invalid + calls.deny + calls.allow;
    for (let i = 0; i < total; i++) {
      // Spread each kind over the whole run, so that the last answers before the kill are mixed.
      const kind = (['invalid', 'deny', 'allow'] as const)
        .filter((k) => left[k] > 0)
        .sort((a, b) => left[b] / calls[b] - left[a] / calls[a])[0]!;
      left[kind]--;
      plan.push(kind);
    }
    const answers: Answer[] = [];
    const unexpected: string[] = [];
    const started = performance.now();
    await lanes(plan.length, async (i) => {
      const kind = plan[i]!;
      const target = `${API}/orders/${i}`;
      const headers: Record<string, string> = {
        'x-gateway-authorization': gateway.basic,
        'x-original-method': 'GET',
        'x-original-url': target,
        'x-real-ip': OUTSIDE,
      };
      if (kind === 'invalid') headers.authorization = `DPoP not-a-token-${i}`;
      else {
        const [w, token] = kind === 'allow' ? [allowed, allowToken] : [denied, denyToken];
        headers.authorization = `DPoP ${token}`;
        headers.dpop = await w.proof('GET', target, { accessToken: token });
      }
      const res = await fetch(`${server.url}/check`, { headers });
      const body = (await res.json()) as { decision?: string; decision_id?: string };
      const at = performance.now();
      if (body.decision !== kind || typeof body.decision_id !== 'string') unexpected.push(`${kind}: ${res.status} ${JSON.stringify(body)}`);
      if (typeof body.decision_id === 'string') answers.push({ id: body.decision_id, decision: String(body.decision), at });
    });
    const killedAt = performance.now();
    await server.kill();
    const seconds = (killedAt - started) / 1000;
    killed = true;
    assert.deepEqual(unexpected.slice(0, 3), [], 'every call got the answer its kind calls for');

    await server.start();
    const stored = await storedIds(server, since);
    await server.stop();
    const lost = answers.filter((a) => !stored.has(a.id)).map((a) => ({ ...a, msBeforeKill: killedAt - a.at }));
    return { answers, lost, rate: `${total} calls in ${seconds.toFixed(1)} s (${(total / seconds).toFixed(0)}/s, ${LANES} in flight)` };
  } finally {
    if (!killed) await server.kill();
    else await server.stop();
  }
}

function summary(answers: Answer[], lost: (Answer & { msBeforeKill: number })[], decisions: string[]): string {
  const of = answers.filter((a) => decisions.includes(a.decision)).length;
  const gone = lost.filter((a) => decisions.includes(a.decision));
  const ages = gone.map((a) => a.msBeforeKill);
  return `${decisions.join('/')}: ${gone.length} of ${of} answered lost` +
    (gone.length ? `, answered ${Math.min(...ages).toFixed(0)}–${Math.max(...ages).toFixed(0)} ms before the kill` : '');
}

/**
 * A batched allow waits at most the flush interval (250 ms) plus one insert before it is
 * written; seconds of margin for a loaded machine. Whatever was answered before that is stored.
 */
function assertWithinWindow(lost: (Answer & { msBeforeKill: number })[]): void {
  const late = lost.filter((a) => a.msBeforeKill > 3000);
  assert.deepEqual(late.map((a) => `${a.decision} ${a.id} ${a.msBeforeKill.toFixed(0)} ms`), [], 'allows answered well before the kill are stored');
}

const refusals = (lost: Answer[]) => lost.filter((a) => a.decision !== 'allow').map((a) => `${a.decision} ${a.id}`);

function suite(name: Backend['name'], backend: () => Backend, skip: string | false) {
  describe(`answered decisions survive kill -9 (${name})`, { skip }, () => {
    it('default durability: every answered refusal is stored; allows are lost only within the batching window', async (t: TestContext) => {
      const { answers, lost, rate } = await crashAfterCalls(backend(), {}, { invalid: 1200, deny: 300, allow: 300 });
      t.diagnostic(rate);
      t.diagnostic(summary(answers, lost, ['invalid', 'deny', 'step_up']));
      t.diagnostic(summary(answers, lost, ['allow']));
      assert.deepEqual(refusals(lost), [], 'no answered refusal is lost');
      assertWithinWindow(lost);
    });

    it('default durability, allows only: the loss is bounded by the batching window (measured)', async (t: TestContext) => {
      // No refusal to carry them into an insert early: what the 250 ms batching alone loses.
      const { answers, lost, rate } = await crashAfterCalls(backend(), {}, { invalid: 0, deny: 0, allow: 600 });
      t.diagnostic(rate);
      t.diagnostic(summary(answers, lost, ['allow']));
      assertWithinWindow(lost);
    });

    it('TOLLGATE_DECISION_DURABILITY=all: every answered decision is stored, allows included', async (t: TestContext) => {
      const { answers, lost, rate } = await crashAfterCalls(backend(), { TOLLGATE_DECISION_DURABILITY: 'all' }, { invalid: 300, deny: 150, allow: 600 });
      t.diagnostic(rate);
      t.diagnostic(summary(answers, lost, ['allow', 'invalid', 'deny', 'step_up']));
      assert.deepEqual(lost.map((a) => `${a.decision} ${a.id}`), [], 'no answered decision is lost');
    });
  });
}

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

suite('embedded', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tollgate-durability-'));
  dirs.push(dataDir);
  return { name: 'embedded', dataDir };
}, false);
suite('postgresql', () => ({ name: 'postgresql', databaseUrl: process.env.DATABASE_URL! }), !process.env.DATABASE_URL && 'needs DATABASE_URL');

describe('database unreachable (PostgreSQL)', { skip: !process.env.DATABASE_URL && 'needs DATABASE_URL (a PostgreSQL server to take away)' }, () => {
  it('a refusal is answered 503 temporarily_unavailable with Retry-After, not as recorded; it is written once the database is back', async () => {
    const { default: pg } = await import('pg');
    const name = `tollgate_dl_outage_${process.pid}`;
    const adminUrl = new URL(process.env.DATABASE_URL!);
    adminUrl.pathname = '/postgres';
    const admin = new pg.Client({ connectionString: adminUrl.toString() });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${name}`);
    const url = new URL(process.env.DATABASE_URL!);
    url.pathname = `/${name}`;
    const server = await startTollgate({ DATABASE_URL: url.toString() });
    try {
      const gateway = await registerGateway(server);
      const w = await Workload.register(server, { allowed_resources: [`${API}/`] });
      const token = await w.token();
      const route = `/orders/outage-${randomBytes(4).toString('hex')}`;
      const check = async (authorization: string, dpop?: string) =>
        request(server.url).get('/check').set('X-Gateway-Authorization', gateway.basic).set('X-Original-Method', 'GET')
          .set('X-Original-URL', `${API}${route}`).set('X-Real-IP', OUTSIDE).set('Authorization', authorization).set(dpop ? { DPoP: dpop } : {});
      // Warms the gateway's cached credential check: the check path itself needs no database.
      assert.equal((await check('DPoP not-a-token')).status, 401);
      const since = new Date(Date.now() - 1000);

      await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS false`);
      await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, [name]);
      const started = Date.now();
      const refused = await check('DPoP still-not-a-token');
      const waited = Date.now() - started;
      assert.equal(refused.status, 503, JSON.stringify(refused.body));
      assert.equal(refused.body.error, 'temporarily_unavailable');
      assert.ok(Number(refused.headers['retry-after']) > 0, 'Retry-After');
      assert.equal(refused.body.decision_id, undefined, 'no decision is answered');
      assert.ok(waited < 10_000, `answered after ${waited} ms, not held until the database returns`);
      // An allow is batched: it is still answered while the database is away (and queued).
      const allowed = await check(`DPoP ${token}`, await w.proof('GET', `${API}${route}`, { accessToken: token }));
      assert.equal(allowed.status, 200, JSON.stringify(allowed.body));

      await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`);
      const stored = await request(server.url).get('/admin/decisions').query({ since: since.toISOString() }).set('Authorization', server.admin);
      assert.equal(stored.status, 200, JSON.stringify(stored.body));
      const here = (stored.body.decisions as { decision: string; route: string; decision_id: string }[]).filter((d) => d.route === route);
      assert.deepEqual(here.map((d) => d.decision).sort(), ['allow', 'invalid', 'invalid'], 'the refusal answered 503 was kept and written');
      assert.ok(here.some((d) => d.decision_id === allowed.body.decision_id));
    } finally {
      await server.close();
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    }
  });
});
