import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { FetchedKeySets, KeySetUnavailable } from './fetched-key-sets.js';

type Set = { keys: { kid?: string }[] };

/** A far end that answers with `set` (or fails while `down`), counting the fetches. */
function farEnd(initial: Set) {
  const end = {
    set: initial,
    down: false,
    fetches: 0,
    fetch: async (): Promise<Set> => {
      end.fetches++;
      if (end.down) throw new Error('unreachable');
      return end.set;
    },
  };
  return end;
}

const A = { keys: [{ kid: 'a' }] };
const B = { keys: [{ kid: 'b' }] };

describe('FetchedKeySets', () => {
  it('fetches once, then serves the cached set until it is due', async () => {
    const cache = new FetchedKeySets<Set>({ freshMs: 60_000, retryMs: 1000, kidCooldownMs: 10_000, keepGoodMs: 0 });
    const end = farEnd(A);
    assert.deepEqual(await cache.get('k', end.fetch), A);
    assert.deepEqual(await cache.get('k', end.fetch), A);
    assert.equal(end.fetches, 1);
  });

  it('refetches after freshMs', async () => {
    const cache = new FetchedKeySets<Set>({ freshMs: 50, retryMs: 1000, kidCooldownMs: 10_000, keepGoodMs: 0 });
    const end = farEnd(A);
    await cache.get('k', end.fetch);
    end.set = B;
    await sleep(70);
    assert.deepEqual(await cache.get('k', end.fetch), B);
    assert.equal(end.fetches, 2);
  });

  it('an unknown kid refetches, but at most once per cooldown', async () => {
    const cache = new FetchedKeySets<Set>({ freshMs: 60_000, retryMs: 1000, kidCooldownMs: 80, keepGoodMs: 0 });
    const end = farEnd(A);
    await cache.get('k', end.fetch);
    end.set = B;
    // Within the cooldown: the cached set, without a fetch.
    assert.deepEqual(await cache.get('k', end.fetch, { kid: 'b' }), A);
    assert.equal(end.fetches, 1);
    await sleep(100);
    assert.deepEqual(await cache.get('k', end.fetch, { kid: 'b' }), B);
    assert.equal(end.fetches, 2);
    // A kid the set has never refetches.
    assert.deepEqual(await cache.get('k', end.fetch, { kid: 'b' }), B);
    assert.equal(end.fetches, 2);
  });

  it('concurrent callers share one fetch', async () => {
    const cache = new FetchedKeySets<Set>({ freshMs: 60_000, retryMs: 1000, kidCooldownMs: 10_000, keepGoodMs: 0 });
    const end = farEnd(A);
    const results = await Promise.all(Array.from({ length: 20 }, () => cache.get('k', end.fetch)));
    assert.ok(results.every((r) => r === A));
    assert.equal(end.fetches, 1);
  });

  it('with keepGoodMs 0, a failed refresh replaces the set with the refusal, retried after retryMs', async () => {
    const cache = new FetchedKeySets<Set>({ freshMs: 30, retryMs: 60, kidCooldownMs: 10_000, keepGoodMs: 0 });
    const end = farEnd(A);
    await cache.get('k', end.fetch);
    end.down = true;
    await sleep(40);
    await assert.rejects(cache.get('k', end.fetch), (e: unknown) => e instanceof KeySetUnavailable && e.cause.message === 'unreachable' && e.retryAt > Date.now());
    await assert.rejects(cache.get('k', end.fetch), KeySetUnavailable);
    assert.equal(end.fetches, 2, 'the refusal is cached for retryMs');
    end.down = false;
    await sleep(70);
    assert.deepEqual(await cache.get('k', end.fetch), A);
  });

  it('with keepGoodMs, the last good set keeps working through failed refreshes, then no longer', async () => {
    const cache = new FetchedKeySets<Set>({ freshMs: 20, retryMs: 20, kidCooldownMs: 10_000, keepGoodMs: 150 });
    const end = farEnd(A);
    await cache.get('k', end.fetch);
    end.down = true;
    await sleep(40);
    assert.deepEqual(await cache.get('k', end.fetch), A);
    assert.equal(end.fetches, 2);
    await sleep(150);
    await assert.rejects(cache.get('k', end.fetch), KeySetUnavailable);
  });

  it('with nothing fetched yet and the far end down, refuses at once', async () => {
    const cache = new FetchedKeySets<Set>({ freshMs: 60_000, retryMs: 5000, kidCooldownMs: 10_000, keepGoodMs: 600_000 });
    const end = farEnd(A);
    end.down = true;
    await assert.rejects(cache.get('k', end.fetch), (e: unknown) => e instanceof KeySetUnavailable && e.retryAt - Date.now() > 4000);
  });

  it('keeps at most max sets, dropping the oldest; forget drops one or all', async () => {
    const cache = new FetchedKeySets<Set>({ freshMs: 60_000, retryMs: 1000, kidCooldownMs: 10_000, keepGoodMs: 0 }, 2);
    const end = farEnd(A);
    await cache.get('one', end.fetch);
    await cache.get('two', end.fetch);
    await cache.get('three', end.fetch);
    await cache.get('one', end.fetch);
    assert.equal(end.fetches, 4);
    cache.forget('one');
    await cache.get('one', end.fetch);
    assert.equal(end.fetches, 5);
    cache.forget();
    await cache.get('three', end.fetch);
    assert.equal(end.fetches, 6);
  });
});
