import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RiskContext } from '../core/types.js';
import { MemoryRiskStateStore } from './memory-store.js';
import { openRiskStateStore } from './store.js';
import { storeContract } from './store-contract.js';

storeContract('memory', async () => new MemoryRiskStateStore());

describe('MemoryRiskStateStore bounds', () => {
  const ctx = (clientId: string, now = 1_800_000_000_000): RiskContext => ({ kind: 'call', now, clientId, ip: '10.0.0.1', scopes: [] });

  it('holds at most maxClients, dropping the least recently seen', async () => {
    const store = new MemoryRiskStateStore(2);
    await store.learn(ctx('a'));
    await store.learn(ctx('b'));
    await store.observe(ctx('a')); // b is now the least recently seen
    await store.learn(ctx('c'));
    assert.equal(store.size, 2);
    assert.equal((await store.observe(ctx('a'))).networkSeen, true);
    assert.equal((await store.observe(ctx('b'))).networkSeen, false);
  });

  it('starts a client over after 30 days idle', async () => {
    const store = new MemoryRiskStateStore();
    for (let i = 0; i < 25; i++) await store.learn(ctx('a'));
    assert.equal((await store.observe(ctx('a'))).learning, false);
    assert.equal((await store.observe(ctx('a', 1_800_000_000_000 + 31 * 24 * 3600_000))).learning, true);
  });

  it('openRiskStateStore without a URL is the memory store', async () => {
    const store = await openRiskStateStore();
    assert.equal(store.kind, 'memory');
    await store.close();
  });
});
