import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type RunningTollgate, startTollgate, Workload } from '#test-support';
import { freePort, haveRedisServer, startRedisServer, stopProcess, waitFor } from './support/processes.js';

const shared = Boolean(process.env.DATABASE_URL && process.env.REDIS_URL);

describe('replay refused across instances (RFC 9449 §11.1, RFC 7523 §3)', { skip: !shared && 'needs DATABASE_URL and REDIS_URL' }, () => {
  it('a DPoP proof or client assertion used at one instance is refused at another', async () => {
    const a = await startTollgate();
    const b = await startTollgate({ TOLLGATE_ISSUER: a.url });
    try {
      const w = await Workload.register(a);
      const proof = await w.proof('POST', w.tokenUrl);
      const assertion = await w.assertion();
      assert.equal((await w.requestToken({}, proof, assertion)).status, 200);

      const atB = w.at(b);
      const replayedProof = await atB.requestToken({}, proof);
      assert.equal(replayedProof.status, 400);
      assert.equal(replayedProof.body.error, 'invalid_dpop_proof');

      const replayedAssertion = await atB.requestToken({}, undefined, assertion);
      assert.equal(replayedAssertion.status, 401);
      assert.equal(replayedAssertion.body.error, 'invalid_client');

      assert.equal((await atB.requestToken()).status, 200, 'fresh proof and assertion work at the other instance');

      // A suspension made at A applies at B on the next request (change notice over Redis, not a cache TTL).
      await atB.token();
      const suspend = await fetch(`${a.url}/admin/clients/${w.clientId}`, {
        method: 'PATCH',
        headers: { authorization: a.admin.replace(a.adminToken, a.adminToken), 'content-type': 'application/json' },
        body: JSON.stringify({ status: 'suspended' }),
      });
      assert.equal(suspend.status, 200);
      const refused = await atB.requestToken();
      assert.equal(refused.status, 401);
      assert.equal(refused.body.error, 'invalid_client');
    } finally {
      await b.close();
      await a.close();
    }
  });
});


/** Redis without persistence, killed: every replay record is gone. */
const stop = (child: ChildProcess) => stopProcess(child, 'SIGKILL');

/** A Redis of its own, a server on it, and a workload's proof and assertion, used once. */
async function usedOnce(port: number) {
  const server = await startTollgate({ REDIS_URL: `redis://127.0.0.1:${port}` });
  const w = await Workload.register(server);
  const proof = await w.proof('POST', w.tokenUrl);
  const assertion = await w.assertion();
  assert.equal((await w.requestToken({}, proof, assertion)).status, 200);
  return { server, w, proof, assertion };
}

describe('a replay-store restart does not reopen replays (toolchain facts: Redis without persistence)', { skip: !haveRedisServer() && 'needs redis-server' }, () => {
  it('proofs and assertions made before Redis restarted are refused; new ones work', async () => {
    const port = await freePort();
    let redis = await startRedisServer(port);
    let server: RunningTollgate | undefined;
    try {
      const used = await usedOnce(port);
      server = used.server;
      const { w, proof, assertion } = used;

      // Redis forgets every replay record.
      await stop(redis);
      await sleep(300);
      // While it is down the token endpoint fails closed with 503, not 500.
      const during = await w.requestToken();
      assert.equal(during.status, 503, JSON.stringify(during.body));
      assert.equal(during.body.error, 'temporarily_unavailable');
      assert.ok(during.headers['retry-after']);
      await sleep(800);
      redis = await startRedisServer(port);
      const url = server.url;
      await waitFor(async () => (await fetch(`${url}/readyz`)).status === 200, 'Tollgate did not reconnect to Redis', 50, 100);
      // In the second the loss was noticed, even a new assertion is refused as older than the
      // store (iat has whole seconds: it cannot tell before from after). The replays below are
      // sent after it, with new credentials beside them that are accepted.
      await sleep(1100);

      const replayedProof = await w.requestToken({}, proof);
      assert.equal(replayedProof.status, 400, JSON.stringify(replayedProof.body));
      assert.equal(replayedProof.body.error, 'invalid_dpop_proof');
      const replayedAssertion = await w.requestToken({}, undefined, assertion);
      assert.equal(replayedAssertion.status, 401, JSON.stringify(replayedAssertion.body));
      assert.equal(replayedAssertion.body.error, 'invalid_client');

      await sleep(1100); // new proofs carry an iat after the restart
      assert.equal((await w.requestToken()).status, 200);
    } finally {
      await server?.close();
      await stop(redis);
    }
  });
});

describe('a replay store that forgets without a reconnect (FLUSHALL) does not reopen replays', { skip: !haveRedisServer() && 'needs redis-server' }, () => {
  it('a proof and an assertion used before the flush are refused after it, never accepted; new ones work', async () => {
    const port = await freePort();
    const redis = await startRedisServer(port);
    let server: RunningTollgate | undefined;
    try {
      const used = await usedOnce(port);
      server = used.server;
      const { w, proof, assertion } = used;

      // An operator empties Redis: the connection stays up, so no reconnect tells Tollgate. Only
      // the memory markers that went with the records can (libs/hot-state/hot-state.ts).
      await redisCli(port, 'flushall');
      const first = await w.requestToken({}, proof);
      assert.equal(first.status, 503, JSON.stringify(first.body));
      assert.equal(first.body.error, 'temporarily_unavailable');
      await sleep(1100); // past the second in which the loss was noticed (see the test above)
      const replayed = await retried503(() => w.requestToken({}, proof));
      assert.equal(replayed.status, 400, JSON.stringify(replayed.body));
      assert.equal(replayed.body.error, 'invalid_dpop_proof');
      assert.match(String(replayed.body.error_description), /predates/);
      const replayedAssertion = await retried503(() => w.requestToken({}, undefined, assertion));
      assert.equal(replayedAssertion.status, 401, JSON.stringify(replayedAssertion.body));
      assert.equal(replayedAssertion.body.error, 'invalid_client');

      assert.equal((await w.requestToken()).status, 200);
    } finally {
      await server?.close();
      await stop(redis);
    }
  });
});

/** The first answer that is not 503 (the one claim that finds the store forgot is refused 503). */
async function retried503<T extends { status: number }>(send: () => PromiseLike<T>): Promise<T> {
  let res = await send();
  for (let i = 0; i < 5 && res.status === 503; i++) res = await send();
  return res;
}

async function redisCli(port: number, ...args: string[]): Promise<void> {
  const { execFileSync } = await import('node:child_process');
  execFileSync('redis-cli', ['-p', String(port), ...args]);
}
