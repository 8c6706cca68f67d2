import type { LoggerService, LogLevel } from '@nestjs/common';

/** The levels an operator sees (and sets with TOLLGATE_LOG_LEVEL). */
export type Level = 'debug' | 'info' | 'warn' | 'error';

const RANK: Record<Level, number> = { debug: 0, info: 1, warn: 2, error: 3 };
/** Nest's six levels folded into ours; `fatal` also marks the entry `"fatal":true`. */
const LEVEL_OF: Record<LogLevel, Level> = { verbose: 'debug', debug: 'debug', log: 'info', warn: 'warn', error: 'error', fatal: 'error' };

/** Bounds, so that no caller can write an unbounded line. */
export const LOG_LIMITS = { chars: 1000, items: 50, keys: 50, depth: 4 } as const;

const RESERVED = new Set(['time', 'level', 'message', 'context']);
// Nest passes stack traces as a separate string argument (ConsoleLogger.isStackFormat).
const STACK = /\n[ \t]+at .+:\d+:\d+/;

export type LogFields = Record<string, unknown>;

/**
 * One log event as the object written on its line: time (ISO 8601, UTC), level, message (a
 * string), context (the logger's name), then the caller's fields. Pure: the time is passed in.
 *
 * `message` is what a Nest logger method received: a string, or an object whose `message`
 * member becomes the message and whose other members become fields, or an Error. `params` are
 * Nest's optional parameters: a trailing string is the context, stack traces are dropped,
 * objects add fields, Errors add `error`/`detail`, anything else is appended to the message.
 */
export function logEntry(nestLevel: LogLevel, message: unknown, params: readonly unknown[], defaultContext: string, time: Date): LogFields {
  const rest = [...params];
  let context = defaultContext;
  const last = rest.at(-1);
  if (typeof last === 'string' && !STACK.test(last)) {
    context = last;
    rest.pop();
  }
  const fields: LogFields = {};
  const words: string[] = [];
  const add = (part: unknown, isMessage: boolean) => {
    if (part instanceof Error) {
      if (isMessage) words.push(text(part.message || part.name));
      merge(fields, errorFields(part));
    } else if (part !== null && typeof part === 'object' && !Array.isArray(part)) {
      const { message: inner, ...others } = part as LogFields;
      if (isMessage || inner !== undefined) {
        if (inner instanceof Error) add(inner, true);
        else if (inner !== undefined) words.push(text(inner));
      }
      merge(fields, others);
    } else if (part !== undefined && !(typeof part === 'string' && STACK.test(part))) {
      words.push(text(part));
    }
  };
  add(message, true);
  for (const param of rest) add(param, false);

  const entry: LogFields = { time: time.toISOString(), level: LEVEL_OF[nestLevel] ?? 'info', message: cut(words.join(' ')), context: cut(context) };
  if (nestLevel === 'fatal') entry.fatal = true;
  let keys = 0;
  for (const [key, value] of Object.entries(fields)) {
    if (keys++ >= LOG_LIMITS.keys) break;
    // A caller's `level` or `time` never replaces ours; it is kept under another name.
    entry[RESERVED.has(key) || key === 'fatal' ? `field_${key}` : cut(key)] = bounded(value, 1);
  }
  return entry;
}

/**
 * The line for an entry. JSON.stringify escapes every control character, so no value can start
 * a new line; U+2028/U+2029 are valid JSON but end lines for some readers, so they are escaped too.
 */
export function logLine(entry: LogFields): string {
  return JSON.stringify(entry).replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

export interface JsonLoggerOptions {
  /** Context when the caller names none (Nest passes its own, e.g. `InstanceLoader`). */
  context?: string;
  /** Where lines go; stdout by default. Tests capture them here. */
  write?: (line: string) => void;
}

/**
 * Nest's logger for Tollgate: one JSON object per line on stdout. Nothing logs tokens, proofs,
 * assertions, secrets or private keys: callers log identifiers (client_id, kid, jti hashes)
 * and outcomes only.
 */
export class JsonLogger implements LoggerService {
  private threshold: number;
  private readonly context: string;
  private readonly write: (line: string) => void;

  constructor(level: Level | string = 'info', options: JsonLoggerOptions = {}) {
    this.threshold = RANK[level as Level] ?? RANK.info;
    this.context = options.context ?? 'tollgate';
    this.write = options.write ?? ((line) => void process.stdout.write(`${line}\n`));
  }

  log(message: unknown, ...params: unknown[]): void {
    this.emit('log', message, params);
  }
  error(message: unknown, ...params: unknown[]): void {
    this.emit('error', message, params);
  }
  warn(message: unknown, ...params: unknown[]): void {
    this.emit('warn', message, params);
  }
  debug(message: unknown, ...params: unknown[]): void {
    this.emit('debug', message, params);
  }
  verbose(message: unknown, ...params: unknown[]): void {
    this.emit('verbose', message, params);
  }
  fatal(message: unknown, ...params: unknown[]): void {
    this.emit('fatal', message, params);
  }

  /** Nest's `app.useLogger([...levels])`: the least severe level given becomes the threshold. */
  setLogLevels(levels: LogLevel[]): void {
    const ranks = levels.map((l) => RANK[LEVEL_OF[l]]).filter((r) => r !== undefined);
    this.threshold = ranks.length ? Math.min(...ranks) : Number.POSITIVE_INFINITY;
  }

  isEnabled(level: LogLevel): boolean {
    return RANK[LEVEL_OF[level] ?? 'info'] >= this.threshold;
  }

  private emit(level: LogLevel, message: unknown, params: unknown[]): void {
    if (!this.isEnabled(level)) return;
    this.write(logLine(logEntry(level, message, params, this.context, new Date())));
  }
}

function errorFields(error: Error): LogFields {
  return { error: cut(error.name || 'Error'), detail: cut(String(error.message ?? '')) };
}

function merge(into: LogFields, from: LogFields): void {
  for (const [key, value] of Object.entries(from)) if (!(key in into)) into[key] = value;
}

function cut(value: string): string {
  return value.length > LOG_LIMITS.chars ? `${value.slice(0, LOG_LIMITS.chars)}…` : value;
}

/** A string for the message: strings as they are, other values as JSON (bounded). */
function text(value: unknown): string {
  if (typeof value === 'string') return cut(value);
  if (typeof value === 'bigint' || typeof value === 'symbol' || typeof value === 'function') return cut(String(value));
  try {
    return cut(JSON.stringify(bounded(value, 1)) ?? String(value));
  } catch {
    return cut(String(value));
  }
}

/** A JSON-safe copy with strings cut, arrays and objects capped, depth limited (cycles end there), Errors without stacks. */
function bounded(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return cut(value);
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  if (typeof value === 'boolean' || value === null || value === undefined) return value;
  if (typeof value === 'bigint') return String(value);
  if (typeof value !== 'object') return undefined; // functions, symbols: JSON has no place for them
  if (value instanceof Error) return errorFields(value);
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    try {
      return bounded((value as { toJSON(): unknown }).toJSON(), depth);
    } catch {
      return '[unserialisable]';
    }
  }
  if (depth >= LOG_LIMITS.depth) return Array.isArray(value) ? '[array]' : '[object]';
  if (Array.isArray(value)) {
    const items = value.slice(0, LOG_LIMITS.items).map((v) => bounded(v, depth + 1) ?? null);
    if (value.length > LOG_LIMITS.items) items.push(`… ${value.length - LOG_LIMITS.items} more`);
    return items;
  }
  if (value instanceof Map || value instanceof Set) return bounded([...value], depth);
  const out: LogFields = {};
  let keys = 0;
  for (const [key, v] of Object.entries(value)) {
    if (keys++ >= LOG_LIMITS.keys) {
      out['…'] = 'more keys';
      break;
    }
    out[cut(key)] = bounded(v, depth + 1);
  }
  return out;
}
