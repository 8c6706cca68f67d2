import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { evaluate } from './evaluate.js';
import { ATTESTED, call, KEY, known, LIVE, NOW, SEC } from './fixtures.js';
import type { ClientState, RiskContext, RiskPolicy } from './types.js';

const issuance = (over: Partial<RiskContext> = {}): RiskContext => ({
  kind: 'issuance',
  now: NOW,
  clientId: 'c1',
  ip: '10.1.2.3',
  country: 'DE',
  scopes: ['orders:read'],
  dpopJkt: 'jkt-1',
  ...over,
});
const codes = (d: { reasons: { code: string }[] }) => d.reasons.map((r) => r.code);

describe('evaluate: score and thresholds', () => {
  it('allows a usual call with score 0 and no reasons', () => {
    assert.deepEqual(evaluate(call(), known(), {}), { decision: 'allow', score: 0, reasons: [] });
  });

  it('sums the scores of the signals that fire', () => {
    const d = evaluate(call(), known({ routeSeen: false, scopesSeen: false }), {});
    assert.equal(d.decision, 'allow');
    assert.equal(d.score, 25);
    assert.deepEqual(codes(d).sort(), ['new_route', 'unusual_scope']);
  });

  it('steps up at the step_up threshold (default 40), asking step_up_acr within step_up_max_age', () => {
    const d = evaluate(call(), known({ recentFailures: 5 }), {});
    assert.equal(d.decision, 'step_up');
    assert.equal(d.score, 40);
    assert.equal(d.acr, LIVE);
    assert.equal(d.maxAge, 300);
  });

  it('allows just below the step_up threshold', () => {
    assert.equal(evaluate(call(), known({ recentFailures: 5 }), { weights: { failed_auth_burst: 39 } }).decision, 'allow');
  });

  it('denies at the deny threshold (default 80)', () => {
    const d = evaluate(call(), known({ recentFailures: 5, tokenNetworks: 2 }), {});
    assert.equal(d.score, 100);
    assert.equal(d.decision, 'deny');
    assert.equal(d.acr, undefined);
    assert.equal(evaluate(call(), known({ recentFailures: 5, tokenNetworks: 2 }), { weights: { failed_auth_burst: 20 } }).decision, 'deny');
    assert.equal(evaluate(call(), known({ recentFailures: 5, tokenNetworks: 2 }), { weights: { failed_auth_burst: 19 } }).decision, 'step_up');
  });

  it('uses the policy thresholds, step_up_acr and step_up_max_age', () => {
    const policy: RiskPolicy = { thresholds: { step_up: 10, deny: 50 }, step_up_acr: ATTESTED, step_up_max_age: 60 };
    const d = evaluate(call(), known({ routeSeen: false }), policy);
    assert.deepEqual([d.decision, d.acr, d.maxAge], ['step_up', ATTESTED, 60]);
    assert.equal(evaluate(call(), known({ tokenNetworks: 2 }), policy).decision, 'deny');
  });
});

describe('evaluate: hard rules', () => {
  const cases: [string, RiskPolicy, Partial<RiskContext>, Partial<ClientState>][] = [
    ['network_not_allowed', { allowed_networks: ['192.168.0.0/16'] }, {}, {}],
    ['country_not_allowed', { allowed_countries: ['FR'] }, {}, {}],
    ['rate_limit_exceeded', { rate_limit_per_minute: 10 }, {}, { callsThisMinute: 11 }],
  ];
  for (const [code, policy, ctx, state] of cases) {
    it(`${code} denies whatever the score`, () => {
      const d = evaluate(call(ctx), known(state), { ...policy, weights: { [code]: 0 } });
      assert.equal(d.decision, 'deny');
      assert.equal(d.score, 0);
      assert.deepEqual(codes(d), [code]);
    });
    it(`${code} denies even a fresh token at the top level`, () => {
      assert.equal(evaluate(call(ctx, { acr: ATTESTED, authTime: SEC }), known(state), policy).decision, 'deny');
    });
  }
  it('denies at issuance too', () => {
    assert.equal(evaluate(issuance({ country: undefined }), known(), { allowed_countries: ['DE'] }).decision, 'deny');
  });
});

describe('evaluate: on_new_key and on_new_network', () => {
  it('a new DPoP key only scores by default (until workloads can answer a step-up)', () => {
    const d = evaluate(issuance(), known({ keySeen: false }), {});
    assert.deepEqual([d.decision, d.score], ['allow', 25]);
  });
  it('a new network only scores by default', () => {
    const d = evaluate(call(), known({ networkSeen: false }), {});
    assert.deepEqual([d.decision, d.score], ['allow', 25]);
  });
  for (const [action, expected] of [['allow', 'allow'], ['step_up', 'step_up'], ['deny', 'deny']] as const) {
    it(`on_new_key: ${action}`, () => {
      assert.equal(evaluate(call(), known({ keySeen: false }), { on_new_key: action }).decision, expected);
    });
    it(`on_new_key: ${action}, for a federated identity never seen (docs/federation.md)`, () => {
      const federated = { issuer: 'spiffe://example.org', subject: 'spiffe://example.org/ns/payments/sa/checkout', claims: {} };
      const d = evaluate(call({ kind: 'issuance', federated }), known({ subjectSeen: false }), { on_new_key: action });
      assert.equal(d.decision, expected);
      assert.deepEqual(d.reasons.map((r) => r.code), ['new_federated_subject']);
    });
    it(`on_new_network: ${action}`, () => {
      assert.equal(evaluate(call(), known({ networkSeen: false }), { on_new_network: action }).decision, expected);
    });
  }
  it('while learning, nothing is new: no action', () => {
    const state = known({ learning: true, keySeen: false, networkSeen: false, routeSeen: false, scopesSeen: false, audienceSeen: false });
    assert.deepEqual(evaluate(call(), state, { on_new_key: 'deny', on_new_network: 'deny' }), { decision: 'allow', score: 0, reasons: [] });
  });
  it('learning does not quiet the other signals', () => {
    assert.equal(evaluate(call(), known({ learning: true, tokenNetworks: 2 }), {}).decision, 'step_up');
  });
});

describe('evaluate: a token that already stepped up', () => {
  const risky = known({ keySeen: false, routeSeen: false }); // 35 + on_new_key step_up
  const stepUpOnNewKey: RiskPolicy = { on_new_key: 'step_up' };

  it('is not asked again while its proof of the level is fresh', () => {
    const d = evaluate(call({}, { acr: LIVE, authTime: SEC - 30 }), risky, stepUpOnNewKey);
    assert.equal(d.decision, 'allow');
    assert.equal(d.score, 35); // the reasons and score are still reported
  });
  it('a higher level answers a lower ask', () => {
    assert.equal(evaluate(call({}, { acr: ATTESTED, authTime: SEC - 30 }), risky, stepUpOnNewKey).decision, 'allow');
  });
  it('uses iat when there is no auth_time', () => {
    assert.equal(evaluate(call({}, { acr: LIVE, iat: SEC - 30 }), risky, stepUpOnNewKey).decision, 'allow');
  });
  it('is asked again once the proof is older than step_up_max_age', () => {
    const d = evaluate(call({}, { acr: LIVE, authTime: SEC - 301 }), risky, stepUpOnNewKey);
    assert.deepEqual([d.decision, d.acr, d.maxAge], ['step_up', LIVE, 300]);
    assert.equal(evaluate(call({}, { acr: LIVE, authTime: SEC - 301 }), risky, { ...stepUpOnNewKey, step_up_max_age: 600 }).decision, 'allow');
  });
  it('a lower level does not answer', () => {
    assert.equal(evaluate(call({}, { acr: KEY, authTime: SEC }), risky, stepUpOnNewKey).decision, 'step_up');
  });
  it('score step-ups need the token: at issuance they stand', () => {
    assert.equal(evaluate(issuance(), known({ recentFailures: 5 }), {}).decision, 'step_up');
  });
  it('at issuance by the step-up grant the proven level answers them (docs/step-up.md §4)', () => {
    assert.equal(evaluate(issuance({ proven: { acr: LIVE, authTime: SEC } }), known({ recentFailures: 5 }), {}).decision, 'allow');
    assert.equal(evaluate(issuance({ proven: { acr: ATTESTED, authTime: SEC } }), known({ recentFailures: 5 }), {}).decision, 'allow');
  });
  it('a proven level below the one asked does not answer, and a deny stands whatever was proven', () => {
    const d = evaluate(issuance({ proven: { acr: LIVE, authTime: SEC } }), known({ recentFailures: 5 }), { step_up_acr: ATTESTED });
    assert.deepEqual([d.decision, d.acr], ['step_up', ATTESTED]);
    assert.equal(evaluate(issuance({ proven: { acr: ATTESTED, authTime: SEC } }), known({ recentFailures: 5 }), { thresholds: { step_up: 10, deny: 20 } }).decision, 'deny');
  });
  it('the deny threshold holds whatever the level', () => {
    assert.equal(evaluate(call({}, { acr: ATTESTED, authTime: SEC }), known({ tokenNetworks: 2, recentFailures: 5 }), {}).decision, 'deny');
  });
  it('on_new_key deny holds whatever the level', () => {
    assert.equal(evaluate(call({}, { acr: ATTESTED, authTime: SEC }), known({ keySeen: false }), { on_new_key: 'deny' }).decision, 'deny');
  });
});

describe('evaluate: route rules', () => {
  const policy: RiskPolicy = {
    routes: [
      { methods: ['DELETE'], path: '/orders/**', scopes: ['orders:delete'], max_risk: 20 },
      { path: '/admin/**', acr: ATTESTED, max_age: 300 },
      { path: '/reports/**', max_age: 600 },
      { path: '/orders/**', scopes: ['orders:read'] },
    ],
  };

  it('allows a call that meets its rule, naming the rule', () => {
    assert.deepEqual(evaluate(call(), known(), policy), { decision: 'allow', score: 0, reasons: [], route: '/orders/**' });
  });

  it('no route in the decision when no rule matches', () => {
    assert.equal(evaluate(call({ path: '/public' }), known(), policy).route, undefined);
  });

  it('denies with insufficient_scope when a required scope is missing (RFC 6750 §3.1)', () => {
    const d = evaluate(call({ method: 'DELETE' }), known(), policy);
    assert.deepEqual(d, {
      decision: 'deny',
      score: 0,
      reasons: [{ code: 'route_requires_scope', score: 0, detail: 'orders:delete' }],
      error: 'insufficient_scope',
      route: '/orders/**',
    });
    assert.equal(evaluate(call({ method: 'delete', scopes: ['orders:delete'] }), known(), policy).decision, 'allow');
  });

  it('steps up to the rule acr (with its max_age) when the token is below it (RFC 9470)', () => {
    const d = evaluate(call({ path: '/admin/users' }, { acr: LIVE }), known(), policy);
    assert.deepEqual([d.decision, d.acr, d.maxAge, d.route], ['step_up', ATTESTED, 300, '/admin/**']);
    assert.deepEqual(d.reasons, [{ code: 'route_requires_acr', score: 0, detail: ATTESTED }]);
  });

  it('a token without acr ranks below every level', () => {
    assert.equal(evaluate(call({}, { acr: undefined }), known(), { routes: [{ path: '/**', acr: KEY }] }).decision, 'step_up');
  });

  it('steps up with max_age when the level was proven too long ago, else allows', () => {
    const stale = evaluate(call({ path: '/admin/x' }, { acr: ATTESTED, authTime: SEC - 301 }), known(), policy);
    assert.deepEqual([stale.decision, stale.acr, stale.maxAge, codes(stale)], ['step_up', ATTESTED, 300, ['route_max_age']]);
    assert.equal(evaluate(call({ path: '/admin/x' }, { acr: ATTESTED, authTime: SEC - 300 }), known(), policy).decision, 'allow');
  });

  it('max_age counts from auth_time, else iat; without rule acr it asks for the current level', () => {
    const d = evaluate(call({ path: '/reports/1' }, { acr: LIVE, iat: SEC - 601 }), known(), policy);
    assert.deepEqual([d.decision, d.acr, d.maxAge], ['step_up', LIVE, 600]);
    assert.equal(evaluate(call({ path: '/reports/1' }, { acr: LIVE, iat: SEC - 601, authTime: SEC - 10 }), known(), policy).decision, 'allow');
  });

  it('above max_risk: step-up to the level above the token, deny at the top level', () => {
    const ctx = { method: 'DELETE', scopes: ['orders:delete'] };
    const state = known({ routeSeen: false, scopesSeen: false }); // 25 > 20
    const fromKey = evaluate(call(ctx, { acr: KEY }), state, policy);
    assert.deepEqual([fromKey.decision, fromKey.acr, fromKey.maxAge], ['step_up', LIVE, undefined]);
    assert.ok(codes(fromKey).includes('route_max_risk'));
    assert.equal(evaluate(call(ctx, { acr: LIVE, authTime: SEC }), state, policy).acr, ATTESTED);
    assert.equal(evaluate(call(ctx, { acr: undefined }), state, policy).acr, KEY);
    const top = evaluate(call(ctx, { acr: ATTESTED, authTime: SEC }), state, policy);
    assert.deepEqual([top.decision, top.error], ['deny', undefined]);
  });

  it('at or below max_risk nothing happens', () => {
    const d = evaluate(call({ method: 'DELETE', scopes: ['orders:delete'] }), known({ scopesSeen: false, audienceSeen: false }), { routes: [{ path: '/orders/**', max_risk: 30 }] });
    assert.deepEqual([d.decision, d.score], ['allow', 30]);
  });

  it('does not apply at issuance', () => {
    const d = evaluate(issuance({ scopes: [] }), known(), { routes: [{ path: '/**', scopes: ['x'], acr: ATTESTED }] });
    assert.deepEqual(d, { decision: 'allow', score: 0, reasons: [] });
  });
});

describe('evaluate: precedence', () => {
  it('deny beats step-up', () => {
    const d = evaluate(call({ path: '/admin/x' }), known(), { routes: [{ path: '/admin/**', acr: ATTESTED, scopes: ['admin'] }] });
    assert.equal(d.decision, 'deny');
    assert.equal(d.error, 'insufficient_scope');
    assert.deepEqual(codes(d), ['route_requires_scope', 'route_requires_acr']);
  });

  it('insufficient_scope only when the scope is the only reason to deny', () => {
    const d = evaluate(call(), known(), { allowed_countries: ['FR'], routes: [{ path: '/**', scopes: ['x'] }] });
    assert.equal(d.decision, 'deny');
    assert.equal(d.error, undefined);
  });

  it('several step-ups: the highest acr and the smallest max_age', () => {
    const policy: RiskPolicy = { step_up_max_age: 120, routes: [{ path: '/**', acr: ATTESTED, max_age: 900 }] };
    const d = evaluate(call(), known({ recentFailures: 5 }), policy); // score step-up: live within 120 s
    assert.deepEqual([d.decision, d.acr, d.maxAge], ['step_up', ATTESTED, 120]);
  });

  it('a route step-up stands even when the score step-up is answered', () => {
    const d = evaluate(call({}, { acr: LIVE, authTime: SEC }), known({ recentFailures: 5 }), { routes: [{ path: '/**', acr: ATTESTED }] });
    assert.deepEqual([d.decision, d.acr, d.maxAge], ['step_up', ATTESTED, undefined]);
  });
});
