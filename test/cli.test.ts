import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { calculateJwkThumbprint, decodeJwt, exportJWK, generateKeyPair, type JWK } from 'jose';
import { freePort, keepDefaultPolicy, type RunningTollgate, startTollgate } from '#test-support';

const ROOT = resolve(fileURLToPath(import.meta.url), '../../..');
const CLI = join(ROOT, 'dist/apps/cli/src/main.js');
const API = 'https://api.example.test/';
const LIVE = 'urn:tollgate:acr:live';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

let server: RunningTollgate;
let dir: string;

/** The built CLI as a child process, as a shell would run it (asynchronously: the server is in this process). */
function tollgate(args: string[], env: Record<string, string | undefined> = {}): Promise<Run> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { PATH: process.env.PATH, TOLLGATE_URL: server.url, TOLLGATE_ADMIN_TOKEN: server.adminToken, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('error', fail);
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

/** Runs and expects exit 0; `--json` output parsed. */
async function json<T = Record<string, any>>(args: string[]): Promise<T> {
  const run = await tollgate([...args, '--json']);
  assert.equal(run.code, 0, run.stderr);
  return JSON.parse(run.stdout) as T;
}

const admin = (path: string, init: RequestInit = {}) =>
  fetch(`${server.url}${path}`, { ...init, headers: { authorization: server.admin, 'content-type': 'application/json', ...init.headers } });

/** A workload key pair: the private JWK in a file for `token`, the public one for `clients create --jwks`. */
async function keyFiles(name: string) {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const publicJwk: JWK = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  const privateJwk: JWK = { ...(await exportJWK(privateKey)), kid: 'k1', alg: 'ES256' };
  const files = { public: join(dir, `${name}.pub.json`), private: join(dir, `${name}.jwk`) };
  await writeFile(files.public, JSON.stringify({ keys: [publicJwk] }));
  await writeFile(files.private, JSON.stringify(privateJwk), { mode: 0o600 });
  return files;
}

async function workload(name: string, extra: string[] = []) {
  const keys = await keyFiles(name);
  const created = await json(['clients', 'create', '--name', name, '--roles', 'workload', '--jwks', keys.public, '--scope', 'orders:read orders:write', '--resource', API, ...extra]);
  return { id: created.client_id as string, keys };
}

before(async () => {
  server = await startTollgate();
  dir = await mkdtemp(join(tmpdir(), 'tollgate-cli-'));
});
after(async () => {
  await server?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('tollgate clients', () => {
  it('create: a workload with its JWKS file, scope and resources; human output names it', async () => {
    const keys = await keyFiles('orders');
    const run = await tollgate(['clients', 'create', '--name', 'orders', '--roles', 'workload', '--jwks', keys.public, '--scope', 'orders:read', '--resource', API, '--resource', 'https://b.example.test/']);
    assert.equal(run.code, 0, run.stderr);
    const id = /^created (\S+)$/m.exec(run.stdout)?.[1];
    assert.ok(id, run.stdout);
    assert.match(run.stdout, /^roles:\s+workload$/m);
    assert.match(run.stdout, /^keys:\s+1 key\(s\): k1$/m);
    const stored = (await (await admin(`/admin/clients/${id}`)).json()) as Record<string, any>;
    assert.deepEqual([stored.client_name, stored.roles, stored.scope, stored.allowed_resources, stored.token_endpoint_auth_method], ['orders', ['workload'], 'orders:read', [API, 'https://b.example.test/'], 'private_key_jwt']);
    assert.equal(stored.jwks.keys[0].kid, 'k1');
  });

  it('create --jwks-uri and --json for scripts', async () => {
    const created = await json(['clients', 'create', '--name', 'remote keys', '--roles', 'workload', '--jwks-uri', 'https://keys.example.test/jwks.json', '--resource', API]);
    assert.equal(created.jwks_uri, 'https://keys.example.test/jwks.json');
    assert.match(created.client_id, /\S/);
  });

  it('create: the server’s validation errors are shown per field, exit 1', async () => {
    const run = await tollgate(['clients', 'create', '--name', 'x', '--roles', 'admin', '--token-endpoint-auth-method', 'none']);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /the server refused \(400 invalid_client_metadata\)/);
    assert.match(run.stderr, /^ {2}roles: each role must be workload or gateway$/m);
    assert.match(run.stderr, /^ {2}token_endpoint_auth_method: must be private_key_jwt/m);
    const asJson = await tollgate(['clients', 'create', '--name', 'x', '--roles', 'admin', '--json']);
    assert.equal(asJson.code, 1);
    assert.deepEqual(JSON.parse(asJson.stderr).fields, [{ field: 'roles', message: 'each role must be workload or gateway' }]);
  });

  it('create refuses a private key as --jwks before sending anything, and a missing --name: exit 2', async () => {
    const keys = await keyFiles('leaky');
    // Pointed at a port nobody listens on: a request would end in 3 (unreachable), not 2.
    const nobody = `http://127.0.0.1:${await freePort()}`;
    const leaked = await tollgate(['clients', 'create', '--name', 'leaky', '--roles', 'workload', '--jwks', keys.private], { TOLLGATE_URL: nobody });
    assert.equal(leaked.code, 2);
    assert.match(leaked.stderr, /private members \(d\)/);
    assert.equal((await tollgate(['clients', 'create', '--name', 'leaky', '--roles', 'workload', '--jwks', keys.public], { TOLLGATE_URL: nobody })).code, 3);
    assert.equal((await tollgate(['clients', 'create', '--roles', 'workload'])).code, 2);
    assert.equal((await tollgate(['clients', 'create', '--name', 'x', '--roles', 'workload', '--bogus'])).code, 2);
  });

  it('a gateway: its secret is shown once at create, rotate-secret gives a new one that works and retires the old', async () => {
    const created = await tollgate(['clients', 'create', '--name', 'edge', '--roles', 'gateway']);
    assert.equal(created.code, 0, created.stderr);
    const id = /^created (\S+)$/m.exec(created.stdout)![1]!;
    const first = /^client_secret: (\S+)$/m.exec(created.stdout)![1]!;
    const rotated = await json(['clients', 'rotate-secret', id]);
    assert.ok(rotated.client_secret && rotated.client_secret !== first);
    const introspect = (secret: string) =>
      fetch(`${server.url}/oauth/introspect`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: 'token=not-a-token',
      });
    assert.equal((await introspect(rotated.client_secret)).status, 200);
    assert.equal((await introspect(first)).status, 401);
    const workloadSecret = await tollgate(['clients', 'rotate-secret', (await workload('no secret')).id]);
    assert.equal(workloadSecret.code, 1);
    assert.match(workloadSecret.stderr, /rotate_secret: only clients using client_secret_basic have a secret/);
  });

  it('list (all pages), get, suspend, resume, delete', async () => {
    const { id } = await workload('lifecycle');
    const page = await json<{ clients: { client_id: string }[] }>(['clients', 'list', '--limit', '3']);
    assert.equal(page.clients.length, 3);
    // More than one page by now (the suites before this one registered several clients).
    const listed = await json<{ clients: { client_id: string }[] }>(['clients', 'list', '--limit', '3', '--all']);
    assert.ok(listed.clients.length > 3);
    assert.ok(listed.clients.some((c) => c.client_id === id), 'followed next_cursor to the end');
    assert.equal(new Set(listed.clients.map((c) => c.client_id)).size, listed.clients.length);
    const table = await tollgate(['clients', 'list', '--all']);
    assert.match(table.stdout, /^CLIENT_ID\s+NAME\s+ROLES\s+STATUS\s+SCOPE$/m);
    assert.match(table.stdout, new RegExp(`^${id}\\s+lifecycle\\s+workload\\s+active\\s+orders:read orders:write$`, 'm'));

    const shown = await tollgate(['clients', 'get', id]);
    assert.match(shown.stdout, new RegExp(`^client_id:\\s+${id}$`, 'm'));
    assert.match(shown.stdout, /^status:\s+active$/m);

    assert.match((await tollgate(['clients', 'suspend', id])).stdout, new RegExp(`^${id} is suspended$`, 'm'));
    assert.equal(((await (await admin(`/admin/clients/${id}`)).json()) as { status: string }).status, 'suspended');
    assert.equal((await json(['clients', 'resume', id])).status, 'active');

    const removed = await tollgate(['clients', 'delete', id]);
    assert.equal(removed.code, 0, removed.stderr);
    assert.equal((await admin(`/admin/clients/${id}`)).status, 404);
    const gone = await tollgate(['clients', 'get', id]);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /404/);
  });
});

describe('tollgate policy', () => {
  it('get prints the document, and set stores it back (a round trip of the default policy)', async () => {
    const saved = await keepDefaultPolicy(server);
    try {
      const before = await json(['policy', 'get']);
      const got = await tollgate(['policy', 'get']);
      assert.deepEqual(JSON.parse(got.stdout), before.policy);
      const file = join(dir, 'default-policy.json');
      await writeFile(file, got.stdout);
      const set = await tollgate(['policy', 'set', file]);
      assert.equal(set.code, 0, set.stderr);
      assert.match(set.stdout, /^default policy stored \(version \d+\)$/m);
      const after = await json(['policy', 'get']);
      assert.deepEqual(after.policy, before.policy);
      assert.equal(after.source, 'stored');
    } finally {
      await saved.restore();
    }
  });

  it('set --client, get --effective, delete --client', async () => {
    const { id } = await workload('with policy');
    const file = join(dir, 'ops.json');
    await writeFile(file, JSON.stringify({ routes: [{ path: '/ops/**', acr: LIVE, max_age: 300 }] }));
    const set = await json(['policy', 'set', file, '--client', id]);
    assert.deepEqual(set.policy, { routes: [{ path: '/ops/**', acr: LIVE, max_age: 300 }] });
    const effective = JSON.parse((await tollgate(['policy', 'get', '--client', id, '--effective'])).stdout);
    assert.deepEqual(effective.routes, [{ path: '/ops/**', acr: LIVE, max_age: 300 }]);
    assert.ok(effective.thresholds, 'the effective policy has the default’s thresholds');
    assert.equal((await tollgate(['policy', 'delete', '--client', id])).code, 0);
    assert.equal(((await (await admin(`/admin/clients/${id}/policy`)).json()) as { policy: unknown }).policy, null);
  });

  it('set: each field the server refuses is shown with its path, exit 1; a file that is not JSON is exit 2', async () => {
    const file = join(dir, 'bad-policy.json');
    await writeFile(file, JSON.stringify({ thresholds: { step_up: 90, deny: 80 }, routes: [{ path: '/ops/**', acr: 'urn:example:nope' }], colour: 'blue' }));
    const run = await tollgate(['policy', 'set', file]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /the server refused \(400 /);
    const fields = [...run.stderr.matchAll(/^ {2}([^:]+): /gm)].map((m) => m[1]).sort();
    assert.deepEqual(fields, ['colour', 'routes[0].acr', 'thresholds'], run.stderr);
    await writeFile(file, '{"routes": [');
    const broken = await tollgate(['policy', 'set', file]);
    assert.equal(broken.code, 2);
    assert.match(broken.stderr, /is not JSON/);
  });
});

describe('tollgate token', () => {
  it('gets a DPoP-bound token from a private JWK file, for a resource and scope', async () => {
    const w = await workload('token');
    const run = await tollgate(['token', '--client-id', w.id, '--key', w.keys.private, '--resource', API, '--scope', 'orders:read']);
    assert.equal(run.code, 0, run.stderr);
    const claims = decodeJwt(run.stdout.trim());
    assert.equal(claims.client_id, w.id);
    assert.equal(claims.aud, API);
    assert.equal(claims.scope, 'orders:read');
    assert.match((claims.cnf as { jkt: string }).jkt, /^[A-Za-z0-9_-]{43}$/);
    const asJson = await json(['token', '--client-id', w.id, '--key', w.keys.private]);
    assert.equal(asJson.token_type, 'DPoP');
    assert.equal(typeof asJson.expires_in, 'number');
  });

  it('--curl prints the headers for one call, which a gateway’s /check allows', async () => {
    const w = await workload('curl');
    const gateway = await json(['clients', 'create', '--name', 'curl gateway', '--roles', 'gateway']);
    const run = await tollgate(['token', '--client-id', w.id, '--key', w.keys.private, '--resource', API, '--curl', '--method', 'post', `${API}orders?x=1`]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^curl -X POST -H 'Authorization: DPoP [\w.-]+' -H 'DPoP: [\w.-]+' 'https:\/\/api\.example\.test\/orders\?x=1'\n$/);
    const headers = Object.fromEntries([...run.stdout.matchAll(/-H '([^:]+): ([^']+)'/g)].map((m) => [m[1]!.toLowerCase(), m[2]!]));
    const check = await fetch(`${server.url}/check`, {
      headers: {
        'x-gateway-authorization': `Basic ${Buffer.from(`${gateway.client_id}:${gateway.client_secret}`).toString('base64')}`,
        'x-original-method': 'POST',
        'x-original-url': `${API}orders?x=1`,
        ...headers,
      },
    });
    assert.equal(check.status, 200, await check.text());
    assert.equal(check.headers.get('x-tollgate-client-id'), w.id);
    const proof = decodeJwt(headers.dpop!);
    assert.deepEqual([proof.htm, proof.htu], ['POST', `${API}orders`]);
    const jkt = (decodeJwt(headers.authorization!.slice('DPoP '.length)).cnf as { jkt: string }).jkt;
    const { jwk } = JSON.parse(Buffer.from(headers.dpop!.split('.')[0]!, 'base64url').toString());
    assert.equal(jkt, await calculateJwkThumbprint(jwk));
  });

  it('a refused token request is exit 1 with the OAuth error; a bad key file is exit 2', async () => {
    const w = await workload('refused');
    const other = await keyFiles('someone else');
    const wrongKey = await tollgate(['token', '--client-id', w.id, '--key', other.private]);
    assert.equal(wrongKey.code, 1);
    assert.match(wrongKey.stderr, /401 invalid_client/);
    assert.equal((await tollgate(['token', '--client-id', w.id, '--key', w.keys.public])).code, 2);
    assert.equal((await tollgate(['token', '--client-id', w.id])).code, 2);
    const suspended = await workload('suspended');
    await tollgate(['clients', 'suspend', suspended.id]);
    assert.equal((await tollgate(['token', '--client-id', suspended.id, '--key', suspended.keys.private])).code, 1);
  });
});

describe('tollgate decisions tail', () => {
  it('follows the decision log, filtered by client and decision, until interrupted', async () => {
    const watched = await workload('watched');
    const other = await workload('other');
    // Every token request of the watched client asks for a step-up, which `token` answers (docs/step-up.md §2).
    const file = join(dir, 'step-up-always.json');
    await writeFile(file, JSON.stringify({ thresholds: { step_up: 0, deny: 100 } }));
    assert.equal((await tollgate(['policy', 'set', file, '--client', watched.id])).code, 0);
    assert.equal((await tollgate(['token', '--client-id', watched.id, '--key', watched.keys.private])).code, 0, 'a decision from before the tail');

    const child = spawn(process.execPath, [CLI, 'decisions', 'tail', '--client', watched.id, '--decision', 'step_up', '--lines', '0', '--interval', '0.2', '--json'], {
      env: { PATH: process.env.PATH, TOLLGATE_URL: server.url, TOLLGATE_ADMIN_TOKEN: server.adminToken },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    const exited = new Promise<number | null>((done) => child.on('close', done));
    try {
      await new Promise((r) => setTimeout(r, 1500));
      const stepped = await tollgate(['token', '--client-id', watched.id, '--key', watched.keys.private]);
      assert.equal(stepped.code, 0, stepped.stderr);
      assert.equal(decodeJwt(stepped.stdout.trim()).acr, LIVE, 'token answered the step-up');
      assert.equal((await tollgate(['token', '--client-id', other.id, '--key', other.keys.private])).code, 0);
      for (let i = 0; i < 100 && !out.includes('\n'); i++) await new Promise((r) => setTimeout(r, 100));
      await new Promise((r) => setTimeout(r, 600));
    } finally {
      child.kill('SIGINT');
    }
    assert.equal(await exited, 0, 'an interrupted tail ends cleanly');
    const lines = out.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(lines.length, 1, out);
    assert.deepEqual([lines[0].client_id, lines[0].decision, lines[0].kind], [watched.id, 'step_up', 'issuance']);

    const history = await tollgate(['decisions', 'tail', '--client', watched.id, '--no-follow']);
    assert.equal(history.code, 0, history.stderr);
    const rows = history.stdout.trim().split('\n');
    assert.ok(rows.length >= 4, history.stdout);
    assert.ok(rows.every((r) => r.includes(watched.id)));
    assert.ok(rows.some((r) => / step_up +issuance /.test(r)) && rows.some((r) => / allow +step_up /.test(r)), history.stdout);
    assert.deepEqual([...rows.map((r) => r.split(' ')[0]!)], [...rows.map((r) => r.split(' ')[0]!)].sort(), 'oldest first');
    const badFilter = await tollgate(['decisions', 'tail', '--decision', 'maybe', '--no-follow']);
    assert.equal(badFilter.code, 1);
    assert.match(badFilter.stderr, /^ {2}decision: must be one of allow, step_up, deny, invalid$/m);
  });
});

describe('tollgate keys', () => {
  it('rotate: a new key signs, the old one stays published', async () => {
    const before = await json<{ keys: { kid: string; status: string }[] }>(['keys', 'list']);
    const old = before.keys.find((k) => k.status === 'signing')!;
    const run = await tollgate(['keys', 'rotate']);
    assert.equal(run.code, 0, run.stderr);
    const kid = /^(\S+) \(\w+\) now signs/.exec(run.stdout)?.[1];
    assert.ok(kid && kid !== old.kid, run.stdout);
    const after = await json<{ keys: { kid: string; status: string }[] }>(['keys', 'list']);
    assert.equal(after.keys.find((k) => k.kid === kid)?.status, 'signing');
    assert.equal(after.keys.find((k) => k.kid === old.kid)?.status, 'retired');
    const { jwks_uri } = (await (await fetch(`${server.url}/.well-known/oauth-authorization-server`)).json()) as { jwks_uri: string };
    const published = ((await (await fetch(jwks_uri)).json()) as { keys: { kid: string }[] }).keys.map((k) => k.kid);
    assert.ok(published.includes(old.kid) && published.includes(kid), published.join(' '));
  });
});

describe('tollgate: usage, environment and exit codes', () => {
  it('no admin token is a usage error (2), before any request', async () => {
    const run = await tollgate(['clients', 'list'], { TOLLGATE_ADMIN_TOKEN: undefined });
    assert.equal(run.code, 2);
    assert.match(run.stderr, /TOLLGATE_ADMIN_TOKEN is not set/);
  });

  it('a wrong admin token is refused by the server (1)', async () => {
    const run = await tollgate(['keys', 'list'], { TOLLGATE_ADMIN_TOKEN: 'wrong' });
    assert.equal(run.code, 1);
    assert.match(run.stderr, /401 invalid_token/);
  });

  it('an unknown command or option is 2 with the usage; --help is 0', async () => {
    const unknown = await tollgate(['frobnicate']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /usage:/);
    assert.equal((await tollgate(['clients', 'get'])).code, 2);
    const help = await tollgate(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /exit codes: 0 ok, 1 the server refused, 2 usage, 3 the server could not be reached/);
  });

  it('npx tollgate runs the built CLI (the package’s bin), without the registry', async () => {
    const run = await new Promise<Run>((done) => {
      const child = spawn('npx', ['--offline', 'tollgate', 'keys', 'list', '--json'], { cwd: ROOT, env: { PATH: process.env.PATH, HOME: process.env.HOME, TOLLGATE_URL: server.url, TOLLGATE_ADMIN_TOKEN: server.adminToken } });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c) => (stdout += c));
      child.stderr.on('data', (c) => (stderr += c));
      child.on('close', (code) => done({ code, stdout, stderr }));
    });
    assert.equal(run.code, 0, run.stderr);
    assert.ok(Array.isArray(JSON.parse(run.stdout).keys));
  });

  it('a server that cannot be reached is 3, for admin commands and for token', async () => {
    const nobody = `http://127.0.0.1:${await freePort()}`;
    const admin = await tollgate(['clients', 'list'], { TOLLGATE_URL: nobody });
    assert.equal(admin.code, 3);
    assert.match(admin.stderr, /cannot reach http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/);
    const keys = await keyFiles('unreachable');
    assert.equal((await tollgate(['token', '--client-id', 'wl_x', '--key', keys.private], { TOLLGATE_URL: nobody })).code, 3);
    assert.equal((await tollgate(['keys', 'list', '--url', nobody])).code, 3, '--url overrides TOLLGATE_URL');
  });
});
