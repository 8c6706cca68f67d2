import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer as createHttpsServer, type Server } from 'node:https';
import { connect, createServer as createTcpServer, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { tlsServerCertificate } from '#test-support';

/*
 * Node 20's fetch with AbortSignal.timeout can lose its timer to garbage collection and hang for
 * ever (docs/operations.md, "Outbound fetches"). These fetches run in a child with --expose-gc
 * that collects every 50 ms while they wait, against servers that never finish answering.
 */

const CONNECT_MS = 500;
const TOTAL_MS = 1000;

/** The child: fetches every URL at once while collecting garbage, prints the outcomes, then waits for stdin to end. */
const CHILD = `
const { fetchJson } = await import(process.env.EGRESS_MODULE);
const collector = setInterval(() => globalThis.gc(), 50);
const limits = { maxBytes: 65536, connectTimeoutMs: ${CONNECT_MS}, totalTimeoutMs: ${TOTAL_MS} };
const policy = { allow: ['127.0.0.1/32'], ca: process.env.EGRESS_CA };
const results = await Promise.all(JSON.parse(process.env.EGRESS_URLS).map(async (url) => {
  const started = performance.now();
  try {
    await fetchJson(url, limits, policy);
    return { url, resolved: true };
  } catch (error) {
    return { url, reason: error.reason, message: error.message, ms: performance.now() - started };
  }
}));
clearInterval(collector);
await new Promise((resolve) => setTimeout(resolve, 100)); // let destroyed sockets finish closing
const resources = process.getActiveResourcesInfo().filter((r) => /TCP|TLS|Timeout/.test(r));
process.stdout.write(JSON.stringify({ results, resources }) + '\\n');
process.stdin.resume(); // stay alive until the parent has looked at its servers
`;

interface Outcome {
  url: string;
  resolved?: true;
  reason?: string;
  message?: string;
  ms: number;
}

describe('fetchJson timeouts under garbage collection (child process, --expose-gc)', () => {
  let certificate: { ca: string; cert: string; key: string };
  const open = new Set<Socket>();
  const closers: (() => void)[] = [];
  let silent: Server;
  let drip: Server;
  let silentTcpPort: number;
  let fullBacklog: ChildProcess;
  let fullBacklogPort: number;
  const fillers: Socket[] = [];
  let child: ChildProcess | undefined;

  const track = (socket: Socket) => {
    open.add(socket);
    socket.on('close', () => open.delete(socket));
  };
  const listen = async (server: { listen(port: number, host: string, cb: () => void): unknown; address(): unknown }) => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return (server.address() as { port: number }).port;
  };

  before(async () => {
    certificate = await tlsServerCertificate();
    // Completes TLS, reads the request, never answers.
    silent = createHttpsServer({ cert: certificate.cert, key: certificate.key }, () => {});
    silent.on('secureConnection', track);
    // Sends headers, then one byte a second for ever.
    drip = createHttpsServer({ cert: certificate.cert, key: certificate.key }, (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('[');
      const timer = setInterval(() => res.write(' '), 1000);
      res.on('close', () => clearInterval(timer));
    });
    drip.on('secureConnection', track);
    // Accepts TCP, never says a word of TLS: only the connect timeout can end it.
    const tcp = createTcpServer((socket) => track(socket.resume())); // read (and drop) the ClientHello so the end is seen
    silentTcpPort = await listen(tcp);
    closers.push(() => tcp.close());
    // A listener that never accepts, its backlog filled: further SYNs go unanswered (a black hole).
    fullBacklog = spawn(process.execPath, ['-e', `
      const server = require('node:net').createServer();
      server.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
        process.stdout.write(server.address().port + '\\n');
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 120000); // never return to the event loop
      });
    `], { stdio: ['ignore', 'pipe', 'inherit'] });
    fullBacklogPort = Number((await once(fullBacklog.stdout!, 'data'))[0].toString().trim());
    // Linux keeps backlog + 1 connections queued; the third filler already waits for an answer.
    for (let i = 0; i < 3; i++) fillers.push(connect(fullBacklogPort, '127.0.0.1').on('error', () => {}));
    await new Promise((resolve) => setTimeout(resolve, 200));
    await Promise.all([listen(silent), listen(drip)]);
  });

  after(async () => {
    child?.kill('SIGKILL');
    for (const socket of fillers) socket.destroy();
    fullBacklog.kill('SIGKILL');
    for (const close of closers) close();
    for (const server of [silent, drip]) server.closeAllConnections();
    await Promise.all([silent, drip].map((server) => new Promise((resolve) => server.close(resolve))));
  });

  it('settles with timeout shortly after the limit, and leaves no socket or timer behind', async () => {
    const port = (server: Server) => (server.address() as { port: number }).port;
    const totalUrls = [...Array(5)].flatMap(() => [`https://127.0.0.1:${port(silent)}/jwks`, `https://127.0.0.1:${port(drip)}/jwks`]);
    const tlsStallUrl = `https://127.0.0.1:${silentTcpPort}/jwks`;
    const blackHoleUrl = `https://127.0.0.1:${fullBacklogPort}/jwks`;
    const connectUrls = [tlsStallUrl, blackHoleUrl];
    const fetcher = spawn(process.execPath, ['--expose-gc', '--input-type=module', '-e', CHILD], {
      env: {
        ...process.env,
        EGRESS_MODULE: new URL('./index.js', import.meta.url).href,
        EGRESS_CA: certificate.ca,
        EGRESS_URLS: JSON.stringify([...totalUrls, ...connectUrls]),
      },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    child = fetcher;
    const exited = once(fetcher, 'exit');
    // Generous bound (4× the total timeout): a correctness check, not a speed test.
    const guard = setTimeout(() => fetcher.kill('SIGKILL'), 4 * TOTAL_MS + 2000);
    let line = '';
    for await (const chunk of fetcher.stdout!) {
      line += chunk;
      if (line.includes('\n')) break;
    }
    clearTimeout(guard);
    assert.ok(line.includes('\n'), 'the child never reported: a fetch did not settle');
    const { results, resources } = JSON.parse(line) as { results: Outcome[]; resources: string[] };

    for (const outcome of results) {
      const connectCase = connectUrls.includes(outcome.url);
      assert.equal(outcome.reason, 'timeout', `${outcome.url}: ${outcome.message ?? 'resolved'}`);
      const limit = connectCase ? CONNECT_MS : TOTAL_MS;
      const expected = { [tlsStallUrl]: /no TLS handshake within 500 ms/, [blackHoleUrl]: /no connection within 500 ms/ }[outcome.url] ?? /no complete answer within 1000 ms/;
      assert.match(outcome.message!, expected);
      assert.ok(outcome.ms >= limit - 5 && outcome.ms < 4 * limit, `${outcome.url} settled after ${Math.round(outcome.ms)} ms (limit ${limit})`);
    }
    assert.deepEqual(resources, [], 'the child still holds sockets or timers');
    assert.equal(fillers.at(-1)!.connecting, true, 'the black hole answered SYNs after all: the connect case proved nothing');
    // The servers see every connection closed while the child is still alive.
    for (let i = 0; i < 100 && open.size > 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(open.size, 0, 'a fetch left its connection open');
    // Once stdin ends, nothing holds the child: it exits by itself.
    fetcher.stdin!.end();
    const exitGuard = setTimeout(() => fetcher.kill('SIGKILL'), 5000);
    const [code, signal] = await exited;
    clearTimeout(exitGuard);
    assert.deepEqual([code, signal], [0, null]);
  });
});
