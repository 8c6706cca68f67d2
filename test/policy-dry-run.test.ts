import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { DecisionLog } from '#audit';
import { type Gateway, gatewayCheck, keepDefaultPolicy, registerGateway, type RunningTollgate, startTollgate, Workload } from '#test-support';

const API = 'https://api.example.test';

const check = gatewayCheck;

describe('policy dry run (POST /admin/clients/{id}/policy/dry-run, POST /admin/policy/dry-run)', () => {
  let server: RunningTollgate;
  let gateway: Gateway;
  let w: Workload;
  let token: string;
  let savedDefault: { restore(): Promise<void> };
  const dryRun = (clientId: string | null, body: unknown, auth: string | null = server.admin) => {
    const req = request(server.url).post(clientId === null ? '/admin/policy/dry-run' : `/admin/clients/${encodeURIComponent(clientId)}/policy/dry-run`);
    return (auth === null ? req : req.set('Authorization', auth)).send(body as object);
  };
  const lastAuditId = async () => (await request(server.url).get('/admin/audit?limit=1').set('Authorization', server.admin).expect(200)).body.events[0]?.id ?? '0';

  before(async () => {
    server = await startTollgate();
    savedDefault = await keepDefaultPolicy(server);
    await server.tollgate.runtime.db.prisma.riskPolicy.deleteMany({ where: { key: 'default' } });
    await server.tollgate.runtime.hot.events.publish('policies', 'default');
    gateway = await registerGateway(server);
    w = await Workload.register(server, { allowed_resources: [`${API}/`] });
    token = await w.token();
    for (let i = 1; i <= 3; i++) assert.equal((await check(server, gateway, w, token, `/orders/${i}`)).status, 200);
  });
  after(async () => {
    await request(server.url).delete(`/admin/clients/${w.clientId}`).set('Authorization', server.admin);
    await savedDefault.restore();
    await server.close();
  });

  it('under the policy in force, every recorded decision comes out the same (a faithful re-evaluation)', async () => {
    const res = await dryRun(w.clientId, {});
    assert.equal(res.status, 200, res.text);
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.equal(res.body.client_id, w.clientId);
    // The issuance and the three checks, newest first.
    assert.deepEqual(res.body.decisions.map((d: any) => d.kind), ['check', 'check', 'check', 'issuance']);
    assert.equal(res.body.evaluated, 4);
    assert.equal(res.body.changed, 0);
    assert.equal(res.body.not_reevaluable, 0);
    for (const d of res.body.decisions) {
      assert.equal(d.reevaluable, true);
      assert.equal(d.changed, false);
      assert.deepEqual({ decision: d.dry_run.decision, score: d.dry_run.score }, d.recorded);
      assert.ok(!Number.isNaN(Date.parse(d.at)));
      assert.match(d.decision_id, /^[0-9a-f-]{36}$/);
    }
  });

  it('a stricter policy shows which decisions would change, and why; nothing is stored or applied', async () => {
    const auditBefore = await lastAuditId();
    // A route rule applies to calls only: the checks would be denied, the issuance would not change.
    const stricter = { routes: [{ path: '/orders/**', scopes: ['orders:admin'] }], thresholds: { step_up: 40, deny: 80 } };
    const res = await dryRun(w.clientId, stricter);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.changed, 3);
    assert.equal(res.body.evaluated, 4);
    const checks = res.body.decisions.filter((d: any) => d.kind === 'check');
    for (const d of checks) {
      assert.equal(d.recorded.decision, 'allow');
      assert.equal(d.dry_run.decision, 'deny');
      assert.equal(d.changed, true);
      assert.deepEqual(d.dry_run.reasons, [{ code: 'route_requires_scope', score: 0, detail: 'orders:admin' }]);
    }
    assert.equal(res.body.decisions.find((d: any) => d.kind === 'issuance').changed, false);
    // A network rule changes everything from elsewhere, issuance included.
    const networks = await dryRun(w.clientId, { allowed_networks: ['10.0.0.0/8'] });
    assert.equal(networks.body.changed, 4, networks.text);
    assert.ok(networks.body.decisions.every((d: any) => d.dry_run.reasons.some((r: any) => r.code === 'network_not_allowed')));

    // Nothing written, nothing in force: no policy of its own, no audit entry, the next check still allowed.
    const policy = await request(server.url).get(`/admin/clients/${w.clientId}/policy`).set('Authorization', server.admin).expect(200);
    assert.equal(policy.body.policy, null);
    assert.equal(await lastAuditId(), auditBefore);
    assert.equal((await check(server, gateway, w, token, '/orders/9')).status, 200);
  });

  it('reports decisions without a recorded context as not re-evaluable, not skipped', async () => {
    const id = randomUUID();
    await server.tollgate.app.get(DecisionLog).record({ id, at: new Date(), kind: 'check', clientId: w.clientId, decision: 'invalid', score: 0, reasons: [{ code: 'invalid_token', score: 0 }] });
    const res = await dryRun(w.clientId, { allowed_networks: ['10.0.0.0/8'] });
    assert.equal(res.status, 200, res.text);
    const entry = res.body.decisions.find((d: any) => d.decision_id === id);
    assert.deepEqual({ ...entry, at: undefined }, {
      decision_id: id, at: undefined, kind: 'check', client_id: w.clientId, method: null, route: null,
      recorded: { decision: 'invalid', score: 0 }, dry_run: null, changed: null, reevaluable: false,
    });
    assert.equal(res.body.not_reevaluable, 1);
    assert.equal(res.body.evaluated + res.body.not_reevaluable, res.body.decisions.length);
  });

  it('refuses a malformed policy exactly as the PUT does (400 naming the field), writing nothing', async () => {
    const auditBefore = await lastAuditId();
    const bad = { thresholds: { step_up: 40, deny: 'high' }, routes: [{ path: '' }] };
    const res = await dryRun(w.clientId, bad);
    assert.equal(res.status, 400, res.text);
    assert.equal(res.body.error, 'invalid_request');
    assert.ok(res.body.fields.some((f: any) => f.field === 'thresholds.deny'), res.text);
    assert.ok(res.body.fields.some((f: any) => f.field === 'routes[0].path'), res.text);
    const put = await request(server.url).put(`/admin/clients/${w.clientId}/policy`).set('Authorization', server.admin).send(bad);
    assert.equal(put.status, 400);
    assert.deepEqual(res.body, put.body);
    assert.equal((await dryRun(null, bad)).status, 400);
    assert.equal((await dryRun(w.clientId, [])).status, 400);
    assert.equal(await lastAuditId(), auditBefore);
    assert.equal((await request(server.url).get(`/admin/clients/${w.clientId}/policy`).set('Authorization', server.admin)).body.policy, null);
  });

  it('needs JSON, the admin token and a known client', async () => {
    const form = await request(server.url).post(`/admin/clients/${w.clientId}/policy/dry-run`).set('Authorization', server.admin).type('form').send({ on_new_key: 'deny' });
    assert.equal(form.status, 415);
    assert.equal((await dryRun(w.clientId, {}, null)).status, 401);
    const unknown = await dryRun('tg_nobody', {});
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.error, 'not_found');
  });

  it('the edited server default is run against every client’s newest decisions, each merged with its own policy', async () => {
    const other = await Workload.register(server, { allowed_resources: [`${API}/`] });
    try {
      const otherToken = await other.token();
      assert.equal((await check(server, gateway, other, otherToken)).status, 200);
      // The other client's own policy allows its network: the edited default does not change its decisions.
      await request(server.url).put(`/admin/clients/${other.clientId}/policy`).set('Authorization', server.admin).send({ allowed_networks: ['0.0.0.0/0'] }).expect(200);
      const res = await dryRun(null, { allowed_networks: ['10.0.0.0/8'] });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.body.client_id, null);
      assert.ok(res.body.decisions.length <= 100);
      const of = (id: string) => res.body.decisions.filter((d: any) => d.client_id === id && d.reevaluable);
      assert.ok(of(w.clientId).length >= 5 && of(w.clientId).every((d: any) => d.dry_run.decision === 'deny'), res.text);
      assert.equal(of(other.clientId).length, 2);
      assert.ok(of(other.clientId).every((d: any) => d.changed === false), res.text);
    } finally {
      await request(server.url).delete(`/admin/clients/${other.clientId}`).set('Authorization', server.admin);
    }
  });
});
