import { ACR } from '#protocol';
/** Test fixtures for the pure risk engine (not exported from the library): a usual call and a known client. */
import type { Acr, ClientState, RiskContext } from './types.js';

export const NOW = Date.parse('2026-11-23T12:00:00Z');
export const SEC = NOW / 1000;
export const KEY: Acr = ACR.key;
export const LIVE: Acr = ACR.live;
export const ATTESTED: Acr = ACR.attested;

/** An ordinary call: known IP, country, route, scopes and DPoP key; a 10-second-old key-level token. */
export const call = (over: Partial<RiskContext> = {}, token: Partial<NonNullable<RiskContext['token']>> = {}): RiskContext => ({
  kind: 'call',
  now: NOW,
  clientId: 'c1',
  ip: '10.1.2.3',
  country: 'DE',
  method: 'GET',
  path: '/orders/1',
  audience: 'https://api.example.com',
  scopes: ['orders:read'],
  dpopJkt: 'jkt-1',
  token: { jti: 't1', iat: SEC - 10, acr: KEY, ...token },
  ...over,
});

/** A client that has learned everything about the call above. */
export const known = (over: Partial<ClientState> = {}): ClientState => ({
  callsThisMinute: 1,
  baselinePerMinute: 0,
  baselineMinutes: 0,
  routeSeen: true,
  networkSeen: true,
  keySeen: true,
  scopesSeen: true,
  audienceSeen: true,
  subjectSeen: true,
  tokenNetworks: 1,
  recentFailures: 0,
  learning: false,
  ...over,
});
