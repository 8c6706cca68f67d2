import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import request from 'supertest';
import { BUILTIN_DEFAULT_POLICY, RiskPolicies, type RiskPolicy } from '#risk';
import { keepDefaultPolicy, type RunningTollgate, startTollgate } from '#test-support';

type Method = 'get' | 'put' | 'post' | 'delete';
type Body = Record<string, any>;

let server: RunningTollgate;
/** Every client this file creates; whatever is still there at the end is deleted. */
const created = new Set<string>();
const RUN = randomBytes(4).toString('hex');
let publicKey: JWK;
/** The stored server default before this file ran (the database may be shared): put back at the end. */
let savedDefault: { restore(): Promise<void> };

const prisma = () => server.tollgate.runtime.db.prisma;

before(async () => {
  server = await startTollgate();
  const pair = await generateKeyPair('ES256', { extractable: true });
  publicKey = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  savedDefault = await keepDefaultPolicy(server);
  // Start from "no stored default" so the built-in one can be observed.
  await prisma().riskPolicy.deleteMany({ where: { key: 'default' } });
  await server.tollgate.runtime.hot.events.publish('policies', 'default');
});

after(async () => {
  for (const id of created) await api('delete', `/admin/clients/${id}`);
  await savedDefault.restore();
  await server.close();
});

/** `base`: another instance's own address (its `url` is the shared issuer, i.e. the first instance). */
async function api(method: Method, path: string, body?: unknown, auth: string | null = server.admin, base = server.url) {
  let req = request(base)[method](path);
  if (auth !== null) req = req.set('Authorization', auth);
  const res = body === undefined ? await req : await req.send(body as object);
  if (method === 'post' && res.status === 201) created.add(res.body.client_id);
  return res;
}

async function createClient(): Promise<string> {
  const res = await api('post', '/admin/clients', {
    client_name: `risk-policies ${RUN} ${randomUUID()}`,
    jwks: { keys: [publicKey] },
    scope: 'orders:read',
    allowed_resources: ['https://api.example.test/'],
  });
  assert.equal(res.status, 201, res.text);
  return res.body.client_id;
}

function assertNoStore(res: request.Response): void {
  assert.equal(res.headers['cache-control'], 'no-store', `a ${res.status} response is cacheable`);
}

/** Audit events newer than `afterId` (for one client, or all), oldest first. */
async function auditSince(afterId: bigint, clientId?: string): Promise<Body[]> {
  const res = await api('get', `/admin/audit?limit=200${clientId ? `&client_id=${clientId}` : ''}`);
  assert.equal(res.status, 200, res.text);
  return (res.body.events as Body[]).filter((e) => BigInt(e.id) > afterId).reverse();
}

async function lastAuditId(): Promise<bigint> {
  const res = await api('get', '/admin/audit?limit=1');
  assert.equal(res.status, 200, res.text);
  return res.body.events.length ? BigInt(res.body.events[0].id) : 0n;
}

/** A 400 `invalid_request` naming each field of `fields` (among possibly others). */
function assertNamesFields(res: request.Response, fields: RegExp[]): void {
  assert.equal(res.status, 400, res.text);
  assert.match(res.headers['content-type'] ?? '', /^application\/json/);
  assert.equal(res.body.error, 'invalid_request', res.text);
  assert.equal(typeof res.body.error_description, 'string');
  assert.ok(Array.isArray(res.body.fields) && res.body.fields.length > 0, res.text);
  for (const f of res.body.fields) {
    assert.equal(typeof f.field, 'string');
    assert.ok(typeof f.message === 'string' && f.message.length > 0);
  }
  for (const field of fields) {
    assert.ok(
      res.body.fields.some((f: Body) => field.test(f.field)),
      `no problem named ${field}: ${JSON.stringify(res.body.fields)}`,
    );
  }
}

/** Polls `read` until `done` holds (a change notice crossing instances is asynchronous). */
async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean, ms = 2000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A server default unlike the built-in one, harmless to other suites' clients should it remain. */
const DEFAULT_DOC: RiskPolicy = {
  thresholds: { step_up: 45, deny: 85 },
  step_up_acr: 'urn:tollgate:acr:live',
  on_new_key: 'step_up',
  on_new_network: 'allow',
  baseline: { factor: 5, min_minutes: 10 },
  routes: [{ path: '/default-only/**', acr: 'urn:tollgate:acr:live' }],
};

const CLIENT_DOC: RiskPolicy = {
  allowed_networks: ['10.0.0.0/8', '2001:db8::/32'],
  allowed_countries: ['DE', 'FR'],
  thresholds: { step_up: 30, deny: 70 },
  routes: [{ methods: ['POST'], path: '/orders/**', acr: 'urn:tollgate:acr:attested', max_age: 300, scopes: ['orders:write'] }],
};

describe('admin authentication (RFC 6750 §3)', () => {
  let clientId: string;
  before(async () => {
    clientId = await createClient();
  });

  const routes = (): Array<{ method: Method; path: string; body?: Body }> => [
    { method: 'get', path: '/admin/policy' },
    { method: 'put', path: '/admin/policy', body: DEFAULT_DOC },
    { method: 'get', path: `/admin/clients/${clientId}/policy` },
    { method: 'put', path: `/admin/clients/${clientId}/policy`, body: CLIENT_DOC },
    { method: 'delete', path: `/admin/clients/${clientId}/policy` },
  ];

  it('answers 401 without a token and with a wrong one, and writes nothing', async () => {
    const since = await lastAuditId();
    for (const { method, path, body } of routes()) {
      for (const auth of [null, 'Bearer wrong-token', `Basic ${Buffer.from('a:b').toString('base64')}`]) {
        const res = await api(method, path, body, auth);
        assert.equal(res.status, 401, `${method} ${path} with ${auth}: ${res.text}`);
        assert.match(res.headers['www-authenticate'] ?? '', /^Bearer/);
        assert.ok(['invalid_request', 'invalid_token'].includes(res.body.error), res.text);
      }
    }
    assert.deepEqual(await auditSince(since), []);
    assert.equal(await prisma().riskPolicy.count({ where: { clientId } }), 0);
  });
});

describe('the server default', () => {
  it('is the built-in policy while none is stored', async () => {
    const res = await api('get', '/admin/policy');
    assert.equal(res.status, 200, res.text);
    assertNoStore(res);
    assert.equal(res.body.source, 'builtin');
    assert.deepEqual(res.body.policy, BUILTIN_DEFAULT_POLICY);
    assert.equal(res.body.version, null);
    assert.deepEqual(BUILTIN_DEFAULT_POLICY, {
      thresholds: { step_up: 40, deny: 80 },
      step_up_acr: 'urn:tollgate:acr:live',
      on_new_key: 'allow',
      on_new_network: 'allow',
      baseline: { factor: 5, min_minutes: 10 },
    });
  });

  it('PUT stores it (audited with its version), GET returns it, each PUT increments the version', async () => {
    const since = await lastAuditId();
    const put = await api('put', '/admin/policy', DEFAULT_DOC);
    assert.equal(put.status, 200, put.text);
    assertNoStore(put);
    assert.equal(put.body.source, 'stored');
    assert.deepEqual(put.body.policy, DEFAULT_DOC);
    assert.equal(put.body.version, 1);
    assert.ok(!Number.isNaN(Date.parse(put.body.updated_at)));

    const get = await api('get', '/admin/policy');
    assert.equal(get.status, 200, get.text);
    assertNoStore(get);
    assert.deepEqual(get.body, put.body);

    const again = await api('put', '/admin/policy', DEFAULT_DOC);
    assert.equal(again.status, 200, again.text);
    assert.equal(again.body.version, 2);

    const events = (await auditSince(since)).filter((e) => e.action.startsWith('policy.'));
    assert.deepEqual(
      events.map((e) => [e.action, e.actor, e.client_id, e.details]),
      [
        ['policy.default.put', 'admin-token', null, { version: 1 }],
        ['policy.default.put', 'admin-token', null, { version: 2 }],
      ],
    );
  });
});

describe("a client's own policy", () => {
  let clientId: string;
  before(async () => {
    clientId = await createClient();
    const res = await api('put', '/admin/policy', DEFAULT_DOC);
    assert.equal(res.status, 200, res.text);
  });

  it('is absent at first: GET shows the default as the effective policy', async () => {
    const res = await api('get', `/admin/clients/${clientId}/policy`);
    assert.equal(res.status, 200, res.text);
    assertNoStore(res);
    assert.deepEqual(res.body, { client_id: clientId, policy: null, effective: DEFAULT_DOC, version: null, updated_at: null });
  });

  it('PUT stores it; the effective policy takes its fields over the default, its routes first', async () => {
    const since = await lastAuditId();
    const put = await api('put', `/admin/clients/${clientId}/policy`, CLIENT_DOC);
    assert.equal(put.status, 200, put.text);
    assertNoStore(put);
    assert.equal(put.body.client_id, clientId);
    assert.deepEqual(put.body.policy, CLIENT_DOC);
    assert.equal(put.body.version, 1);

    const effective = put.body.effective;
    assert.deepEqual(effective.thresholds, CLIENT_DOC.thresholds, 'the client field replaces the default one');
    assert.deepEqual(effective.allowed_networks, CLIENT_DOC.allowed_networks);
    assert.deepEqual(effective.allowed_countries, CLIENT_DOC.allowed_countries);
    assert.equal(effective.on_new_key, DEFAULT_DOC.on_new_key, 'fields the client does not set come from the default');
    assert.deepEqual(effective.baseline, DEFAULT_DOC.baseline);
    assert.deepEqual(
      effective.routes.map((r: Body) => r.path),
      ['/orders/**', '/default-only/**'],
      'client routes come first, then the default ones',
    );

    const get = await api('get', `/admin/clients/${clientId}/policy`);
    assert.equal(get.status, 200, get.text);
    assert.deepEqual(get.body, put.body);

    const second = await api('put', `/admin/clients/${clientId}/policy`, { ...CLIENT_DOC, on_new_network: 'step_up' });
    assert.equal(second.status, 200, second.text);
    assert.equal(second.body.version, 2);
    assert.equal(second.body.effective.on_new_network, 'step_up');

    const events = await auditSince(since, clientId);
    assert.deepEqual(
      events.map((e) => [e.action, e.actor, e.client_id, e.details]),
      [
        ['policy.client.put', 'admin-token', clientId, { version: 1 }],
        ['policy.client.put', 'admin-token', clientId, { version: 2 }],
      ],
    );
  });

  it('DELETE removes it (204, audited); the default applies again; a second DELETE is a no-op', async () => {
    const since = await lastAuditId();
    const del = await api('delete', `/admin/clients/${clientId}/policy`);
    assert.equal(del.status, 204, del.text);
    assertNoStore(del);
    const get = await api('get', `/admin/clients/${clientId}/policy`);
    assert.equal(get.status, 200, get.text);
    assert.deepEqual(get.body, { client_id: clientId, policy: null, effective: DEFAULT_DOC, version: null, updated_at: null });

    const again = await api('delete', `/admin/clients/${clientId}/policy`);
    assert.equal(again.status, 204, again.text);
    const events = await auditSince(since, clientId);
    assert.deepEqual(
      events.map((e) => [e.action, e.details]),
      [['policy.client.delete', { version: 2 }]],
      'one audit event for the one removal',
    );
  });

  it('answers 404 not_found for an unknown client, writing nothing', async () => {
    const since = await lastAuditId();
    const unknown = `tg_unknown_${RUN}`;
    for (const [method, body] of [['get'], ['put', CLIENT_DOC], ['delete']] as Array<[Method, Body?]>) {
      const res = await api(method, `/admin/clients/${unknown}/policy`, body);
      assert.equal(res.status, 404, `${method}: ${res.text}`);
      assert.equal(res.body.error, 'not_found');
      assertNoStore(res);
    }
    assert.equal(await prisma().riskPolicy.count({ where: { key: `client:${unknown}` } }), 0);
    assert.deepEqual((await auditSince(since)).filter((e) => e.action.startsWith('policy.')), []);
  });

  it('goes with the client when the client is deleted (ON DELETE CASCADE)', async () => {
    const doomed = await createClient();
    const put = await api('put', `/admin/clients/${doomed}/policy`, CLIENT_DOC);
    assert.equal(put.status, 200, put.text);
    const policies = server.tollgate.app.get(RiskPolicies);
    assert.deepEqual((await policies.effective(doomed)).thresholds, CLIENT_DOC.thresholds);

    const del = await api('delete', `/admin/clients/${doomed}`);
    assert.equal(del.status, 204, del.text);
    created.delete(doomed);
    assert.equal(await prisma().riskPolicy.count({ where: { key: `client:${doomed}` } }), 0);
    assert.equal((await api('get', `/admin/clients/${doomed}/policy`)).status, 404);
    assert.deepEqual((await policies.effective(doomed)).thresholds, DEFAULT_DOC.thresholds, 'the cached copy went too');
  });
});

describe('invalid documents: 400 naming the fields, nothing written', () => {
  let clientId: string;
  before(async () => {
    clientId = await createClient();
    const res = await api('put', `/admin/clients/${clientId}/policy`, CLIENT_DOC);
    assert.equal(res.status, 200, res.text);
  });

  const cases: Array<{ name: string; doc: unknown; fields: RegExp[] }> = [
    { name: 'a CIDR with a prefix too long', doc: { allowed_networks: ['10.0.0.0/33'] }, fields: [/^allowed_networks\[0\]/] },
    { name: 'a network that is no CIDR', doc: { allowed_networks: ['10.0.0.0', 'example.com/8'] }, fields: [/^allowed_networks\[1\]/] },
    { name: 'a country that is no ISO 3166-1 alpha-2 code', doc: { allowed_countries: ['DE', 'DEU'] }, fields: [/^allowed_countries\[1\]/] },
    { name: 'an unknown member', doc: { ...CLIENT_DOC, allowed_contries: ['DE'] }, fields: [/allowed_contries/] },
    { name: 'an unknown member of a route', doc: { routes: [{ path: '/a', acrr: 'x' }] }, fields: [/^routes\[0\]\.acrr/] },
    { name: 'a route path that is not absolute', doc: { routes: [{ path: '/ok/**' }, { path: 'orders/**' }] }, fields: [/^routes\[1\]\.path/] },
    { name: 'a route without a path', doc: { routes: [{ acr: 'urn:tollgate:acr:live' }] }, fields: [/^routes\[0\]\.path/] },
    { name: 'thresholds inverted', doc: { thresholds: { step_up: 80, deny: 40 } }, fields: [/^thresholds/] },
    { name: 'an unknown acr', doc: { step_up_acr: 'urn:example:acr:gold' }, fields: [/^step_up_acr/] },
    { name: 'an unknown acr on a route', doc: { routes: [{ path: '/a/**', acr: 'gold' }] }, fields: [/^routes\[0\]\.acr/] },
    {
      name: 'several problems at once',
      doc: { allowed_networks: ['300.0.0.0/8'], step_up_acr: 'x', thresholds: { step_up: 90, deny: 10 } },
      fields: [/^allowed_networks\[0\]/, /^step_up_acr/, /^thresholds/],
    },
  ];

  for (const { name, doc, fields } of cases) {
    it(`refuses ${name}`, async () => {
      const since = await lastAuditId();
      const before = await api('get', `/admin/clients/${clientId}/policy`);
      const defaultBefore = await api('get', '/admin/policy');

      assertNamesFields(await api('put', `/admin/clients/${clientId}/policy`, doc), fields);
      assertNamesFields(await api('put', '/admin/policy', doc), fields);

      assert.deepEqual((await api('get', `/admin/clients/${clientId}/policy`)).body, before.body, 'the client policy changed');
      assert.deepEqual((await api('get', '/admin/policy')).body, defaultBefore.body, 'the default changed');
      assert.deepEqual((await auditSince(since)).filter((e) => e.action.startsWith('policy.')), [], 'a refused document was audited');
    });
  }

  it('refuses a body that is not a JSON object', async () => {
    for (const body of [[], ['allowed_networks']]) {
      const res = await api('put', `/admin/clients/${clientId}/policy`, body);
      assert.equal(res.status, 400, res.text);
      assert.equal(res.body.error, 'invalid_request');
    }
    const text = await request(server.url)
      .put(`/admin/clients/${clientId}/policy`)
      .set('Authorization', server.admin)
      .set('Content-Type', 'application/json')
      .send('{"allowed_networks": [');
    assert.equal(text.status, 400, text.text);
  });

  it('refuses a body that is not JSON (415): an empty form must not store an empty policy', async () => {
    const since = await lastAuditId();
    for (const path of [`/admin/clients/${clientId}/policy`, '/admin/policy']) {
      const form = await request(server.url).put(path).set('Authorization', server.admin).type('form').send('');
      assert.equal(form.status, 415, form.text);
      assert.equal(form.body.error, 'invalid_request');
      const none = await request(server.url).put(path).set('Authorization', server.admin);
      assert.equal(none.status, 415, none.text);
    }
    assert.deepEqual((await auditSince(since)).filter((e) => e.action.startsWith('policy.')), []);
  });
});

describe('RiskPolicies.effective: a change takes effect on the next call', () => {
  it('follows client puts and deletes and default puts on this instance', async () => {
    const policies = server.tollgate.app.get(RiskPolicies);
    const own = await createClient();
    const plain = await createClient();
    assert.equal((await api('put', '/admin/policy', DEFAULT_DOC)).status, 200);

    // Warm the cache first: what follows shows invalidation, not a cold read.
    assert.deepEqual(await policies.effective(own), DEFAULT_DOC);
    assert.deepEqual(await policies.effective(plain), DEFAULT_DOC);
    assert.equal(await policies.effective(own), await policies.effective(own), 'served from memory');

    assert.equal((await api('put', `/admin/clients/${own}/policy`, CLIENT_DOC)).status, 200);
    assert.deepEqual((await policies.effective(own)).thresholds, CLIENT_DOC.thresholds);
    assert.deepEqual(await policies.effective(plain), DEFAULT_DOC, 'other clients are untouched');

    const changedDefault = { ...DEFAULT_DOC, thresholds: { step_up: 50, deny: 90 }, on_new_key: 'deny' as const };
    assert.equal((await api('put', '/admin/policy', changedDefault)).status, 200);
    assert.deepEqual(await policies.effective(plain), changedDefault, 'a default change reaches every client');
    const merged = await policies.effective(own);
    assert.deepEqual(merged.thresholds, CLIENT_DOC.thresholds);
    assert.equal(merged.on_new_key, 'deny');

    assert.equal((await api('delete', `/admin/clients/${own}/policy`)).status, 204);
    assert.deepEqual(await policies.effective(own), changedDefault);
    assert.ok(Object.isFrozen(await policies.effective(own)), 'shared policies cannot be mutated by a caller');
  });

  const shared = Boolean(process.env.DATABASE_URL && process.env.REDIS_URL);
  it(
    'reaches a second instance sharing the database and Redis',
    { skip: !shared && 'needs DATABASE_URL and REDIS_URL (the embedded database and memory events are per process)' },
    async () => {
      const second = await startTollgate({ TOLLGATE_ISSUER: server.url });
      // second.url is the shared issuer (the first instance): address the second one by its port.
      const secondUrl = `http://127.0.0.1:${second.config.port}`;
      try {
        const here = server.tollgate.app.get(RiskPolicies);
        const there = second.tollgate.app.get(RiskPolicies);
        const clientId = await createClient();
        assert.equal((await api('put', '/admin/policy', DEFAULT_DOC)).status, 200);
        assert.deepEqual(await eventually(() => there.effective(clientId), (p) => p.thresholds?.step_up === 45), DEFAULT_DOC);

        // A client policy written on the first instance, read on the second.
        assert.equal((await api('put', `/admin/clients/${clientId}/policy`, CLIENT_DOC)).status, 200);
        const started = Date.now();
        const seen = await eventually(() => there.effective(clientId), (p) => p.thresholds?.step_up === 30);
        assert.deepEqual(seen.thresholds, CLIENT_DOC.thresholds, 'the second instance kept a stale policy');
        assert.ok(Date.now() - started < 1000);

        // The default written on the second instance, read on the first.
        const changedDefault = { ...DEFAULT_DOC, on_new_network: 'step_up' as const };
        assert.equal((await api('put', '/admin/policy', changedDefault, second.admin, secondUrl)).status, 200);
        assert.equal((await there.effective(clientId)).on_new_network, 'step_up', 'the writing instance sees it at once');
        const first = await eventually(() => here.effective(clientId), (p) => p.on_new_network === 'step_up');
        assert.equal(first.on_new_network, 'step_up', 'the first instance kept a stale default');

        // A deletion on the second instance, read on the first.
        assert.equal((await api('delete', `/admin/clients/${clientId}/policy`, undefined, second.admin, secondUrl)).status, 204);
        const reverted = await eventually(() => here.effective(clientId), (p) => p.thresholds?.step_up === 45);
        assert.deepEqual(reverted, changedDefault);
      } finally {
        await second.close();
      }
    },
  );
});
