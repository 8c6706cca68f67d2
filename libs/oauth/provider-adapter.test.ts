import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { openHotState, type HotState } from '#hot-state';
import { type Database, openDatabase } from '#persistence';
import { adapterFactory } from './provider-adapter.js';

// oidc-provider's storage contract (docs: "adapter"), against the real database: PostgreSQL when
// DATABASE_URL is set, the embedded one otherwise.
let db: Database;
let hot: HotState;
let Adapter: ReturnType<typeof adapterFactory>;
before(async () => {
  db = await openDatabase({ databaseUrl: process.env.DATABASE_URL, dataDir: 'memory://' });
  await db.migrate();
  hot = await openHotState(process.env.REDIS_URL);
  Adapter = adapterFactory({ prisma: db.prisma, replay: hot.replay, lookupClient: async () => null });
});
after(async () => {
  await hot.close();
  await db.close();
});

describe('Prisma adapter for oidc-provider artifacts', () => {
  it('stores, finds, consumes and destroys an artifact', async () => {
    const grants = new Adapter('Grant');
    const id = randomUUID();
    assert.equal(await grants.find(id), undefined);
    await grants.upsert(id, { jti: id, kind: 'Grant', grantId: 'g1', uid: `u-${id}` }, 60);
    assert.deepEqual(await grants.find(id), { jti: id, kind: 'Grant', grantId: 'g1', uid: `u-${id}` });
    assert.equal((await grants.findByUid(`u-${id}`))?.jti, id);
    await grants.consume(id);
    assert.equal(typeof (await grants.find(id))?.consumed, 'number');
    await grants.destroy(id);
    assert.equal(await grants.find(id), undefined);
  });

  it('keeps models apart and revokes by grant id', async () => {
    const grantId = randomUUID();
    const a = new Adapter('RegistrationAccessToken');
    const b = new Adapter('InitialAccessToken');
    const id = randomUUID();
    await a.upsert(id, { jti: id, grantId }, 60);
    assert.equal(await b.find(id), undefined);
    await a.revokeByGrantId(grantId);
    assert.equal(await a.find(id), undefined);
  });

  it('treats an expired artifact as absent', async () => {
    const sessions = new Adapter('Session');
    const id = randomUUID();
    await sessions.upsert(id, { jti: id }, 1);
    await new Promise((r) => setTimeout(r, 1100));
    assert.equal(await sessions.find(id), undefined);
  });

  it('ReplayDetection claims atomically in find: the first caller sees nothing, every later one a record', async () => {
    const replay = new Adapter('ReplayDetection');
    const id = randomUUID();
    const results = await Promise.all([replay.find(id), replay.find(id), replay.find(id)]);
    assert.equal(results.filter((r) => r === undefined).length, 1);
  });

  it('refuses to write clients (they are managed through the admin API)', async () => {
    await assert.rejects(new Adapter('Client').upsert('x', {}), /admin API/);
  });
});
