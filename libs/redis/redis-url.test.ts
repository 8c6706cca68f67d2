import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '#config';
import { parseRedisUrl, redisAddress } from './redis-url.js';

describe('REDIS_URL forms', () => {
  it('one Redis: redis:// and rediss://, database number in the path', () => {
    assert.deepEqual(parseRedisUrl('redis://127.0.0.1:6379/5'), { kind: 'single', url: 'redis://127.0.0.1:6379/5', tls: false });
    assert.equal(parseRedisUrl('rediss://:secret@cache.internal:6380').tls, true);
    assert.equal(redisAddress(parseRedisUrl('redis://:secret@cache.internal')), 'cache.internal:6379');
  });

  it('a cluster: seed nodes, credentials from the userinfo, TLS from rediss', () => {
    assert.deepEqual(parseRedisUrl('rediss+cluster://app:p%40ss@10.0.0.1:7000,10.0.0.2,[::1]:7002/'), {
      kind: 'cluster',
      nodes: [{ host: '10.0.0.1', port: 7000 }, { host: '10.0.0.2', port: 6379 }, { host: '::1', port: 7002 }],
      tls: true,
      username: 'app',
      password: 'p@ss',
    });
    assert.equal(redisAddress(parseRedisUrl('redis+cluster://:pw@a:7000,[::1]:7001')), 'a:7000,[::1]:7001');
  });

  it('a Sentinel group: sentinels (26379 by default) and the master name in the path', () => {
    assert.deepEqual(parseRedisUrl('redis+sentinel://:pw@s1,s2:26380/mymaster'), {
      kind: 'sentinel',
      sentinels: [{ host: 's1', port: 26379 }, { host: 's2', port: 26380 }],
      masterName: 'mymaster',
      tls: false,
      password: 'pw',
    });
  });

  it('refuses what it cannot use, naming REDIS_URL and never the password', () => {
    for (const bad of [
      'http://x',
      'redis+cluster://a:7000/3',
      'redis+cluster://a:70000',
      'redis+cluster://a:7000,,b:7001',
      'redis+sentinel://s1:26379',
      'redis+sentinel://s1:26379/a/b',
      'redis+sentinel://s1:26379/m?x=1',
      'redis://:hunter2@h/db',
      'redis+mesh://h',
    ]) {
      assert.throws(() => loadConfig({ REDIS_URL: bad }), (error: unknown) => {
        assert.ok(error instanceof ConfigError, bad);
        assert.equal(error.variable, 'REDIS_URL');
        assert.doesNotMatch(error.message, /hunter2/);
        return true;
      });
    }
  });

  it('the forms count as shared state for workers', () => {
    const env = { DATABASE_URL: 'postgres://db/x', TOLLGATE_WORKERS: '2' };
    assert.equal(loadConfig({ ...env, REDIS_URL: 'redis+cluster://a:7000,b:7001' }).workers, 2);
    assert.equal(loadConfig({ ...env, REDIS_URL: 'redis+sentinel://s:26379/m' }).redisUrl, 'redis+sentinel://s:26379/m');
  });
});
