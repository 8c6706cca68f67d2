export { HealthController } from './health.controller.js';
export { JsonLogger, type JsonLoggerOptions, type Level } from './logger.js';
export { Metrics, httpMetrics, type CacheStats } from './metrics.js';
export { MetricsController, MetricsModule } from './metrics.controller.js';
export { serveClusterMetrics } from './cluster-metrics.js';
export { assignRequestId, identifyRequest, requestIdFrom, requestIdOf, REQUEST_ID_HEADER } from './request-id.js';
export { startTracing, type Tracing } from './tracing.js';
