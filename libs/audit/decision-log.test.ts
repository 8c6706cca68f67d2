import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Metrics } from '#operations';
import { type Database, isDependencyUnavailable, openDatabase } from '#persistence';
import { DecisionLog, type DecisionEntry, type DecisionLogOptions, DecisionNotRecorded } from './decision-log.js';

// Against the real database (PostgreSQL with DATABASE_URL, else embedded in memory). The only
// thing interposed is a pass-through on the batch insert (Database.write) that records each statement
// and, when asked, fails like an unreachable database or holds the insert until released — the
// writes that succeed are real inserts.

const run = `dl-unit-${randomBytes(4).toString('hex')}`;
let db: Database;
let seq = 0;

before(async () => {
  db = await openDatabase({ databaseUrl: process.env.DATABASE_URL, dataDir: 'memory://' });
  await db.migrate();
});

after(async () => {
  await db?.prisma.decision.deleteMany({ where: { clientId: { startsWith: run } } });
  await db?.close();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition: () => Promise<boolean> | boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(20);
  }
}

function harness(options: Partial<DecisionLogOptions> = {}) {
  const clientId = `${run}-${++seq}`;
  const batches: string[][] = [];
  const state = { failing: 0, loseAcks: 0, attempts: 0, refuse: '', hold: undefined as Promise<void> | undefined };
  const unreachable = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
  const observed = {
    ...db,
    // The batch insert: its one parameter is the batch as a JSON array of rows.
    write: async (sql: string, params: readonly unknown[]) => {
      const ids = (JSON.parse(params[0] as string) as { id: string }[]).map((row) => row.id);
      state.attempts++;
      if (state.hold) await state.hold;
      if (state.failing > 0) {
        state.failing--;
        throw unreachable();
      }
      // The database is up but will never take this row (as PostgreSQL refuses some values).
      if (state.refuse && ids.some((id) => id.endsWith(state.refuse))) {
        throw Object.assign(new Error('invalid input value for this row'), { code: '22P02' });
      }
      const result = await db.write(sql, params);
      batches.push(ids);
      // Committed, but the acknowledgement is lost on the way back.
      if (state.loseAcks > 0) {
        state.loseAcks--;
        throw unreachable();
      }
      return result;
    },
    prisma: {
      decision: {
        findMany: (args: unknown) => db.prisma.decision.findMany(args as never),
      },
    },
  } as unknown as Database;
  const logged: { level: string; message: Record<string, unknown> }[] = [];
  const logger = {
    log: () => undefined,
    warn: (message: Record<string, unknown>) => void logged.push({ level: 'warn', message }),
    error: (message: Record<string, unknown>) => void logged.push({ level: 'error', message }),
  };
  const metrics = new Metrics();
  const log = new DecisionLog(observed, metrics, { logger, ...options });
  let n = 0;
  const entry = (extra: Partial<DecisionEntry> = {}): DecisionEntry => ({
    id: `${clientId}-${++n}`,
    at: new Date(),
    kind: 'check',
    clientId,
    method: 'GET',
    route: '/orders/**',
    decision: 'allow',
    score: 10,
    reasons: [{ code: 'new_route', score: 10 }],
    ip: '203.0.113.7',
    ...extra,
  });
  const stored = () => db.prisma.decision.count({ where: { clientId } });
  const storedIds = async () => (await db.prisma.decision.findMany({ where: { clientId }, select: { id: true } })).map((r) => r.id).sort();
  const metric = async (line: RegExp) => {
    const text = await metrics.render();
    const m = new RegExp(`^${line.source} (\\S+)$`, 'm').exec(text);
    return m ? Number(m[1]) : undefined;
  };
  const warnings = (pattern: RegExp) => logged.filter((l) => pattern.test(String(l.message.message)));
  return { log, state, batches, entry, stored, storedIds, metric, warnings, logged, clientId };
}

describe('DecisionLog', () => {
  it('returns from record() at once; the timer writes what is queued in one batch', async () => {
    const h = harness();
    const started = Date.now();
    for (let i = 0; i < 3; i++) assert.equal(await h.log.record(h.entry()), undefined);
    assert.equal(h.log.pending, 3);
    assert.equal(h.state.attempts, 0, 'nothing reaches the database on the caller’s path');
    await until(async () => (await h.stored()) === 3);
    assert.ok(Date.now() - started >= 200, 'written by the 250 ms timer');
    assert.deepEqual(h.batches.map((b) => b.length), [3]);
    assert.equal(h.log.pending, 0);
  });

  it('writes at once when 500 are queued, one insert per batch of at most 500', async () => {
    const h = harness({ flushIntervalMs: 60_000, statementChars: 10_000_000 });
    for (let i = 0; i < 1100; i++) h.log.record(h.entry());
    await until(() => h.batches.length === 2);
    await sleep(100);
    assert.deepEqual(h.batches.map((b) => b.length), [500, 500], 'the last 100 wait for the timer');
    assert.equal(h.log.pending, 100);
    await h.log.flush();
    assert.deepEqual(h.batches.map((b) => b.length), [500, 500, 100]);
    assert.equal(await h.stored(), 1100);
    assert.equal(new Set(h.batches.flat()).size, 1100, 'each entry written once');
  });

  it('a batch larger than statementChars goes in several statements, each within it, every entry once', async () => {
    const h = harness({ flushIntervalMs: 60_000, statementChars: 4096 });
    for (let i = 0; i < 300; i++) h.log.record(h.entry({ context: { v: 1, filler: 'x'.repeat(100) } }));
    await h.log.flush();
    assert.ok(h.batches.length > 1, `${h.batches.length} statements`);
    const rowChars = JSON.stringify({ id: `${h.clientId}-1`, filler: 'x'.repeat(100) }).length;
    for (const b of h.batches) assert.ok(b.length * rowChars <= 4096 + rowChars * 4, `${b.length} rows in one statement`);
    assert.equal(await h.stored(), 300);
    assert.equal(new Set(h.batches.flat()).size, 300, 'each entry written once');
  });

  it('flush() writes everything recorded before it, with every field', async () => {
    const h = harness({ flushIntervalMs: 60_000 });
    const at = new Date('2026-11-23T21:00:00.123Z');
    const identity = { issuer: 'https://token.actions.githubusercontent.com', subject: 'repo:octo-org/app:environment:prod', claims: { ref: 'refs/heads/main' } };
    h.log.record(h.entry({ at, kind: 'issuance', decision: 'step_up', score: 41.6, reasons: [{ code: 'new_network', score: 25, detail: '198.51.100.0/24' }, { code: 'unusual_scope', score: 16.6 }], identity, requestId: 'req-7f3a', context: { v: 1, kind: 'issuance', scopes: ['orders:read'], state: { learning: true } } }));
    for (let i = 0; i < 6; i++) h.log.record(h.entry());
    await h.log.flush();
    assert.equal(await h.stored(), 7);
    const row = await db.prisma.decision.findUniqueOrThrow({ where: { id: `${h.clientId}-1` } });
    assert.deepEqual(
      { ...row, reasons: row.reasons },
      {
        id: `${h.clientId}-1`,
        at,
        kind: 'issuance',
        clientId: h.clientId,
        method: 'GET',
        route: '/orders/**',
        decision: 'step_up',
        score: 42,
        reasons: [{ code: 'new_network', score: 25, detail: '198.51.100.0/24' }, { code: 'unusual_scope', score: 16.6 }],
        ip: '203.0.113.7',
        requestId: 'req-7f3a',
        identity: { issuer: 'https://token.actions.githubusercontent.com', subject: 'repo:octo-org/app:environment:prod', claims: { ref: 'refs/heads/main' } },
        context: { v: 1, kind: 'issuance', scopes: ['orders:read'], state: { learning: true } },
      },
    );
    const other = await db.prisma.decision.findUniqueOrThrow({ where: { id: `${h.clientId}-2` } });
    assert.equal(other.identity, null);
    assert.equal(other.context, null);
  });

  it('keeps only the documented fields (nothing else a caller attaches is stored)', async () => {
    const h = harness({ flushIntervalMs: 60_000 });
    const entry = { ...h.entry(), access_token: 'eyJ.secret', reasons: [{ code: 'new_dpop_key', score: 30, proof: 'eyJ.proof' }] };
    h.log.record(entry as DecisionEntry);
    await h.log.flush();
    const row = await db.prisma.decision.findUniqueOrThrow({ where: { id: entry.id } });
    assert.ok(!JSON.stringify(row).includes('eyJ'));
    assert.deepEqual(row.reasons, [{ code: 'new_dpop_key', score: 30 }]);
  });

  it('stores what PostgreSQL would refuse (NUL, lone surrogates) in a form it accepts, and bounds each field', async () => {
    const h = harness({ flushIntervalMs: 60_000 });
    const e = h.entry({
      route: `/files/a\u0000b/${'x'.repeat(5000)}`,
      method: 'GE\u0000T',
      reasons: [{ code: 'new_route', score: 5, detail: 'half a pair: \ud83d, and a whole one: \ud83d\ude00' }],
    });
    h.log.record(e);
    await h.log.flush();
    const row = await db.prisma.decision.findUniqueOrThrow({ where: { id: e.id } });
    assert.equal(row.method, 'GE\ufffdT');
    assert.equal(row.route!.length, 1024);
    assert.ok(row.route!.startsWith('/files/a\ufffdb/xxx'));
    assert.deepEqual(row.reasons, [{ code: 'new_route', score: 5, detail: 'half a pair: \ufffd, and a whole one: \ud83d\ude00' }]);
  });

  it('stores a context PostgreSQL would refuse (NUL, lone surrogates) in a form it accepts; a too large one as null', async () => {
    const h = harness({ flushIntervalMs: 60_000 });
    const odd = h.entry({ context: { v: 1, path: '/a\u0000b', audience: 'half \ud83d, whole \ud83d\ude00', scopes: [] } });
    const huge = h.entry({ context: { v: 1, scopes: Array.from({ length: 2000 }, (_, i) => `scope-${i}`) } });
    h.log.record(odd);
    h.log.record(huge);
    await h.log.flush();
    const row = await db.prisma.decision.findUniqueOrThrow({ where: { id: odd.id } });
    assert.deepEqual(row.context, { v: 1, path: '/a\ufffdb', audience: 'half \ufffd, whole \ud83d\ude00', scopes: [] });
    assert.equal((await db.prisma.decision.findUniqueOrThrow({ where: { id: huge.id } })).context, null);
    assert.equal(h.log.dropped, 0);
  });

  it('refuses malformed entries at once (a caller bug, not a stuck batch)', () => {
    const h = harness();
    assert.throws(() => h.log.record(h.entry({ decision: 'maybe' as never })), /decision must be one of/);
    assert.throws(() => h.log.record(h.entry({ kind: 'call' as never })), /kind must be one of/);
    assert.throws(() => h.log.record(h.entry({ at: new Date('nope') })), /at must be a valid Date/);
    assert.throws(() => h.log.record(h.entry({ score: Number.NaN })), /score/);
    assert.throws(() => h.log.record(h.entry({ id: '' })), /id/);
    assert.throws(() => h.log.record(h.entry({ reasons: [{ code: '', score: 1 }] })), /code/);
    assert.throws(() => h.log.record(h.entry({ context: [] as never })), /context must be an object/);
    assert.equal(h.log.pending, 0);
  });

  it('when full, drops new entries, counts every drop and warns at most once per interval', async () => {
    const h = harness({ capacity: 5, flushIntervalMs: 60_000, dropWarningIntervalMs: 300 });
    const entries = Array.from({ length: 8 }, () => h.entry());
    for (const e of entries) h.log.record(e);
    assert.equal(h.log.pending, 5);
    assert.equal(h.log.dropped, 3);
    assert.equal(await h.metric(/tollgate_decisions_dropped_total/), 3);
    assert.equal(await h.metric(/tollgate_decisions_total\{kind="check",decision="allow"\}/), 8, 'the decisions were made, dropped or not');
    let dropWarnings = h.warnings(/queue full/);
    assert.equal(dropWarnings.length, 1);
    assert.equal(dropWarnings[0]!.message.dropped, 1, 'the first drop is reported at once');

    h.log.record(h.entry());
    h.log.record(h.entry());
    assert.equal(h.warnings(/queue full/).length, 1, 'no second warning within the interval');
    await until(() => h.warnings(/queue full/).length === 2);
    dropWarnings = h.warnings(/queue full/);
    assert.equal(dropWarnings[1]!.message.dropped, 4, 'the next warning carries every drop since the last');
    assert.equal(dropWarnings[1]!.message.dropped_total, 5);
    assert.equal(await h.metric(/tollgate_decisions_dropped_total/), 5);

    await h.log.flush();
    assert.deepEqual(await h.storedIds(), entries.slice(0, 5).map((e) => e.id).sort(), 'the oldest are kept');
  });

  it('retries a failed write with the batch kept, and reports the failure', async () => {
    const h = harness({ flushIntervalMs: 30, maxRetryDelayMs: 100 });
    h.state.failing = 2;
    const entries = [h.entry(), h.entry(), h.entry()];
    for (const e of entries) h.log.record(e);
    await until(async () => (await h.stored()) === 3);
    assert.equal(h.state.attempts, 3, 'two failures, then the same batch succeeds');
    assert.deepEqual(h.batches, [entries.map((e) => e.id)]);
    assert.equal(h.warnings(/write failed/).length, 1, 'one warning per interval, not one per attempt');
    assert.equal(h.log.dropped, 0);
  });

  it('a row the database keeps refusing is dropped, counted and logged; the rest of its batch is written', async () => {
    const h = harness({ flushIntervalMs: 20, maxRetryDelayMs: 40 });
    h.state.refuse = '-bad';
    const entries = [h.entry(), h.entry(), h.entry({ id: `${h.clientId}-bad` }), h.entry(), h.entry()];
    for (const e of entries) h.log.record(e);
    await until(() => h.log.pending === 0);
    assert.deepEqual(await h.storedIds(), entries.filter((e) => !e.id.endsWith('-bad')).map((e) => e.id).sort());
    assert.equal(h.log.dropped, 1);
    assert.equal(await h.metric(/tollgate_decisions_dropped_total/), 1);
    const refused = h.logged.find((l) => l.level === 'error' && /refused/.test(String(l.message.message)));
    assert.deepEqual(refused?.message.decision_ids, [`${h.clientId}-bad`]);
    // The log is not stuck: what comes next is written in one batch again.
    h.log.record(h.entry());
    await h.log.flush();
    assert.equal(await h.stored(), 5);
  });

  it('a retry after a commit whose acknowledgement was lost does not duplicate or block', async () => {
    const h = harness({ flushIntervalMs: 30, maxRetryDelayMs: 100 });
    h.state.loseAcks = 1;
    for (let i = 0; i < 4; i++) h.log.record(h.entry());
    await until(() => h.log.pending === 0);
    assert.equal(h.batches.length, 2, 'the batch went in twice');
    assert.equal(await h.stored(), 4, 'but is stored once');
  });

  it('while the database is down: flush() rejects, entries stay queued within the bound, drops are counted', async () => {
    const h = harness({ capacity: 4, flushIntervalMs: 60_000 });
    h.state.failing = Number.POSITIVE_INFINITY;
    const entries = Array.from({ length: 6 }, () => h.entry());
    for (const e of entries) h.log.record(e);
    await assert.rejects(h.log.flush(), /ECONNREFUSED/);
    assert.equal(h.log.pending, 4);
    assert.equal(h.log.dropped, 2);
    h.log.record(h.entry());
    assert.equal(h.log.dropped, 3, 'still bounded while retrying');

    h.state.failing = 0;
    await h.log.flush();
    assert.equal(h.log.pending, 0);
    assert.deepEqual(await h.storedIds(), entries.slice(0, 4).map((e) => e.id).sort());
    assert.equal(await h.metric(/tollgate_decisions_dropped_total/), 3);
  });

  it('writes what is still queued on application shutdown; later entries are dropped and counted', async () => {
    const h = harness({ flushIntervalMs: 60_000 });
    for (let i = 0; i < 3; i++) h.log.record(h.entry());
    await h.log.onApplicationShutdown();
    assert.equal(await h.stored(), 3);
    h.log.record(h.entry());
    assert.equal(h.log.dropped, 1);
    assert.equal(h.log.pending, 0);
    await h.log.flush();
  });

  it('gives up at shutdown after its timeout, and says how many entries were lost', async () => {
    const h = harness({ flushIntervalMs: 60_000, shutdownTimeoutMs: 300 });
    h.state.failing = Number.POSITIVE_INFINITY;
    h.log.record(h.entry());
    h.log.record(h.entry());
    const started = Date.now();
    await h.log.onApplicationShutdown();
    assert.ok(Date.now() - started < 2000);
    const lost = h.logged.find((l) => l.level === 'error' && /not written before shutdown/.test(String(l.message.message)));
    assert.equal(lost?.message.lost, 2);
    assert.equal(h.log.dropped, 2);
    assert.equal(await h.metric(/tollgate_decisions_dropped_total/), 2);
    await h.log.flush(); // settles at once: nothing left to wait for
  });
});

describe('DecisionLog durability (issue 9 §4)', () => {
  /** True once the promise has settled (checked after pending I/O callbacks had their turn). */
  const settledNow = async (promise: Promise<unknown>) => {
    let settled = false;
    promise.then(() => (settled = true), () => (settled = true));
    await new Promise((resolve) => setImmediate(resolve));
    return settled;
  };

  it('a refusal (deny, step_up, invalid) resolves only once it is committed; an allow resolves at once', async () => {
    const h = harness({ flushIntervalMs: 60_000 });
    let release!: () => void;
    h.state.hold = new Promise((resolve) => (release = resolve));
    const allow = h.entry();
    assert.equal(await settledNow(h.log.record(allow)), true, 'the allow does not wait');
    for (const decision of ['deny', 'step_up', 'invalid'] as const) {
      const e = h.entry({ decision });
      const committed = h.log.record(e);
      assert.equal(await settledNow(committed), false, `${decision} waits for its insert`);
      release();
      await committed;
      const row = await db.prisma.decision.findUnique({ where: { id: e.id } });
      assert.equal(row?.decision, decision, `${decision} is in the table when record() resolves`);
      h.state.hold = new Promise((resolve) => (release = resolve));
    }
    h.state.hold = undefined;
    release();
    assert.equal(h.state.attempts, 3, 'no timer needed: each refusal started its insert at once');
    assert.ok((await h.storedIds()).includes(allow.id), 'the batched allow went along in the first insert');
  });

  it('group commit: refusals recorded together share an insert; those arriving during one go in the next', async () => {
    const h = harness({ flushIntervalMs: 60_000 });
    const first = Array.from({ length: 20 }, () => h.entry({ decision: 'deny' }));
    let release!: () => void;
    h.state.hold = new Promise((resolve) => (release = resolve));
    const waits = first.map((e) => h.log.record(e));
    await until(() => h.state.attempts === 1);
    const allows = Array.from({ length: 5 }, () => h.entry());
    for (const e of allows) void h.log.record(e);
    const second = Array.from({ length: 30 }, () => h.entry({ decision: 'invalid' }));
    for (const e of second) waits.push(h.log.record(e));
    assert.equal(h.state.attempts, 1, 'nothing else starts while an insert is in flight');
    h.state.hold = undefined;
    release();
    await Promise.all(waits);
    assert.deepEqual(h.batches.map((b) => b.length), [20, 35], 'two inserts for 50 refusals');
    assert.deepEqual(h.batches[1], [...second, ...allows].map((e) => e.id), 'waiting refusals first, then the allows queued meanwhile');
  });

  it('durability all: allows wait for their commit too', async () => {
    const h = harness({ flushIntervalMs: 60_000, durability: 'all' });
    let release!: () => void;
    h.state.hold = new Promise((resolve) => (release = resolve));
    const e = h.entry();
    const committed = h.log.record(e);
    assert.equal(await settledNow(committed), false);
    release();
    await committed;
    assert.ok(await db.prisma.decision.findUnique({ where: { id: e.id } }));
  });

  it('database down: a refusal rejects within durableTimeoutMs as a dependency outage, stays queued and is written when the database is back', async () => {
    const h = harness({ flushIntervalMs: 50, maxRetryDelayMs: 100, durableTimeoutMs: 300 });
    h.state.failing = Number.POSITIVE_INFINITY;
    const e = h.entry({ decision: 'deny' });
    const started = Date.now();
    await assert.rejects(h.log.record(e), (error: unknown) => {
      assert.ok(error instanceof DecisionNotRecorded);
      assert.ok(isDependencyUnavailable(error), 'the error filters render it as 503 temporarily_unavailable');
      assert.match(String((error as Error).cause), /ECONNREFUSED/, 'the last write error is its cause');
      return true;
    });
    const waited = Date.now() - started;
    assert.ok(waited >= 290, `waited ${waited} ms`);
    assert.equal(h.log.pending, 1, 'the entry is kept');
    assert.equal(await h.metric(/tollgate_decisions_unconfirmed_total/), 1);
    const warning = h.warnings(/not committed in time/);
    assert.equal(warning.length, 1);
    assert.equal(warning[0]!.message.unconfirmed, 1);
    h.state.failing = 0;
    await until(async () => (await h.stored()) === 1);
    assert.equal(h.log.dropped, 0);
  });

  it('while a caller waits, a failed write is retried every flush interval instead of backing off', async () => {
    // Backing off (100, 200, 400, 800, 1600 ms…) would take 3 s to reach the seventh attempt.
    const h = harness({ flushIntervalMs: 50, maxRetryDelayMs: 5000, durableTimeoutMs: 2000 });
    h.state.failing = 6;
    const e = h.entry({ decision: 'invalid' });
    await h.log.record(e);
    assert.equal(h.state.attempts, 7);
    assert.ok(await db.prisma.decision.findUnique({ where: { id: e.id } }));
  });

  it('a refusal that cannot be queued rejects at once: queue full, or shut down; an allow is dropped and counted as before', async () => {
    const h = harness({ capacity: 2, flushIntervalMs: 60_000 });
    h.state.failing = Number.POSITIVE_INFINITY;
    void h.log.record(h.entry());
    void h.log.record(h.entry());
    await assert.rejects(h.log.record(h.entry({ decision: 'deny' })), DecisionNotRecorded);
    assert.equal(await settledNow(h.log.record(h.entry())), true);
    assert.equal(h.log.dropped, 2);
    h.state.failing = 0;
    await h.log.onApplicationShutdown();
    await assert.rejects(h.log.record(h.entry({ decision: 'invalid' })), /shutting down/);
    assert.equal(await h.metric(/tollgate_decisions_unconfirmed_total/), 2);
  });

  it('a refusal whose row the database will never take rejects; the rest of its insert is committed', async () => {
    const h = harness({ flushIntervalMs: 20, maxRetryDelayMs: 40 });
    h.state.refuse = '-bad';
    const good = h.entry({ decision: 'deny' });
    const bad = h.entry({ decision: 'deny', id: `${h.clientId}-bad` });
    const waits = [h.log.record(good), h.log.record(bad)];
    await waits[0];
    await assert.rejects(waits[1]!, DecisionNotRecorded);
    assert.deepEqual(await h.storedIds(), [good.id]);
  });

  it('an unawaited refusal that fails never becomes an unhandled rejection', async () => {
    const unhandled: unknown[] = [];
    const listener = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', listener);
    try {
      const h = harness({ flushIntervalMs: 60_000, durableTimeoutMs: 50, capacity: 1, shutdownTimeoutMs: 100 });
      h.state.failing = Number.POSITIVE_INFINITY;
      void h.log.record(h.entry({ decision: 'deny' })); // times out
      void h.log.record(h.entry({ decision: 'deny' })); // queue full
      await sleep(200);
      await h.log.onApplicationShutdown();
      void h.log.record(h.entry({ decision: 'deny' })); // shut down
      await sleep(50);
      assert.equal(h.log.dropped, 3, 'one not written before shutdown, one refused when full, one after shutdown');
    } finally {
      process.off('unhandledRejection', listener);
    }
    assert.deepEqual(unhandled, []);
  });

  it('what a shutdown cannot write rejects the callers still waiting', async () => {
    const h = harness({ flushIntervalMs: 60_000, shutdownTimeoutMs: 200, durableTimeoutMs: 10_000 });
    h.state.failing = Number.POSITIVE_INFINITY;
    const waiting = h.log.record(h.entry({ decision: 'step_up' }));
    await h.log.onApplicationShutdown();
    await assert.rejects(waiting, /before shutdown/);
  });
});
