import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { openHotState } from '#hot-state';
import { callerAddress, FailureBudget, sourceOf } from './failure-budget.js';

describe('failure budgets (docs/risk.md)', () => {
  it('a source is an IPv4 address or an IPv6 /64; an IPv4-mapped address is its IPv4 address', () => {
    assert.equal(sourceOf('203.0.113.7'), '203.0.113.7');
    assert.equal(sourceOf('::ffff:203.0.113.7'), '203.0.113.7');
    assert.equal(sourceOf('2001:db8:1:2:aaaa:bbbb:cccc:dddd'), '2001:db8:1:2::/64');
    assert.equal(sourceOf('2001:db8:1:2::1'), sourceOf('2001:db8:1:2:ffff::9'), 'one host, one budget');
    assert.notEqual(sourceOf('2001:db8:1:2::1'), sourceOf('2001:db8:1:3::1'));
    assert.equal(sourceOf(undefined), 'unknown');
    assert.equal(sourceOf('not an address'), 'unknown');
  });

  it('the caller is the socket, or behind a trusted proxy the last X-Forwarded-For entry', () => {
    const req = (xff?: string) => ({ headers: xff ? { 'x-forwarded-for': xff } : {}, socket: { remoteAddress: '10.0.0.1' } }) as never;
    assert.equal(callerAddress(req('198.51.100.1, 203.0.113.9'), false), '10.0.0.1');
    assert.equal(callerAddress(req('198.51.100.1, 203.0.113.9'), true), '203.0.113.9');
    assert.equal(callerAddress(req(), true), '10.0.0.1');
  });

  it('spends per source + client id and per source; once spent, the rest of the window is refused', async () => {
    const hot = await openHotState();
    try {
      const budget = new FailureBudget(hot.counters, { perSource: 4, perSourceAndClient: 2, windowSeconds: 60 });
      assert.equal(budget.retryAfter('s1', 'a'), 0);
      await budget.spend('s1', 'a');
      assert.equal(budget.retryAfter('s1', 'a'), 0);
      await budget.spend('s1', 'a');
      const wait = budget.retryAfter('s1', 'a');
      assert.ok(wait >= 1 && wait <= 60, String(wait));
      assert.equal(budget.retryAfter('s1', 'b'), 0, 'another client id from the same source keeps its own budget');
      assert.equal(budget.retryAfter('s2', 'a'), 0, 'the real client, from its own network, is not touched');
      await budget.spend('s1', 'b');
      await budget.spend('s1', 'c');
      assert.ok(budget.retryAfter('s1', 'z') > 0, 'four failures: the source is out, whatever it names');
      assert.ok(budget.retryAfter('s1') > 0);
    } finally {
      await hot.close();
    }
  });

  it('turns: at most the budget left is judged at a time; the rest wait, and are refused once it is spent', async () => {
    const hot = await openHotState();
    try {
      const budget = new FailureBudget(hot.counters, { perSource: 100, perSourceAndClient: 3, windowSeconds: 60 });
      const turns = await Promise.all([1, 2, 3].map(() => budget.enter('s', 'a')));
      assert.ok(turns.every((t) => 'release' in t));
      let fourth: unknown;
      const waiting = budget.enter('s', 'a').then((t) => (fourth = t));
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(fourth, undefined, 'the fourth waits for a turn');
      // The three fail, one after another; the third spends the budget: the fourth is refused.
      for (const t of turns) {
        await budget.spend('s', 'a');
        (t as { release(): void }).release();
      }
      await waiting;
      assert.ok('retryAfter' in (fourth as unknown as object), JSON.stringify(fourth));
      // Good attempts give their turn back: many at once just take turns, and all get one.
      const settled: { release(): void }[] = [];
      const good = Array.from({ length: 10 }, () => budget.enter('s2', 'b').then((t) => settled.push(t as { release(): void })));
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(settled.length, 3, 'three at a time');
      while (settled.length < 10) {
        const done = settled.length;
        for (const t of settled.slice(done - 3 < 0 ? 0 : done - 3, done)) t.release();
        await new Promise((resolve) => setImmediate(resolve));
        assert.ok(settled.length > done, 'a released turn goes to the next');
      }
      await Promise.all(good);
    } finally {
      await hot.close();
    }
  });
});
