export { startTollgate, type RunningTollgate, type StartOptions, testConfig } from './server.js';
export { Workload, type WorkloadOptions } from './workload.js';
export { freePort } from './processes.js';
export { registerGateway, startProtectedApi, type Gateway, type ProtectedApi } from './gateway.js';
export { NGINX, startNginx, startEchoUpstream, nginxConfig, type RunningNginx } from './nginx.js';
export { attestationChain, issued, privateKeyPem, rootCa, type TestCertificate } from './attestation.js';
export { sendFrom, type SourcedResponse } from './source.js';
export { tlsServerCertificate } from './tls.js';
export { keepDefaultPolicy } from './policy.js';
