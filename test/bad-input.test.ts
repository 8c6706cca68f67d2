/**
 * Bad input, generated (issue 9 §3): a seeded stream of mutated requests against a real server.
 * Every answer must be below 500, a JSON `{ error }` body when it is an error, without a stack
 * trace; and every 4xx must have changed nothing (the client list, the audit log, the policies).
 *
 * The seed is fixed so a run is reproducible; TOLLGATE_FUZZ_SEED picks another one, and a
 * failure prints the seed and the case that broke.
 */
import assert from 'node:assert/strict';
import { Agent, request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { BUILTIN_DEFAULT_POLICY } from '#risk';
import { keepDefaultPolicy, registerGateway, type RunningTollgate, startTollgate, Workload, type Gateway } from '#test-support';

const SEED = Number(process.env.TOLLGATE_FUZZ_SEED ?? 0x7011_9a7e) >>> 0;
/** Cases per target; ten targets. */
const CASES = Number(process.env.TOLLGATE_FUZZ_CASES ?? 40);
const RESOURCE = 'https://api.example.test/';

// ---------------------------------------------------------------- a seeded source of choices

/** mulberry32: small, fast, good enough to pick mutations; the same seed gives the same cases. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (min: number, max: number) => min + Math.floor(next() * (max - min + 1)),
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!,
    chance: (p: number) => next() < p,
  };
}
type Rng = ReturnType<typeof prng>;

/** A stream per target, so adding cases to one target does not change the others'. */
function rngFor(target: string): Rng {
  let h = SEED;
  for (const ch of target) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  return prng(h);
}

// ---------------------------------------------------------------- nasty values

/** Strings PostgreSQL cannot store (NUL, lone surrogates) or that upset naive code. */
const NASTY = [
  'a\u0000b', '\u0000', 'x\u0000', '\ud800', 'a\udfff', '\udc00\ud800', 'end\ud83d', '\ud83d', 'tab\tnew\nline',
  '\u0001\u001f\u007f', '\u0085\u2028', '%00', '\\u0000', '"\'`', '../../etc', 'é😀', '', '__proto__', 'constructor',
];

function nastyString(r: Rng): string {
  if (r.chance(0.6)) return r.pick(NASTY);
  const pool = ['a', 'Z', '0', ' ', '\u0000', '\ud800', '\udc00', '😀', '"', '\\', '\n', '\u007f', 'é', '/', '%'];
  let s = '';
  for (let i = r.int(1, 12); i > 0; i--) s += r.pick(pool);
  return s;
}

/** Placeholders replaced after JSON.stringify: deep nesting is written as text, never built as objects. */
const deepValues = new Map<string, string>();
function deep(r: Rng): string {
  const levels = r.pick([33, 100, 1000, 10_000]);
  const text = r.chance(0.5) ? '['.repeat(levels) + ']'.repeat(levels) : '{"a":'.repeat(levels) + '1' + '}'.repeat(levels);
  const marker = `__deep_${deepValues.size}__`;
  deepValues.set(marker, text);
  return marker;
}

function wrongValue(r: Rng): unknown {
  switch (r.int(0, 9)) {
    case 0: return null;
    case 1: return r.pick([true, false]);
    case 2: return r.pick([0, -1, 1.5, 1e308, -0, 2 ** 53 + 1]);
    case 3: return r.pick([[], [null], [1, 'a'], [[[]]], ['\u0000']]);
    case 4: return r.pick([{}, { a: null }, { '\u0000': 1 }, { keys: '\ud800' }]);
    case 5: return 'x'.repeat(r.pick([201, 5000, 100_000]));
    case 6: return deep(r);
    default: return nastyString(r);
  }
}

// ---------------------------------------------------------------- mutating JSON documents

type Doc = Record<string, unknown>;

/** An own member, even for `__proto__` (an assignment would set the prototype instead). */
function put(target: object, key: string | number, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Every (container, key) in a document, for picking a place to mutate. */
function places(value: unknown, out: Array<[Record<string, unknown> | unknown[], string | number]> = []) {
  if (Array.isArray(value)) value.forEach((v, i) => (out.push([value, i]), places(v, out)));
  else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) out.push([value as Doc, k]), places(v, out);
  return out;
}

function mutateDoc(r: Rng, doc: Doc): void {
  for (let n = r.int(1, 3); n > 0; n--) {
    const all = places(doc);
    const [container, key] = all.length ? r.pick(all) : [doc, 'x'];
    const slot = container as Record<string | number, unknown>;
    switch (r.int(0, 6)) {
      case 0: put(slot, key, null); break;
      case 1: put(slot, key, nastyString(r)); break;
      case 2: delete slot[key]; break;
      case 3: if (!Array.isArray(container)) { const v = slot[key]; delete slot[key]; put(slot, nastyString(r), v); } break;
      case 4: put(Array.isArray(container) ? doc : slot, nastyString(r), wrongValue(r)); break;
      default: put(slot, key, wrongValue(r));
    }
  }
}

interface Sent {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
  label: string;
}

const JSON_TYPES = ['application/json', 'application/json', 'application/json', 'application/json; charset=utf-8', 'application/merge-patch+json', 'text/plain', '', 'application/json; charset=latin1'];

/** A JSON request built from a valid body: mutated fields, or the text itself broken. */
function jsonCase(r: Rng, method: string, path: string, valid: () => Doc, auth: string): Sent {
  const doc = valid();
  let contentType = r.chance(0.85) ? 'application/json' : r.pick(JSON_TYPES);
  let label = 'mutated fields';
  let text: string | Buffer;
  const whole = r.int(0, 9);
  if (whole === 0) {
    label = 'whole body deeply nested';
    text = deepValues.get(deep(r))!;
  } else if (whole === 1) {
    label = 'oversized body';
    text = JSON.stringify({ ...doc, client_name: 'x'.repeat(r.pick([300_000, 1_100_000])) });
  } else if (whole === 2) {
    label = 'broken text';
    const t = JSON.stringify(doc);
    text = r.pick([t.slice(0, r.int(0, t.length - 1)), `${t}}`, t.replace(':', ''), '"just a string"', '123', 'null', '[]', '', ' ', '\u0000', '{"a":1,}']);
  } else if (whole === 3) {
    label = 'invalid UTF-8 in a string';
    const t = JSON.stringify({ ...doc, client_name: 'MARK' });
    const [before, rest] = t.split('MARK') as [string, string];
    text = Buffer.concat([Buffer.from(before), r.pick([Buffer.from([0xff]), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from([0xc0, 0x80]), Buffer.from([0xe2, 0x82])]), Buffer.from(rest)]);
  } else {
    mutateDoc(r, doc);
    text = JSON.stringify(doc);
    for (const [marker, deepText] of deepValues) text = text.replaceAll(`"${marker}"`, deepText);
    if (whole === 4) contentType = r.pick(JSON_TYPES);
  }
  const headers: Record<string, string> = { authorization: auth };
  if (contentType) headers['content-type'] = contentType;
  return { method, path, headers, body: Buffer.isBuffer(text) ? text : Buffer.from(text), label };
}

// ---------------------------------------------------------------- forms

/** Raw (already encoded) fragments a form value or key can be replaced with. */
const NASTY_ENCODED = ['%00', 'a%00b', '%ED%A0%80', '%ED%B0%80', '%FF', '%C0%80', '%E0%80', '%', '%zz', '%0', '%01%1F%7F', '%E2%80%A8', '', '+%2B+'];

function formCase(r: Rng, path: string, valid: () => Array<[string, string]>, headers: Record<string, string>): Sent {
  const pairs = valid().map(([k, v]) => [encodeURIComponent(k), encodeURIComponent(v)] as [string, string]);
  let contentType = 'application/x-www-form-urlencoded';
  let label = 'mutated form';
  let text: string | Buffer | undefined;
  switch (r.int(0, 9)) {
    case 0:
      label = 'oversized form';
      pairs.push(['pad', 'x'.repeat(r.pick([70_000, 600_000]))]);
      break;
    case 1:
      label = 'invalid UTF-8 bytes in the form';
      text = Buffer.concat([Buffer.from(pairs.map((p) => p.join('=')).join('&') + '&x='), Buffer.from([0xff, 0xfe])]);
      break;
    case 2:
      label = 'a form sent as JSON';
      contentType = 'application/json';
      text = JSON.stringify(Object.fromEntries(pairs.map(([k, v]) => [decodeURIComponent(k), r.chance(0.5) ? wrongValue(r) : decodeURIComponent(v)])));
      for (const [marker, deepText] of deepValues) text = text.replaceAll(`"${marker}"`, deepText);
      break;
    default:
      for (let n = r.int(1, 3); n > 0; n--) {
        const i = r.int(0, pairs.length - 1);
        switch (r.int(0, 5)) {
          case 0: pairs[i]![1] = r.pick(NASTY_ENCODED); break;
          case 1: pairs[i]![0] = r.pick(NASTY_ENCODED) || 'x'; break;
          case 2: pairs.push([pairs[i]![0], r.pick(['again', pairs[i]![1]])]); break; // repeated
          case 3: pairs[i]![0] = `${pairs[i]![0]}${r.pick(['[]', '[a]', '[0][b]', '.x'])}`; break;
          case 4: pairs.push([r.pick(NASTY_ENCODED) || 'y', r.pick(NASTY_ENCODED)]); break;
          default: pairs[i]![1] = `${pairs[i]![1]}${r.pick(NASTY_ENCODED)}`;
        }
      }
  }
  text ??= pairs.map((p) => p.join('=')).join('&');
  return { method: 'POST', path, headers: { ...headers, 'content-type': contentType }, body: Buffer.isBuffer(text) ? text : Buffer.from(text), label };
}

// ---------------------------------------------------------------- path ids and query values

/** Percent-encoded values for a path segment or a query value. */
function encodedValue(r: Rng): string {
  switch (r.int(0, 5)) {
    case 0: return r.pick(NASTY_ENCODED) || '%00';
    case 1: return `tg_${r.pick(NASTY_ENCODED)}`;
    case 2: return 'a'.repeat(r.pick([201, 5000]));
    case 3: return r.pick(['..', '%2e%2e', '%2F', 'a%2Fb', '%5C', '%C3%A9', '%F0%9F%98%80', '-1', '0', '1e400', '%20', '+']);
    case 4: {
      // A decision-log cursor (base64url JSON) whose id PostgreSQL cannot store.
      const id = r.pick(['\u0000', '\ud800', 'a\u0000', 'x'.repeat(300)]);
      return Buffer.from(JSON.stringify([Date.now(), id])).toString('base64url');
    }
    default: return `${r.pick(NASTY_ENCODED)}${r.pick(NASTY_ENCODED)}`;
  }
}

// ---------------------------------------------------------------- the server and what it holds

let server: RunningTollgate;
/** The client the admin cases mutate (PATCH, policies). */
let workload: Workload;
/** A client left alone, so that the form cases authenticate and reach the endpoint's own checks. */
let caller: Workload;
let callerToken: string;
let gateway: Gateway;
let jwk: JWK;
/** Clients the fuzz itself managed to create (2xx); deleted at the end. */
const created = new Set<string>();
let savedDefault: { restore(): Promise<void> } | undefined;
const prisma = () => server.tollgate.runtime.db.prisma;
const agent = new Agent({ keepAlive: true, maxSockets: 4 });

interface Answer {
  status: number;
  type: string;
  text: string;
}

function send(c: Sent): Promise<Answer> {
  const url = new URL(server.url);
  return new Promise((resolve, reject) => {
    const headers = { ...c.headers, ...(c.body ? { 'content-length': String(c.body.length) } : {}) };
    let answered = false;
    const req = httpRequest({ host: url.hostname, port: url.port, method: c.method, path: c.path, headers, agent }, (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode!, type: String(res.headers['content-type'] ?? ''), text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    // A server may answer (413) and close before a large body is written: the answer is what counts.
    req.on('error', (error) => (answered ? undefined : reject(error)));
    req.end(c.body);
  });
}

async function getJson(path: string): Promise<unknown> {
  const res = await send({ method: 'GET', path, headers: { authorization: server.admin }, label: 'snapshot' });
  assert.equal(res.status, 200, `GET ${path}: ${res.text}`);
  return JSON.parse(res.text);
}

/** Every client, as GET /admin/clients lists them. */
async function clientList(): Promise<unknown[]> {
  const clients: unknown[] = [];
  let cursor: string | null = null;
  do {
    const page = (await getJson(`/admin/clients?limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)) as { clients: unknown[]; next_cursor: string | null };
    clients.push(...page.clients);
    cursor = page.next_cursor;
  } while (cursor);
  return clients;
}

/**
 * What a refused request must not have touched, cheaply enough to take after every case whatever
 * the size of a shared database: the newest event of GET /admin/audit (every admin write records
 * one in its own transaction), and a digest of every row (all columns) of the clients, risk
 * policies and attestation policies: the client list and the policies, and more.
 */
async function snapshot() {
  const [audit, [rows]] = await Promise.all([
    getJson('/admin/audit?limit=1') as Promise<{ events: Array<{ id: string }> }>,
    prisma().$queryRaw<Array<{ clients: string | null; clientCount: bigint; policies: string | null; attestation: string | null }>>`
      SELECT (SELECT md5(string_agg(c::text, ',' ORDER BY c.client_id)) FROM clients c) AS clients,
             (SELECT count(*) FROM clients) AS "clientCount",
             (SELECT md5(string_agg(p::text, ',' ORDER BY p.key)) FROM risk_policies p) AS policies,
             (SELECT md5(string_agg(a::text, ',' ORDER BY a.client_id)) FROM attestation_policies a) AS attestation`,
  ]);
  return {
    lastAuditEvent: audit.events[0]?.id ?? null,
    clients: { count: Number(rows!.clientCount), digest: rows!.clients },
    policies: rows!.policies,
    attestationPolicies: rows!.attestation,
  };
}

const STACK_LINE = /^\s*at .+(:\d+:\d+\)?|\(native\))$/m;

function describeCase(target: string, i: number, c: Sent): string {
  const body = c.body ? JSON.stringify(c.body.subarray(0, 300).toString('latin1')) : '(none)';
  const auth = c.headers.authorization && c.headers.authorization !== server.admin ? ` authorization=${c.headers.authorization}` : '';
  return `TOLLGATE_FUZZ_SEED=${SEED} ${target} case ${i} (${c.label}): ${c.method} ${c.path.slice(0, 200)}${auth} content-type=${c.headers['content-type'] ?? '(none)'} body[${c.body?.length ?? 0}]=${body}`;
}

/** Runs `count` cases of one target, checking every answer and, after each 4xx, that nothing changed. */
async function run(target: string, make: (r: Rng, i: number) => Sent | Promise<Sent>, count = CASES): Promise<void> {
  const r = rngFor(target);
  let state = await snapshot();
  const statuses = new Map<number, number>();
  for (let i = 0; i < count; i++) {
    const c = await make(r, i);
    const where = describeCase(target, i, c);
    const res = await send(c).catch((error: Error) => assert.fail(`${where}: no answer (${error.message})`));
    statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    assert.ok(res.status < 500, `${where}: answered ${res.status} ${res.text.slice(0, 300)}`);
    assert.doesNotMatch(res.text, STACK_LINE, `${where}: a stack trace in the answer`);
    if (res.status >= 400) {
      assert.match(res.type, /^application\/json/, `${where}: ${res.status} is not JSON: ${res.type} ${res.text.slice(0, 200)}`);
      const body = JSON.parse(res.text) as { error?: unknown };
      assert.equal(typeof body.error, 'string', `${where}: ${res.status} without an error code: ${res.text.slice(0, 200)}`);
    }
    if (res.status >= 400 && res.status < 500) {
      assert.deepEqual(await snapshot(), state, `${where}: refused with ${res.status} but something changed`);
    } else {
      if (c.method === 'POST' && res.status === 201) {
        const id = (JSON.parse(res.text) as { client_id?: string }).client_id;
        if (id) created.add(id);
      }
      state = await snapshot();
    }
  }
  // Visible in the spec reporter's output: what this seed exercised.
  console.log(`${target}: ${[...statuses].sort(([a], [b]) => a - b).map(([s, n]) => `${s}×${n}`).join(' ')}`);
}

before(async () => {
  server = await startTollgate();
  savedDefault = await keepDefaultPolicy(server);
  workload = await Workload.register(server);
  caller = await Workload.register(server);
  callerToken = await caller.token();
  gateway = await registerGateway(server, 'bad-input gateway');
  const pair = await generateKeyPair('ES256', { extractable: true });
  jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
});

after(async () => {
  const admin = { authorization: server.admin };
  for (const id of [...created, workload.clientId, caller.clientId, gateway.id]) {
    await send({ method: 'DELETE', path: `/admin/clients/${encodeURIComponent(id)}`, headers: admin, label: 'cleanup' });
  }
  // The server default is shared with other suites: put back what was there.
  await savedDefault?.restore();
  agent.destroy();
  await server.close();
});

const workloadBody = (): Doc => ({
  client_name: 'bad-input workload',
  jwks: { keys: [{ ...jwk }] },
  scope: 'orders:read orders:write',
  allowed_resources: [RESOURCE],
  access_token_ttl: 300,
  dpop_bound_access_tokens: true,
  require_dpop_nonce: false,
  token_endpoint_auth_method: 'private_key_jwt',
  roles: ['workload'],
});
const gatewayBody = (): Doc => ({ client_name: 'bad-input gateway', roles: ['gateway'], token_endpoint_auth_method: 'client_secret_basic' });
const policyBody = (): Doc => ({
  ...structuredClone(BUILTIN_DEFAULT_POLICY as Doc),
  allowed_networks: ['10.0.0.0/8'],
  routes: [{ methods: ['POST'], path: '/orders/**', acr: 'urn:tollgate:acr:live', max_age: 300, scopes: ['orders:write'] }],
});

describe('bad input: never a 5xx, never a stack trace, a refusal changes nothing (seeded)', () => {
  it('the snapshot sees an accepted write (so that "nothing changed" can fail)', async () => {
    const json = { authorization: server.admin, 'content-type': 'application/json' };
    const writes: Sent[] = [
      { method: 'PATCH', path: `/admin/clients/${workload.clientId}`, headers: json, body: Buffer.from('{"client_name":"renamed by bad-input"}'), label: 'rename' },
      { method: 'PUT', path: `/admin/clients/${workload.clientId}/policy`, headers: json, body: Buffer.from('{"rate_limit_per_minute":1000}'), label: 'policy' },
      { method: 'PUT', path: `/admin/clients/${workload.clientId}/attestation-policy`, headers: json, body: Buffer.from('{"formats":["none"],"allow_software":true}'), label: 'attestation' },
    ];
    for (const write of writes) {
      const before = await snapshot();
      const res = await send(write);
      assert.equal(res.status, 200, `${write.label}: ${res.text}`);
      const after = await snapshot();
      assert.notDeepEqual(after, before, `${write.label} went unseen`);
      assert.notDeepEqual({ ...after, lastAuditEvent: before.lastAuditEvent }, before, `${write.label} seen only by its audit event`);
    }
  });

  it('POST /admin/clients', () =>
    run('create', (r) => jsonCase(r, 'POST', '/admin/clients', r.chance(0.7) ? workloadBody : gatewayBody, server.admin)));

  it('PATCH /admin/clients/:client_id', () =>
    run('patch', (r) =>
      jsonCase(r, 'PATCH', `/admin/clients/${workload.clientId}`, () => {
        const { roles: _r, token_endpoint_auth_method: _t, ...rest } = workloadBody();
        return { ...rest, status: 'active', rotate_secret: false };
      }, server.admin)));

  it('POST /oauth/register', () =>
    run('register', (r) =>
      jsonCase(r, 'POST', '/oauth/register', () => ({ ...workloadBody(), grant_types: ['client_credentials'], response_types: [], redirect_uris: [] }), server.admin)));

  it('PUT /admin/policy', () => run('policy', (r) => jsonCase(r, 'PUT', '/admin/policy', policyBody, server.admin)));

  it('PUT /admin/clients/:client_id/policy and attestation-policy', () =>
    run('client-policy', (r) =>
      r.chance(0.6)
        ? jsonCase(r, 'PUT', `/admin/clients/${workload.clientId}/policy`, policyBody, server.admin)
        : jsonCase(r, 'PUT', `/admin/clients/${workload.clientId}/attestation-policy`, () => ({ formats: ['packed', 'none'], allow_software: true, max_authenticators: 2 }), server.admin)));

  it('POST /oauth/introspect (gateway Basic credentials, some of them fuzzed)', () =>
    run('introspect', (r) => {
      const id = r.chance(0.3) ? r.pick(NASTY_ENCODED) : encodeURIComponent(gateway.id);
      const basic = `Basic ${Buffer.from(`${id}:${r.chance(0.8) ? encodeURIComponent(gateway.secret) : '%00'}`).toString('base64')}`;
      const token = r.chance(0.7) ? callerToken : 'eyJhbGciOiJFUzI1NiJ9.e30.sig';
      return formCase(r, '/oauth/introspect', () => [['token', token], ['token_type_hint', 'access_token'], ['htm', 'GET'], ['htu', `${RESOURCE}orders`], ['client_ip', '10.1.2.3']], { authorization: basic });
    }));

  it('POST /oauth/revoke and /step-up/challenges (private_key_jwt in the form)', () =>
    run('workload-forms', async (r) => {
      const assertion = await caller.assertion(r.chance(0.2) ? { iss: nastyString(r), sub: nastyString(r) } : {});
      const base: Array<[string, string]> = [
        ['client_id', caller.clientId],
        ['client_assertion_type', 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'],
        ['client_assertion', assertion],
      ];
      if (r.chance(0.5)) return formCase(r, '/oauth/revoke', () => [...base, ['token', 'not-a-token'], ['token_type_hint', 'access_token']], {});
      const proof = await caller.proof('POST', `${server.issuer}/step-up/challenges`);
      return formCase(r, '/step-up/challenges', () => [...base, ['acr_values', 'urn:tollgate:acr:live']], { dpop: proof });
    }));

  it('path ids: /admin/clients/<id>[/…] and /oauth/register/<id>', () =>
    run('path-ids', (r) => {
      const id = encodedValue(r);
      const admin = { authorization: server.admin };
      const json = { ...admin, 'content-type': 'application/json' };
      const choices: Sent[] = [
        { method: 'GET', path: `/admin/clients/${id}`, headers: admin, label: 'get' },
        { method: 'DELETE', path: `/admin/clients/${id}`, headers: admin, label: 'delete' },
        { method: 'PATCH', path: `/admin/clients/${id}`, headers: json, body: Buffer.from('{"client_name":"x"}'), label: 'patch' },
        { method: 'GET', path: `/admin/clients/${id}/policy`, headers: admin, label: 'policy' },
        { method: 'PUT', path: `/admin/clients/${id}/policy`, headers: json, body: Buffer.from('{"rate_limit_per_minute":10}'), label: 'put policy' },
        { method: 'GET', path: `/admin/clients/${id}/attestation-policy`, headers: admin, label: 'attestation policy' },
        { method: 'GET', path: `/admin/clients/${id}/authenticators`, headers: admin, label: 'authenticators' },
        { method: 'DELETE', path: `/admin/clients/${workload.clientId}/authenticators/${id}`, headers: admin, label: 'authenticator' },
        { method: 'GET', path: `/oauth/register/${id}`, headers: { authorization: 'Bearer abc' }, label: 'registration read' },
        { method: 'GET', path: `/${id}`, headers: admin, label: 'unknown route' },
      ];
      return r.pick(choices);
    }));

  it('query strings: /admin/clients, /admin/audit, /admin/decisions', () =>
    run('queries', (r) => {
      const [path, names] = r.pick([
        ['/admin/clients', ['limit', 'cursor']],
        ['/admin/audit', ['client_id', 'limit', 'cursor']],
        ['/admin/decisions', ['client_id', 'decision', 'since', 'until', 'limit', 'cursor']],
      ] as const);
      const params: string[] = [];
      for (let n = r.int(1, 3); n > 0; n--) {
        const name = r.chance(0.85) ? r.pick(names) : r.pick(NASTY_ENCODED) || 'x';
        const key = r.chance(0.15) ? `${name}${r.pick(['[]', '[a]'])}` : name;
        params.push(`${key}=${encodedValue(r)}`);
        if (r.chance(0.15)) params.push(`${key}=again`);
      }
      return { method: 'GET', path: `${path}?${params.join('&')}`, headers: { authorization: server.admin }, label: 'query' };
    }));
});

describe('bad input: the defects the first fuzz run found (issue 9 §3)', () => {
  const admin = () => ({ authorization: server.admin });
  const asJson = () => ({ ...admin(), 'content-type': 'application/json' });
  const asForm = { 'content-type': 'application/x-www-form-urlencoded' };
  const nested = (n: number) => `{"client_name":"x","jwks":${'{"a":'.repeat(n)}1${'}'.repeat(n)}}`;

  /** The answer, and that nothing changed when it is a refusal. */
  async function refused(c: Omit<Sent, 'label'>, status: number, fields?: string[], error = 'invalid_request') {
    const before = { state: await snapshot(), list: await clientList() };
    const res = await send({ ...c, label: 'defect' });
    const body = JSON.parse(res.text) as { error: string; error_description: string; fields?: Array<{ field: string }>; client_id?: string };
    if (res.status === 201 && body.client_id) created.add(body.client_id); // cleaned up even when this fails
    assert.equal(res.status, status, `${c.method} ${c.path}: ${res.text}`);
    assert.equal(body.error, error, res.text);
    if (fields) assert.deepEqual(body.fields?.map((f) => f.field), fields, res.text);
    assert.deepEqual({ state: await snapshot(), list: await clientList() }, before, `${c.method} ${c.path} changed something`);
    return body;
  }

  it('NUL or a lone surrogate in a path id or query value: 400 naming path or the parameter', async () => {
    await refused({ method: 'GET', path: '/admin/clients/%00', headers: admin() }, 400, ['path']);
    await refused({ method: 'DELETE', path: '/admin/clients/tg_%00', headers: admin() }, 400, ['path']);
    await refused({ method: 'GET', path: '/admin/clients/%ED%A0%80/policy', headers: admin() }, 400, ['path']);
    await refused({ method: 'GET', path: '/admin/clients?cursor=%00', headers: admin() }, 400, ['cursor']);
    await refused({ method: 'GET', path: '/admin/audit?client_id=%00', headers: admin() }, 400, ['client_id']);
    const cursor = Buffer.from(JSON.stringify([Date.now(), '\u0000'])).toString('base64url');
    await refused({ method: 'GET', path: `/admin/decisions?cursor=${cursor}`, headers: admin() }, 400, ['cursor']);
  });

  it('NUL or a lone surrogate in a JSON string or member name: 400 naming the field', async () => {
    for (const path of ['/admin/clients', '/oauth/register']) {
      await refused({ method: 'POST', path, headers: asJson(), body: Buffer.from('{"client_name":"a\\u0000b","roles":["gateway"]}') }, 400, ['client_name']);
      await refused({ method: 'POST', path, headers: asJson(), body: Buffer.from('{"client_name":"\\ud800","roles":["gateway"]}') }, 400, ['client_name']);
    }
    await refused({ method: 'PATCH', path: `/admin/clients/${workload.clientId}`, headers: asJson(), body: Buffer.from('{"jwks":{"keys":[{"kid\\u0000":"x"}]}}') }, 400, ['jwks.keys[0].kid\ufffd']);
    await refused({ method: 'PUT', path: '/admin/policy', headers: asJson(), body: Buffer.from('{"routes":[{"path":"/a\\udc00"}]}') }, 400, ['routes[0].path']);
  });

  it('null where the stored value cannot be null: 400 naming the field', async () => {
    await refused({ method: 'POST', path: '/admin/clients', headers: asJson(), body: Buffer.from('{"roles":["gateway"],"token_endpoint_auth_method":null}') }, 400, ['token_endpoint_auth_method'], 'invalid_client_metadata');
    await refused({ method: 'POST', path: '/oauth/register', headers: asJson(), body: Buffer.from('{"roles":["gateway"],"token_endpoint_auth_method":null}') }, 400, ['token_endpoint_auth_method'], 'invalid_client_metadata');
    await refused({ method: 'PATCH', path: `/admin/clients/${gateway.id}`, headers: asJson(), body: Buffer.from('{"token_endpoint_auth_method":null}') }, 400, ['token_endpoint_auth_method'], 'invalid_client_metadata');
    await refused({ method: 'PATCH', path: `/admin/clients/${gateway.id}`, headers: asJson(), body: Buffer.from('{"rotate_secret":null}') }, 400, ['rotate_secret'], 'invalid_client_metadata');
  });

  it('10,000 levels of nesting at registration and PATCH: 400 naming the limit, before parsing', async () => {
    for (const [method, path] of [['POST', '/admin/clients'], ['POST', '/oauth/register'], ['PATCH', `/admin/clients/${workload.clientId}`]] as const) {
      const body = await refused({ method, path, headers: asJson(), body: Buffer.from(nested(10_000)) }, 400);
      assert.match(body.error_description, /deeper than 32 levels/);
    }
  });

  it('a body over the limit: 413 naming it', async () => {
    const body = await refused({ method: 'POST', path: '/admin/clients', headers: asJson(), body: Buffer.from(JSON.stringify({ client_name: 'x'.repeat(300_000) })) }, 413);
    assert.match(body.error_description, /262144 bytes/);
    await refused({ method: 'POST', path: '/oauth/revoke', headers: asForm, body: Buffer.from(`token=${'x'.repeat(70_000)}`) }, 413);
  });

  it('JSON inside a form (a WebAuthn registration_response) has the same bounds as a JSON body', async () => {
    const deepResponse = await caller.postStepUp('/step-up/authenticators', { registration_response: '['.repeat(5_000) + ']'.repeat(5_000) });
    assert.equal(deepResponse.status, 400, deepResponse.text);
    assert.match(deepResponse.body.error_description, /deeper than 32 levels/);
    const nul = await caller.postStepUp('/step-up/authenticators', { registration_response: '{"id":"\\u0000"}' });
    assert.equal(nul.status, 400, nul.text);
    assert.match(nul.body.error_description, /registration_response\.id must not contain NUL/);
  });

  it('an impossible client_id at revocation and introspection is unknown (401), not a 500', async () => {
    const assertion = await caller.assertion({ iss: '\u0000', sub: '\u0000' });
    const form = `client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=${assertion}&token=x`;
    await refused({ method: 'POST', path: '/oauth/revoke', headers: asForm, body: Buffer.from(form) }, 401, undefined, 'invalid_client');
    const basic = (id: string) => `Basic ${Buffer.from(`${id}:secret`).toString('base64')}`;
    for (const id of ['%00', '%ED%A0%80', 'a'.repeat(300)]) {
      await refused({ method: 'POST', path: '/oauth/introspect', headers: { ...asForm, authorization: basic(id) }, body: Buffer.from('token=x') }, 401, undefined, 'invalid_client');
    }
  });
});
