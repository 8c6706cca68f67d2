export { KeyRing, type SigningKeyView } from './key-ring.js';
export { loadKeyEncryptionKey } from './key-encryption.js';
/** Nest injection token for the KeyRing. */
export const KEY_RING = Symbol('KeyRing');
