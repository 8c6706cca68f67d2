import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConnectionWatch, errorCode } from './connection-watch.js';

function capture() {
  const entries: { level: string; entry: Record<string, unknown> }[] = [];
  return {
    entries,
    logger: {
      log: (entry: Record<string, unknown>) => void entries.push({ level: 'info', entry }),
      warn: (entry: Record<string, unknown>) => void entries.push({ level: 'warn', entry }),
    },
  };
}

describe('ConnectionWatch', () => {
  it('logs lost once, however often the loss is seen, and restored once with the downtime', () => {
    const { entries, logger } = capture();
    const watch = new ConnectionWatch('redis', 'hot-state', logger, '127.0.0.1:6379');
    watch.restored(1_000); // never lost: nothing to say
    watch.lost('ECONNREFUSED', 10_000);
    watch.lost('ECONNREFUSED', 10_500);
    watch.lost('ETIMEDOUT', 11_000);
    assert.equal(watch.isLost, true);
    watch.restored(14_250);
    watch.restored(15_000);
    assert.equal(watch.isLost, false);
    assert.deepEqual(entries, [
      { level: 'warn', entry: { message: 'redis connection lost', connection: 'hot-state', address: '127.0.0.1:6379', error: 'ECONNREFUSED' } },
      { level: 'info', entry: { message: 'redis connection restored', connection: 'hot-state', address: '127.0.0.1:6379', downtime_ms: 4_250 } },
    ]);
  });

  it('logs each outage of its own', () => {
    const { entries, logger } = capture();
    const watch = new ConnectionWatch('postgresql', 'pool', logger);
    for (const t of [0, 10_000]) {
      watch.lost('57P01', t);
      watch.restored(t + 100);
    }
    assert.deepEqual(entries.map((e) => [e.level, e.entry.message]), [
      ['warn', 'postgresql connection lost'],
      ['info', 'postgresql connection restored'],
      ['warn', 'postgresql connection lost'],
      ['info', 'postgresql connection restored'],
    ]);
  });

  it('says nothing after stop() (we closed it) or without a logger', () => {
    const { entries, logger } = capture();
    const watch = new ConnectionWatch('redis', 'risk-state', logger);
    watch.stop();
    watch.lost('ECONNRESET');
    watch.restored();
    assert.deepEqual(entries, []);
    const silent = new ConnectionWatch('redis', 'risk-state', undefined);
    silent.lost('ECONNRESET');
    assert.equal(silent.isLost, true);
  });
});

describe('errorCode', () => {
  it('is the errno or SQLSTATE of the error or of its causes, else its name', () => {
    assert.equal(errorCode(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })), 'ECONNREFUSED');
    assert.equal(errorCode(new Error('wrapped', { cause: Object.assign(new Error('terminating'), { code: '57P01' }) })), '57P01');
    assert.equal(errorCode(new TypeError('x')), 'TypeError');
    assert.equal(errorCode(undefined), 'Error');
  });
});
