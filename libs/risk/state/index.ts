/** Learned risk state (memory or Redis) and the country lookup: the I/O around the pure core. */
export { type RiskStateStore, type LearnedState, type LearnedMember, RISK_STATE, RISK_STATE_LIMITS, openRiskStateStore, factsOf, type Facts } from './store.js';
export { MemoryRiskStateStore } from './memory-store.js';
export { RedisRiskStateStore, openRedisRiskStateStore } from './redis-store.js';
export { countryOf, loadCountryData, COUNTRY_DATA_VERSION, COUNTRY_DATA_DATE } from './country.js';
export { EWMA_ALPHA, type BaselineRecord } from './baseline.js';
