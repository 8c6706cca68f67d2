export { ConnectionWatch, errorCode, watchRedis, type ConnectionLogger, type Dependency } from './connection-watch.js';
