/**
 * Tollgate load benchmark: `npm run bench` (see bench/README.md).
 *
 * The main thread runs a real Tollgate (startTollgate from #test-support: PostgreSQL/Redis when
 * DATABASE_URL/REDIS_URL are set, embedded PGlite in memory + in-process hot state otherwise).
 * The load generator runs in a worker thread of the same process, with its own event loop, so
 * its HTTP client and its signing never block the server's event loop (it does share the CPU
 * cores and libuv's thread pool, as a client process on the same machine would).
 *
 * Phases: warm-up (untimed), token issuance, introspection (plain), introspection with a DPoP
 * proof, gateway check (GET /check as NGINX auth_request sends it), the gateway check again
 * against a second server that commits every decision before answering
 * (TOLLGATE_DECISION_DURABILITY=all), the same checks against the bare check peer (bench/bare-check.ts:
 * node:http and only what a secure DPoP check must do), then the crypto floor (jose ES256 verify/sign throughput
 * on this machine) with the server idle. Every client assertion and
 * DPoP proof is fresh (unique jti), signed by the generator before the timed window of its batch.
 */
import { createHash, generateKeyPairSync, randomUUID, sign as cryptoSign, verify as cryptoVerify } from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay, performance, type EventLoopUtilization, type IntervalHistogram } from 'node:perf_hooks';
import { isMainThread, parentPort, Worker } from 'node:worker_threads';
import { Session } from 'node:inspector/promises';
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import { startBareCheckPeer } from './bare-check.js';
import { goalLines, type GoalRow, issue10Goals } from './goals.js';

type KeyPair = Awaited<ReturnType<typeof generateKeyPair>>;

const RESOURCE = 'https://api.example.test/';
const API_URL = 'https://api.example.test/orders';
/** The caller's address the bench gateway reports on /check (X-Real-IP; TEST-NET-3, RFC 5737). */
const CHECK_CLIENT_IP = '203.0.113.10';
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** The trusted issuer of the federated issuance phase (static keys: nothing is fetched). */
const BENCH_PLATFORM_ISSUER = 'https://token.bench.example.test';
/** Prepared assertions/proofs older than this are re-signed just before sending (server window: 60 s). */
const MAX_PREPARED_AGE_MS = 40_000;

function envInt(name: string, fallback: number, min = 1): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) throw new Error(`${name} must be a whole number >= ${min}, got "${raw}"`);
  return value;
}

// ---------------------------------------------------------------------------------------------
// Messages between the main thread (server, orchestration) and the worker (load generator).

interface PhaseResult {
  requests: number;
  /** Per-request latency in ms, in request order. */
  latencies: Float64Array;
  /** Sum of the timed windows (batches), ms. */
  timedMs: number;
  errors: number;
  firstError?: string;
  /** Prepared items that had to be re-signed because their batch ran too long. */
  resigned: number;
  /** Time spent signing outside the timed windows, ms. */
  prepareMs: number;
  /** Check phase: how often each risk reason came with an answer (allowed or not). */
  reasons?: Record<string, number>;
}

type Command =
  | { id: number; cmd: 'setup'; url: string; admin: string; concurrency: number }
  | { id: number; cmd: 'tokens'; n: number; concurrency: number; batch: number; timed: boolean; federated?: boolean }
  | { id: number; cmd: 'introspect'; n: number; concurrency: number; batch: number; withProof: boolean; timed: boolean }
  /** `target`: another origin to send the checks to (the bare check peer); the server's by default. */
  | { id: number; cmd: 'check'; n: number; concurrency: number; batch: number; timed: boolean; tokensInUse: number; target?: string }
  | { id: number; cmd: 'flood'; n: number; concurrency: number; floodConcurrency: number; floodSource: string }
  | { id: number; cmd: 'open'; rate: number; seconds: number; tokensInUse: number; target?: string };

/** The flood phase: the good client's token requests, and what the flooding source got. */
interface FloodResult {
  good: PhaseResult;
  flood: { requests: number; seconds: number; statuses: Record<string, number> };
}

/** A command without its id (distributes over the union). */
type CommandBody = Command extends infer C ? (C extends Command ? Omit<C, 'id'> : never) : never;

type WorkerMessage =
  | { type: 'result'; id: number; result: unknown }
  | { type: 'error'; id: number; message: string }
  | { type: 'timed'; state: 'start' | 'end'; cpu?: number };

// =============================================================================================
// Load generator (worker thread)

async function generator(): Promise<void> {
  const port = parentPort!;
  let url = '';
  let origin: URL;
  let agent: http.Agent;
  let clientId = '';
  let gatewayAuth = '';
  let clientKey: KeyPair;
  let dpopKey: KeyPair;
  let dpopJwk: JWK;
  const tokens: string[] = [];
  // docs/federation.md: a workload with no registered key, authenticating with a GitHub-style platform token.
  let federatedClientId = '';
  let platformKey: KeyPair;

  /** A form POST when `body` is given, else a bodyless request (a gateway's GET /check). */
  function send(method: string, path: string, headers: Record<string, string>, body?: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: origin.hostname,
          port: origin.port,
          path,
          method,
          agent,
          headers:
            body === undefined
              ? headers
              : { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body), ...headers },
        },
        (res) => {
          let data = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (data += chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  function assertion(): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ jti: randomUUID() })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer(clientId)
      .setSubject(clientId)
      .setAudience(url)
      .setIssuedAt(now)
      .setExpirationTime(now + 60)
      .sign(clientKey.privateKey);
  }

  function proof(htm: string, htu: string, accessToken?: string): Promise<string> {
    const payload: Record<string, unknown> = { jti: randomUUID(), htm, htu, iat: Math.floor(Date.now() / 1000) };
    if (accessToken) payload.ath = createHash('sha256').update(accessToken).digest('base64url');
    return new SignJWT(payload).setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: dpopJwk }).sign(dpopKey.privateKey);
  }

  interface Prepared {
    made: number;
    /** POST unless set. */
    method?: string;
    headers: Record<string, string>;
    /** Form body; none for a bodyless request. */
    body?: string;
  }

  /** Runs `count` jobs with at most `concurrency` in flight. */
  async function pool(count: number, concurrency: number, job: (i: number) => Promise<void>): Promise<void> {
    let next = 0;
    const lane = async () => {
      while (next < count) await job(next++);
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
  }

  async function prepareAll(count: number, make: (i: number) => Promise<Prepared>): Promise<Prepared[]> {
    const out = new Array<Prepared>(count);
    await pool(count, 128, async (i) => {
      out[i] = await make(i);
    });
    return out;
  }

  const tokenUrl = () => `${url}/oauth/token`;

  async function tokenItem(): Promise<Prepared> {
    const [a, p] = await Promise.all([assertion(), proof('POST', tokenUrl())]);
    const body = new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: clientId,
      client_assertion_type: ASSERTION_TYPE,
      client_assertion: a,
      scope: 'orders:read',
    }).toString();
    return { made: Date.now(), headers: { dpop: p }, body };
  }

  /** A platform token as a trusted issuer would sign it (single-use jti), sent as the client assertion. */
  async function federatedTokenItem(): Promise<Prepared> {
    const now = Math.floor(Date.now() / 1000);
    const platformToken = new SignJWT({ jti: randomUUID(), repository: 'bench-org/bench', ref: 'refs/heads/main' })
      .setProtectedHeader({ alg: 'ES256', kid: 'platform-1', typ: 'JWT' })
      .setIssuer(BENCH_PLATFORM_ISSUER)
      .setSubject('repo:bench-org/bench:environment:prod')
      .setAudience(url)
      .setIssuedAt(now)
      .setExpirationTime(now + 300)
      .sign(platformKey.privateKey);
    const [a, p] = await Promise.all([platformToken, proof('POST', tokenUrl())]);
    const body = new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: federatedClientId,
      client_assertion_type: ASSERTION_TYPE,
      client_assertion: a,
      scope: 'orders:read',
    }).toString();
    return { made: Date.now(), headers: { dpop: p }, body };
  }

  async function introspectionItem(token: string, withProof: boolean): Promise<Prepared> {
    const form: Record<string, string> = { token };
    if (withProof) {
      form.dpop_proof = await proof('GET', API_URL, token);
      form.htm = 'GET';
      form.htu = API_URL;
    }
    return { made: Date.now(), headers: { authorization: gatewayAuth }, body: new URLSearchParams(form).toString() };
  }

  /**
   * A gateway check as NGINX auth_request sends it (docs/gateways.md): bodyless GET /check, the
   * gateway's own credential in X-Gateway-Authorization, the original call in X-Original-Method /
   * X-Original-URL / X-Real-IP, the workload's token and a fresh proof for that method and URL.
   * Each check is for another order (/orders/<n>): one learned route, GET /orders/*.
   */
  async function checkItem(token: string, n: number): Promise<Prepared> {
    const target = `${API_URL}/${n}`;
    return {
      made: Date.now(),
      method: 'GET',
      headers: {
        'x-gateway-authorization': gatewayAuth,
        'x-original-method': 'GET',
        'x-original-url': target,
        'x-real-ip': CHECK_CLIENT_IP,
        authorization: `DPoP ${token}`,
        dpop: await proof('GET', target, token),
      },
    };
  }

  /** Batches of prepared requests; only the sending of each batch is timed. */
  async function runPhase(
    n: number,
    concurrency: number,
    batch: number,
    timed: boolean,
    make: (i: number) => Promise<Prepared>,
    path: string,
    check: (status: number, body: string) => boolean,
  ): Promise<PhaseResult> {
    const latencies = new Float64Array(n);
    let errors = 0;
    let firstError: string | undefined;
    let timedMs = 0;
    let prepareMs = 0;
    let resigned = 0;
    for (let start = 0; start < n; start += batch) {
      const size = Math.min(batch, n - start);
      const p0 = performance.now();
      const items = await prepareAll(size, (i) => make(start + i));
      prepareMs += performance.now() - p0;
      if (timed) port.postMessage({ type: 'timed', state: 'start', cpu: threadCpuSeconds() } satisfies WorkerMessage);
      const t0 = performance.now();
      await pool(size, concurrency, async (i) => {
        let item = items[i]!;
        if (Date.now() - item.made > MAX_PREPARED_AGE_MS) {
          item = await make(start + i);
          resigned++;
        }
        const t = performance.now();
        let ok = false;
        let detail = '';
        let res: { status: number; body: string } | undefined;
        try {
          res = await send(item.method ?? 'POST', path, item.headers, item.body);
        } catch (error) {
          detail = `request failed: ${(error as Error).message}`;
        }
        latencies[start + i] = performance.now() - t;
        if (res) {
          try {
            ok = check(res.status, res.body);
          } catch {
            ok = false; // not JSON
          }
          if (!ok) detail = `${res.status} ${res.body}`;
        }
        if (!ok) {
          errors++;
          firstError ??= detail;
        }
      });
      timedMs += performance.now() - t0;
      if (timed) port.postMessage({ type: 'timed', state: 'end', cpu: threadCpuSeconds() } satisfies WorkerMessage);
    }
    return { requests: n, latencies, timedMs, errors, firstError, resigned, prepareMs };
  }

  async function setup(serverUrl: string, admin: string, concurrency: number) {
    // Another server (the durability phase): the last one's tokens are not valid there.
    tokens.length = 0;
    url = serverUrl;
    origin = new URL(serverUrl);
    agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
    clientKey = await generateKeyPair('ES256', { extractable: true });
    dpopKey = await generateKeyPair('ES256', { extractable: true });
    dpopJwk = await exportJWK(dpopKey.publicKey);
    const publicJwk = { ...(await exportJWK(clientKey.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    const register = async (body: object) => {
      const res = await fetch(`${url}/admin/clients`, {
        method: 'POST',
        headers: { authorization: admin, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      const json = (await res.json()) as Record<string, string>;
      if (res.status !== 201) throw new Error(`registration failed: ${res.status} ${JSON.stringify(json)}`);
      return json;
    };
    const workload = await register({
      client_name: 'bench workload',
      jwks: { keys: [publicJwk] },
      scope: 'orders:read orders:write',
      allowed_resources: [RESOURCE],
    });
    clientId = workload.client_id!;
    // A trusted issuer with static keys (no fetch in the measured path once cached either way) and a federated workload.
    platformKey = await generateKeyPair('ES256', { extractable: true });
    const issuerRes = await fetch(`${url}/admin/trusted-issuers`, {
      method: 'POST',
      headers: { authorization: admin, 'content-type': 'application/json' },
      body: JSON.stringify({ kind: 'oidc', issuer: BENCH_PLATFORM_ISSUER, jwks: { keys: [{ ...(await exportJWK(platformKey.publicKey)), kid: 'platform-1', alg: 'ES256', use: 'sig' }] } }),
    });
    // A second server in the same database (the durability phase) finds the issuer already there.
    if (issuerRes.status !== 201 && issuerRes.status !== 400) throw new Error(`trusted issuer registration failed: ${issuerRes.status}`);
    if (issuerRes.status === 400) {
      const list = (await (await fetch(`${url}/admin/trusted-issuers`, { headers: { authorization: admin } })).json()) as { trusted_issuers: { id: string; issuer: string }[] };
      const existing = list.trusted_issuers.find((t) => t.issuer === BENCH_PLATFORM_ISSUER);
      if (!existing) throw new Error('trusted issuer registration failed');
      await fetch(`${url}/admin/trusted-issuers/${existing.id}`, {
        method: 'PATCH',
        headers: { authorization: admin, 'content-type': 'application/json' },
        body: JSON.stringify({ jwks: { keys: [{ ...(await exportJWK(platformKey.publicKey)), kid: 'platform-1', alg: 'ES256', use: 'sig' }] } }),
      });
    }
    const federatedWorkload = await register({
      client_name: 'bench federated workload',
      federated_identities: [{ issuer: BENCH_PLATFORM_ISSUER, subject: 'repo:bench-org/bench:environment:prod', claims: { ref: 'refs/heads/main' }, max_lifetime: 600 }],
      scope: 'orders:read orders:write',
      allowed_resources: [RESOURCE],
    });
    federatedClientId = federatedWorkload.client_id!;
    const gateway = await register({ client_name: 'bench gateway', roles: ['gateway'], token_endpoint_auth_method: 'client_secret_basic' });
    const form = (s: string) => encodeURIComponent(s);
    gatewayAuth = `Basic ${Buffer.from(`${form(gateway.client_id!)}:${form(gateway.client_secret!)}`).toString('base64')}`;
    // The bare check peer is given the gateway's credential as the value it must compare with.
    return { workload: clientId, gateway: gateway.client_id, gatewayAuthorization: gatewayAuth };
  }

  const tokenOk = (status: number, body: string) => {
    if (status !== 200) return false;
    const json = JSON.parse(body) as { access_token?: string; token_type?: string };
    if (json.token_type !== 'DPoP' || typeof json.access_token !== 'string') return false;
    tokens.push(json.access_token);
    return true;
  };
  const activeOk = (status: number, body: string) => status === 200 && (JSON.parse(body) as { active?: boolean }).active === true;
  let checkReasons: Record<string, number> = {};
  const allowOk = (status: number, body: string) => {
    const json = JSON.parse(body) as { decision?: string; reasons?: { code: string }[] };
    for (const r of json.reasons ?? []) checkReasons[r.code] = (checkReasons[r.code] ?? 0) + 1;
    return status === 200 && json.decision === 'allow';
  };
  /** Newest tokens first: they stay valid longest. */
  const pick = (i: number) => tokens[tokens.length - 1 - (i % tokens.length)]!;
  /**
   * A check's token: one of the newest `inUse`, as that many workloads each send the token they
   * hold with every call until it nears expiry (minutes), or, with 0, another token each time
   * (every check the first of its token: the verified-token cache never helps).
   */
  const pickInUse = (i: number, inUse: number) => (inUse > 0 ? tokens[tokens.length - 1 - (i % Math.min(inUse, tokens.length))]! : pick(i));

  /**
   * The good client's token requests (as in the token phase) while another source floods the
   * token endpoint with assertions that name the same client but are signed by a key nobody
   * registered — what anyone can send. The flood comes from another loopback address
   * (`localAddress`), so the server sees another network; it is one prepared set of forged
   * assertions sent over and over (an attacker pays nothing per request either).
   */
  async function flood(n: number, concurrency: number, floodConcurrency: number, source: string): Promise<FloodResult> {
    const attacker = await generateKeyPair('ES256');
    const attackerDpop = await generateKeyPair('ES256', { extractable: true });
    const attackerJwk = await exportJWK(attackerDpop.publicKey);
    const now = Math.floor(Date.now() / 1000);
    const bodies = await Promise.all(
      Array.from({ length: 200 }, async () => {
        const a = await new SignJWT({ jti: randomUUID() })
          .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
          .setIssuer(clientId).setSubject(clientId).setAudience(url)
          .setIssuedAt(now).setExpirationTime(now + 120)
          .sign(attacker.privateKey);
        const p = await new SignJWT({ jti: randomUUID(), htm: 'POST', htu: tokenUrl(), iat: now })
          .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: attackerJwk })
          .sign(attackerDpop.privateKey);
        const body = new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_assertion_type: ASSERTION_TYPE, client_assertion: a }).toString();
        return { body, proof: p };
      }),
    );
    const floodAgent = new http.Agent({ keepAlive: true, maxSockets: floodConcurrency, localAddress: source });
    const statuses: Record<string, number> = {};
    let sent = 0;
    let stop = false;
    const send1 = (i: number) =>
      new Promise<void>((resolve) => {
        const { body, proof } = bodies[i % bodies.length]!;
        const req = http.request(
          {
            host: origin.hostname, port: origin.port, path: '/oauth/token', method: 'POST', agent: floodAgent,
            headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body), dpop: proof },
          },
          (res) => {
            statuses[String(res.statusCode)] = (statuses[String(res.statusCode)] ?? 0) + 1;
            res.resume();
            res.on('end', resolve);
            res.on('error', () => resolve());
          },
        );
        req.on('error', () => {
          statuses.error = (statuses.error ?? 0) + 1;
          resolve();
        });
        req.end(body);
      });
    const t0 = performance.now();
    const lanes = Array.from({ length: floodConcurrency }, async (_, lane) => {
      while (!stop) await send1(sent++ + lane);
    });
    await new Promise((resolve) => setTimeout(resolve, 500)); // the flood is on before the good client's first request
    const good = await runPhase(n, concurrency, n, true, () => tokenItem(), '/oauth/token', tokenOk);
    stop = true;
    await Promise.all(lanes);
    const seconds = (performance.now() - t0) / 1000;
    floodAgent.destroy();
    return { good, flood: { requests: sent, seconds, statuses } };
  }
  let checksSent = 0;
  /** Keep-alive agents of other check targets (the bare check peer), kept between its warm-up and its timed phase. */
  const targetAgents = new Map<string, http.Agent>();

  /**
   * The open model: checks sent at a fixed arrival rate whatever the answers do, each one's latency
   * counted from the moment it was due (not from when it went out), so a server that falls behind
   * shows its queue. Every proof is signed before the first is due.
   */
  async function openModel(rate: number, seconds: number, tokensInUse: number, to: URL = origin): Promise<PhaseResult> {
    if (tokens.length === 0) throw new Error('no tokens to check');
    const n = Math.max(1, Math.round(rate * seconds));
    const first = checksSent;
    checksSent += n;
    const p0 = performance.now();
    const items = await prepareAll(n, (i) => checkItem(pickInUse(i, tokensInUse), first + i + 1));
    const prepareMs = performance.now() - p0;
    const openAgent = new http.Agent({ keepAlive: true, maxSockets: 512 });
    const latencies = new Float64Array(n);
    let errors = 0;
    let firstError: string | undefined;
    checkReasons = {};
    const sendOne = (item: Prepared): Promise<{ status: number; body: string }> =>
      new Promise((resolve, reject) => {
        const req = http.request({ host: to.hostname, port: to.port, path: '/check', method: 'GET', agent: openAgent, headers: item.headers }, (res) => {
          let data = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (data += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data }));
          res.on('error', reject);
        });
        req.on('error', reject);
        req.end();
      });
    port.postMessage({ type: 'timed', state: 'start', cpu: threadCpuSeconds() } satisfies WorkerMessage);
    const t0 = performance.now();
    const pending: Promise<void>[] = [];
    let next = 0;
    await new Promise<void>((done) => {
      const tick = () => {
        const now = performance.now();
        while (next < n && t0 + (next * 1000) / rate <= now) {
          const i = next++;
          const due = t0 + (i * 1000) / rate;
          pending.push(
            sendOne(items[i]!).then(
              (res) => {
                latencies[i] = performance.now() - due;
                let ok = false;
                try {
                  ok = allowOk(res.status, res.body);
                } catch {
                  ok = false;
                }
                if (!ok) {
                  errors++;
                  firstError ??= `${res.status} ${res.body}`;
                }
              },
              (error: unknown) => {
                latencies[i] = performance.now() - due;
                errors++;
                firstError ??= `request failed: ${(error as Error).message}`;
              },
            ),
          );
        }
        // Sleep until the next one is due (a timer's millisecond granularity), rather than spin:
        // a spinning generator would take a core from the server it measures.
        if (next < n) setTimeout(tick, Math.max(0, t0 + (next * 1000) / rate - performance.now()));
        else done();
      };
      tick();
    });
    await Promise.all(pending);
    const timedMs = performance.now() - t0;
    port.postMessage({ type: 'timed', state: 'end', cpu: threadCpuSeconds() } satisfies WorkerMessage);
    openAgent.destroy();
    return { requests: n, latencies, timedMs, errors, firstError, resigned: 0, prepareMs, reasons: checkReasons };
  }

  port.on('message', async (message: Command) => {
    try {
      let result: unknown;
      if (message.cmd === 'setup') {
        result = await setup(message.url, message.admin, message.concurrency);
      } else if (message.cmd === 'tokens') {
        result = await runPhase(message.n, message.concurrency, message.batch, message.timed, () => (message.federated ? federatedTokenItem() : tokenItem()), '/oauth/token', tokenOk);
      } else if (message.cmd === 'flood') {
        const r = await flood(message.n, message.concurrency, message.floodConcurrency, message.floodSource);
        port.postMessage({ type: 'result', id: message.id, result: r } satisfies WorkerMessage, [r.good.latencies.buffer as ArrayBuffer]);
        return;
      } else if (message.cmd === 'open') {
        result = await openModel(message.rate, message.seconds, message.tokensInUse, message.target ? new URL(message.target) : origin);
      } else if (message.cmd === 'check') {
        if (tokens.length === 0) throw new Error('no tokens to check');
        const first = checksSent;
        checksSent += message.n;
        checkReasons = {};
        // Another target gets the same requests (tokens, proofs for the same API URLs) over its own sockets.
        const home = { origin, agent };
        if (message.target) {
          origin = new URL(message.target);
          if (!targetAgents.has(message.target)) targetAgents.set(message.target, new http.Agent({ keepAlive: true, maxSockets: message.concurrency }));
          agent = targetAgents.get(message.target)!;
        }
        try {
          const r = await runPhase(message.n, message.concurrency, message.batch, message.timed, (i) => checkItem(pickInUse(i, message.tokensInUse), first + i + 1), '/check', allowOk);
          result = { ...r, reasons: checkReasons };
        } finally {
          ({ origin, agent } = home);
        }
      } else {
        if (tokens.length === 0) throw new Error('no tokens to introspect');
        const withProof = message.withProof;
        result = await runPhase(message.n, message.concurrency, message.batch, message.timed, (i) => introspectionItem(pick(i), withProof), '/oauth/introspect', activeOk);
      }
      const transfer = result && typeof result === 'object' && 'latencies' in result ? [(result as PhaseResult).latencies.buffer as ArrayBuffer] : [];
      port.postMessage({ type: 'result', id: message.id, result } satisfies WorkerMessage, transfer);
    } catch (error) {
      port.postMessage({ type: 'error', id: message.id, message: (error as Error).stack ?? String(error) } satisfies WorkerMessage);
    }
  });
}

// =============================================================================================
// Orchestration, server and crypto floor (main thread)

interface PhaseStats {
  requests: number;
  errors: number;
  first_error?: string;
  resigned: number;
  /** Time the generator spent signing assertions/proofs between the timed windows. */
  untimed_signing_seconds: number;
  seconds: number;
  requests_per_second: number;
  latency_ms: { mean: number; p50: number; p90: number; p99: number; max: number };
  /** Busy share of the server's event loop (main thread) during the timed windows. */
  server_event_loop_busy: number;
  /**
   * Share of the timed wall time the server's main thread was actually on a CPU (Linux only,
   * 10 ms resolution). Below server_event_loop_busy: the loop had work but waited for a core.
   */
  server_thread_on_cpu: number | null;
  /**
   * How late the server's event loop ran a 10 ms timer during the timed windows, ms (p50, p99,
   * max; perf_hooks.monitorEventLoopDelay): max is the longest stretch the loop could not answer
   * anything (a long synchronous job, a GC pause, a burst of microtasks).
   */
  server_event_loop_delay_ms: { p50: number; p99: number; max: number };
  /** Busy share of the load generator's event loop. */
  generator_event_loop_busy: number;
  /** Whole-process CPU (server + thread pool + generator) during the timed windows, in cores. */
  process_cpu_cores: number;
  /** CPU used by everything else on the machine during the timed windows, in cores (Linux only): noise. */
  other_processes_cpu_cores: number | null;
  /**
   * The server's CPU (all its threads, or all its processes with BENCH_WORKERS; not the load
   * generator's) per 1,000 requests, in CPU seconds: the cores it needs per 1,000 requests/s.
   */
  server_cores_per_1000_per_second: number | null;
  /** The open model: the arrival rate asked for (requests/s). */
  offered_per_second?: number;
  floor_per_second?: number;
  percent_of_floor?: number;
  /** Check phase: risk reasons in the answers, by code, with how many answers carried each. */
  risk_reasons?: Record<string, number>;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

const round = (x: number, digits = 1) => Number(x.toFixed(digits));

/** CPU seconds used by the calling thread so far (Linux: /proc/thread-self/stat); undefined elsewhere. */
function threadCpuSeconds(): number | undefined {
  try {
    const fields = readFileSync('/proc/thread-self/stat', 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, USER_HZ = 100
  } catch {
    return undefined;
  }
}

/** Busy CPU seconds of the whole machine so far, all cores (Linux: /proc/stat); undefined elsewhere. */
function machineCpuSeconds(): number | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
    const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
    return (user! + nice! + system! + irq! + softirq! + steal!) / 100;
  } catch {
    return undefined;
  }
}

/** CPU seconds of whole processes so far (Linux: /proc/<pid>/stat utime + stime); undefined when not readable. */
function processCpuSeconds(pids: readonly number[]): number | undefined {
  let total = 0;
  for (const pid of pids) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      total += (Number(fields[11]) + Number(fields[12])) / 100;
    } catch {
      return undefined;
    }
  }
  return total;
}

class Meter {
  /** With an out-of-process server (BENCH_WORKERS): its processes, whose CPU is the server's. */
  serverPids: number[] = [];
  private serverCpu = 0;
  private generatorCpu = 0;
  private threadCpu = 0;
  private machineCpu = 0;
  private elu = { idle: 0, active: 0 };
  private workerElu = { idle: 0, active: 0 };
  private cpuMicros = 0;
  /** How late the server's event loop ran a 10 ms timer: its longest stalls (enabled only while timed). */
  private readonly delay: IntervalHistogram = monitorEventLoopDelay({ resolution: 10 });
  private started?: { elu: EventLoopUtilization; workerElu: EventLoopUtilization; cpu: NodeJS.CpuUsage; threadCpu?: number; machineCpu?: number; generatorCpu?: number; serverCpu?: number };

  constructor(private readonly worker: Worker) {}

  start(generatorCpu?: number): void {
    this.delay.enable();
    this.started = {
      generatorCpu,
      serverCpu: this.serverPids.length ? processCpuSeconds(this.serverPids) : undefined,
      elu: performance.eventLoopUtilization(),
      workerElu: this.worker.performance.eventLoopUtilization(),
      cpu: process.cpuUsage(),
      threadCpu: threadCpuSeconds(),
      machineCpu: machineCpuSeconds(),
    };
  }

  end(generatorCpu?: number): void {
    if (!this.started) return;
    this.delay.disable();
    const generated = generatorCpu === undefined || this.started.generatorCpu === undefined ? NaN : generatorCpu - this.started.generatorCpu;
    this.generatorCpu += generated;
    if (this.serverPids.length) {
      const now = processCpuSeconds(this.serverPids);
      this.serverCpu += now === undefined || this.started.serverCpu === undefined ? NaN : now - this.started.serverCpu;
    }
    const elu = performance.eventLoopUtilization(this.started.elu);
    const workerElu = this.worker.performance.eventLoopUtilization(this.started.workerElu);
    const cpu = process.cpuUsage(this.started.cpu);
    const threadCpu = threadCpuSeconds();
    this.threadCpu = threadCpu === undefined || this.started.threadCpu === undefined ? NaN : this.threadCpu + threadCpu - this.started.threadCpu;
    const machineCpu = machineCpuSeconds();
    this.machineCpu = machineCpu === undefined || this.started.machineCpu === undefined ? NaN : this.machineCpu + machineCpu - this.started.machineCpu;
    this.elu.idle += elu.idle;
    this.elu.active += elu.active;
    this.workerElu.idle += workerElu.idle;
    this.workerElu.active += workerElu.active;
    this.cpuMicros += cpu.user + cpu.system;
    // In process, the server is this process less the load generator's thread.
    if (!this.serverPids.length) this.serverCpu += (cpu.user + cpu.system) / 1e6 - generated;
    this.started = undefined;
  }

  take(): {
    serverBusy: number;
    generatorBusy: number;
    cpuMicros: number;
    serverThreadCpu: number;
    machineCpu: number;
    serverCpu: number;
    loopDelayMs: { p50: number; p99: number; max: number };
  } {
    const busy = (u: { idle: number; active: number }) => (u.idle + u.active > 0 ? u.active / (u.idle + u.active) : 0);
    const ms = (ns: number) => (Number.isFinite(ns) && this.delay.count > 0 ? ns / 1e6 : NaN);
    const out = {
      serverBusy: busy(this.elu),
      generatorBusy: busy(this.workerElu),
      cpuMicros: this.cpuMicros,
      serverThreadCpu: this.threadCpu,
      machineCpu: this.machineCpu,
      serverCpu: this.serverCpu,
      loopDelayMs: { p50: ms(this.delay.percentile(50)), p99: ms(this.delay.percentile(99)), max: ms(this.delay.max) },
    };
    this.delay.reset();
    this.threadCpu = 0;
    this.machineCpu = 0;
    this.serverCpu = 0;
    this.generatorCpu = 0;
    this.elu = { idle: 0, active: 0 };
    this.workerElu = { idle: 0, active: 0 };
    this.cpuMicros = 0;
    return out;
  }
}

interface CryptoFloor {
  milliseconds_per_measurement: number;
  /** Each figure is the best of this many rounds. */
  repeats: number;
  /** ES256 with node:crypto, synchronously on one core (the server's own hot-path primitive), ops/s. */
  verify_per_core: number;
  sign_per_core: number;
  /** The machine: per core times the cores (the issue's floor: what the machine can do). */
  cores: number;
  best_verify: number;
  best_sign: number;
  /** CPU of this process and of everything else on the machine while the floor was measured, in cores. */
  process_cpu_cores?: number;
  other_processes_cpu_cores?: number | null;
}

/**
 * The crypto floor: ES256 verifications and signatures per second with node:crypto on one core
 * (200-byte inputs, the size of a DPoP proof's signing input), measured with the server idle, times
 * the machine's cores. A check costs at most two verifications (proof and token; the token's is
 * cached), an introspection one, a token two and a signature.
 */
async function cryptoFloor(ms: number, repeats: number): Promise<CryptoFloor> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const data = Buffer.alloc(200, 7);
  const signature = cryptoSign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' });
  const rate = (op: () => unknown) => {
    const t0 = performance.now();
    let n = 0;
    while (performance.now() - t0 < ms) {
      op();
      n++;
    }
    return (n * 1000) / (performance.now() - t0);
  };
  let verify = 0;
  let sign = 0;
  for (let r = 0; r < repeats; r++) {
    verify = Math.max(verify, rate(() => cryptoVerify('sha256', data, { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature)));
    sign = Math.max(sign, rate(() => cryptoSign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' })));
    await new Promise((resolve) => setImmediate(resolve));
  }
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  return {
    milliseconds_per_measurement: ms,
    repeats,
    verify_per_core: round(verify),
    sign_per_core: round(sign),
    cores,
    best_verify: round(verify * cores),
    best_sign: round(sign * cores),
  };
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

type Frame = ProfileNode['callFrame'];
const isLib = (url: string, ...names: string[]) => names.some((n) => url.includes(`/node_modules/${n}/`));

/**
 * Cost centres, in priority order: a sample whose stack contains a frame matching one of these
 * (anywhere) is counted there. Samples matching none go to the innermost framework frame below.
 */
const COST_CENTRES: [string, (f: Frame) => boolean][] = [
  ['garbage collection', (f) => f.functionName === '(garbage collector)'],
  ['DPoP jwk import (jose EmbeddedJWK -> importKey)', (f) => f.functionName === 'EmbeddedJWK' && f.url.includes('/jose/')],
  ['JWK thumbprints (jose, via subtle.digest)', (f) => f.functionName === 'calculateJwkThumbprint' && f.url.includes('/jose/')],
  ['ECDSA sign/verify hand-off to WebCrypto', (f) => f.functionName === 'ecdsaSignVerify'],
  // Synchronous node:crypto verification (libs/credentials/jws.ts, bench/bare-check.ts): the signature work itself.
  ['signature verification (node:crypto, synchronous)', (f) => f.functionName === 'verifyOneShot' && f.url === 'node:internal/crypto/sig'],
  ['jose, other (parsing, base64, claims)', (f) => f.url.includes('/jose/')],
  ['Redis client (ioredis)', (f) => isLib(f.url, 'ioredis', 'redis-parser', '@ioredis')],
  ['database client (Prisma/pg/PGlite)', (f) => isLib(f.url, '@prisma', '@electric-sql', 'pg', 'pg-protocol', 'pglite-prisma-adapter') || f.url.includes('/persistence/generated/')],
];
/** Innermost (closest to the leaf) match wins among these. */
const FRAMEWORKS: [string, (f: Frame) => boolean][] = [
  ['oidc-provider + koa', (f) => isLib(f.url, 'oidc-provider', 'koa', 'koa-compose', 'delegates', '@koa')],
  ['Tollgate risk engine + learned state (libs/risk)', (f) => f.url.includes('/dist/libs/risk/')],
  ['Tollgate decision log (libs/audit)', (f) => f.url.includes('/dist/libs/audit/')],
  ['Tollgate code, other', (f) => f.url.includes('/dist/libs/') || f.url.includes('/dist/apps/')],
  ['the bare check peer (bench/bare-check.ts)', (f) => f.url.endsWith('/bench/bare-check.js')],
  ['Express/router/body parsing/Nest', (f) => isLib(f.url, 'express', 'router', 'body-parser', 'raw-body', 'qs', '@nestjs', 'on-finished', 'type-is', 'send', 'etag')],
  ['node http/net (parsing, socket writes)', (f) => /^node:(_http_|net$|internal\/stream|internal\/streams|internal\/http)/.test(f.url) || f.url === 'node:net'],
];

/** Where the server's main thread spent a phase: cost centres by stack, then top self time. */
function profileSummary(profile: { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] }, top = 12): string[] {
  const parent = new Map<number, number>();
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const stackOf = (id: number): Frame[] => {
    const frames: Frame[] = [];
    for (let c: number | undefined = id; c !== undefined; c = parent.get(c)) frames.push(nodes.get(c)!.callFrame);
    return frames;
  };
  const byNode = new Map<number, number>();
  profile.samples.forEach((id, i) => byNode.set(id, (byNode.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const centres = new Map<string, number>();
  const fns = new Map<string, number>();
  let total = 0;
  for (const [id, t] of byNode) {
    const stack = stackOf(id);
    // Leave out idle time and the benchmark's own frames (starting/stopping the profiler).
    if (stack[0]!.functionName === '(idle)' || stack.some((f) => f.url.endsWith('/bench/run.js'))) continue;
    total += t;
    let centre = COST_CENTRES.find(([, match]) => stack.some(match))?.[0];
    if (!centre) {
      for (const frame of stack) {
        centre = FRAMEWORKS.find(([, match]) => match(frame))?.[0];
        if (centre) break;
      }
    }
    centre ??= 'other (promise/microtask plumbing, native)';
    centres.set(centre, (centres.get(centre) ?? 0) + t);
    const { functionName, url, lineNumber } = stack[0]!;
    const file = url.replace(/^.*node_modules\//, '').replace(/^.*\/dist\//, 'dist/');
    const key = `${functionName || '(anonymous)'}${file ? `  ${file}:${lineNumber + 1}` : ''}`;
    fns.set(key, (fns.get(key) ?? 0) + t);
  }
  total ||= 1;
  const pct = (t: number) => `${((100 * t) / total).toFixed(1).padStart(5)}%`;
  const sorted = (m: Map<string, number>, n: number) => [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, n);
  return [
    '  by cost centre (% of busy samples):',
    ...sorted(centres, centres.size).map(([k, t]) => `  ${pct(t)}  ${k}`),
    '  top self time:',
    ...sorted(fns, top).map(([k, t]) => `  ${pct(t)}  ${k}`),
  ];
}

/** With BENCH_PROFILE set, samples the server's main thread during each timed phase. */
class PhaseProfiler {
  private session?: Session;
  readonly summaries: Record<string, string[]> = {};

  /**
   * `allocations`: also sample allocations. `all` (BENCH_ALLOCATIONS=1): every one, collected or
   * not: what each phase allocates, by function. `live` (BENCH_ALLOCATIONS=live): only those not
   * collected by the phase's end: what outlives its request (promoted to the old generation, where
   * only a full collection, a long pause, frees it), by the function that allocated it.
   */
  constructor(
    private readonly dir: string | undefined,
    private readonly allocations: 'all' | 'live' | false = false,
  ) {}

  async start(): Promise<void> {
    if (!this.dir) return;
    this.session ??= new Session();
    this.session.connect();
    await this.session.post('Profiler.enable');
    await this.session.post('Profiler.setSamplingInterval', { interval: 200 });
    if (this.allocations) {
      await this.session.post('HeapProfiler.enable');
      const all = this.allocations === 'all';
      await this.session.post('HeapProfiler.startSampling', { samplingInterval: 8192, includeObjectsCollectedByMajorGC: all, includeObjectsCollectedByMinorGC: all } as object);
    }
    await this.session.post('Profiler.start');
  }

  async stop(name: string): Promise<void> {
    if (!this.dir || !this.session) return;
    const { profile } = (await this.session.post('Profiler.stop')) as { profile: any };
    mkdirSync(this.dir, { recursive: true });
    if (this.allocations) {
      const { profile: heap } = (await this.session.post('HeapProfiler.stopSampling')) as { profile: any };
      writeFileSync(`${this.dir}/${name}.heapprofile`, JSON.stringify(heap));
      this.summaries[`${name} (${this.allocations === 'all' ? 'allocations' : 'allocations still alive at its end'})`] = allocationSummary(heap);
    }
    this.session.disconnect();
    writeFileSync(`${this.dir}/${name}.cpuprofile`, JSON.stringify(profile));
    this.summaries[name] = profileSummary(profile);
  }
}

/** The functions that allocated most in a sampled heap profile (self), with their share of all bytes sampled. */
function allocationSummary(profile: { head: HeapNode }): string[] {
  const bySite = new Map<string, number>();
  let total = 0;
  const walk = (node: HeapNode) => {
    const self = node.selfSize;
    if (self > 0) {
      const f = node.callFrame;
      const site = `${f.functionName || '(anonymous)'}  ${f.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/dist\//, 'dist/')}:${f.lineNumber + 1}`;
      bySite.set(site, (bySite.get(site) ?? 0) + self);
      total += self;
    }
    for (const child of node.children) walk(child);
  };
  walk(profile.head);
  return [...bySite].sort((a, b) => b[1] - a[1]).slice(0, 15).map(([site, bytes]) => `${((100 * bytes) / total).toFixed(1).padStart(5)}%  ${site}`);
}

interface HeapNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: HeapNode[];
}

interface BenchServer {
  url: string;
  admin: string;
  dbKind: 'postgresql' | 'embedded';
  hotKind: 'redis' | 'memory';
  /** Out of process (BENCH_WORKERS): the primary's and the workers' pids; in process, none. */
  pids: number[];
  close(): Promise<void>;
}

/**
 * The server under test: in this process (startTollgate, the end-to-end tests' server), or with
 * BENCH_WORKERS > 1 the real `node dist/apps/tollgate/src/main.js` with TOLLGATE_WORKERS, its
 * CPU read from /proc for every process of it (no event-loop meters or profiles then).
 */
async function startServer(env: Record<string, string>, workers: number): Promise<BenchServer> {
  const { freePort, startTollgate } = await import('#test-support');
  if (workers <= 1) {
    const s = await startTollgate(env);
    return { url: s.url, admin: s.admin, dbKind: s.tollgate.runtime.db.kind, hotKind: s.tollgate.runtime.hot.kind, pids: [], close: () => s.close() };
  }
  if (!process.env.DATABASE_URL || !process.env.REDIS_URL) throw new Error('BENCH_WORKERS above 1 needs DATABASE_URL and REDIS_URL');
  const port = await freePort();
  const adminToken = randomUUID() + randomUUID();
  const child = spawn(process.execPath, [fileURLToPath(new URL('../apps/tollgate/src/main.js', import.meta.url))], {
    env: {
      ...process.env,
      ...env,
      PORT: String(port),
      HOST: '127.0.0.1',
      TOLLGATE_ISSUER: `http://127.0.0.1:${port}`,
      TOLLGATE_WORKERS: String(workers),
      TOLLGATE_ADMIN_TOKEN: adminToken,
      TOLLGATE_KEY_ENCRYPTION_KEY: process.env.TOLLGATE_KEY_ENCRYPTION_KEY ?? Buffer.alloc(32, 7).toString('base64url'),
      TOLLGATE_LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const pids: number[] = [];
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the workers did not start:\n${out}`)), 60_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const lines = out.split('\n').filter((l) => l.includes('"tollgate listening"'));
      if (lines.length >= workers && pids.length === 0) {
        pids.push(child.pid!, ...lines.map((l) => (JSON.parse(l) as { pid: number }).pid));
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`the server exited (${code}):\n${out}`)));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    admin: `Bearer ${adminToken}`,
    dbKind: 'postgresql',
    hotKind: 'redis',
    pids,
    close: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

async function main(): Promise<void> {
  const tokensN = envInt('BENCH_TOKENS', 2000);
  const introspectionsN = envInt('BENCH_INTROSPECTIONS', 4000, 2);
  const checksN = envInt('BENCH_CHECKS', 4000);
  const tokensInUse = envInt('BENCH_TOKENS_IN_USE', 32);
  const concurrency = envInt('BENCH_CONCURRENCY', 32);
  const batch = envInt('BENCH_BATCH', 1000);
  const floodN = envInt('BENCH_FLOOD_REQUESTS', 1000);
  const workers = envInt('BENCH_WORKERS', 1);
  const openSeconds = envInt('BENCH_OPEN_SECONDS', 5);
  const openRatesSetting = process.env.BENCH_OPEN_RATES
    ? process.env.BENCH_OPEN_RATES.split(',').map((r) => {
        const rate = Number(r.trim());
        if (!Number.isInteger(rate) || rate < 1) throw new Error(`BENCH_OPEN_RATES must list whole numbers, got "${process.env.BENCH_OPEN_RATES}"`);
        return rate;
      })
    : undefined;
  const floodConcurrency = envInt('BENCH_FLOOD_CONCURRENCY', 256);
  const floodSource = process.env.BENCH_FLOOD_SOURCE || '127.0.0.2';
  const warmup = envInt('BENCH_WARMUP', 200, 0);
  const barePeer = process.env.BENCH_BARE_PEER !== '0';
  const cryptoMs = envInt('BENCH_CRYPTO_MS', 1000, 100);
  const cryptoRepeats = envInt('BENCH_CRYPTO_REPEATS', 2);
  const profileDir = process.env.BENCH_PROFILE
    ? process.env.BENCH_PROFILE === '1' || process.env.BENCH_PROFILE === 'true'
      ? fileURLToPath(new URL('../../bench/results/profiles', import.meta.url))
      : process.env.BENCH_PROFILE
    : undefined;
  const profiler = new PhaseProfiler(envInt('BENCH_WORKERS', 1) > 1 ? undefined : profileDir, process.env.BENCH_ALLOCATIONS === '1' ? 'all' : process.env.BENCH_ALLOCATIONS === 'live' ? 'live' : false);
  const started = performance.now();
  const loadBefore = os.loadavg()[0]!;

  // The production failure budgets (docs/risk.md), not the test suites' generous ones: the flood phase measures them.
  const server = await startServer({ TOLLGATE_AUTH_FAILURES_PER_SOURCE: '', TOLLGATE_AUTH_FAILURES_PER_CLIENT: '' }, workers);
  const { dbKind, hotKind } = server;
  const database = dbKind === 'postgresql' ? 'PostgreSQL (DATABASE_URL)' : 'embedded PGlite, in memory';
  const hotState = hotKind === 'redis' ? 'Redis (REDIS_URL)' : 'in-process memory';
  console.log(`Tollgate at ${server.url}; database: ${database}; hot state: ${hotState}`);

  const worker = new Worker(fileURLToPath(import.meta.url));
  const meter = new Meter(worker);
  meter.serverPids = server.pids;
  let nextId = 1;
  const pending = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();
  worker.on('message', (m: WorkerMessage) => {
    if (m.type === 'timed') return m.state === 'start' ? meter.start(m.cpu) : meter.end(m.cpu);
    const waiter = pending.get(m.id);
    pending.delete(m.id);
    if (m.type === 'result') waiter?.resolve(m.result);
    else waiter?.reject(new Error(`load generator: ${m.message}`));
  });
  worker.on('error', (error) => {
    for (const w of pending.values()) w.reject(error);
    pending.clear();
  });
  const call = <T>(command: CommandBody): Promise<T> =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      worker.postMessage({ ...command, id });
    });

  let exitCode = 0;
  try {
    const ids = await call<{ workload: string; gateway: string; gatewayAuthorization: string }>({ cmd: 'setup', url: server.url, admin: server.admin, concurrency });
    console.log(`registered workload ${ids.workload} (ES256 key, ES256 DPoP key) and gateway ${ids.gateway} (client_secret_basic)`);

    if (warmup > 0) {
      console.log(`warm-up: ${warmup} token requests, ${warmup} introspections of each kind, ${warmup} checks (untimed)`);
      const w1 = await call<PhaseResult>({ cmd: 'tokens', n: warmup, concurrency, batch, timed: false });
      const w2 = await call<PhaseResult>({ cmd: 'introspect', n: warmup, concurrency, batch, withProof: false, timed: false });
      const w3 = await call<PhaseResult>({ cmd: 'introspect', n: warmup, concurrency, batch, withProof: true, timed: false });
      const w4 = await call<PhaseResult>({ cmd: 'check', n: warmup, concurrency, batch, timed: false, tokensInUse });
      for (const w of [w1, w2, w3, w4]) if (w.errors) console.log(`warm-up error: ${w.firstError}`);
    }

    /**
     * The check phase against a second server with TOLLGATE_DECISION_DURABILITY=all: every allow
     * is committed before its answer, as for refusals. Its own workload, gateway, tokens and
     * warm-up (untimed); the server is closed afterwards. Next to `check`: the price of `all`.
     */
    const checkAllDurable = async (): Promise<PhaseStats> => {
      const durable = await startServer({ TOLLGATE_DECISION_DURABILITY: 'all' }, workers);
      meter.serverPids = durable.pids;
      try {
        await call({ cmd: 'setup', url: durable.url, admin: durable.admin, concurrency });
        const prepared = [
          await call<PhaseResult>({ cmd: 'tokens', n: Math.max(warmup, concurrency), concurrency, batch, timed: false }),
          ...(warmup > 0 ? [await call<PhaseResult>({ cmd: 'check', n: warmup, concurrency, batch, timed: false, tokensInUse })] : []),
        ];
        for (const w of prepared) if (w.errors) console.log(`warm-up error (durability all): ${w.firstError}`);
        console.log(`gateway check, TOLLGATE_DECISION_DURABILITY=all (a second server at ${durable.url}): ${checksN} GET /check`);
        meter.take();
        await profiler.start();
        const result = await call<PhaseResult>({ cmd: 'check', n: checksN, concurrency, batch, timed: true, tokensInUse });
        await profiler.stop('check_all_durable');
        return summarize(result);
      } finally {
        await durable.close();
        meter.serverPids = server.pids;
      }
    };

    /**
     * The check phase against the bare check peer (bench/bare-check.ts), started in this thread as
     * the server is: the same generator, tokens, proofs (htu the same API URLs), concurrency and
     * count, and the same meter. Its own warm-up (untimed); closed afterwards. Whatever
     * BENCH_WORKERS says, the peer is this process: its CPU is this process's less the generator's.
     */
    const checkBarePeer = async (): Promise<{ closed: PhaseStats; open: PhaseStats }> => {
      const peer = await startBareCheckPeer(server.url, ids.gatewayAuthorization, process.env.REDIS_URL || undefined);
      meter.serverPids = [];
      try {
        if (warmup > 0) {
          const w = await call<PhaseResult>({ cmd: 'check', n: warmup, concurrency, batch, timed: false, tokensInUse, target: peer.url });
          if (w.errors) console.log(`warm-up error (bare check peer): ${w.firstError}`);
        }
        console.log(`bare check peer (node:http, bench/bare-check.ts) at ${peer.url}: ${checksN} GET /check, the same tokens, proofs and concurrency`);
        meter.take();
        await profiler.start();
        const result = await call<PhaseResult>({ cmd: 'check', n: checksN, concurrency, batch, timed: true, tokensInUse, target: peer.url });
        await profiler.stop('bare_check_peer');
        const closed = summarize(result);
        // The open model's first rate, as for Tollgate: what p99 and stalls a bare check has here.
        console.log(`bare check peer, open model: 500/s for ${openSeconds} s`);
        meter.take();
        await profiler.start();
        const open = await call<PhaseResult>({ cmd: 'open', rate: 500, seconds: openSeconds, tokensInUse, target: peer.url });
        await profiler.stop('bare_check_peer_open_500');
        return { closed, open: { ...summarize(open), offered_per_second: 500 } };
      } finally {
        await peer.close();
        meter.serverPids = server.pids;
      }
    };

    const summarize = (r: PhaseResult): PhaseStats => {
      const m = meter.take();
      const sorted = Float64Array.from(r.latencies).sort();
      const seconds = r.timedMs / 1000;
      const mean = sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length);
      return {
        requests: r.requests,
        errors: r.errors,
        ...(r.firstError ? { first_error: r.firstError.slice(0, 2000) } : {}),
        resigned: r.resigned,
        untimed_signing_seconds: round(r.prepareMs / 1000, 3),
        seconds: round(seconds, 3),
        requests_per_second: round(r.requests / seconds),
        latency_ms: {
          mean: round(mean, 2),
          p50: round(percentile(sorted, 50), 2),
          p90: round(percentile(sorted, 90), 2),
          p99: round(percentile(sorted, 99), 2),
          max: round(sorted[sorted.length - 1] ?? NaN, 2),
        },
        server_event_loop_busy: round(m.serverBusy, 3),
        server_thread_on_cpu: Number.isNaN(m.serverThreadCpu) ? null : round(m.serverThreadCpu / seconds, 3),
        server_event_loop_delay_ms: { p50: round(m.loopDelayMs.p50, 1), p99: round(m.loopDelayMs.p99, 1), max: round(m.loopDelayMs.max, 1) },
        generator_event_loop_busy: round(m.generatorBusy, 3),
        process_cpu_cores: round(m.cpuMicros / 1e6 / seconds, 2),
        other_processes_cpu_cores: Number.isNaN(m.machineCpu) ? null : round(Math.max(0, m.machineCpu - (meter.serverPids.length ? m.serverCpu : 0) - m.cpuMicros / 1e6) / seconds, 2),
        server_cores_per_1000_per_second: Number.isFinite(m.serverCpu) && r.requests ? round((m.serverCpu / r.requests) * 1000, 3) : null,
        ...(r.reasons ? { risk_reasons: r.reasons } : {}),
      };
    };

    console.log(`token issuance: ${tokensN} requests, ${concurrency} in flight, batches of ${batch}`);
    meter.take();
    await profiler.start();
    const tokenResult = await call<PhaseResult>({ cmd: 'tokens', n: tokensN, concurrency, batch, timed: true });
    await profiler.stop('token_issuance');
    const tokenStats = summarize(tokenResult);
    console.log(`federated token issuance (a platform token as the client assertion, docs/federation.md): ${tokensN} requests`);
    if (warmup > 0) {
      const wf = await call<PhaseResult>({ cmd: 'tokens', n: warmup, concurrency, batch, timed: false, federated: true });
      if (wf.errors) console.log(`warm-up error (federated): ${wf.firstError}`);
    }
    await profiler.start();
    const federatedResult = await call<PhaseResult>({ cmd: 'tokens', n: tokensN, concurrency, batch, timed: true, federated: true });
    await profiler.stop('federated_token_issuance');
    const federatedStats = summarize(federatedResult);
    const plainN = Math.ceil(introspectionsN / 2);
    const proofN = introspectionsN - plainN;
    console.log(`introspection: ${plainN} plain + ${proofN} with DPoP proof, ${concurrency} in flight`);
    await profiler.start();
    const plainResult = await call<PhaseResult>({ cmd: 'introspect', n: plainN, concurrency, batch, withProof: false, timed: true });
    await profiler.stop('introspection_plain');
    const plainStats = summarize(plainResult);
    await profiler.start();
    const proofResult = await call<PhaseResult>({ cmd: 'introspect', n: proofN, concurrency, batch, withProof: true, timed: true });
    await profiler.stop('introspection_with_proof');
    const proofStats = summarize(proofResult);
    console.log(`gateway check: ${checksN} GET /check (allow expected), fresh DPoP proof each, ${tokensInUse || "every"} token(s) in use, ${concurrency} in flight`);
    await profiler.start();
    const checkResult = await call<PhaseResult>({ cmd: 'check', n: checksN, concurrency, batch, timed: true, tokensInUse });
    await profiler.stop('check');
    const checkStats = summarize(checkResult);
    console.log(`gateway check, every token new to the server: ${checksN} GET /check, each with a token it has not checked before`);
    const coldResult = await call<PhaseResult>({ cmd: 'check', n: checksN, concurrency, batch, timed: true, tokensInUse: 0 });
    const coldStats = summarize(coldResult);
    const bareRuns = barePeer ? await checkBarePeer() : undefined;
    const bareStats = bareRuns?.closed;

    // Issue 10 §5: the open model, at fixed arrival rates (500/s, and a third of what the closed loop reached).
    const openRates = openRatesSetting ?? [500, Math.max(50, Math.round(checkStats.requests_per_second / 3))];
    const openStats: PhaseStats[] = [];
    for (const rate of openRates) {
      console.log(`gateway check, open model: ${rate}/s for ${openSeconds} s (latency from the scheduled send)`);
      meter.take();
      await profiler.start();
      const result = await call<PhaseResult>({ cmd: 'open', rate, seconds: openSeconds, tokensInUse });
      await profiler.stop(`check_open_${rate}`);
      openStats.push({ ...summarize(result), offered_per_second: rate });
    }

    // Issue 9 §1: a good client's token latency, quiet and while another source floods forged assertions in its name.
    const floodGoodConcurrency = Math.min(concurrency, 4);
    console.log(
      `flood: ${floodN} token requests of the good client (${floodGoodConcurrency} in flight), quiet, then while ${floodSource} ` +
        `sends forged assertions for the same client id (${floodConcurrency} in flight)`,
    );
    meter.take();
    const quietStats = summarize(await call<PhaseResult>({ cmd: 'tokens', n: floodN, concurrency: floodGoodConcurrency, batch: floodN, timed: true }));
    await profiler.start();
    const floodRun = await call<FloodResult>({ cmd: 'flood', n: floodN, concurrency: floodGoodConcurrency, floodConcurrency, floodSource });
    await profiler.stop('flood');
    const floodedStats = summarize(floodRun.good);
    const allDurableStats = await checkAllDurable();
    await worker.terminate();

    console.log(`crypto floor: node:crypto ES256 verify / sign on one core, best of ${cryptoRepeats} x ${cryptoMs} ms, times the cores`);
    const floorCpu0 = process.cpuUsage();
    const floorMachine0 = machineCpuSeconds();
    const floorT0 = performance.now();
    const crypto = await cryptoFloor(cryptoMs, cryptoRepeats);
    const floorSeconds = (performance.now() - floorT0) / 1000;
    const floorOwn = (({ user, system }) => (user + system) / 1e6)(process.cpuUsage(floorCpu0));
    const floorMachine1 = machineCpuSeconds();
    crypto.process_cpu_cores = round(floorOwn / floorSeconds, 2);
    crypto.other_processes_cpu_cores =
      floorMachine0 === undefined || floorMachine1 === undefined ? null : round(Math.max(0, floorMachine1 - floorMachine0 - floorOwn) / floorSeconds, 2);
    const V = crypto.best_verify;
    const S = crypto.best_sign;
    const floors = {
      token_issuance: { mix: '2 verify + 1 sign', per_second: round(1 / (2 / V + 1 / S)) },
      // Platform token, hand-over assertion (signed and verified), DPoP proof, access token.
      federated_token_issuance: { mix: '3 verify + 2 sign', per_second: round(1 / (3 / V + 2 / S)) },
      introspection_plain: { mix: '1 verify', per_second: round(V) },
      introspection_with_proof: { mix: '2 verify', per_second: round(V / 2) },
      check: { mix: '2 verify', per_second: round(V / 2) },
    };
    const withFloor = (s: PhaseStats, floor: number): PhaseStats => ({
      ...s,
      floor_per_second: floor,
      percent_of_floor: round((100 * s.requests_per_second) / floor),
    });
    const phases = {
      token_issuance: withFloor(tokenStats, floors.token_issuance.per_second),
      federated_token_issuance: withFloor(federatedStats, floors.federated_token_issuance.per_second),
      introspection_plain: withFloor(plainStats, floors.introspection_plain.per_second),
      introspection_with_proof: withFloor(proofStats, floors.introspection_with_proof.per_second),
      check: withFloor(checkStats, floors.check.per_second),
      check_tokens_new: withFloor(coldStats, floors.check.per_second),
      check_all_durable: withFloor(allDurableStats, floors.check.per_second),
      ...(bareStats ? { bare_check_peer: withFloor(bareStats, floors.check.per_second) } : {}),
    };
    const bare = phases.bare_check_peer;

    const cpus = os.cpus();
    const results = {
      date: new Date().toISOString(),
      node: process.version,
      platform: `${process.platform} ${process.arch}`,
      cpu_model: cpus[0]?.model ?? 'unknown',
      cores: typeof os.availableParallelism === 'function' ? os.availableParallelism() : cpus.length,
      uv_threadpool_size: Number(process.env.UV_THREADPOOL_SIZE) || 4,
      /** 1-minute load average before and after: well above 0 before means other work shared the machine. */
      load_average_1m: { before: round(loadBefore, 2), after: round(os.loadavg()[0]!, 2) },
      database: dbKind,
      hot_state: hotKind,
      profiled: Boolean(profileDir),
      workers,
      settings: { tokens: tokensN, introspections: introspectionsN, checks: checksN, tokens_in_use: tokensInUse, concurrency, batch, warmup, crypto_ms: cryptoMs, crypto_repeats: cryptoRepeats, keep_alive: true },
      phases,
      /** Checks at fixed arrival rates: latency from each request's scheduled time. */
      open_model: openStats.map((o) => withFloor(o, floors.check.per_second)),
      /** The bare check peer at 500/s, open model. */
      bare_check_peer_open: bareRuns ? withFloor(bareRuns.open, floors.check.per_second) : null,
      /** Tollgate's check (phase 4) against the bare check peer: its share of the peer's req/s, and its srv/1k over the peer's. */
      check_against_bare_peer: bare
        ? {
            requests_per_second_share: round(phases.check.requests_per_second / bare.requests_per_second, 3),
            server_cpu_per_check_ratio:
              phases.check.server_cores_per_1000_per_second && bare.server_cores_per_1000_per_second
                ? round(phases.check.server_cores_per_1000_per_second / bare.server_cores_per_1000_per_second, 3)
                : null,
          }
        : null,
      /** The good client's token requests, quiet and during a flood of forged assertions from another source. */
      flood: {
        good_concurrency: Math.min(concurrency, 4),
        flood_concurrency: floodConcurrency,
        flood_source: floodSource,
        quiet: quietStats,
        flooded: floodedStats,
        flood_requests: floodRun.flood.requests,
        flood_requests_per_second: round(floodRun.flood.requests / floodRun.flood.seconds),
        flood_statuses: floodRun.flood.statuses,
      },
      crypto,
      floors,
      /** Issue 10's goals judged on this run (bench/goals.ts). */
      goals: [] as GoalRow[],
      total_seconds: 0,
    };
    results.goals = issue10Goals({ phases, open_model: results.open_model, bare_peer_open: results.bare_check_peer_open ?? undefined, floors, in_process: workers <= 1 });

    // ---- report
    const pad = (s: string | number, n: number) => String(s).padStart(n);
    const lines: string[] = [];
    lines.push('');
    lines.push(`Tollgate benchmark  ${results.date}`);
    lines.push(`node ${results.node}, ${results.cpu_model}, ${results.cores} cores; database: ${database}; hot state: ${hotState}`);
    lines.push(`${concurrency} requests in flight over keep-alive loopback; load generator in a worker thread; ${workers > 1 ? `server: ${workers} workers (TOLLGATE_WORKERS), out of process` : 'server: one process, this one'}`);

    lines.push('');
    lines.push(
      `${'phase'.padEnd(28)}${pad('requests', 9)}${pad('errors', 7)}${pad('req/s', 9)}${pad('p50 ms', 9)}${pad('p99 ms', 9)}${pad('floor/s', 9)}${pad('of floor', 9)}${pad('srv loop', 9)}${pad('srv cpu', 8)}${pad('lag max', 8)}${pad('cpu', 6)}${pad('others', 7)}${pad('srv/1k', 8)}`,
    );
    // With BENCH_WORKERS the server is other processes: its event loops are not this process's to measure.
    const inProcess = workers <= 1;
    const row = (name: string, s: PhaseStats) =>
      lines.push(
        `${name.padEnd(28)}${pad(s.requests, 9)}${pad(s.errors, 7)}${pad(s.requests_per_second.toFixed(0), 9)}${pad(s.latency_ms.p50.toFixed(2), 9)}${pad(s.latency_ms.p99.toFixed(2), 9)}${pad(s.floor_per_second!.toFixed(0), 9)}${pad(`${s.percent_of_floor!.toFixed(1)}%`, 9)}${pad(inProcess ? `${Math.round(s.server_event_loop_busy * 100)}%` : 'n/a', 9)}${pad(s.server_thread_on_cpu === null || !inProcess ? 'n/a' : `${Math.round(s.server_thread_on_cpu * 100)}%`, 8)}${pad(inProcess ? s.server_event_loop_delay_ms.max.toFixed(0) : 'n/a', 8)}${pad(s.process_cpu_cores.toFixed(2), 6)}${pad(s.other_processes_cpu_cores === null ? 'n/a' : s.other_processes_cpu_cores.toFixed(2), 7)}${pad(s.server_cores_per_1000_per_second === null ? 'n/a' : s.server_cores_per_1000_per_second.toFixed(3), 8)}`,
      );
    row('token issuance (DPoP)', phases.token_issuance);
    row('  federated (platform token)', phases.federated_token_issuance);
    row('introspection, plain', phases.introspection_plain);
    row('introspection + DPoP proof', phases.introspection_with_proof);
    row('gateway check (allow)', phases.check);
    row('  every token new', phases.check_tokens_new);
    row('  same, all durable', phases.check_all_durable);
    if (bare) row('  bare peer (node:http)', bare);
    for (const o of results.open_model) row(`check, open ${o.offered_per_second}/s`, o);
    if (results.bare_check_peer_open) row('  bare peer, open 500/s', results.bare_check_peer_open);
    lines.push('  floor/s: node:crypto ceiling for the phase\'s signature mix on every core (below); srv loop: server event loop busy;');
    lines.push('  srv cpu: server main thread actually on a CPU (below srv loop = waiting for a core); lag max: longest server');
    lines.push('  event-loop stall, ms (a 10 ms timer\'s worst lateness); cpu: this process, in cores;');
    lines.push('  others: CPU used by other processes on the machine meanwhile, in cores (noise); srv/1k: server cores per');
    lines.push('  1,000 requests/s (its CPU seconds per 1,000 requests, the load generator not counted); open: fixed arrival');
    lines.push('  rate, latency counted from each request\'s scheduled time');
    const [d, c] = [phases.check_all_durable, phases.check];
    const signed = (x: number, digits: number) => `${x >= 0 ? '+' : ''}${x.toFixed(digits)}`;
    lines.push(
      `  all durable: the check phase on a server with TOLLGATE_DECISION_DURABILITY=all (every allow committed before its answer): ` +
        `${signed(100 * (d.requests_per_second / c.requests_per_second - 1), 1)}% req/s, p50 ${signed(d.latency_ms.p50 - c.latency_ms.p50, 2)} ms, p99 ${signed(d.latency_ms.p99 - c.latency_ms.p99, 2)} ms against the default`,
    );
    if (bare) {
      const ratio = results.check_against_bare_peer!.server_cpu_per_check_ratio;
      lines.push(
        `  bare peer: the same checks on bench/bare-check.ts (node:http, in this process: token and proof verified, one replay claim, nothing else): ` +
          `Tollgate's check reaches ${(100 * results.check_against_bare_peer!.requests_per_second_share).toFixed(0)}% of its req/s ` +
          `and spends ${ratio === null ? 'n/a' : `${ratio.toFixed(2)}x`} its server CPU per check (srv/1k ${phases.check.server_cores_per_1000_per_second?.toFixed(3) ?? 'n/a'} against ${bare.server_cores_per_1000_per_second?.toFixed(3) ?? 'n/a'})`,
      );
    }
    lines.push('', ...goalLines(results.goals), '');
    const f = results.flood;
    lines.push(`good client's token requests (${f.good_concurrency} in flight) while ${f.flood_source} floods forged assertions for its client id (${f.flood_concurrency} in flight)`);
    lines.push(`${''.padEnd(28)}${pad('requests', 9)}${pad('errors', 7)}${pad('req/s', 9)}${pad('p50 ms', 9)}${pad('p99 ms', 9)}${pad('max ms', 9)}`);
    for (const [name, st] of [['quiet', f.quiet], ['during the flood', f.flooded]] as const) {
      lines.push(`${`  ${name}`.padEnd(28)}${pad(st.requests, 9)}${pad(st.errors, 7)}${pad(st.requests_per_second.toFixed(0), 9)}${pad(st.latency_ms.p50.toFixed(2), 9)}${pad(st.latency_ms.p99.toFixed(2), 9)}${pad(st.latency_ms.max.toFixed(2), 9)}`);
    }
    lines.push(
      `  the flood: ${f.flood_requests} requests, ${f.flood_requests_per_second.toFixed(0)}/s, answered ` +
        `${Object.entries(f.flood_statuses).sort().map(([status, count]) => `${status} x${count}`).join(', ')} (429: refused before any signature work)`,
    );
    lines.push('');
    lines.push(
      `crypto floor (node:crypto ES256, one core): verify ${crypto.verify_per_core.toFixed(0)}/s, sign ${crypto.sign_per_core.toFixed(0)}/s; ` +
        `x ${crypto.cores} cores: V = ${V.toFixed(0)}/s, S = ${S.toFixed(0)}/s`,
    );
    lines.push(
      `floors: token = 1/(2/V + 1/S) = ${floors.token_issuance.per_second.toFixed(0)}/s; plain introspection = V = ${floors.introspection_plain.per_second.toFixed(0)}/s; ` +
        `with proof and check = V/2 = ${floors.check.per_second.toFixed(0)}/s`,
    );
    lines.push(`  while measuring the floor: this process ${crypto.process_cpu_cores?.toFixed(2)} cores, others ${crypto.other_processes_cpu_cores?.toFixed(2) ?? 'n/a'} cores`);
    const reasons = Object.entries(phases.check.risk_reasons ?? {});
    lines.push(
      `risk reasons in the ${checksN} check answers: ${reasons.length ? reasons.map(([code, n]) => `${code} x${n}`).join(', ') : 'none (every answer scored 0)'}`,
    );
    const noisy =
      Object.values(phases).some((p) => (p.other_processes_cpu_cores ?? 0) > 0.2) || (crypto.other_processes_cpu_cores ?? 0) > 0.2;
    if (noisy) lines.push('WARNING: other processes used CPU during the measurement ("others"); figures are low and noisy, rerun on a quiet machine');
    for (const [name, st] of [['flood quiet', f.quiet], ['flood', f.flooded]] as const) {
      if (st.errors) {
        lines.push(`ERROR ${name}: ${st.errors} of the good client's requests failed; first: ${st.first_error}`);
        exitCode = 1;
      }
    }
    for (const [name, s] of Object.entries(phases)) {
      if (s.errors) {
        lines.push(`ERROR ${name}: ${s.errors} failed; first: ${s.first_error}`);
        exitCode = 1;
      }
      if (s.resigned) lines.push(`note ${name}: ${s.resigned} prepared requests were re-signed (batch ran > ${MAX_PREPARED_AGE_MS / 1000} s); lower BENCH_BATCH`);
    }
    for (const [name, summary] of Object.entries(profiler.summaries)) {
      lines.push('', `profile of the server's main thread during ${name} (includes untimed signing pauses; figures above are slowed by profiling):`, ...summary);
    }
    if (profileDir) lines.push(`profiles written to ${profileDir}/*.cpuprofile (open in Chrome DevTools or VS Code)`);
    results.total_seconds = round((performance.now() - started) / 1000);
    lines.push(`total ${results.total_seconds} s`);
    console.log(lines.join('\n'));

    const out = fileURLToPath(new URL('../../bench/results/latest.json', import.meta.url));
    mkdirSync(fileURLToPath(new URL('../../bench/results/', import.meta.url)), { recursive: true });
    writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
    console.log(`wrote ${out}`);
  } catch (error) {
    console.error(error);
    exitCode = 1;
    await worker.terminate();
  } finally {
    await server.close();
  }
  process.exit(exitCode);
}

if (isMainThread) {
  await main();
} else {
  await generator();
}
