export { HealthController } from './health.controller.js';
export { jsonLogger } from './logger.js';
