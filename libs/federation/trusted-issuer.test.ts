import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { issuerEgressPolicy, trustedIssuerProblems, type TrustedIssuerShape, verificationKeys } from './trusted-issuer.js';

const BASE = { allow: [] as string[] };
let ec: JWK;

before(async () => {
  ec = await exportJWK((await generateKeyPair('ES256', { extractable: true })).publicKey);
});

const oidc = (over: Partial<TrustedIssuerShape> = {}): TrustedIssuerShape => ({ kind: 'oidc', issuer: 'https://issuer.example.com', jwks: null, jwksUri: null, allowedAddresses: [], ...over });
const spiffe = (over: Partial<TrustedIssuerShape> = {}): TrustedIssuerShape => ({ kind: 'spiffe', issuer: 'spiffe://example.org', jwks: null, jwksUri: 'https://bundle.example.org/', allowedAddresses: [], ...over });
const fields = async (shape: TrustedIssuerShape) => (await trustedIssuerProblems(shape, BASE)).map((p) => p.field);

describe('verificationKeys', () => {
  it('keeps a SPIFFE bundle\'s jwt-svid keys only (x509-svid entries are CA certificates)', () => {
    const bundle = { keys: [{ kty: 'EC', use: 'jwt-svid', kid: 'a' }, { kty: 'EC', use: 'x509-svid', x5c: ['MII'] }, { kty: 'EC', kid: 'no-use' }], spiffe_sequence: 3 };
    assert.deepEqual(verificationKeys('spiffe', bundle), { keys: [{ kty: 'EC', use: 'jwt-svid', kid: 'a' }] });
  });

  it('keeps an OIDC set\'s keys without use or with use sig', () => {
    const set = { keys: [{ kty: 'RSA', kid: 'a' }, { kty: 'RSA', use: 'sig', kid: 'b' }, { kty: 'RSA', use: 'enc', kid: 'c' }] };
    assert.deepEqual(verificationKeys('oidc', set), { keys: [{ kty: 'RSA', kid: 'a' }, { kty: 'RSA', use: 'sig', kid: 'b' }] });
  });

  it('hands on what is not a key set, for the key rules to name', () => {
    assert.equal(verificationKeys('oidc', 'x'), 'x');
    assert.deepEqual(verificationKeys('oidc', { keys: 'x' }), { keys: 'x' });
  });
});

describe('trustedIssuerProblems', () => {
  it('accepts an OIDC issuer by discovery, with a jwks_uri, or with static keys', async () => {
    assert.deepEqual(await fields(oidc()), []);
    assert.deepEqual(await fields(oidc({ jwksUri: 'https://issuer.example.com/keys' })), []);
    assert.deepEqual(await fields(oidc({ jwks: { keys: [{ ...ec, kid: 'k', use: 'sig' }] } })), []);
  });

  it('refuses an OIDC issuer that is not https, or has a query, fragment or user information', async () => {
    for (const issuer of ['http://issuer.example.com', 'https://issuer.example.com/?a=1', 'https://issuer.example.com/#x', 'https://u@issuer.example.com', 'issuer']) {
      assert.deepEqual(await fields(oidc({ issuer })), ['issuer'], issuer);
    }
  });

  it('refuses discovery at a non-public address unless allowed_addresses admits it', async () => {
    assert.deepEqual(await fields(oidc({ issuer: 'https://10.1.2.3/k8s' })), ['issuer']);
    assert.deepEqual(await fields(oidc({ issuer: 'https://10.1.2.3/k8s', allowedAddresses: ['10.0.0.0/8'] })), []);
    assert.deepEqual(await fields(oidc({ jwksUri: 'https://169.254.169.254/keys' })), ['jwks_uri']);
  });

  it('allowed_addresses are CIDRs, not host names or bare addresses', async () => {
    assert.deepEqual(await fields(oidc({ allowedAddresses: ['10.0.0.0/8', 'fd00::/8'] })), []);
    for (const entry of ['keys.internal', '10.0.0.1', '10.0.0.0/33', 'x/8']) {
      assert.deepEqual(await fields(oidc({ allowedAddresses: [entry] })), ['allowed_addresses[0]'], entry);
    }
  });

  it('refuses static keys that break the key rules, named under jwks (or bundle)', async () => {
    assert.ok((await fields(oidc({ jwks: { keys: [{ kty: 'oct', k: 'c2VjcmV0' } as JWK] } }))).includes('jwks.keys[0].kty'));
    assert.deepEqual(await fields(oidc({ jwks: { keys: [] } })), ['jwks.keys']);
    const withPrivate = { ...ec, d: 'AAAA' };
    assert.ok((await fields(oidc({ jwks: { keys: [withPrivate] } }))).includes('jwks.keys[0].d'));
    assert.deepEqual(await fields(spiffe({ jwksUri: null, jwks: { keys: [{ ...ec, use: 'jwt-svid' }] } })), []);
    assert.deepEqual(await fields(spiffe({ jwksUri: null, jwks: { keys: [{ ...ec, use: 'sig' }] } })), ['bundle.keys[0].use']);
  });

  it('refuses both jwks and jwks_uri, and SPIFFE with neither or both of bundle and bundle_endpoint', async () => {
    assert.ok((await fields(oidc({ jwks: { keys: [{ ...ec }] }, jwksUri: 'https://issuer.example.com/keys' }))).includes('jwks'));
    assert.deepEqual(await fields(spiffe({ jwksUri: null })), ['bundle']);
    assert.ok((await fields(spiffe({ jwks: { keys: [{ ...ec, use: 'jwt-svid' }] } }))).includes('bundle'));
  });

  it('refuses a trust domain that is not one, and an http bundle endpoint', async () => {
    assert.deepEqual(await fields(spiffe({ issuer: 'spiffe://Example.org' })), ['trust_domain']);
    assert.deepEqual(await fields(spiffe({ issuer: 'spiffe://example.org/x' })), ['trust_domain']);
    assert.deepEqual(await fields(spiffe({ jwksUri: 'http://bundle.example.org/' })), ['bundle_endpoint']);
  });
});

describe('issuerEgressPolicy', () => {
  it('adds the issuer\'s own addresses to the operator\'s, and leaves the operator\'s list alone otherwise', () => {
    const base = { allow: ['keys.internal'], ca: 'PEM' };
    // The operator's list itself (its compiled form is cached per array).
    assert.equal(issuerEgressPolicy({ allowedAddresses: [] }, base).allow, base.allow);
    assert.deepEqual(issuerEgressPolicy({ allowedAddresses: ['10.0.0.0/8'] }, base), { allow: ['keys.internal', '10.0.0.0/8'], ca: 'PEM' });
  });
});
