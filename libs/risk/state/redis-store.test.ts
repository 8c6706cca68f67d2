import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import type { RiskContext } from '../core/types.js';
import { openRiskStateStore, type RiskStateStore } from './store.js';
import { storeContract } from './store-contract.js';

// Against a real Redis: REDIS_URL=redis://127.0.0.1:6379 node scripts/test.mjs risk/state
const url = process.env.REDIS_URL;

if (url) {
  storeContract('redis', () => openRiskStateStore(url));

  describe('RedisRiskStateStore across instances', () => {
    let a: RiskStateStore;
    let b: RiskStateStore;
    let raw: Redis;
    const clientId = `risk-test-${randomBytes(4).toString('hex')}`;
    const ctx = (over: Partial<RiskContext> = {}): RiskContext => ({
      kind: 'call',
      now: Date.now(),
      clientId,
      ip: '10.1.2.3',
      method: 'GET',
      path: '/x',
      scopes: ['s'],
      audience: 'https://api.example.com',
      dpopJkt: 'jkt',
      token: { jti: 'j1', iat: Math.floor(Date.now() / 1000) },
      ...over,
    });

    before(async () => {
      [a, b] = await Promise.all([openRiskStateStore(url), openRiskStateStore(url)]);
      raw = new Redis(url);
    });
    after(async () => {
      await Promise.all([a?.close(), b?.close()]);
      raw?.disconnect();
    });

    it('is the Redis store', () => {
      assert.equal(a.kind, 'redis');
    });

    it('two instances share the rate count, learned state, token networks and failures', async () => {
      const now = Math.floor(Date.now() / 60_000) * 60_000 + 1000;
      await a.observe(ctx({ now }));
      await b.observe(ctx({ now }));
      assert.equal((await a.observe(ctx({ now }))).callsThisMinute, 3);
      await a.learn(ctx({ now }));
      const s = await b.observe(ctx({ now, ip: '192.0.2.1' }));
      assert.deepEqual([s.callsThisMinute, s.routeSeen, s.tokenNetworks], [4, true, 2]);
      await a.recordFailure(clientId, now);
      await b.recordFailure(clientId, now);
      assert.equal((await a.observe(ctx({ now }))).recentFailures, 2);
    });

    it('gives every key it writes the tollgate:risk: prefix and a TTL', async () => {
      const keys = await raw.keys(`tollgate:risk:{${clientId}}:*`);
      // rate, fail, tok, state, and the five learned sets
      assert.equal(keys.length, 9, keys.join(' '));
      for (const key of keys) assert.ok((await raw.pttl(key)) > 0, key);
    });
  });
} else {
  describe('RedisRiskStateStore', () => {
    it('skipped: set REDIS_URL to run against a real Redis', { skip: true }, () => undefined);
  });
}
