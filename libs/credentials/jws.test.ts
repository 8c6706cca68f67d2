import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { decodeJws, JwsInvalid, publicKeyOf, verifiableAlg, verifies } from './jws.js';

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');

/** A JWS signed by jose (the reference), to be verified by jws.ts. */
async function signed(alg: string, header: Record<string, unknown> = {}, options: Record<string, unknown> = {}) {
  const { privateKey, publicKey } = await generateKeyPair(alg, options);
  const jws = await new SignJWT({ sub: 'x', n: 1 }).setProtectedHeader({ alg, ...header }).sign(privateKey);
  return { jws, key: publicKeyOf((await exportJWK(publicKey)) as Record<string, unknown>) };
}

describe('JWS compact serialization with node:crypto (RFC 7515 §5.2)', () => {
  for (const alg of ['ES256', 'ES384', 'EdDSA', 'PS256', 'PS384', 'RS256']) {
    it(`verifies what jose signs with ${alg}, and nothing else`, async () => {
      const { jws, key } = await signed(alg);
      const decoded = decodeJws(jws);
      assert.equal(decoded.payload.sub, 'x');
      assert.equal(verifies(decoded, alg, key), true);
      // One bit of the payload changed: the same signature no longer verifies.
      const [h, , s] = jws.split('.');
      assert.equal(verifies(decodeJws(`${h}.${b64({ sub: 'y', n: 1 })}.${s}`), alg, key), false);
      // Another key of the same kind.
      const other = await signed(alg);
      assert.equal(verifies(decoded, alg, other.key), false);
    });
  }

  it('§4.1.11: refuses crit (and so RFC 7797 b64=false)', async () => {
    const { jws } = await signed('ES256', { crit: ['b64'], b64: false } as never).catch(async () => {
      // jose refuses to sign with an unknown crit; build it by hand.
      const body = `${b64({ alg: 'ES256', crit: ['exp'] })}.${b64({ sub: 'x' })}`;
      return { jws: `${body}.${randomBytes(64).toString('base64url')}` };
    });
    assert.throws(() => decodeJws(jws), (e: unknown) => e instanceof JwsInvalid && /crit/.test(e.message));
  });

  it('refuses what is not a compact JWS of two JSON objects', () => {
    for (const bad of ['', 'a.b', 'a.b.c.d', 'a b.c.d', `${b64([1])}.${b64({})}.`, `${b64({ alg: 'ES256' })}.${b64('str')}.`, `%%%.${b64({})}.`]) {
      assert.throws(() => decodeJws(bad), JwsInvalid, bad);
    }
  });

  it('a key must fit the algorithm: its type, its curve; EC signatures have their exact length', async () => {
    const es256 = await signed('ES256');
    const es384 = await signed('ES384');
    assert.throws(() => verifies(decodeJws(es256.jws), 'ES256', es384.key), /curve/);
    assert.throws(() => verifies(decodeJws(es256.jws), 'RS256', es256.key), /cannot be used/);
    const [h, p] = es256.jws.split('.');
    assert.equal(verifies(decodeJws(`${h}.${p}.${randomBytes(63).toString('base64url')}`), 'ES256', es256.key), false);
    assert.throws(() => verifies(decodeJws(es256.jws), 'HS256', es256.key), /not supported/);
    assert.equal(verifiableAlg('none'), false);
    assert.equal(verifiableAlg('ES256K'), false);
  });

  it('RFC 7518 §3.3: RSA keys below 2048 bits are refused', async () => {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const { jws } = await signed('RS256');
    assert.throws(() => verifies(decodeJws(jws), 'RS256', publicKey), /2048/);
  });

  it('an RSA key with e = 1 is refused: the forged signature (the padded message itself) never verifies', () => {
    const k = 256;
    const n = randomBytes(k);
    n[0]! |= 0x80;
    n[k - 1]! |= 1;
    const key = publicKeyOf({ kty: 'RSA', n: n.toString('base64url'), e: 'AQ' });
    const input = `${b64({ alg: 'RS256' })}.${b64({ sub: 'x' })}`;
    const digestInfo = Buffer.concat([Buffer.from('3031300d060960864801650304020105000420', 'hex'), createHash('sha256').update(input).digest()]);
    const em = Buffer.concat([Buffer.from([0, 1]), Buffer.alloc(k - 3 - digestInfo.length, 0xff), Buffer.from([0]), digestInfo]);
    assert.throws(() => verifies(decodeJws(`${input}.${em.toString('base64url')}`), 'RS256', key), /exponent/);
  });

  it('publicKeyOf takes only the members that define the key, and never a private key', async () => {
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const jwk = (await exportJWK(privateKey)) as Record<string, unknown>;
    const key = publicKeyOf(jwk); // `d` is not passed on: the public half is what comes out
    assert.equal(key.type, 'public');
    assert.throws(() => publicKeyOf({ kty: 'oct', k: 'c2VjcmV0' }));
    assert.throws(() => publicKeyOf({ kty: 'EC', crv: 'P-256', x: 'AAAA', y: 'AAAA' }));
  });
});
