import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { type Database, openDatabase } from '#persistence';
import type { VerifiedEnrolment } from './attestation.js';
import { type AttestationPolicy, checkAttestationPolicy } from './attestation-policy.js';
import { AuthenticatorRepository, type StoredAttestationPolicy } from './authenticator-repository.js';

// Against the real database: PostgreSQL when DATABASE_URL is set, the embedded one (in memory)
// otherwise. Every client this file creates is deleted at the end (its rows go with it).

const run = `authn-repo-${randomBytes(4).toString('hex')}`;
let db: Database;
let repo: AuthenticatorRepository;
let seq = 0;

before(async () => {
  db = await openDatabase({ databaseUrl: process.env.DATABASE_URL, dataDir: 'memory://' });
  await db.migrate();
  repo = new AuthenticatorRepository(db);
});

after(async () => {
  await db?.prisma.client.deleteMany({ where: { clientId: { startsWith: run } } });
  await db?.close();
});

const policy = (doc: Record<string, unknown>): AttestationPolicy => checkAttestationPolicy(doc).policy!;

async function client(maxAuthenticators?: number): Promise<{ clientId: string; stored: StoredAttestationPolicy | null }> {
  const clientId = `${run}-${++seq}`;
  await db.prisma.client.create({ data: { clientId, tokenEndpointAuthMethod: 'private_key_jwt', roles: [], allowedResources: [] } });
  const stored = maxAuthenticators ? await repo.putPolicy(clientId, policy({ formats: ['packed'], allow_software: true, max_authenticators: maxAuthenticators }), 'test') : null;
  return { clientId, stored };
}

function enrolment(overrides: Partial<VerifiedEnrolment> = {}): VerifiedEnrolment & { name?: string } {
  return {
    credentialId: randomBytes(32).toString('base64url'),
    publicKey: new Uint8Array(randomBytes(77)),
    counter: 0,
    format: 'packed',
    aaguid: '08987058-cadc-4b81-b6e1-30de50dcbe96',
    attestation: 'self',
    chainVerified: false,
    transports: ['internal'],
    name: 'build agent',
    ...overrides,
  };
}

async function created(clientId: string, stored: StoredAttestationPolicy, overrides: Partial<VerifiedEnrolment> = {}) {
  const result = await repo.create(clientId, enrolment(overrides), stored, `client:${clientId}`);
  assert.equal(result.kind, 'created', JSON.stringify(result));
  return (result as Extract<typeof result, { kind: 'created' }>).authenticator;
}

const actions = async (clientId: string) =>
  (await db.prisma.auditEvent.findMany({ where: { clientId }, orderBy: { id: 'asc' } })).map((e) => ({ action: e.action, details: e.details as Record<string, unknown> }));

describe(`AuthenticatorRepository (${process.env.DATABASE_URL ? 'PostgreSQL' : 'embedded'})`, () => {
  it('stores an authenticator with every field, audits the enrolment without key material', async () => {
    const { clientId, stored } = await client(1);
    const input = enrolment({ counter: 7, transports: ['usb', 'nfc'] });
    const result = await repo.create(clientId, input, stored!, `client:${clientId}`);
    assert.equal(result.kind, 'created');
    const a = (result as Extract<typeof result, { kind: 'created' }>).authenticator;
    assert.match(a.id, /^[0-9a-f-]{36}$/);
    assert.equal(a.clientId, clientId);
    assert.equal(a.credentialId, input.credentialId);
    assert.deepEqual(a.publicKey, input.publicKey);
    assert.equal(a.counter, 7);
    assert.deepEqual(a.transports, ['usb', 'nfc']);
    assert.equal(a.name, 'build agent');
    assert.equal(a.revokedAt, null);
    assert.equal(a.lastUsedAt, null);
    assert.deepEqual(await repo.findByCredentialId(input.credentialId), a);
    assert.deepEqual(await repo.findActiveByCredentialId(input.credentialId), a);
    assert.deepEqual(await repo.findById(a.id), a);

    const audit = await actions(clientId);
    assert.deepEqual(audit.map((e) => e.action), ['attestation_policy.set', 'authenticator.enrolled']);
    assert.equal(audit[1]!.details.authenticator_id, a.id);
    assert.equal(audit[1]!.details.credential_id, input.credentialId);
    assert.ok(!JSON.stringify(audit).includes(Buffer.from(input.publicKey).toString('base64')), 'no public key in the audit log');
    assert.ok(!('public_key' in audit[1]!.details));
  });

  it('re-checks max_authenticators (revoked ones do not count), the policy, and the credential id', async () => {
    const { clientId, stored } = await client(2);
    const first = await created(clientId, stored!);
    await created(clientId, stored!);
    assert.deepEqual(await repo.create(clientId, enrolment(), stored!, 'test'), { kind: 'limit', max: 2 });
    assert.equal(await repo.countActive(clientId), 2);
    assert.equal(await repo.revoke(clientId, first.id, 'test'), 'revoked');
    assert.equal(await repo.countActive(clientId), 1);
    await created(clientId, stored!);

    // The same credential id, for this client or another one.
    const other = await client(5);
    assert.deepEqual(await repo.create(other.clientId, enrolment({ credentialId: first.credentialId }), other.stored!, 'test'), { kind: 'duplicate' });

    // The policy changed after the response was verified against it, or went away.
    const changed = await repo.putPolicy(other.clientId, policy({ formats: ['packed'], allow_software: true, max_authenticators: 5 }), 'test');
    assert.equal(changed!.version, 2);
    assert.deepEqual(await repo.create(other.clientId, enrolment(), other.stored!, 'test'), { kind: 'policy_changed' });
    assert.equal(await repo.deletePolicy(other.clientId, 'test'), 2);
    assert.deepEqual(await repo.create(other.clientId, enrolment(), changed!, 'test'), { kind: 'no_policy' });
    // Removed and set again: version 1 again, but not the policy verified against.
    const again = await repo.putPolicy(other.clientId, policy({ formats: ['packed'], allow_software: true }), 'test');
    assert.equal(again!.version, 1);
    assert.deepEqual(await repo.create(other.clientId, enrolment(), { ...again!, updatedAt: new Date(0) }, 'test'), { kind: 'policy_changed' });
    // An unknown client.
    assert.deepEqual(await repo.create(`${run}-nobody`, enrolment(), again!, 'test'), { kind: 'no_policy' });
  });

  it('concurrent enrolments of one client cannot both take the last place', async () => {
    const { clientId, stored } = await client(1);
    const results = await Promise.all(Array.from({ length: 5 }, () => repo.create(clientId, enrolment(), stored!, 'test')));
    assert.equal(results.filter((r) => r.kind === 'created').length, 1, JSON.stringify(results));
    assert.ok(results.every((r) => r.kind === 'created' || r.kind === 'limit'));
    assert.equal(await repo.countActive(clientId), 1);
  });

  it('lists a client’s authenticators, revoked ones included; revokes once, audited; not another client’s', async () => {
    const { clientId, stored } = await client(3);
    const a = await created(clientId, stored!);
    const b = await created(clientId, stored!);
    const other = await client(1);
    const foreign = await created(other.clientId, other.stored!);

    assert.equal(await repo.revoke(clientId, foreign.id, 'test'), 'not_found');
    assert.equal(await repo.revoke(clientId, 'not-a-uuid', 'test'), 'not_found');
    assert.equal(await repo.revoke(clientId, '00000000-0000-4000-8000-000000000000', 'test'), 'not_found');
    assert.equal(await repo.revoke(clientId, a.id, 'admin-token'), 'revoked');
    assert.equal(await repo.revoke(clientId, a.id, 'admin-token'), 'already');

    const listed = await repo.listForClient(clientId);
    assert.deepEqual(listed.map((x) => x.id), [a.id, b.id]);
    assert.ok(listed[0]!.revokedAt instanceof Date);
    assert.equal(listed[1]!.revokedAt, null);
    assert.deepEqual((await repo.listActive(clientId)).map((x) => x.id), [b.id]);
    assert.equal(await repo.findActiveByCredentialId(a.credentialId), null);
    assert.equal((await repo.findByCredentialId(a.credentialId))!.id, a.id);
    assert.equal(await repo.findById('nope'), null);
    assert.equal((await repo.findById(foreign.id))!.clientId, other.clientId);

    const revocations = (await actions(clientId)).filter((e) => e.action === 'authenticator.revoked');
    assert.equal(revocations.length, 1, 'revoking twice is audited once');
    assert.equal(revocations[0]!.details.authenticator_id, a.id);
  });

  it('recordUse is a compare-and-set on the counter: only upwards, 0 → 0 for authenticators that never count, never when revoked', async () => {
    const { clientId, stored } = await client(3);
    const a = await created(clientId, stored!);
    assert.equal(await repo.recordUse(a.id, 5), true);
    const used = (await repo.findById(a.id))!;
    assert.equal(used.counter, 5);
    assert.ok(used.lastUsedAt instanceof Date);
    assert.equal(await repo.recordUse(a.id, 5), false, 'the same counter twice');
    assert.equal(await repo.recordUse(a.id, 3), false, 'a lower counter');
    assert.equal(await repo.recordUse(a.id, 0), false, '0 after a non-zero counter');
    assert.equal(await repo.recordUse(a.id, 4_294_967_295), true, 'the largest u32 counter');
    assert.equal((await repo.findById(a.id))!.counter, 4_294_967_295);

    const zero = await created(clientId, stored!);
    assert.equal(await repo.recordUse(zero.id, 0), true);
    assert.equal(await repo.recordUse(zero.id, 0), true);
    assert.ok((await repo.findById(zero.id))!.lastUsedAt);

    // Concurrent answers carrying the same counter: exactly one wins.
    const c = await created(clientId, stored!);
    const raced = await Promise.all(Array.from({ length: 6 }, () => repo.recordUse(c.id, 9)));
    assert.equal(raced.filter(Boolean).length, 1);

    await repo.revoke(clientId, c.id, 'test');
    assert.equal(await repo.recordUse(c.id, 10), false, 'revoked');
  });

  it('records a counter regression in the audit log', async () => {
    const { clientId, stored } = await client(1);
    const a = await created(clientId, stored!);
    await repo.recordCounterRegression({ ...a, counter: 12 }, 3, 'tollgate');
    const event = (await actions(clientId)).find((e) => e.action === 'authenticator.counter_regression');
    assert.deepEqual(event?.details, { authenticator_id: a.id, credential_id: a.credentialId, stored_counter: 12, presented_counter: 3 });
  });

  it('policies: put bumps the version, get, delete; unknown clients; audited; removed with the client', async () => {
    const { clientId } = await client();
    assert.equal(await repo.getPolicy(clientId), null);
    assert.equal(await repo.deletePolicy(clientId, 'test'), 'absent');
    const p = policy({ formats: ['packed', 'tpm'], aaguids: ['08987058-cadc-4b81-b6e1-30de50dcbe96'] });
    const one = await repo.putPolicy(clientId, p, 'admin-token');
    assert.equal(one!.version, 1);
    assert.deepEqual(one!.policy, p);
    const two = await repo.putPolicy(clientId, { ...p, max_authenticators: 3 }, 'admin-token');
    assert.equal(two!.version, 2);
    assert.equal(two!.createdAt.getTime(), one!.createdAt.getTime());
    assert.deepEqual((await repo.getPolicy(clientId))!.policy.max_authenticators, 3);
    assert.equal(await repo.deletePolicy(clientId, 'admin-token'), 2);
    assert.equal(await repo.getPolicy(clientId), null);
    const audit = await actions(clientId);
    assert.deepEqual(audit.map((e) => e.action), ['attestation_policy.set', 'attestation_policy.set', 'attestation_policy.deleted']);
    assert.equal(audit[1]!.details.version, 2);

    assert.equal(await repo.putPolicy(`${run}-nobody`, p, 'test'), null);
    assert.equal(await repo.deletePolicy(`${run}-nobody`, 'test'), 'no_client');
    assert.equal(await repo.clientExists(`${run}-nobody`), false);

    const gone = await client(2);
    await created(gone.clientId, gone.stored!);
    await db.prisma.client.delete({ where: { clientId: gone.clientId } });
    assert.equal(await repo.getPolicy(gone.clientId), null);
    assert.deepEqual(await repo.listForClient(gone.clientId), []);
  });
});
