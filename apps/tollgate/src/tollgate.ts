import 'reflect-metadata';
import type { RequestListener, Server } from 'node:http';
import type { Request, Response } from 'express';
import type { INestApplication, LoggerService } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { TollgateConfig } from '#config';
import { CheckEndpoint, ExtAuthzServer } from '#check';
import { ClientRegistry } from '#clients';
import { openHotState } from '#hot-state';
import { requestBodies, requestTarget } from '#inbound';
import { KeyRing, loadKeyEncryptionKey } from '#keys';
import { AdminTokenThrottle, OAuthErrorFilter } from '#credentials';
import { ProviderHost } from '#oauth';
import { httpMetrics, Metrics, startTracing } from '#operations';
import { openDatabase } from '#persistence';
import { AppModule, type Runtime } from './app.module.js';
import { withDataPlane } from './data-plane.js';
import { isCheckPath, ROUTES } from '#protocol';

export interface Tollgate {
  app: INestApplication;
  runtime: Runtime;
  /**
   * Envoy ext_authz over gRPC on its own port (TOLLGATE_GRPC_PORT; 0 = any free one): returns the
   * port bound. Closed with the rest.
   */
  serveExtAuthz(port: number, host: string): Promise<number>;
  /** Stops accepting requests, lets in-flight ones finish, closes the database and Redis. */
  close(): Promise<void>;
}

/** The logger under a name (Nest's context argument), for libraries that log without Nest. */
function named(logger: LoggerService | false, context: string) {
  if (!logger) return undefined;
  return { log: (entry: object) => logger.log(entry, context), warn: (entry: object) => logger.warn(entry, context) };
}

/**
 * What must happen once before several workers start (TOLLGATE_WORKERS): migrations, and the
 * first signing key (two workers starting together would each create one).
 */
export async function prepareStorage(config: TollgateConfig, logger: LoggerService | false): Promise<void> {
  const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  try {
    if (config.migrateOnStart) {
      const applied = await db.migrate();
      if (applied.length && logger) logger.log({ message: 'migrations applied', migrations: applied });
    }
    const kek = loadKeyEncryptionKey(config.keyEncryptionKey, config.dataDir);
    await new KeyRing(db.prisma, kek.key, config.accessTokenTtlMax + config.clockSkew).init();
  } finally {
    await db.close();
  }
}

/** Opens the database (migrating when configured), the hot state and the keys, then builds the app. */
export async function createTollgate(config: TollgateConfig, logger: LoggerService | false): Promise<Tollgate> {
  const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, logger: named(logger, 'postgresql') });
  const opened: { close(): Promise<void> }[] = [db];
  try {
    if (config.migrateOnStart || db.kind === 'embedded') {
      const applied = await db.migrate();
      if (applied.length && logger) logger.log({ message: 'migrations applied', migrations: applied });
    }
    const status = await db.status();
    if (status.pending.length) {
      throw new Error(`database is missing migrations ${status.pending.join(', ')}: run \`npm run db:deploy\` or set TOLLGATE_MIGRATE_ON_START=true`);
    }
    const hot = await openHotState(config.redisUrl, { logger: named(logger, 'redis') });
    opened.push(hot);
    const kek = loadKeyEncryptionKey(config.keyEncryptionKey, config.dataDir);
    if (kek.source === 'file' && logger) {
      logger.warn({ message: 'TOLLGATE_KEY_ENCRYPTION_KEY is not set: using a key kept in the data folder (single instance only)', dataDir: config.dataDir });
    }
    const keys = new KeyRing(db.prisma, kek.key, config.accessTokenTtlMax + config.clockSkew);
    await keys.init();
    const runtime: Runtime = { config, db, hot, keys, kek: kek.key };
    const app = await NestFactory.create(AppModule.with(runtime), { logger, abortOnError: false, bodyParser: false });
    app.getHttpAdapter().getInstance().disable('x-powered-by');
    app.getHttpAdapter().getInstance().set('trust proxy', false);
    app.useGlobalFilters(new OAuthErrorFilter());
    // First middleware: times every request, the token endpoint oidc-provider answers included.
    app.use(httpMetrics(app.get(Metrics)));
    app.get(Metrics).addCacheSource('clients', () => app.get(ClientRegistry).cacheStats);
    // oidc-provider reads its own request bodies: it runs before ours.
    app.use(app.get(ProviderHost).middleware());
    // What strangers send, read within bounds (libs/inbound) before any controller sees it. The
    // check endpoint's target after /check, and any body a gateway forwards, belong to the
    // protected call: the check judges the call and never reads a body.
    app.use(requestTarget({ describesAnotherRequest: isCheckPath }));
    app.use(requestBodies({ describesAnotherRequest: isCheckPath }));
    // Wrong admin tokens spend the caller's failure budget; past it, 429 before the token is read.
    const adminThrottle = app.get(AdminTokenThrottle);
    app.use(ROUTES.admin, (req: Request, res: Response, next: () => void) => void adminThrottle.use(req, res, next));
    await app.init();
    // The data plane (check, introspection) answers on Node's own server, in front of Express.
    const server = app.getHttpServer() as Server;
    const [nest] = server.listeners('request') as RequestListener[];
    server.removeAllListeners('request');
    const tracing = await startTracing(config.otlpTracesEndpoint);
    if (tracing && logger) logger.log({ message: 'tracing to OTLP', endpoint: config.otlpTracesEndpoint });
    server.on('request', withDataPlane(app, nest!, logger, tracing));
    let closed = false;
    let extAuthz: ExtAuthzServer | undefined;
    return {
      app,
      runtime,
      serveExtAuthz: async (port, host) => {
        if (extAuthz) throw new Error('ext_authz is already served');
        extAuthz = new ExtAuthzServer(app.get(CheckEndpoint), logger);
        return extAuthz.listen(port, host);
      },
      close: async () => {
        if (closed) return;
        closed = true;
        await extAuthz?.close();
        await app.close();
        await tracing?.shutdown().catch(() => undefined);
        await hot.close();
        await db.close();
      },
    };
  } catch (error) {
    for (const resource of opened.reverse()) await resource.close().catch(() => undefined);
    throw error;
  }
}
