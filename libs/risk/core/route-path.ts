import picomatch from 'picomatch';
import type { RouteRule } from './types.js';

/**
 * The path a route rule is matched against. Gateways hand us the raw request target
 * (nginx's $request_uri: `/a/../b`, `%2e%2e` included); the backend behind them resolves it,
 * so we must resolve it the same way first, or a client dodges `/admin/**` with `/x/../admin`.
 */
const MAX_TARGET = 8192;
const HEX = '0123456789ABCDEF';
const utf8 = new TextEncoder();
/** RFC 3986 §2.3 unreserved: decoded wherever they appear percent-encoded. */
const UNRESERVED = /[A-Za-z0-9\-._~]/;
/** RFC 3986 §3.3 pchar besides unreserved and pct-encoded: kept as they are. */
const PCHAR_OTHER = "!$&'()*+,;=:@/";
const HEX_PAIR = /^[0-9A-Fa-f]{2}$/;
const ABSOLUTE = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/;
const REPEATED_SLASHES = /\/{2,}/g;

/** Upper-case %XY of each UTF-8 byte of a character that may not appear raw in a path. */
function encodeChar(ch: string): string {
  let out = '';
  for (const byte of utf8.encode(ch)) out += `%${HEX[byte >> 4]}${HEX[byte & 15]}`;
  return out;
}

/**
 * §2.1 / §2.3 / §6.2.2: decode unreserved, upper-case other escapes, encode what may not be raw.
 * Refuses (undefined) what a backend could read as a separator or that has no place in a path:
 * encoded '/' or '\' (%2F, %5C), raw '\', NUL and other controls (raw or encoded), a lone '%'.
 */
function canonicalEscapes(path: string): string | undefined {
  let out = '';
  for (let i = 0; i < path.length; i++) {
    const ch = path[i]!;
    const code = ch.charCodeAt(0);
    if (code < 0x21 || code === 0x7f || ch === '\\') return undefined;
    if (ch === '%') {
      const hex = path.slice(i + 1, i + 3);
      if (!HEX_PAIR.test(hex)) return undefined;
      const byte = parseInt(hex, 16);
      if (byte < 0x20 || byte === 0x7f || byte === 0x2f || byte === 0x5c) return undefined;
      const decoded = String.fromCharCode(byte);
      out += byte < 0x80 && UNRESERVED.test(decoded) ? decoded : `%${hex.toUpperCase()}`;
      i += 2;
    } else if (code < 0x80 && (UNRESERVED.test(ch) || PCHAR_OTHER.includes(ch))) {
      out += ch;
    } else {
      const char = String.fromCodePoint(path.codePointAt(i)!); // a whole surrogate pair
      out += encodeChar(char);
      i += char.length - 1;
    }
  }
  return out;
}

/**
 * RFC 3986 §5.2.4 remove_dot_segments over an absolute path whose repeated slashes are already
 * collapsed. A segment that is a dot segment with a ';' parameter (`..;`) is refused: some
 * servlet containers strip parameters before resolving (`/public/..;/admin` → `/admin`).
 */
function removeDotSegments(path: string): string | undefined {
  const segments = path.split('/').slice(1);
  const out: string[] = [];
  segments.forEach((segment, i) => {
    const last = i === segments.length - 1;
    if (segment === '.' || segment === '..') {
      if (segment === '..') out.pop();
      if (last) out.push(''); // "/a/.." is "/", "/a/." is "/a/": the trailing slash stays
    } else {
      out.push(segment);
    }
  });
  if (segments.some((s) => /^\.\.?;/.test(s))) return undefined;
  return `/${out.join('/')}`;
}

/**
 * The normalised path of a request target (origin-form, or absolute-form whose scheme and
 * authority are dropped): query and fragment dropped, escapes canonical, repeated slashes
 * collapsed, dot segments (encoded ones too: `%2e%2e` is `..` once decoded) resolved. Case is
 * kept: paths are case-sensitive (RFC 3986 §6.2.2.1). Undefined when the target is refused.
 */
export function normalizePath(raw: string): string | undefined {
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > MAX_TARGET) return undefined;
  let target = raw;
  const absolute = ABSOLUTE.exec(target);
  if (absolute) target = target.slice(absolute[0].length) || '/';
  const end = target.search(/[?#]/);
  const path = end === -1 ? target : target.slice(0, end);
  if (!path.startsWith('/')) return undefined;
  const escaped = canonicalEscapes(path);
  if (escaped === undefined) return undefined;
  return removeDotSegments(escaped.replace(REPEATED_SLASHES, '/'));
}

interface CompiledRule {
  methods?: ReadonlySet<string>;
  test: (path: string) => boolean;
}

/**
 * Compiled matchers per rule object: compiling a glob is far costlier than running it. Keyed by
 * the rule object (effective policies are frozen and shared), so they go when the policy goes.
 */
const compiled = new WeakMap<RouteRule, CompiledRule>();

function compile(rule: RouteRule): CompiledRule {
  let c = compiled.get(rule);
  if (!c) {
    let test: (path: string) => boolean;
    try {
      const re = picomatch.makeRe(rule.path, { dot: true });
      test = (path) => re.test(path);
    } catch {
      test = () => false; // checkPolicy refuses globs picomatch cannot compile
    }
    c = { methods: rule.methods?.length ? new Set(rule.methods.map((m) => m.toUpperCase())) : undefined, test };
    compiled.set(rule, c);
  }
  return c;
}

/** The first rule whose methods (absent = all) and path glob match; undefined when none does. */
export function matchRoute(rules: readonly RouteRule[] | undefined, method: string, path: string): RouteRule | undefined {
  if (!rules) return undefined;
  const m = method.toUpperCase();
  for (const rule of rules) {
    const c = compile(rule);
    if ((!c.methods || c.methods.has(m)) && c.test(path)) return rule;
  }
  return undefined;
}

/** Compiles a glob the way matchRoute does; throws when picomatch cannot (for checkPolicy). */
export function compileGlob(glob: string): void {
  picomatch.makeRe(glob, { dot: true });
}

/** Segments that name one object rather than a route: numbers, UUIDs, long hex or opaque ids. */
const ID_SEGMENT = /^(?:\d+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{16,}|(?=[^/]*\d)[A-Za-z0-9_\-.~%]{20,})$/i;
const MAX_ROUTE_KEY = 256;

/**
 * What "this route" means for learning (new_route): "METHOD /path" with id-like segments as '*'
 * (`GET /orders/8812` and `GET /orders/8813` are one route), at most 256 characters. The store
 * does not see the policy, so this does not depend on the route rules.
 */
export function routeKey(method: string, path: string): string {
  const generic = path
    .split('/')
    .map((s) => (ID_SEGMENT.test(s) ? '*' : s))
    .join('/');
  return `${method.toUpperCase()} ${generic}`.slice(0, MAX_ROUTE_KEY);
}

/** A scope set as one comparable value: sorted, unique, space-separated. */
export function scopeSetKey(scopes: readonly string[]): string {
  return [...new Set(scopes)].sort().join(' ');
}
