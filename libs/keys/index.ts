export { KeyRing, type SigningKeyView } from './key-ring.js';
export { loadKeyEncryptionKey } from './key-encryption.js';
export { KeysModule } from './admin-keys.controller.js';
export { KEY_ENCRYPTION_KEY, KEY_RING } from './tokens.js';
