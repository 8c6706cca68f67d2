import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import { jwkThumbprint } from './jwk-thumbprint.js';

describe('RFC 7638 thumbprint', () => {
  it('§3.1 example: the RSA key of the RFC', () => {
    const jwk = {
      kty: 'RSA',
      n: '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw',
      e: 'AQAB',
      alg: 'RS256',
      kid: '2011-04-29',
    };
    assert.equal(jwkThumbprint(jwk), 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs');
  });

  it('agrees with jose for EC and OKP keys, ignoring non-required members', async () => {
    for (const alg of ['ES256', 'EdDSA'] as const) {
      const jwk = await exportJWK((await generateKeyPair(alg)).publicKey);
      assert.equal(jwkThumbprint({ ...jwk, kid: 'x', use: 'sig' }), await calculateJwkThumbprint(jwk));
    }
  });

  it('is undefined for symmetric, unknown or malformed keys', () => {
    assert.equal(jwkThumbprint({ kty: 'oct', k: 'abc' }), undefined);
    assert.equal(jwkThumbprint({ kty: 'EC', crv: 'P-256', x: 'a' }), undefined);
    assert.equal(jwkThumbprint({ kty: 'EC', crv: 'P-256', x: 1, y: 'b' }), undefined);
  });
});
