export { startTollgate, type RunningTollgate, testConfig } from './server.js';
export { Workload, type WorkloadOptions } from './workload.js';
