export { loadConfig, ConfigError, type TollgateConfig } from './config.js';
/** Nest injection token for the loaded TollgateConfig. */
export const CONFIG = Symbol('TollgateConfig');
