/** Nest injection token for the KeyRing. */
export const KEY_RING = Symbol('KeyRing');
