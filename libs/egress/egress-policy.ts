import ipaddr from 'ipaddr.js';
import { domainToASCII } from 'node:url';
import { EgressRefused } from './egress-refused.js';

/** What the operator allows beyond public addresses (from configuration). */
export interface EgressPolicy {
  /** Host names (exact, case-insensitive) and CIDRs (v4/v6) that may be reached although private/loopback/etc. */
  allow: readonly string[];
  /** Extra trusted CA certificates (PEM), added to Node's default roots, for https fetches. */
  ca?: string;
}

type Address = ipaddr.IPv4 | ipaddr.IPv6;
type Range = [Address, number];

/** Names that always mean the local machine (RFC 6761 §6.3), whatever DNS says. */
const isLocalhost = (name: string) => name === 'localhost' || name.endsWith('.localhost');

/** Cloud instance-metadata services (credentials, user data): never a client's key server. */
const METADATA_NAMES = new Set([
  'metadata',
  'metadata.google.internal', // Google Cloud
  'metadata.goog',
  'instance-data', // AWS EC2
  'instance-data.ec2.internal',
]);

const LABEL = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/;

/** A host name as URLs carry it: lower case, punycode, no trailing dot; undefined when it is not one. */
function hostName(raw: string): string | undefined {
  const name = domainToASCII(raw.replace(/\.+$/, ''));
  if (!name || name.length > 253) return undefined;
  const labels = name.split('.');
  // A numeric last label makes the WHATWG URL parser read the whole host as IPv4 (e.g. "127.1").
  if (!labels.every((label) => LABEL.test(label)) || /^(0x[0-9a-f]*|\d+)$/.test(labels.at(-1)!)) return undefined;
  return name;
}

/** A literal address, strictly: IPv4 only in four-part decimal, IPv6 with or without brackets. */
function literalAddress(raw: string): Address | undefined {
  const ip = raw.startsWith('[') && raw.endsWith(']') ? raw.slice(1, -1) : raw;
  if (ip.includes('%')) return undefined; // a zone id (fe80::1%eth0) names an interface, not a destination
  if (ipaddr.IPv4.isValidFourPartDecimal(ip)) return ipaddr.IPv4.parse(ip);
  if (ip.includes(':') && ipaddr.IPv6.isValid(ip)) return ipaddr.IPv6.parse(ip);
  return undefined;
}

/**
 * The IPv4 address that decides where an IPv6 address goes, when it embeds one: IPv4-mapped
 * ::ffff:a.b.c.d and IPv4-compatible ::a.b.c.d (RFC 4291 §2.5.5), IPv4-translated
 * ::ffff:0:a.b.c.d (RFC 6145 §2.1), and the NAT64 well-known prefix 64:ff9b::/96 (RFC 6052 §2.1).
 */
function embeddedIpv4(v6: ipaddr.IPv6): ipaddr.IPv4 | undefined {
  const [p0, p1, p2, p3, p4, p5, p6, p7] = v6.parts as [number, number, number, number, number, number, number, number];
  const ipv4 = () => new ipaddr.IPv4([p6 >> 8, p6 & 0xff, p7 >> 8, p7 & 0xff]);
  const zeroUpTo4 = p0 === 0 && p1 === 0 && p2 === 0 && p3 === 0;
  if (zeroUpTo4 && p4 === 0 && (p5 === 0xffff || (p5 === 0 && (p6 !== 0 || p7 > 1)))) return ipv4();
  if (zeroUpTo4 && p4 === 0xffff && p5 === 0) return ipv4();
  if (p0 === 0x64 && p1 === 0xff9b && p2 === 0 && p3 === 0 && p4 === 0 && p5 === 0) return ipv4();
  return undefined;
}

const GLOBAL_UNICAST_V6: Range = [ipaddr.IPv6.parse('2000::'), 3];

/**
 * Why an address is not public, or undefined when it is global unicast. ipaddr.js names every
 * special range (loopback, private, linkLocal, carrierGradeNat, uniqueLocal, 6to4, teredo,
 * reserved incl. documentation…); only `unicast` is public, and for IPv6 only inside 2000::/3
 * (RFC 4291 §2.4: the rest of the space is unassigned or special).
 */
export function nonPublicRange(address: Address): string | undefined {
  if (address.kind() === 'ipv6') {
    const v6 = address as ipaddr.IPv6;
    const v4 = embeddedIpv4(v6);
    if (v4) return nonPublicRange(v4);
    const range = v6.range();
    if (range !== 'unicast') return range;
    return v6.match(GLOBAL_UNICAST_V6) ? undefined : 'unassigned';
  }
  const range = (address as ipaddr.IPv4).range();
  return range === 'unicast' ? undefined : range;
}

/** The allow list compiled once per array (policies are built once from configuration). */
interface AllowList {
  names: Set<string>;
  ranges: Range[];
}

const compiled = new WeakMap<readonly string[], AllowList>();

function allowList(allow: readonly string[]): AllowList {
  let list = compiled.get(allow);
  if (!list) {
    list = { names: new Set(), ranges: [] };
    for (const raw of allow) {
      // An entry that does not parse (parseEgressAllow refuses those) admits nothing: it can only narrow.
      const entry = allowEntry(raw);
      if (typeof entry === 'string') list.names.add(entry);
      else if (entry) list.ranges.push(entry);
    }
    compiled.set(allow, list);
  }
  return list;
}

/** An IPv4-mapped address or range is judged as the IPv4 one it stands for. */
function comparable(address: Address): Address {
  return address.kind() === 'ipv6' && (address as ipaddr.IPv6).isIPv4MappedAddress() ? (address as ipaddr.IPv6).toIPv4Address() : address;
}

const inRanges = (address: Address, ranges: Range[]) => {
  const a = comparable(address);
  return ranges.some(([net, bits]) => net.kind() === a.kind() && a.match(net, bits));
};

/** One allow entry: a host name (string), a range, or undefined when it is neither. */
function allowEntry(raw: string): string | Range | undefined {
  const entry = raw.trim().toLowerCase();
  if (entry.includes('/')) {
    try {
      const [net, bits] = ipaddr.parseCIDR(entry);
      if (net.kind() === 'ipv4' && !ipaddr.IPv4.isValidCIDRFourPartDecimal(entry)) return undefined;
      if (net.kind() === 'ipv6' && bits >= 96 && (net as ipaddr.IPv6).isIPv4MappedAddress()) {
        return [ipaddr.IPv4.networkAddressFromCIDR(`${(net as ipaddr.IPv6).toIPv4Address()}/${bits - 96}`), bits - 96];
      }
      return [(net.kind() === 'ipv4' ? ipaddr.IPv4 : ipaddr.IPv6).networkAddressFromCIDR(entry), bits];
    } catch {
      return undefined;
    }
  }
  const address = literalAddress(entry);
  if (address) {
    const a = comparable(address);
    return [a, a.kind() === 'ipv4' ? 32 : 128];
  }
  return hostName(entry);
}

/**
 * Parses a TOLLGATE_EGRESS_ALLOW-style list ("keys.internal, 10.0.0.0/8, ::1/128") into
 * normalised entries: host names in lower-case ASCII, CIDRs as network/bits, a bare address as
 * its /32 or /128. Empty items are skipped; any other entry that is neither throws.
 */
export function parseEgressAllow(raw: string): string[] {
  const entries: string[] = [];
  for (const item of raw.split(',')) {
    if (!item.trim()) continue;
    const entry = allowEntry(item);
    if (entry === undefined) throw new Error(`"${item.trim()}" is neither a host name nor an IP address or CIDR`);
    entries.push(typeof entry === 'string' ? entry : `${entry[0].toString()}/${entry[1]}`);
  }
  return [...new Set(entries)];
}

/** Whether the operator's allow list admits this resolved or literal address. */
export function addressAllowed(address: string, policy: EgressPolicy): boolean {
  const parsed = literalAddress(address);
  return parsed !== undefined && (nonPublicRange(parsed) === undefined || inRanges(parsed, allowList(policy.allow).ranges));
}

/** Where a URL points, once its form and its host (without DNS) are acceptable. */
export interface Destination {
  url: URL;
  /** The host as written in the URL, for messages ("[::1]", "keys.example.com"). */
  host: string;
  /** The literal address, when the URL names one (then nothing is resolved). */
  address?: string;
  /** The host name is on the allow list: it is reached whatever it resolves to. */
  allowedByName: boolean;
}

/**
 * The registration-time rules for a URL someone else gives us (no network): https, no user
 * information, and a host that is not known to be non-public, unless the operator allowed it.
 * Throws EgressRefused.
 */
export function destinationOf(raw: string, policy: EgressPolicy): Destination {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new EgressRefused('bad_url', 'not a URL');
  }
  if (url.protocol !== 'https:') throw new EgressRefused('not_https', 'must use https');
  if (url.username || url.password) throw new EgressRefused('bad_url', 'must not contain user information');
  // The WHATWG parser has already turned every IPv4 spelling ("2130706433", "0x7f.1") into dotted decimal.
  const host = url.hostname;
  const allow = allowList(policy.allow);
  const literal = literalAddress(host);
  if (literal) {
    const range = nonPublicRange(literal);
    if (range && !inRanges(literal, allow.ranges)) throw new EgressRefused('address_not_allowed', `${host} is not a public address (${range})`);
    return { url, host, address: literal.toString(), allowedByName: false };
  }
  const name = host.replace(/\.+$/, '');
  if (allow.names.has(name)) return { url, host, allowedByName: true };
  if (isLocalhost(name) && !['127.0.0.1', '::1'].some((ip) => inRanges(literalAddress(ip)!, allow.ranges))) {
    throw new EgressRefused('address_not_allowed', `${host} is the local machine`);
  }
  if (METADATA_NAMES.has(name)) throw new EgressRefused('address_not_allowed', `${host} is a cloud metadata service`);
  return { url, host, allowedByName: false };
}

/** Registration-time check of a URL (no network): undefined when acceptable, else a short message. */
export function egressUrlProblem(url: string, policy: EgressPolicy): string | undefined {
  try {
    destinationOf(url, policy);
    return undefined;
  } catch (error) {
    if (error instanceof EgressRefused) return error.message;
    throw error;
  }
}
