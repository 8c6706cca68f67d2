import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { exportJWK, generateKeyPair } from 'jose';
import { keepDefaultPolicy, type RunningTollgate, startTollgate, Workload } from '#test-support';

const ROOT = resolve(fileURLToPath(import.meta.url), '../../..');
const DOCUMENT = JSON.parse(readFileSync(join(ROOT, 'libs/admin/openapi.json'), 'utf8'));
const METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const;
const API = 'https://api.example.test/';

interface Operation {
  operationId: string;
  requestBody?: { content: Record<string, { schema: object }> };
  responses: Record<string, { content?: Record<string, { schema: object }> }>;
}

// OpenAPI 3.1 schemas are JSON Schema 2020-12: the document is added whole, and each schema is
// validated by its JSON pointer. Formats are not asserted (no ajv-formats): types, enums,
// required members and additional members are.
const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
ajv.addSchema(DOCUMENT, 'openapi.json');
const validate = (schema: object, value: unknown, what: string) => {
  const check = ajv.compile({ $ref: `openapi.json${(schema as { $ref?: string }).$ref ?? ''}`, ...('$ref' in schema ? {} : schema) });
  if (!check(value)) assert.fail(`${what} does not match the document: ${ajv.errorsText(check.errors)}\n${JSON.stringify(value).slice(0, 600)}`);
};

/** The document's operation for a concrete path, or why there is none. */
function operationFor(method: string, path: string): { template: string; operation: Operation } {
  const bare = path.split('?')[0]!;
  for (const [template, item] of Object.entries(DOCUMENT.paths as Record<string, Record<string, Operation>>)) {
    const pattern = new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`);
    if (!pattern.test(bare)) continue;
    const operation = item[method.toLowerCase()];
    if (!operation) assert.fail(`the document has ${template} but not ${method} on it`);
    return { template, operation };
  }
  return assert.fail(`the document has no path for ${method} ${bare}`);
}

let server: RunningTollgate;
const covered = new Set<string>();

/**
 * One live exchange, checked both ways: the request body against the operation's requestBody
 * (it must be refused by the schema when the server refuses it with 400), the answer's status
 * against the documented ones, its body against the documented schema (or no body when none).
 */
async function exchange(method: string, path: string, options: { body?: unknown; token?: string | null; contentType?: string; rawBody?: string } = {}) {
  const { operation } = operationFor(method, path);
  const token = options.token === undefined ? server.adminToken : options.token;
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (options.body !== undefined || options.rawBody !== undefined) headers['content-type'] = options.contentType ?? 'application/json';
  const res = await fetch(`${server.url}${path}`, { method, headers, ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : options.rawBody !== undefined ? { body: options.rawBody } : {}) });
  const text = await res.text();
  const body: unknown = text ? JSON.parse(text) : undefined;
  const what = `${method} ${path} → ${res.status}`;

  const documented = operation.responses[String(res.status)];
  assert.ok(documented, `${what}: status not in the document (${Object.keys(operation.responses).join(', ')}): ${text.slice(0, 300)}`);
  const schema = documented.content?.['application/json']?.schema;
  if (schema) validate(schema, body, what);
  else assert.equal(text, '', `${what}: the document says no body`);

  if (options.body !== undefined && operation.requestBody && res.status !== 401 && res.status !== 404 && res.status !== 415) {
    const requestSchema = operation.requestBody.content['application/json']!.schema;
    const check = ajv.compile({ $ref: `openapi.json${(requestSchema as { $ref: string }).$ref}` });
    const accepted = check(options.body);
    if (res.status < 300) assert.ok(accepted, `${what}: the server took a request the document refuses: ${ajv.errorsText(check.errors)}`);
    // A 400 may name a rule the schema cannot say (step_up below deny, a route path's syntax);
    // a body the schema refuses must not be taken.
  }
  covered.add(`${method.toLowerCase()} ${operationFor(method, path).template}`);
  return { status: res.status, body: body as Record<string, any>, headers: res.headers };
}

async function publicJwks() {
  const { publicKey } = await generateKeyPair('ES256', { extractable: true });
  return { keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }] };
}

describe('the OpenAPI document (GET /openapi.json), checked against live answers', () => {
  before(async () => {
    server = await startTollgate();
  });
  after(() => server?.close());

  it('is served without authentication, exactly as committed, and is a valid OpenAPI 3.1 document', async () => {
    const res = await fetch(`${server.url}/openapi.json`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    assert.deepEqual(await res.json(), DOCUMENT);
    const result = await new Validator().validate(DOCUMENT);
    assert.equal(DOCUMENT.openapi, '3.1.0');
    assert.deepEqual(result, { valid: true }, JSON.stringify(result.errors));
  });

  it('every admin and registration route the server has is in the document, and nothing else', () => {
    const express = server.tollgate.app.getHttpAdapter().getInstance() as { router: { stack: { route?: { path: string; methods: Record<string, boolean> } }[] } };
    const live = express.router.stack
      .filter((layer) => layer.route && /^\/(?:admin|oauth\/register)(?:\/|$)/.test(layer.route.path))
      .flatMap((layer) => Object.keys(layer.route!.methods).map((m) => `${m} ${layer.route!.path.replace(/:(\w+)/g, '{$1}')}`))
      .sort();
    const documented = Object.entries(DOCUMENT.paths as Record<string, Record<string, unknown>>)
      .flatMap(([path, item]) => METHODS.filter((m) => item[m]).map((m) => `${m} ${path}`))
      .sort();
    assert.ok(live.length > 15, live.join('\n'));
    assert.deepEqual(live, documented);
  });

  it('clients: create, list, get, update, delete and their errors', async () => {
    const workload = await exchange('POST', '/admin/clients', { body: { client_name: 'openapi', jwks: await publicJwks(), scope: 'orders:read', allowed_resources: [API] } });
    assert.equal(workload.status, 201);
    const id = workload.body.client_id;
    const gateway = await exchange('POST', '/admin/clients', { body: { client_name: 'openapi gw', roles: ['gateway'] } });
    assert.equal(gateway.status, 201);
    assert.ok(gateway.body.client_secret);
    const refused = await exchange('POST', '/admin/clients', { body: { client_name: 'x', roles: ['admin'], colour: 'blue' } });
    assert.equal(refused.status, 400);
    assert.equal((await exchange('POST', '/admin/clients', { body: {}, token: null })).status, 401);
    assert.equal((await exchange('POST', '/admin/clients', { body: {}, token: 'wrong' })).status, 401);

    assert.equal((await exchange('GET', '/admin/clients?limit=1')).status, 200);
    const searched = await exchange('GET', `/admin/clients?q=${encodeURIComponent('OPENAPI')}&limit=200`);
    assert.equal(searched.status, 200);
    assert.ok(searched.body.clients.some((c: { client_id: string }) => c.client_id === id));
    assert.equal((await exchange('GET', '/admin/clients?limit=1&limit=2')).status, 400);
    assert.equal((await exchange('GET', `/admin/clients/${id}`)).status, 200);
    assert.equal((await exchange('GET', '/admin/clients/tg_nobody')).status, 404);
    assert.equal((await exchange('PATCH', `/admin/clients/${id}`, { body: { status: 'suspended', access_token_ttl: 120 } })).status, 200);
    assert.equal((await exchange('PATCH', `/admin/clients/${id}`, { body: { status: 'gone' } })).status, 400);
    assert.equal((await exchange('PATCH', '/admin/clients/tg_nobody', { body: { status: 'active' } })).status, 404);
    const rotated = await exchange('PATCH', `/admin/clients/${gateway.body.client_id}`, { body: { rotate_secret: true } });
    assert.equal(rotated.status, 200);
    assert.ok(rotated.body.client_secret);
    assert.equal((await exchange('DELETE', `/admin/clients/${gateway.body.client_id}`)).status, 204);
    assert.equal((await exchange('DELETE', `/admin/clients/${gateway.body.client_id}`)).status, 404);
  });

  it('risk policies: default and per client', async () => {
    const saved = await keepDefaultPolicy(server);
    try {
      const current = await exchange('GET', '/admin/policy');
      assert.equal(current.status, 200);
      assert.equal((await exchange('PUT', '/admin/policy', { body: current.body.policy })).status, 200);
      assert.equal((await exchange('PUT', '/admin/policy', { body: { thresholds: { step_up: 90, deny: 80 }, colour: 'blue' } })).status, 400);
      assert.equal((await exchange('PUT', '/admin/policy', { rawBody: 'thresholds=1', contentType: 'application/x-www-form-urlencoded' })).status, 415);
    } finally {
      await saved.restore();
    }
    const id = (await exchange('POST', '/admin/clients', { body: { client_name: 'policy', jwks: await publicJwks(), allowed_resources: [API] } })).body.client_id;
    const none = await exchange('GET', `/admin/clients/${id}/policy`);
    assert.equal(none.body.policy, null);
    const rules = { routes: [{ path: '/ops/**', acr: 'urn:tollgate:acr:live', max_age: 300 }], on_new_network: 'step_up' };
    assert.equal((await exchange('PUT', `/admin/clients/${id}/policy`, { body: rules })).status, 200);
    assert.deepEqual((await exchange('GET', `/admin/clients/${id}/policy`)).body.policy, rules);
    assert.equal((await exchange('PUT', `/admin/clients/${id}/policy`, { body: { routes: [{ acr: 'nope' }] } })).status, 400);
    assert.equal((await exchange('PUT', '/admin/clients/tg_nobody/policy', { body: rules })).status, 404);
    // Dry runs: the same document rules as the PUT, nothing stored.
    const w = await Workload.register(server);
    await w.token();
    const dry = await exchange('POST', `/admin/clients/${w.clientId}/policy/dry-run`, { body: { allowed_networks: ['192.0.2.0/24'] } });
    assert.equal(dry.status, 200);
    assert.equal(dry.body.changed, 1);
    assert.equal((await exchange('POST', `/admin/clients/${w.clientId}/policy/dry-run`, { body: { thresholds: { step_up: 'x' } } })).status, 400);
    assert.equal((await exchange('POST', `/admin/clients/${w.clientId}/policy/dry-run`, { rawBody: 'thresholds=1', contentType: 'application/x-www-form-urlencoded' })).status, 415);
    assert.equal((await exchange('POST', '/admin/clients/tg_nobody/policy/dry-run', { body: {} })).status, 404);
    assert.equal((await exchange('POST', `/admin/clients/${w.clientId}/policy/dry-run`, { body: {}, token: null })).status, 401);
    assert.equal((await exchange('POST', '/admin/policy/dry-run', { body: { on_new_key: 'deny' } })).status, 200);
    assert.equal((await exchange('POST', '/admin/policy/dry-run', { body: { on_new_key: 'never' } })).status, 400);
    assert.equal((await exchange('POST', '/admin/policy/dry-run', { body: {}, token: null })).status, 401);
    assert.equal((await exchange('POST', '/admin/policy/dry-run', { rawBody: 'x=1', contentType: 'application/x-www-form-urlencoded' })).status, 415);
    assert.equal((await exchange('DELETE', `/admin/clients/${id}/policy`)).status, 204);
    assert.equal((await exchange('GET', '/admin/clients/tg_nobody/policy')).status, 404);
  });

  it('attestation policies and authenticators', async () => {
    const id = (await exchange('POST', '/admin/clients', { body: { client_name: 'attested', jwks: await publicJwks(), allowed_resources: [API] } })).body.client_id;
    assert.equal((await exchange('GET', `/admin/clients/${id}/attestation-policy`)).status, 404);
    const put = await exchange('PUT', `/admin/clients/${id}/attestation-policy`, { body: { formats: ['packed'], allow_software: true } });
    assert.equal(put.status, 200);
    assert.equal((await exchange('GET', `/admin/clients/${id}/attestation-policy`)).status, 200);
    assert.equal((await exchange('PUT', `/admin/clients/${id}/attestation-policy`, { body: { formats: [], max_authenticators: 99 } })).status, 400);
    assert.equal((await exchange('GET', `/admin/clients/${id}/authenticators`)).status, 200);
    assert.equal((await exchange('GET', '/admin/clients/tg_nobody/authenticators')).status, 404);
    await exchange('DELETE', `/admin/clients/${id}/authenticators/not-an-authenticator`);
    assert.equal((await exchange('DELETE', `/admin/clients/${id}/attestation-policy`)).status, 204);
  });

  it('decisions, audit events and signing keys', async () => {
    // A decision with reasons: a client allowed only from a network the test is not on.
    const w = await Workload.register(server);
    assert.equal((await exchange('PUT', `/admin/clients/${w.clientId}/policy`, { body: { allowed_networks: ['192.0.2.0/24'] } })).status, 200);
    assert.ok((await w.requestToken()).status >= 400);
    const decisions = await exchange('GET', `/admin/decisions?client_id=${w.clientId}&limit=5`);
    assert.equal(decisions.status, 200);
    assert.ok(decisions.body.decisions.some((d: { reasons: unknown[] }) => d.reasons.length > 0), JSON.stringify(decisions.body));
    assert.equal((await exchange('GET', '/admin/decisions?limit=5')).status, 200);
    assert.equal((await exchange('GET', '/admin/decisions?decision=maybe&since=yesterday')).status, 400);
    // The stream's 200 never ends (test/console.test.ts reads it); its refusals are JSON.
    assert.equal((await exchange('GET', '/admin/decisions/stream?outcome=deny')).status, 400);
    assert.equal((await exchange('GET', '/admin/decisions/stream', { token: null })).status, 401);
    const hour = await exchange('GET', `/admin/decisions/summary?client_id=${w.clientId}`);
    assert.equal(hour.status, 200);
    assert.ok(hour.body.totals.deny >= 1, JSON.stringify(hour.body));
    assert.equal((await exchange('GET', '/admin/decisions/summary?window=day&decision=deny&reason=network_not_allowed&route=/')).status, 200);
    assert.equal((await exchange('GET', '/admin/decisions/summary?window=week')).status, 400);
    assert.equal((await exchange('GET', '/admin/decisions/summary', { token: null })).status, 401);
    assert.equal((await exchange('GET', `/admin/clients/${w.clientId}/risk-state`)).status, 200);
    assert.equal((await exchange('GET', '/admin/clients/tg_nobody/risk-state')).status, 404);
    const audit = await exchange('GET', '/admin/audit?limit=5');
    assert.equal(audit.status, 200);
    assert.ok(audit.body.events.length > 0);
    assert.equal((await exchange('GET', '/admin/audit?client_id=a&client_id=b')).status, 400);
    assert.equal((await exchange('GET', '/admin/audit?limit=1&limit=2')).status, 400);
    assert.equal((await exchange('GET', '/admin/keys')).status, 200);
    assert.equal((await exchange('POST', '/admin/keys/rotate')).status, 201);
  });

  it('trusted issuers and federated identities (docs/federation.md)', async () => {
    const issuer = `https://token.${randomUUID().slice(0, 8)}.example.test`;
    const created = await exchange('POST', '/admin/trusted-issuers', { body: { kind: 'oidc', issuer, jwks_uri: `${issuer}/keys`, reusable_tokens: false } });
    assert.equal(created.status, 201);
    const spiffe = await exchange('POST', '/admin/trusted-issuers', { body: { kind: 'spiffe', trust_domain: `${randomUUID().slice(0, 8)}.example.org`, bundle_endpoint: 'https://bundle.example.org/' } });
    assert.equal(spiffe.status, 201);
    assert.equal((await exchange('POST', '/admin/trusted-issuers', { body: { kind: 'oidc', issuer: 'http://plain.example' } })).status, 400);
    assert.equal((await exchange('GET', '/admin/trusted-issuers')).status, 200);
    assert.equal((await exchange('GET', `/admin/trusted-issuers/${created.body.id}`)).status, 200);
    assert.equal((await exchange('GET', `/admin/trusted-issuers/${randomUUID()}`)).status, 404);
    assert.equal((await exchange('PATCH', `/admin/trusted-issuers/${created.body.id}`, { body: { allowed_addresses: ['10.0.0.0/8'], reusable_tokens: true } })).status, 200);
    assert.equal((await exchange('PATCH', `/admin/trusted-issuers/${created.body.id}`, { body: { allowed_addresses: ['nonsense'] } })).status, 400);
    const client = await exchange('POST', '/admin/clients', { body: { federated_identities: [{ issuer, subject: 'repo:octo-org/app:environment:prod', claims: { ref: 'refs/heads/main' }, max_lifetime: 600 }], allowed_resources: [API] } });
    assert.equal(client.status, 201);
    assert.equal((await exchange('GET', `/admin/clients/${client.body.client_id}`)).status, 200);
    assert.equal((await exchange('POST', '/admin/clients', { body: { federated_identities: [{ issuer, subject: '**' }], allowed_resources: [API] } })).status, 400);
    assert.equal((await exchange('DELETE', `/admin/trusted-issuers/${created.body.id}`)).status, 204);
    assert.equal((await exchange('DELETE', `/admin/trusted-issuers/${spiffe.body.id}`)).status, 204);
    assert.equal((await exchange('DELETE', `/admin/trusted-issuers/${spiffe.body.id}`)).status, 404);
  });

  it('RFC 7591 registration and RFC 7592 management', async () => {
    const registered = await exchange('POST', '/oauth/register', { body: { client_name: 'dcr', jwks: await publicJwks(), grant_types: ['client_credentials'], software_id: 'ignored (RFC 7591 §2)' } });
    assert.equal(registered.status, 201);
    const { client_id: id, registration_access_token: token } = registered.body;
    assert.equal((await exchange('POST', '/oauth/register', { body: { redirect_uris: ['https://x.example/cb'] } })).status, 400);
    const read = await exchange('GET', `/oauth/register/${id}`, { token });
    assert.equal(read.status, 200);
    const next = read.body.registration_access_token;
    assert.equal((await exchange('GET', `/oauth/register/${id}`, { token })).status, 401, 'the old token was replaced');
    const replaced = await exchange('PUT', `/oauth/register/${id}`, { token: next, body: { client_id: id, client_name: 'dcr renamed', jwks: await publicJwks() } });
    assert.equal(replaced.status, 200);
    assert.equal((await exchange('PUT', `/oauth/register/${id}`, { token: replaced.body.registration_access_token, body: { client_id: 'someone-else' } })).status, 400);
    assert.equal((await exchange('DELETE', `/oauth/register/${id}`, { token: replaced.body.registration_access_token })).status, 204);
  });

  it('every operation in the document was exercised', () => {
    const all = Object.entries(DOCUMENT.paths as Record<string, Record<string, unknown>>).flatMap(([path, item]) => METHODS.filter((m) => item[m]).map((m) => `${m} ${path}`));
    assert.deepEqual(all.filter((op) => !covered.has(op)), []);
  });
});
