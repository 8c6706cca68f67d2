import assert from 'node:assert/strict';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { DISCARD_LIMIT } from './limits.js';
import { BodyTooLarge, readBody } from './read-body.js';

const LIMIT = 1000;
let server: Server;
let port: number;

/** Answers what readBody gave: `200 <bytes read>` or `413 <limit>`, as a caller would. */
before(async () => {
  server = createServer((req, res) => {
    readBody(req, LIMIT).then(
      (body) => res.end(`read ${body.length}`),
      (error) => {
        assert.ok(error instanceof BodyTooLarge);
        res.writeHead(413, { connection: 'close' }).end(`limit ${error.limit}`);
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

after(() => new Promise<void>((resolve) => server.close(() => resolve())));

function post(chunks: Buffer[], headers: Record<string, string | number> = {}): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/', headers, agent: false }, (res: IncomingMessage) => {
      answered = true;
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, text }));
    });
    req.on('error', (error) => (answered ? undefined : reject(error)));
    for (const chunk of chunks) req.write(chunk);
    req.end();
  });
}

describe('readBody', () => {
  it('reads a body up to the limit, exactly at it included', async () => {
    assert.deepEqual(await post([Buffer.alloc(LIMIT)], { 'content-length': LIMIT }), { status: 200, text: `read ${LIMIT}` });
    assert.deepEqual(await post([Buffer.alloc(10), Buffer.alloc(20)]), { status: 200, text: 'read 30' });
    assert.deepEqual(await post([], { 'content-length': 0 }), { status: 200, text: 'read 0' });
  });

  it('refuses a declared Content-Length over the limit (413, the limit named)', async () => {
    assert.deepEqual(await post([Buffer.alloc(LIMIT + 1)], { 'content-length': LIMIT + 1 }), { status: 413, text: `limit ${LIMIT}` });
  });

  it('refuses a chunked body that grows past the limit, and the client still reads the answer', async () => {
    const chunks = Array.from({ length: 50 }, () => Buffer.alloc(100));
    assert.deepEqual(await post(chunks), { status: 413, text: `limit ${LIMIT}` });
  });

  it('answers 413 even when far more than the discard allowance is declared', async () => {
    const res = await post([Buffer.alloc(64 * 1024)], { 'content-length': LIMIT + DISCARD_LIMIT + 1 }).catch((error: Error) => ({ status: 0, text: error.message }));
    // The connection is closed without reading what is left: the client sees the 413 or a reset, never a 200.
    assert.ok(res.status === 413 || res.status === 0, JSON.stringify(res));
  });
});
