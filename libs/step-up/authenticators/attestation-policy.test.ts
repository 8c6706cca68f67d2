import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkAttestationPolicy } from './attestation-policy.js';
import { issued, privateKeyPem, rootCa } from '#test-support';

const problems = (doc: unknown) => checkAttestationPolicy(doc).problems ?? [];
const fields = (doc: unknown) => problems(doc).map((p) => p.field);

/** docs/step-up.md §6: the attestation policy document, every way it is refused. */
describe('checkAttestationPolicy', () => {
  it('fills in the defaults and normalises: allow_software false, max_authenticators 1, lower-case AAGUIDs, no duplicates', async () => {
    const root = await rootCa();
    const checked = checkAttestationPolicy({
      formats: ['packed', 'tpm', 'packed'],
      aaguids: ['08987058-CADC-4B81-B6E1-30DE50DCBE96', '08987058-cadc-4b81-b6e1-30de50dcbe96'],
      trust_anchors: [root.pem, `${root.pem}\n`],
    });
    assert.deepEqual(checked.problems, undefined);
    assert.deepEqual(checked.policy, {
      formats: ['packed', 'tpm'],
      aaguids: ['08987058-cadc-4b81-b6e1-30de50dcbe96'],
      trust_anchors: [root.pem.trim()],
      allow_software: false,
      max_authenticators: 1,
    });
    assert.deepEqual(checkAttestationPolicy({ formats: ['none'], allow_software: true, max_authenticators: 20 }).policy, {
      formats: ['none'],
      aaguids: [],
      trust_anchors: [],
      allow_software: true,
      max_authenticators: 20,
    });
  });

  it('refuses a document that is not an object', () => {
    for (const doc of [null, undefined, 'packed', 42, ['packed']]) assert.deepEqual(fields(doc), ['(body)'], JSON.stringify(doc));
  });

  it('refuses unknown fields by name', () => {
    assert.deepEqual(problems({ formats: ['packed'], allowSoftware: true, extra: 1 }), [
      { field: 'allowSoftware', message: 'unknown field' },
      { field: 'extra', message: 'unknown field' },
    ]);
  });

  it('refuses missing, empty, non-array formats and unknown formats, each by index', () => {
    assert.deepEqual(fields({}), ['formats']);
    assert.deepEqual(fields({ formats: [] }), ['formats']);
    assert.deepEqual(fields({ formats: 'packed' }), ['formats']);
    assert.deepEqual(fields({ formats: ['packed', 'fido-u2f', 7] }), ['formats[1]', 'formats[2]']);
    assert.deepEqual(fields({ formats: ['android-safetynet'] }), ['formats[0]']);
  });

  it('refuses format none unless allow_software is true', () => {
    assert.deepEqual(problems({ formats: ['packed', 'none'] }), [{ field: 'formats', message: 'none requires allow_software: true' }]);
    assert.deepEqual(fields({ formats: ['none'], allow_software: false }), ['formats']);
    assert.equal(checkAttestationPolicy({ formats: ['none'], allow_software: true }).problems, undefined);
  });

  it('refuses AAGUIDs that are not UUIDs', () => {
    assert.deepEqual(fields({ formats: ['packed'], aaguids: 'x' }), ['aaguids']);
    assert.deepEqual(fields({ formats: ['packed'], aaguids: ['not-a-uuid', 5, '08987058cadc4b81b6e130de50dcbe96', '08987058-cadc-4b81-b6e1-30de50dcbe96'] }), [
      'aaguids[0]',
      'aaguids[1]',
      'aaguids[2]',
    ]);
  });

  it('refuses trust anchors that are not one CA certificate in PEM: a private key, garbage, a bundle, a leaf, an expired root', async () => {
    const root = await rootCa();
    const leaf = await issued(root, 'leaf');
    const expired = await rootCa('Old Root', { notBefore: new Date(Date.now() - 10 * 86_400_000), notAfter: new Date(Date.now() - 86_400_000) });
    const key = await privateKeyPem();
    const garbage = '-----BEGIN CERTIFICATE-----\nTUlJQm9vb29vb28=\n-----END CERTIFICATE-----';
    const result = problems({ formats: ['packed'], trust_anchors: [key, 'hello', garbage, root.pem + root.pem, leaf.pem, expired.pem, 17, root.pem] });
    assert.deepEqual(result.map((p) => p.field), ['trust_anchors[0]', 'trust_anchors[1]', 'trust_anchors[2]', 'trust_anchors[3]', 'trust_anchors[4]', 'trust_anchors[5]', 'trust_anchors[6]']);
    assert.match(result[0]!.message, /private key/);
    assert.match(result[2]!.message, /not a parseable X\.509 certificate/);
    assert.match(result[4]!.message, /not a CA certificate/);
    assert.match(result[5]!.message, /expired/);
    // Never echoed back: neither the key nor the certificate text.
    for (const p of result) assert.ok(!p.message.includes('MI'), p.message);
    assert.deepEqual(fields({ formats: ['packed'], trust_anchors: root.pem }), ['trust_anchors']);
    assert.deepEqual(fields({ formats: ['packed'], trust_anchors: [`${root.pem}`.repeat(1).padEnd(20_000, ' ')] }), ['trust_anchors[0]']);
  });

  it('refuses allow_software that is not a boolean', () => {
    assert.deepEqual(fields({ formats: ['packed'], allow_software: 'true' }), ['allow_software']);
    assert.deepEqual(fields({ formats: ['packed'], allow_software: 1 }), ['allow_software']);
  });

  it('refuses max_authenticators outside the integers 1–20', () => {
    for (const max of [0, 21, 1.5, -1, '2', null]) assert.deepEqual(fields({ formats: ['packed'], max_authenticators: max }), ['max_authenticators'], String(max));
    assert.equal(checkAttestationPolicy({ formats: ['packed'], max_authenticators: 1 }).problems, undefined);
  });

  it('refuses over-long lists', () => {
    assert.deepEqual(fields({ formats: Array(101).fill('packed') }), ['formats']);
  });

  it('reports every problem at once', () => {
    assert.deepEqual(fields({ formats: ['none', 'x'], aaguids: ['y'], allow_software: 'no', max_authenticators: 99, z: 1 }), [
      'z',
      'formats[1]',
      'aaguids[0]',
      'allow_software',
      'max_authenticators',
      'formats',
    ]);
  });
});
