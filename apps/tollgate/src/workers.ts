import cluster, { type Worker } from 'node:cluster';
import type { LoggerService } from '@nestjs/common';
import type { TollgateConfig } from '#config';
import { serveClusterMetrics } from '#operations';
import { prepareStorage } from './tollgate.js';

/** A worker that dies is replaced after this long (a crash loop must not spin the CPU). */
const RESTART_DELAY_MS = 1000;
/** How long workers get to finish their requests at shutdown before they are killed. */
const STOP_TIMEOUT_MS = 15_000;

/**
 * TOLLGATE_WORKERS: this process becomes the primary of `config.workers` worker processes that
 * share the port (node:cluster). Each worker is a whole Tollgate; what they must agree on (replay
 * records, budgets, learned state, change notices) is in Redis and PostgreSQL, so what one worker
 * refused no other accepts. The primary prepares the storage once, hands every worker the same
 * admin token, sums their metrics for /metrics, replaces a worker that dies, and passes SIGTERM
 * and SIGINT on.
 */
export async function runWorkers(config: TollgateConfig, logger: LoggerService): Promise<void> {
  await prepareStorage(config, logger);
  serveClusterMetrics();
  const env = { TOLLGATE_ADMIN_TOKEN: config.adminToken };
  let stopping = false;
  const start = (): Worker => cluster.fork(env);
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
      return;
    }
    logger.warn({ message: 'worker exited; starting another', worker: worker.id, pid: worker.process.pid, code, signal });
    setTimeout(start, RESTART_DELAY_MS).unref();
  });
  for (let i = 0; i < config.workers; i++) start();
  logger.log({ message: 'tollgate workers starting', workers: config.workers, port: config.port });
  if (config.adminTokenGenerated) {
    // Printed once, to the terminal that started the server; never logged again.
    process.stdout.write(`\nTOLLGATE_ADMIN_TOKEN was not set; this run's admin token is:\n\n    ${config.adminToken}\n\n`);
  }
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.log({ message: 'shutting down', signal, workers: Object.keys(cluster.workers ?? {}).length });
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
    if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
    setTimeout(() => {
      for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGKILL');
      process.exit(1);
    }, STOP_TIMEOUT_MS).unref();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
