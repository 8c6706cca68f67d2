/** cluster-key-slot (ioredis's own dependency) ships no types: the Redis Cluster key slot, hash tags honoured. */
declare module 'cluster-key-slot' {
  function calculateSlot(key: string): number;
  export = calculateSlot;
}
