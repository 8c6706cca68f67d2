import assert from 'node:assert/strict';
import { createHash, webcrypto } from 'node:crypto';
import { describe, it } from 'node:test';
import { calculateJwkThumbprint, decodeProtectedHeader, exportJWK, generateKeyPair, importJWK, jwtVerify } from 'jose';
import { clientAssertion } from './client-assertion.js';
import { accessTokenHash, DpopNonces, dpopProof, htu } from './dpop.js';
import { generateDpopSigner, publicJwkOf, signerFromCryptoKey, signerFromKeyPair } from './jws.js';

const ISSUER = 'https://tollgate.example.test';

describe('JWS signers', () => {
  for (const alg of ['ES256', 'EdDSA', 'PS256', 'RS256', 'ES384'] as const) {
    it(`signs ${alg} that jose verifies`, async () => {
      const { publicKey, privateKey } = await generateKeyPair(alg);
      const assertion = await clientAssertion(signerFromCryptoKey(privateKey, alg, 'k1'), 'wl_1', ISSUER);
      const { payload, protectedHeader } = await jwtVerify(assertion, publicKey, { issuer: 'wl_1', subject: 'wl_1', audience: ISSUER, algorithms: [alg] });
      assert.deepEqual(protectedHeader, { alg, kid: 'k1' });
      assert.equal(payload.exp, payload.iat! + 60);
    });
  }

  it('refuses a key that does not fit the alg, and a public key', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    assert.throws(() => signerFromCryptoKey(privateKey, 'ES384'), /cannot sign ES384/);
    assert.throws(() => signerFromCryptoKey(privateKey, 'EdDSA'), /cannot sign EdDSA/);
    assert.throws(() => signerFromCryptoKey(privateKey, 'HS256'), /unsupported/);
    assert.throws(() => signerFromCryptoKey(publicKey, 'ES256'), /private key/);
    const rsa = await generateKeyPair('RS256');
    assert.throws(() => signerFromCryptoKey(rsa.privateKey, 'PS256'), /cannot sign PS256/);
  });

  it('generates an ES256 DPoP key whose public JWK has no private members', async () => {
    const signer = await generateDpopSigner();
    assert.equal(signer.alg, 'ES256');
    assert.deepEqual(Object.keys(signer.publicJwk!).sort(), ['crv', 'kty', 'x', 'y']);
    assert.deepEqual(publicJwkOf({ kty: 'OKP', crv: 'Ed25519', x: 'x', d: 'secret', key_ops: ['sign'] }), { kty: 'OKP', crv: 'Ed25519', x: 'x' });
  });
});

describe('client assertion (RFC 7523 §3)', () => {
  it('carries iss = sub = client_id, aud = issuer, a fresh jti, and nonce only when given', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    const signer = signerFromCryptoKey(privateKey, 'ES256', 'k1');
    const plain = (await jwtVerify(await clientAssertion(signer, 'wl_1', ISSUER), publicKey)).payload;
    assert.deepEqual(Object.keys(plain).sort(), ['aud', 'exp', 'iat', 'iss', 'jti', 'sub']);
    const again = (await jwtVerify(await clientAssertion(signer, 'wl_1', ISSUER), publicKey)).payload;
    assert.notEqual(plain.jti, again.jti);
    const answering = (await jwtVerify(await clientAssertion(signer, 'wl_1', ISSUER, 'challenge-nonce'), publicKey)).payload;
    assert.equal(answering.nonce, 'challenge-nonce');
  });
});

describe('DPoP proofs (RFC 9449 §4.2)', () => {
  it('drops query and fragment from htu', () => {
    assert.equal(htu('https://api.example.test/orders/1?expand=items&x=1#top'), 'https://api.example.test/orders/1');
    assert.equal(htu('https://API.example.test:443/a/../b?'), 'https://api.example.test/b');
    assert.equal(htu(new URL('http://127.0.0.1:3000/oauth/token#x')), 'http://127.0.0.1:3000/oauth/token');
  });

  it('computes ath as base64url SHA-256 of the token', () => {
    const token = 'Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU';
    // RFC 9449 §7.1 example.
    assert.equal(accessTokenHash(token), 'fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo');
    assert.equal(accessTokenHash('abc'), createHash('sha256').update('abc').digest('base64url'));
  });

  it('is a dpop+jwt with the public jwk, htm, htu, iat, jti, and ath and nonce when given', async () => {
    const signer = await generateDpopSigner();
    const proof = await dpopProof(signer, 'post', 'https://api.example.test/orders?page=2', { accessToken: 'tok', nonce: 'n1' });
    const header = decodeProtectedHeader(proof);
    assert.equal(header.typ, 'dpop+jwt');
    assert.equal(header.alg, 'ES256');
    const { payload } = await jwtVerify(proof, await importJWK(header.jwk!, 'ES256'), { typ: 'dpop+jwt' });
    assert.equal(payload.htm, 'POST');
    assert.equal(payload.htu, 'https://api.example.test/orders');
    assert.equal(payload.ath, accessTokenHash('tok'));
    assert.equal(payload.nonce, 'n1');
    assert.equal(typeof payload.jti, 'string');
    const bare = await dpopProof(signer, 'GET', 'https://api.example.test/');
    const claims = (await jwtVerify(bare, await importJWK(header.jwk!, 'ES256'))).payload;
    assert.deepEqual(Object.keys(claims).sort(), ['htm', 'htu', 'iat', 'jti']);
  });

  it('uses the key pair’s public JWK (same thumbprint)', async () => {
    const pair = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
    const signer = await signerFromKeyPair(pair, 'ES256');
    const header = decodeProtectedHeader(await dpopProof(signer, 'GET', 'https://api.example.test/'));
    assert.equal(await calculateJwkThumbprint(header.jwk!), await calculateJwkThumbprint(await exportJWK(pair.publicKey)));
  });

  it('remembers the latest DPoP-Nonce per origin', () => {
    const nonces = new DpopNonces();
    const response = (nonce: string | null) => ({ headers: new Headers(nonce ? { 'DPoP-Nonce': nonce } : {}) });
    assert.equal(nonces.remember('https://tollgate.example.test/oauth/token', response('a')), true);
    assert.equal(nonces.remember('https://tollgate.example.test/oauth/token', response(null)), false);
    nonces.remember('https://api.example.test/x', response('b'));
    nonces.remember('https://api.example.test/y?z', response('c'));
    assert.equal(nonces.get('https://tollgate.example.test/step-up/challenges'), 'a');
    assert.equal(nonces.get('https://api.example.test/x'), 'c');
    assert.equal(nonces.get('https://api.example.test:8443/x'), undefined);
  });
});
