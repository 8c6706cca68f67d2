import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkPolicy, mergePolicies } from './policy-check.js';
import type { RiskPolicy } from './types.js';

const fields = (doc: unknown) => checkPolicy(doc).map((p) => p.field);

const FULL: RiskPolicy = {
  allowed_networks: ['10.0.0.0/8', '2001:db8::/32'],
  allowed_countries: ['DE', 'FR'],
  allowed_hours: { timezone: 'Europe/Berlin', days: [1, 2, 3, 4, 5], from: '06:00', to: '22:00' },
  rate_limit_per_minute: 600,
  baseline: { factor: 5, min_minutes: 10 },
  thresholds: { step_up: 40, deny: 80 },
  step_up_acr: 'urn:tollgate:acr:live',
  step_up_max_age: 300,
  on_new_key: 'step_up',
  on_new_network: 'allow',
  weights: { new_route: 5 },
  routes: [
    { path: '/admin/**', acr: 'urn:tollgate:acr:attested', max_age: 300 },
    { methods: ['DELETE'], path: '/orders/**', scopes: ['orders:delete'], max_risk: 20 },
    { path: '/payments/**', sensitive: true },
  ],
};

describe('checkPolicy', () => {
  it('accepts the documented example and an empty policy', () => {
    assert.deepEqual(checkPolicy(FULL), []);
    assert.deepEqual(checkPolicy({}), []);
  });

  it('refuses what is not an object', () => {
    for (const doc of [null, [], 'x', 42]) assert.deepEqual(fields(doc), ['']);
  });

  it('names unknown top-level, route, hours, thresholds and baseline keys', () => {
    assert.deepEqual(fields({ allowed_network: [] }), ['allowed_network']);
    assert.deepEqual(fields({ routes: [{ path: '/a', method: ['GET'] }] }), ['routes[0].method']);
    assert.deepEqual(fields({ allowed_hours: { timezone: 'UTC', from: '01:00', to: '02:00', tz: 'x' } }), ['allowed_hours.tz']);
    assert.deepEqual(fields({ thresholds: { step_up: 1, deny: 2, warn: 0 } }), ['thresholds.warn']);
    assert.deepEqual(fields({ baseline: { factor: 2, min_minutes: 1, alpha: 1 } }), ['baseline.alpha']);
  });

  it('names each bad CIDR by index', () => {
    const bad = ['10.0.0.0/8', '10.0.0.0/33', 'nope', '10.0.0.1', '2001:db8::/129', '010.0.0.0/8', '10/8', 42];
    assert.deepEqual(fields({ allowed_networks: bad }), [
      'allowed_networks[1]',
      'allowed_networks[2]',
      'allowed_networks[3]',
      'allowed_networks[4]',
      'allowed_networks[5]',
      'allowed_networks[6]',
      'allowed_networks[7]',
    ]);
    assert.deepEqual(fields({ allowed_networks: ['::ffff:10.0.0.0/104', 'fe80::/10', '0.0.0.0/0'] }), []);
    assert.deepEqual(fields({ allowed_networks: '10.0.0.0/8' }), ['allowed_networks']);
  });

  it('checks country codes', () => {
    assert.deepEqual(fields({ allowed_countries: ['DE', 'de', 'DEU', 'D', 1] }), [
      'allowed_countries[1]',
      'allowed_countries[2]',
      'allowed_countries[3]',
      'allowed_countries[4]',
    ]);
  });

  it('checks allowed_hours: IANA zone, HH:MM, days 0..6, a non-empty window', () => {
    const hours = (h: object) => fields({ allowed_hours: { timezone: 'UTC', from: '22:00', to: '06:00', ...h } });
    assert.deepEqual(hours({}), []);
    assert.deepEqual(hours({ timezone: 'Mars/Olympus' }), ['allowed_hours.timezone']);
    assert.deepEqual(hours({ timezone: '' }), ['allowed_hours.timezone']);
    assert.deepEqual(hours({ from: '24:00' }), ['allowed_hours.from']);
    assert.deepEqual(hours({ to: '6:00' }), ['allowed_hours.to']);
    assert.deepEqual(hours({ to: '06:60' }), ['allowed_hours.to']);
    assert.deepEqual(hours({ from: '06:00', to: '06:00' }), ['allowed_hours.to']);
    assert.deepEqual(hours({ days: [0, 6, 7, -1, 1.5] }), ['allowed_hours.days[2]', 'allowed_hours.days[3]', 'allowed_hours.days[4]']);
    assert.deepEqual(fields({ allowed_hours: { from: '01:00', to: '02:00' } }), ['allowed_hours.timezone']);
    assert.deepEqual(fields({ allowed_hours: 'always' }), ['allowed_hours']);
  });

  it('checks thresholds: integers 0..1000, step_up below deny', () => {
    assert.deepEqual(fields({ thresholds: { step_up: 80, deny: 80 } }), ['thresholds']);
    assert.deepEqual(fields({ thresholds: { step_up: 90, deny: 80 } }), ['thresholds']);
    assert.deepEqual(fields({ thresholds: { step_up: -1, deny: 1001 } }), ['thresholds.step_up', 'thresholds.deny']);
    assert.deepEqual(fields({ thresholds: { step_up: 0, deny: 1000 } }), []);
    assert.deepEqual(fields({ thresholds: { deny: 80 } }), ['thresholds.step_up']);
  });

  it('checks positive integers and the baseline', () => {
    assert.deepEqual(fields({ rate_limit_per_minute: 0 }), ['rate_limit_per_minute']);
    assert.deepEqual(fields({ rate_limit_per_minute: 1.5 }), ['rate_limit_per_minute']);
    assert.deepEqual(fields({ rate_limit_per_minute: '60' }), ['rate_limit_per_minute']);
    assert.deepEqual(fields({ step_up_max_age: 0 }), ['step_up_max_age']);
    assert.deepEqual(fields({ baseline: { factor: 1, min_minutes: 0 } }), ['baseline.factor', 'baseline.min_minutes']);
    assert.deepEqual(fields({ baseline: { factor: 2.5, min_minutes: 5 } }), []);
  });

  it('checks acr levels and new-key / new-network actions', () => {
    assert.deepEqual(fields({ step_up_acr: 'urn:tollgate:acr:gold' }), ['step_up_acr']);
    assert.deepEqual(fields({ on_new_key: 'block', on_new_network: 'deny' }), ['on_new_key']);
    assert.deepEqual(fields({ on_new_network: 'maybe' }), ['on_new_network']);
  });

  it('checks weights: known signal codes, 0..1000', () => {
    assert.deepEqual(fields({ weights: { new_route: 0, network_not_allowed: 1000 } }), []);
    assert.deepEqual(fields({ weights: { new_routes: 5, new_route: 1001, unusual_scope: -1, new_network: 'x' } }), [
      'weights.new_routes',
      'weights.new_route',
      'weights.unusual_scope',
      'weights.new_network',
    ]);
    assert.deepEqual(fields(JSON.parse('{"weights":{"__proto__":5}}')), ['weights.__proto__']);
  });

  it('names each bad route field by index', () => {
    const doc = {
      routes: [
        { path: '/ok', methods: ['GET', 'get', 'TRACE'] },
        { path: 'admin/**' },
        { path: '/a', acr: 'gold', max_age: 0, max_risk: 1001, scopes: ['ok', 'has space', ''], sensitive: 'yes' },
        { methods: ['GET'] },
        'nope',
        { path: '/a\\b' },
        { path: '/a b' },
      ],
    };
    assert.deepEqual(fields(doc), [
      'routes[0].methods[1]',
      'routes[0].methods[2]',
      'routes[1].path',
      'routes[2].acr',
      'routes[2].max_age',
      'routes[2].scopes[1]',
      'routes[2].scopes[2]',
      'routes[2].max_risk',
      'routes[2].sensitive',
      'routes[3].path',
      'routes[4]',
      'routes[5].path',
      'routes[6].path',
    ]);
  });

  it('refuses more than 100 routes', () => {
    const routes = Array.from({ length: 101 }, (_, i) => ({ path: `/r${i}` }));
    assert.deepEqual(fields({ routes }), ['routes']);
    assert.deepEqual(fields({ routes: routes.slice(0, 100) }), []);
  });

  it('gives a message with every problem', () => {
    for (const p of checkPolicy({ routes: [{ path: 'x' }], allowed_networks: ['x'], zzz: 1 })) assert.ok(p.message.length > 3);
  });
});

describe('mergePolicies', () => {
  const base: RiskPolicy = {
    allowed_networks: ['10.0.0.0/8'],
    thresholds: { step_up: 40, deny: 80 },
    weights: { new_route: 5, new_network: 20 },
    routes: [{ path: '/base/**' }],
  };

  it('returns base when the client has no policy', () => {
    assert.equal(mergePolicies(base), base);
  });

  it('replaces field by field, whole fields (lists are not unions)', () => {
    const merged = mergePolicies(base, { allowed_networks: ['192.168.0.0/16'], rate_limit_per_minute: 5 });
    assert.deepEqual(merged.allowed_networks, ['192.168.0.0/16']);
    assert.equal(merged.rate_limit_per_minute, 5);
    assert.deepEqual(merged.thresholds, { step_up: 40, deny: 80 });
  });

  it("puts the client's routes first, then the default's", () => {
    const merged = mergePolicies(base, { routes: [{ path: '/own/**' }] });
    assert.deepEqual(merged.routes?.map((r) => r.path), ['/own/**', '/base/**']);
    assert.deepEqual(mergePolicies(base, {}).routes?.map((r) => r.path), ['/base/**']);
  });

  it('merges weights key by key', () => {
    assert.deepEqual(mergePolicies(base, { weights: { new_route: 0, unusual_scope: 50 } }).weights, { new_route: 0, new_network: 20, unusual_scope: 50 });
  });

  it('does not modify its inputs', () => {
    const own: RiskPolicy = { routes: [{ path: '/own' }], weights: { new_route: 1 } };
    const before = JSON.stringify([base, own]);
    mergePolicies(base, own);
    assert.equal(JSON.stringify([base, own]), before);
  });
});
