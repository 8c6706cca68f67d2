import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { DECISION_LOG_DEFAULTS, DecisionLog, type DecisionEntry } from '#audit';
import { ClientRegistry } from '#clients';
import { type RunningTollgate, startTollgate, Workload } from '#test-support';

const run = `dl-e2e-${randomBytes(4).toString('hex')}`;

/** The value of one sample in Prometheus text format, matching every label given. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[3]);
  }
  return undefined;
}

describe('decision log (GET /admin/decisions) and metrics (GET /metrics)', () => {
  let server: RunningTollgate;
  let log: DecisionLog;
  // A time window of our own, far from the present, so that no other decision falls in it.
  const base = Date.UTC(2001, 0, 1) + Math.floor(Math.random() * 300 * 86_400) * 1000;
  const clientA = `${run}-a`;
  const clientB = `${run}-b`;
  const recorded: DecisionEntry[] = [];
  const outcomes = ['allow', 'step_up', 'deny', 'invalid'] as const;

  const decisions = (query: Record<string, string> | string = {}, auth?: string) =>
    request(server.url).get('/admin/decisions').query(query).set('Authorization', auth ?? server.admin);
  const record = (extra: Partial<DecisionEntry>): DecisionEntry => {
    const entry: DecisionEntry = { id: randomUUID(), at: new Date(), kind: 'check', decision: 'allow', score: 0, reasons: [], ...extra };
    log.record(entry);
    recorded.push(entry);
    return entry;
  };
  /** What the endpoint should answer, newest first (at, then id, descending). */
  const expected = (filter: (e: DecisionEntry) => boolean) =>
    recorded
      .filter(filter)
      .sort((x, y) => y.at.getTime() - x.at.getTime() || (x.id < y.id ? 1 : x.id > y.id ? -1 : 0))
      .map((e) => e.id);
  const ids = (body: { decisions: { decision_id: string }[] }) => body.decisions.map((d) => d.decision_id);
  const scrape = async () => {
    const res = await request(server.url).get('/metrics').expect(200);
    return res.text;
  };

  before(async () => {
    server = await startTollgate();
    log = server.tollgate.app.get(DecisionLog);
    for (let i = 0; i < 12; i++) {
      record({
        clientId: clientA,
        at: new Date(base + i * 1000),
        decision: outcomes[i % 4],
        method: 'POST',
        route: '/orders/**',
        score: i * 10,
        reasons: i % 4 === 2 ? [{ code: 'rate_limit_exceeded', score: 80, detail: '130/min > 100' }] : [],
        ip: '203.0.113.9',
      });
    }
    // Two entries sharing one instant: the id orders them, and the cursor must not lose either.
    record({ clientId: clientA, at: new Date(base + 5000), decision: 'deny', score: 90 });
    for (let i = 0; i < 4; i++) record({ clientId: clientB, at: new Date(base + i * 1000 + 500), kind: 'issuance', decision: 'allow' });
  });

  after(async () => {
    if (!server) return;
    await log.flush().catch(() => undefined);
    await server.tollgate.runtime.db.prisma.decision.deleteMany({ where: { clientId: { startsWith: run } } });
    await server.close();
  });

  it('is for admins only: 401 without the admin token, and with a wrong one', async () => {
    const none = await request(server.url).get('/admin/decisions').expect(401);
    assert.equal(none.body.error, 'invalid_request');
    assert.equal(none.headers['www-authenticate'], 'Bearer');
    const wrong = await decisions({}, 'Bearer not-the-admin-token').expect(401);
    assert.equal(wrong.body.error, 'invalid_token');
  });

  it('shows a decision recorded a moment ago, with every field', async () => {
    const entry = record({
      clientId: `${run}-now`,
      kind: 'introspection',
      decision: 'step_up',
      method: 'GET',
      route: '/payments/*',
      score: 55,
      reasons: [{ code: 'new_network', score: 30, detail: '198.51.100.0/24' }, { code: 'new_dpop_key', score: 25 }],
      ip: '198.51.100.23',
      requestId: 'req-e2e-1',
    });
    const res = await decisions({ client_id: `${run}-now` }).expect(200);
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.deepEqual(res.body, {
      decisions: [
        {
          decision_id: entry.id,
          at: entry.at.toISOString(),
          kind: 'introspection',
          client_id: `${run}-now`,
          method: 'GET',
          route: '/payments/*',
          decision: 'step_up',
          score: 55,
          reasons: [{ code: 'new_network', score: 30, detail: '198.51.100.0/24' }, { code: 'new_dpop_key', score: 25 }],
          ip: '198.51.100.23',
          request_id: 'req-e2e-1',
        },
      ],
      next_cursor: null,
    });
  });

  it('filters by client_id, newest first', async () => {
    const res = await decisions({ client_id: clientB }).expect(200);
    assert.deepEqual(ids(res.body), expected((e) => e.clientId === clientB));
    assert.ok(res.body.decisions.every((d: { client_id: string; kind: string }) => d.client_id === clientB && d.kind === 'issuance'));
    assert.equal(res.body.next_cursor, null);
  });

  it('filters by decision and a time window (since inclusive, until exclusive)', async () => {
    const since = new Date(base + 2000);
    const until = new Date(base + 10_000);
    for (const decision of outcomes) {
      const res = await decisions({ decision, since: since.toISOString(), until: until.toISOString() }).expect(200);
      const want = expected((e) => e.decision === decision && e.at >= since && e.at < until && !!e.clientId?.startsWith(run));
      assert.deepEqual(ids(res.body), want, decision);
      assert.ok(want.length > 0);
    }
    // Offsets name the same instants; the boundary entry at `since` is in, the one at `until` is out.
    const res = await decisions({ client_id: clientA, since: '2001-01-01T00:00:00+00:00', until: new Date(base + 3000).toISOString().replace('Z', '+00:00') }).expect(200);
    assert.deepEqual(ids(res.body), expected((e) => e.clientId === clientA && e.at.getTime() < base + 3000));
    const shifted = new Date(base + 2000 + 2 * 3_600_000).toISOString().replace('Z', '+02:00');
    const both = await decisions({ client_id: clientA, decision: 'step_up', since: shifted }).expect(200);
    assert.deepEqual(ids(both.body), expected((e) => e.clientId === clientA && e.decision === 'step_up' && e.at.getTime() >= base + 2000));
  });

  it('pages with an opaque cursor: no duplicates, nothing missed, stable while new decisions arrive', async () => {
    const all = expected((e) => e.clientId === clientA);
    assert.equal(all.length, 13);
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const res = await decisions({ client_id: clientA, limit: '5', ...(cursor ? { cursor } : {}) }).expect(200);
      seen.push(...ids(res.body));
      cursor = res.body.next_cursor ?? undefined;
      pages++;
      // A newer decision arriving between pages lands before the first page, not in the next one.
      if (pages === 1) record({ clientId: clientA, at: new Date(base + 60_000), decision: 'allow' });
    } while (cursor);
    assert.equal(pages, 3);
    assert.deepEqual(seen, all);
    assert.equal(new Set(seen).size, seen.length);
    const first = await decisions({ client_id: clientA, limit: '1' }).expect(200);
    assert.equal(first.body.decisions[0].at, new Date(base + 60_000).toISOString());
    assert.equal(typeof first.body.next_cursor, 'string');
  });

  it('defaults to 50 and accepts up to 200', async () => {
    const res = await decisions({ client_id: clientA, limit: '200' }).expect(200);
    assert.equal(res.body.decisions.length, 14);
    assert.equal((await decisions({ client_id: clientA })).body.decisions.length, 14);
  });

  it('answers 400 invalid_request naming each malformed parameter', async () => {
    const cases: [Record<string, string> | string, string][] = [
      [{ since: 'yesterday' }, 'since'],
      [{ since: '2026-02-30T00:00:00Z' }, 'since'],
      [{ until: '2026-11-23 21:00:00' }, 'until'],
      [{ until: '2026-11-23T25:00:00Z' }, 'until'],
      [{ since: '2026-11-23T21:00:00Z', until: '2026-11-23T20:00:00Z' }, 'until'],
      [{ decision: 'maybe' }, 'decision'],
      ['decision=allow&decision=deny', 'decision'],
      [`client_id=${clientA}&client_id=${clientB}`, 'client_id'],
      [{ client_id: '' }, 'client_id'],
      [{ limit: '0' }, 'limit'],
      [{ limit: '201' }, 'limit'],
      [{ limit: 'ten' }, 'limit'],
      [{ limit: '5.5' }, 'limit'],
      [{ cursor: 'not-a-cursor' }, 'cursor'],
      [{ cursor: Buffer.from('["x","y"]').toString('base64url') }, 'cursor'],
      [{ clientid: clientA }, 'clientid'],
    ];
    for (const [query, field] of cases) {
      const res = await decisions(query);
      assert.equal(res.status, 400, `${JSON.stringify(query)} → ${res.status}`);
      assert.equal(res.body.error, 'invalid_request');
      assert.deepEqual(res.body.fields.map((f: { field: string }) => f.field), [field], JSON.stringify(query));
      assert.match(res.body.error_description, new RegExp(`^${field}: `));
    }
  });

  it('/metrics: Prometheus text, no authentication, token latency after a real token request', async () => {
    const w = await Workload.register(server);
    await w.token();
    await w.token();
    const gateway = (await request(server.url).post('/admin/clients').set('Authorization', server.admin).send({ roles: ['gateway'] })).body;
    await request(server.url).post('/oauth/introspect').type('form').auth(gateway.client_id, gateway.client_secret).send({ token: 'x' }).expect(200);
    await request(server.url).post('/oauth/revoke').type('form').send({ token: 'x' });
    await request(server.url).get('/check/nginx');
    await request(server.url).get('/healthz').expect(200);

    const res = await request(server.url).get('/metrics').expect(200);
    assert.match(res.headers['content-type']!, /^text\/plain; version=0\.0\.4; charset=utf-8$/);
    const text = res.text;
    assert.ok(sample(text, 'tollgate_http_request_duration_seconds_count', { endpoint: 'token', status: '200' })! >= 2);
    assert.ok(sample(text, 'tollgate_http_request_duration_seconds_sum', { endpoint: 'token', status: '200' })! > 0);
    assert.ok(sample(text, 'tollgate_http_request_duration_seconds_bucket', { endpoint: 'token', status: '200', le: '2.5' })! >= 2);
    assert.ok(sample(text, 'tollgate_http_request_duration_seconds_bucket', { endpoint: 'token', status: '200', le: '0.0005' }) !== undefined);
    assert.ok(sample(text, 'tollgate_http_request_duration_seconds_count', { endpoint: 'introspection', status: '200' })! >= 1);
    assert.ok(sample(text, 'tollgate_http_request_duration_seconds_count', { endpoint: 'revocation' })! >= 1);
    assert.ok(sample(text, 'tollgate_http_request_duration_seconds_count', { endpoint: 'check' })! >= 1);
    assert.ok(sample(text, 'tollgate_http_request_duration_seconds_count', { endpoint: 'admin', status: '201' })! >= 1);
    assert.ok(sample(text, 'tollgate_http_request_duration_seconds_count', { endpoint: 'admin', status: '400' })! >= 16);
    assert.ok(sample(text, 'tollgate_http_request_duration_seconds_count', { endpoint: 'admin', status: '401' })! >= 2);
    assert.ok(sample(text, 'tollgate_http_request_duration_seconds_count', { endpoint: 'other', status: '200' })! >= 1);
    // The process's own figures.
    assert.ok(sample(text, 'process_cpu_user_seconds_total')! > 0);
    assert.ok(sample(text, 'nodejs_heap_size_used_bytes')! > 0);
    // No identifiers or secrets in any label.
    for (const secret of [w.clientId, gateway.client_id, gateway.client_secret, server.adminToken, clientA, '203.0.113.9']) {
      assert.ok(!text.includes(secret), `metrics mention ${secret}`);
    }
  });

  it('/metrics: the client cache’s hits and misses, as the registry counts them', async () => {
    const text = await scrape();
    const stats = server.tollgate.app.get(ClientRegistry).cacheStats;
    assert.ok(stats.hits > 0 && stats.misses > 0);
    assert.equal(sample(text, 'tollgate_cache_hits_total', { cache: 'clients' }), stats.hits);
    assert.equal(sample(text, 'tollgate_cache_misses_total', { cache: 'clients' }), stats.misses);
  });

  it('/metrics: decisions and reasons counted as they are recorded', async () => {
    const text = await scrape();
    const count = (t: string, kind: string, decision: string) => sample(t, 'tollgate_decisions_total', { kind, decision }) ?? 0;
    const reasons = (t: string, reason: string) => sample(t, 'tollgate_decision_reasons_total', { kind: 'introspection', reason }) ?? 0;
    for (let i = 0; i < 3; i++) {
      record({ clientId: clientB, kind: 'introspection', decision: 'deny', score: 95, reasons: [{ code: 'token_multiple_networks', score: 60 }, { code: 'new_network', score: 35 }] });
    }
    record({ clientId: clientB, kind: 'introspection', decision: 'invalid', score: 0, reasons: [{ code: 'token_multiple_networks', score: 0 }] });
    const later = await scrape();
    assert.equal(count(later, 'introspection', 'deny'), count(text, 'introspection', 'deny') + 3);
    assert.equal(count(later, 'introspection', 'invalid'), count(text, 'introspection', 'invalid') + 1);
    assert.equal(reasons(later, 'token_multiple_networks'), reasons(text, 'token_multiple_networks') + 4);
    assert.equal(reasons(later, 'new_network'), reasons(text, 'new_network') + 3);
    assert.ok(count(later, 'check', 'deny') >= 3, 'the decisions recorded before');
  });

  it('/metrics: entries dropped when the queue overflows are counted', async () => {
    await log.flush();
    const before = sample(await scrape(), 'tollgate_decisions_dropped_total');
    assert.equal(before, log.dropped);
    const room = DECISION_LOG_DEFAULTS.capacity - log.pending;
    const at = new Date(base + 120_000);
    const client = `${run}-flood`;
    // Synchronously: no write can complete in between, so exactly `room` are kept.
    for (let i = 0; i < room + 25; i++) log.record({ id: `${client}-${i}`, at, kind: 'check', clientId: client, decision: 'allow', score: 0, reasons: [] });
    assert.equal(log.dropped, before! + 25);
    assert.equal(sample(await scrape(), 'tollgate_decisions_dropped_total'), before! + 25);
    await log.flush();
    assert.equal(await server.tollgate.runtime.db.prisma.decision.count({ where: { clientId: client } }), room);
  });
});
