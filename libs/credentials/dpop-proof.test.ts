import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { SignJWT, calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import type { CryptoKey, JWK } from 'jose';
import { normalizeHtu, verifyDpopProof } from './dpop-proof.js';
import type { DpopProofRules, ExpectedProof, ProofReplayGuard } from './dpop-proof.js';
import { errorAnswer } from './oauth-answer.js';
import { InvalidDpopProof, OAuthError, UseDpopNonce } from './oauth-error.js';

const NOW = 1_750_000_000;
const URL_ = 'https://as.example.com/token';
const RULES: DpopProofRules = {
  algorithms: ['ES256', 'ES384', 'EdDSA', 'Ed25519', 'PS256', 'RS256'],
  maxAgeSeconds: 60,
  clockSkewSeconds: 5,
};
const EXPECTED: ExpectedProof = { method: 'POST', url: URL_ };

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

interface TestKey { alg: string; privateKey: CryptoKey; publicJwk: JWK; privateJwk: JWK; jkt: string }
async function makeKey(alg: string): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  return { alg, privateKey, publicJwk, privateJwk: await exportJWK(privateKey), jkt: await calculateJwkThumbprint(publicJwk) };
}

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const sha256 = (s: string) => createHash('sha256').update(s).digest('base64url');
let counter = 0;

/** A proof for EXPECTED; `claims`/`header` override (undefined deletes a member). */
async function proof(key: TestKey, claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}, signWith: CryptoKey | Uint8Array = key.privateKey) {
  const c: Record<string, unknown> = { jti: `jti-${++counter}`, htm: 'POST', htu: URL_, iat: NOW, ...claims };
  const h: Record<string, unknown> = { typ: 'dpop+jwt', alg: key.alg, jwk: key.publicJwk, ...header };
  for (const o of [c, h]) for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
  return new SignJWT(c).setProtectedHeader(h as { alg: string }).sign(signWith);
}

async function refused(p: Promise<unknown>, description: RegExp, secrets: string[] = []) {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof InvalidDpopProof, `expected InvalidDpopProof, got ${String(err)}`);
    assert.equal(err.error, 'invalid_dpop_proof');
    assert.equal(err.status, 401);
    assert.match(err.error_description, description);
    for (const s of secrets) assert.ok(!err.error_description.includes(s), 'description leaks a secret');
    return true;
  });
}

const keys = {
  es256: await makeKey('ES256'),
  eddsa: await makeKey('EdDSA'),
  ed25519: await makeKey('Ed25519'),
  ps256: await makeKey('PS256'),
};

describe('verifyDpopProof: valid proofs', () => {
  for (const key of Object.values(keys)) {
    it(`accepts a valid ${key.alg} proof and reports its thumbprint`, async () => {
      const replay = new MemoryReplay();
      const p = await proof(key);
      const v = await verifyDpopProof(p, EXPECTED, RULES, replay, NOW);
      assert.equal(v.jkt, key.jkt);
      assert.equal(v.htm, 'POST');
      assert.equal(v.htu, URL_);
      assert.equal(v.iat, NOW);
      assert.match(v.jti, /^jti-\d+$/);
      assert.deepEqual(v.publicJwk, key.publicJwk);
      assert.deepEqual(replay.calls, [{ key: `dpop:${key.jkt}:${v.jti}`, ttl: 70 }]);
    });
  }

  it('accepts iat exactly at the edges of the window', async () => {
    const replay = new MemoryReplay();
    await verifyDpopProof(await proof(keys.es256, { iat: NOW - 65 }), EXPECTED, RULES, replay, NOW);
    await verifyDpopProof(await proof(keys.es256, { iat: NOW + 5 }), EXPECTED, RULES, replay, NOW);
  });

  it('uses the current time when now is omitted', async () => {
    const iat = Math.floor(Date.now() / 1000);
    await verifyDpopProof(await proof(keys.es256, { iat }), EXPECTED, RULES, new MemoryReplay());
    await refused(verifyDpopProof(await proof(keys.es256, { iat: iat - 3600 }), EXPECTED, RULES, new MemoryReplay()), /iat is too old/);
  });
});

describe('verifyDpopProof: RFC 9449 §4.3 checks', () => {
  it('§4.3(1) refuses a missing proof', async () => {
    await refused(verifyDpopProof(undefined, EXPECTED, RULES, new MemoryReplay(), NOW), /missing/);
    await refused(verifyDpopProof('', EXPECTED, RULES, new MemoryReplay(), NOW), /missing/);
  });

  it('§4.3(1) refuses more than one proof in the header', async () => {
    const a = await proof(keys.es256);
    const b = await proof(keys.es256);
    await refused(verifyDpopProof(`${a}, ${b}`, EXPECTED, RULES, new MemoryReplay(), NOW), /more than one/, [a, b]);
    await refused(verifyDpopProof([a, b] as unknown as string, EXPECTED, RULES, new MemoryReplay(), NOW), /more than one/);
  });

  it('§4.3(2) refuses something that is not a JWS compact serialization', async () => {
    for (const bad of ['garbage', 'a.b', 'a.b.c.d', 'a b.c.d', '{"typ":"dpop+jwt"}.e30.AA']) {
      await refused(verifyDpopProof(bad, EXPECTED, RULES, new MemoryReplay(), NOW), /JWS compact/);
    }
    await refused(verifyDpopProof(`${b64('x').slice(0, -1)}.e30.AA`, EXPECTED, RULES, new MemoryReplay(), NOW), /header is not valid JSON/);
  });

  for (const [name, typ] of [['wrong', 'JWT'], ['media-type form of the', 'application/dpop+jwt'], ['missing', undefined]] as const) {
    it(`§4.3(4) refuses a ${name} typ`, async () => {
      await refused(verifyDpopProof(await proof(keys.es256, {}, { typ }), EXPECTED, RULES, new MemoryReplay(), NOW), /typ must be dpop\+jwt/);
    });
  }

  it('§4.3(5) refuses alg none (unsigned, hand-built)', async () => {
    const unsigned = `${b64({ typ: 'dpop+jwt', alg: 'none', jwk: keys.es256.publicJwk })}.${b64({ jti: 'n', htm: 'POST', htu: URL_, iat: NOW })}.`;
    await refused(verifyDpopProof(unsigned, EXPECTED, RULES, new MemoryReplay(), NOW), /alg is not allowed/);
    await refused(verifyDpopProof(`${unsigned}AAAA`, EXPECTED, RULES, new MemoryReplay(), NOW), /alg is not allowed/);
  });

  it('§4.3(5) refuses HS256 (MAC with a shared secret)', async () => {
    const secret = new Uint8Array(32).fill(7);
    const p = await proof(keys.es256, {}, { alg: 'HS256' }, secret);
    await refused(verifyDpopProof(p, EXPECTED, RULES, new MemoryReplay(), NOW), /alg is not allowed/);
  });

  it('§4.3(5) refuses none and HS256 even if misconfigured as allowed', async () => {
    const rules = { ...RULES, algorithms: ['none', 'HS256', 'ES256'] };
    const p = await proof(keys.es256, {}, { alg: 'HS256', jwk: { kty: 'oct', k: 'BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc' } }, new Uint8Array(32).fill(7));
    await refused(verifyDpopProof(p, EXPECTED, rules, new MemoryReplay(), NOW), /alg is not allowed/);
    const unsigned = `${b64({ typ: 'dpop+jwt', alg: 'none', jwk: keys.es256.publicJwk })}.${b64({ jti: 'n', htm: 'POST', htu: URL_, iat: NOW })}.`;
    await refused(verifyDpopProof(unsigned, EXPECTED, rules, new MemoryReplay(), NOW), /alg is not allowed/);
  });

  it('§4.3(5) refuses an asymmetric alg outside local policy', async () => {
    const rules = { ...RULES, algorithms: ['ES256'] };
    await refused(verifyDpopProof(await proof(keys.ps256), EXPECTED, rules, new MemoryReplay(), NOW), /alg is not allowed/);
  });

  it('§4.3(6) refuses a proof whose signature does not verify with the embedded jwk', async () => {
    // embeds key A's public jwk but is signed by another ES256 key
    const other = await makeKey('ES256');
    const p = await proof(keys.es256, {}, {}, other.privateKey);
    await refused(verifyDpopProof(p, EXPECTED, RULES, new MemoryReplay(), NOW), /signature is invalid/, [p]);
  });

  it('§4.3(6) refuses a proof whose payload was tampered with', async () => {
    const [h, , s] = (await proof(keys.es256)).split('.');
    const forged = `${h}.${b64({ jti: 'x', htm: 'POST', htu: URL_, iat: NOW })}.${s}`;
    await refused(verifyDpopProof(forged, EXPECTED, RULES, new MemoryReplay(), NOW), /signature is invalid/);
  });

  it('§4.3(6) refuses a jwk that does not fit the alg', async () => {
    const p = await proof(keys.es256, {}, { jwk: keys.eddsa.publicJwk });
    await refused(verifyDpopProof(p, EXPECTED, RULES, new MemoryReplay(), NOW), /could not be verified/);
  });

  it('§4.3(7) refuses a missing jwk header', async () => {
    await refused(verifyDpopProof(await proof(keys.es256, {}, { jwk: undefined }), EXPECTED, RULES, new MemoryReplay(), NOW), /jwk header is missing/);
    await refused(verifyDpopProof(await proof(keys.es256, {}, { jwk: 'x' }), EXPECTED, RULES, new MemoryReplay(), NOW), /jwk header is missing/);
  });

  for (const key of [keys.es256, keys.eddsa, keys.ps256]) {
    it(`§4.3(7) refuses a jwk that contains the ${key.alg} private key`, async () => {
      assert.ok('d' in key.privateJwk);
      const p = await proof(key, {}, { jwk: key.privateJwk });
      await refused(verifyDpopProof(p, EXPECTED, RULES, new MemoryReplay(), NOW), /private key material/);
    });
  }

  it('§4.3(7) refuses a symmetric (kty oct) jwk', async () => {
    const p = await proof(keys.es256, {}, { jwk: { kty: 'oct', k: 'c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0' } });
    await refused(verifyDpopProof(p, EXPECTED, RULES, new MemoryReplay(), NOW), /asymmetric public key/);
  });

  for (const claim of ['jti', 'htm', 'htu', 'iat']) {
    it(`§4.3(3) refuses a proof without ${claim}`, async () => {
      const p = await proof(keys.es256, { [claim]: undefined });
      await refused(verifyDpopProof(p, EXPECTED, RULES, new MemoryReplay(), NOW), new RegExp(`${claim} claim is missing`));
    });
  }

  it('§4.3(3) refuses an empty jti and a non-numeric iat', async () => {
    await refused(verifyDpopProof(await proof(keys.es256, { jti: '' }), EXPECTED, RULES, new MemoryReplay(), NOW), /jti claim is missing/);
    // jose itself rejects a non-numeric iat before our own check runs
    await refused(verifyDpopProof(await proof(keys.es256, { iat: String(NOW) }), EXPECTED, RULES, new MemoryReplay(), NOW), /"iat" claim must be a number/);
  });

  it('§4.3(8) refuses a wrong htm (and compares it case-sensitively)', async () => {
    await refused(verifyDpopProof(await proof(keys.es256, { htm: 'GET' }), EXPECTED, RULES, new MemoryReplay(), NOW), /htm does not match/);
    await refused(verifyDpopProof(await proof(keys.es256, { htm: 'post' }), EXPECTED, RULES, new MemoryReplay(), NOW), /htm does not match/);
  });

  it('§4.3(9) refuses a wrong htu', async () => {
    for (const htu of ['https://as.example.com/authorize', 'https://evil.example.com/token', 'http://as.example.com/token', 'https://as.example.com:8443/token', 'https://as.example.com/token/']) {
      await refused(verifyDpopProof(await proof(keys.es256, { htu }), EXPECTED, RULES, new MemoryReplay(), NOW), /htu does not match/);
    }
    await refused(verifyDpopProof(await proof(keys.es256, { htu: 'not a url' }), EXPECTED, RULES, new MemoryReplay(), NOW), /htu is not a valid URL/);
  });

  it('§4.3(9) ignores query and fragment when matching htu', async () => {
    const replay = new MemoryReplay();
    await verifyDpopProof(await proof(keys.es256, { htu: `${URL_}?a=1#frag` }), { ...EXPECTED, url: `${URL_}?b=2` }, RULES, replay, NOW);
    await verifyDpopProof(await proof(keys.es256), { ...EXPECTED, url: `${URL_}?b=2` }, RULES, replay, NOW);
  });

  it('§4.3(9) matches htu after RFC 3986 normalisation', async () => {
    const p = await proof(keys.es256, { htu: 'HTTPS://AS.Example.COM:443/x/../%74oken' });
    await verifyDpopProof(p, EXPECTED, RULES, new MemoryReplay(), NOW);
  });

  it('§4.3(10) refuses a missing nonce when one is required, carrying the issued nonce', async () => {
    const replay = new MemoryReplay();
    const nonce = { required: true, check: (n: string) => n === 'good', issue: () => 'fresh-nonce-1' };
    await assert.rejects(verifyDpopProof(await proof(keys.es256), { ...EXPECTED, nonce }, RULES, replay, NOW), (err: unknown) => {
      assert.ok(err instanceof UseDpopNonce);
      assert.equal(err.error, 'use_dpop_nonce');
      assert.equal(err.status, 401);
      assert.equal(err.nonce, 'fresh-nonce-1');
      return true;
    });
    assert.equal(replay.seen.size, 0);
  });

  it('§4.3(10) refuses a bad nonce with a fresh one, even when nonces are optional', async () => {
    let issued = 0;
    const nonce = { required: false, check: (n: string) => n === 'good', issue: () => `fresh-${++issued}` };
    await assert.rejects(verifyDpopProof(await proof(keys.es256, { nonce: 'stale' }), { ...EXPECTED, nonce }, RULES, new MemoryReplay(), NOW), (err: unknown) => {
      assert.ok(err instanceof UseDpopNonce);
      assert.equal(err.nonce, 'fresh-1');
      return true;
    });
    await refused(verifyDpopProof(await proof(keys.es256, { nonce: 42 }), { ...EXPECTED, nonce }, RULES, new MemoryReplay(), NOW), /nonce claim must be a string/);
  });

  it('§4.3(10) accepts a good nonce and optional-missing nonce', async () => {
    const replay = new MemoryReplay();
    const seen: string[] = [];
    const nonce = { required: true, check: (n: string) => (seen.push(n), n === 'good'), issue: () => 'fresh' };
    const v = await verifyDpopProof(await proof(keys.es256, { nonce: 'good' }), { ...EXPECTED, nonce }, RULES, replay, NOW);
    assert.equal(v.nonce, 'good');
    assert.deepEqual(seen, ['good']);
    await verifyDpopProof(await proof(keys.es256), { ...EXPECTED, nonce: { ...nonce, required: false } }, RULES, replay, NOW);
  });

  it('§4.3(11) refuses a stale iat', async () => {
    await refused(verifyDpopProof(await proof(keys.es256, { iat: NOW - 66 }), EXPECTED, RULES, new MemoryReplay(), NOW), /iat is too old/);
  });

  it('§4.3(11) refuses an iat too far in the future', async () => {
    await refused(verifyDpopProof(await proof(keys.es256, { iat: NOW + 6 }), EXPECTED, RULES, new MemoryReplay(), NOW), /iat is in the future/);
  });

  it('§4.3(11) refuses an iat before notBefore (replay-store restart guard)', async () => {
    const replay = new MemoryReplay();
    await refused(verifyDpopProof(await proof(keys.es256, { iat: NOW - 10 }), { ...EXPECTED, notBefore: NOW - 9 }, RULES, replay, NOW), /iat is too old/);
    await verifyDpopProof(await proof(keys.es256, { iat: NOW - 9 }), { ...EXPECTED, notBefore: NOW - 9 }, RULES, replay, NOW);
  });

  it('§4.3(12) refuses an ath that does not match the access token', async () => {
    const token = 'access-token-abc';
    const expected = { ...EXPECTED, accessToken: token };
    await refused(verifyDpopProof(await proof(keys.es256, { ath: sha256('other-token') }), expected, RULES, new MemoryReplay(), NOW), /ath does not match/, [token]);
    await refused(verifyDpopProof(await proof(keys.es256), expected, RULES, new MemoryReplay(), NOW), /ath does not match/, [token]);
    await refused(verifyDpopProof(await proof(keys.es256, { ath: token }), expected, RULES, new MemoryReplay(), NOW), /ath does not match/, [token]);
  });

  it('§4.3(12) accepts a matching ath, and an ath when no token is presented', async () => {
    const replay = new MemoryReplay();
    await verifyDpopProof(await proof(keys.es256, { ath: sha256('tok') }), { ...EXPECTED, accessToken: 'tok' }, RULES, replay, NOW);
    await verifyDpopProof(await proof(keys.es256, { ath: sha256('tok') }), EXPECTED, RULES, replay, NOW);
  });

  it('§4.3(12) refuses a proof by key B against a token bound to key A (cnf.jkt)', async () => {
    const replay = new MemoryReplay();
    await refused(verifyDpopProof(await proof(keys.ps256), { ...EXPECTED, boundJkt: keys.es256.jkt }, RULES, replay, NOW), /^DPoP proof key does not match the access token binding$/);
    await verifyDpopProof(await proof(keys.es256), { ...EXPECTED, boundJkt: keys.es256.jkt }, RULES, replay, NOW);
  });

  it('§11.1 refuses a replayed jti', async () => {
    const replay = new MemoryReplay();
    const p = await proof(keys.es256);
    await verifyDpopProof(p, EXPECTED, RULES, replay, NOW);
    await refused(verifyDpopProof(p, EXPECTED, RULES, replay, NOW), /^DPoP proof jti was already used$/, [p]);
  });

  it('§11.1 scopes jti to the key: the same jti from another key is not a replay', async () => {
    const replay = new MemoryReplay();
    await verifyDpopProof(await proof(keys.es256, { jti: 'same' }), EXPECTED, RULES, replay, NOW);
    await verifyDpopProof(await proof(keys.eddsa, { jti: 'same' }), EXPECTED, RULES, replay, NOW);
  });

  it('§11.1 a refused proof never burns its jti', async () => {
    const replay = new MemoryReplay();
    const failing = [
      proof(keys.es256, { jti: 'once', htm: 'GET' }),
      proof(keys.es256, { jti: 'once', htu: 'https://other.example/token' }),
      proof(keys.es256, { jti: 'once', iat: NOW - 600 }),
      proof(keys.es256, { jti: 'once', ath: 'nope' }),
    ];
    for (const p of failing) {
      await assert.rejects(verifyDpopProof(await p, { ...EXPECTED, accessToken: 't' }, RULES, replay, NOW), InvalidDpopProof);
    }
    await assert.rejects(verifyDpopProof(await proof(keys.es256, { jti: 'once' }), { ...EXPECTED, boundJkt: keys.ps256.jkt }, RULES, replay, NOW), InvalidDpopProof);
    const nonce = { required: true, check: () => false, issue: () => 'n' };
    await assert.rejects(verifyDpopProof(await proof(keys.es256, { jti: 'once' }), { ...EXPECTED, nonce }, RULES, replay, NOW), UseDpopNonce);
    assert.deepEqual(replay.calls, []);
    const v = await verifyDpopProof(await proof(keys.es256, { jti: 'once' }), EXPECTED, RULES, replay, NOW);
    assert.equal(v.jti, 'once');
  });
});

describe('normalizeHtu (RFC 3986 §6.2.2, §6.2.3)', () => {
  const cases: Array<[string, string]> = [
    ['HTTP://Example.COM:80/a/../b', 'http://example.com/b'],
    ['https://example.com:443/x', 'https://example.com/x'],
    ['https://example.com:8443/x', 'https://example.com:8443/x'],
    ['https://example.com/%7euser', 'https://example.com/~user'],
    ['https://example.com/%7Euser', 'https://example.com/~user'],
    ['https://example.com/a%2fb', 'https://example.com/a%2Fb'],
    ['https://example.com/./a/./b/', 'https://example.com/a/b/'],
    ['https://example.com', 'https://example.com/'],
    ['https://example.com/p?q=1#f', 'https://example.com/p'],
  ];
  for (const [input, want] of cases) {
    it(`${input} -> ${want}`, () => assert.equal(normalizeHtu(input), want));
  }
  it('treats %7e and ~ as the same URL', () => {
    assert.equal(normalizeHtu('https://example.com/%7e'), normalizeHtu('https://example.com/~'));
  });
  it('keeps distinct paths distinct', () => {
    assert.notEqual(normalizeHtu('https://example.com/a'), normalizeHtu('https://example.com/A'));
    assert.notEqual(normalizeHtu('https://example.com/a%2Fb'), normalizeHtu('https://example.com/a/b'));
  });
  it('throws on an unparsable or non-http URL', () => {
    assert.throws(() => normalizeHtu('not a url'));
    assert.throws(() => normalizeHtu('/relative/path'));
    assert.throws(() => normalizeHtu('ftp://example.com/x'));
  });
});

describe('oauth-error', () => {
  it('renders the OAuth error body', () => {
    const err = new UseDpopNonce(undefined, 'n-1');
    assert.ok(err instanceof OAuthError && err instanceof Error);
    assert.equal(err.name, 'UseDpopNonce');
    assert.deepEqual(errorAnswer(err).body, { error: 'use_dpop_nonce', error_description: 'authorization server requires nonce in DPoP proof' });
    assert.deepEqual(errorAnswer(new InvalidDpopProof('x')).body, { error: 'invalid_dpop_proof', error_description: 'x' });
  });
});
