import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { attestationChain } from '#test-support';
import { SettingsService, verifyAuthenticationResponse, verifyRegistrationResponse, type WebAuthnCredential } from '@simplewebauthn/server';
import { type CreationOptionsJSON, type RegistrationResponseJSON, type RequestOptionsJSON, SOFTWARE_AUTHENTICATOR_AAGUID, SoftwareAuthenticator } from '#workload-client';

const ORIGIN = 'http://127.0.0.1:9999';
const RP_ID = '127.0.0.1';
const challenge = () => randomBytes(32).toString('base64url');

const creationOptions = (overrides: Partial<CreationOptionsJSON> = {}): CreationOptionsJSON => ({
  rp: { id: RP_ID, name: 'Tollgate' },
  user: { id: Buffer.from('wl_test').toString('base64url'), name: 'wl_test', displayName: 'wl_test' },
  challenge: challenge(),
  pubKeyCredParams: [{ type: 'public-key', alg: -7 }, { type: 'public-key', alg: -257 }],
  timeout: 120000,
  attestation: 'direct',
  authenticatorSelection: { residentKey: 'discouraged', userVerification: 'discouraged' },
  ...overrides,
});

async function register(authenticator: SoftwareAuthenticator, options = creationOptions()) {
  const response = await authenticator.register(options, ORIGIN);
  const verification = await verifyRegistrationResponse({
    response,
    expectedChallenge: options.challenge,
    expectedOrigin: ORIGIN,
    expectedRPID: RP_ID,
    requireUserVerification: false,
  });
  assert.equal(verification.verified, true);
  return { response, info: verification.registrationInfo! };
}

async function authenticate(authenticator: SoftwareAuthenticator, credential: WebAuthnCredential) {
  const options: RequestOptionsJSON = { challenge: challenge(), rpId: RP_ID, allowCredentials: [{ id: credential.id, type: 'public-key' }], userVerification: 'discouraged' };
  const response = await authenticator.authenticate(options, ORIGIN);
  return { response, options };
}

async function verifyAssertion(authenticator: SoftwareAuthenticator, credential: WebAuthnCredential) {
  const { response, options } = await authenticate(authenticator, credential);
  return verifyAuthenticationResponse({
    response,
    expectedChallenge: options.challenge,
    expectedOrigin: ORIGIN,
    expectedRPID: RP_ID,
    credential,
    requireUserVerification: false,
  });
}


describe('software authenticator', () => {

  it('registers with packed self attestation, verified by @simplewebauthn/server', async () => {
    const { response, info } = await register(new SoftwareAuthenticator());
    assert.equal(info.fmt, 'packed');
    assert.equal(info.aaguid, SOFTWARE_AUTHENTICATOR_AAGUID);
    assert.equal(info.credential.counter, 0);
    assert.equal(info.userVerified, false);
    assert.equal(info.origin, ORIGIN);
    assert.equal(response.response.publicKeyAlgorithm, -7);
    assert.deepEqual(response.response.transports, ['internal']);
    assert.equal(Buffer.from(response.rawId, 'base64url').length, 32);
    const clientData = JSON.parse(Buffer.from(response.response.clientDataJSON, 'base64url').toString());
    assert.deepEqual(Object.keys(clientData), ['type', 'challenge', 'origin', 'crossOrigin']);
    assert.equal(clientData.type, 'webauthn.create');
  });

  it('registers with format none and a chosen AAGUID', async () => {
    const aaguid = '08987058-cadc-4b81-b6e1-30de50dcbe96';
    const { info } = await register(new SoftwareAuthenticator({ format: 'none', aaguid }));
    assert.equal(info.fmt, 'none');
    assert.equal(info.aaguid, aaguid);
  });

  it('sets UV only when user verification is required', async () => {
    const options = creationOptions({ authenticatorSelection: { userVerification: 'required' } });
    const response = await new SoftwareAuthenticator().register(options, ORIGIN);
    const verification = await verifyRegistrationResponse({ response, expectedChallenge: options.challenge, expectedOrigin: ORIGIN, expectedRPID: RP_ID, requireUserVerification: true });
    assert.equal(verification.registrationInfo?.userVerified, true);
  });

  describe('packed full attestation', () => {
    after(() => SettingsService.setRootCertificates({ identifier: 'packed', certificates: [] }));

    it('carries an x5c chain that verifies to the root set for packed', async () => {
      const aaguid = '6a3c8f9e-1b2d-4e5f-8a7b-9c0d1e2f3a4b';
      const chain = await attestationChain(aaguid);
      SettingsService.setRootCertificates({ identifier: 'packed', certificates: [chain.caPem] });
      const authenticator = new SoftwareAuthenticator({ aaguid, attestation: { certificates: [chain.leafDer], privateKey: chain.leafKey } });
      const { info } = await register(authenticator);
      assert.equal(info.fmt, 'packed');
      assert.equal(info.aaguid, aaguid);
      // The same chain without its root configured does not verify.
      SettingsService.setRootCertificates({ identifier: 'packed', certificates: [(await attestationChain(aaguid)).caPem] });
      const options = creationOptions();
      await assert.rejects(
        verifyRegistrationResponse({ response: await authenticator.register(options, ORIGIN), expectedChallenge: options.challenge, expectedOrigin: ORIGIN, expectedRPID: RP_ID, requireUserVerification: false }),
      );
    });

    it('is refused by the verifier when the certificate AAGUID is not the authenticator’s', async () => {
      const chain = await attestationChain('6a3c8f9e-1b2d-4e5f-8a7b-9c0d1e2f3a4b');
      SettingsService.setRootCertificates({ identifier: 'packed', certificates: [chain.caPem] });
      const authenticator = new SoftwareAuthenticator({ attestation: { certificates: [chain.leafDer], privateKey: chain.leafKey } });
      const options = creationOptions();
      await assert.rejects(
        verifyRegistrationResponse({ response: await authenticator.register(options, ORIGIN), expectedChallenge: options.challenge, expectedOrigin: ORIGIN, expectedRPID: RP_ID, requireUserVerification: false }),
        /id-fido-gen-ce-aaguid/,
      );
    });
  });

  it('refuses options without ES256, an RP ID foreign to the origin, and excluded credentials', async () => {
    const authenticator = new SoftwareAuthenticator();
    await assert.rejects(authenticator.register(creationOptions({ pubKeyCredParams: [{ type: 'public-key', alg: -8 }] }), ORIGIN), /ES256/);
    await assert.rejects(authenticator.register(creationOptions({ rp: { id: 'tollgate.example.com', name: 'Tollgate' } }), ORIGIN), /RP ID/);
    const { response } = await register(authenticator);
    await assert.rejects(authenticator.register(creationOptions({ excludeCredentials: [{ id: response.id, type: 'public-key' }] }), ORIGIN), /excludeCredentials/);
  });

  it('honours rp.id: the credential is scoped to it', async () => {
    const authenticator = new SoftwareAuthenticator();
    const options = creationOptions({ rp: { id: 'example.test', name: 'Tollgate' } });
    const response = await authenticator.register(options, 'https://auth.example.test');
    const verification = await verifyRegistrationResponse({ response, expectedChallenge: options.challenge, expectedOrigin: 'https://auth.example.test', expectedRPID: 'example.test', requireUserVerification: false });
    assert.equal(verification.verified, true);
    await assert.rejects(authenticator.authenticate({ challenge: challenge(), rpId: RP_ID, allowCredentials: [{ id: response.id, type: 'public-key' }] }, ORIGIN), /no credential/);
  });

  it('signs assertions verified by @simplewebauthn/server, the counter increasing', async () => {
    const authenticator = new SoftwareAuthenticator();
    const { info } = await register(authenticator);
    const credential = { ...info.credential };
    const first = await verifyAssertion(authenticator, credential);
    assert.equal(first.verified, true);
    assert.equal(first.authenticationInfo.newCounter, 1);
    credential.counter = first.authenticationInfo.newCounter;
    const second = await verifyAssertion(authenticator, credential);
    assert.equal(second.verified, true);
    assert.equal(second.authenticationInfo.newCounter, 2);
    const { response } = await authenticate(authenticator, credential);
    assert.equal(response.response.userHandle, Buffer.from('wl_test').toString('base64url'));
    const clientData = JSON.parse(Buffer.from(response.response.clientDataJSON, 'base64url').toString());
    assert.deepEqual(clientData, { type: 'webauthn.get', challenge: clientData.challenge, origin: ORIGIN, crossOrigin: false });
  });

  it('refuses to authenticate when none of allowCredentials is held', async () => {
    const authenticator = new SoftwareAuthenticator();
    await register(authenticator);
    await assert.rejects(authenticator.authenticate({ challenge: challenge(), rpId: RP_ID, allowCredentials: [{ id: 'AAAA', type: 'public-key' }] }, ORIGIN), /no credential/);
  });

  it('a clone restored from exported state repeats counters, which the verifier refuses', async () => {
    const original = new SoftwareAuthenticator();
    const { info } = await register(original);
    const credential = { ...info.credential };
    credential.counter = (await verifyAssertion(original, credential)).authenticationInfo.newCounter; // 1

    const state = JSON.parse(JSON.stringify(original.exportState()));
    assert.equal(state.credentials[0].counter, 1);
    assert.equal(state.credentials[0].privateKey.d !== undefined, true);
    const clone = SoftwareAuthenticator.fromState(state);

    credential.counter = (await verifyAssertion(original, credential)).authenticationInfo.newCounter; // 2
    const { response: cloned, options } = await authenticate(clone, credential);
    const clonedCounter = Buffer.from(cloned.response.authenticatorData, 'base64url').readUInt32BE(33);
    assert.equal(clonedCounter, 2);
    assert.ok(clonedCounter <= credential.counter);
    const verify = (counter: number) =>
      verifyAuthenticationResponse({
        response: cloned,
        expectedChallenge: options.challenge,
        expectedOrigin: ORIGIN,
        expectedRPID: RP_ID,
        credential: { ...credential, counter },
        requireUserVerification: false,
      });
    await assert.rejects(verify(credential.counter), /counter/i);
    // The signature itself is good: only the counter gives the clone away.
    assert.equal((await verify(1)).verified, true);
  });

  it('produces the JSON @simplewebauthn/server types describe', () => {
    // Compile-time: our RegistrationResponseJSON is accepted where theirs is expected.
    const accepts = (response: RegistrationResponseJSON) => verifyRegistrationResponse({ response, expectedChallenge: '', expectedOrigin: ORIGIN });
    assert.equal(typeof accepts, 'function');
  });
});
