import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { openHotState, type HotState } from './hot-state.js';

/** The same contract for the in-process store and for Redis (when REDIS_URL is set). */
for (const kind of ['memory', 'redis'] as const) {
  const url = kind === 'redis' ? process.env.REDIS_URL : undefined;
  describe(`challenge store (${kind})`, { skip: kind === 'redis' && !url && 'REDIS_URL is not set' }, () => {
    let hot: HotState;
    const key = () => `test:${Math.random().toString(36).slice(2)}`;
    after(() => hot?.close());

    it('returns what was put, and take() hands it out exactly once', async () => {
      hot ??= await openHotState(url);
      const k = key();
      await hot.challenges.put(k, 'v1', 30);
      assert.equal(await hot.challenges.get(k), 'v1');
      const takes = await Promise.all([hot.challenges.take(k), hot.challenges.take(k), hot.challenges.take(k)]);
      assert.deepEqual(takes.filter((t) => t !== null), ['v1']);
      assert.equal(await hot.challenges.get(k), null);
    });

    it('counts within a window that starts at the first count, and starts again after it', async () => {
      hot ??= await openHotState(url);
      const k = key();
      assert.deepEqual([await hot.challenges.count(k, 1), await hot.challenges.count(k, 1), await hot.challenges.count(k, 1)], [1, 2, 3]);
      await sleep(1100);
      assert.equal(await hot.challenges.count(k, 1), 1);
    });

    it('forgets a record when its lifetime ends', async () => {
      hot ??= await openHotState(url);
      const k = key();
      await hot.challenges.put(k, 'v', 1);
      await sleep(1100);
      assert.equal(await hot.challenges.get(k), null);
      assert.equal(await hot.challenges.take(k), null);
    });
  });
}
