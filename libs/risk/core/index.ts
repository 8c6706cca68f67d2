/** The pure risk engine: data in, data out (no NestJS, no I/O, no clock of its own). */
export * from './types.js';
export { checkPolicy, mergePolicies, isCidr, isTimeZone, SIGNAL_CODES, HTTP_METHODS, MAX_ROUTES, MAX_SCORE, type PolicyProblem } from './policy-check.js';
export { inNetworks, networkOf, parseIp } from './network.js';
export { withinHours, localTime, type AllowedHours } from './hours.js';
export { normalizePath, matchRoute, routeKey, scopeSetKey } from './route-path.js';
export * from './signals.js';
export {
  evaluate,
  acrRank,
  DEFAULT_THRESHOLDS,
  DEFAULT_STEP_UP_ACR,
  DEFAULT_STEP_UP_MAX_AGE,
  DEFAULT_ON_NEW_KEY,
  DEFAULT_ON_NEW_NETWORK,
} from './evaluate.js';
export { recordedContext, replayedInputs, reevaluate, type RecordedContext } from './recorded-context.js';
