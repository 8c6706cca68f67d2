import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import {
  type CheckResponse,
  type ExtAuthzClient,
  extAuthzClient,
  type Gateway,
  type ProtectedApi,
  registerGateway,
  type RunningTollgate,
  startProtectedApi,
  type RunningWorkers,
  startWorkers,
  Workload,
  freePort,
} from '#test-support';
import { stopProcess } from './support/processes.js';
import { signerFromCryptoKey, WorkloadClient } from '#workload-client';

const LIVE = 'urn:tollgate:acr:live';

interface Echo {
  method: string;
  url: string;
  headers: Record<string, string>;
}

/** google.rpc.Code values (google/rpc/code.proto). */
const OK = 0;
const PERMISSION_DENIED = 7;
const UNAUTHENTICATED = 16;

function header(options: { header: { key: string; value: string } }[] | undefined, name: string): string | undefined {
  return options?.find((o) => o.header.key.toLowerCase() === name)?.header.value;
}

/**
 * Issue 12 §1: Envoy ext_authz over gRPC (envoy.service.auth.v3.Authorization/Check) on
 * TOLLGATE_GRPC_PORT, driven by a real gRPC client built from the vendored protos, and by a small
 * Envoy-like gateway (test/support/ext-authz.ts) that asks it about every call in front of an
 * echo upstream. Envoy itself is not installable here.
 */
describe('Envoy ext_authz over gRPC', () => {
  let stack: ProtectedApi;
  let tollgate: RunningTollgate;
  let api: string;
  let grpc: ExtAuthzClient;
  let gateway: Gateway;
  let w: Workload;
  let token: string;

  before(async () => {
    stack = await startProtectedApi('envoy-grpc');
    ({ tollgate, api } = stack);
    grpc = extAuthzClient(tollgate.grpcPort!);
    gateway = await registerGateway(tollgate, 'envoy');
    w = await Workload.register(tollgate, { allowed_resources: [`${api}/`], scope: 'orders:read orders:write' });
    const policy = await request(tollgate.url)
      .put(`/admin/clients/${w.clientId}/policy`)
      .set('Authorization', tollgate.admin)
      .send({
        routes: [
          { path: '/ops/**', acr: LIVE, max_age: 300 },
          { path: '/payments/**', scopes: ['payments:write'] },
        ],
      });
    assert.equal(policy.status, 200, JSON.stringify(policy.body));
    token = await w.token({ scope: 'orders:read orders:write' });
  });

  after(async () => {
    grpc?.close();
    await stack?.close();
  });

  /** What Envoy would send for `method url` with a fresh proof (or `proof`), plus `headers`. */
  async function check(method: string, path: string, options: { headers?: Record<string, string>; proof?: string; credential?: string | null; source?: string } = {}): Promise<CheckResponse> {
    const url = new URL(path, api);
    const proof = options.proof ?? (await w.proof(method, `${url.origin}${url.pathname}`, { accessToken: token }));
    return grpc.check(
      { method, host: url.host, path: `${url.pathname}${url.search}`, headers: { authorization: `DPoP ${token}`, dpop: proof, ...options.headers }, sourceAddress: options.source ?? '127.0.0.1' },
      options.credential === null ? undefined : (options.credential ?? gateway.basic),
    );
  }

  it('allows a good call: OK, the identity headers, and headers_to_remove for what the client forged', async () => {
    const res = await check('POST', '/orders/42?expand=1', { headers: { 'x-tollgate-client-id': 'forged', 'x-tollgate-extra': 'forged' } });
    assert.equal(res.status?.code ?? 0, OK, JSON.stringify(res));
    assert.equal(res.http_response, 'ok_response');
    const set = res.ok_response!.headers;
    assert.equal(header(set, 'x-tollgate-client-id'), w.clientId);
    assert.equal(header(set, 'x-tollgate-scope'), 'orders:read orders:write');
    assert.equal(header(set, 'x-tollgate-acr'), 'urn:tollgate:acr:key');
    assert.match(header(set, 'x-tollgate-risk') ?? '', /^\d+$/);
    assert.match(header(set, 'x-tollgate-decision-id') ?? '', /^[0-9a-f-]{36}$/);
    // x-tollgate-client-id is overwritten (OkHttpResponse.headers replace by default); the other is removed.
    assert.deepEqual(res.ok_response!.headers_to_remove, ['x-tollgate-extra']);
  });

  it('through the gRPC-calling gateway: the upstream gets the identity headers, not forged ones, and no gateway credential', async () => {
    const res = await w.call('POST', `${api}/orders/7?x=1`, token, { headers: { 'x-tollgate-client-id': 'forged', 'x-tollgate-acr': 'urn:tollgate:acr:attested', 'x-tollgate-extra': 'forged' } });
    assert.equal(res.status, 200, `${res.headers.get('www-authenticate')}`);
    const seen = (await res.json()) as Echo;
    assert.equal(seen.method, 'POST');
    assert.equal(seen.url, '/orders/7?x=1');
    assert.equal(seen.headers['x-tollgate-client-id'], w.clientId);
    assert.equal(seen.headers['x-tollgate-acr'], 'urn:tollgate:acr:key');
    assert.equal(seen.headers['x-tollgate-extra'], undefined);
    assert.equal(seen.headers['x-gateway-authorization'], undefined);
  });

  it('step-up: UNAUTHENTICATED with a 401 denied_response carrying WWW-Authenticate, DPoP-Nonce and the JSON body', async () => {
    const res = await check('POST', '/ops/restart');
    assert.equal(res.status?.code, UNAUTHENTICATED);
    assert.equal(res.http_response, 'denied_response');
    const denied = res.denied_response!;
    assert.equal(denied.status?.code, 401);
    assert.match(header(denied.headers, 'www-authenticate') ?? '', /^DPoP .*error="insufficient_user_authentication".*acr_values="urn:tollgate:acr:live"/);
    assert.ok(header(denied.headers, 'dpop-nonce'));
    assert.match(header(denied.headers, 'content-type') ?? '', /^application\/json/);
    const body = JSON.parse(denied.body!) as { decision: string; acr_values: string; max_age: number };
    assert.equal(body.decision, 'step_up');
    assert.equal(body.acr_values, LIVE);
    assert.equal(body.max_age, 300);
  });

  it('deny: PERMISSION_DENIED with a 403 denied_response (insufficient_scope) and the JSON body', async () => {
    const res = await check('GET', '/payments/1');
    assert.equal(res.status?.code, PERMISSION_DENIED);
    assert.equal(res.denied_response!.status?.code, 403);
    assert.match(header(res.denied_response!.headers, 'www-authenticate') ?? '', /insufficient_scope/);
    const body = JSON.parse(res.denied_response!.body!) as { decision: string; error: string };
    assert.equal(body.decision, 'deny');
    assert.equal(body.error, 'insufficient_scope');
  });

  it('a replayed proof is refused (401 invalid_dpop_proof)', async () => {
    const proof = await w.proof('GET', `${api}/orders/5`, { accessToken: token });
    const first = await check('GET', '/orders/5', { proof });
    assert.equal(first.status?.code ?? 0, OK, JSON.stringify(first));
    const again = await check('GET', '/orders/5', { proof });
    assert.equal(again.status?.code, UNAUTHENTICATED);
    assert.equal(again.denied_response!.status?.code, 401);
    assert.match(header(again.denied_response!.headers, 'www-authenticate') ?? '', /error="invalid_dpop_proof"/);
  });

  it('a proof for another URL than attributes.request.http describes is refused', async () => {
    const proof = await w.proof('GET', `${api}/orders/1`, { accessToken: token });
    const res = await check('GET', '/ops/restart', { proof });
    assert.equal(res.status?.code, UNAUTHENTICATED);
    assert.match(header(res.denied_response!.headers, 'www-authenticate') ?? '', /invalid_dpop_proof/);
  });

  it('a bad, missing or malformed gateway credential is an answered denial (never an RPC error)', async () => {
    for (const credential of [`Basic ${Buffer.from(`${gateway.id}:wrong`).toString('base64')}`, null, 'Bearer nonsense']) {
      const res = await check('GET', '/orders/1', { credential });
      assert.equal(res.status?.code, UNAUTHENTICATED, String(credential));
      assert.equal(res.http_response, 'denied_response');
      assert.equal(res.denied_response!.status?.code, 401);
      const body = JSON.parse(res.denied_response!.body!) as { decision: string; error: string };
      assert.equal(body.decision, 'invalid');
      assert.equal(body.error, 'invalid_client');
    }
    // A workload's credentials are not a gateway's.
    const res = await check('GET', '/orders/1', { credential: `Basic ${Buffer.from(`${w.clientId}:x`).toString('base64')}` });
    assert.equal(res.status?.code, UNAUTHENTICATED);
  });

  it('a call Envoy could not describe is an answered 400 denial', async () => {
    const res = await grpc.check({ method: 'GET', host: '', path: '/orders/1' }, gateway.basic);
    assert.notEqual(res.status?.code ?? 0, OK);
    assert.equal(res.denied_response!.status?.code, 400);
    assert.equal((JSON.parse(res.denied_response!.body!) as { error: string }).error, 'invalid_request');
  });

  it('the caller from attributes.source reaches the risk judge: the same token from another network is stepped up', async () => {
    const res = await check('GET', '/orders/6', { source: '192.0.2.10' });
    assert.equal(res.status?.code, UNAUTHENTICATED);
    const body = JSON.parse(res.denied_response!.body!) as { decision: string; reasons: { code: string }[] };
    assert.equal(body.decision, 'step_up');
    assert.ok(body.reasons.some((r) => r.code === 'token_multiple_networks'), JSON.stringify(body.reasons));
  });

  it('step-up answered by the SDK through the gRPC-calling gateway: challenged, stepped up, the retry passes with acr live', async () => {
    const client = new WorkloadClient({
      issuer: tollgate.issuer,
      clientId: w.clientId,
      clientKey: await signerFromCryptoKey(w.clientKey.privateKey, 'ES256', 'k1'),
      resource: `${api}/`,
    });
    const res = await client.fetch(`${api}/ops/restart`, { method: 'POST', body: 'now', headers: { 'content-type': 'text/plain' } });
    assert.equal(res.status, 200);
    const seen = (await res.json()) as Echo;
    assert.equal(seen.url, '/ops/restart');
    assert.equal(seen.headers['x-tollgate-acr'], LIVE);
    assert.equal(((await (await client.fetch(`${api}/orders/2`)).json()) as Echo).headers['x-tollgate-acr'], LIVE);
  });

  it('records the decisions with the caller from attributes.source, and counts checks by face and decision', async () => {
    const decisions = await request(tollgate.url).get(`/admin/decisions?client_id=${w.clientId}&limit=200`).set('Authorization', tollgate.admin).expect(200);
    const kinds = new Set(decisions.body.decisions.map((d: { decision: string }) => d.decision));
    for (const d of ['allow', 'step_up', 'deny', 'invalid']) assert.ok(kinds.has(d), `a ${d} decision was recorded`);
    assert.ok(decisions.body.decisions.some((d: { ip?: string }) => d.ip === '192.0.2.10'), 'the source address reached the decision');
    const metrics = (await request(tollgate.url).get('/metrics').expect(200)).text;
    for (const decision of ['allow', 'step_up', 'deny', 'invalid']) {
      assert.match(metrics, new RegExp(`tollgate_checks_total\\{face="grpc",decision="${decision}"\\} [1-9]`), decision);
    }
  });

  it('grpc.health.v1: SERVING for the server and the Authorization service, NOT_FOUND for others', async () => {
    assert.equal((await grpc.health('')).status, 'SERVING');
    assert.equal((await grpc.health('envoy.service.auth.v3.Authorization')).status, 'SERVING');
    await assert.rejects(grpc.health('no.such.Service'), (err: { code?: number }) => err.code === 5);
  });

  it('shuts down gracefully: a health watcher is told NOT_SERVING and its stream ends; the port closes', async () => {
    const watch = grpc.watch();
    assert.equal(await watch.first, 'SERVING');
    await tollgate.close();
    await watch.ended;
    assert.deepEqual(watch.statuses, ['SERVING', 'NOT_SERVING']);
    await assert.rejects(check('GET', '/orders/1'), (err: { code?: number }) => err.code === 14);
  });
});

const shared = Boolean(process.env.DATABASE_URL && process.env.REDIS_URL);

/** TOLLGATE_WORKERS with TOLLGATE_GRPC_PORT: every worker serves the gRPC port (node:cluster shares it). */
describe('ext_authz over gRPC under TOLLGATE_WORKERS', { skip: !shared && 'needs DATABASE_URL and REDIS_URL' }, () => {
  let primary: ChildProcess;
  let server: RunningTollgate;
  let grpcPort: number;
  let listening: RunningWorkers['listening'];

  before(async () => {
    grpcPort = await freePort();
    ({ primary, server, listening } = await startWorkers({ TOLLGATE_GRPC_PORT: String(grpcPort) }));
  });

  after(async () => {
    if (primary) await stopProcess(primary);
  });

  it('both workers bind the gRPC port; a proof used at one worker is refused at the other', async () => {
    const workers = listening();
    assert.equal(new Set(workers.map((l) => l.pid)).size, 2);
    assert.deepEqual(workers.map((l) => l.grpc_port), [grpcPort, grpcPort]);
    const gw = await registerGateway(server);
    const w = await Workload.register(server);
    const token = await w.token();
    const proof = await w.proof('GET', 'https://api.example.test/orders/1', { accessToken: token });
    const call = { method: 'GET', host: 'api.example.test', scheme: 'https', path: '/orders/1', headers: { authorization: `DPoP ${token}`, dpop: proof } };
    // Each client is a connection of its own, so the primary hands it to the next worker.
    const answers: CheckResponse[] = [];
    for (let i = 0; i < 4; i++) {
      const client = extAuthzClient(grpcPort);
      try {
        assert.equal((await client.health()).status, 'SERVING');
        answers.push(await client.check(call, gw.basic));
      } finally {
        client.close();
      }
    }
    assert.equal(answers[0]!.status?.code ?? 0, OK, JSON.stringify(answers[0]));
    for (const replay of answers.slice(1)) {
      assert.equal(replay.status?.code, UNAUTHENTICATED);
      assert.match(header(replay.denied_response!.headers, 'www-authenticate') ?? '', /invalid_dpop_proof/);
    }
  });
});
