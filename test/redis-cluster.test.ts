import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import request from 'supertest';
import { openHotState } from '#hot-state';
import { JsonLogger } from '#operations';
import { type Gateway, registerGateway, type RunningTollgate, startTollgate, Workload } from '#test-support';
import { haveRedisServer, startRedisServer, stopProcess, waitFor } from './support/processes.js';
import { type RedisClusterUnderTest, startRedisCluster } from './support/redis-cluster.js';

const API = 'https://api.example.test';
/** This suite's ports (7101–7106): three masters and a replica each. */
const FIRST_PORT = 7101;

/** p50/p99 of `count` sequential replay claims through the hot state opened on `url`. */
async function measureClaims(url: string, count = 2000): Promise<string> {
  const hot = await openHotState(url);
  try {
    const timings: number[] = [];
    for (let i = 0; i < count; i++) {
      const t0 = process.hrtime.bigint();
      assert.equal(await hot.replay.claim(`measure:${process.pid}:${Date.now()}:${i}`, 60), true);
      timings.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    timings.sort((a, b) => a - b);
    const q = (p: number) => timings[Math.floor(p * (timings.length - 1))]!.toFixed(3);
    // 64 in flight, as under load: WAIT holds its connection until the replica answers.
    const t0 = Date.now();
    for (let i = 0; i < 5; i++) {
      const batch = Array.from({ length: 64 * 10 }, (_, j) => `measure:${process.pid}:${t0}:${i}:${j}`);
      for (let k = 0; k < batch.length; k += 64) await Promise.all(batch.slice(k, k + 64).map((key) => hot.replay.claim(key, 60)));
    }
    const perSecond = Math.round((5 * 640) / ((Date.now() - t0) / 1000));
    return `${count} sequential claims: p50 ${q(0.5)} ms, p99 ${q(0.99)} ms; 64 in flight: ${perSecond} claims/s`;
  } finally {
    await hot.close();
  }
}

/** One accepted token request's single-use credentials, kept to be replayed later. */
interface Spent {
  proof: string;
  assertion: string;
}

/**
 * Issue 10 §4: Tollgate on a real Redis Cluster (3 masters, 1 replica each). Replay records,
 * learned risk state, step-up challenges and change notices live there; a master killed
 * mid-run is replaced by its replica and no acknowledged replay record is lost.
 */
describe('Redis Cluster: replay protection survives a failover (issue 10 §4)', { skip: !haveRedisServer() && 'needs redis-server (Debian package redis-server)' }, () => {
  let cluster: RedisClusterUnderTest;
  let server: RunningTollgate;
  let gateway: Gateway;
  let w: Workload;
  let token: string;
  const spent: Spent[] = [];
  const lines: string[] = [];
  const errorLines = () => lines.filter((l) => /"level":"error"/.test(l));
  const spentChecks: string[] = [];

  before(async () => {
    cluster = await startRedisCluster(FIRST_PORT);
    server = await startTollgate({ REDIS_URL: cluster.url }, { logger: new JsonLogger('warn', { write: (line) => lines.push(line) }) });
    gateway = await registerGateway(server);
    w = await Workload.register(server, { allowed_resources: [`${API}/`] });
  });
  after(async () => {
    await server?.close();
    await cluster?.close();
  });

  const check = (proof: string, url = `${API}/orders/1`) =>
    request(server.url).get('/check').set('X-Gateway-Authorization', gateway.basic).set('X-Original-Method', 'GET')
      .set('X-Original-URL', url).set('X-Real-IP', '203.0.113.10').set('Authorization', `DPoP ${token}`).set('DPoP', proof);

  /** A token request whose proof and assertion are kept when it succeeds. */
  const issue = async () => {
    const proof = await w.proof('POST', w.tokenUrl);
    const assertion = await w.assertion();
    const res = await w.requestToken({}, proof, assertion);
    if (res.status === 200) spent.push({ proof, assertion });
    return res;
  };

  /**
   * The answer once the cluster settles: a 503 (a claim no replica acknowledged in time, which
   * happens on a loaded machine) is retried as a client would; anything else is the answer.
   * Requests that must be fresh are made anew each time (`send` signs again).
   */
  const answered = async <T extends { status: number }>(send: () => PromiseLike<T>): Promise<T> => {
    let res = await send();
    for (let i = 0; i < 30 && res.status === 503; i++) {
      await sleep(100);
      res = await send();
    }
    return res;
  };

  it('issues tokens, refuses replays, keeps risk state and answers challenges once', async () => {
    for (let i = 0; i < 20; i++) {
      const res = await issue();
      assert.equal(res.status, 200, JSON.stringify(res.body));
      token = res.body.access_token;
    }
    const replayedProof = await w.requestToken({}, spent[0]!.proof);
    assert.equal(replayedProof.status, 400, JSON.stringify(replayedProof.body));
    assert.equal(replayedProof.body.error, 'invalid_dpop_proof');
    const replayedAssertion = await w.requestToken({}, undefined, spent[0]!.assertion);
    assert.equal(replayedAssertion.status, 401, JSON.stringify(replayedAssertion.body));
    assert.equal(replayedAssertion.body.error, 'invalid_client');

    // The call path: the risk state's scripts run on the slot of the client's hash tag.
    for (let i = 0; i < 10; i++) {
      const proof = await w.proof('GET', `${API}/orders/1`, { accessToken: token });
      const res = await check(proof);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(typeof res.body.risk_score, 'number');
      spentChecks.push(proof);
    }
    assert.match((await check(spentChecks[0]!)).headers['www-authenticate'], /error="invalid_dpop_proof"/);
    const riskKeys = cluster.cli(FIRST_PORT, '-c', 'keys', `tollgate:risk:{${w.clientId}}:*`);
    const slots = new Set(riskKeys.trim().split('\n').map((k) => cluster.cli(FIRST_PORT, 'cluster', 'keyslot', k).trim()));
    assert.equal(slots.size, 1, `one slot for the client's risk keys: ${riskKeys}`);

    const challenge = (await w.requestChallenge('urn:tollgate:acr:live')).body;
    assert.equal((await w.answerChallenge(challenge)).status, 200);
    assert.equal((await w.answerChallenge(challenge)).body.error, 'invalid_grant');
  });

  it('a replay record only the master holds is not acknowledged: 503, never accepted unreplicated', async () => {
    const shard = cluster.topology().find((n) => n.role === 'replica')!;
    const replica = cluster.nodes.find((n) => n.port === shard.port)!;
    replica.child.kill('SIGSTOP'); // its master keeps the link but gets no acknowledgement
    const statuses: number[] = [];
    try {
      for (let i = 0; i < 6; i++) {
        const res = await issue();
        statuses.push(res.status);
        if (res.status !== 200) {
          assert.equal(res.status, 503, JSON.stringify(res.body));
          assert.equal(res.body.error, 'temporarily_unavailable');
        }
      }
    } finally {
      replica.child.kill('SIGCONT');
    }
    // Each request claims two random slots; one in three lives on the stopped replica's master.
    assert.ok(statuses.includes(503), `some claim should have needed the stopped replica: ${statuses.join(',')}`);
  });

  it('measures a replay claim: one Redis, and a cluster whose every shard has a replica (WAIT)', async (t) => {
    const port = FIRST_PORT + 9;
    const single = await startRedisServer(port, ['--dir', tmpdir()]);
    try {
      t.diagnostic(`one Redis (no WAIT): ${await measureClaims(`redis://127.0.0.1:${port}`)}`);
    } finally {
      await stopProcess(single, 'SIGKILL');
    }
    t.diagnostic(`cluster, every shard with a replica (claims WAIT 1): ${await measureClaims(cluster.url)}`);
  });

  it('a master killed mid-run: its replica takes over, no replay record is lost, new requests work', async (t) => {
    await waitFor(async () => (await issue()).status === 200, 'token requests did not recover after SIGCONT', 50, 100);
    const masters = cluster.topology().filter((n) => n.role === 'master');
    const victim = masters[0]!;
    const heir = cluster.topology().find((n) => n.masterPort === victim.port)!;
    // Requests in flight right up to the kill; every one answered 200 is acknowledged.
    const inFlight = Array.from({ length: 8 }, () => issue());
    const results = await Promise.all(inFlight);
    assert.ok(results.every((r) => r.status === 200), results.map((r) => r.status).join(','));
    const before = cluster.replayKeys();
    const victimKeys = cluster.cli(victim.port, '--scan', '--pattern', 'tollgate:replay:*').trim().split('\n').filter(Boolean);
    assert.ok(victimKeys.length > 0, 'the killed master held replay records');
    const killedAt = Date.now();
    await stopProcess(cluster.nodes.find((n) => n.port === victim.port)!.child, 'SIGKILL');

    // During the failover requests on the lost shard fail closed (503), others go on; none is a 500.
    const during: number[] = [];
    const unexpected: string[] = [];
    await waitFor(async () => {
      const res = await issue();
      during.push(res.status);
      if (![200, 503].includes(res.status)) unexpected.push(JSON.stringify(res.body));
      return cluster.cli(heir.port, 'role').startsWith('master');
    }, 'the replica was not promoted', 200, 50);
    assert.deepEqual(unexpected, [], errorLines().join('\n'));
    t.diagnostic(`during the failover: ${during.filter((s) => s === 200).length} token requests answered 200, ${during.filter((s) => s === 503).length} answered 503`);
    const promotedMs = Date.now() - killedAt;
    await waitFor(async () => (await issue()).status === 200 && (await issue()).status === 200 && (await issue()).status === 200, 'Tollgate did not reach the promoted replica', 100, 100);
    const servingMs = Date.now() - killedAt;
    t.diagnostic(`failover: replica promoted ${promotedMs} ms after the kill; token requests on every shard ${servingMs} ms after`);

    const after = cluster.replayKeys();
    const lost = [...before].filter((k) => !after.has(k));
    assert.deepEqual(lost, [], 'every replay record acknowledged before the kill is on a live master');
    for (const key of victimKeys) assert.ok(after.has(key));

    // On the wire: every proof and assertion accepted before is still refused, as a replay.
    for (const { proof, assertion } of spent.slice(0, -3)) {
      const p = await answered(() => w.requestToken({}, proof));
      assert.equal(p.status, 400, JSON.stringify(p.body));
      assert.equal(p.body.error, 'invalid_dpop_proof');
      assert.doesNotMatch(String(p.body.error_description), /predates/);
      const a = await answered(() => w.requestToken({}, undefined, assertion));
      assert.equal(a.status, 401, JSON.stringify(a.body));
      assert.equal(a.body.error, 'invalid_client');
    }
    for (const proof of spentChecks) assert.match((await answered(() => check(proof))).headers['www-authenticate'], /error="invalid_dpop_proof"/);

    // And new requests work on every path. A new workload: the replays above were the old one's
    // authenticated failures, which its risk judge (failed_auth_burst) now answers with step-up.
    w = await Workload.register(server, { allowed_resources: [`${API}/`] });
    const fresh = await answered(issue);
    assert.equal(fresh.status, 200, JSON.stringify(fresh.body));
    token = fresh.body.access_token;
    const res = await answered(async () => check(await w.proof('GET', `${API}/orders/2`, { accessToken: token }), `${API}/orders/2`));
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const stepped = await answered(async () => {
      const challenge = await w.requestChallenge('urn:tollgate:acr:live');
      return challenge.status === 503 ? challenge : w.answerChallenge(challenge.body);
    });
    assert.equal(stepped.status, 200, JSON.stringify(stepped.body));
  });

  it('measures a replay claim after the failover (the promoted shard has no replica left: no WAIT there)', async (t) => {
    t.diagnostic(`cluster after the failover: ${await measureClaims(cluster.url)}`);
  });

  // A replay whose records were on the restarted master: before the memory markers, about one run
  // in three accepted it (the guard had not read that master again before the claim).
  it('a master restarted empty before its replica takes over: proofs made before are refused (memory markers)', async (t) => {
    // Proofs whose replay records sit on one master that has a replica (the promoted one has
    // none left): the test kills that master, so that each of them is a replay only the records
    // it lost could have told. Fewer than failed_auth_burst (5) per workload: each replayed proof
    // is a failure of the client that sent it, and a fifth would put it into step-up instead.
    const withReplica = () => cluster.topology().filter((n) => n.role === 'master' && !n.failed && cluster.topology().some((r) => r.masterPort === n.port && !r.failed));
    // oidc-provider's ReplayDetection id for a proof at the token endpoint: SHA-256 of client id
    // and jti (lib/models/replay_detection.js), under our `oidc:` prefix (libs/oauth/provider-adapter.ts).
    const holder = (proof: string, clientId: string) => {
      const jti = String(JSON.parse(Buffer.from(proof.split('.')[1]!, 'base64url').toString()).jti);
      const id = createHash('sha256').update(`${clientId}${jti}`).digest('base64url');
      return withReplica().find((n) => cluster.cli(n.port, 'keys', `tollgate:replay:*:oidc:${id}`).trim() !== '');
    };
    let before: (Spent & { w: Workload })[] = [];
    let master: ReturnType<typeof withReplica>[number] | undefined;
    for (let round = 0; round < 10 && before.length < 2; round++) {
      w = await Workload.register(server, { allowed_resources: [`${API}/`] });
      const sent: (Spent & { w: Workload })[] = [];
      for (let i = 0; i < 4; i++) {
        let one!: Spent & { w: Workload };
        const res = await answered(async () => {
          one = { proof: await w.proof('POST', w.tokenUrl), assertion: await w.assertion(), w };
          return w.requestToken({}, one.proof, one.assertion);
        });
        assert.equal(res.status, 200, JSON.stringify(res.body));
        sent.push(one);
      }
      master ??= holder(sent[0]!.proof, w.clientId);
      before = before.concat(sent.filter((one) => master && holder(one.proof, one.w.clientId)?.port === master.port));
    }
    assert.ok(master && before.length >= 2, 'no proofs with their records on one master that has a replica');
    const lost = before.length;
    assert.ok(cluster.cli(master.port, 'dbsize').trim() !== '0');
    await stopProcess(cluster.nodes.find((n) => n.port === master.port)!.child, 'SIGKILL');
    await cluster.restart(master.port);
    await waitFor(async () => cluster.cli(master.port, 'role').startsWith('master') && cluster.cli(master.port, 'cluster', 'info').includes('cluster_state:ok'), 'the restarted master did not serve its slots', 100, 100);
    assert.equal(cluster.cli(master.port, 'dbsize').trim(), '0', 'it came back empty');

    // At once, before any new request: nothing but the claim itself may have told Tollgate that
    // master forgot. Refused one way or another (503 from the claim that finds its markers gone,
    // or, once the masters were read again, as older than the store), never accepted.
    const atOnce = await before[0]!.w.requestToken({}, before[0]!.proof);
    assert.ok([400, 401, 503].includes(atOnce.status), JSON.stringify(atOnce.body));
    // In the second the loss was noticed even new credentials are refused as older than the store
    // (iat has whole seconds); the replays below are sent after it, beside new credentials.
    await sleep(1100);
    let predates = 0;
    const descriptions: string[] = [];
    for (const { proof, assertion, w } of before) {
      const p = await answered(() => w.requestToken({}, proof));
      assert.equal(p.status, 400, JSON.stringify(p.body));
      assert.equal(p.body.error, 'invalid_dpop_proof');
      if (/predates/.test(String(p.body.error_description))) predates++;
      descriptions.push(String(p.body.error_description));
      const a = await answered(() => w.requestToken({}, undefined, assertion));
      assert.equal(a.status, 401, JSON.stringify(a.body));
    }
    // The master forgot these records: no refusal can be "already used" for the proofs; each is
    // refused as older than the store (after one 503 while the masters are read again).
    assert.equal(predates, lost, descriptions.join(' / '));
    await sleep(1100); // new proofs carry an iat after the restart
    await waitFor(async () => (await w.requestToken()).status === 200, 'Tollgate did not reach the restarted master', 100, 100);
    t.diagnostic(`${lost} proofs whose records the master lost: ${predates} refused as older than the store, the others: ${descriptions.join(' / ')}`);
  });
});
