import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { JsonLogger } from '#operations';
import { type RunningTollgate, startTollgate, Workload } from '#test-support';
import { haveRedisServer, stopProcess, waitFor } from './support/processes.js';
import { startSentinelGroup, type SentinelGroupUnderTest } from './support/redis-sentinel.js';

/** This suite's ports (7131–7135): master, replica, three sentinels. */
const FIRST_PORT = 7131;

/**
 * Issue 10 §4: Tollgate on a Sentinel group (REDIS_URL=redis+sentinel://…/name). Replay claims
 * wait for the replica; the master killed mid-run is replaced and no accepted proof or assertion
 * is accepted again.
 */
describe('Redis Sentinel: replay protection survives a failover (issue 10 §4)', { skip: !haveRedisServer() && 'needs redis-server (Debian package redis-server)' }, () => {
  let group: SentinelGroupUnderTest;
  let server: RunningTollgate;
  let w: Workload;
  const spent: { proof: string; assertion: string }[] = [];
  const lines: string[] = [];

  before(async () => {
    group = await startSentinelGroup(FIRST_PORT);
    server = await startTollgate({ REDIS_URL: group.url }, { logger: new JsonLogger('warn', { write: (line) => lines.push(line) }) });
    w = await Workload.register(server);
  });
  after(async () => {
    await server?.close();
    await group?.close();
  });

  const issue = async () => {
    const proof = await w.proof('POST', w.tokenUrl);
    const assertion = await w.assertion();
    const res = await w.requestToken({}, proof, assertion);
    if (res.status === 200) spent.push({ proof, assertion });
    return res;
  };
  const replayKeys = (port: number) => new Set(group.cli(port, '--scan', '--pattern', 'tollgate:replay:*').split('\n').filter(Boolean));

  it('issues tokens and refuses replays through the master the sentinels name', async () => {
    for (let i = 0; i < 10; i++) assert.equal((await issue()).status, 200);
    const replayed = await w.requestToken({}, spent[0]!.proof);
    assert.equal(replayed.status, 400);
    assert.equal(replayed.body.error, 'invalid_dpop_proof');
    assert.ok(replayKeys(group.masterPort).size >= 20);
  });

  it('a claim the replica does not acknowledge is not accepted (503)', async () => {
    // The master reads its replica count every 2 s: it has one since the start.
    group.replica.kill('SIGSTOP');
    try {
      const res = await issue();
      assert.equal(res.status, 503, JSON.stringify(res.body));
      assert.equal(res.body.error, 'temporarily_unavailable');
    } finally {
      group.replica.kill('SIGCONT');
    }
  });

  it('the master killed mid-run: the sentinels promote the replica, nothing accepted is accepted again', async (t) => {
    await waitFor(async () => (await issue()).status === 200, 'token requests did not recover after SIGCONT', 50, 100);
    const results = await Promise.all(Array.from({ length: 6 }, () => issue()));
    assert.ok(results.every((r) => r.status === 200), results.map((r) => r.status).join(','));
    const before = replayKeys(group.masterPort);
    const killedAt = Date.now();
    await stopProcess(group.master, 'SIGKILL');

    const unexpected: string[] = [];
    await waitFor(async () => {
      const res = await issue();
      if (![200, 503].includes(res.status)) unexpected.push(JSON.stringify(res.body));
      return res.status === 200;
    }, 'Tollgate did not reach the promoted replica', 200, 100);
    assert.deepEqual(unexpected, [], lines.join('\n'));
    t.diagnostic(`sentinel failover: token requests answered again ${Date.now() - killedAt} ms after the kill`);
    assert.match(group.cli(group.replicaPort, 'role'), /^master/);

    const lost = [...before].filter((k) => !replayKeys(group.replicaPort).has(k));
    assert.deepEqual(lost, [], 'every acknowledged replay record is on the promoted replica');
    for (const { proof, assertion } of spent.slice(0, -1)) {
      const p = await w.requestToken({}, proof);
      assert.equal(p.status, 400, JSON.stringify(p.body));
      assert.equal(p.body.error, 'invalid_dpop_proof');
      const a = await w.requestToken({}, undefined, assertion);
      assert.equal(a.status, 401, JSON.stringify(a.body));
      assert.equal(a.body.error, 'invalid_client');
    }
    // A new workload (the old one's replays count as its authenticated failures: step-up).
    w = await Workload.register(server);
    assert.equal((await issue()).status, 200);
  });
});
