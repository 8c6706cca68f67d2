import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Metrics } from '#operations';
import { type Database, openDatabase } from '#persistence';
import { DecisionLog, type DecisionEntry, type DecisionLogOptions } from './decision-log.js';

// Against the real database (PostgreSQL with DATABASE_URL, else embedded in memory). The only
// thing interposed is a pass-through on the batch insert ($executeRaw) that records each batch
// and, when asked, fails like an unreachable database — the writes that succeed are real inserts.

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
  const state = { failing: 0, loseAcks: 0, attempts: 0, refuse: '' };
  const unreachable = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
  const observed = {
    ...db,
    prisma: {
      // The batch insert: the first array parameter holds the batch's ids.
      $executeRaw: async (strings: TemplateStringsArray, ...values: unknown[]) => {
          const ids = values[0] as string[];
          state.attempts++;
          if (state.failing > 0) {
            state.failing--;
            throw unreachable();
          }
          // The database is up but will never take this row (as PostgreSQL refuses some values).
          if (state.refuse && ids.some((id) => id.endsWith(state.refuse))) {
            throw Object.assign(new Error('invalid input value for this row'), { code: '22P02' });
          }
          const result = await db.prisma.$executeRaw(strings, ...values);
          batches.push(ids);
          // Committed, but the acknowledgement is lost on the way back.
          if (state.loseAcks > 0) {
            state.loseAcks--;
            throw unreachable();
          }
          return result;
      },
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
    for (let i = 0; i < 3; i++) assert.equal(h.log.record(h.entry()), undefined);
    assert.equal(h.log.pending, 3);
    assert.equal(h.state.attempts, 0, 'nothing reaches the database on the caller’s path');
    await until(async () => (await h.stored()) === 3);
    assert.ok(Date.now() - started >= 200, 'written by the 250 ms timer');
    assert.deepEqual(h.batches.map((b) => b.length), [3]);
    assert.equal(h.log.pending, 0);
  });

  it('writes at once when 500 are queued, one insert per batch of at most 500', async () => {
    const h = harness({ flushIntervalMs: 60_000 });
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

  it('flush() writes everything recorded before it, with every field', async () => {
    const h = harness({ flushIntervalMs: 60_000 });
    const at = new Date('2026-11-23T21:00:00.123Z');
    h.log.record(h.entry({ at, kind: 'issuance', decision: 'step_up', score: 41.6, reasons: [{ code: 'new_network', score: 25, detail: '198.51.100.0/24' }, { code: 'unusual_scope', score: 16.6 }] }));
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
      },
    );
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

  it('refuses malformed entries at once (a caller bug, not a stuck batch)', () => {
    const h = harness();
    assert.throws(() => h.log.record(h.entry({ decision: 'maybe' as never })), /decision must be one of/);
    assert.throws(() => h.log.record(h.entry({ kind: 'call' as never })), /kind must be one of/);
    assert.throws(() => h.log.record(h.entry({ at: new Date('nope') })), /at must be a valid Date/);
    assert.throws(() => h.log.record(h.entry({ score: Number.NaN })), /score/);
    assert.throws(() => h.log.record(h.entry({ id: '' })), /id/);
    assert.throws(() => h.log.record(h.entry({ reasons: [{ code: '', score: 1 }] })), /code/);
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
