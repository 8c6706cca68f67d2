import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { emptyBaseline, learnBaseline, readBaseline } from './baseline.js';

describe('baseline (EWMA per completed minute)', () => {
  it('has no baseline before a minute completes', () => {
    const b = emptyBaseline();
    learnBaseline(b, 100);
    learnBaseline(b, 100);
    assert.deepEqual(readBaseline(b, 100), { perMinute: 0, minutes: 0 });
    assert.deepEqual(readBaseline(b, 101), { perMinute: 2, minutes: 1 });
  });

  it('starts at the first minute and then moves by alpha 0.2', () => {
    const b = emptyBaseline();
    for (let i = 0; i < 10; i++) learnBaseline(b, 1);
    for (let i = 0; i < 30; i++) learnBaseline(b, 2);
    learnBaseline(b, 3);
    assert.deepEqual(readBaseline(b, 3), { perMinute: 0.2 * 30 + 0.8 * 10, minutes: 2 });
  });

  it('skips idle minutes (the usual rate while active)', () => {
    const b = emptyBaseline();
    for (let i = 0; i < 10; i++) learnBaseline(b, 1);
    learnBaseline(b, 500);
    assert.deepEqual(readBaseline(b, 501), { perMinute: 0.2 * 1 + 0.8 * 10, minutes: 2 });
  });

  it('counts a call stamped with an earlier minute into the current one', () => {
    const b = emptyBaseline();
    learnBaseline(b, 5);
    learnBaseline(b, 4);
    assert.deepEqual(readBaseline(b, 6), { perMinute: 2, minutes: 1 });
  });
});
