/** Nest injection token for the KeyRing. */
export const KEY_RING = Symbol('KeyRing');
/** Nest injection token for the key-encryption key (32 bytes): signing keys at rest, and what DPoP nonce secrets derive from. */
export const KEY_ENCRYPTION_KEY = Symbol('KeyEncryptionKey');
