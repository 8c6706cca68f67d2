import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ReplyError } from 'ioredis';
import { isDependencyUnavailable } from './unavailable.js';

describe('Redis replies during a Cluster or Sentinel failover count as unavailable (503, not 500)', () => {
  it('CLUSTERDOWN, an unfollowed MOVED/ASK, TRYAGAIN, READONLY, LOADING, MASTERDOWN', () => {
    for (const reply of ['CLUSTERDOWN The cluster is down', 'MOVED 15224 127.0.0.1:7103', 'ASK 3999 127.0.0.1:7102', 'TRYAGAIN Multiple keys request during rehashing of slot',
      "READONLY You can't write against a read only replica.", 'LOADING Redis is loading the dataset in memory', 'MASTERDOWN Link with MASTER is down']) {
      assert.equal(isDependencyUnavailable(new ReplyError(reply)), true, reply);
    }
  });

  it('other error replies stay errors', () => {
    assert.equal(isDependencyUnavailable(new ReplyError('ERR wrong number of arguments for command')), false);
    assert.equal(isDependencyUnavailable(new ReplyError('WRONGTYPE Operation against a key holding the wrong kind of value')), false);
  });
});
