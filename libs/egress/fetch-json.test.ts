import assert from 'node:assert/strict';
import { lookup } from 'node:dns/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { freePort, tlsServerCertificate } from '#test-support';
import { EgressRefused, fetchJson, JWKS_FETCH_LIMITS, SingleFlight, type EgressPolicy, type FetchLimits } from './index.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

interface TestServer {
  port: number;
  /** Connections accepted so far. */
  connections: number;
  /** Sockets not yet closed. */
  open: Set<Socket>;
  close(): Promise<void>;
}

let certificate: { ca: string; cert: string; key: string };
const servers: Server[] = [];

async function serve(handler: Handler, host = '127.0.0.1'): Promise<TestServer> {
  const server = createServer({ cert: certificate.cert, key: certificate.key }, handler);
  servers.push(server);
  const state: TestServer = {
    port: 0,
    connections: 0,
    open: new Set(),
    close: () => new Promise((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
  server.on('secureConnection', (socket) => {
    state.connections++;
    state.open.add(socket);
    socket.on('close', () => state.open.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  state.port = (server.address() as { port: number }).port;
  return state;
}

const json = (body: unknown): Handler => (_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};

/** Waits until the server has seen every connection closed (the fetch destroyed its socket). */
async function allClosed(server: TestServer): Promise<void> {
  for (let i = 0; i < 100 && server.open.size > 0; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(server.open.size, 0, 'the fetch left its connection open');
}

const refusedWith = (reason: string) => (error: unknown) => {
  assert.ok(error instanceof EgressRefused, String(error));
  assert.equal(error.reason, reason, error.message);
  return true;
};

const limits: FetchLimits = { maxBytes: 64 * 1024, connectTimeoutMs: 2000, totalTimeoutMs: 5000 };
const loopback = (): EgressPolicy => ({ allow: ['127.0.0.1/32'], ca: certificate.ca });

const ipv6Loopback = await new Promise<boolean>((resolve) => {
  const probe = createServer();
  probe.once('error', () => resolve(false));
  probe.listen(0, '::1', () => probe.close(() => resolve(true)));
});

describe('fetchJson', () => {
  before(async () => {
    certificate = await tlsServerCertificate();
  });
  after(async () => {
    for (const server of servers) server.closeAllConnections();
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  });

  it('fetches and parses JSON from an allowed address, trusting the operator CA, and closes the connection', async () => {
    const server = await serve(json({ keys: [{ kty: 'EC' }] }));
    assert.deepEqual(await fetchJson(`https://127.0.0.1:${server.port}/jwks`, limits, loopback()), { keys: [{ kty: 'EC' }] });
    assert.equal(server.connections, 1);
    await allClosed(server);
  });

  it('refuses 127.0.0.1 by default without connecting', async () => {
    const server = await serve(json({}));
    await assert.rejects(fetchJson(`https://127.0.0.1:${server.port}/`, limits, { allow: [], ca: certificate.ca }), refusedWith('address_not_allowed'));
    assert.equal(server.connections, 0);
  });

  it('checks the address a name resolves to, at connect time', async () => {
    const server = await serve(json({ ok: true }));
    const url = `https://localhost:${server.port}/`;
    await assert.rejects(fetchJson(url, limits, { allow: [], ca: certificate.ca }), refusedWith('address_not_allowed'));
    // ::1 allowed (so the URL passes) but localhost resolves to 127.0.0.1 here: refused after DNS.
    const resolved = await lookup('localhost', { all: true });
    if (resolved.every((a) => a.address === '127.0.0.1')) {
      await assert.rejects(fetchJson(url, limits, { allow: ['::1/128'], ca: certificate.ca }), (error: unknown) => {
        refusedWith('address_not_allowed')(error);
        assert.match((error as Error).message, /resolves to a non-public address \(127\.0\.0\.1\)/);
        return true;
      });
    }
    assert.equal(server.connections, 0);
    // Allowed when every address localhost resolves to is allowed (here just 127.0.0.1/32).
    const allow = resolved.map((a) => `${a.address}/${a.family === 4 ? 32 : 128}`);
    assert.deepEqual(await fetchJson(url, limits, { allow, ca: certificate.ca }), { ok: true });
    // And by name, whatever it resolves to.
    assert.deepEqual(await fetchJson(url, limits, { allow: ['localhost'], ca: certificate.ca }), { ok: true });
    await allClosed(server);
  });

  it('refuses [::1] by default and allows it with ::1/128', { skip: !ipv6Loopback && 'no IPv6 loopback here' }, async () => {
    const server = await serve(json({ v6: true }), '::1');
    await assert.rejects(fetchJson(`https://[::1]:${server.port}/`, limits, { allow: ['127.0.0.1/32'], ca: certificate.ca }), refusedWith('address_not_allowed'));
    assert.equal(server.connections, 0);
    assert.deepEqual(await fetchJson(`https://[::1]:${server.port}/`, limits, { allow: ['::1/128'], ca: certificate.ca }), { v6: true });
    await allClosed(server);
  });

  it('refuses a URL that is not https, or names a metadata service, before any network', async () => {
    await assert.rejects(fetchJson('http://127.0.0.1:1/', limits, loopback()), refusedWith('not_https'));
    await assert.rejects(fetchJson('https://metadata.google.internal/', limits, loopback()), refusedWith('address_not_allowed'));
    await assert.rejects(fetchJson('https://u:p@127.0.0.1:1/', limits, loopback()), refusedWith('bad_url'));
  });

  it('stops reading a body without Content-Length at the cap and destroys the socket (too_large)', async () => {
    let finished = false;
    const server = await serve(async (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }); // chunked: no Content-Length
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      for (let sent = 0; sent < 10 * 1024 * 1024 && !res.destroyed; sent += chunk.length) {
        if (!res.write(chunk)) await new Promise((r) => (res.once('drain', r), res.once('close', r)));
      }
      finished = !res.destroyed;
      res.end();
    });
    await assert.rejects(fetchJson(`https://127.0.0.1:${server.port}/`, limits, loopback()), refusedWith('too_large'));
    await allClosed(server);
    assert.equal(finished, false, 'the server could send all 10 MB');
  });

  it('refuses a Content-Length over the cap without waiting for the body', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(10 * 1024 * 1024) });
      res.flushHeaders(); // and never a byte of body: a fetch that waited for it would time out
    });
    await assert.rejects(fetchJson(`https://127.0.0.1:${server.port}/`, limits, loopback()), refusedWith('too_large'));
    await allClosed(server);
  });

  it('accepts a body of exactly maxBytes and refuses one byte more, with or without Content-Length', async () => {
    const body = (n: number) => `"${'x'.repeat(n - 2)}"`;
    const server = await serve((req, res) => {
      const n = Number(new URL(req.url!, 'https://x').searchParams.get('n'));
      if (req.url!.includes('chunked')) {
        res.writeHead(200);
        res.end(body(n));
      } else {
        res.writeHead(200, { 'content-length': String(n) });
        res.end(body(n));
      }
    });
    const small: FetchLimits = { ...limits, maxBytes: 1000 };
    for (const mode of ['length', 'chunked']) {
      const url = (n: number) => `https://127.0.0.1:${server.port}/${mode}?n=${n}`;
      assert.equal(((await fetchJson(url(1000), small, loopback())) as string).length, 998);
      await assert.rejects(fetchJson(url(1001), small, loopback()), refusedWith('too_large'));
    }
    await allClosed(server);
  });

  it('does not follow redirects (redirect)', async () => {
    const target = await serve(json({ followed: true }));
    const server = await serve((_req, res) => {
      res.writeHead(302, { location: `https://127.0.0.1:${target.port}/` });
      res.end();
    });
    await assert.rejects(fetchJson(`https://127.0.0.1:${server.port}/`, limits, loopback()), refusedWith('redirect'));
    assert.equal(target.connections, 0);
    await allClosed(server);
  });

  it('refuses a non-2xx answer (status) and a body that is not JSON (not_json), without echoing the body', async () => {
    const server = await serve((req, res) => {
      if (req.url === '/500') {
        res.writeHead(500);
        res.end('{"secret":"attacker text"}');
      } else {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('<html>attacker text</html>');
      }
    });
    for (const [path, reason] of [['/500', 'status'], ['/html', 'not_json']] as const) {
      await assert.rejects(fetchJson(`https://127.0.0.1:${server.port}${path}`, limits, loopback()), (error: unknown) => {
        refusedWith(reason)(error);
        assert.doesNotMatch((error as Error).message, /attacker/);
        assert.match((error as Error).message, /^127\.0\.0\.1: /);
        return true;
      });
    }
    await allClosed(server);
  });

  it('refuses a certificate it does not trust (tls)', async () => {
    const server = await serve(json({}));
    await assert.rejects(fetchJson(`https://127.0.0.1:${server.port}/`, limits, { allow: ['127.0.0.1/32'] }), refusedWith('tls'));
    await allClosed(server);
  });

  it('reports a refused connection (connect) and a name that does not resolve (dns)', async () => {
    const port = await freePort();
    await assert.rejects(fetchJson(`https://127.0.0.1:${port}/`, limits, loopback()), refusedWith('connect'));
    // RFC 6761 §6.4: .invalid never resolves.
    await assert.rejects(fetchJson('https://keys.tollgate.invalid/', limits, loopback()), refusedWith('dns'));
  });

  it('JWKS_FETCH_LIMITS are 64 KiB, connect 2 s, total 5 s', () => {
    assert.deepEqual({ ...JWKS_FETCH_LIMITS }, { maxBytes: 65536, connectTimeoutMs: 2000, totalTimeoutMs: 5000 });
  });
});

describe('SingleFlight', () => {
  it('shares one call per key while it is in flight, and forgets it once settled', async () => {
    const flight = new SingleFlight<number>();
    let calls = 0;
    let release!: (n: number) => void;
    const call = () => (calls++, new Promise<number>((resolve) => (release = resolve)));
    const first = flight.run('a', call);
    const second = flight.run('a', call);
    const other = flight.run('b', async () => 7);
    release(42);
    assert.deepEqual(await Promise.all([first, second, other]), [42, 42, 7]);
    assert.equal(calls, 1);
    await assert.rejects(flight.run('a', async () => Promise.reject(new Error('down'))), /down/);
    assert.equal(await flight.run('a', async () => 1), 1);
  });
});
