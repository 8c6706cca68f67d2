import type { Cluster, Redis } from 'ioredis';

/**
 * What the connection watches need from a logger: a Nest `Logger` named after the dependency
 * fits, and so does a test's capture. Nothing is logged without one.
 */
export interface ConnectionLogger {
  log(entry: Record<string, unknown>): void;
  warn(entry: Record<string, unknown>): void;
}

export type Dependency = 'redis' | 'postgresql';

/**
 * One connection to a dependency, as an operator sees it: `<dependency> connection lost` once
 * (warn) when it goes away, `<dependency> connection restored` (info) with how long it was down
 * when it is back. Whatever happens in between (retries, failed queries) logs nothing more.
 */
export class ConnectionWatch {
  private lostSince: number | undefined;
  private stopped = false;

  constructor(
    private readonly dependency: Dependency,
    /** Which connection: `hot-state`, `risk-state`, `pool`… */
    private readonly connection: string,
    private readonly logger: ConnectionLogger | undefined,
    /** host:port (and database) for the log line; never a URL, which may hold a password. */
    private readonly address?: string,
  ) {}

  get isLost(): boolean {
    return this.lostSince !== undefined;
  }

  /** Marks the connection lost since `since` (ms); logs only the first time. */
  lost(error: string, since = Date.now()): void {
    if (this.stopped || this.lostSince !== undefined) return;
    this.lostSince = since;
    this.logger?.warn({ message: `${this.dependency} connection lost`, connection: this.connection, address: this.address, error });
  }

  /** Marks the connection usable again; logs only when it was lost. */
  restored(now = Date.now()): void {
    if (this.stopped || this.lostSince === undefined) return;
    const downtimeMs = Math.max(0, now - this.lostSince);
    this.lostSince = undefined;
    this.logger?.log({ message: `${this.dependency} connection restored`, connection: this.connection, address: this.address, downtime_ms: downtimeMs });
  }

  /** We are closing it ourselves: nothing more is logged. */
  stop(): void {
    this.stopped = true;
  }
}

/** The code of an error or of its causes (socket errno, SQLSTATE), else its name. */
export function errorCode(error: unknown): string {
  for (let e: any = error, depth = 0; e && depth < 6; e = e.cause, depth++) {
    if (typeof e.code === 'string' && e.code) return e.code;
  }
  return (error as Error)?.name || 'Error';
}

/**
 * Watches an ioredis client that is connected now. ioredis reports a lost connection as
 * `close` and then retries on its own (`reconnecting`, `error` per failed attempt, `ready` once
 * back). The line is written at the first failed attempt, whose error says why the server cannot
 * be reached (ECONNREFUSED, ETIMEDOUT…), or when the connection is back without one (a quick
 * restart). A `close` we asked for (disconnect) is not a loss: call stop() first. A Cluster
 * client reports the same events for the cluster as a whole (a single node's failover is not a
 * loss of the connection); `address` names it (its seed nodes) in the log line.
 */
export function watchRedis(redis: Redis | Cluster, connection: string, logger: ConnectionLogger | undefined, address?: string): ConnectionWatch {
  const options = redis.options as { host?: string; port?: number };
  const watch = new ConnectionWatch('redis', connection, logger, address ?? (options.host && options.port ? `${options.host}:${options.port}` : undefined));
  let closedAt: number | undefined;
  // An error on the live connection (ECONNRESET) is why it closed; later ones are the retries'.
  let cause: string | undefined;
  redis.on('error', (error: unknown) => {
    if (closedAt === undefined) cause = errorCode(error);
    else watch.lost(cause ?? errorCode(error), closedAt);
  });
  redis.on('close', () => {
    closedAt ??= Date.now();
  });
  redis.on('ready', () => {
    if (closedAt !== undefined) watch.lost(cause ?? 'connection closed', closedAt);
    watch.restored();
    closedAt = undefined;
    cause = undefined;
  });
  return watch;
}
