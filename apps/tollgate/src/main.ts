import cluster from 'node:cluster';
import { ConfigError, loadConfig, type TollgateConfig } from '#config';
import { JsonLogger } from '#operations';
import { createTollgate } from './tollgate.js';
import { runWorkers } from './workers.js';

let config: TollgateConfig;
try {
  config = loadConfig();
} catch (error) {
  if (error instanceof ConfigError) {
    process.stderr.write(`${error.message}\n`);
    process.exit(2);
  }
  throw error;
}

const logger = new JsonLogger(config.logLevel);
const failed = (error: unknown) => {
  logger.fatal({ message: 'tollgate failed to start', error: (error as Error)?.name, detail: (error as Error)?.message ?? String(error) });
  process.exit(1);
};

if (config.workers > 1 && cluster.isPrimary) {
  await runWorkers(config, logger).catch(failed);
} else {
  await serve(config).catch(failed);
}

/** One Tollgate in this process: the only one, or one of TOLLGATE_WORKERS. */
async function serve(config: TollgateConfig): Promise<void> {
  const tollgate = await createTollgate(config, logger);
  await tollgate.app.listen(config.port, config.host);
  // Envoy ext_authz over gRPC (docs/gateways.md). Under TOLLGATE_WORKERS every worker binds the
  // same port: node:cluster hands the listening socket out as for HTTP (grpc-js listens with
  // node:http2, a net.Server).
  const grpcPort = config.grpcPort === undefined ? undefined : await tollgate.serveExtAuthz(config.grpcPort, config.host);
  logger.log({
    message: 'tollgate listening',
    issuer: config.issuer,
    port: config.port,
    ...(grpcPort !== undefined ? { grpc_port: grpcPort } : {}),
    database: config.databaseUrl ? 'postgresql' : `embedded (${config.dataDir})`,
    hot_state: config.redisUrl ? 'redis' : 'memory',
    ...(cluster.isWorker ? { worker: cluster.worker!.id, pid: process.pid } : {}),
  });
  if (config.adminTokenGenerated && !cluster.isWorker) {
    // Printed once, to the terminal that started the server; never logged again.
    process.stdout.write(`\nTOLLGATE_ADMIN_TOKEN was not set; this run's admin token is:\n\n    ${config.adminToken}\n\n`);
  }
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.log({ message: 'shutting down', signal });
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    await tollgate.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}
