import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { withinHours } from './hours.js';

// 2026-11-23 is a Monday. Europe/Berlin is UTC+1 in November.
const at = (iso: string) => Date.parse(iso);

describe('withinHours', () => {
  const office = { timezone: 'Europe/Berlin', days: [1, 2, 3, 4, 5], from: '06:00', to: '22:00' };

  it('is inside a same-day window on an allowed day, in the zone', () => {
    assert.equal(withinHours(office, at('2026-11-23T05:00:00Z')), true); // Mon 06:00 Berlin
    assert.equal(withinHours(office, at('2026-11-23T20:59:00Z')), true); // Mon 21:59 Berlin
  });

  it('is outside before from and from to on (to is exclusive)', () => {
    assert.equal(withinHours(office, at('2026-11-23T04:59:00Z')), false); // Mon 05:59 Berlin
    assert.equal(withinHours(office, at('2026-11-23T21:00:00Z')), false); // Mon 22:00 Berlin
  });

  it('uses the zone, not UTC', () => {
    // 05:30 UTC is 06:30 in Berlin (inside) but 00:30 in New York (outside).
    assert.equal(withinHours(office, at('2026-11-23T05:30:00Z')), true);
    assert.equal(withinHours({ ...office, timezone: 'America/New_York' }, at('2026-11-23T05:30:00Z')), false);
  });

  it('is outside on a day not listed; all days when days is absent or empty', () => {
    const sunday = at('2026-11-22T10:00:00Z');
    assert.equal(withinHours(office, sunday), false);
    assert.equal(withinHours({ ...office, days: undefined }, sunday), true);
    assert.equal(withinHours({ ...office, days: [] }, sunday), true);
    assert.equal(withinHours({ ...office, days: [0] }, sunday), true);
  });

  it('wraps midnight when to < from', () => {
    const night = { timezone: 'UTC', from: '22:00', to: '06:00' };
    assert.equal(withinHours(night, at('2026-11-23T23:30:00Z')), true);
    assert.equal(withinHours(night, at('2026-11-23T00:00:00Z')), true);
    assert.equal(withinHours(night, at('2026-11-23T05:59:00Z')), true);
    assert.equal(withinHours(night, at('2026-11-23T06:00:00Z')), false);
    assert.equal(withinHours(night, at('2026-11-23T12:00:00Z')), false);
    assert.equal(withinHours(night, at('2026-11-23T21:59:00Z')), false);
  });

  it('counts the hours after midnight of a wrapped window for the day it opened', () => {
    const fridayNight = { timezone: 'UTC', days: [5], from: '22:00', to: '06:00' };
    assert.equal(withinHours(fridayNight, at('2026-11-27T23:00:00Z')), true); // Fri 23:00
    assert.equal(withinHours(fridayNight, at('2026-11-28T02:00:00Z')), true); // Sat 02:00, Friday's night
    assert.equal(withinHours(fridayNight, at('2026-11-28T23:00:00Z')), false); // Sat 23:00
    assert.equal(withinHours(fridayNight, at('2026-11-27T02:00:00Z')), false); // Fri 02:00, Thursday's night
  });

  it('reads midnight as 00:00 (not 24:00)', () => {
    assert.equal(withinHours({ timezone: 'UTC', from: '00:00', to: '00:30' }, at('2026-11-23T00:10:00Z')), true);
  });

  it('fails closed for an unknown zone, an empty or a malformed window', () => {
    const t = at('2026-11-23T12:00:00Z');
    assert.equal(withinHours({ timezone: 'Mars/Olympus', from: '00:00', to: '23:59' }, t), false);
    assert.equal(withinHours({ timezone: 'UTC', from: '12:00', to: '12:00' }, t), false);
    assert.equal(withinHours({ timezone: 'UTC', from: 'noon', to: '23:00' }, t), false);
  });
});
