import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { webcrypto } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { type Gateway, registerGateway, type RunningTollgate, startTollgate } from '#test-support';

const run = promisify(execFile);
const ROOT = resolve(fileURLToPath(import.meta.url), '../../..');
const PACKAGE = join(ROOT, 'libs/workload-client');
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');
const LIVE = 'urn:tollgate:acr:live';

/**
 * A forward-auth gateway as small as it gets: every call is asked of /check (Traefik/Caddy
 * headers); an allowed call is answered with the identity Tollgate named, a refused one is passed
 * on with its status, WWW-Authenticate, DPoP-Nonce and body (what NGINX and Caddy do).
 */
async function startGateway(tollgate: RunningTollgate, gateway: Gateway): Promise<{ url: string; server: Server }> {
  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const headers: Record<string, string> = {
      'x-gateway-authorization': gateway.basic,
      'x-forwarded-method': req.method!,
      'x-forwarded-proto': 'http',
      'x-forwarded-host': req.headers.host!,
      'x-forwarded-uri': req.url!,
      'x-real-ip': '127.0.0.1',
    };
    for (const name of ['authorization', 'dpop'] as const) if (typeof req.headers[name] === 'string') headers[name] = req.headers[name];
    const check = await fetch(`${tollgate.url}/check`, { headers });
    const body = await check.text();
    if (check.ok) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ acr: check.headers.get('x-tollgate-acr'), client_id: check.headers.get('x-tollgate-client-id') }));
      return;
    }
    const passed: Record<string, string> = { 'content-type': check.headers.get('content-type') ?? 'application/json' };
    for (const name of ['www-authenticate', 'dpop-nonce']) {
      const value = check.headers.get(name);
      if (value) passed[name] = value;
    }
    res.writeHead(check.status, passed).end(body);
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, server };
}

// What another project writes: the package by its name, a private JWK from a file, one token and
// one call that the gateway answers with a step-up challenge.
const CONSUMER = `
import { readFileSync } from 'node:fs';
import { signerFromCryptoKey, WorkloadClient, TokenError, type JsonWebKey } from '@tollgate/workload-client';

const jwk = JSON.parse(readFileSync(process.env.KEY_FILE!, 'utf8')) as JsonWebKey & { kid: string; alg: string };
const key = await crypto.subtle.importKey('jwk', jwk, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
const client = new WorkloadClient({
  issuer: process.env.ISSUER!,
  clientId: process.env.CLIENT_ID!,
  clientKey: signerFromCryptoKey(key, jwk.alg, jwk.kid),
  resource: process.env.API + '/',
});
const claims = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString());
const first = claims(await client.token());
const res = await client.fetch(process.env.API + '/ops/restart', { method: 'POST' });
const after = claims(await client.token());
console.log(JSON.stringify({ first: { acr: first.acr, cnf: Boolean(first.cnf?.jkt) }, call: { status: res.status, body: await res.json() }, after: { acr: after.acr }, tokenError: typeof TokenError }));
`;

describe('the SDK as a package (npm pack, installed into an empty project outside the repository)', () => {
  let tollgate: RunningTollgate;
  let gateway: { url: string; server: Server };
  let work: string;
  let tarball: string;

  before(async () => {
    tollgate = await startTollgate();
    gateway = await startGateway(tollgate, await registerGateway(tollgate));
    work = await mkdtemp(join(tmpdir(), 'tollgate-sdk-consumer-'));
    assert.ok(!work.startsWith(ROOT), 'the consumer project must be outside the repository');
  });

  after(async () => {
    gateway?.server.close();
    await tollgate?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('npm pack builds a tarball with the compiled SDK, its types and README: no tests, no sources', async () => {
    const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', work], { cwd: PACKAGE });
    const [packed] = JSON.parse(stdout.slice(stdout.indexOf('['))) as [{ filename: string; name: string; files: { path: string }[] }];
    assert.equal(packed.name, '@tollgate/workload-client');
    tarball = join(work, packed.filename);
    const files = packed.files.map((f) => f.path).sort();
    for (const expected of ['README.md', 'package.json', 'dist/index.js', 'dist/index.d.ts', 'dist/jws.js', 'dist/client.d.ts']) assert.ok(files.includes(expected), `${expected} in ${files.join(', ')}`);
    assert.deepEqual(files.filter((f) => /\.test\.|^[^/]+\.ts$/.test(f)), [], 'no tests and no TypeScript sources are shipped');
  });

  it('installs offline into an empty project, with no dependencies of its own', async () => {
    const project = join(work, 'consumer');
    await run('mkdir', ['-p', project]);
    await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    await run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', tarball], { cwd: project });
    assert.deepEqual((await readdir(join(project, 'node_modules'))).filter((name) => !name.startsWith('.')), ['@tollgate']);
    await writeFile(join(project, 'consumer.ts'), CONSUMER);
  });

  for (const [name, lib] of [['TypeScript’s default lib (DOM included)', undefined], ['lib ES2023 (no DOM)', ['ES2023']]] as const) {
    it(`the consumer compiles against the package’s types, checked (skipLibCheck off), with ${name}`, async () => {
      const project = join(work, 'consumer');
      const config = {
        compilerOptions: {
          target: 'ES2022',
          ...(lib ? { lib } : {}),
          module: 'nodenext',
          moduleResolution: 'nodenext',
          strict: true,
          skipLibCheck: false,
          outDir: lib ? 'out-es2023' : 'out-default',
          typeRoots: [join(ROOT, 'node_modules/@types')],
          types: ['node'],
        },
        files: ['consumer.ts'],
      };
      await writeFile(join(project, `tsconfig.${lib ? 'es2023' : 'default'}.json`), JSON.stringify(config));
      await run(process.execPath, [TSC, '-p', `tsconfig.${lib ? 'es2023' : 'default'}.json`], { cwd: project }).catch((err) => assert.fail(`${err.stdout}${err.stderr}`));
    });

    it(`the SDK's own sources compile with ${name}`, async () => {
      const config = {
        compilerOptions: {
          target: 'ES2022',
          ...(lib ? { lib } : {}),
          module: 'nodenext',
          moduleResolution: 'nodenext',
          strict: true,
          noEmit: true,
          skipLibCheck: false,
          typeRoots: [join(ROOT, 'node_modules/@types')],
          types: ['node'],
        },
        include: [join(PACKAGE, '*.ts')],
        exclude: [join(PACKAGE, '*.test.ts')],
      };
      const file = join(work, `sdk.${lib ? 'es2023' : 'default'}.json`);
      await writeFile(file, JSON.stringify(config));
      await run(process.execPath, [TSC, '-p', file]).catch((err) => assert.fail(`${err.stdout}${err.stderr}`));
    });
  }

  it('the compiled consumer gets a DPoP-bound token and a stepped-up call from a real server (route needs acr live)', async () => {
    const project = join(work, 'consumer');
    const pair = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
    const privateJwk = { ...(await webcrypto.subtle.exportKey('jwk', pair.privateKey)), kid: 'k1', alg: 'ES256' };
    const { d: _d, key_ops: _o, ext: _e, ...publicJwk } = privateJwk;
    const registered = await fetch(`${tollgate.url}/admin/clients`, {
      method: 'POST',
      headers: { authorization: tollgate.admin, 'content-type': 'application/json' },
      body: JSON.stringify({ client_name: 'sdk consumer', jwks: { keys: [{ ...publicJwk, use: 'sig' }] }, allowed_resources: [`${gateway.url}/`] }),
    });
    assert.equal(registered.status, 201);
    const clientId = ((await registered.json()) as { client_id: string }).client_id;
    const policy = await fetch(`${tollgate.url}/admin/clients/${clientId}/policy`, {
      method: 'PUT',
      headers: { authorization: tollgate.admin, 'content-type': 'application/json' },
      body: JSON.stringify({ routes: [{ path: '/ops/**', acr: LIVE, max_age: 300 }] }),
    });
    assert.equal(policy.status, 200, await policy.text());
    await writeFile(join(project, 'key.jwk'), JSON.stringify(privateJwk), { mode: 0o600 });

    for (const out of ['out-default', 'out-es2023']) {
      const env = { ...process.env, KEY_FILE: join(project, 'key.jwk'), ISSUER: tollgate.issuer, CLIENT_ID: clientId, API: gateway.url };
      const { stdout } = await run(process.execPath, [join(project, out, 'consumer.js')], { cwd: project, env });
      const result = JSON.parse(stdout);
      assert.deepEqual(result.first, { acr: 'urn:tollgate:acr:key', cnf: true }, out);
      assert.deepEqual(result.call, { status: 200, body: { acr: LIVE, client_id: clientId } }, out);
      assert.deepEqual(result.after, { acr: LIVE }, 'the stepped-up token is cached and reused');
      assert.equal(result.tokenError, 'function');
    }
  });
});
