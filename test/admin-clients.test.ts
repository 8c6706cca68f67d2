import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { decodeJwt, exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import request from 'supertest';
import { DecisionLog } from '#audit';
import { type RunningTollgate, startTollgate, Workload } from '#test-support';

type KeyPair = Awaited<ReturnType<typeof generateKeyPair>>;
type Method = 'get' | 'post' | 'patch' | 'delete';
type Body = Record<string, any>;

const RESOURCE = 'https://api.example.test/';

let server: RunningTollgate;
/** Every client this file creates; whatever is still there at the end is deleted. */
const created = new Set<string>();
/** Unique per run, so this file's clients can be told apart from other suites' in a shared database. */
const RUN = randomBytes(4).toString('hex');

let es256: KeyPair;
let es256Public: JWK;
let es256Private: JWK;
let rsa1024Public: JWK;

before(async () => {
  server = await startTollgate();
  es256 = await generateKeyPair('ES256', { extractable: true });
  es256Public = { ...(await exportJWK(es256.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  es256Private = { ...(await exportJWK(es256.privateKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  rsa1024Public = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' }) as JWK;
});

after(async () => {
  for (const id of created) await api('delete', `/admin/clients/${id}`);
  await server.close();
});

/**
 * An admin API call. Every response is checked for the stored secret hash: it must never leave
 * the server, whatever the route or status.
 */
async function api(method: Method, path: string, body?: unknown, auth: string | null = server.admin) {
  let req = request(server.url)[method](path);
  if (auth !== null) req = req.set('Authorization', auth);
  const res = body === undefined ? await req : await req.send(body as object);
  assert.doesNotMatch(res.text ?? '', /secret_?hash|scrypt\$/i, `${method.toUpperCase()} ${path} exposed a secret hash`);
  if (method === 'post' && res.status === 201) created.add(res.body.client_id);
  return res;
}

function marker(label: string): string {
  return `admin-clients ${RUN} ${label} ${randomUUID()}`;
}

function workloadBody(extra: Body = {}): Body {
  return { client_name: marker('workload'), jwks: { keys: [es256Public] }, scope: 'orders:read', allowed_resources: [RESOURCE], ...extra };
}

/** Walks GET /admin/clients to the end; asserts the pagination invariants on the way. */
async function allClients(limit = 200): Promise<Body[]> {
  const out: Body[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 10_000; page++) {
    const res = await api('get', `/admin/clients?limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    assert.equal(res.status, 200, res.text);
    const clients: Body[] = res.body.clients;
    assert.ok(Array.isArray(clients));
    assert.ok(clients.length <= limit, `page of ${clients.length} exceeds limit ${limit}`);
    out.push(...clients);
    if (clients.length === limit) {
      assert.equal(res.body.next_cursor, clients[clients.length - 1]!.client_id, 'a full page points at its last client');
    } else {
      assert.equal(res.body.next_cursor, null, 'a short page is the last one');
    }
    if (!res.body.next_cursor) return out;
    cursor = res.body.next_cursor;
  }
  assert.fail('pagination did not end');
}

async function lastAuditId(): Promise<bigint> {
  const res = await api('get', '/admin/audit?limit=1');
  assert.equal(res.status, 200, res.text);
  return res.body.events.length ? BigInt(res.body.events[0].id) : 0n;
}

/** Audit events newer than `afterId`, oldest first. */
async function auditSince(afterId: bigint, clientId?: string): Promise<Body[]> {
  const out: Body[] = [];
  let cursor: string | null = null;
  for (;;) {
    const query = `limit=200${clientId ? `&client_id=${encodeURIComponent(clientId)}` : ''}${cursor ? `&cursor=${cursor}` : ''}`;
    const res = await api('get', `/admin/audit?${query}`);
    assert.equal(res.status, 200, res.text);
    for (const event of res.body.events as Body[]) {
      if (BigInt(event.id) <= afterId) return out.reverse();
      out.push(event);
    }
    if (!res.body.next_cursor) return out.reverse();
    cursor = res.body.next_cursor;
  }
}

interface Snapshot {
  count: number;
  auditId: bigint;
}

async function snapshot(): Promise<Snapshot> {
  return { auditId: await lastAuditId(), count: (await allClients()).length };
}

/**
 * Nothing was written since `before`: no new audit event, the client count unchanged and no client
 * named `name`. Other suites may share a real database, so their own (audited) creates and
 * deletes are allowed for: any write that is not accounted for by an audit event still fails.
 */
async function assertNothingWritten(before: Snapshot, name?: string): Promise<void> {
  const events = await auditSince(before.auditId);
  const clients = await allClients();
  if (name) {
    assert.equal(clients.filter((c) => c.client_name === name).length, 0, 'a refused client was stored');
    assert.equal(events.filter((e) => e.details?.client_name === name).length, 0, 'a refused client was audited');
  }
  const foreignCreates = events.filter((e) => e.action === 'client.create').length;
  const foreignDeletes = events.filter((e) => e.action === 'client.delete').length;
  const ours = events.filter((e) => e.client_id && created.has(e.client_id));
  assert.deepEqual(ours, [], `unexpected audit events: ${JSON.stringify(ours)}`);
  assert.equal(clients.length, before.count + foreignCreates - foreignDeletes, 'the client count changed');
}

function fieldsOf(res: request.Response): string[] {
  assert.ok(Array.isArray(res.body.fields), `no fields[] in ${res.text}`);
  for (const f of res.body.fields) {
    assert.equal(typeof f.field, 'string');
    assert.equal(typeof f.message, 'string');
    assert.ok(f.message.length > 0);
  }
  return [...new Set<string>(res.body.fields.map((f: Body) => f.field))].sort();
}

/** RFC 7591 §3.2.2 error response, naming exactly `fields`. */
function assertMetadataError(res: request.Response, fields: string[]): void {
  assert.equal(res.status, 400, res.text);
  assert.match(res.headers['content-type'] ?? '', /^application\/json/);
  assert.equal(res.body.error, 'invalid_client_metadata');
  assert.equal(typeof res.body.error_description, 'string');
  assert.deepEqual(fieldsOf(res), [...fields].sort());
  for (const field of fields) assert.ok(res.body.error_description.includes(field), `error_description does not name ${field}`);
  assert.equal(res.body.client_id, undefined);
  assert.equal(res.body.client_secret, undefined);
}

/** A client assertion (RFC 7523 §3) signed with any key, so old and new keys can be compared. */
async function assertion(clientId: string, key: KeyPair, kid: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ jti: randomUUID() })
    .setProtectedHeader({ alg: 'ES256', kid })
    .setIssuer(clientId)
    .setSubject(clientId)
    .setAudience(server.url)
    .setIssuedAt(now)
    .setExpirationTime(now + 60)
    .sign(key.privateKey);
}

function assertInvalidClient(res: request.Response): void {
  assert.equal(res.status, 401, res.text);
  assert.equal(res.body.error, 'invalid_client', res.text);
  assert.equal(res.body.access_token, undefined);
}

function basic(clientId: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}

function introspect(authorization: string) {
  return request(server.url).post('/oauth/introspect').set('Authorization', authorization).type('form').send({ token: 'x' });
}

async function createGateway(extra: Body = {}): Promise<{ id: string; secret: string; body: Body }> {
  const res = await api('post', '/admin/clients', { client_name: marker('gateway'), roles: ['gateway'], ...extra });
  assert.equal(res.status, 201, res.text);
  return { id: res.body.client_id, secret: res.body.client_secret, body: res.body };
}

describe('admin authentication (RFC 6750 §3)', () => {
  let target: Body;

  before(async () => {
    const res = await api('post', '/admin/clients', workloadBody());
    assert.equal(res.status, 201, res.text);
    target = res.body;
  });

  function routes(): Array<{ method: Method; path: string; body?: Body }> {
    return [
      { method: 'post', path: '/admin/clients', body: workloadBody() },
      { method: 'get', path: '/admin/clients' },
      { method: 'get', path: `/admin/clients/${target.client_id}` },
      { method: 'patch', path: `/admin/clients/${target.client_id}`, body: { client_name: 'hijacked' } },
      { method: 'delete', path: `/admin/clients/${target.client_id}` },
      { method: 'get', path: '/admin/audit' },
    ];
  }

  const refusals: Array<{ name: string; auth: () => string | null; challenge: string; error: string }> = [
    { name: 'no Authorization header', auth: () => null, challenge: 'Bearer', error: 'invalid_request' },
    { name: 'a wrong token of the same length', auth: () => `Bearer ${randomBytes(32).toString('base64url')}`, challenge: 'Bearer error="invalid_token"', error: 'invalid_token' },
    { name: 'the right token under the Basic scheme', auth: () => `Basic ${Buffer.from(`admin:${server.adminToken}`).toString('base64')}`, challenge: 'Bearer', error: 'invalid_request' },
    { name: 'the token with one extra character', auth: () => `Bearer ${server.adminToken}A`, challenge: 'Bearer error="invalid_token"', error: 'invalid_token' },
    { name: 'the token missing its last character', auth: () => `Bearer ${server.adminToken.slice(0, -1)}`, challenge: 'Bearer error="invalid_token"', error: 'invalid_token' },
    { name: 'an empty Bearer token', auth: () => 'Bearer ', challenge: 'Bearer', error: 'invalid_request' },
  ];

  for (const refusal of refusals) {
    it(`answers 401 with WWW-Authenticate: ${refusal.challenge} on every admin route for ${refusal.name}`, async () => {
      assert.equal(routes().length, 6);
      for (const route of routes()) {
        const res = await api(route.method, route.path, route.body, refusal.auth());
        const label = `${route.method.toUpperCase()} ${route.path}`;
        assert.equal(res.status, 401, `${label}: ${res.text}`);
        assert.equal(res.headers['www-authenticate'], refusal.challenge, label);
        assert.equal(res.headers['cache-control'], 'no-store', label);
        assert.match(res.headers['content-type'] ?? '', /^application\/json/, label);
        assert.equal(res.body.error, refusal.error, label);
        assert.equal(res.body.clients, undefined, label);
        assert.equal(res.body.events, undefined, label);
        assert.equal(res.body.client_id, undefined, label);
      }
    });
  }

  it('refused writes change nothing: the client is still there, unchanged, and no audit event was added', async () => {
    const before = await snapshot();
    for (const route of routes().filter((r) => r.method !== 'get')) {
      const res = await api(route.method, route.path, route.body, `Bearer ${randomBytes(32).toString('base64url')}`);
      assert.equal(res.status, 401);
    }
    const res = await api('get', `/admin/clients/${target.client_id}`);
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, target);
    await assertNothingWritten(before);
  });

  it('accepts the right token, with the auth scheme matched case-insensitively (RFC 7235 §2.1)', async () => {
    for (const scheme of ['Bearer', 'bearer', 'BEARER']) {
      const res = await api('get', `/admin/clients/${target.client_id}`, undefined, `${scheme} ${server.adminToken}`);
      assert.equal(res.status, 200, `${scheme}: ${res.text}`);
      assert.equal(res.body.client_id, target.client_id);
      assert.equal(res.headers['www-authenticate'], undefined);
    }
  });
});

describe('POST /admin/clients (RFC 7591 §2, §3.2.1)', () => {
  it('registers a workload with an ES256 jwks: 201, RFC 7591 names, role workload, DPoP-bound by default, no secret', async () => {
    const name = marker('create workload');
    const started = Math.floor(Date.now() / 1000);
    const res = await api('post', '/admin/clients', {
      client_name: name,
      jwks: { keys: [es256Public] },
      scope: 'orders:read orders:write',
      allowed_resources: [RESOURCE],
    });
    assert.equal(res.status, 201, res.text);
    assert.match(res.headers['content-type'] ?? '', /^application\/json/);
    assert.equal(res.headers['cache-control'], 'no-store');
    const body = res.body;
    assert.match(body.client_id, /^tg_[A-Za-z0-9_-]{16}$/);
    assert.equal(body.client_name, name);
    assert.ok(body.client_id_issued_at >= started - 5 && body.client_id_issued_at <= Math.floor(Date.now() / 1000) + 5);
    assert.equal(body.token_endpoint_auth_method, 'private_key_jwt');
    assert.deepEqual(body.grant_types, ['client_credentials', 'urn:tollgate:params:oauth:grant-type:step-up']);
    assert.deepEqual(body.jwks, { keys: [es256Public] });
    assert.equal(body.jwks_uri, undefined);
    assert.equal(body.scope, 'orders:read orders:write');
    assert.deepEqual(body.roles, ['workload']);
    assert.deepEqual(body.allowed_resources, [RESOURCE]);
    assert.equal(body.dpop_bound_access_tokens, true);
    assert.equal(body.require_dpop_nonce, false);
    assert.equal(body.status, 'active');
    assert.equal(body.client_secret, undefined);
    assert.equal(body.client_secret_expires_at, undefined);

    const got = await api('get', `/admin/clients/${body.client_id}`);
    assert.equal(got.status, 200);
    assert.deepEqual(got.body, body);
  });

  it('keeps dpop_bound_access_tokens: false and a custom access_token_ttl when asked', async () => {
    const res = await api('post', '/admin/clients', workloadBody({ dpop_bound_access_tokens: false, access_token_ttl: 3600 }));
    assert.equal(res.status, 201, res.text);
    assert.equal(res.body.dpop_bound_access_tokens, false);
    assert.equal(res.body.access_token_ttl, 3600);
  });

  it('stores only the public members of a key (RFC 7517 §4: unknown members are dropped)', async () => {
    const res = await api('post', '/admin/clients', workloadBody({ jwks: { keys: [{ ...es256Public, ext: true, note: 'x' }] } }));
    assert.equal(res.status, 201, res.text);
    assert.deepEqual(res.body.jwks, { keys: [es256Public] });
  });

  for (const variant of [
    { label: 'roles ["gateway"] with the auth method defaulted', extra: {} },
    { label: 'token_endpoint_auth_method client_secret_basic', extra: { token_endpoint_auth_method: 'client_secret_basic' } },
  ]) {
    it(`registers a gateway (${variant.label}): 201 with client_secret shown once (RFC 7591 §3.2.1)`, async () => {
      const { id, secret, body } = await createGateway(variant.extra);
      assert.equal(body.token_endpoint_auth_method, 'client_secret_basic');
      assert.deepEqual(body.roles, ['gateway']);
      assert.deepEqual(body.grant_types, []);
      assert.equal(body.jwks, undefined);
      assert.equal(body.jwks_uri, undefined);
      assert.match(secret, /^[A-Za-z0-9_-]{43}$/);
      assert.equal(body.client_secret_expires_at, 0);
      assert.equal(body.status, 'active');

      // The secret works (introspection is gateway-only, RFC 7662 §2.1) ...
      const ok = await introspect(basic(id, secret));
      assert.equal(ok.status, 200, ok.text);
      assert.deepEqual(ok.body, { active: false });

      // ... and is never shown again.
      const got = await api('get', `/admin/clients/${id}`);
      assert.equal(got.status, 200);
      assert.equal(got.body.client_secret, undefined);
      assert.equal(got.body.client_secret_expires_at, undefined);
      assert.ok(!got.text.includes(secret));
      const { client_secret: _s, client_secret_expires_at: _e, ...view } = body;
      assert.deepEqual(got.body, view);
      const listed = (await allClients()).find((c) => c.client_id === id);
      assert.ok(listed, 'gateway missing from the list');
      assert.equal(listed.client_secret, undefined);
      assert.ok(!JSON.stringify(listed).includes(secret));
    });
  }

  it('gives every gateway its own secret', async () => {
    const a = await createGateway();
    const b = await createGateway();
    assert.notEqual(a.secret, b.secret);
    assertInvalidClient(await introspect(basic(b.id, a.secret)));
  });
});

describe('POST /admin/clients refuses bad metadata with 400 invalid_client_metadata naming each field (RFC 7591 §3.2.2)', () => {
  const cases: Array<{ name: string; body: () => Body; fields: string[] }> = [
    {
      name: 'a private key inside jwks (d)',
      body: () => workloadBody({ jwks: { keys: [es256Private] } }),
      fields: ['jwks.keys[0].d'],
    },
    {
      name: 'a symmetric key (kty oct)',
      body: () => workloadBody({ jwks: { keys: [{ kty: 'oct', k: randomBytes(32).toString('base64url') }] } }),
      fields: ['jwks.keys[0].kty', 'jwks.keys[0].k'],
    },
    {
      name: 'a 1024-bit RSA key',
      body: () => workloadBody({ jwks: { keys: [rsa1024Public] } }),
      fields: ['jwks.keys[0].n'],
    },
    {
      name: 'alg HS256 on an EC key',
      body: () => workloadBody({ jwks: { keys: [{ ...es256Public, alg: 'HS256' }] } }),
      fields: ['jwks.keys[0].alg'],
    },
    {
      name: 'alg ES512 on a P-256 key',
      body: () => workloadBody({ jwks: { keys: [{ ...es256Public, alg: 'ES512' }] } }),
      fields: ['jwks.keys[0].alg'],
    },
    {
      name: 'alg ES384 on a P-256 key',
      body: () => workloadBody({ jwks: { keys: [{ ...es256Public, alg: 'ES384' }] } }),
      fields: ['jwks.keys[0].alg'],
    },
    {
      name: 'a bad key behind a good one, by index',
      body: () => workloadBody({ jwks: { keys: [es256Public, { ...es256Private, kid: 'k2' }] } }),
      fields: ['jwks.keys[1].d'],
    },
    {
      name: 'token_endpoint_auth_method "none"',
      body: () => workloadBody({ token_endpoint_auth_method: 'none' }),
      fields: ['token_endpoint_auth_method'],
    },
    {
      name: 'token_endpoint_auth_method client_secret_basic for a workload',
      body: () => workloadBody({ token_endpoint_auth_method: 'client_secret_basic' }),
      fields: ['token_endpoint_auth_method'],
    },
    {
      name: 'token_endpoint_auth_method private_key_jwt for a gateway',
      body: () => ({ client_name: marker('bad'), roles: ['gateway'], token_endpoint_auth_method: 'private_key_jwt' }),
      fields: ['token_endpoint_auth_method'],
    },
    {
      name: 'an unknown field (forbidNonWhitelisted)',
      body: () => workloadBody({ software_id: 'x' }),
      fields: ['software_id'],
    },
    {
      name: 'a client-chosen client_secret',
      body: () => ({ client_name: marker('bad'), roles: ['gateway'], client_secret: 'chosen-by-the-caller' }),
      fields: ['client_secret'],
    },
    {
      name: 'scope values with characters outside RFC 6749 §3.3',
      body: () => workloadBody({ scope: 'orders:read bad"scope back\\slash' }),
      fields: ['scope[1]', 'scope[2]'],
    },
    {
      name: 'an allowed resource with a fragment (RFC 8707 §2)',
      body: () => workloadBody({ allowed_resources: [RESOURCE, 'https://api.example.test/#frag'] }),
      fields: ['allowed_resources[1]'],
    },
    {
      name: 'a relative allowed resource (RFC 8707 §2)',
      body: () => workloadBody({ allowed_resources: ['/orders'] }),
      fields: ['allowed_resources[0]'],
    },
    {
      name: 'access_token_ttl above the server maximum (3600)',
      body: () => workloadBody({ access_token_ttl: 3601 }),
      fields: ['access_token_ttl'],
    },
    {
      name: 'access_token_ttl below 10',
      body: () => workloadBody({ access_token_ttl: 9 }),
      fields: ['access_token_ttl'],
    },
    {
      name: 'a workload with neither jwks nor jwks_uri',
      body: () => workloadBody({ jwks: undefined }),
      fields: ['jwks'],
    },
    {
      name: 'a workload with both jwks and jwks_uri',
      body: () => workloadBody({ jwks_uri: 'https://keys.example.test/jwks.json' }),
      fields: ['jwks'],
    },
    {
      name: 'a jwks_uri that is not https',
      body: () => workloadBody({ jwks: undefined, jwks_uri: 'http://keys.example.test/jwks.json' }),
      fields: ['jwks_uri'],
    },
    {
      name: 'a workload without allowed_resources',
      body: () => workloadBody({ allowed_resources: [] }),
      fields: ['allowed_resources'],
    },
    {
      name: 'a gateway with jwks',
      body: () => ({ client_name: marker('bad'), roles: ['gateway'], jwks: { keys: [es256Public] } }),
      fields: ['jwks'],
    },
    {
      name: 'two roles at once',
      body: () => workloadBody({ roles: ['workload', 'gateway'], token_endpoint_auth_method: 'private_key_jwt' }),
      fields: ['roles'],
    },
    {
      name: 'an unknown role',
      body: () => workloadBody({ roles: ['admin'] }),
      fields: ['roles'],
    },
    {
      name: 'wrong types (roles not an array, jwks a string, ttl a string, booleans as strings, scope a number, resources a string)',
      body: () => ({
        client_name: marker('bad'),
        roles: 'workload',
        jwks: 'x',
        access_token_ttl: '300',
        dpop_bound_access_tokens: 'yes',
        require_dpop_nonce: 1,
        scope: 5,
        allowed_resources: RESOURCE,
      }),
      fields: ['roles', 'jwks', 'access_token_ttl', 'dpop_bound_access_tokens', 'require_dpop_nonce', 'scope', 'allowed_resources'],
    },
    {
      name: 'client_name that is not a string and a non-integer ttl',
      body: () => workloadBody({ client_name: 42, access_token_ttl: 30.5 }),
      fields: ['client_name', 'access_token_ttl'],
    },
    {
      name: 'null for fields that cannot be null (scope, roles, allowed_resources, dpop_bound_access_tokens)',
      body: () => workloadBody({ scope: null, roles: null, allowed_resources: null, dpop_bound_access_tokens: null }),
      fields: ['scope', 'roles', 'allowed_resources', 'dpop_bound_access_tokens'],
    },
    {
      name: 'several bad fields at once: private key, bad scope, fragment resource, ttl over the maximum',
      body: () =>
        workloadBody({
          jwks: { keys: [es256Private] },
          scope: 'ok b"d',
          allowed_resources: ['https://api.example.test/#x'],
          access_token_ttl: 4000,
        }),
      fields: ['jwks.keys[0].d', 'scope[1]', 'allowed_resources[0]', 'access_token_ttl'],
    },
    {
      name: 'several bad fields at once: unknown field, auth method none, wrong types',
      body: () => workloadBody({ extra: 1, token_endpoint_auth_method: 'none', roles: 'workload', access_token_ttl: 5 }),
      fields: ['extra', 'token_endpoint_auth_method', 'roles', 'access_token_ttl'],
    },
  ];

  for (const c of cases) {
    it(`refuses ${c.name} and writes nothing`, async () => {
      const body = c.body();
      const before = await snapshot();
      const res = await api('post', '/admin/clients', body);
      assertMetadataError(res, c.fields);
      assert.equal(res.headers['cache-control'], 'no-store');
      await assertNothingWritten(before, typeof body.client_name === 'string' ? body.client_name : undefined);
    });
  }

  it('refuses a body that is not a JSON object', async () => {
    const before = await snapshot();
    const res = await request(server.url).post('/admin/clients').set('Authorization', server.admin).type('json').send('[1,2]');
    assert.equal(res.status, 400, res.text);
    assert.equal(res.body.client_id, undefined);
    await assertNothingWritten(before);
  });
});

describe('GET /admin/clients', () => {
  it('pages with limit and cursor: next_cursor chains the pages and every client is listed exactly once, in order', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await api('post', '/admin/clients', workloadBody({ client_name: marker(`page ${i}`) }));
      assert.equal(res.status, 201, res.text);
      ids.push(res.body.client_id);
    }
    const first = await api('get', '/admin/clients?limit=2');
    assert.equal(first.status, 200);
    assert.equal(first.body.clients.length, 2);
    assert.equal(first.body.next_cursor, first.body.clients[1].client_id);

    const listed = (await allClients(2)).map((c) => c.client_id);
    assert.equal(new Set(listed).size, listed.length, 'a client was listed twice');
    for (const id of ids) assert.equal(listed.filter((x) => x === id).length, 1, `${id} not listed exactly once`);

    // Small pages chained by cursor give exactly the sequence of one big page (a stable order).
    const whole = (await allClients(200)).map((c) => c.client_id);
    assert.deepEqual(listed, whole);
  });

  it('lists clients in the same RFC 7591 view as GET one, plus their activity', async () => {
    const res = await api('post', '/admin/clients', workloadBody());
    assert.equal(res.status, 201);
    const one = await api('get', `/admin/clients/${res.body.client_id}`);
    const listed = (await allClients()).find((c) => c.client_id === res.body.client_id);
    assert.deepEqual(listed, { ...one.body, last_seen: null, decisions_last_hour: 0 });
  });

  it('shows each client’s last decision and its decisions in the last hour', async () => {
    const [a, b] = [await api('post', '/admin/clients', workloadBody()), await api('post', '/admin/clients', workloadBody())];
    const log = server.tollgate.app.get(DecisionLog);
    const now = Date.now();
    const at = (minutesAgo: number) => new Date(now - minutesAgo * 60_000);
    const record = (clientId: string, when: Date) => log.record({ id: randomUUID(), at: when, kind: 'check', clientId, decision: 'allow', score: 0, reasons: [] });
    await record(a.body.client_id, at(120)); // outside the hour
    await record(a.body.client_id, at(59));
    await record(a.body.client_id, at(2));
    await record(b.body.client_id, at(90));
    const page = await api('get', `/admin/clients?q=${encodeURIComponent(RUN)}&limit=200`);
    assert.equal(page.status, 200, page.text);
    const of = (id: string) => page.body.clients.find((c: Body) => c.client_id === id);
    assert.equal(of(a.body.client_id).last_seen, at(2).toISOString());
    assert.equal(of(a.body.client_id).decisions_last_hour, 2);
    assert.equal(of(b.body.client_id).last_seen, at(90).toISOString());
    assert.equal(of(b.body.client_id).decisions_last_hour, 0);
    // A real token request counts as soon as it is answered (the list writes what is queued first).
    const w = await Workload.register(server);
    created.add(w.clientId);
    await w.token();
    const mine = (await api('get', `/admin/clients?q=${w.clientId}`)).body.clients;
    assert.equal(mine.length, 1);
    assert.equal(mine[0].decisions_last_hour, 1);
    assert.ok(Date.now() - Date.parse(mine[0].last_seen) < 60_000);
  });

  it('searches by name or client id, case-insensitively, with the search text taken literally', async () => {
    const tag = randomBytes(4).toString('hex');
    const names = [`Search ${tag} 50% OFF`, `search ${tag} a_b`, `search ${tag} axb`];
    const ids: string[] = [];
    for (const client_name of names) ids.push((await api('post', '/admin/clients', workloadBody({ client_name }))).body.client_id);
    const found = async (q: string, extra = '') => {
      const res = await api('get', `/admin/clients?q=${encodeURIComponent(q)}&limit=200${extra}`);
      assert.equal(res.status, 200, res.text);
      return (res.body.clients as Body[]).map((c) => c.client_name as string).sort();
    };
    assert.deepEqual(await found(`SEARCH ${tag}`), [...names].sort());
    assert.deepEqual(await found(`${tag} 50%`), [names[0]]);
    assert.deepEqual(await found(`${tag} a_b`), [names[1]], '_ matches only an underscore');
    assert.deepEqual(await found(`${tag} a%b`), []);
    assert.deepEqual(await found(ids[2]!.toUpperCase()), [names[2]], 'by client id, any case');
    assert.deepEqual(await found(`${tag}'; DROP TABLE clients; --`), []);
    assert.equal((await api('get', `/admin/clients/${ids[0]}`)).status, 200);
    // Paging within a search: the cursor chains the matching clients only.
    const first = await api('get', `/admin/clients?q=${encodeURIComponent(`search ${tag}`)}&limit=2`);
    assert.equal(first.body.clients.length, 2);
    const second = await api('get', `/admin/clients?q=${encodeURIComponent(`search ${tag}`)}&limit=2&cursor=${encodeURIComponent(first.body.next_cursor)}`);
    assert.equal(second.body.clients.length, 1);
    assert.equal(second.body.next_cursor, null);
    assert.deepEqual([...first.body.clients, ...second.body.clients].map((c: Body) => c.client_id), [...ids].sort());
    const long = await api('get', `/admin/clients?q=${'x'.repeat(201)}`);
    assert.equal(long.status, 400);
    assert.equal(long.body.fields[0].field, 'q');
  });

  it('refuses a repeated parameter with 400 naming it, here and in the audit log', async () => {
    for (const [path, field] of [
      ['/admin/clients?limit=1&limit=2', 'limit'],
      ['/admin/clients?cursor=a&cursor=b', 'cursor'],
      ['/admin/clients?q=a&q=b', 'q'],
      ['/admin/audit?limit=1&limit=2', 'limit'],
      ['/admin/audit?cursor=1&cursor=2', 'cursor'],
    ] as const) {
      const res = await api('get', path);
      assert.equal(res.status, 400, `${path}: ${res.text}`);
      assert.equal(res.body.error, 'invalid_request');
      assert.deepEqual(res.body.fields, [{ field, message: 'must be given once, as a single value' }], path);
    }
  });

  it('answers 404 with a JSON error for an unknown client_id', async () => {
    const res = await api('get', '/admin/clients/tg_doesnotexist0000');
    assert.equal(res.status, 404);
    assert.match(res.headers['content-type'] ?? '', /^application\/json/);
    assert.equal(res.body.error, 'not_found');
    assert.equal(typeof res.body.error_description, 'string');
  });
});

describe('PATCH /admin/clients/:client_id', () => {
  it('renames a client and changes nothing else', async () => {
    const w = await Workload.register(server);
    created.add(w.clientId);
    const before = (await api('get', `/admin/clients/${w.clientId}`)).body;
    const res = await api('patch', `/admin/clients/${w.clientId}`, { client_name: 'renamed workload' });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.equal(res.body.client_name, 'renamed workload');
    assert.equal(res.body.client_secret, undefined);
    const { client_name: _a, updated_at: _b, ...rest } = res.body;
    const { client_name: _c, updated_at: _d, ...restBefore } = before;
    assert.deepEqual(rest, restBefore);
    assert.ok(Date.parse(res.body.updated_at) >= Date.parse(before.updated_at));
    assert.deepEqual((await api('get', `/admin/clients/${w.clientId}`)).body, res.body);
  });

  it('changes the scope, and token requests follow the new scope (RFC 6749 §3.3)', async () => {
    const w = await Workload.register(server);
    created.add(w.clientId);
    const res = await api('patch', `/admin/clients/${w.clientId}`, { scope: 'inventory:read orders:read' });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.scope, 'inventory:read orders:read');
    assert.equal((await api('get', `/admin/clients/${w.clientId}`)).body.scope, 'inventory:read orders:read');

    const granted = await w.requestToken({ scope: 'inventory:read' });
    assert.equal(granted.status, 200, granted.text);
    assert.equal(decodeJwt(granted.body.access_token).scope, 'inventory:read');
    const refused = await w.requestToken({ scope: 'orders:write' });
    assert.equal(refused.status, 400, refused.text);
    assert.equal(refused.body.error, 'invalid_scope');
  });

  it('rotates keys by replacing jwks: the old key is gone from GET and its assertions fail with invalid_client, the new key works', async () => {
    const w = await Workload.register(server);
    created.add(w.clientId);
    const oldKey = w.clientKey;
    const oldPublic = await exportJWK(oldKey.publicKey);
    const ok = await w.requestToken({}, undefined, await assertion(w.clientId, oldKey, 'k1'));
    assert.equal(ok.status, 200, `before rotation: ${ok.text}`);

    const newKey = await generateKeyPair('ES256', { extractable: true });
    const newPublic = { ...(await exportJWK(newKey.publicKey)), kid: 'k2', alg: 'ES256', use: 'sig' };
    const res = await api('patch', `/admin/clients/${w.clientId}`, { jwks: { keys: [newPublic] } });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body.jwks, { keys: [newPublic] });

    const got = await api('get', `/admin/clients/${w.clientId}`);
    assert.deepEqual(got.body.jwks, { keys: [newPublic] });
    assert.ok(!got.text.includes(oldPublic.x!), 'the old key is still registered');

    assertInvalidClient(await w.requestToken({}, undefined, await assertion(w.clientId, oldKey, 'k1')));
    assertInvalidClient(await w.requestToken({}, undefined, await assertion(w.clientId, oldKey, 'k2')));
    const fresh = await w.requestToken({}, undefined, await assertion(w.clientId, newKey, 'k2'));
    assert.equal(fresh.status, 200, `after rotation: ${fresh.text}`);
    assert.equal(decodeJwt(fresh.body.access_token).client_id, w.clientId);
  });

  it('status "suspended" makes the next token request fail with invalid_client; "active" restores it', async () => {
    const w = await Workload.register(server);
    created.add(w.clientId);
    assert.equal((await w.requestToken()).status, 200);

    const suspended = await api('patch', `/admin/clients/${w.clientId}`, { status: 'suspended' });
    assert.equal(suspended.status, 200, suspended.text);
    assert.equal(suspended.body.status, 'suspended');
    assert.equal((await api('get', `/admin/clients/${w.clientId}`)).body.status, 'suspended');
    assertInvalidClient(await w.requestToken());

    const active = await api('patch', `/admin/clients/${w.clientId}`, { status: 'active' });
    assert.equal(active.status, 200, active.text);
    assert.equal(active.body.status, 'active');
    const res = await w.requestToken();
    assert.equal(res.status, 200, res.text);
  });

  it('rotate_secret on a gateway returns a new secret once; the old secret stops working for introspection', async () => {
    const { id, secret: oldSecret } = await createGateway();
    const before = await introspect(basic(id, oldSecret));
    assert.equal(before.status, 200, before.text);
    assert.deepEqual(before.body, { active: false });

    const res = await api('patch', `/admin/clients/${id}`, { rotate_secret: true });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.headers['cache-control'], 'no-store');
    const newSecret: string = res.body.client_secret;
    assert.match(newSecret, /^[A-Za-z0-9_-]{43}$/);
    assert.notEqual(newSecret, oldSecret);
    assert.equal(res.body.client_secret_expires_at, 0);

    const stale = await introspect(basic(id, oldSecret));
    assertInvalidClient(stale);
    assert.match(stale.headers['www-authenticate'] ?? '', /^Basic /);
    const fresh = await introspect(basic(id, newSecret));
    assert.equal(fresh.status, 200, fresh.text);
    assert.deepEqual(fresh.body, { active: false });

    const got = await api('get', `/admin/clients/${id}`);
    assert.equal(got.body.client_secret, undefined);
    assert.ok(!got.text.includes(newSecret));

    // Other changes keep the secret (no new one is shown).
    const renamed = await api('patch', `/admin/clients/${id}`, { client_name: 'renamed gateway' });
    assert.equal(renamed.status, 200, renamed.text);
    assert.equal(renamed.body.client_secret, undefined);
    assert.equal((await introspect(basic(id, newSecret))).status, 200);
  });

  it('a suspended gateway cannot authenticate', async () => {
    const { id, secret } = await createGateway();
    assert.equal((await api('patch', `/admin/clients/${id}`, { status: 'suspended' })).status, 200);
    assertInvalidClient(await introspect(basic(id, secret)));
    assert.equal((await api('patch', `/admin/clients/${id}`, { status: 'active' })).status, 200);
    assert.equal((await introspect(basic(id, secret))).status, 200);
  });

  it('refuses invalid patches with 400 naming the field, leaving the record and the audit log unchanged', async () => {
    const w = await Workload.register(server);
    created.add(w.clientId);
    const before = (await api('get', `/admin/clients/${w.clientId}`)).body;
    const auditId = await lastAuditId();
    const bad: Array<[Body, string[]]> = [
      [{ jwks: { keys: [es256Private] } }, ['jwks.keys[0].d']],
      [{ jwks: { keys: [{ kty: 'oct', k: 'c2VjcmV0' }] } }, ['jwks.keys[0].kty', 'jwks.keys[0].k']],
      [{ jwks: null }, ['jwks']],
      [{ access_token_ttl: 3601 }, ['access_token_ttl']],
      [{ token_endpoint_auth_method: 'none' }, ['token_endpoint_auth_method']],
      [{ status: 'deleted' }, ['status']],
      [{ status: null }, ['status']],
      [{ scope: null }, ['scope']],
      [{ allowed_resources: null }, ['allowed_resources']],
      [{ roles: null }, ['roles']],
      [{ dpop_bound_access_tokens: null }, ['dpop_bound_access_tokens']],
      [{ scope: 'fine not"fine' }, ['scope[1]']],
      [{ allowed_resources: ['relative/path'] }, ['allowed_resources[0]']],
      [{ client_id: 'tg_other' }, ['client_id']],
      [{ rotate_secret: true }, ['rotate_secret']],
      [{ roles: ['gateway'] }, ['token_endpoint_auth_method', 'jwks']],
      [{ jwks: { keys: [es256Public] }, jwks_uri: 'https://keys.example.test/jwks.json' }, ['jwks']],
    ];
    for (const [patch, fields] of bad) {
      const res = await api('patch', `/admin/clients/${w.clientId}`, { client_name: 'must not stick', ...patch });
      assert.equal(res.status, 400, `${JSON.stringify(patch)}: ${res.text}`);
      assertMetadataError(res, fields);
    }
    const after = await api('get', `/admin/clients/${w.clientId}`);
    assert.deepEqual(after.body, before);
    assert.deepEqual(await auditSince(auditId, w.clientId), []);
    assert.equal((await w.requestToken()).status, 200, 'the client stopped working after refused patches');
  });

  it('answers 404 for an unknown client_id and writes no audit event', async () => {
    const auditId = await lastAuditId();
    const res = await api('patch', '/admin/clients/tg_doesnotexist0000', { client_name: 'x' });
    assert.equal(res.status, 404, res.text);
    assert.equal(res.body.error, 'not_found');
    assert.deepEqual(await auditSince(auditId, 'tg_doesnotexist0000'), []);
  });
});

describe('DELETE /admin/clients/:client_id', () => {
  it('answers 204, then GET is 404, token requests fail with invalid_client, and a second DELETE is 404', async () => {
    const w = await Workload.register(server);
    created.add(w.clientId);
    assert.equal((await w.requestToken()).status, 200);

    const res = await api('delete', `/admin/clients/${w.clientId}`);
    assert.equal(res.status, 204, res.text);
    assert.equal(res.text, '');

    const got = await api('get', `/admin/clients/${w.clientId}`);
    assert.equal(got.status, 404);
    assert.equal(got.body.error, 'not_found');
    assert.ok(!(await allClients()).some((c) => c.client_id === w.clientId));
    assertInvalidClient(await w.requestToken());

    const again = await api('delete', `/admin/clients/${w.clientId}`);
    assert.equal(again.status, 404);
    assert.equal(again.body.error, 'not_found');
    assert.equal((await api('patch', `/admin/clients/${w.clientId}`, { client_name: 'x' })).status, 404);
  });

  it('a deleted gateway cannot authenticate any more', async () => {
    const { id, secret } = await createGateway();
    assert.equal((await introspect(basic(id, secret))).status, 200);
    assert.equal((await api('delete', `/admin/clients/${id}`)).status, 204);
    assertInvalidClient(await introspect(basic(id, secret)));
  });
});

describe('audit log (GET /admin/audit)', () => {
  it('records create, update, suspend, activate and delete in order, by the admin actor, without secrets or key material', async () => {
    const auditId = await lastAuditId();
    const name = marker('audited');
    const create = await api('post', '/admin/clients', workloadBody({ client_name: name }));
    assert.equal(create.status, 201);
    const id: string = create.body.client_id;
    const newKey = await generateKeyPair('ES256', { extractable: true });
    const newPublic = { ...(await exportJWK(newKey.publicKey)), kid: 'k2' };
    assert.equal((await api('patch', `/admin/clients/${id}`, { client_name: 'audited, renamed' })).status, 200);
    assert.equal((await api('patch', `/admin/clients/${id}`, { jwks: { keys: [newPublic] } })).status, 200);
    assert.equal((await api('patch', `/admin/clients/${id}`, { status: 'suspended' })).status, 200);
    assert.equal((await api('patch', `/admin/clients/${id}`, { status: 'active' })).status, 200);
    assert.equal((await api('delete', `/admin/clients/${id}`)).status, 204);

    const res = await api('get', `/admin/audit?client_id=${encodeURIComponent(id)}`);
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'] ?? '', /^application\/json/);
    const newestFirst: Body[] = res.body.events;
    const ids = newestFirst.map((e) => BigInt(e.id));
    assert.deepEqual(ids, [...ids].sort((a, b) => (a > b ? -1 : a < b ? 1 : 0)), 'events are not newest first');
    const events = [...newestFirst].reverse();
    assert.deepEqual(
      events.map((e) => e.action),
      ['client.create', 'client.update', 'client.update', 'client.suspend', 'client.activate', 'client.delete'],
    );
    assert.deepEqual(await auditSince(auditId, id), events);
    for (const e of events) {
      assert.equal(e.actor, 'admin-token');
      assert.equal(e.client_id, id);
      assert.ok(!Number.isNaN(Date.parse(e.at)));
      const details = JSON.stringify(e.details);
      for (const secretish of [es256Public.x!, es256Public.y!, newPublic.x!, newPublic.y!, '"d"', 'scrypt']) {
        assert.ok(!details.includes(secretish), `${e.action} details contain ${secretish}: ${details}`);
      }
    }
    assert.deepEqual(events[0]!.details, { roles: ['workload'], client_name: name });
    assert.deepEqual(events[1]!.details, { fields: ['client_name'] });
    assert.deepEqual(events[2]!.details, { fields: ['jwks'], keys_replaced: true });
    assert.deepEqual(events[3]!.details.fields, ['status']);
    for (let i = 1; i < events.length; i++) assert.ok(Date.parse(events[i]!.at) >= Date.parse(events[i - 1]!.at));
  });

  it('records a gateway secret rotation without the secret', async () => {
    const auditId = await lastAuditId();
    const { id, secret } = await createGateway();
    const rotated = await api('patch', `/admin/clients/${id}`, { rotate_secret: true });
    assert.equal(rotated.status, 200);
    const events = await auditSince(auditId, id);
    assert.deepEqual(events.map((e) => e.action), ['client.create', 'client.update']);
    assert.deepEqual(events[1]!.details, { fields: [], secret_rotated: true });
    const text = JSON.stringify(events);
    assert.ok(!text.includes(secret));
    assert.ok(!text.includes(rotated.body.client_secret));
  });

  it('pages with limit and cursor, and filters by client_id', async () => {
    const { id } = await createGateway();
    for (const n of ['a', 'b', 'c']) assert.equal((await api('patch', `/admin/clients/${id}`, { client_name: n })).status, 200);
    const first = await api('get', `/admin/audit?client_id=${id}&limit=2`);
    assert.equal(first.body.events.length, 2);
    assert.equal(first.body.next_cursor, first.body.events[1].id);
    const second = await api('get', `/admin/audit?client_id=${id}&limit=2&cursor=${first.body.next_cursor}`);
    assert.equal(second.body.events.length, 2);
    assert.equal(second.body.next_cursor, second.body.events[1].id);
    const third = await api('get', `/admin/audit?client_id=${id}&limit=2&cursor=${second.body.next_cursor}`);
    assert.deepEqual(third.body, { events: [], next_cursor: null });
    const all = [...first.body.events, ...second.body.events];
    assert.deepEqual(all.map((e: Body) => e.action), ['client.update', 'client.update', 'client.update', 'client.create']);
    assert.ok(all.every((e: Body) => e.client_id === id));
  });

  it('refuses a repeated client_id parameter with 400 instead of failing', async () => {
    const res = await api('get', '/admin/audit?client_id=a&client_id=b');
    assert.equal(res.status, 400, res.text);
    assert.equal(res.body.error, 'invalid_request');
  });
});
