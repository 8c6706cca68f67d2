import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { SoftwareAuthenticator } from '../../workload-client/software-authenticator.js';
import { type AssertingAuthenticator, assertedCredentialId, AssertionRefused, verifyAuthenticatorAssertion } from './assertion.js';
import { verifyEnrolment } from './attestation.js';
import { checkAttestationPolicy } from './attestation-policy.js';

const ORIGIN = 'https://tollgate.example.test';
const RP_ID = 'tollgate.example.test';
const SOFTWARE = checkAttestationPolicy({ formats: ['packed', 'none'], allow_software: true }).policy!;
const nonce = () => randomBytes(32).toString('base64url');

/** A software authenticator enrolled the way the service enrols it, and its stored record. */
async function enrolled(a = new SoftwareAuthenticator(), rpId = RP_ID, origin = ORIGIN) {
  const challenge = nonce();
  const response = await a.register(
    { rp: { id: rpId, name: 'Tollgate' }, user: { id: 'd2w', name: 'wl', displayName: 'wl' }, challenge, pubKeyCredParams: [{ type: 'public-key', alg: -7 }] },
    origin,
  );
  const v = await verifyEnrolment({ response, expectedChallenge: challenge, origin, rpId, policy: SOFTWARE });
  const stored: AssertingAuthenticator = { credentialId: v.credentialId, publicKey: v.publicKey, counter: v.counter, revoked: false };
  return { a, stored };
}

async function answer(a: SoftwareAuthenticator, stored: AssertingAuthenticator, options: { rpId?: string; origin?: string } = {}) {
  const challenge = nonce();
  const response = await a.authenticate({ challenge, rpId: options.rpId ?? RP_ID, allowCredentials: [{ id: stored.credentialId, type: 'public-key' }] }, options.origin ?? ORIGIN);
  return { response, expectedChallenge: challenge, origin: ORIGIN, rpId: RP_ID, authenticator: stored };
}

async function refusal(promise: Promise<unknown>, pattern: RegExp): Promise<AssertionRefused> {
  const err = await promise.then(
    () => assert.fail('expected AssertionRefused'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof AssertionRefused, String(err));
  assert.match(err.message, pattern);
  return err;
}

describe('verifyAuthenticatorAssertion (WebAuthn L3 §7.2, §6.1.1)', () => {
  it('accepts an assertion over the challenge and returns the new counter; counters must keep increasing', async () => {
    const { a, stored } = await enrolled();
    assert.deepEqual(await verifyAuthenticatorAssertion(await answer(a, stored)), { newCounter: 1 });
    stored.counter = 1;
    assert.deepEqual(await verifyAuthenticatorAssertion(await answer(a, stored)), { newCounter: 2 });
  });

  it('refuses a counter that did not increase: a replayed answer, or a clone behind the original', async () => {
    const { a, stored } = await enrolled();
    const clone = SoftwareAuthenticator.fromState(a.exportState());
    const first = await answer(a, stored);
    assert.deepEqual(await verifyAuthenticatorAssertion(first), { newCounter: 1 });
    const after = { ...stored, counter: 1 };
    const replay = await refusal(verifyAuthenticatorAssertion({ ...first, authenticator: after }), /counter did not increase: possibly a cloned authenticator/);
    assert.equal(replay.counterRegression, true);
    const cloned = await refusal(verifyAuthenticatorAssertion(await answer(clone, after)), /counter did not increase: possibly a cloned authenticator/);
    assert.equal(cloned.counterRegression, true);
  });

  it('an authenticator that never counts (0 → 0) is accepted; 0 after a non-zero counter is not', async () => {
    const { a, stored } = await enrolled();
    const state = a.exportState();
    state.credentials[0]!.counter = -1; // its next assertion reports counter 0
    const zero = SoftwareAuthenticator.fromState(state);
    assert.deepEqual(await verifyAuthenticatorAssertion(await answer(zero, stored)), { newCounter: 0 });
    const again = SoftwareAuthenticator.fromState(state);
    const err = await refusal(verifyAuthenticatorAssertion(await answer(again, { ...stored, counter: 5 })), /counter did not increase/);
    assert.equal(err.counterRegression, true);
  });

  it('refuses another challenge, without echoing it', async () => {
    const { a, stored } = await enrolled();
    const input = await answer(a, stored);
    const expected = nonce();
    const err = await refusal(verifyAuthenticatorAssertion({ ...input, expectedChallenge: expected }), /made for another challenge/);
    assert.ok(!err.message.includes(expected) && !err.message.includes(input.expectedChallenge));
    assert.equal(err.counterRegression, false);
  });

  it('refuses another origin and another RP ID', async () => {
    const { a, stored } = await enrolled();
    await refusal(verifyAuthenticatorAssertion({ ...(await answer(a, stored)), origin: 'https://other.example.test' }), /another origin/);
    const sub = await enrolled(new SoftwareAuthenticator(), 'a.tollgate.example.test', 'https://a.tollgate.example.test');
    const input = await answer(sub.a, sub.stored, { rpId: 'a.tollgate.example.test', origin: 'https://a.tollgate.example.test' });
    await refusal(verifyAuthenticatorAssertion({ ...input, origin: 'https://a.tollgate.example.test' }), /another RP ID/);
  });

  it('refuses a bad signature: another key, a changed signature, changed authenticator data', async () => {
    const { a, stored } = await enrolled();
    const other = await enrolled();
    const input = await answer(a, stored);
    await refusal(verifyAuthenticatorAssertion({ ...input, authenticator: { ...stored, publicKey: other.stored.publicKey } }), /signature does not verify/);
    const sig = Buffer.from(input.response.response.signature, 'base64url');
    sig[sig.length - 1] ^= 1;
    await refusal(verifyAuthenticatorAssertion({ ...input, response: { ...input.response, response: { ...input.response.response, signature: sig.toString('base64url') } } }), /signature does not verify/);
    const data = Buffer.from(input.response.response.authenticatorData, 'base64url');
    data.writeUInt32BE(99, 33); // a higher counter than signed
    const err = await refusal(
      verifyAuthenticatorAssertion({ ...input, response: { ...input.response, response: { ...input.response.response, authenticatorData: data.toString('base64url') } } }),
      /signature does not verify/,
    );
    assert.equal(err.counterRegression, false);
  });

  it('refuses an assertion by another credential than the one it is checked against, and a revoked authenticator', async () => {
    const { a, stored } = await enrolled();
    const other = await enrolled();
    await refusal(verifyAuthenticatorAssertion({ ...(await answer(a, stored)), authenticator: other.stored }), /another credential/);
    await refusal(verifyAuthenticatorAssertion(await answer(a, { ...stored, revoked: true })), /revoked/);
  });

  it('refuses what is not an AuthenticationResponseJSON', async () => {
    const { a, stored } = await enrolled();
    const input = await answer(a, stored);
    const r = input.response;
    for (const response of [null, 'x', {}, { ...r, rawId: 'x' }, { ...r, type: 'x' }, { ...r, response: { ...r.response, signature: '' } }, { ...r, response: { ...r.response, userHandle: 5 } }]) {
      await refusal(verifyAuthenticatorAssertion({ ...input, response }), /not an AuthenticationResponseJSON/);
    }
    await refusal(verifyAuthenticatorAssertion({ ...input, response: { ...r, response: { ...r.response, clientDataJSON: 'e30' } } }), /clientDataJSON type/);
  });

  it('assertedCredentialId reads a usable id or nothing', () => {
    assert.equal(assertedCredentialId({ id: 'abc_-' }), 'abc_-');
    for (const v of [null, {}, { id: 5 }, { id: 'a b' }, { id: 'x'.repeat(2000) }]) assert.equal(assertedCredentialId(v), undefined);
  });
});
