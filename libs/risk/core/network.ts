import ipaddr from 'ipaddr.js';

/**
 * IP addresses and networks. Addresses are read strictly: IPv4 only in four-part decimal
 * (ipaddr.js alone also reads "127.1" or "0x7f.0.0.1", forms no socket ever reports), and an
 * IPv4-mapped IPv6 address (::ffff:10.1.2.3, what a dual-stack socket reports) is its IPv4 address.
 */
type Address = ipaddr.IPv4 | ipaddr.IPv6;
type Range = [Address, number];

/**
 * Addresses already read, and their networks: the same few callers and gateways come back with
 * every call. Bounded (emptied when full, so a source cycling through addresses costs at most
 * one parse each, as without it); the values are never changed by their users.
 */
const MEMO_MAX = 4096;
const parsed = new Map<string, Address | null>();
const networks = new Map<string, string | null>();
const remembered = <T>(memo: Map<string, T>, key: string, value: T): T => {
  if (memo.size >= MEMO_MAX) memo.clear();
  memo.set(key, value);
  return value;
};

export function parseIp(ip: string): Address | undefined {
  if (typeof ip !== 'string' || ip.length > 64) return undefined;
  const known = parsed.get(ip);
  if (known !== undefined) return known ?? undefined;
  return remembered(parsed, ip, readIp(ip) ?? null) ?? undefined;
}

function readIp(ip: string): Address | undefined {
  if (ipaddr.IPv4.isValidFourPartDecimal(ip)) return ipaddr.IPv4.parse(ip);
  if (!ip.includes(':') || !ipaddr.IPv6.isValid(ip)) return undefined;
  const v6 = ipaddr.IPv6.parse(ip);
  return v6.isIPv4MappedAddress() ? v6.toIPv4Address() : v6;
}

/** A CIDR as a comparable range; an IPv4-mapped IPv6 range (::ffff:a.b.c.d/96+) as its IPv4 range. */
function parseRange(cidr: string): Range | undefined {
  try {
    const [addr, bits] = ipaddr.parseCIDR(cidr);
    if (addr.kind() === 'ipv6' && bits >= 96 && (addr as ipaddr.IPv6).isIPv4MappedAddress()) {
      return [(addr as ipaddr.IPv6).toIPv4Address(), bits - 96];
    }
    if (addr.kind() === 'ipv4' && !ipaddr.IPv4.isValidCIDRFourPartDecimal(cidr)) return undefined;
    return [addr, bits];
  } catch {
    return undefined;
  }
}

/**
 * Parsed ranges per allowed_networks array. Effective policies are frozen and shared (see
 * RiskPolicies), so the array object is a stable key; the WeakMap drops entries with the policy.
 */
const ranges = new WeakMap<readonly string[], Range[]>();

function rangesOf(cidrs: readonly string[]): Range[] {
  let parsed = ranges.get(cidrs);
  if (!parsed) {
    // An unparsable entry (checkPolicy refuses them) matches nothing: it can only narrow the list.
    parsed = cidrs.map(parseRange).filter((r): r is Range => r !== undefined);
    ranges.set(cidrs, parsed);
  }
  return parsed;
}

/** Whether ip lies in one of the CIDR ranges; an unparsable ip is in none. */
export function inNetworks(ip: string, cidrs: readonly string[]): boolean {
  const addr = parseIp(ip);
  if (!addr) return false;
  for (const [net, bits] of rangesOf(cidrs)) {
    if (net.kind() === addr.kind() && addr.match(net, bits)) return true;
  }
  return false;
}

/**
 * The network an address belongs to for learning: its /24 (IPv4) or /48 (IPv6, a typical site
 * allocation), e.g. "203.0.113.0/24", "2001:db8:1::/48". Undefined for an unparsable ip.
 */
export function networkOf(ip: string): string | undefined {
  const known = networks.get(ip);
  if (known !== undefined) return known ?? undefined;
  return remembered(networks, ip, learningNetwork(ip) ?? null) ?? undefined;
}

function learningNetwork(ip: string): string | undefined {
  const addr = parseIp(ip);
  if (!addr) return undefined;
  if (addr.kind() === 'ipv4') {
    const [a, b, c] = (addr as ipaddr.IPv4).octets;
    return `${a}.${b}.${c}.0/24`;
  }
  const [p0, p1, p2] = (addr as ipaddr.IPv6).parts;
  return `${new ipaddr.IPv6([p0!, p1!, p2!, 0, 0, 0, 0, 0]).toString()}/48`;
}
