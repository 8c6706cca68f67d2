import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { RiskContext } from '../core/types.js';
import { factsOf, RISK_STATE_LIMITS, type RiskStateStore } from './store.js';

/**
 * The behaviour every RiskStateStore must have, run against the memory store and (with
 * REDIS_URL) the Redis store. Each test uses its own random client id.
 */
export function storeContract(name: string, open: () => Promise<RiskStateStore>): void {
  describe(`${name}: RiskStateStore contract`, () => {
    let store: RiskStateStore;
    const run = randomBytes(4).toString('hex');
    let n = 0;
    const client = () => `risk-test-${run}-${++n}`;
    // The start of a minute, so that "+ 59 s" stays in it.
    const T0 = Math.floor(Date.now() / 60_000) * 60_000;

    before(async () => {
      store = await open();
    });
    after(async () => {
      await store?.close();
    });

    const call = (clientId: string, over: Partial<RiskContext> = {}): RiskContext => ({
      kind: 'call',
      now: T0,
      clientId,
      ip: '10.1.2.3',
      method: 'GET',
      path: '/orders/1',
      audience: 'https://api.example.com',
      scopes: ['orders:read'],
      dpopJkt: 'jkt-1',
      federated: { issuer: 'https://token.actions.githubusercontent.com', subject: 'repo:octo-org/app:environment:prod', claims: {} },
      token: { jti: 'tok-1', iat: T0 / 1000 },
      ...over,
    });

    it('counts every observed call in the current minute, per kind', async () => {
      const c = client();
      assert.equal((await store.observe(call(c))).callsThisMinute, 1);
      assert.equal((await store.observe(call(c, { now: T0 + 59_000 }))).callsThisMinute, 2);
      assert.equal((await store.observe({ ...call(c), kind: 'issuance', token: undefined })).callsThisMinute, 1);
      assert.equal((await store.observe(call(c, { now: T0 + 60_000 }))).callsThisMinute, 1);
    });

    it('learned() shows what was learned, newest first, and nothing for a stranger or from observe alone', async () => {
      const c = client();
      const empty = await store.learned(c, T0);
      assert.deepEqual(empty, {
        learnedCalls: 0,
        learning: true,
        baseline: { call: { perMinute: 0, minutes: 0 }, issuance: { perMinute: 0, minutes: 0 } },
        routes: [],
        networks: [],
        keys: [],
        scopeSets: [],
        audiences: [],
        recentFailures: 0,
      });
      await store.observe(call(c));
      assert.equal((await store.learned(c, T0)).learnedCalls, 0);
      await store.learn(call(c));
      await store.learn(call(c, { now: T0 + 1000, ip: '10.9.9.9', dpopJkt: 'jkt-2' }));
      await store.learn(call(c, { now: T0 + 60_000 }));
      await store.recordFailure(c, T0 + 60_000);
      const first = factsOf(call(c));
      const second = factsOf(call(c, { ip: '10.9.9.9', dpopJkt: 'jkt-2' }));
      const l = await store.learned(c, T0 + 60_000);
      assert.equal(l.learnedCalls, 3);
      assert.equal(l.learning, true);
      assert.deepEqual(l.routes, [{ value: first.route, lastSeen: T0 + 60_000 }]);
      assert.deepEqual(l.networks.map((m) => m.value), [first.network, second.network]);
      assert.deepEqual(l.keys, [{ value: 'jkt-1', lastSeen: T0 + 60_000 }, { value: 'jkt-2', lastSeen: T0 + 1000 }]);
      assert.deepEqual(l.scopeSets.map((m) => m.value), [first.scopes]);
      assert.deepEqual(l.audiences.map((m) => m.value), ['https://api.example.com']);
      assert.deepEqual(l.baseline.call, { perMinute: 2, minutes: 1 });
      assert.deepEqual(l.baseline.issuance, { perMinute: 0, minutes: 0 });
      assert.equal(l.recentFailures, 1);
    });

    it('a new client is learning and has seen nothing', async () => {
      const s = await store.observe(call(client()));
      assert.deepEqual(s, {
        callsThisMinute: 1,
        baselinePerMinute: 0,
        baselineMinutes: 0,
        routeSeen: false,
        networkSeen: false,
        keySeen: false,
        scopesSeen: false,
        audienceSeen: false,
        subjectSeen: false,
        tokenNetworks: 1,
        recentFailures: 0,
        learning: true,
      });
    });

    it('observe alone teaches nothing; learn remembers route, network, key, scopes, audience and federated subject', async () => {
      const c = client();
      await store.observe(call(c));
      assert.equal((await store.observe(call(c))).networkSeen, false);
      await store.learn(call(c));
      const s = await store.observe(call(c));
      assert.deepEqual([s.routeSeen, s.networkSeen, s.keySeen, s.scopesSeen, s.audienceSeen, s.subjectSeen], [true, true, true, true, true, true]);
      const federated = { issuer: 'https://token.actions.githubusercontent.com', subject: 'repo:octo-org/app:environment:dev', claims: {} };
      const other = await store.observe(call(c, { ip: '10.9.9.9', dpopJkt: 'jkt-2', scopes: ['x'], audience: 'https://b', path: '/other', federated }));
      assert.deepEqual([other.routeSeen, other.networkSeen, other.keySeen, other.scopesSeen, other.audienceSeen, other.subjectSeen], [false, false, false, false, false, false]);
      // The same subject from another issuer is another identity.
      const otherIssuer = await store.observe(call(c, { federated: { issuer: 'https://gitlab.example.com', subject: 'repo:octo-org/app:environment:prod', claims: {} } }));
      assert.equal(otherIssuer.subjectSeen, false);
    });

    it('knows a route by method and generic path, a network by its /24, a scope set in any order', async () => {
      const c = client();
      await store.learn(call(c, { scopes: ['b', 'a'] }));
      const s = await store.observe(call(c, { path: '/orders/2', ip: '10.1.2.200', scopes: ['a', 'b', 'a'] }));
      assert.deepEqual([s.routeSeen, s.networkSeen, s.scopesSeen], [true, true, true]);
      assert.equal((await store.observe(call(c, { method: 'POST' }))).routeSeen, false);
      assert.equal((await store.observe(call(c, { ip: '10.1.3.1' }))).networkSeen, false);
    });

    it('what the context lacks counts as seen (nothing to compare)', async () => {
      const s = await store.observe({ kind: 'issuance', now: T0, clientId: client(), scopes: [] });
      assert.deepEqual([s.routeSeen, s.networkSeen, s.keySeen, s.scopesSeen, s.audienceSeen, s.subjectSeen, s.tokenNetworks], [true, true, true, true, true, true, 0]);
    });

    it(`is learning until ${RISK_STATE_LIMITS.learningCalls} calls were learned`, async () => {
      const c = client();
      for (let i = 0; i < RISK_STATE_LIMITS.learningCalls - 1; i++) await store.learn(call(c));
      assert.equal((await store.observe(call(c))).learning, true);
      await store.learn(call(c));
      assert.equal((await store.observe(call(c))).learning, false);
    });

    it('counts every lesson of allows that finish together (the Redis store learns them in one call)', async () => {
      const c = client();
      await Promise.all(Array.from({ length: RISK_STATE_LIMITS.learningCalls - 1 }, (_, i) => store.learn(call(c, { now: T0 + i }))));
      assert.equal((await store.observe(call(c))).learning, true);
      await Promise.all([store.learn(call(c, { now: T0 + 100 })), store.learn(call(c, { now: T0 + 101, dpopJkt: 'jkt-2' }))]);
      const s = await store.observe(call(c, { now: T0 + 60_000, dpopJkt: 'jkt-2' }));
      assert.equal(s.learning, false);
      assert.deepEqual([s.baselinePerMinute, s.baselineMinutes, s.keySeen], [RISK_STATE_LIMITS.learningCalls + 1, 1, true]);
    });

    it('counts the networks a token came from, per token, this call included', async () => {
      const c = client();
      assert.equal((await store.observe(call(c))).tokenNetworks, 1);
      assert.equal((await store.observe(call(c, { ip: '10.1.2.99' }))).tokenNetworks, 1);
      assert.equal((await store.observe(call(c, { ip: '192.0.2.1' }))).tokenNetworks, 2);
      assert.equal((await store.observe(call(c, { ip: undefined }))).tokenNetworks, 2);
      assert.equal((await store.observe(call(c, { ip: '192.0.2.1', token: { jti: 'tok-2', iat: T0 / 1000 } }))).tokenNetworks, 1);
    });

    it('caps the networks remembered per token', async () => {
      const c = client();
      let last = 0;
      for (let i = 0; i < RISK_STATE_LIMITS.networksPerToken + 3; i++) last = (await store.observe(call(c, { ip: `10.0.${i}.1` }))).tokenNetworks;
      assert.equal(last, RISK_STATE_LIMITS.networksPerToken);
    });

    it("forgets a token's networks when the token expires", async () => {
      const c = client();
      const token = { jti: 'short', iat: T0 / 1000, exp: T0 / 1000 + 1 };
      await store.observe(call(c, { token }));
      assert.equal((await store.observe(call(c, { token, ip: '192.0.2.1' }))).tokenNetworks, 2);
      await new Promise((resolve) => setTimeout(resolve, 1100)); // Redis expires by its clock
      assert.equal((await store.observe(call(c, { token, ip: '198.51.100.1', now: T0 + 1100 }))).tokenNetworks, 1);
    });

    it('counts failures over the last 5 minutes', async () => {
      const c = client();
      for (let i = 0; i < 3; i++) await store.recordFailure(c, T0 - 4 * 60_000);
      await store.recordFailure(c, T0 - 5 * 60_000); // out of the window
      await store.recordFailure(c, T0);
      await store.recordFailure(c, T0 + 1000);
      assert.equal((await store.observe(call(c, { now: T0 + 2000 }))).recentFailures, 5);
      assert.equal((await store.observe(call(c, { now: T0 + 60_000 }))).recentFailures, 2);
    });

    it('learns the per-minute moving average from completed minutes (EWMA, alpha 0.2)', async () => {
      const c = client();
      for (let i = 0; i < 10; i++) await store.learn(call(c, { now: T0 + i }));
      let s = await store.observe(call(c, { now: T0 + 30_000 }));
      assert.deepEqual([s.baselinePerMinute, s.baselineMinutes], [0, 0]); // the minute is not over
      s = await store.observe(call(c, { now: T0 + 60_000 }));
      assert.deepEqual([s.baselinePerMinute, s.baselineMinutes], [10, 1]);
      for (let i = 0; i < 20; i++) await store.learn(call(c, { now: T0 + 60_000 + i }));
      s = await store.observe(call(c, { now: T0 + 5 * 60_000 }));
      assert.equal(s.baselineMinutes, 2);
      assert.ok(Math.abs(s.baselinePerMinute - 12) < 1e-9, String(s.baselinePerMinute)); // 0.2·20 + 0.8·10
      await store.learn(call(c, { now: T0 + 5 * 60_000 }));
      s = await store.observe(call(c, { now: T0 + 6 * 60_000 }));
      assert.equal(s.baselineMinutes, 3);
      assert.ok(Math.abs(s.baselinePerMinute - (0.2 * 1 + 0.8 * 12)) < 1e-9, String(s.baselinePerMinute));
    });

    it('keeps the baselines of calls and issuances apart', async () => {
      const c = client();
      for (let i = 0; i < 5; i++) await store.learn(call(c));
      const s = await store.observe({ ...call(c, { now: T0 + 60_000 }), kind: 'issuance', token: undefined });
      assert.equal(s.baselineMinutes, 0);
    });

    it('forgets what it has not seen for 30 days', async () => {
      const c = client();
      await store.learn(call(c));
      const day = 24 * 3600_000;
      assert.equal((await store.observe(call(c, { now: T0 + 29 * day }))).networkSeen, true);
      assert.equal((await store.observe(call(c, { now: T0 + 31 * day }))).networkSeen, false);
    });

    it('caps each learned set, dropping the least recently seen', async () => {
      const c = client();
      const cap = RISK_STATE_LIMITS.keys;
      for (let i = 0; i <= cap; i++) await store.learn(call(c, { dpopJkt: `k${i}`, now: T0 + i }));
      assert.equal((await store.observe(call(c, { dpopJkt: 'k0' }))).keySeen, false);
      assert.equal((await store.observe(call(c, { dpopJkt: 'k1' }))).keySeen, true);
      assert.equal((await store.observe(call(c, { dpopJkt: `k${cap}` }))).keySeen, true);
      await store.learn(call(c, { dpopJkt: 'k1', now: T0 + cap + 1 })); // k1 is now the most recent
      await store.learn(call(c, { dpopJkt: 'new', now: T0 + cap + 2 }));
      assert.equal((await store.observe(call(c, { dpopJkt: 'k1' }))).keySeen, true);
      assert.equal((await store.observe(call(c, { dpopJkt: 'k2' }))).keySeen, false);
    });

    it('keeps clients apart', async () => {
      const a = client();
      const b = client();
      await store.learn(call(a));
      await store.observe(call(a));
      const s = await store.observe(call(b));
      assert.deepEqual([s.callsThisMinute, s.networkSeen], [1, false]);
    });
  });
}
