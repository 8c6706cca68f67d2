import { type BeforeApplicationShutdown, Controller, Get, Header, Inject, Query, Req, Res, ServiceUnavailableException, UseGuards } from '@nestjs/common';
import type { Request, Response } from 'express';
import { ADMIN_SESSIONS, AdminInputError, type AdminSessions, AdminTokenGuard, type FieldProblem, sessionCookie } from '#admin';
import type { FedDecision } from './decision-feed.js';
import { DECISION_KINDS, DECISION_OUTCOMES, type DecisionFilter, DecisionLog, type DecisionOutcome, type SummaryFilter } from './decision-log.js';

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

/** What a stored or streamed decision looks like on the wire. */
export function toWire(d: FedDecision) {
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

/** The summary's windows: how far back, and how wide each bucket is. */
export const SUMMARY_WINDOWS = {
  hour: { buckets: 60, bucketSeconds: 60 },
  day: { buckets: 96, bucketSeconds: 15 * 60 },
} as const;
export type SummaryWindow = keyof typeof SUMMARY_WINDOWS;
const SUMMARY_PARAMETERS = ['window', 'client_id', 'decision', 'reason', 'route'] as const;

/**
 * The summary's query: `window` (hour, the default, or day) and the same filters as the stream
 * but kind; each known, given once, 1 to 1024 characters; else a 400 naming it. The window ends
 * at `now` and starts at the beginning of its oldest bucket, so it has exactly `buckets` buckets.
 */
export function parseSummaryQuery(query: Record<string, unknown>, now: number): SummaryFilter & { window: SummaryWindow } {
  const problems: FieldProblem[] = [];
  for (const [name, value] of Object.entries(query)) {
    if (!(SUMMARY_PARAMETERS as readonly string[]).includes(name)) problems.push({ field: name, message: 'unknown parameter' });
    else if (typeof value !== 'string' || !value || value.length > 1024) problems.push({ field: name, message: 'must be given once, 1 to 1024 characters' });
  }
  const given = (name: (typeof SUMMARY_PARAMETERS)[number]) => (typeof query[name] === 'string' && query[name] ? (query[name] as string) : undefined);
  const window = (given('window') ?? 'hour') as SummaryWindow;
  if (!Object.hasOwn(SUMMARY_WINDOWS, window)) problems.push({ field: 'window', message: `must be one of ${Object.keys(SUMMARY_WINDOWS).join(', ')}` });
  const decision = given('decision');
  if (decision !== undefined && !(DECISION_OUTCOMES as readonly string[]).includes(decision)) {
    problems.push({ field: 'decision', message: `must be one of ${DECISION_OUTCOMES.join(', ')}` });
  }
  if (problems.length) throw new AdminInputError(problems);
  const { buckets, bucketSeconds } = SUMMARY_WINDOWS[window];
  const width = bucketSeconds * 1000;
  return {
    window,
    bucketSeconds,
    since: new Date((Math.floor(now / width) - buckets + 1) * width),
    until: new Date(now),
    clientId: given('client_id'),
    decision: decision as DecisionOutcome | undefined,
    reason: given('reason'),
    route: given('route'),
  };
}

const STREAM_PARAMETERS = ['client_id', 'decision', 'reason', 'route', 'kind'] as const;

/** What a live view asked to see: each given field must match (route: a prefix of the decision's route). */
export interface StreamFilter {
  clientId?: string;
  decision?: string;
  reason?: string;
  route?: string;
  kind?: string;
}

export function parseStreamQuery(query: Record<string, unknown>): StreamFilter {
  const problems: FieldProblem[] = [];
  const filter: StreamFilter = {};
  for (const [name, value] of Object.entries(query)) {
    if (!(STREAM_PARAMETERS as readonly string[]).includes(name)) problems.push({ field: name, message: 'unknown parameter' });
    else if (typeof value !== 'string' || !value || value.length > 1024) problems.push({ field: name, message: 'must be given once, 1 to 1024 characters' });
  }
  const given = (name: (typeof STREAM_PARAMETERS)[number]) => (typeof query[name] === 'string' && query[name] ? (query[name] as string) : undefined);
  filter.clientId = given('client_id');
  filter.decision = given('decision');
  filter.reason = given('reason');
  filter.route = given('route');
  filter.kind = given('kind');
  if (filter.decision && !(DECISION_OUTCOMES as readonly string[]).includes(filter.decision)) {
    problems.push({ field: 'decision', message: `must be one of ${DECISION_OUTCOMES.join(', ')}` });
  }
  if (filter.kind && !(DECISION_KINDS as readonly string[]).includes(filter.kind)) problems.push({ field: 'kind', message: `must be one of ${DECISION_KINDS.join(', ')}` });
  if (problems.length) throw new AdminInputError(problems);
  return filter;
}

export function matchesStream(filter: StreamFilter, d: FedDecision): boolean {
  if (filter.clientId !== undefined && d.clientId !== filter.clientId) return false;
  if (filter.decision !== undefined && d.decision !== filter.decision) return false;
  if (filter.kind !== undefined && d.kind !== filter.kind) return false;
  if (filter.route !== undefined && !(d.route ?? '').startsWith(filter.route)) return false;
  if (filter.reason !== undefined && !(Array.isArray(d.reasons) && d.reasons.some((r: { code?: unknown }) => r?.code === filter.reason))) return false;
  return true;
}

/** Live streams open at once on this instance; past it, 503 (each one costs a socket and a filter per decision). */
export const MAX_STREAMS = 32;
/** Bytes a stream may have waiting in its socket; a consumer that falls further behind is dropped (it may reconnect). */
const MAX_BUFFERED = 1024 * 1024;
/** A comment line this often keeps proxies from closing an idle stream; a console session is checked again as often. */
const HEARTBEAT_MS = 10_000;

/**
 * GET /admin/decisions: the decision log, newest first, filtered by client_id, decision and a
 * time window (since inclusive, until exclusive), paged with an opaque next_cursor.
 */
@Controller('admin/decisions')
@UseGuards(AdminTokenGuard)
export class DecisionsController implements BeforeApplicationShutdown {
  /** Open streams, each by the function that ends it. */
  private readonly streams = new Set<() => void>();

  constructor(
    private readonly log: DecisionLog,
    @Inject(ADMIN_SESSIONS) private readonly sessions: AdminSessions,
  ) {}

  @Get()
  @Header('Cache-Control', 'no-store')
  async list(@Query() query: Record<string, unknown>) {
    const filter = parseDecisionQuery(query ?? {});
    const { decisions, more } = await this.log.query(filter);
    const last = decisions[decisions.length - 1];
    return { decisions: decisions.map(toWire), next_cursor: more && last ? encodeCursor(last.at, last.id) : null };
  }

  /**
   * GET /admin/decisions/summary: decisions per bucket and outcome over the last hour (minutes)
   * or day (15 minutes), counted in the database, for the console's charts. Only buckets with
   * decisions are listed; `until` is the instant the count was taken (a live view adds decisions
   * from then on).
   */
  @Get('summary')
  @Header('Cache-Control', 'no-store')
  async summary(@Query() query: Record<string, unknown>) {
    const filter = parseSummaryQuery(query ?? {}, Date.now());
    const buckets = await this.log.summary(filter);
    const totals = { allow: 0, step_up: 0, deny: 0, invalid: 0 };
    for (const b of buckets) for (const o of DECISION_OUTCOMES) totals[o] += b.counts[o];
    return {
      window: filter.window,
      bucket_seconds: filter.bucketSeconds,
      since: filter.since.toISOString(),
      until: filter.until.toISOString(),
      totals,
      buckets: buckets.map((b) => ({ start: new Date(b.start * 1000).toISOString(), ...b.counts })),
    };
  }

  /**
   * GET /admin/decisions/stream: decisions as this instance records them, as Server-Sent Events
   * (HTML Living Standard §9.2; one `decision` event per decision, its id the decision id),
   * filtered by client_id, decision, reason (a reason code), route (a prefix) and kind. This
   * instance's decisions only: behind a load balancer or with several workers, each stream shows
   * the share of the instance it reached (the history, GET /admin/decisions, shows all).
   * Bounded: MAX_STREAMS at once, and a consumer that leaves more than MAX_BUFFERED unread is
   * disconnected. A stream opened with a console session ends when the session does.
   */
  /** Streams never end by themselves: they are ended before the HTTP server closes, or it would wait for them. */
  beforeApplicationShutdown(): void {
    for (const end of [...this.streams]) end();
  }

  @Get('stream')
  stream(@Query() query: Record<string, unknown>, @Req() req: Request, @Res() res: Response): void {
    const filter = parseStreamQuery(query ?? {});
    if (this.log.feed.subscribers >= MAX_STREAMS) {
      res.setHeader('Retry-After', '30');
      throw new ServiceUnavailableException({ error: 'temporarily_unavailable', error_description: `at most ${MAX_STREAMS} decision streams at once` });
    }
    const session = req.headers.authorization === undefined ? sessionCookie(req.headers.cookie) : undefined;
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      'X-Accel-Buffering': 'no',
      Connection: 'keep-alive',
    });
    res.flushHeaders();
    res.write('retry: 3000\n: decisions as they are recorded\n\n');
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      this.streams.delete(end);
      unsubscribe();
      clearInterval(heartbeat);
      res.end();
    };
    const unsubscribe = this.log.feed.subscribe((batch) => {
      let chunk = '';
      for (const d of batch) if (matchesStream(filter, d)) chunk += `event: decision\nid: ${d.id}\ndata: ${JSON.stringify(toWire(d))}\n\n`;
      if (!chunk) return;
      res.write(chunk);
      if (res.writableLength > MAX_BUFFERED) end();
    });
    const heartbeat = setInterval(() => {
      res.write(': keep-alive\n\n');
      if (res.writableLength > MAX_BUFFERED) return end();
      if (session !== undefined) {
        this.sessions.find(session).then((s) => s || end(), end);
      }
    }, HEARTBEAT_MS);
    heartbeat.unref();
    this.streams.add(end);
    req.on('close', end);
    res.on('error', end);
  }
}
