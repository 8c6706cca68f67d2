import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT, calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import type { CryptoKey, JWK } from 'jose';
import { JWT_BEARER_ASSERTION_TYPE } from '#protocol';
import { assertionReplayKey, unverifiedAssertionIssuer, verifyClientAssertion } from './client-assertion.js';
import type { AssertionExpectations } from './client-assertion.js';
import type { ProofReplayGuard } from './dpop-proof.js';
import { InvalidClient } from './oauth-error.js';

const NOW = 1_750_000_000;
const CLIENT = 'client-1';
const ISSUER = 'https://as.example.com';
const TOKEN_ENDPOINT = 'https://as.example.com/token';
const TYPE = JWT_BEARER_ASSERTION_TYPE;
const EXPECT: AssertionExpectations = {
  clientId: CLIENT,
  audiences: [ISSUER, TOKEN_ENDPOINT],
  algorithms: ['ES256', 'ES384', 'EdDSA', 'Ed25519', 'PS256', 'RS256'],
  clockSkewSeconds: 5,
  maxLifetimeSeconds: 300,
};

class MemoryReplay implements ProofReplayGuard {
  readonly seen = new Set<string>();
  readonly calls: Array<{ key: string; ttl: number }> = [];
  async claim(key: string, ttlSeconds: number) {
    this.calls.push({ key, ttl: ttlSeconds });
    if (this.seen.has(key)) return false;
    this.seen.add(key);
    return true;
  }
}

interface TestKey { alg: string; kid: string; privateKey: CryptoKey; publicJwk: JWK; jkt: string }
async function makeKey(alg: string, kid: string): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg);
  const publicJwk = { ...(await exportJWK(publicKey)), kid };
  return { alg, kid, privateKey, publicJwk, jkt: await calculateJwkThumbprint(publicJwk) };
}

const es = await makeKey('ES256', 'es-1');
const es2 = await makeKey('ES256', 'es-2');
const ed = await makeKey('EdDSA', 'ed-1');
const ps = await makeKey('PS256', 'ps-1');
const stranger = await makeKey('ES256', 'es-1'); // not registered, reuses a registered kid
const JWKS = { keys: [es.publicJwk, es2.publicJwk, ed.publicJwk, ps.publicJwk] };

let counter = 0;
/** An assertion for CLIENT; `claims`/`header` override (undefined deletes a member). */
async function assertion(key: TestKey, claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}, signWith: CryptoKey | Uint8Array = key.privateKey) {
  const c: Record<string, unknown> = { iss: CLIENT, sub: CLIENT, aud: TOKEN_ENDPOINT, jti: `a-${++counter}`, iat: NOW, exp: NOW + 60, ...claims };
  const h: Record<string, unknown> = { alg: key.alg, kid: key.kid, ...header };
  for (const o of [c, h]) for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
  return new SignJWT(c).setProtectedHeader(h as { alg: string }).sign(signWith);
}

const verify = (jwt: string, expect: Partial<AssertionExpectations> = {}, replay = new MemoryReplay(), type: string | undefined = TYPE) =>
  verifyClientAssertion(jwt, type, JWKS, { ...EXPECT, ...expect }, replay, NOW);

async function refused(p: Promise<unknown>, description: RegExp, secrets: string[] = []) {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof InvalidClient, `expected InvalidClient, got ${String(err)}`);
    assert.equal(err.error, 'invalid_client');
    assert.equal(err.status, 401);
    assert.match(err.error_description, description);
    for (const s of secrets) assert.ok(!err.error_description.includes(s), 'description leaks the assertion');
    return true;
  });
}

describe('verifyClientAssertion: valid assertions (RFC 7523 §3)', () => {
  for (const key of [es, ed, ps]) {
    it(`accepts a valid ${key.alg} assertion`, async () => {
      const replay = new MemoryReplay();
      const jwt = await assertion(key, { jti: `ok-${key.alg}` });
      const v = await verify(jwt, {}, replay);
      assert.deepEqual(v, { jti: `ok-${key.alg}`, exp: NOW + 60, iat: NOW, kid: key.kid, jkt: key.jkt });
      assert.deepEqual(replay.calls, [{ key: assertionReplayKey(CLIENT, `ok-${key.alg}`), ttl: 65 }]);
    });
  }

  it('accepts the issuer as audience, and aud as an array with one acceptable member', async () => {
    await verify(await assertion(es, { aud: ISSUER }));
    await verify(await assertion(es, { aud: ['https://elsewhere.example', TOKEN_ENDPOINT] }));
  });

  it('accepts a non-confusable typ header and a missing iat', async () => {
    const v = await verify(await assertion(es, { iat: undefined }, { typ: 'JWT' }));
    assert.equal(v.iat, undefined);
  });
});

describe('verifyClientAssertion: refusals', () => {
  it('§2.2 refuses a wrong or missing client_assertion_type', async () => {
    const jwt = await assertion(es);
    await refused(verify(jwt, {}, new MemoryReplay(), 'urn:ietf:params:oauth:client-assertion-type:saml2-bearer'), /client_assertion_type/);
    await refused(verifyClientAssertion(jwt, undefined, JWKS, EXPECT, new MemoryReplay(), NOW), /client_assertion_type/);
  });

  it('refuses garbage', async () => {
    await refused(verify('not-a-jwt'), /JWS compact/);
    await refused(verify('a.b.c'), /header is not valid JSON/);
  });

  it('§3(3) refuses a wrong aud, also as an array', async () => {
    await refused(verify(await assertion(es, { aud: 'https://rs.example.com' })), /aud claim is invalid/);
    await refused(verify(await assertion(es, { aud: ['https://a.example', 'https://b.example'] })), /aud claim is invalid/);
    await refused(verify(await assertion(es, { aud: undefined })), /aud claim is missing/);
  });

  it('§3(1) refuses a wrong iss', async () => {
    await refused(verify(await assertion(es, { iss: 'client-2' })), /iss claim is invalid/);
  });

  it('§3(2) refuses a wrong sub', async () => {
    await refused(verify(await assertion(es, { sub: 'client-2' })), /sub claim is invalid/);
  });

  it('§3(4) refuses an expired assertion', async () => {
    await refused(verify(await assertion(es, { exp: NOW - 6 })), /expired/);
    await verify(await assertion(es, { exp: NOW - 4 })); // within skew
  });

  it('§3(4) refuses a missing exp', async () => {
    await refused(verify(await assertion(es, { exp: undefined })), /exp claim is missing/);
  });

  it('§3(4) refuses a too long-lived assertion', async () => {
    await refused(verify(await assertion(es, { exp: NOW + 306 })), /lifetime is too long/);
    await verify(await assertion(es, { exp: NOW + 305 }));
  });

  it('§3(6) refuses an iat in the future', async () => {
    await refused(verify(await assertion(es, { iat: NOW + 60 })), /iat is in the future/);
  });

  it('§3(7) refuses a missing jti', async () => {
    await refused(verify(await assertion(es, { jti: undefined })), /jti claim is missing/);
    await refused(verify(await assertion(es, { jti: '' })), /jti claim is invalid/);
  });

  it('§3(7) refuses a replayed jti', async () => {
    const replay = new MemoryReplay();
    const jwt = await assertion(es);
    await verify(jwt, {}, replay);
    await refused(verify(jwt, {}, replay), /^client assertion jti was already used$/, [jwt]);
  });

  it('§3(7) a refused assertion never burns its jti', async () => {
    const replay = new MemoryReplay();
    for (const claims of [{ aud: 'https://x.example' }, { exp: NOW + 3600 }, { iss: 'other' }, { nonce: 'bad' }]) {
      await assert.rejects(verify(await assertion(es, { jti: 'once', ...claims }), { expectedNonce: 'n' }, replay), InvalidClient);
    }
    await assert.rejects(verify(await assertion(es, { jti: 'once' }, {}, stranger.privateKey), {}, replay), InvalidClient);
    assert.deepEqual(replay.calls, []);
    await verify(await assertion(es, { jti: 'once', nonce: 'n' }), { expectedNonce: 'n' }, replay);
  });

  it('§3(9) refuses an assertion signed by an unregistered key', async () => {
    const jwt = await assertion(stranger);
    await refused(verify(jwt), /signature is invalid/, [jwt]);
    await refused(verify(await assertion(stranger, {}, { kid: undefined })), /signature is invalid/);
  });

  it('§3(9) refuses alg none and HS256', async () => {
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const unsigned = `${b64({ alg: 'none' })}.${b64({ iss: CLIENT, sub: CLIENT, aud: TOKEN_ENDPOINT, jti: 'n', exp: NOW + 60 })}.`;
    await refused(verify(unsigned, { algorithms: [...EXPECT.algorithms, 'none'] }), /alg is not allowed/);
    const hs = await assertion(es, {}, { alg: 'HS256' }, new Uint8Array(32).fill(1));
    await refused(verify(hs, { algorithms: [...EXPECT.algorithms, 'HS256'] }), /alg is not allowed/);
  });

  it('§3(9) refuses an alg outside the accepted list', async () => {
    await refused(verify(await assertion(ps), { algorithms: ['ES256'] }), /alg is not allowed/);
  });

  for (const typ of ['dpop+jwt', 'at+jwt', 'application/at+jwt', 'DPoP+JWT']) {
    it(`refuses typ ${typ} (token confusion)`, async () => {
      await refused(verify(await assertion(es, {}, { typ })), /typ must not be/);
    });
  }
});

describe('verifyClientAssertion: key selection', () => {
  it('picks the key named by kid', async () => {
    const v = await verify(await assertion(es2));
    assert.equal(v.kid, 'es-2');
    assert.equal(v.jkt, es2.jkt);
  });

  it('refuses an unknown kid', async () => {
    await refused(verify(await assertion(es, {}, { kid: 'nope' })), /no registered client key/);
  });

  it('refuses a kid naming a key of another type', async () => {
    await refused(verify(await assertion(es, {}, { kid: 'ed-1' })), /no registered client key/);
  });

  it('without kid, tries each key that fits the alg', async () => {
    const v = await verify(await assertion(es2, {}, { kid: undefined }));
    assert.equal(v.kid, undefined);
    assert.equal(v.jkt, es2.jkt);
    const single = await verify(await assertion(ps, {}, { kid: undefined }));
    assert.equal(single.jkt, ps.jkt);
  });

  it('without kid, reports the claim failure once a key verifies the signature', async () => {
    await refused(verify(await assertion(es2, { aud: 'https://x.example' }, { kid: undefined })), /aud claim is invalid/);
  });

  it('refuses when the registered JWKS is malformed', async () => {
    const malformed = { keys: 'nope' } as unknown as { keys: JWK[] };
    await refused(verifyClientAssertion(await assertion(es), TYPE, malformed, EXPECT, new MemoryReplay(), NOW), /client JWKS is invalid/);
  });

  it('refuses when the client has no keys', async () => {
    await refused(verifyClientAssertion(await assertion(es), TYPE, { keys: [] }, EXPECT, new MemoryReplay(), NOW), /no registered client key/);
  });
});

describe('verifyClientAssertion: nonce expectation', () => {
  it('accepts a matching nonce', async () => {
    await verify(await assertion(es, { nonce: 'n-123' }), { expectedNonce: 'n-123' });
  });
  it('refuses a wrong or missing nonce', async () => {
    await refused(verify(await assertion(es, { nonce: 'n-124' }), { expectedNonce: 'n-123' }), /nonce does not match/);
    await refused(verify(await assertion(es, { nonce: 'n-12' }), { expectedNonce: 'n-123' }), /nonce does not match/);
    await refused(verify(await assertion(es), { expectedNonce: 'n-123' }), /nonce does not match/);
  });
  it('ignores a nonce when none is expected', async () => {
    await verify(await assertion(es, { nonce: 'whatever' }));
  });
});

describe('unverifiedAssertionIssuer', () => {
  it('returns iss, or sub when iss is absent', async () => {
    assert.equal(unverifiedAssertionIssuer(await assertion(es)), CLIENT);
    assert.equal(unverifiedAssertionIssuer(await assertion(es, { iss: undefined, sub: 'only-sub' })), 'only-sub');
  });
  it('returns undefined on garbage', () => {
    for (const bad of ['', 'x', 'a.b.c', 'e30.e30.', `${Buffer.from('{"alg":"none"}').toString('base64url')}.bm90IGpzb24.`]) {
      assert.equal(unverifiedAssertionIssuer(bad), undefined);
    }
  });
});
