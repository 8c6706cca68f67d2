import { Inject, Injectable, Logger, type LoggerService, type OnApplicationShutdown, Optional } from '@nestjs/common';
import { Metrics } from '#operations';
import { DATABASE, type Database, DependencyUnavailable, isDependencyUnavailable, likeLiteral, Prisma } from '#persistence';
import { DecisionFeed } from './decision-feed.js';

export const DECISION_KINDS = ['check', 'issuance', 'introspection', 'step_up', 'revocation'] as const;
export const DECISION_OUTCOMES = ['allow', 'step_up', 'deny', 'invalid'] as const;
export type DecisionKind = (typeof DECISION_KINDS)[number];
export type DecisionOutcome = (typeof DECISION_OUTCOMES)[number];
/** Which decisions are committed before record() resolves (TOLLGATE_DECISION_DURABILITY). */
export type DecisionDurability = 'refusals' | 'all';

export interface DecisionReason {
  code: string;
  score: number;
  detail?: string;
}

/**
 * One decision as the hot path reports it. Ids, codes and outcomes only: never tokens, proofs,
 * assertions or secrets (only the fields below are kept; anything else on the object is ignored).
 */
export interface DecisionEntry {
  id: string;
  at: Date;
  kind: DecisionKind;
  clientId?: string;
  method?: string;
  route?: string;
  decision: DecisionOutcome;
  score: number;
  reasons: DecisionReason[];
  ip?: string;
  /** The request it was made under (X-Request-Id, docs/operations.md). */
  requestId?: string;
  /** docs/federation.md: the platform identity the workload authenticated with (issuer, subject, the claims its rule named). */
  identity?: DecisionIdentity;
  /**
   * What the risk judge evaluated (libs/risk/core RecordedContext), kept as JSON for the policy
   * dry run. Facts and learned-state answers only, never tokens, proofs or secrets. Kept by
   * reference and serialised by the batch writer, not on the request; one over MAX_CONTEXT_JSON
   * characters is stored as null (the decision is then not re-evaluable).
   */
  context?: object;
}

export interface DecisionIdentity {
  issuer: string;
  subject: string;
  claims?: Record<string, string>;
}

export interface DecisionLogOptions {
  /** Rows per insert; a queue this long is written at once instead of waiting for the timer. */
  batchSize: number;
  /** Longest an entry waits in the queue while the database is healthy. */
  flushIntervalMs: number;
  /** Entries held in memory (queued and being written); beyond it new entries are dropped and counted. */
  capacity: number;
  /** At most one "entries dropped" warning per interval (each one carries the count since the last). */
  dropWarningIntervalMs: number;
  /** Retries of a failed write back off from flushIntervalMs up to this. */
  maxRetryDelayMs: number;
  /** How long shutdown keeps trying to write what is still queued. */
  shutdownTimeoutMs: number;
  /** `refusals`: deny, step_up and invalid are committed before record() resolves, allows are batched; `all`: every decision. */
  durability: DecisionDurability;
  /** Longest record() waits for a commit before it rejects with DecisionNotRecorded (the entry stays queued). */
  durableTimeoutMs: number;
  /** Characters of JSON per insert statement; a batch larger than this goes in several (see insertRows). */
  statementChars: number;
  logger?: LoggerService;
}

export const DECISION_LOG_DEFAULTS: Readonly<DecisionLogOptions> = {
  batchSize: 500,
  flushIntervalMs: 250,
  statementChars: 64 * 1024,
  capacity: 50_000,
  dropWarningIntervalMs: 10_000,
  maxRetryDelayMs: 5_000,
  shutdownTimeoutMs: 5_000,
  durability: 'refusals',
  // A commit takes milliseconds (one insert, at most one more in flight before it); two seconds
  // is far beyond that on a loaded machine, and short enough that a gateway gets its 503 long
  // before its own timeout (NGINX waits 60 s by default).
  durableTimeoutMs: 2_000,
};

/**
 * A decision that had to be committed before its answer was not, within durableTimeoutMs (the
 * database is down or stalled), or could not be queued. The caller must not answer as if it were
 * recorded: the error filters render it as 503 temporarily_unavailable with Retry-After. The
 * entry itself stays queued (unless the queue was full) and is written when the database is back.
 */
export class DecisionNotRecorded extends DependencyUnavailable {
  override readonly name = 'DecisionNotRecorded';
}

const RESOLVED: Promise<void> = Promise.resolve();

/** A rejection that is handled already: awaiting it throws, leaving it alone never crashes the process. */
function handledRejection(error: Error): Promise<void> {
  const rejected = Promise.reject(error);
  rejected.catch(() => undefined);
  return rejected;
}

/** Optional Nest provider overriding DECISION_LOG_DEFAULTS. */
export const DECISION_LOG_OPTIONS = Symbol('DecisionLogOptions');

export interface DecisionFilter {
  clientId?: string;
  decision?: DecisionOutcome;
  /** Inclusive. */
  since?: Date;
  /** Exclusive. */
  until?: Date;
  limit: number;
  /** Keyset position: entries strictly older than this (at, then id, descending). */
  after?: { at: Date; id: string };
}

export type StoredDecision = Prisma.DecisionModel;

/** Which decisions a summary counts: all four filters are optional. */
export interface SummaryFilter {
  /** Inclusive. */
  since: Date;
  /** Exclusive. */
  until: Date;
  /** Bucket width in seconds (buckets start at multiples of it since the epoch). */
  bucketSeconds: number;
  clientId?: string;
  decision?: DecisionOutcome;
  /** A reason code the decision carries. */
  reason?: string;
  /** A prefix of the decision's route (taken literally). */
  route?: string;
}

/** One bucket of a summary: its start (epoch seconds) and the count per outcome. */
export interface SummaryBucket {
  start: number;
  counts: Record<DecisionOutcome, number>;
}

type Row = Omit<Prisma.DecisionCreateManyInput, 'identity' | 'context'> & { at: Date; reasons: DecisionReason[]; identity: DecisionIdentity | null; context: object | null };

/** A queued entry. */
interface Pending {
  row: Row;
  /** Order of record() calls: flush() waits for everything recorded before it. */
  seq: number;
  /** Set while a caller waits for this entry's commit. */
  waiter?: { resolve(): void; reject(error: Error): void; timer: NodeJS.Timeout };
}

const INT4 = 2 ** 31 - 1;
const LATEST = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
const MAX_REASONS = 32;
/** Consecutive refusals (database reachable) after which a batch is written row by row. */
const REFUSALS_BEFORE_ISOLATION = 3;
// Longest kept length per field: a path or a detail can come from a request, and the queue's
// bound is in entries, so each entry's size is bounded here.
const MAX_LENGTH = { clientId: 200, method: 16, route: 1024, ip: 64, requestId: 128, code: 64, detail: 512 } as const;

/**
 * What PostgreSQL refuses must never reach a batch (one bad row would fail all 500 on every
 * retry): NUL is not allowed in text or jsonb, nor a lone UTF-16 surrogate in jsonb. Both
 * become U+FFFD; over-long values are cut.
 */
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const PRINTABLE_ID = /^[\x21-\x7e]{1,200}$/;
/** A recorded context is a few hundred characters; a larger one (a huge scope list) is not kept. */
export const MAX_CONTEXT_JSON = 8192;
/** What JSON.stringify writes for NUL and for a lone surrogate: jsonb refuses both. */
const UNSTORABLE_ESCAPE = /\\u0000|\\ud[89a-f][0-9a-f]{2}/i;

/** The batch insert: $1 is a JSON array of rows (rowJson). */
const INSERT_DECISIONS = `
  INSERT INTO "decisions" ("id", "at", "kind", "client_id", "method", "route", "decision", "score", "reasons", "ip", "request_id", "identity", "context")
  SELECT "id", "at", "kind", "client_id", "method", "route", "decision", "score", "reasons", "ip", "request_id", "identity", "context"
  FROM jsonb_to_recordset($1::jsonb) AS r(
    "id" text, "at" timestamptz, "kind" text, "client_id" text, "method" text, "route" text, "decision" text,
    "score" int4, "reasons" jsonb, "ip" text, "request_id" text, "identity" jsonb, "context" jsonb
  )
  ON CONFLICT ("id") DO NOTHING`;

/** One row as an object of jsonb_to_recordset's document (insertRows). */
function rowJson(r: Row): string {
  const fields = JSON.stringify({
    id: r.id,
    at: r.at.toISOString(),
    kind: r.kind,
    client_id: r.clientId ?? null,
    method: r.method ?? null,
    route: r.route ?? null,
    decision: r.decision,
    score: r.score,
    reasons: r.reasons,
    ip: r.ip ?? null,
    request_id: r.requestId ?? null,
    identity: r.identity ?? null,
  });
  return `${fields.slice(0, -1)},"context":${contextJson(r.context) ?? 'null'}}`;
}

/** A context as stored: JSON text, with what jsonb refuses replaced, or null when too large. */
function contextJson(context: object | null): string | null {
  if (context === null) return null;
  let text = JSON.stringify(context);
  // Rare (a path or an audience carrying NUL or a lone surrogate): only then walk the strings.
  if (UNSTORABLE_ESCAPE.test(text)) text = JSON.stringify(context, (_key, value: unknown) => (typeof value === 'string' ? value.replace(UNSTORABLE, '\ufffd') : value));
  return text.length <= MAX_CONTEXT_JSON ? text : null;
}

function storable(value: string, max: number): string {
  return value.slice(0, max).replace(UNSTORABLE, '\ufffd');
}

/** Programming errors in the caller surface at once, in its tests, rather than as a stuck batch. */
function toRow(entry: DecisionEntry): Row {
  const fail = (what: string): never => {
    throw new TypeError(`DecisionLog.record: ${what}`);
  };
  if (typeof entry?.id !== 'string' || !PRINTABLE_ID.test(entry.id)) fail('id must be 1 to 200 printable ASCII characters');
  if (!(entry.at instanceof Date) || !(entry.at.getTime() >= 0 && entry.at.getTime() <= LATEST)) fail('at must be a valid Date between 1970 and 9999');
  if (!DECISION_KINDS.includes(entry.kind)) fail(`kind must be one of ${DECISION_KINDS.join(', ')}`);
  if (!DECISION_OUTCOMES.includes(entry.decision)) fail(`decision must be one of ${DECISION_OUTCOMES.join(', ')}`);
  if (typeof entry.score !== 'number' || !Number.isFinite(entry.score)) fail('score must be a finite number');
  if (!Array.isArray(entry.reasons)) fail('reasons must be an array');
  if (entry.context !== undefined && entry.context !== null && (typeof entry.context !== 'object' || Array.isArray(entry.context))) fail('context must be an object');
  const optional = (name: 'clientId' | 'method' | 'route' | 'ip' | 'requestId') => {
    const value = entry[name];
    if (value !== undefined && value !== null && typeof value !== 'string') fail(`${name} must be a string`);
    return typeof value === 'string' ? storable(value, MAX_LENGTH[name]) : null;
  };
  const reasons = entry.reasons.slice(0, MAX_REASONS).map((r) => {
    if (typeof r?.code !== 'string' || !r.code) fail('each reason needs a code');
    if (typeof r.score !== 'number' || !Number.isFinite(r.score)) fail('each reason needs a finite score');
    if (r.detail !== undefined && typeof r.detail !== 'string') fail('a reason detail must be a string');
    const code = storable(r.code, MAX_LENGTH.code);
    return r.detail === undefined ? { code, score: r.score } : { code, score: r.score, detail: storable(r.detail, MAX_LENGTH.detail) };
  });
  return {
    id: entry.id,
    at: new Date(entry.at.getTime()),
    kind: entry.kind,
    clientId: optional('clientId'),
    method: optional('method'),
    route: optional('route'),
    decision: entry.decision,
    score: Math.max(-INT4, Math.min(INT4, Math.round(entry.score))),
    reasons,
    ip: optional('ip'),
    requestId: optional('requestId'),
    identity: identityOf(entry.identity, fail),
    context: entry.context ?? null,
  };
}

/** The identity as stored: strings only, bounded like the other fields; at most 20 claims. */
function identityOf(identity: DecisionIdentity | undefined, fail: (what: string) => never): DecisionIdentity | null {
  if (identity === undefined || identity === null) return null;
  if (typeof identity.issuer !== 'string' || typeof identity.subject !== 'string') fail('identity needs an issuer and a subject');
  const claims = Object.entries(identity.claims ?? {})
    .slice(0, 20)
    .filter(([, value]) => typeof value === 'string')
    .map(([path, value]) => [storable(path, MAX_LENGTH.code), storable(value, MAX_LENGTH.detail)]);
  return {
    issuer: storable(identity.issuer, MAX_LENGTH.detail),
    subject: storable(identity.subject, MAX_LENGTH.detail),
    ...(claims.length ? { claims: Object.fromEntries(claims) } : {}),
  };
}

/**
 * The decision log: every allow / step_up / deny / invalid the hot paths reach, written to the
 * `decisions` table. The durability rule lives here (issue 9 §4): record() resolves once the
 * entry is as durable as `durability` demands for its outcome. A refusal (or, with `all`, any
 * decision) is committed before record() resolves, so a crash cannot lose a decision that was
 * answered; a batched allow resolves at once and is written within `flushIntervalMs`, which is
 * the window a `kill -9` can lose (docs/operations.md).
 *
 * Group commit: entries that must be durable do not each pay an insert. The next insert starts
 * at once, or as soon as the one in flight returns, and takes every durable entry waiting by
 * then (up to `batchSize`, ahead of batched allows, which fill the rest of it).
 *
 * Owner of an in-memory queue. Bound: `capacity` entries, counting the batch being written; when
 * full, new entries are dropped, counted (tollgate_decisions_dropped_total) and reported in a
 * warning at most once per `dropWarningIntervalMs` — never silently (an entry that had to be
 * durable rejects its record() at once). Writes: one insert per
 * batch of up to `batchSize`, when that many are queued or `flushIntervalMs` after the first one;
 * a failed write keeps its batch at the head of the queue and is retried with back-off; a batch
 * refused three times while the database answers is written row by row, and the rows it still
 * refuses are dropped, counted and logged (a bad row must not block the log). Entries
 * leave the queue only once written, so a retry after an unacknowledged commit can repeat rows:
 * the insert skips ids already present. The remainder is written on application shutdown.
 * A durable entry not committed within `durableTimeoutMs` rejects its record() with
 * DecisionNotRecorded (503 for the caller) and stays queued; while callers wait, a failed
 * write is retried every `flushIntervalMs` instead of backing off further.
 */
@Injectable()
export class DecisionLog implements OnApplicationShutdown {
  private readonly options: DecisionLogOptions;
  private readonly logger: LoggerService;
  /** Entries whose callers wait (or waited) for their commit: written first. */
  private readonly durable: Pending[] = [];
  /** Batched entries (allows, unless durability is `all`). */
  private readonly queue: Pending[] = [];
  private inflight: Promise<unknown> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private timerDue = Infinity;
  private accepted = 0;
  /** Callers waiting for a commit right now. */
  private waiting = 0;
  private lastError: unknown;
  private failures = 0;
  /** Consecutive failures while the database was reachable: the batch itself may be refused. */
  private refusals = 0;
  private closed = false;
  private droppedTotal = 0;
  private unreportedDrops = 0;
  private lastDropWarning = -Infinity;
  private dropWarningTimer: NodeJS.Timeout | null = null;
  private lastFailureWarning = -Infinity;
  private unreportedUnrecorded = 0;
  private lastUnrecordedWarning = -Infinity;
  /** Decisions as they are recorded, for live views (this process only). */
  readonly feed = new DecisionFeed();

  constructor(
    @Inject(DATABASE) private readonly db: Database,
    private readonly metrics: Metrics,
    @Optional() @Inject(DECISION_LOG_OPTIONS) options?: Partial<DecisionLogOptions>,
  ) {
    this.options = { ...DECISION_LOG_DEFAULTS, ...options };
    this.logger = this.options.logger ?? new Logger('decisions');
  }

  /** Entries held in memory, not yet written. */
  get pending(): number {
    return this.durable.length + this.queue.length;
  }

  /** Entries dropped since start: queue full, refused by the database, or still unwritten at shutdown. */
  get dropped(): number {
    return this.droppedTotal;
  }

  /**
   * Records one decision; resolves when it is as durable as the policy demands for its outcome:
   * at once for a batched allow, after its commit for a refusal (or any decision with `all`).
   * Rejects with DecisionNotRecorded when that commit does not happen within durableTimeoutMs:
   * answer 503, not the decision. A malformed entry throws at once (a caller bug). Never an
   * unhandled rejection for a caller that does not await.
   */
  record(entry: DecisionEntry): Promise<void> {
    const row = toRow(entry);
    this.metrics.decision(row.kind, row.decision, row.reasons);
    const durable = this.options.durability === 'all' || row.decision !== 'allow';
    if (this.closed || this.pending >= this.options.capacity) {
      this.drop();
      if (!durable) return RESOLVED;
      const error = new DecisionNotRecorded(`decision ${row.id} not recorded: ${this.closed ? 'shutting down' : 'the decision log queue is full'}`);
      this.unrecorded(error);
      return handledRejection(error);
    }
    const item: Pending = { row, seq: ++this.accepted };
    this.feed.publish(row as Row & { clientId: string | null; method: string | null; route: string | null; ip: string | null });
    if (!durable) {
      this.queue.push(item);
      if (this.queue.length >= this.options.batchSize && this.failures === 0) void this.pump();
      else this.schedule(this.options.flushIntervalMs);
      return RESOLVED;
    }
    const committed = new Promise<void>((resolve, reject) => {
      item.waiter = { resolve, reject, timer: setTimeout(() => this.expire(item), this.options.durableTimeoutMs) };
    });
    // A caller that does not await must not crash the process with an unhandled rejection.
    committed.catch(() => undefined);
    this.durable.push(item);
    this.waiting++;
    if (this.failures === 0) void this.pump();
    else this.schedule(this.retryDelay());
    return committed;
  }

  /** Writes everything recorded before the call; rejects if the database refuses (entries stay queued). */
  async flush(): Promise<void> {
    const target = this.accepted;
    while (this.oldestPending() <= target) {
      const joined = this.inflight !== null;
      const error = await this.pump();
      // A failure of a write started by someone else earns one attempt of our own before giving up.
      if (error !== undefined && !joined) throw error;
    }
  }

  /** Newest first: flushes first, so a decision recorded just before is included. */
  async query(filter: DecisionFilter): Promise<{ decisions: StoredDecision[]; more: boolean }> {
    await this.flush();
    const where: Prisma.DecisionWhereInput = {
      ...(filter.clientId !== undefined ? { clientId: filter.clientId } : {}),
      ...(filter.decision !== undefined ? { decision: filter.decision } : {}),
      ...(filter.since || filter.until ? { at: { ...(filter.since ? { gte: filter.since } : {}), ...(filter.until ? { lt: filter.until } : {}) } } : {}),
    };
    const after = filter.after;
    const rows = await this.db.prisma.decision.findMany({
      where: after ? { AND: [where, { OR: [{ at: { lt: after.at } }, { at: after.at, id: { lt: after.id } }] }] } : where,
      orderBy: [{ at: 'desc' }, { id: 'desc' }],
      take: filter.limit + 1,
    });
    return { decisions: rows.slice(0, filter.limit), more: rows.length > filter.limit };
  }

  /**
   * Decisions per time bucket and outcome, counted by the database (one GROUP BY over the
   * window's index range on decisions(at), or (client_id, at) / (decision, at) when filtered):
   * what the console's charts draw, instead of reading every row. Only buckets with decisions are
   * returned, oldest first. Flushes first, like query().
   */
  async summary(filter: SummaryFilter): Promise<SummaryBucket[]> {
    await this.flush();
    const conditions = [Prisma.sql`"at" >= ${filter.since.toISOString()}::timestamptz`, Prisma.sql`"at" < ${filter.until.toISOString()}::timestamptz`];
    if (filter.clientId !== undefined) conditions.push(Prisma.sql`"client_id" = ${filter.clientId}`);
    if (filter.decision !== undefined) conditions.push(Prisma.sql`"decision" = ${filter.decision}`);
    if (filter.reason !== undefined) conditions.push(Prisma.sql`"reasons" @> ${JSON.stringify([{ code: filter.reason }])}::jsonb`);
    if (filter.route !== undefined) conditions.push(Prisma.sql`"route" LIKE ${`${likeLiteral(filter.route)}%`}`);
    const rows = await this.db.prisma.$queryRaw<{ bucket: bigint | number; decision: string; n: number }[]>`
      SELECT floor(extract(epoch FROM "at") / ${filter.bucketSeconds}::int)::bigint AS bucket, "decision", count(*)::int AS n
      FROM "decisions"
      WHERE ${Prisma.join(conditions, ' AND ')}
      GROUP BY 1, 2
      ORDER BY 1`;
    const buckets = new Map<number, SummaryBucket>();
    for (const row of rows) {
      if (!(DECISION_OUTCOMES as readonly string[]).includes(row.decision)) continue;
      const start = Number(row.bucket) * filter.bucketSeconds;
      let b = buckets.get(start);
      if (!b) buckets.set(start, (b = { start, counts: { allow: 0, step_up: 0, deny: 0, invalid: 0 } }));
      b.counts[row.decision as DecisionOutcome] += Number(row.n);
    }
    return [...buckets.values()];
  }

  /**
   * Per client: its newest decision's time (null when it has none) and how many decisions it had
   * since `since`, for a page of the client list. One statement for the whole page, and bounded
   * work per client on the (client_id, at) index: max(at) reads one index entry, the count only
   * the entries since `since`. (A plain GROUP BY over the clients' decisions would read their
   * whole history to find max(at).) Writes what is queued first, like query(), but a write that
   * fails does not fail the client list: the counts then leave out what is still queued.
   */
  async activity(clientIds: readonly string[], since: Date): Promise<Map<string, { lastSeen: Date | null; since: number }>> {
    if (!clientIds.length) return new Map();
    await this.flush().catch(() => undefined);
    const rows = await this.db.prisma.$queryRaw<{ client_id: string; last_seen: Date | null; recent: number }[]>`
      SELECT c.id AS client_id,
        (SELECT max(d.at) FROM "decisions" d WHERE d.client_id = c.id) AS last_seen,
        (SELECT count(*)::int FROM "decisions" d WHERE d.client_id = c.id AND d.at >= ${since.toISOString()}::timestamptz) AS recent
      FROM unnest(${[...clientIds]}::text[]) AS c(id)`;
    return new Map(rows.map((r) => [r.client_id, { lastSeen: r.last_seen === null ? null : new Date(r.last_seen), since: Number(r.recent) }]));
  }

  /** Nest calls this after the HTTP server has stopped: nothing new arrives, the rest is written. */
  async onApplicationShutdown(): Promise<void> {
    this.closed = true;
    this.clearTimer();
    const deadline = Date.now() + this.options.shutdownTimeoutMs;
    while (this.pending && Date.now() < deadline) {
      let timeout: NodeJS.Timeout | undefined;
      const expired = new Promise<'expired'>((resolve) => {
        timeout = setTimeout(() => resolve('expired'), Math.max(deadline - Date.now(), 0));
      });
      try {
        if ((await Promise.race([this.flush(), expired])) === 'expired') break;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, Math.min(this.options.flushIntervalMs, Math.max(deadline - Date.now(), 0))));
      } finally {
        clearTimeout(timeout);
      }
    }
    if (this.pending) {
      const lost = [...this.durable.splice(0), ...this.queue.splice(0)];
      this.logger.error({ message: 'decision log: entries not written before shutdown', lost: lost.length });
      this.droppedTotal += lost.length;
      this.metrics.decisionsDropped(lost.length);
      for (const item of lost) this.settle(item, new DecisionNotRecorded(`decision ${item.row.id} not recorded before shutdown`));
    }
    if (this.dropWarningTimer) clearTimeout(this.dropWarningTimer);
    this.dropWarningTimer = null;
    this.reportDrops(true);
  }

  /**
   * `INSERT … SELECT FROM jsonb_to_recordset($1)`: the rows as one JSON document, written by
   * JSON.stringify (native) around each row's context, which is serialised once, and sent on the
   * driver (Database.write, not Prisma: see there). Arrays per column (unnest) cost more:
   * node-postgres escapes every array element with string replaces, the largest allocator on the
   * check path's thread in the profile. Ids already stored are skipped (a retry after a lost
   * acknowledgement, or after a batch failed half-way).
   *
   * A batch goes in statements of at most `statementChars` characters, one after the other: a
   * string past V8's largest young-generation object (128 KiB) is born in the old generation,
   * where only a full collection frees it; small ones die young, and the event loop serves
   * requests between the statements.
   */
  private async insertRows(rows: Row[]): Promise<number> {
    let written = 0;
    let json = '';
    for (let i = 0; i < rows.length; i++) {
      const row = rowJson(rows[i]!);
      if (json && json.length + row.length > this.options.statementChars) {
        written += await this.db.write(INSERT_DECISIONS, [`[${json}]`]);
        json = '';
      }
      json += json ? `,${row}` : row;
    }
    if (json) written += await this.db.write(INSERT_DECISIONS, [`[${json}]`]);
    return written;
  }

  /**
   * Starts writing the head batch unless a write is in flight; resolves to the error, if any
   * (never rejects). The batch is taken after the current I/O phase (setImmediate), so that the
   * requests answered in one turn of the event loop share one insert: the embedded database
   * runs an insert synchronously on this thread, so nothing could join one in flight, and one
   * insert per refusal cost about 40 % more CPU per check (measured with 16 checks in flight).
   */
  private pump(): Promise<unknown> {
    if (this.inflight) return this.inflight;
    this.clearTimer();
    if (!this.pending) return Promise.resolve(undefined);
    let durable: Pending[] = [];
    let batched: Pending[] = [];
    const write = new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
      durable = this.durable.slice(0, this.options.batchSize);
      batched = this.queue.slice(0, this.options.batchSize - durable.length);
      const rows = [...durable, ...batched].map((item) => item.row);
      return this.refusals >= REFUSALS_BEFORE_ISOLATION ? this.writeRowByRow(rows) : this.insertRows(rows).then(() => new Set<string>());
    });
    const done: Promise<unknown> = write.then(
      (refused) => {
        // Only this writer removes from the heads; record() only appends.
        this.durable.splice(0, durable.length);
        this.queue.splice(0, batched.length);
        this.failures = 0;
        this.refusals = 0;
        this.lastError = undefined;
        for (const item of durable) this.settle(item, refused.has(item.row.id) ? new DecisionNotRecorded(`decision ${item.row.id} refused by the database`) : undefined);
        return undefined;
      },
      (error: unknown) => {
        this.failures++;
        this.refusals = isDependencyUnavailable(error) ? 0 : this.refusals + 1;
        this.lastError = error;
        this.reportFailure(error);
        return error ?? new Error('decision write failed');
      },
    ).then((error) => {
      this.inflight = null;
      if (!this.closed) {
        if (error !== undefined) this.schedule(this.retryDelay());
        // Group commit: durable entries that arrived during the write go in the next one, now.
        else if (this.durable.length || this.queue.length >= this.options.batchSize) void this.pump();
        else if (this.queue.length) this.schedule(this.options.flushIntervalMs);
      }
      return error;
    });
    this.inflight = done;
    return done;
  }

  /** The oldest entry not yet written (its seq), or Infinity. */
  private oldestPending(): number {
    return Math.min(this.durable[0]?.seq ?? Infinity, this.queue[0]?.seq ?? Infinity);
  }

  /** Back-off after a failed write; while callers wait for a commit, no longer than the flush interval. */
  private retryDelay(): number {
    const backoff = Math.min(this.options.flushIntervalMs * 2 ** this.failures, this.options.maxRetryDelayMs);
    return this.waiting ? Math.min(backoff, this.options.flushIntervalMs) : backoff;
  }

  /** Tells the caller waiting for this entry (if any): committed, or not (error). */
  private settle(item: Pending, error?: Error): void {
    const waiter = item.waiter;
    if (!waiter) return;
    item.waiter = undefined;
    this.waiting--;
    clearTimeout(waiter.timer);
    if (error) {
      this.unrecorded(error);
      waiter.reject(error);
    } else waiter.resolve();
  }

  /** durableTimeoutMs passed without a commit: the caller answers 503; the entry stays queued and is written later. */
  private expire(item: Pending): void {
    const cause = this.lastError;
    this.settle(item, new DecisionNotRecorded(`decision ${item.row.id} not committed within ${this.options.durableTimeoutMs} ms`, cause === undefined ? undefined : { cause }));
  }

  /** Counts and reports (at most one warning per interval) a decision that could not be made durable before its answer. */
  private unrecorded(error: Error): void {
    this.metrics.decisionsUnconfirmed();
    this.unreportedUnrecorded++;
    if (Date.now() - this.lastUnrecordedWarning >= this.options.dropWarningIntervalMs) {
      this.lastUnrecordedWarning = Date.now();
      const cause = this.lastError as { name?: string; code?: string } | undefined;
      this.logger.warn({
        message: 'decision log: decisions not committed in time; answered 503 temporarily_unavailable',
        unconfirmed: this.unreportedUnrecorded,
        pending: this.pending,
        reason: error.message.replace(/^decision \S+ /, ''),
        error: cause?.code ?? cause?.name,
      });
      this.unreportedUnrecorded = 0;
    }
  }

  /**
   * A batch the database keeps refusing while reachable: one row at a time, so that a row it
   * will never take is dropped (counted and logged) instead of blocking every entry behind it.
   * An outage midway fails the whole batch as usual; rows already in are skipped on the retry.
   */
  private async writeRowByRow(batch: Row[]): Promise<Set<string>> {
    const refused: { id: string; error: unknown }[] = [];
    for (const row of batch) {
      try {
        await this.insertRows([row]);
      } catch (error) {
        if (isDependencyUnavailable(error)) throw error;
        refused.push({ id: row.id, error });
      }
    }
    if (!refused.length) return new Set();
    this.droppedTotal += refused.length;
    this.metrics.decisionsDropped(refused.length);
    const first = refused[0]!.error as { code?: string; name?: string; message?: string } | undefined;
    this.logger.error({
      message: 'decision log: the database refused entries; they are dropped',
      dropped: refused.length,
      decision_ids: refused.slice(0, 5).map((r) => r.id),
      error: first?.code ?? first?.name,
      detail: String(first?.message ?? first).slice(0, 300),
    });
    return new Set(refused.map((r) => r.id));
  }

  /** The next write in `delayMs`, unless one is in flight or due sooner. */
  private schedule(delayMs: number): void {
    if (this.inflight || this.closed) return;
    const due = Date.now() + delayMs;
    if (this.timer) {
      if (this.timerDue <= due) return;
      clearTimeout(this.timer);
    }
    this.timerDue = due;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.timerDue = Infinity;
      void this.pump();
    }, delayMs);
    this.timer.unref();
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.timerDue = Infinity;
  }

  private drop(): void {
    this.droppedTotal++;
    this.unreportedDrops++;
    this.metrics.decisionsDropped();
    this.reportDrops(false);
  }

  /** One warning per interval carrying the count since the previous one; late drops get a deferred warning. */
  private reportDrops(now: boolean): void {
    if (!this.unreportedDrops || this.dropWarningTimer) return;
    const wait = this.lastDropWarning + this.options.dropWarningIntervalMs - Date.now();
    if (now || wait <= 0) {
      this.logger.warn({
        message: 'decision log queue full: decisions dropped',
        dropped: this.unreportedDrops,
        dropped_total: this.droppedTotal,
        capacity: this.options.capacity,
      });
      this.unreportedDrops = 0;
      this.lastDropWarning = Date.now();
      return;
    }
    this.dropWarningTimer = setTimeout(() => {
      this.dropWarningTimer = null;
      this.reportDrops(false);
    }, wait);
    this.dropWarningTimer.unref();
  }

  private reportFailure(error: unknown): void {
    if (Date.now() - this.lastFailureWarning < this.options.dropWarningIntervalMs) return;
    this.lastFailureWarning = Date.now();
    const e = error as { name?: string; code?: string; message?: string } | undefined;
    this.logger.warn({
      message: 'decision log: write failed; the batch is kept and retried',
      pending: this.queue.length,
      error: e?.code ?? e?.name,
      detail: String(e?.message ?? error).slice(0, 300),
    });
  }
}
