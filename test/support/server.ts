import { randomBytes } from 'node:crypto';
import type { LoggerService } from '@nestjs/common';
import { loadConfig, type TollgateConfig } from '#config';
import { createTollgate, type Tollgate } from '#tollgate';
import { freePort } from './processes.js';

export interface RunningTollgate {
  /** Where this instance listens. */
  url: string;
  /** The issuer it serves (the same as url unless TOLLGATE_ISSUER was given, as behind a load balancer). */
  issuer: string;
  adminToken: string;
  /** The ext_authz gRPC port, when TOLLGATE_GRPC_PORT was given ('0' for a free one). */
  grpcPort?: number;
  config: TollgateConfig;
  tollgate: Tollgate;
  /** `Authorization` header value for the admin API. */
  admin: string;
  close(): Promise<void>;
}


/**
 * Configuration for a test server: real PostgreSQL when DATABASE_URL is set (as in CI), the
 * embedded database in memory otherwise; Redis when REDIS_URL is set.
 */
export function testConfig(port: number, env: Record<string, string | undefined> = {}): TollgateConfig {
  return loadConfig({
    DATABASE_URL: process.env.DATABASE_URL,
    REDIS_URL: process.env.REDIS_URL,
    TOLLGATE_DATA_DIR: 'memory://',
    PORT: String(port),
    TOLLGATE_ISSUER: `http://127.0.0.1:${port}`,
    TOLLGATE_ADMIN_TOKEN: randomBytes(32).toString('base64url'),
    TOLLGATE_KEY_ENCRYPTION_KEY: process.env.TOLLGATE_KEY_ENCRYPTION_KEY ?? TEST_KEK,
    // Suites refuse many requests on purpose, all from 127.0.0.1 and through one Redis: the
    // failure budgets (docs/risk.md) are tested with their own limits and sources
    // (test/failure-attribution.test.ts), and must not throttle the other suites.
    TOLLGATE_AUTH_FAILURES_PER_SOURCE: '1000000',
    TOLLGATE_AUTH_FAILURES_PER_CLIENT: '1000000',
    ...env,
  });
}

// Tests share one database, so they share the key that encrypts its signing keys.
const TEST_KEK = Buffer.alloc(32, 7).toString('base64url');

export interface StartOptions {
  /** The application's logger (e.g. a JsonLogger writing to an array); none by default. */
  logger?: LoggerService;
}

/** Starts the real server on a free loopback port. */
export async function startTollgate(env: Record<string, string | undefined> = {}, options: StartOptions = {}): Promise<RunningTollgate> {
  const port = await freePort();
  const config = testConfig(port, env);
  const tollgate = await createTollgate(config, options.logger ?? false);
  await tollgate.app.listen(port, '127.0.0.1');
  const grpcPort = config.grpcPort === undefined ? undefined : await tollgate.serveExtAuthz(config.grpcPort, '127.0.0.1');
  return {
    grpcPort,
    url: `http://127.0.0.1:${port}`,
    issuer: config.issuer,
    adminToken: config.adminToken,
    admin: `Bearer ${config.adminToken}`,
    config,
    tollgate,
    close: () => tollgate.close(),
  };
}
