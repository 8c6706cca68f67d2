import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { decodeProtectedHeader } from 'jose';
import request from 'supertest';
import { registerGateway, type RunningTollgate, startTollgate, Workload } from '#test-support';
import { throwawayDatabase } from './support/postgres.js';

describe('health', () => {
  let server: RunningTollgate;
  after(async () => server?.close());

  it('/healthz is up and /readyz reports the database, migrations and hot state', async () => {
    server = await startTollgate();
    assert.deepEqual((await request(server.url).get('/healthz').expect(200)).body, { status: 'ok' });
    const ready = await request(server.url).get('/readyz').expect(200);
    assert.equal(ready.body.status, 'ready');
    assert.equal(ready.body.checks.database, 'ok');
    assert.equal(ready.body.checks.migrations, 'ok');
  });

  it('answers unknown routes with a JSON 404 and no stack trace', async () => {
    const res = await request(server.url).get('/nope').expect(404);
    assert.equal(res.body.error, 'not_found');
    assert.ok(!JSON.stringify(res.body).includes('at '));
  });
});

describe('signing key rotation', () => {
  it('a new key signs; the old key stays published and its tokens stay valid', async () => {
    const server = await startTollgate();
    try {
      const gw = await registerGateway(server);
      const introspect = (token: string) => request(server.url).post('/oauth/introspect').type('form').auth(gw.id, gw.secret).send({ token });
      const w = await Workload.register(server);
      const before = await w.token();
      const oldKid = decodeProtectedHeader(before).kid;

      assert.equal((await request(server.url).post('/admin/keys/rotate').expect(401)).body.error, 'invalid_request');
      const rotated = await request(server.url).post('/admin/keys/rotate').set('Authorization', server.admin).expect(201);
      assert.notEqual(rotated.body.kid, oldKid);
      assert.equal(rotated.body.status, 'signing');

      const kids = (await request(server.url).get('/oauth/jwks')).body.keys.map((k: { kid: string }) => k.kid);
      assert.ok(kids.includes(oldKid) && kids.includes(rotated.body.kid), 'both keys published');
      const listed = (await request(server.url).get('/admin/keys').set('Authorization', server.admin)).body.keys;
      const old = listed.find((k: { kid: string }) => k.kid === oldKid);
      assert.equal(old.status, 'retired');
      assert.ok(new Date(old.published_until).getTime() > Date.now() + 3000 * 1000, 'published until the longest token expires');

      const after = await w.token();
      assert.equal(decodeProtectedHeader(after).kid, rotated.body.kid);
      assert.equal((await introspect(before)).body.active, true);
      assert.equal((await introspect(after)).body.active, true);

      const audit = (await request(server.url).get('/admin/audit').set('Authorization', server.admin)).body.events;
      assert.ok(audit.some((e: { action: string; details: { kid?: string } }) => e.action === 'keys.rotate' && e.details.kid === rotated.body.kid));
    } finally {
      await server.close();
    }
  });
});

describe('embedded database (no DATABASE_URL)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-embedded-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const embedded = { DATABASE_URL: '', REDIS_URL: '', TOLLGATE_DATA_DIR: dir, TOLLGATE_KEY_ENCRYPTION_KEY: '' };

  it('keeps clients and signing keys across restarts, with its own key-encryption key', async () => {
    const first = await startTollgate(embedded);
    let clientId: string;
    let kids: string[];
    try {
      assert.equal(first.tollgate.runtime.db.kind, 'embedded');
      const w = await Workload.register(first);
      await w.token();
      clientId = w.clientId;
      kids = (await request(first.url).get('/oauth/jwks')).body.keys.map((k: { kid: string }) => k.kid);
    } finally {
      await first.close();
    }
    const second = await startTollgate(embedded);
    try {
      const res = await request(second.url).get(`/admin/clients/${clientId}`).set('Authorization', second.admin).expect(200);
      assert.equal(res.body.client_id, clientId);
      assert.deepEqual((await request(second.url).get('/oauth/jwks')).body.keys.map((k: { kid: string }) => k.kid), kids);
    } finally {
      await second.close();
    }
  });

  it('refuses to open a data folder another running server holds', async () => {
    const first = await startTollgate(embedded);
    try {
      await assert.rejects(startTollgate(embedded), /in use by process \d+/);
    } finally {
      await first.close();
    }
  });
});

describe('database outage', { skip: !process.env.DATABASE_URL && 'needs DATABASE_URL (a PostgreSQL server to take away)' }, () => {
  it('answers 503 with Retry-After (not 500) when the database is unreachable, and recovers', async () => {
    const db = await throwawayDatabase(`tollgate_outage_${process.pid}`);
    const server = await startTollgate({ DATABASE_URL: db.url });
    try {
      const w = await Workload.register(server);
      // Take the database away: refuse new connections and end the open ones.
      await db.takeAway();

      const token = await w.requestToken();
      assert.equal(token.status, 503, JSON.stringify(token.body));
      assert.equal(token.body.error, 'temporarily_unavailable');
      assert.ok(token.headers['retry-after']);
      const list = await request(server.url).get('/admin/clients').set('Authorization', server.admin);
      assert.equal(list.status, 503, JSON.stringify(list.body));
      assert.equal(list.body.error, 'temporarily_unavailable');
      assert.equal((await request(server.url).get('/readyz')).status, 503);

      await db.giveBack();
      assert.equal((await w.requestToken()).status, 200);
    } finally {
      await server.close();
      await db.drop();
    }
  });
});
