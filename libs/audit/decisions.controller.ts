import { Controller, Get, Header, Query, UseGuards } from '@nestjs/common';
import { AdminInputError, AdminTokenGuard, type FieldProblem } from '#admin';
import { DECISION_OUTCOMES, type DecisionFilter, DecisionLog, type DecisionOutcome, type StoredDecision } from './decision-log.js';

const PARAMETERS = ['client_id', 'decision', 'since', 'until', 'limit', 'cursor'] as const;
const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 200;

// RFC 3339 §5.6 date-time; "T" and "Z" may be lower case (§5.6 NOTE). No leap seconds: a
// JavaScript Date cannot hold them.
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;

function daysIn(year: number, month: number): number {
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  return [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]!;
}

/** The instant an RFC 3339 timestamp names (to the millisecond, the column's precision), or null. */
export function parseDateTime(value: string): Date | null {
  const m = DATE_TIME.exec(value);
  if (!m) return null;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const [offsetHours, offsetMinutes] = [Number(m[9] ?? 0), Number(m[10] ?? 0)];
  if (month < 1 || month > 12 || day < 1 || day > daysIn(year, month) || hour > 23 || minute > 59 || second > 59) return null;
  if (offsetHours > 23 || offsetMinutes > 59) return null;
  const millis = Number((m[7] ?? '').padEnd(3, '0').slice(0, 3));
  const date = new Date(Date.UTC(2000, month - 1, day, hour, minute, second, millis));
  date.setUTCFullYear(year);
  const offset = (m[8] === '-' ? -1 : 1) * (offsetHours * 60 + offsetMinutes) * 60_000;
  return new Date(date.getTime() - offset);
}

/** Opaque keyset cursor: the last entry's (at, id); new entries sort before it, so pages stay stable. */
export function encodeCursor(at: Date, id: string): string {
  return Buffer.from(JSON.stringify([at.getTime(), id])).toString('base64url');
}

export function decodeCursor(cursor: string): { at: Date; id: string } | null {
  if (!/^[A-Za-z0-9_-]{1,600}$/.test(cursor)) return null;
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (!Array.isArray(value) || value.length !== 2) return null;
    const [at, id] = value as unknown[];
    if (typeof at !== 'number' || !Number.isSafeInteger(at) || Number.isNaN(new Date(at).getTime())) return null;
    // Printable ASCII only (decision ids are UUIDs): a NUL or lone surrogate must not reach the query.
    if (typeof id !== 'string' || !/^[\x21-\x7e]{1,200}$/.test(id)) return null;
    return { at: new Date(at), id };
  } catch {
    return null;
  }
}

/** Every problem with the query, each naming its parameter (400 invalid_request), or the filter. */
export function parseDecisionQuery(query: Record<string, unknown>): DecisionFilter {
  const problems: FieldProblem[] = [];
  for (const name of Object.keys(query)) {
    if (!(PARAMETERS as readonly string[]).includes(name)) problems.push({ field: name, message: 'unknown parameter' });
  }
  const single = (name: (typeof PARAMETERS)[number]): string | undefined => {
    const value = query[name];
    if (value === undefined) return undefined;
    if (typeof value !== 'string') {
      problems.push({ field: name, message: 'must be given once, as a single value' });
      return undefined;
    }
    if (!value) problems.push({ field: name, message: 'must not be empty' });
    return value || undefined;
  };
  const filter: DecisionFilter = { limit: DEFAULT_LIMIT };

  const clientId = single('client_id');
  if (clientId !== undefined) filter.clientId = clientId;

  const decision = single('decision');
  if (decision !== undefined) {
    if ((DECISION_OUTCOMES as readonly string[]).includes(decision)) filter.decision = decision as DecisionOutcome;
    else problems.push({ field: 'decision', message: `must be one of ${DECISION_OUTCOMES.join(', ')}` });
  }

  for (const name of ['since', 'until'] as const) {
    const value = single(name);
    if (value === undefined) continue;
    const at = parseDateTime(value);
    if (at) filter[name] = at;
    else problems.push({ field: name, message: 'must be an RFC 3339 timestamp, e.g. 2026-11-23T21:00:00Z' });
  }
  if (filter.since && filter.until && filter.since >= filter.until) problems.push({ field: 'until', message: 'must be later than since' });

  const limit = single('limit');
  if (limit !== undefined) {
    const n = /^\d{1,4}$/.test(limit) ? Number(limit) : NaN;
    if (n >= 1 && n <= MAX_LIMIT) filter.limit = n;
    else problems.push({ field: 'limit', message: `must be an integer from 1 to ${MAX_LIMIT}` });
  }

  const cursor = single('cursor');
  if (cursor !== undefined) {
    const after = decodeCursor(cursor);
    if (after) filter.after = after;
    else problems.push({ field: 'cursor', message: 'is not a cursor this endpoint returned' });
  }

  if (problems.length) throw new AdminInputError(problems);
  return filter;
}

function toWire(d: StoredDecision) {
  return {
    decision_id: d.id,
    at: d.at.toISOString(),
    kind: d.kind,
    client_id: d.clientId,
    method: d.method,
    route: d.route,
    decision: d.decision,
    score: d.score,
    reasons: d.reasons,
    ip: d.ip,
    request_id: d.requestId,
    ...(d.identity ? { identity: d.identity } : {}),
  };
}

/**
 * GET /admin/decisions: the decision log, newest first, filtered by client_id, decision and a
 * time window (since inclusive, until exclusive), paged with an opaque next_cursor.
 */
@Controller('admin/decisions')
@UseGuards(AdminTokenGuard)
export class DecisionsController {
  constructor(private readonly log: DecisionLog) {}

  @Get()
  @Header('Cache-Control', 'no-store')
  async list(@Query() query: Record<string, unknown>) {
    const filter = parseDecisionQuery(query ?? {});
    const { decisions, more } = await this.log.query(filter);
    const last = decisions[decisions.length - 1];
    return { decisions: decisions.map(toWire), next_cursor: more && last ? encodeCursor(last.at, last.id) : null };
  }
}
