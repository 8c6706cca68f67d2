import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import request from 'supertest';
import { freePort, stopProcess, waitFor } from './support/processes.js';
import { registerGateway, type RunningTollgate, Workload } from '#test-support';

const MAIN = fileURLToPath(new URL('../apps/tollgate/src/main.js', import.meta.url));
const shared = Boolean(process.env.DATABASE_URL && process.env.REDIS_URL);
const API = 'https://api.example.test';

/**
 * Issue 3 §9: two Tollgate processes on one PostgreSQL and one Redis, as behind a load balancer
 * (one issuer, the Host header preserved). What one refused, the other must refuse too.
 */
describe('two Tollgate processes, one PostgreSQL, one Redis', { skip: !shared && 'needs DATABASE_URL and REDIS_URL' }, () => {
  const children: ChildProcess[] = [];
  let a: RunningTollgate;
  let b: RunningTollgate;
  let gatewayAuth: string;
  let issuerHost: string;

  async function start(port: number, issuer: string, env: Record<string, string>): Promise<void> {
    const child = spawn(process.execPath, [MAIN], {
      env: { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1', TOLLGATE_ISSUER: issuer, TOLLGATE_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    children.push(child);
    const ready = async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200;
    await waitFor(ready, `instance on ${port} did not become ready`, 100, 100);
  }

  before(async () => {
    const [portA, portB] = [await freePort(), await freePort()];
    const issuer = `http://127.0.0.1:${portA}`;
    issuerHost = `127.0.0.1:${portA}`;
    const env = {
      TOLLGATE_ADMIN_TOKEN: randomBytes(32).toString('base64url'),
      TOLLGATE_KEY_ENCRYPTION_KEY: process.env.TOLLGATE_KEY_ENCRYPTION_KEY ?? Buffer.alloc(32, 7).toString('base64url'),
    };
    await start(portA, issuer, env);
    await start(portB, issuer, env);
    const instance = (port: number) =>
      ({ url: `http://127.0.0.1:${port}`, issuer, admin: `Bearer ${env.TOLLGATE_ADMIN_TOKEN}`, adminToken: env.TOLLGATE_ADMIN_TOKEN }) as RunningTollgate;
    a = instance(portA);
    b = instance(portB);
    gatewayAuth = (await registerGateway(a)).basic;
  });

  after(async () => {
    for (const child of children) await stopProcess(child);
  });

  const check = (at: RunningTollgate, token: string, proof: string, url: string) =>
    request(at.url).get('/check').set('X-Gateway-Authorization', gatewayAuth).set('X-Original-Method', 'GET')
      .set('X-Original-URL', url).set('Authorization', `DPoP ${token}`).set('DPoP', proof);

  it('a token from one instance is accepted by the other; a proof used at one is refused at the other', async () => {
    const w = await Workload.register(a, { allowed_resources: [`${API}/`] });
    // The token request goes to B with the issuer's Host, as a load balancer would send it.
    const issued = await request(b.url).post('/oauth/token').type('form').set('Host', issuerHost)
      .set('DPoP', await w.proof('POST', `${a.url}/oauth/token`))
      .send({
        grant_type: 'client_credentials',
        client_id: w.clientId,
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: await w.assertion(),
      });
    assert.equal(issued.status, 200, JSON.stringify(issued.body));
    const token = issued.body.access_token as string;
    const url = `${API}/orders/1`;
    const proof = await w.proof('GET', url, { accessToken: token });
    assert.equal((await check(a, token, proof, url)).status, 200);
    const replayed = await check(b, token, proof, url);
    assert.equal(replayed.status, 401);
    assert.match(replayed.headers['www-authenticate'], /error="invalid_dpop_proof"/);
  });

  it('rate state is shared: the limit counts calls at both instances', async () => {
    const w = await Workload.register(a, { allowed_resources: [`${API}/`] });
    const token = await w.token();
    await request(a.url).put(`/admin/clients/${w.clientId}/policy`).set('Authorization', a.admin)
      .send({ rate_limit_per_minute: 4 }).expect(200);
    const statuses: number[] = [];
    for (const at of [a, b, a, b, a, b]) {
      const url = `${API}/orders/${statuses.length}`;
      statuses.push((await check(at, token, await w.proof('GET', url, { accessToken: token }), url)).status);
    }
    assert.deepEqual(statuses, [200, 200, 200, 200, 403, 403]);
  });

  it('a suspension made at one instance applies at the other on the next call', async () => {
    const w = await Workload.register(a, { allowed_resources: [`${API}/`] });
    const token = await w.token();
    const url = `${API}/orders/1`;
    assert.equal((await check(b, token, await w.proof('GET', url, { accessToken: token }), url)).status, 200);
    await request(a.url).patch(`/admin/clients/${w.clientId}`).set('Authorization', a.admin).send({ status: 'suspended' }).expect(200);
    const res = await check(b, token, await w.proof('GET', url, { accessToken: token }), url);
    assert.equal(res.status, 401);
  });

  it('a decision made at one instance appears in a decision stream opened at the other, within a second', async () => {
    const w = await Workload.register(a, { allowed_resources: [`${API}/`] });
    const token = await w.token();
    const controller = new AbortController();
    const res = await fetch(`${b.url}/admin/decisions/stream?client_id=${w.clientId}`, { headers: { Authorization: b.admin }, signal: controller.signal });
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    const timer = setTimeout(() => controller.abort(), 5000);
    let text = '';
    const url = `${API}/orders/7`;
    try {
      const began = Date.now();
      const answered = await check(a, token, await w.proof('GET', url, { accessToken: token }), url);
      assert.equal(answered.status, 200);
      const decisionId = answered.headers['x-tollgate-decision-id'] as string;
      while (!text.includes(decisionId)) {
        const { value, done } = await reader.read();
        if (done) break;
        text += new TextDecoder().decode(value);
      }
      assert.ok(text.includes(`id: ${decisionId}`), `the stream at the other instance did not show ${decisionId}`);
      assert.ok(Date.now() - began < 1000, `it took ${Date.now() - began} ms`);
    } finally {
      clearTimeout(timer);
      controller.abort();
    }
  });
});
