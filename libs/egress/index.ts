// Every fetch of a URL someone else controls (a client's jwks_uri, later others): https only,
// to allowed addresses only, bounded in time and size. docs/operations.md, "Outbound fetches".
export { EgressRefused, type EgressRefusalReason } from './egress-refused.js';
export { egressUrlProblem, parseEgressAllow, type EgressPolicy } from './egress-policy.js';
export { fetchJson, JWKS_FETCH_LIMITS, type FetchLimits } from './fetch-json.js';
export { SingleFlight } from './single-flight.js';
export { FetchedKeySets, KeySetUnavailable, type KeySetRefresh, type KeyedSet } from './fetched-key-sets.js';
