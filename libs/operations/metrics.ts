import cluster from 'node:cluster';
import { Injectable } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { readFileSync } from 'node:fs';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { type Endpoint, endpointOf } from '#protocol';
import { clusterWorkerMetrics } from './cluster-metrics.js';

/** The package's own version, read once (dist/libs/operations → the repository root). */
export const BUILD: { version: string } = (() => {
  try {
    return { version: String(JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')).version) };
  } catch {
    return { version: 'unknown' };
  }
})();
const ERROR_CODE = /^[a-z][a-z_]{0,39}$/;

export interface CacheStats {
  hits: number;
  misses: number;
}

interface LabelledChild {
  inc(n?: number): void;
  observe(v: number): void;
}

/**
 * The server's Prometheus metrics, in a registry of its own (not prom-client's global one: each
 * app instance — several in one test process — counts for itself).
 *
 * Labels carry only bounded, non-secret values: decision kinds and outcomes, reason codes,
 * endpoint classes, HTTP status codes and cache names. Never client ids, tokens, paths or IPs
 * (privacy, and one time series per client would not scale).
 */
@Injectable()
export class Metrics {
  readonly registry = new Registry();
  private readonly cacheSources = new Map<string, () => CacheStats>();

  private readonly decisions = new Counter({
    name: 'tollgate_decisions_total',
    help: 'Risk decisions made, by kind (check, issuance, introspection) and outcome.',
    labelNames: ['kind', 'decision'] as const,
    registers: [this.registry],
  });

  private readonly checks = new Counter({
    name: 'tollgate_checks_total',
    help: 'Gateway checks answered, by face (http: /check; grpc: Envoy ext_authz) and decision (allow, step_up, deny, invalid, error).',
    labelNames: ['face', 'decision'] as const,
    registers: [this.registry],
  });

  private readonly reasons = new Counter({
    name: 'tollgate_decision_reasons_total',
    help: 'Reasons (signal codes) that contributed to risk decisions, by kind.',
    labelNames: ['kind', 'reason'] as const,
    registers: [this.registry],
  });

  private readonly dropped = new Counter({
    name: 'tollgate_decisions_dropped_total',
    help: 'Decision-log entries dropped because the write queue was full (the database is down or too slow).',
    registers: [this.registry],
  });

  private readonly authFailures = new Counter({
    name: 'tollgate_client_authentication_failures_total',
    help: 'Failed client authentications (assertions, gateway secrets), by endpoint and reason code (docs/risk.md).',
    labelNames: ['endpoint', 'reason'] as const,
    registers: [this.registry],
  });

  private readonly budgetRefusals = new Counter({
    name: 'tollgate_failure_budget_refusals_total',
    help: 'Requests refused with 429 because their source spent its budget of failed authentications, by endpoint.',
    labelNames: ['endpoint'] as const,
    registers: [this.registry],
  });

  private readonly unconfirmed = new Counter({
    name: 'tollgate_decisions_unconfirmed_total',
    help: 'Decisions that had to be committed before their answer but were not in time (the database is down or stalled): answered 503 instead.',
    registers: [this.registry],
  });

  private readonly tokenRequests = new Counter({
    name: 'tollgate_token_requests_total',
    help: 'Token endpoint answers, by outcome (issued, refused) and OAuth error code (RFC 6749 §5.2; "none" when issued).',
    labelNames: ['outcome', 'error'] as const,
    registers: [this.registry],
  });

  private readonly httpDuration = new Histogram({
    name: 'tollgate_http_request_duration_seconds',
    help: 'HTTP request duration from arrival to the last byte of the response, by endpoint class and status.',
    labelNames: ['endpoint', 'status'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    // Which build answers (the usual Prometheus `_build_info` convention: a constant 1, its facts as labels).
    new Gauge({
      name: 'tollgate_build_info',
      help: 'The running build: Tollgate version, Node.js version, platform and architecture (always 1).',
      labelNames: ['version', 'node', 'platform', 'arch'] as const,
      registers: [this.registry],
      // With TOLLGATE_WORKERS the primary merges every worker's figures: this one is the same in each, not a sum.
      aggregator: 'first',
    }).set({ version: BUILD.version, node: process.version, platform: process.platform, arch: process.arch }, 1);
    // Counters read from their owners at scrape time; the hit rate is
    // rate(hits) / (rate(hits) + rate(misses)) in PromQL.
    const sources = this.cacheSources;
    const read = (counter: Counter<'cache'>, field: keyof CacheStats) => {
      counter.reset();
      for (const [cache, stats] of sources) {
        try {
          counter.inc({ cache }, stats()[field]);
        } catch {
          // A source that cannot answer is left out of this scrape rather than failing it.
        }
      }
    };
    new Counter({
      name: 'tollgate_cache_hits_total',
      help: 'Lookups answered from an in-memory cache, by cache.',
      labelNames: ['cache'] as const,
      registers: [this.registry],
      collect() {
        read(this, 'hits');
      },
    });
    new Counter({
      name: 'tollgate_cache_misses_total',
      help: 'Lookups an in-memory cache could not answer, by cache.',
      labelNames: ['cache'] as const,
      registers: [this.registry],
      collect() {
        read(this, 'misses');
      },
    });
  }

  /**
   * Labelled children, looked up once per label set: prom-client hashes the label object on
   * every call otherwise, and these are counted on every request. A map per metric and per first
   * label, so a lookup builds no key. Bounded: the labels are.
   */
  private readonly children = new Map<Counter<string> | Histogram<string>, Map<string, Map<string, LabelledChild>>>();

  private child(metric: Counter<string> | Histogram<string>, first: string, second: string): LabelledChild {
    let byFirst = this.children.get(metric);
    if (!byFirst) this.children.set(metric, (byFirst = new Map()));
    let bySecond = byFirst.get(first);
    if (!bySecond) byFirst.set(first, (bySecond = new Map()));
    let child = bySecond.get(second);
    if (!child) bySecond.set(second, (child = (metric as Counter<string>).labels(first, second) as unknown as LabelledChild));
    return child;
  }

  /** One decision made (counted whether or not the decision log could keep it). */
  decision(kind: string, decision: string, reasons: readonly { code: string }[]): void {
    this.child(this.decisions, kind, decision).inc();
    for (const reason of reasons) this.child(this.reasons, kind, reason.code).inc();
  }

  /** One gateway check answered, by face and decision (both bounded). */
  check(face: string, decision: string): void {
    this.child(this.checks, face, decision).inc();
  }

  /** One failed client authentication (endpoint and reason are bounded codes). */
  authenticationFailed(endpoint: string, reason: string): void {
    this.authFailures.inc({ endpoint, reason });
  }

  /**
   * One token endpoint answer: issued (2xx), or refused with its OAuth error code. A code that is
   * not one (oidc-provider's are all snake_case words) is counted as "other": labels stay bounded.
   */
  tokenAnswered(status: number, error: string | undefined): void {
    if (status >= 200 && status < 300) this.child(this.tokenRequests, 'issued', 'none').inc();
    else this.child(this.tokenRequests, 'refused', error && ERROR_CODE.test(error) ? error : 'other').inc();
  }

  /** One request refused because its source is over its failure budget. */
  failureBudgetRefused(endpoint: string): void {
    this.budgetRefusals.inc({ endpoint });
  }

  decisionsDropped(count = 1): void {
    this.dropped.inc(count);
  }

  /** A decision answered 503 because the decision log could not commit it in time. */
  decisionsUnconfirmed(): void {
    this.unconfirmed.inc();
  }

  observeRequest(endpoint: Endpoint, status: number | string, seconds: number): void {
    this.child(this.httpDuration, endpoint, String(status)).observe(seconds);
  }

  /** A cache's owner registers it once; `stats` returns monotonic hit/miss counts. */
  addCacheSource(name: string, stats: () => CacheStats): void {
    if (this.cacheSources.has(name)) throw new Error(`cache source ${name} is already registered`);
    this.cacheSources.set(name, stats);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  render(): Promise<string> {
    return this.clusterRender ? this.clusterRender() : this.registry.metrics();
  }

  /** A cluster worker's scrape: every worker's figures, summed by the primary (TOLLGATE_WORKERS). */
  private readonly clusterRender = cluster.isWorker ? clusterWorkerMetrics(this.registry) : undefined;
}

/**
 * Express middleware timing every request. Mount it before everything else (before
 * oidc-provider's middleware, which answers the token endpoint without reaching Nest).
 * A request whose client went away before the response finished is counted as status "aborted".
 */
export function httpMetrics(metrics: Metrics) {
  return (req: Request, res: Response, next: NextFunction) => {
    const started = process.hrtime.bigint();
    const endpoint = endpointOf(req.url);
    let done = false;
    const observe = (status: number | string) => {
      if (done) return;
      done = true;
      metrics.observeRequest(endpoint, status, Number(process.hrtime.bigint() - started) / 1e9);
    };
    res.once('finish', () => observe(res.statusCode));
    res.once('close', () => observe('aborted'));
    next();
  };
}
