import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  newFederatedSubject,
  countryNotAllowed,
  DEFAULT_WEIGHTS,
  failedAuthBurst,
  networkNotAllowed,
  newDpopKey,
  newNetwork,
  newRoute,
  outsideAllowedHours,
  rateAboveBaseline,
  rateLimitExceeded,
  SIGNALS,
  tokenMultipleNetworks,
  tokenTooOld,
  unusualAudience,
  unusualScope,
} from './signals.js';
import { call, known, NOW } from './fixtures.js';
import type { RiskContext, RiskPolicy } from './types.js';

describe('signals', () => {
  it('none fires for a usual call under an empty policy', () => {
    for (const [code, signal] of Object.entries(SIGNALS)) assert.equal(signal(call(), known(), {}), undefined, code);
  });

  it('one function per signal code, each with a default weight', () => {
    assert.deepEqual(Object.keys(SIGNALS).sort(), Object.keys(DEFAULT_WEIGHTS).sort());
  });

  describe('network_not_allowed', () => {
    const policy: RiskPolicy = { allowed_networks: ['10.0.0.0/8'] };
    it('fires outside allowed_networks, with the /24 as detail', () => {
      assert.deepEqual(networkNotAllowed(call({ ip: '11.2.3.4' }), known(), policy), { code: 'network_not_allowed', score: 100, detail: '11.2.3.0/24' });
    });
    it('fails closed without an ip or with an unparsable one', () => {
      assert.equal(networkNotAllowed(call({ ip: undefined }), known(), policy)?.detail, 'unknown');
      assert.equal(networkNotAllowed(call({ ip: 'garbage' }), known(), policy)?.detail, 'unknown');
    });
    it('is quiet inside the networks, or without (or with an empty) list', () => {
      assert.equal(networkNotAllowed(call(), known(), policy), undefined);
      assert.equal(networkNotAllowed(call({ ip: '11.2.3.4' }), known(), {}), undefined);
      assert.equal(networkNotAllowed(call({ ip: '11.2.3.4' }), known(), { allowed_networks: [] }), undefined);
    });
  });

  describe('country_not_allowed', () => {
    const policy: RiskPolicy = { allowed_countries: ['DE', 'FR'] };
    it('fires for another country', () => {
      assert.deepEqual(countryNotAllowed(call({ country: 'US' }), known(), policy), { code: 'country_not_allowed', score: 100, detail: 'US' });
    });
    it('fails closed for an unknown country', () => {
      assert.deepEqual(countryNotAllowed(call({ country: undefined }), known(), policy), { code: 'country_not_allowed', score: 100, detail: 'unknown' });
    });
    it('is quiet for an allowed country or without a list', () => {
      assert.equal(countryNotAllowed(call({ country: 'FR' }), known(), policy), undefined);
      assert.equal(countryNotAllowed(call({ country: undefined }), known(), {}), undefined);
    });
  });

  describe('outside_allowed_hours', () => {
    const policy: RiskPolicy = { allowed_hours: { timezone: 'UTC', from: '08:00', to: '18:00' } };
    it('fires outside the window', () => {
      const r = outsideAllowedHours(call({ now: Date.parse('2026-11-23T19:00:00Z') }), known(), policy);
      assert.deepEqual(r, { code: 'outside_allowed_hours', score: 50, detail: 'UTC' });
    });
    it('is quiet inside the window or without allowed_hours', () => {
      assert.equal(outsideAllowedHours(call(), known(), policy), undefined);
      assert.equal(outsideAllowedHours(call({ now: Date.parse('2026-11-23T19:00:00Z') }), known(), {}), undefined);
    });
  });

  describe('rate_limit_exceeded', () => {
    it('fires above the limit, not at it', () => {
      assert.equal(rateLimitExceeded(call(), known({ callsThisMinute: 61 }), { rate_limit_per_minute: 60 })?.score, 100);
      assert.equal(rateLimitExceeded(call(), known({ callsThisMinute: 60 }), { rate_limit_per_minute: 60 }), undefined);
    });
    it('is quiet without a limit', () => {
      assert.equal(rateLimitExceeded(call(), known({ callsThisMinute: 1e6 }), {}), undefined);
    });
  });

  describe('rate_above_baseline', () => {
    const policy: RiskPolicy = { baseline: { factor: 5, min_minutes: 10 } };
    const learned = { baselinePerMinute: 4, baselineMinutes: 10 };
    it('fires above factor × the moving average once min_minutes are learned', () => {
      assert.deepEqual(rateAboveBaseline(call(), known({ ...learned, callsThisMinute: 21 }), policy), {
        code: 'rate_above_baseline',
        score: 30,
        detail: '21/min, usual 4',
      });
    });
    it('is quiet at factor × average, before min_minutes, below the floor, or without baseline', () => {
      assert.equal(rateAboveBaseline(call(), known({ ...learned, callsThisMinute: 20 }), policy), undefined);
      assert.equal(rateAboveBaseline(call(), known({ ...learned, baselineMinutes: 9, callsThisMinute: 100 }), policy), undefined);
      assert.equal(rateAboveBaseline(call(), known({ baselinePerMinute: 1, baselineMinutes: 10, callsThisMinute: 9 }), policy), undefined);
      assert.equal(rateAboveBaseline(call(), known({ ...learned, callsThisMinute: 100 }), {}), undefined);
    });
  });

  describe('never-seen signals', () => {
    const cases = [
      { signal: newRoute, unseen: { routeSeen: false }, code: 'new_route', score: 10, detail: 'GET /orders/*' },
      { signal: newNetwork, unseen: { networkSeen: false }, code: 'new_network', score: 25, detail: '10.1.2.0/24' },
      { signal: newDpopKey, unseen: { keySeen: false }, code: 'new_dpop_key', score: 25, detail: 'jkt-1' },
      { signal: unusualScope, unseen: { scopesSeen: false }, code: 'unusual_scope', score: 15, detail: 'orders:read' },
      { signal: unusualAudience, unseen: { audienceSeen: false }, code: 'unusual_audience', score: 15, detail: 'https://api.example.com' },
    ] as const;
    for (const c of cases) {
      it(`${c.code} fires when never seen`, () => {
        assert.deepEqual(c.signal(call(), known(c.unseen), {}), { code: c.code, score: c.score, detail: c.detail });
      });
      it(`${c.code} is quiet when seen, and while the client is learning`, () => {
        assert.equal(c.signal(call(), known(), {}), undefined);
        assert.equal(c.signal(call(), known({ ...c.unseen, learning: true }), {}), undefined);
      });
    }
    it('are quiet when the context has nothing to compare', () => {
      const bare = call({ ip: undefined, dpopJkt: undefined, scopes: [], audience: undefined });
      const unseen = known({ networkSeen: false, keySeen: false, scopesSeen: false, audienceSeen: false });
      for (const s of [newNetwork, newDpopKey, unusualScope, unusualAudience]) assert.equal(s(bare, unseen, {}), undefined);
    });
    it('new_federated_subject fires for a federated identity never seen for this client, and is quiet otherwise', () => {
      const federated = { issuer: 'https://token.actions.githubusercontent.com', subject: 'repo:octo-org/app:environment:prod', claims: {} };
      const issuance = call({ kind: 'issuance', federated });
      assert.deepEqual(newFederatedSubject(issuance, known({ subjectSeen: false }), {}), {
        code: 'new_federated_subject',
        score: 25,
        detail: 'https://token.actions.githubusercontent.com repo:octo-org/app:environment:prod',
      });
      assert.equal(newFederatedSubject(issuance, known(), {}), undefined);
      assert.equal(newFederatedSubject(issuance, known({ subjectSeen: false, learning: true }), {}), undefined);
      assert.equal(newFederatedSubject(call({ kind: 'issuance' }), known({ subjectSeen: false }), {}), undefined);
      assert.equal(newFederatedSubject(issuance, known({ subjectSeen: false }), { weights: { new_federated_subject: 60 } })?.score, 60);
    });
    it('new_route applies to calls only', () => {
      assert.equal(newRoute(call({ kind: 'issuance', method: undefined, path: undefined }), known({ routeSeen: false }), {}), undefined);
    });
  });

  describe('token_multiple_networks', () => {
    it('fires when the token came from more than one network', () => {
      assert.deepEqual(tokenMultipleNetworks(call(), known({ tokenNetworks: 2 }), {}), { code: 'token_multiple_networks', score: 60, detail: '2 networks' });
    });
    it('is quiet for one network, or at issuance', () => {
      assert.equal(tokenMultipleNetworks(call(), known({ tokenNetworks: 1 }), {}), undefined);
      assert.equal(tokenMultipleNetworks(call({ kind: 'issuance', token: undefined }), known({ tokenNetworks: 3 }), {}), undefined);
    });
  });

  describe('failed_auth_burst', () => {
    it('fires at 5 failures in the window, not at 4', () => {
      assert.deepEqual(failedAuthBurst(call(), known({ recentFailures: 5 }), {}), { code: 'failed_auth_burst', score: 40, detail: '5 in 5 min' });
      assert.equal(failedAuthBurst(call(), known({ recentFailures: 4 }), {}), undefined);
    });
  });

  describe('token_too_old', () => {
    const policy: RiskPolicy = { routes: [{ path: '/payments/**', sensitive: true }, { path: '/orders/**' }] };
    const old = { jti: 't', iat: NOW / 1000 - 121 };
    it('fires on a sensitive route for a token older than 120 s', () => {
      assert.deepEqual(tokenTooOld(call({ path: '/payments/9', token: old }), known(), policy), { code: 'token_too_old', score: 30, detail: '121 s' });
    });
    it('is quiet for a token of 120 s, on a route not sensitive, with no route, or at issuance', () => {
      assert.equal(tokenTooOld(call({ path: '/payments/9', token: { jti: 't', iat: NOW / 1000 - 120 } }), known(), policy), undefined);
      assert.equal(tokenTooOld(call({ path: '/orders/9', token: old }), known(), policy), undefined);
      assert.equal(tokenTooOld(call({ path: '/other', token: old }), known(), policy), undefined);
      assert.equal(tokenTooOld(call({ kind: 'issuance', token: undefined }), known(), policy), undefined);
    });
    it('uses the route it is given rather than looking it up', () => {
      assert.equal(tokenTooOld(call({ path: '/payments/9', token: old }), known(), policy, null), undefined);
      assert.equal(tokenTooOld(call({ path: '/x', token: old }), known(), {}, { path: '/x', sensitive: true })?.code, 'token_too_old');
    });
  });

  it('policy.weights override the default score, 0 included', () => {
    assert.equal(newRoute(call(), known({ routeSeen: false }), { weights: { new_route: 3 } })?.score, 3);
    assert.equal(networkNotAllowed(call({ ip: '1.1.1.1' }), known(), { allowed_networks: ['10.0.0.0/8'], weights: { network_not_allowed: 0 } })?.score, 0);
  });

  it('keeps details short', () => {
    const long = 'x'.repeat(500);
    assert.ok((unusualAudience(call({ audience: long }), known({ audienceSeen: false }), {})?.detail?.length ?? 0) <= 120);
  });
});
