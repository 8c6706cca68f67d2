import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { BODY_LIMITS, MAX_JSON_DEPTH } from './limits.js';
import { requestBodies } from './request-bodies.js';
import { requestTarget } from './request-target.js';

let server: Server;
let base: string;

/** requestTarget then requestBodies, as Tollgate mounts them; what passes is echoed as `{ body }`. */
before(async () => {
  const describesAnotherRequest = (path: string) => path.startsWith('/check/');
  const target = requestTarget({ describesAnotherRequest });
  const bodies = requestBodies({ describesAnotherRequest });
  server = createServer((req: IncomingMessage & { body?: unknown }, res: ServerResponse) => {
    target(req, res, () =>
      bodies(req, res, () => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ passed: true, body: req.body === undefined ? '(undefined)' : req.body }));
      }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(() => new Promise<void>((resolve) => server.close(() => resolve())));

async function send(path: string, body?: string | Buffer, headers: Record<string, string> = {}) {
  const res = await fetch(`${base}${path}`, { method: body === undefined ? 'GET' : 'POST', headers, body });
  return { status: res.status, body: (await res.json()) as Record<string, any>, headers: res.headers };
}
const json = { 'content-type': 'application/json' };
const form = { 'content-type': 'application/x-www-form-urlencoded' };

function assertRefused(res: Awaited<ReturnType<typeof send>>, status: number, field?: string) {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.equal(res.body.error, 'invalid_request');
  assert.equal(typeof res.body.error_description, 'string');
  assert.equal(res.headers.get('cache-control'), 'no-store');
  if (field !== undefined) assert.deepEqual(res.body.fields.map((f: { field: string }) => f.field), [field]);
}

describe('requestBodies', () => {
  it('parses JSON (application/json and +json) and forms; an empty body is {}', async () => {
    assert.deepEqual((await send('/', '{"a":[1,"é"]}', json)).body, { passed: true, body: { a: [1, 'é'] } });
    assert.deepEqual((await send('/', '{"a":1}', { 'content-type': 'application/merge-patch+json; charset=UTF-8' })).body.body, { a: 1 });
    assert.deepEqual((await send('/', 'a=1&a=2&b=x+y', form)).body.body, { a: ['1', '2'], b: 'x y' });
    assert.deepEqual((await send('/', '', json)).body.body, {});
    assert.deepEqual((await send('/', '', form)).body.body, {});
  });

  it('leaves other types, and requests without a body, undefined', async () => {
    assert.equal((await send('/', 'a=1', { 'content-type': 'text/plain' })).body.body, '(undefined)');
    assert.equal((await send('/', '{"a":1}', { 'content-type': 'application/jsonx' })).body.body, '(undefined)');
    assert.equal((await send('/')).body.body, '(undefined)');
  });

  it('refuses malformed JSON, a scalar document and invalid UTF-8 with 400', async () => {
    assertRefused(await send('/', '{"a":', json), 400);
    assert.equal((await send('/', '{"a":', json)).body.error_description, 'request body is not valid JSON');
    assertRefused(await send('/', '"text"', json), 400);
    assertRefused(await send('/', Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]), json), 400);
    assertRefused(await send('/', Buffer.from('a=\xff', 'latin1'), form), 400);
  });

  it(`refuses nesting deeper than ${MAX_JSON_DEPTH} before parsing, naming the limit`, async () => {
    const ok = '['.repeat(MAX_JSON_DEPTH) + ']'.repeat(MAX_JSON_DEPTH);
    assert.equal((await send('/', ok, json)).status, 200);
    for (const n of [MAX_JSON_DEPTH + 1, 10_000]) {
      const res = await send('/', '{"a":'.repeat(n) + '1' + '}'.repeat(n), json);
      assertRefused(res, 400);
      assert.match(res.body.error_description, new RegExp(`${MAX_JSON_DEPTH} levels`));
    }
  });

  it('refuses bodies over the limits with 413 naming the limit', async () => {
    const big = JSON.stringify({ a: 'x'.repeat(BODY_LIMITS.json) });
    const res = await send('/', big, json);
    assertRefused(res, 413);
    assert.match(res.body.error_description, new RegExp(String(BODY_LIMITS.json)));
    assertRefused(await send('/', `a=${'x'.repeat(BODY_LIMITS.form)}`, form), 413);
    // A form just under the form limit, sent as JSON, is fine: the limit follows the type.
    assert.equal((await send('/', JSON.stringify({ a: 'x'.repeat(BODY_LIMITS.form) }), json)).status, 200);
  });

  it('refuses NUL and lone surrogates in JSON values and names, and in forms, naming the field', async () => {
    assertRefused(await send('/', '{"client_name":"a\\u0000b"}', json), 400, 'client_name');
    assertRefused(await send('/', '{"jwks":{"keys":[{"kid":"\\ud800"}]}}', json), 400, 'jwks.keys[0].kid');
    assertRefused(await send('/', '{"a":{"\\u0000":1}}', json), 400, 'a.\ufffd');
    assertRefused(await send('/', 'token=%00', form), 400, 'token');
    assertRefused(await send('/', 'token=%ED%A0%80', form), 400, 'token');
  });

  it('does not read the body of a request that describes another one (a gateway forwarding the call)', async () => {
    assert.equal((await send('/check/api', '{"a":"\\u0000"}', json)).body.body, '(undefined)');
    assert.equal((await send('/check/api', 'x'.repeat(BODY_LIMITS.json + 1), json)).status, 200);
  });

  it('refuses compressed bodies and charsets other than UTF-8 with 415', async () => {
    assertRefused(await send('/', gzipSync('{"a":1}'), { ...json, 'content-encoding': 'gzip' }), 415);
    assertRefused(await send('/', '{"a":1}', { 'content-type': 'application/json; charset=latin1' }), 415);
    assert.equal((await send('/', '{"a":1}', { 'content-type': 'application/json; charset="utf-8"' })).status, 200);
  });
});

describe('requestTarget', () => {
  it('lets ordinary paths and queries through', async () => {
    assert.equal((await send('/admin/clients/tg_abc-_?limit=5&cursor=tg_x%2B&flag')).status, 200);
    assert.equal((await send('/a/%C3%A9/%F0%9F%98%80?q=%E2%82%AC+x')).status, 200);
  });

  it('refuses a path that does not decode, or decodes to NUL or a control character (400 naming path)', async () => {
    for (const path of ['/admin/clients/%00', '/admin/clients/%E0', '/a%', '/a%zz', '/%ED%A0%80', '/a%0a', '/a%7F', '/a%C2%85']) {
      assertRefused(await send(path), 400, 'path');
    }
  });

  it('refuses a query parameter that does not decode or holds a control character, naming it', async () => {
    assertRefused(await send('/admin/clients?cursor=%00'), 400, 'cursor');
    assertRefused(await send('/admin/audit?limit=1&client_id=a%FFb'), 400, 'client_id');
    assertRefused(await send('/x?ok=1&%00=1'), 400, '%00');
    assertRefused(await send('/x?%E0=1'), 400, '%E0');
  });

  it('leaves paths that describe another request to their route', async () => {
    assert.equal((await send('/check/api/a%00b')).status, 200);
    assertRefused(await send('/checkx/a%00b'), 400, 'path');
  });
});
