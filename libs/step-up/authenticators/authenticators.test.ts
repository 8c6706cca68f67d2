import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { TollgateConfig } from '#config';
import { type Database, openDatabase } from '#persistence';
import { SoftwareAuthenticator } from '../../workload-client/software-authenticator.js';
import { AssertionRefused } from './assertion.js';
import { AttestationRefused } from './attestation.js';
import { AuthenticatorRepository } from './authenticator-repository.js';
import { Authenticators, EnrolmentDenied } from './authenticators.js';

// The service against the real database (PostgreSQL with DATABASE_URL, else embedded in memory),
// with real WebAuthn responses from the software authenticator. HTTP is the e2e suites' part.

const run = `authn-svc-${randomBytes(4).toString('hex')}`;
const ISSUER = 'https://tollgate.example.test:8443';
const ORIGIN = 'https://tollgate.example.test:8443';
let db: Database;
let service: Authenticators;
let seq = 0;

before(async () => {
  db = await openDatabase({ databaseUrl: process.env.DATABASE_URL, dataDir: 'memory://' });
  await db.migrate();
  service = new Authenticators(new AuthenticatorRepository(db), { issuer: ISSUER } as TollgateConfig);
});

after(async () => {
  await db?.prisma.client.deleteMany({ where: { clientId: { startsWith: run } } });
  await db?.close();
});

const nonce = () => randomBytes(32).toString('base64url');

async function client(policy: object | null = { formats: ['packed', 'none'], allow_software: true }): Promise<string> {
  const clientId = `${run}-${++seq}`;
  await db.prisma.client.create({ data: { clientId, tokenEndpointAuthMethod: 'private_key_jwt', roles: [], allowedResources: [] } });
  if (policy) await service.putPolicy(clientId, policy, 'test');
  return clientId;
}

async function enrol(clientId: string, a = new SoftwareAuthenticator(), name?: string) {
  const challenge = nonce();
  const options = await service.creationOptions(clientId, challenge, name);
  return service.enrol(clientId, await a.register(options as never, ORIGIN), challenge, name);
}

async function answer(clientId: string, a: SoftwareAuthenticator) {
  const challenge = nonce();
  const options = await service.requestOptions(clientId, challenge);
  assert.ok(options);
  return { response: await a.authenticate(options as never, ORIGIN), challenge };
}

async function rejects<T extends Error>(promise: Promise<unknown>, type: new (...args: never[]) => T, pattern: RegExp): Promise<T> {
  const err = await promise.then(
    () => assert.fail(`expected ${type.name}`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof type, String(err));
  assert.match((err as Error).message, pattern);
  return err as T;
}

describe(`Authenticators (${process.env.DATABASE_URL ? 'PostgreSQL' : 'embedded'})`, () => {
  it('the relying party is the issuer: origin with port, RP ID its host name', () => {
    assert.equal(service.origin, ORIGIN);
    assert.equal(service.rpId, 'tollgate.example.test');
  });

  it('creation options (docs/step-up.md §5.1): the given challenge exactly, direct attestation, the client as user', async () => {
    const clientId = await client();
    const challenge = nonce();
    const options = await service.creationOptions(clientId, challenge);
    assert.equal(options.challenge, challenge);
    assert.deepEqual(options.rp, { id: 'tollgate.example.test', name: 'Tollgate' });
    assert.deepEqual(options.user, { id: Buffer.from(clientId).toString('base64url'), name: clientId, displayName: clientId });
    assert.deepEqual(options.pubKeyCredParams, [-7, -8, -257].map((alg) => ({ alg, type: 'public-key' })));
    assert.equal(options.timeout, 120_000);
    assert.equal(options.attestation, 'direct');
    assert.deepEqual(options.excludeCredentials, []);
    assert.equal(options.authenticatorSelection?.residentKey, 'discouraged');
    assert.equal(options.authenticatorSelection?.userVerification, 'discouraged');
  });

  it('enrolment is denied without a policy and at max_authenticators; excludeCredentials lists the active ones', async () => {
    const none = await client(null);
    await rejects(service.creationOptions(none, nonce()), EnrolmentDenied, /no attestation policy/);
    const clientId = await client({ formats: ['packed'], allow_software: true, max_authenticators: 2 });
    const first = await enrol(clientId, new SoftwareAuthenticator(), 'agent');
    assert.equal(first.name, 'agent');
    assert.equal(first.attestation, 'self');
    const options = await service.creationOptions(clientId, nonce());
    assert.deepEqual(options.excludeCredentials?.map((c) => c.id), [first.credential_id]);
    await enrol(clientId);
    await rejects(service.creationOptions(clientId, nonce()), EnrolmentDenied, /already holds 2 active authenticators/);
    // Options asked for while there was room do not get past the limit either.
    const other = await client({ formats: ['packed'], allow_software: true });
    const challenge = nonce();
    const early = await service.creationOptions(other, challenge);
    await enrol(other);
    await rejects(service.enrol(other, await new SoftwareAuthenticator().register(early as never, ORIGIN), challenge), EnrolmentDenied, /max_authenticators/);
  });

  it('a policy change between the options and the registration applies to the registration', async () => {
    const clientId = await client();
    const challenge = nonce();
    const options = await service.creationOptions(clientId, challenge);
    await service.putPolicy(clientId, { formats: ['tpm'] }, 'test');
    await rejects(service.enrol(clientId, await new SoftwareAuthenticator().register(options as never, ORIGIN), challenge), AttestationRefused, /format "packed" is not accepted/);
    await service.deletePolicy(clientId, 'test');
    await rejects(service.enrol(clientId, {}, challenge), EnrolmentDenied, /no attestation policy/);
  });

  it('refuses a credential enrolled already, and a bad name', async () => {
    const clientId = await client({ formats: ['packed'], allow_software: true, max_authenticators: 3 });
    const a = new SoftwareAuthenticator();
    const challenge = nonce();
    const options = await service.creationOptions(clientId, challenge);
    const response = await a.register(options as never, ORIGIN);
    await service.enrol(clientId, response, challenge);
    await rejects(service.enrol(clientId, response, challenge), AttestationRefused, /already enrolled/);
    await rejects(service.enrol(clientId, response, challenge, 'x'.repeat(101)), AttestationRefused, /name/);
  });

  it('request options and a verified assertion: use recorded, chainVerified passed on', async () => {
    const clientId = await client();
    assert.equal(await service.requestOptions(clientId, nonce()), null, 'no authenticator yet');
    const a = new SoftwareAuthenticator();
    const enrolled = await enrol(clientId, a);
    const challenge = nonce();
    const options = await service.requestOptions(clientId, challenge);
    assert.equal(options?.challenge, challenge);
    assert.equal(options?.rpId, 'tollgate.example.test');
    assert.equal(options?.userVerification, 'discouraged');
    assert.equal(options?.timeout, 120_000);
    assert.deepEqual(options?.allowCredentials?.map((c) => c.id), [enrolled.credential_id]);

    const response = await a.authenticate(options as never, ORIGIN);
    assert.deepEqual(await service.verifyAssertion(clientId, response, challenge), { authenticatorId: enrolled.authenticator_id, chainVerified: false });
    const [listed] = await service.list(clientId);
    assert.equal(listed!.counter, 1);
    assert.ok(listed!.last_used_at);
  });

  it('refuses another client’s credential like an unknown one, a revoked one, and a missing id', async () => {
    const mine = await client();
    const theirs = await client();
    const a = new SoftwareAuthenticator();
    await enrol(mine, a);
    const b = new SoftwareAuthenticator();
    const foreign = await enrol(theirs, b);
    const { challenge } = await answer(mine, a);
    const byOther = await b.authenticate({ challenge, rpId: 'tollgate.example.test', allowCredentials: [] }, ORIGIN);
    const e1 = await rejects(service.verifyAssertion(mine, byOther, challenge), AssertionRefused, /not enrolled for this client/);
    const e2 = await rejects(service.verifyAssertion(mine, { ...byOther, id: 'AAAA', rawId: 'AAAA' }, challenge), AssertionRefused, /not enrolled for this client/);
    assert.equal(e1.message, e2.message, 'another client’s credential is indistinguishable from an unknown one');
    await rejects(service.verifyAssertion(mine, {}, challenge), AssertionRefused, /names no credential/);

    const pending = await answer(theirs, b);
    await service.revoke(theirs, foreign.authenticator_id, 'test');
    await rejects(service.verifyAssertion(theirs, pending.response, pending.challenge), AssertionRefused, /revoked/);
  });

  it('a clone: refused, and flagged in the audit log — sequentially, and when racing the original', async () => {
    const clientId = await client();
    const a = new SoftwareAuthenticator();
    await enrol(clientId, a);
    const clone = SoftwareAuthenticator.fromState(a.exportState());
    const first = await answer(clientId, a);
    await service.verifyAssertion(clientId, first.response, first.challenge);
    const cloned = await answer(clientId, clone);
    const err = await rejects(service.verifyAssertion(clientId, cloned.response, cloned.challenge), AssertionRefused, /counter did not increase: possibly a cloned authenticator/);
    assert.equal(err.counterRegression, true);

    // Original and clone answer at the same time with the same counter: one wins the compare-and-set.
    const twin = SoftwareAuthenticator.fromState(a.exportState());
    const [x, y] = [await answer(clientId, a), await answer(clientId, twin)];
    const results = await Promise.allSettled([service.verifyAssertion(clientId, x.response, x.challenge), service.verifyAssertion(clientId, y.response, y.challenge)]);
    assert.deepEqual(results.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
    const refused = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    assert.match(refused.reason.message, /counter did not increase/);

    const events = await db.prisma.auditEvent.findMany({ where: { clientId, action: 'authenticator.counter_regression' }, orderBy: { id: 'asc' } });
    assert.equal(events.length, 2);
    assert.equal(events[0]!.actor, 'tollgate');
    assert.equal((events[0]!.details as Record<string, unknown>).presented_counter, 1);
  });
});
