import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { DecisionLog, type DecisionEntry } from '#audit';
import { type RunningTollgate, startTollgate } from '#test-support';

describe('GET /admin/decisions/summary: decisions per bucket and outcome, counted by the database', () => {
  let server: RunningTollgate;
  /** A client id of this run only (decisions do not need a registered client). */
  const client = `summary-${randomUUID()}`;
  const now = Date.now();
  const ago = (minutes: number) => new Date(now - minutes * 60_000);
  const bucketOf = (at: Date, seconds: number) => new Date(Math.floor(at.getTime() / (seconds * 1000)) * seconds * 1000).toISOString();
  const get = (query: string) => request(server.url).get(`/admin/decisions/summary${query}`).set('Authorization', server.admin);

  before(async () => {
    server = await startTollgate();
    const log = server.tollgate.app.get(DecisionLog);
    const entry = (at: Date, decision: DecisionEntry['decision'], extra: Partial<DecisionEntry> = {}): DecisionEntry => ({
      id: randomUUID(), at, kind: 'check', clientId: client, decision, score: 0, reasons: [], route: '/orders/1', ...extra,
    });
    for (const e of [
      entry(ago(5), 'allow'),
      entry(ago(5), 'allow', { route: '/50%off/x' }),
      entry(ago(5), 'deny', { reasons: [{ code: 'network_not_allowed', score: 100 }] }),
      entry(ago(30), 'step_up', { reasons: [{ code: 'new_route', score: 10, detail: 'GET /orders/*' }] }),
      entry(ago(120), 'allow'), // in the day, not the hour
      entry(ago(25 * 60), 'invalid'), // in neither
    ]) log.record(e);
  });
  after(() => server.close());

  it('the last hour, per minute; only buckets with decisions, oldest first', async () => {
    const res = await get(`?window=hour&client_id=${client}`);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.equal(res.body.window, 'hour');
    assert.equal(res.body.bucket_seconds, 60);
    const since = Date.parse(res.body.since);
    assert.equal(since % 60_000, 0);
    assert.ok(Date.parse(res.body.until) - since > 59 * 60_000 && Date.parse(res.body.until) - since <= 60 * 60_000, JSON.stringify(res.body));
    assert.deepEqual(res.body.totals, { allow: 2, step_up: 1, deny: 1, invalid: 0 });
    assert.deepEqual(res.body.buckets, [
      { start: bucketOf(ago(30), 60), allow: 0, step_up: 1, deny: 0, invalid: 0 },
      { start: bucketOf(ago(5), 60), allow: 2, step_up: 0, deny: 1, invalid: 0 },
    ]);
  });

  it('the last day, per 15 minutes', async () => {
    const res = await get(`?window=day&client_id=${client}`);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.bucket_seconds, 900);
    assert.ok(Date.parse(res.body.until) - Date.parse(res.body.since) <= 24 * 3600_000);
    assert.deepEqual(res.body.totals, { allow: 3, step_up: 1, deny: 1, invalid: 0 });
    assert.equal(res.body.buckets[0].start, bucketOf(ago(120), 900));
    assert.equal(res.body.buckets.reduce((n: number, b: any) => n + b.allow + b.step_up + b.deny + b.invalid, 0), 5);
  });

  it('filters by outcome, reason code and route prefix (taken literally)', async () => {
    assert.deepEqual((await get(`?client_id=${client}&decision=deny`)).body.totals, { allow: 0, step_up: 0, deny: 1, invalid: 0 });
    assert.deepEqual((await get(`?client_id=${client}&reason=new_route`)).body.totals, { allow: 0, step_up: 1, deny: 0, invalid: 0 });
    assert.deepEqual((await get(`?client_id=${client}&route=${encodeURIComponent('/50%')}`)).body.totals, { allow: 1, step_up: 0, deny: 0, invalid: 0 });
    assert.deepEqual((await get(`?client_id=${client}&route=${encodeURIComponent('/_0')}`)).body.totals, { allow: 0, step_up: 0, deny: 0, invalid: 0 });
    assert.deepEqual((await get(`?client_id=${client}&route=/orders`)).body.totals, { allow: 1, step_up: 1, deny: 1, invalid: 0 });
  });

  it('counts a decision as soon as it is recorded (what is queued is written first)', async () => {
    const log = server.tollgate.app.get(DecisionLog);
    const other = `summary-${randomUUID()}`;
    void log.record({ id: randomUUID(), at: new Date(), kind: 'check', clientId: other, decision: 'allow', score: 0, reasons: [] });
    assert.deepEqual((await get(`?client_id=${other}`)).body.totals, { allow: 1, step_up: 0, deny: 0, invalid: 0 });
  });

  it('refuses an unknown window, parameter or outcome, and a repeated parameter, naming each; needs the admin token', async () => {
    for (const [query, field] of [
      ['?window=week', 'window'],
      ['?window=hour&window=day', 'window'],
      ['?outcome=deny', 'outcome'],
      ['?decision=maybe', 'decision'],
      ['?client_id=', 'client_id'],
    ] as const) {
      const res = await get(query);
      assert.equal(res.status, 400, `${query}: ${res.text}`);
      assert.equal(res.body.error, 'invalid_request');
      assert.deepEqual(res.body.fields.map((f: { field: string }) => f.field), [field], query);
    }
    assert.equal((await request(server.url).get('/admin/decisions/summary')).status, 401);
  });
});
