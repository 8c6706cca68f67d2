import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { evaluate } from './evaluate.js';
import { ATTESTED, call, known, LIVE, NOW, SEC } from './fixtures.js';
import { recordedContext, reevaluate, replayedInputs } from './recorded-context.js';
import type { ClientState, RiskContext, RiskPolicy } from './types.js';

/** As the decision log stores it and reads it back: JSON text. */
const stored = (ctx: RiskContext, state: ClientState) => JSON.parse(JSON.stringify(recordedContext(ctx, state))) as unknown;

const POLICIES: RiskPolicy[] = [
  {},
  { allowed_networks: ['192.0.2.0/24'] },
  { allowed_countries: ['FR'] },
  { thresholds: { step_up: 10, deny: 20 }, weights: { new_route: 15 } },
  { on_new_key: 'deny', on_new_network: 'step_up' },
  { rate_limit_per_minute: 1, baseline: { factor: 2, min_minutes: 1 } },
  { routes: [{ path: '/orders/**', acr: ATTESTED, max_age: 60, scopes: ['orders:write'], max_risk: 5, sensitive: true }] },
  { allowed_hours: { timezone: 'Europe/Berlin', days: [1], from: '01:00', to: '02:00' } },
];

const CASES: [string, RiskContext, ClientState][] = [
  ['a usual call', call(), known()],
  ['a call from a new network with a new key, busy', call({ ip: '2001:db8::1' }), known({ networkSeen: false, keySeen: false, routeSeen: false, callsThisMinute: 12, baselinePerMinute: 2, baselineMinutes: 30 })],
  ['a copied token with failures', call({}, { iat: SEC - 600, authTime: SEC - 600, acr: LIVE }), known({ tokenNetworks: 3, recentFailures: 7 })],
  ['an issuance by the step-up grant', { kind: 'issuance', now: NOW, clientId: 'c1', ip: '10.1.2.3', scopes: [], proven: { acr: LIVE, authTime: SEC } }, known({ learning: true })],
  ['a federated issuance', { kind: 'issuance', now: NOW, clientId: 'c1', scopes: ['a'], federated: { issuer: 'https://ci.example', subject: 'repo:x', claims: { ref: 'main' } } }, known({ subjectSeen: false })],
];

describe('recorded context: a decision re-evaluated from what it recorded', () => {
  for (const [name, ctx, state] of CASES) {
    it(`${name}: the same decision as evaluate() under every policy`, () => {
      const recorded = stored(ctx, state);
      for (const policy of POLICIES) {
        assert.deepEqual(reevaluate(recorded, ctx.clientId, new Date(ctx.now), policy), evaluate(ctx, state, policy), JSON.stringify(policy));
      }
    });
  }

  it('keeps no token id, no expiry and no federated claims', () => {
    const text = JSON.stringify(recordedContext(call({ federated: { issuer: 'i', subject: 's', claims: { secretish: 'x' } } }, { jti: 'the-jti', exp: SEC + 60 }), known()));
    assert.doesNotMatch(text, /the-jti|"exp"|secretish|"jti"|clientId|"now"/);
    assert.ok(text.length < 600, `${text.length} characters`);
  });

  it('refuses what it cannot evaluate faithfully: absent, another version, malformed', () => {
    const good = stored(call(), known()) as Record<string, unknown>;
    const at = new Date(NOW);
    assert.equal(replayedInputs(null, 'c1', at), null);
    assert.equal(replayedInputs({ ...good, v: 2 }, 'c1', at), null);
    assert.equal(replayedInputs({ ...good, kind: 'other' }, 'c1', at), null);
    assert.equal(replayedInputs({ ...good, scopes: 'orders:read' }, 'c1', at), null);
    assert.equal(replayedInputs({ ...good, state: { ...(good.state as object), learning: 'no' } }, 'c1', at), null);
    assert.equal(replayedInputs({ ...good, token: { iat: 'yesterday' } }, 'c1', at), null);
    assert.equal(replayedInputs({ ...good, token: { iat: 1, acr: 'urn:other' } }, 'c1', at), null);
    assert.equal(replayedInputs(good, 'c1', new Date(NaN)), null);
    assert.equal(reevaluate([], 'c1', at, {}), null);
    assert.notEqual(replayedInputs(good, 'c1', at), null);
  });
});
