/**
 * The CBOR encoder WebAuthn attestation objects and COSE keys need (RFC 8949): integers, byte
 * and text strings, arrays, maps, booleans and null, always in the core deterministic encoding
 * (RFC 8949 §4.2.1: shortest argument, definite lengths, map keys sorted by their encoded bytes).
 * No floats, tags or decoder: nothing here needs them.
 */
export type CborValue =
  | number
  | bigint
  | string
  | boolean
  | null
  | Uint8Array
  | readonly CborValue[]
  | ReadonlyMap<number | string, CborValue>
  | { readonly [key: string]: CborValue };

const UINT64_MAX = (1n << 64n) - 1n;

/** The initial byte and argument of a data item (RFC 8949 §3), in its shortest form (§4.2.1). */
function head(major: number, argument: bigint): Uint8Array {
  const type = major << 5;
  if (argument < 24n) return Uint8Array.of(type | Number(argument));
  const size = argument <= 0xffn ? 1 : argument <= 0xffffn ? 2 : argument <= 0xffffffffn ? 4 : 8;
  const out = new Uint8Array(1 + size);
  out[0] = type | { 1: 24, 2: 25, 4: 26, 8: 27 }[size]!;
  for (let i = size, rest = argument; i > 0; i--, rest >>= 8n) out[i] = Number(rest & 0xffn);
  return out;
}

function integer(value: bigint): Uint8Array {
  // §3.1: major type 1 carries -1 - n.
  const [major, argument] = value >= 0n ? [0, value] : [1, -1n - value];
  if (argument > UINT64_MAX) throw new RangeError('CBOR integer out of range (RFC 8949 §3.1: 64-bit argument)');
  return head(major, argument);
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

function encodeMap(entries: [number | string, CborValue][]): Uint8Array {
  const encoded = entries.map(([key, value]) => [encodeCbor(key), encodeCbor(value)] as const);
  // §4.2.1: keys sorted by the bytewise lexicographic order of their deterministic encodings.
  encoded.sort(([a], [b]) => compareBytes(a, b));
  return concat([head(5, BigInt(encoded.length)), ...encoded.flat()]);
}

/** Encodes `value` in the core deterministic encoding (RFC 8949 §4.2.1). */
export function encodeCbor(value: CborValue): Uint8Array {
  if (value === false) return Uint8Array.of(0xf4); // §3.3 simple values 20, 21, 22
  if (value === true) return Uint8Array.of(0xf5);
  if (value === null) return Uint8Array.of(0xf6);
  if (typeof value === 'bigint') return integer(value);
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new TypeError('only safe integers are encoded (use bigint beyond 2^53)');
    return integer(BigInt(value));
  }
  if (typeof value === 'string') {
    const bytes = new TextEncoder().encode(value);
    return concat([head(3, BigInt(bytes.length)), bytes]);
  }
  if (value instanceof Uint8Array) return concat([head(2, BigInt(value.length)), value]);
  if (Array.isArray(value)) return concat([head(4, BigInt(value.length)), ...value.map(encodeCbor)]);
  if (value instanceof Map) return encodeMap([...(value as ReadonlyMap<number | string, CborValue>).entries()]);
  return encodeMap(Object.entries(value));
}
