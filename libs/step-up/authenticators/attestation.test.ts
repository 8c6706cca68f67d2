import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { SettingsService } from '@simplewebauthn/server';
import { SoftwareAuthenticator } from '../../workload-client/software-authenticator.js';
import { AttestationRefused, verifyEnrolment } from './attestation.js';
import { type AttestationPolicy, checkAttestationPolicy } from './attestation-policy.js';
import { chainsToAnchor } from './certificate-chain.js';
import { issued, rootCa, type TestCertificate } from '#test-support';

const ORIGIN = 'https://tollgate.example.test';
const RP_ID = 'tollgate.example.test';
const AAGUID = '08987058-cadc-4b81-b6e1-30de50dcbe96';
const DAY = 86_400_000;

function policy(doc: Record<string, unknown>): AttestationPolicy {
  const checked = checkAttestationPolicy(doc);
  assert.equal(checked.problems, undefined, JSON.stringify(checked.problems));
  return checked.policy!;
}

function creationOptions(challenge: string, rpId = RP_ID) {
  return {
    rp: { id: rpId, name: 'Tollgate' },
    user: { id: Buffer.from('wl_test').toString('base64url'), name: 'wl_test', displayName: 'wl_test' },
    challenge,
    pubKeyCredParams: [{ type: 'public-key', alg: -7 }],
    attestation: 'direct',
  };
}

/** A registration by `authenticator` over a fresh challenge, and the input to verify it with. */
async function registration(authenticator: SoftwareAuthenticator, doc: Record<string, unknown>, options: { rpId?: string; origin?: string } = {}) {
  const challenge = randomBytes(32).toString('base64url');
  const response = await authenticator.register(creationOptions(challenge, options.rpId), options.origin ?? ORIGIN);
  return { response, expectedChallenge: challenge, origin: ORIGIN, rpId: RP_ID, policy: policy(doc) };
}

async function refusal(promise: Promise<unknown>, pattern: RegExp): Promise<AttestationRefused> {
  const err = await promise.then(
    () => assert.fail('expected AttestationRefused'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof AttestationRefused, String(err));
  assert.match(err.message, pattern);
  return err;
}

/** Packed full attestation (WebAuthn L3 §8.2): x5c leaf first, signed by the leaf's key. */
function attested(leaf: TestCertificate, chain: TestCertificate[] = [leaf], aaguid = AAGUID) {
  return new SoftwareAuthenticator({ aaguid, attestation: { certificates: chain.map((c) => c.der), privateKey: leaf.keys.privateKey } });
}

describe('verifyEnrolment (WebAuthn L3 §7.1 + docs/step-up.md §6)', () => {
  it('admits packed self attestation only with allow_software: attestation self, chainVerified false', async () => {
    const a = new SoftwareAuthenticator({ aaguid: AAGUID });
    const input = await registration(a, { formats: ['packed'], allow_software: true });
    const result = await verifyEnrolment(input);
    assert.equal(result.credentialId, input.response.id);
    assert.equal(result.format, 'packed');
    assert.equal(result.aaguid, AAGUID);
    assert.equal(result.attestation, 'self');
    assert.equal(result.chainVerified, false);
    assert.equal(result.counter, 0);
    assert.deepEqual(result.transports, ['internal']);
    assert.ok(result.publicKey instanceof Uint8Array && result.publicKey.length > 64);

    await refusal(verifyEnrolment(await registration(a, { formats: ['packed'] })), /self attestation is a software authenticator.*does not allow/);
  });

  it('admits format none only when the policy lists it (which needs allow_software)', async () => {
    const a = new SoftwareAuthenticator({ format: 'none' });
    const result = await verifyEnrolment(await registration(a, { formats: ['none'], allow_software: true }));
    assert.equal(result.format, 'none');
    assert.equal(result.attestation, 'none');
    assert.equal(result.chainVerified, false);
    await refusal(verifyEnrolment(await registration(a, { formats: ['packed'], allow_software: true })), /format "none" is not accepted.*\(accepted: packed\)/);
  });

  it('refuses a format the policy does not list', async () => {
    await refusal(verifyEnrolment(await registration(new SoftwareAuthenticator(), { formats: ['tpm', 'apple'], allow_software: true })), /format "packed" is not accepted/);
  });

  it('an x5c chain to a trust anchor is basic with chainVerified, directly or through an intermediate', async () => {
    const root = await rootCa();
    const leaf = await issued(root, 'Authenticator', { aaguid: AAGUID });
    const direct = await verifyEnrolment(await registration(attested(leaf), { formats: ['packed'], aaguids: [AAGUID], trust_anchors: [root.pem] }));
    assert.equal(direct.attestation, 'basic');
    assert.equal(direct.chainVerified, true);

    const intermediate = await issued(root, 'Intermediate', { ca: true });
    const leaf2 = await issued(intermediate, 'Authenticator', { aaguid: AAGUID });
    const other = await rootCa('Unrelated Root');
    const viaIntermediate = await verifyEnrolment(await registration(attested(leaf2, [leaf2, intermediate]), { formats: ['packed'], trust_anchors: [other.pem, root.pem] }));
    assert.equal(viaIntermediate.attestation, 'basic');
    assert.equal(viaIntermediate.chainVerified, true);
    // The root itself in x5c is fine too.
    const withRoot = await verifyEnrolment(await registration(attested(leaf2, [leaf2, intermediate, root]), { formats: ['packed'], trust_anchors: [root.pem] }));
    assert.equal(withRoot.chainVerified, true);
  });

  it('refuses a chain to another root, even with allow_software (the policy can check it, and the check failed)', async () => {
    const root = await rootCa();
    const foreign = await rootCa('Foreign Root');
    const leaf = await issued(foreign, 'Authenticator', { aaguid: AAGUID });
    for (const allow of [false, true]) {
      await refusal(
        verifyEnrolment(await registration(attested(leaf), { formats: ['packed'], trust_anchors: [root.pem], allow_software: allow })),
        /attestation chain is refused: .*does not lead to a trust anchor/,
      );
    }
  });

  it('an x5c chain when the policy has no trust anchor: refused, or basic without chainVerified under allow_software', async () => {
    const root = await rootCa();
    const leaf = await issued(root, 'Authenticator', { aaguid: AAGUID });
    await refusal(verifyEnrolment(await registration(attested(leaf), { formats: ['packed'] })), /no trust anchor/);
    const admitted = await verifyEnrolment(await registration(attested(leaf), { formats: ['packed'], allow_software: true }));
    assert.equal(admitted.attestation, 'basic');
    assert.equal(admitted.chainVerified, false);
  });

  it('refuses an AAGUID the policy does not list, and compares AAGUIDs case-insensitively', async () => {
    const a = new SoftwareAuthenticator({ aaguid: AAGUID });
    await refusal(
      verifyEnrolment(await registration(a, { formats: ['packed'], allow_software: true, aaguids: ['6a3c8f9e-1b2d-4e5f-8a7b-9c0d1e2f3a4b'] })),
      new RegExp(`AAGUID ${AAGUID}\\) is not accepted`),
    );
    const ok = await verifyEnrolment(await registration(a, { formats: ['packed'], allow_software: true, aaguids: [AAGUID.toUpperCase()] }));
    assert.equal(ok.aaguid, AAGUID);
  });

  it('refuses another challenge without echoing either challenge', async () => {
    const input = await registration(new SoftwareAuthenticator(), { formats: ['packed'], allow_software: true });
    const other = randomBytes(32).toString('base64url');
    const err = await refusal(verifyEnrolment({ ...input, expectedChallenge: other }), /made for another challenge/);
    assert.ok(!err.message.includes(other) && !err.message.includes(input.expectedChallenge));
  });

  it('refuses another origin, and another RP ID', async () => {
    const doc = { formats: ['packed'], allow_software: true };
    await refusal(verifyEnrolment(await registration(new SoftwareAuthenticator(), doc, { origin: 'https://evil.example.test', rpId: 'evil.example.test' })), /another origin \(expected https:\/\/tollgate\.example\.test\)/);
    // The right origin, but a credential scoped to a sub-domain RP ID.
    const input = await registration(new SoftwareAuthenticator(), doc, { origin: 'https://a.tollgate.example.test', rpId: 'a.tollgate.example.test' });
    await refusal(verifyEnrolment({ ...input, origin: 'https://a.tollgate.example.test' }), /another RP ID \(expected tollgate\.example\.test\)/);
  });

  it('refuses a statement whose signature does not verify (clientDataJSON changed after signing)', async () => {
    const input = await registration(new SoftwareAuthenticator(), { formats: ['packed'], allow_software: true });
    const clientData = JSON.parse(Buffer.from(input.response.response.clientDataJSON, 'base64url').toString());
    const changed = Buffer.from(JSON.stringify({ ...clientData, extra: 'x' })).toString('base64url');
    const err = await refusal(verifyEnrolment({ ...input, response: { ...input.response, response: { ...input.response.response, clientDataJSON: changed } } }), /packed attestation statement does not verify/);
    assert.ok(err.cause, 'the library error is kept as the cause (for logs), not in the message');
  });

  it('refuses an expired attestation certificate', async () => {
    const root = await rootCa();
    const leaf = await issued(root, 'Authenticator', { aaguid: AAGUID, notBefore: new Date(Date.now() - 10 * DAY), notAfter: new Date(Date.now() - DAY) });
    await refusal(verifyEnrolment(await registration(attested(leaf), { formats: ['packed'], trust_anchors: [root.pem] })), /does not verify|validity/);
  });

  it('refuses what is not a RegistrationResponseJSON, and an unreadable attestation object', async () => {
    const input = await registration(new SoftwareAuthenticator(), { formats: ['packed'], allow_software: true });
    for (const response of [null, 'x', {}, { ...input.response, rawId: 'other' }, { ...input.response, type: 'password' }, { ...input.response, response: {} }, { ...input.response, id: 'a b' }]) {
      await refusal(verifyEnrolment({ ...input, response }), /not a RegistrationResponseJSON/);
    }
    const broken = { ...input.response, response: { ...input.response.response, attestationObject: 'AAAA' } };
    await refusal(verifyEnrolment({ ...input, response: broken }), /not readable CBOR/);
  });

  it('keeps only known transports', async () => {
    const input = await registration(new SoftwareAuthenticator(), { formats: ['packed'], allow_software: true });
    const response = { ...input.response, response: { ...input.response.response, transports: ['usb', 'usb', 'carrier-pigeon', 7, 'nfc'] } };
    assert.deepEqual((await verifyEnrolment({ ...input, response })).transports, ['usb', 'nfc']);
  });

  it('per-client trust anchors do not leak between concurrent verifications (SimpleWebAuthn settings stay empty)', async () => {
    const rootA = await rootCa('Root A');
    const rootB = await rootCa('Root B');
    const leafA = await issued(rootA, 'A', { aaguid: AAGUID });
    const leafB = await issued(rootB, 'B', { aaguid: AAGUID });
    const cases = await Promise.all(
      Array.from({ length: 12 }, async (_, i) => {
        // Alternating clients: one whose anchor issued the leaf, one whose anchor did not.
        const [leaf, anchor] = [[leafA, rootA], [leafA, rootB], [leafB, rootB], [leafB, rootA]][i % 4]!;
        return { ok: (leaf === leafA) === (anchor === rootA), input: await registration(attested(leaf), { formats: ['packed'], trust_anchors: [anchor.pem] }) };
      }),
    );
    const results = await Promise.allSettled(cases.map((c) => verifyEnrolment(c.input)));
    results.forEach((r, i) => assert.equal(r.status === 'fulfilled', cases[i]!.ok, `case ${i}`));
    assert.deepEqual(SettingsService.getRootCertificates({ identifier: 'packed' }), []);
    assert.deepEqual(SettingsService.getRootCertificates({ identifier: 'apple' }), []);
  });
});

describe('chainsToAnchor', () => {
  it('accepts leaf → anchor and leaf → intermediate → anchor', async () => {
    const root = await rootCa();
    const intermediate = await issued(root, 'Intermediate', { ca: true });
    const leaf = await issued(intermediate, 'Leaf');
    assert.deepEqual(chainsToAnchor([leaf.der, intermediate.der], [root.pem]), { ok: true });
    assert.deepEqual(chainsToAnchor([intermediate.der], [root.pem]), { ok: true });
    assert.deepEqual(chainsToAnchor([leaf.der, intermediate.der, root.der], [root.pem]), { ok: true });
  });

  it('refuses a chain that skips its intermediate, is out of order, or is issued by a non-CA', async () => {
    const root = await rootCa();
    const intermediate = await issued(root, 'Intermediate', { ca: true });
    const leaf = await issued(intermediate, 'Leaf');
    const notCa = await issued(root, 'Not a CA', { ca: false });
    const underLeaf = await issued(notCa, 'Under a leaf');
    assert.match((chainsToAnchor([leaf.der], [root.pem]) as { reason: string }).reason, /does not lead to a trust anchor/);
    assert.match((chainsToAnchor([intermediate.der, leaf.der], [root.pem]) as { reason: string }).reason, /broken/);
    assert.match((chainsToAnchor([underLeaf.der, notCa.der], [root.pem]) as { reason: string }).reason, /broken/);
  });

  it('refuses a same-named impostor issuer (the signature is checked, not just the names)', async () => {
    const root = await rootCa('Same Name');
    const impostor = await rootCa('Same Name');
    const leaf = await issued(impostor, 'Leaf');
    assert.equal(chainsToAnchor([leaf.der], [root.pem]).ok, false);
  });

  it('checks validity dates of every certificate, the anchor included', async () => {
    const past = { notBefore: new Date(Date.now() - 10 * DAY), notAfter: new Date(Date.now() - DAY) };
    const future = { notBefore: new Date(Date.now() + DAY), notAfter: new Date(Date.now() + 10 * DAY) };
    const root = await rootCa();
    const expiredIntermediate = await issued(root, 'Old', { ca: true, ...past });
    assert.match((chainsToAnchor([(await issued(expiredIntermediate, 'Leaf')).der, expiredIntermediate.der], [root.pem]) as { reason: string }).reason, /validity/);
    assert.match((chainsToAnchor([(await issued(root, 'Early', future)).der], [root.pem]) as { reason: string }).reason, /validity/);
    const expiredRoot = await rootCa('Expired', past);
    assert.equal(chainsToAnchor([(await issued(expiredRoot, 'Leaf')).der], [expiredRoot.pem]).ok, false);
    // ...and judged at the time given.
    const leaf = await issued(root, 'Leaf');
    assert.equal(chainsToAnchor([leaf.der], [root.pem], new Date(Date.now() + 60 * DAY)).ok, false);
  });

  it('refuses an empty, over-long or unparseable chain', async () => {
    const root = await rootCa();
    const leaf = await issued(root, 'Leaf');
    assert.equal(chainsToAnchor([], [root.pem]).ok, false);
    assert.match((chainsToAnchor(Array(6).fill(leaf.der), [root.pem]) as { reason: string }).reason, /more than 5/);
    assert.match((chainsToAnchor([new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01])], [root.pem]) as { reason: string }).reason, /cannot be parsed/);
    assert.equal(chainsToAnchor([leaf.der], []).ok, false);
  });
});
