export { ClientsModule } from './clients.module.js';
export { ClientRegistry } from './client-registry.js';
export { ClientKeySets, ClientKeysUnavailable } from './client-key-sets.js';
export type { ClientRecord, ClientRole, ClientStatus } from './client-record.js';
export { SecretVerifier } from './client-secret.js';
export { ResourceCatalog, type ProtectedResource } from './resource-catalog.js';
