import { availableParallelism } from 'node:os';
import { randomBytes, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseEgressAllow } from '#egress';
import { parseRedisUrl } from '#redis';

/**
 * Tollgate's whole configuration surface, read from the environment once at start-up.
 * A wrong value stops the server with a message naming the variable (ConfigError).
 */
export interface TollgateConfig {
  port: number;
  host: string;
  /** RFC 8414 §2 `issuer`: https URL (http allowed for localhost), no query or fragment. */
  issuer: string;
  /** PostgreSQL connection string; undefined → embedded PostgreSQL (PGlite) in dataDir. */
  databaseUrl?: string;
  dataDir: string;
  /** Shared hot state (replay, caches' invalidation); undefined → in-process memory. */
  redisUrl?: string;
  adminToken: string;
  /** True when the admin token was generated at start (printed once). */
  adminTokenGenerated: boolean;
  /** 32-byte key that encrypts the server's private signing keys at rest (AES-256-GCM). */
  keyEncryptionKey?: Buffer;
  migrateOnStart: boolean;
  /** RFC 9068 access token lifetime: default and upper bound for per-client overrides. */
  accessTokenTtl: number;
  accessTokenTtlMax: number;
  /** Tolerated clock difference for iat/exp/nbf checks (assertions and DPoP proofs). */
  clockSkew: number;
  /** RFC 9449 §4.3 step 11: how old a proof's iat may be when no server nonce is used. */
  dpopProofMaxAge: number;
  /** RFC 9449 §8: require server-issued nonces in every DPoP proof (all clients). */
  dpopRequireNonce: boolean;
  /** docs/step-up.md §3: seconds a step-up or enrolment challenge can be answered. */
  stepUpChallengeTtl: number;
  /** How long client records stay cached on the hot paths (invalidated on change anyway). */
  clientCacheTtl: number;
  /** Trust X-Forwarded-Proto/-Host/-For (set only behind a proxy that overwrites them). */
  trustProxy: boolean;
  /**
   * Brute-force budgets (docs/risk.md): failed client authentications nobody proved, per source
   * (IPv4 address or IPv6 /64) and per source + client id, per window; past one, 429 (RFC 6585 §4).
   */
  authFailureBudget: { perSource: number; perSourceAndClient: number; windowSeconds: number };
  /** RFC 7591 registrations without `allowed_resources` get these RFC 8707 resources. */
  defaultResources: string[];
  /**
   * When a decision is durable before it is answered (docs/operations.md, "The decision log"):
   * `refusals` commits deny, step_up and invalid before the answer and batches allows; `all`
   * commits every decision first (regulated deployments), at a cost in latency.
   */
  decisionDurability: 'refusals' | 'all';
  /**
   * Worker processes behind the one port (node:cluster); 1 = one process, as always. More than
   * one needs the shared state in PostgreSQL and Redis (DATABASE_URL and REDIS_URL).
   */
  workers: number;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  /**
   * Envoy ext_authz over gRPC (envoy.service.auth.v3.Authorization/Check, docs/gateways.md) on
   * this port, with grpc.health.v1 beside it; undefined (TOLLGATE_GRPC_PORT unset) = off.
   */
  grpcPort?: number;
  /** Outbound fetches (a client's jwks_uri): host names and CIDRs reachable although not public. */
  egressAllow: string[];
  /** PEM file of extra CAs trusted for outbound https fetches (absolute path), and its certificates. */
  egressCaFile?: string;
  egressCa?: string;
  /**
   * OpenTelemetry traces of the token and check paths, sent as OTLP/HTTP to this URL (e.g.
   * `http://collector:4318/v1/traces`); undefined → no tracing, and its modules are never loaded.
   */
  otlpTracesEndpoint?: string;
  /** Admin console (docs/console.md): seconds a console session lasts from sign-in (no renewal). */
  consoleSessionTtl: number;
}

export class ConfigError extends Error {
  constructor(readonly variable: string, problem: string) {
    super(`Invalid configuration: ${variable} ${problem}`);
  }
}

type Env = Record<string, string | undefined>;

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw)) throw new ConfigError(name, `must be a whole number, got "${raw}"`);
  const value = Number(raw);
  if (value < min || value > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${value}`);
  return value;
}

function flag(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name]?.toLowerCase();
  if (raw === undefined || raw === '') return fallback;
  if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
  if (['0', 'false', 'no', 'off'].includes(raw)) return false;
  throw new ConfigError(name, `must be true or false, got "${env[name]}"`);
}

function url(env: Env, name: string, protocols: string[]): string | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new ConfigError(name, 'must be a URL');
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(name, `must use ${protocols.map((p) => p.replace(':', '')).join(' or ')}`);
  }
  return raw;
}

function issuer(env: Env, port: number): string {
  const raw = env.TOLLGATE_ISSUER || `http://localhost:${port}`;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new ConfigError('TOLLGATE_ISSUER', 'must be a URL');
  }
  const local = ['localhost', '127.0.0.1', '[::1]'].includes(parsed.hostname);
  // RFC 8414 §2: the issuer is an https URL with no query or fragment (http only for local development).
  if (parsed.protocol !== 'https:' && !(parsed.protocol === 'http:' && local)) {
    throw new ConfigError('TOLLGATE_ISSUER', 'must be an https URL (http is allowed only for localhost)');
  }
  if (parsed.search || parsed.hash) throw new ConfigError('TOLLGATE_ISSUER', 'must not have a query or fragment');
  // The OAuth endpoints are served at the root of the host; a path prefix is not supported yet.
  if (parsed.pathname !== '/' && parsed.pathname !== '') throw new ConfigError('TOLLGATE_ISSUER', 'must not have a path (serve Tollgate at the root of its host)');
  return raw.replace(/\/+$/, '');
}

function keyEncryptionKey(env: Env): Buffer | undefined {
  const raw = env.TOLLGATE_KEY_ENCRYPTION_KEY;
  if (raw === undefined || raw === '') return undefined;
  const key = Buffer.from(raw, 'base64url');
  if (key.length !== 32 || key.toString('base64url') !== raw.replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_')) {
    throw new ConfigError('TOLLGATE_KEY_ENCRYPTION_KEY', 'must be 32 random bytes, base64url encoded (e.g. `openssl rand -base64 32`)');
  }
  return key;
}

/** A comma-separated list of absolute URIs without fragments (RFC 8707 §2 resources). */
function resources(env: Env, name: string, fallback: string[]): string[] {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const list = raw.split(',').map((r) => r.trim()).filter(Boolean);
  for (const r of list) {
    if (!URL.parse(r) || r.includes('#')) throw new ConfigError(name, `must list absolute URIs without a fragment, got "${r}"`);
  }
  return [...new Set(list)];
}

function egressAllow(env: Env): string[] {
  try {
    return parseEgressAllow(env.TOLLGATE_EGRESS_ALLOW ?? '');
  } catch (error) {
    throw new ConfigError('TOLLGATE_EGRESS_ALLOW', `has a bad entry: ${(error as Error).message}`);
  }
}

const CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** The CERTIFICATE blocks of TOLLGATE_EGRESS_CA_FILE, each parsed once here so a bad one stops the start. */
function egressCa(env: Env): Pick<TollgateConfig, 'egressCaFile' | 'egressCa'> {
  const name = 'TOLLGATE_EGRESS_CA_FILE';
  const raw = env[name];
  if (raw === undefined || raw === '') return {};
  const file = resolve(raw);
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(name, `cannot be read: ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) throw new ConfigError(name, 'must hold certificates only, not a private key');
  const blocks = pem.match(CERTIFICATE) ?? [];
  if (blocks.length === 0) throw new ConfigError(name, 'must contain at least one PEM CERTIFICATE block');
  blocks.forEach((block, i) => {
    try {
      new X509Certificate(block);
    } catch {
      throw new ConfigError(name, `certificate ${i + 1} is not a valid X.509 certificate`);
    }
  });
  return { egressCaFile: file, egressCa: `${blocks.join('\n')}\n` };
}

/**
 * REDIS_URL: one Redis, a Redis Cluster (redis+cluster://seed,seed) or a Sentinel group
 * (redis+sentinel://sentinel,sentinel/master), TLS with `rediss` (libs/redis/redis-url.ts).
 */
function redisUrl(env: Env): string | undefined {
  const raw = env.REDIS_URL;
  if (raw === undefined || raw === '') return undefined;
  try {
    parseRedisUrl(raw);
  } catch (error) {
    throw new ConfigError('REDIS_URL', (error as Error).message);
  }
  return raw.trim();
}

/** TOLLGATE_WORKERS: a count, or `auto` for one per core (os.availableParallelism). */
function workers(env: Env, shared: boolean): number {
  const name = 'TOLLGATE_WORKERS';
  const raw = (env[name] ?? '').trim().toLowerCase();
  const count = raw === 'auto' ? availableParallelism() : integer(env, name, 1, 1, 64);
  if (count > 1 && !shared) {
    throw new ConfigError(name, 'above 1 needs DATABASE_URL and REDIS_URL: the embedded database and in-memory state serve one process');
  }
  return count;
}

export function loadConfig(env: Env = process.env): TollgateConfig {
  const port = integer(env, 'PORT', 3000, 0, 65535);
  const databaseUrl = url(env, 'DATABASE_URL', ['postgres:', 'postgresql:']);
  const adminTokenRaw = env.TOLLGATE_ADMIN_TOKEN;
  if (adminTokenRaw !== undefined && adminTokenRaw !== '' && adminTokenRaw.length < 32) {
    throw new ConfigError('TOLLGATE_ADMIN_TOKEN', 'must be at least 32 characters (e.g. `openssl rand -base64 32`)');
  }
  const accessTokenTtlMax = integer(env, 'TOLLGATE_ACCESS_TOKEN_TTL_MAX', 3600, 10, 86_400);
  const accessTokenTtl = integer(env, 'TOLLGATE_ACCESS_TOKEN_TTL', 300, 10, 86_400);
  if (accessTokenTtl > accessTokenTtlMax) {
    throw new ConfigError('TOLLGATE_ACCESS_TOKEN_TTL', `must not exceed TOLLGATE_ACCESS_TOKEN_TTL_MAX (${accessTokenTtlMax})`);
  }
  const logLevel = (env.TOLLGATE_LOG_LEVEL || 'info').toLowerCase();
  if (!['debug', 'info', 'warn', 'error'].includes(logLevel)) {
    throw new ConfigError('TOLLGATE_LOG_LEVEL', 'must be one of debug, info, warn, error');
  }
  const issuerUrl = issuer(env, port);
  const perSource = integer(env, 'TOLLGATE_AUTH_FAILURES_PER_SOURCE', 100, 1, 1_000_000);
  const perSourceAndClient = integer(env, 'TOLLGATE_AUTH_FAILURES_PER_CLIENT', 20, 1, 1_000_000);
  if (perSourceAndClient > perSource) {
    throw new ConfigError('TOLLGATE_AUTH_FAILURES_PER_CLIENT', `must not exceed TOLLGATE_AUTH_FAILURES_PER_SOURCE (${perSource})`);
  }
  const grpcPort = env.TOLLGATE_GRPC_PORT ? integer(env, 'TOLLGATE_GRPC_PORT', 0, 0, 65535) : undefined;
  if (grpcPort !== undefined && grpcPort !== 0 && grpcPort === port) {
    throw new ConfigError('TOLLGATE_GRPC_PORT', `must differ from PORT (${port}): gRPC has a port of its own`);
  }
  const decisionDurability = (env.TOLLGATE_DECISION_DURABILITY || 'refusals').toLowerCase();
  if (decisionDurability !== 'refusals' && decisionDurability !== 'all') {
    throw new ConfigError('TOLLGATE_DECISION_DURABILITY', `must be refusals or all, got "${env.TOLLGATE_DECISION_DURABILITY}"`);
  }
  return {
    port,
    host: env.HOST || '0.0.0.0',
    issuer: issuerUrl,
    databaseUrl,
    // `memory://` keeps the embedded database in memory (tests); anything else is a folder.
    dataDir: env.TOLLGATE_DATA_DIR === 'memory://' ? 'memory://' : resolve(env.TOLLGATE_DATA_DIR || '.tollgate'),
    redisUrl: redisUrl(env),
    adminToken: adminTokenRaw || randomBytes(32).toString('base64url'),
    adminTokenGenerated: !adminTokenRaw,
    keyEncryptionKey: keyEncryptionKey(env),
    migrateOnStart: flag(env, 'TOLLGATE_MIGRATE_ON_START', true),
    accessTokenTtl,
    accessTokenTtlMax,
    clockSkew: integer(env, 'TOLLGATE_CLOCK_SKEW', 5, 0, 300),
    dpopProofMaxAge: integer(env, 'TOLLGATE_DPOP_PROOF_MAX_AGE', 60, 5, 300),
    dpopRequireNonce: flag(env, 'TOLLGATE_DPOP_REQUIRE_NONCE', false),
    stepUpChallengeTtl: integer(env, 'TOLLGATE_STEP_UP_CHALLENGE_TTL', 120, 5, 600),
    clientCacheTtl: integer(env, 'TOLLGATE_CLIENT_CACHE_TTL', 60, 0, 3600),
    trustProxy: flag(env, 'TOLLGATE_TRUST_PROXY', false),
    authFailureBudget: { perSource, perSourceAndClient, windowSeconds: integer(env, 'TOLLGATE_AUTH_FAILURE_WINDOW', 60, 10, 3600) },
    defaultResources: resources(env, 'TOLLGATE_DEFAULT_RESOURCES', [issuerUrl]),
    decisionDurability,
    workers: workers(env, Boolean(databaseUrl && redisUrl(env))),
    logLevel: logLevel as TollgateConfig['logLevel'],
    grpcPort,
    egressAllow: egressAllow(env),
    ...egressCa(env),
    otlpTracesEndpoint: url(env, 'TOLLGATE_OTLP_TRACES_ENDPOINT', ['http:', 'https:']),
    consoleSessionTtl: integer(env, 'TOLLGATE_CONSOLE_SESSION_TTL', 1800, 60, 43_200),
  };
}
