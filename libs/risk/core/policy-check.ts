import ipaddr from 'ipaddr.js';
import { compileGlob } from './route-path.js';
import { DEFAULT_WEIGHTS } from './signals.js';
import { ACR_LEVELS, type RiskPolicy, type RouteRule, type SignalCode } from './types.js';

/**
 * Validation of a RiskPolicy document as received from an administrator (JSON). Each problem
 * names the exact field (`allowed_networks[1]`, `routes[0].methods[2]`) so the admin API can
 * answer with something a human can fix. Pure: no I/O.
 */
export interface PolicyProblem {
  field: string;
  message: string;
}

/** Every SignalCode (the keys of DEFAULT_WEIGHTS: one table, no second list to keep in step). */
export const SIGNAL_CODES = Object.keys(DEFAULT_WEIGHTS) as readonly SignalCode[];

export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;
export const MAX_ROUTES = 100;
/** Scores are bounded so that weights, thresholds and max_risk stay on one comparable scale. */
export const MAX_SCORE = 1000;

const POLICY_KEYS = new Set([
  'allowed_networks',
  'allowed_countries',
  'allowed_hours',
  'rate_limit_per_minute',
  'baseline',
  'thresholds',
  'step_up_acr',
  'step_up_max_age',
  'on_new_key',
  'on_new_network',
  'weights',
  'routes',
]);
const ROUTE_KEYS = new Set(['methods', 'path', 'acr', 'max_age', 'scopes', 'max_risk', 'sensitive']);
const HOURS_KEYS = new Set(['timezone', 'days', 'from', 'to']);
const ACTIONS = ['allow', 'step_up', 'deny'];
const HHMM = /^(?:[01]\d|2[0-3]):[0-5]\d$/;
const COUNTRY = /^[A-Z]{2}$/;
/** RFC 6749 §3.3 scope-token: printable ASCII except space, '"' and '\'. */
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;
/** Generous bounds so a document cannot be made huge through one list. */
const MAX_LIST = 1000;
const MAX_STRING = 512;

type Problems = PolicyProblem[];

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);

function unknownKeys(obj: Record<string, unknown>, allowed: Set<string>, prefix: string, out: Problems): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.has(key)) out.push({ field: prefix + key, message: 'unknown field' });
  }
}

function positiveInt(v: unknown, field: string, out: Problems, max = Number.MAX_SAFE_INTEGER): void {
  if (!isInt(v) || v < 1 || v > max) out.push({ field, message: `must be an integer from 1 to ${max}` });
}

function score(v: unknown, field: string, out: Problems): boolean {
  if (!isInt(v) || v < 0 || v > MAX_SCORE) {
    out.push({ field, message: `must be an integer from 0 to ${MAX_SCORE}` });
    return false;
  }
  return true;
}

/** Runs `each` on every element of an array field; refuses non-arrays and oversized lists. */
function list(v: unknown, field: string, out: Problems, each: (item: unknown, field: string) => void, max = MAX_LIST): void {
  if (!Array.isArray(v)) {
    out.push({ field, message: 'must be an array' });
    return;
  }
  if (v.length > max) {
    out.push({ field, message: `at most ${max} entries` });
    return;
  }
  v.forEach((item, i) => each(item, `${field}[${i}]`));
}

/**
 * A CIDR such as 10.0.0.0/8 or 2001:db8::/32; a bare address is refused (ambiguous intent), and
 * IPv4 must be four-part decimal (ipaddr.js also reads "10/8" or octal "010.0.0.0/8").
 */
export function isCidr(v: unknown): boolean {
  if (typeof v !== 'string' || v.length > 64) return false;
  try {
    const [addr] = ipaddr.parseCIDR(v);
    return addr.kind() === 'ipv6' || ipaddr.IPv4.isValidCIDRFourPartDecimal(v);
  } catch {
    return false;
  }
}

/** Whether Intl knows this IANA zone (throws RangeError otherwise). */
export function isTimeZone(v: unknown): boolean {
  if (typeof v !== 'string' || v === '' || v.length > 64) return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: v });
    return true;
  } catch {
    return false;
  }
}

function acr(v: unknown, field: string, out: Problems): void {
  if (!(ACR_LEVELS as readonly unknown[]).includes(v)) out.push({ field, message: `must be one of ${ACR_LEVELS.join(', ')}` });
}

function action(v: unknown, field: string, out: Problems): void {
  if (!ACTIONS.includes(v as string)) out.push({ field, message: `must be one of ${ACTIONS.join(', ')}` });
}

function checkHours(v: unknown, out: Problems): void {
  const f = 'allowed_hours';
  if (!isObject(v)) {
    out.push({ field: f, message: 'must be an object' });
    return;
  }
  unknownKeys(v, HOURS_KEYS, `${f}.`, out);
  if (!isTimeZone(v.timezone)) out.push({ field: `${f}.timezone`, message: 'must be an IANA time zone, e.g. Europe/Paris' });
  for (const key of ['from', 'to'] as const) {
    if (typeof v[key] !== 'string' || !HHMM.test(v[key] as string)) out.push({ field: `${f}.${key}`, message: 'must be HH:MM (00:00–23:59)' });
  }
  if (v.from !== undefined && v.from === v.to && HHMM.test(String(v.from))) {
    out.push({ field: `${f}.to`, message: 'must differ from from (an empty window)' });
  }
  if (v.days !== undefined) {
    list(v.days, `${f}.days`, out, (d, field) => {
      if (!isInt(d) || d < 0 || d > 6) out.push({ field, message: 'must be an integer from 0 (Sunday) to 6' });
    }, 7);
  }
}

function checkThresholds(v: unknown, out: Problems): void {
  if (!isObject(v)) {
    out.push({ field: 'thresholds', message: 'must be an object' });
    return;
  }
  unknownKeys(v, new Set(['step_up', 'deny']), 'thresholds.', out);
  const a = score(v.step_up, 'thresholds.step_up', out);
  const b = score(v.deny, 'thresholds.deny', out);
  if (a && b && (v.step_up as number) >= (v.deny as number)) {
    out.push({ field: 'thresholds', message: 'step_up must be lower than deny' });
  }
}

function checkBaseline(v: unknown, out: Problems): void {
  if (!isObject(v)) {
    out.push({ field: 'baseline', message: 'must be an object' });
    return;
  }
  unknownKeys(v, new Set(['factor', 'min_minutes']), 'baseline.', out);
  const factor = v.factor;
  if (typeof factor !== 'number' || !Number.isFinite(factor) || factor <= 1 || factor > 1000) {
    out.push({ field: 'baseline.factor', message: 'must be a number above 1 and at most 1000' });
  }
  positiveInt(v.min_minutes, 'baseline.min_minutes', out, 525_600);
}

function checkWeights(v: unknown, out: Problems): void {
  if (!isObject(v)) {
    out.push({ field: 'weights', message: 'must be an object' });
    return;
  }
  for (const [key, value] of Object.entries(v)) {
    if (!(SIGNAL_CODES as readonly string[]).includes(key)) out.push({ field: `weights.${key}`, message: 'unknown signal' });
    else score(value, `weights.${key}`, out);
  }
}

function checkRoute(v: unknown, f: string, out: Problems): void {
  if (!isObject(v)) {
    out.push({ field: f, message: 'must be an object' });
    return;
  }
  unknownKeys(v, ROUTE_KEYS, `${f}.`, out);
  const path = v.path;
  if (typeof path !== 'string' || !path.startsWith('/') || path.length > MAX_STRING || /[\x00-\x20\x7f\\]/.test(path)) {
    out.push({ field: `${f}.path`, message: "must be a glob starting with '/' without spaces or backslashes" });
  } else {
    try {
      compileGlob(path);
    } catch {
      out.push({ field: `${f}.path`, message: 'is not a valid glob' });
    }
  }
  if (v.methods !== undefined) {
    list(v.methods, `${f}.methods`, out, (m, field) => {
      if (!(HTTP_METHODS as readonly unknown[]).includes(m)) out.push({ field, message: `must be one of ${HTTP_METHODS.join(' ')}` });
    }, HTTP_METHODS.length);
  }
  if (v.acr !== undefined) acr(v.acr, `${f}.acr`, out);
  if (v.max_age !== undefined) positiveInt(v.max_age, `${f}.max_age`, out, 31_536_000);
  if (v.scopes !== undefined) {
    list(v.scopes, `${f}.scopes`, out, (s, field) => {
      if (typeof s !== 'string' || s.length > MAX_STRING || !SCOPE_TOKEN.test(s)) out.push({ field, message: 'must be a scope token (RFC 6749 §3.3)' });
    }, 100);
  }
  if (v.max_risk !== undefined) score(v.max_risk, `${f}.max_risk`, out);
  if (v.sensitive !== undefined && typeof v.sensitive !== 'boolean') out.push({ field: `${f}.sensitive`, message: 'must be a boolean' });
}

/** Every problem in the document; an empty list means it is a valid RiskPolicy. */
export function checkPolicy(doc: unknown): PolicyProblem[] {
  const out: Problems = [];
  if (!isObject(doc)) return [{ field: '', message: 'policy must be a JSON object' }];
  unknownKeys(doc, POLICY_KEYS, '', out);
  if (doc.allowed_networks !== undefined) {
    list(doc.allowed_networks, 'allowed_networks', out, (c, field) => {
      if (!isCidr(c)) out.push({ field, message: 'must be a CIDR range, e.g. 10.0.0.0/8 or 2001:db8::/32' });
    });
  }
  if (doc.allowed_countries !== undefined) {
    list(doc.allowed_countries, 'allowed_countries', out, (c, field) => {
      if (typeof c !== 'string' || !COUNTRY.test(c)) out.push({ field, message: 'must be an ISO 3166-1 alpha-2 code in upper case' });
    }, 300);
  }
  if (doc.allowed_hours !== undefined) checkHours(doc.allowed_hours, out);
  if (doc.rate_limit_per_minute !== undefined) positiveInt(doc.rate_limit_per_minute, 'rate_limit_per_minute', out, 10_000_000);
  if (doc.baseline !== undefined) checkBaseline(doc.baseline, out);
  if (doc.thresholds !== undefined) checkThresholds(doc.thresholds, out);
  if (doc.step_up_acr !== undefined) acr(doc.step_up_acr, 'step_up_acr', out);
  if (doc.step_up_max_age !== undefined) positiveInt(doc.step_up_max_age, 'step_up_max_age', out, 86_400);
  if (doc.on_new_key !== undefined) action(doc.on_new_key, 'on_new_key', out);
  if (doc.on_new_network !== undefined) action(doc.on_new_network, 'on_new_network', out);
  if (doc.weights !== undefined) checkWeights(doc.weights, out);
  if (doc.routes !== undefined) list(doc.routes, 'routes', out, (r, field) => checkRoute(r, field, out), MAX_ROUTES);
  return out;
}

/**
 * A client's own policy over the server default: each of own's fields replaces base's whole
 * field (a client's allowed_networks is its list, not a union); routes are own's first then
 * base's (first match wins, so the client's rules take precedence); weights merge key by key.
 */
export function mergePolicies(base: RiskPolicy, own?: RiskPolicy): RiskPolicy {
  if (!own) return base;
  const merged: RiskPolicy = { ...base };
  for (const [key, value] of Object.entries(own) as [keyof RiskPolicy, unknown][]) {
    if (value !== undefined) (merged as Record<string, unknown>)[key] = value;
  }
  if (base.weights || own.weights) merged.weights = { ...base.weights, ...own.weights };
  if (base.routes || own.routes) merged.routes = [...(own.routes ?? []), ...(base.routes ?? [])] as RouteRule[];
  return merged;
}
