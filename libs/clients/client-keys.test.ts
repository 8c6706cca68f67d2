import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { before, describe, it } from 'node:test';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';

import { CLIENT_KEY_ALGORITHMS, checkClientJwks, publicJwks, thumbprints, type KeyProblem } from './client-keys.js';

interface KeyPairJwks {
  publicJwk: JWK;
  privateJwk: JWK;
}

async function jwkPair(alg: string, options: { modulusLength?: number; crv?: string } = {}): Promise<KeyPairJwks> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { ...options, extractable: true });
  return { publicJwk: await exportJWK(publicKey), privateJwk: await exportJWK(privateKey) };
}

let es256: KeyPairJwks;
let es384: KeyPairJwks;
let es512: KeyPairJwks;
let ed25519: KeyPairJwks;
let rsa2048: KeyPairJwks;
let rsa1024: JWK;
let x25519: JWK;
let ed448: JWK;

before(async () => {
  [es256, es384, es512, ed25519, rsa2048] = await Promise.all([
    jwkPair('ES256'),
    jwkPair('ES384'),
    jwkPair('ES512'),
    jwkPair('EdDSA'),
    jwkPair('PS256', { modulusLength: 2048 }),
  ]);
  rsa1024 = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' }) as JWK;
  x25519 = generateKeyPairSync('x25519').publicKey.export({ format: 'jwk' }) as JWK;
  ed448 = generateKeyPairSync('ed448').publicKey.export({ format: 'jwk' }) as JWK;
});

const set = (...keys: unknown[]) => ({ keys });

/** Asserts exactly one problem, on `field`, whose message contains `fragment`. */
async function expectProblem(jwks: unknown, field: string, fragment: string): Promise<void> {
  const problems = await checkClientJwks(jwks);
  assert.equal(problems.length, 1, `expected one problem, got ${JSON.stringify(problems)}`);
  assert.equal(problems[0]!.field, field);
  assert.ok(
    problems[0]!.message.includes(fragment),
    `message ${JSON.stringify(problems[0]!.message)} lacks ${JSON.stringify(fragment)}`,
  );
}

function hasProblem(problems: KeyProblem[], field: string, fragment: string): boolean {
  return problems.some((p) => p.field === field && p.message.includes(fragment));
}

function b64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64url');
}

function littleEndian32(value: bigint): string {
  const bytes = Buffer.alloc(32);
  for (let i = 0; i < 32; i++) {
    bytes[i] = Number(value & 0xffn);
    value >>= 8n;
  }
  return b64(bytes);
}

describe('checkClientJwks: accepted sets', () => {
  it('is async and resolves to [] for an ES256 key with alg, use, kid and key_ops', async () => {
    const pending = checkClientJwks(set({ ...es256.publicJwk, alg: 'ES256', use: 'sig', kid: 'a', key_ops: ['verify'] }));
    assert.ok(pending instanceof Promise);
    assert.deepEqual(await pending, []);
  });

  it('accepts ES384 on P-384', async () => {
    assert.deepEqual(await checkClientJwks(set({ ...es384.publicJwk, alg: 'ES384' })), []);
  });

  it('accepts Ed25519 with alg EdDSA, alg Ed25519 and no alg', async () => {
    for (const alg of ['EdDSA', 'Ed25519', undefined]) {
      const key = alg ? { ...ed25519.publicJwk, alg } : { ...ed25519.publicJwk };
      assert.deepEqual(await checkClientJwks(set(key)), [], `alg ${alg}`);
    }
  });

  it('accepts a 2048-bit RSA key with PS256, PS384, RS256 and no alg', async () => {
    for (const alg of ['PS256', 'PS384', 'RS256', undefined]) {
      const key = alg ? { ...rsa2048.publicJwk, alg } : { ...rsa2048.publicJwk };
      assert.deepEqual(await checkClientJwks(set(key)), [], `alg ${alg}`);
    }
  });

  it('ignores leading zero bytes of n when a 2048-bit modulus is zero-padded', async () => {
    const padded = b64(Buffer.concat([Buffer.alloc(2), Buffer.from(rsa2048.publicJwk.n!, 'base64url')]));
    assert.deepEqual(await checkClientJwks(set({ kty: 'RSA', n: padded, e: rsa2048.publicJwk.e })), []);
  });

  it('accepts a mixed set with distinct kids, and exactly 10 keys', async () => {
    const mixed = [es256, es384, ed25519, rsa2048].map((k, i) => ({ ...k.publicJwk, kid: `k${i}` }));
    assert.deepEqual(await checkClientJwks(set(...mixed)), []);
    const ten = Array.from({ length: 10 }, (_, i) => ({ ...es256.publicJwk, kid: `k${i}` }));
    assert.deepEqual(await checkClientJwks(set(...ten)), []);
  });

  it('accepts keys without kid (kid is optional, so no duplicate) and an x5c array', async () => {
    assert.deepEqual(await checkClientJwks(set({ ...es256.publicJwk }, { ...es384.publicJwk, x5c: ['MIIB'] })), []);
  });

  it('exports the allowed algorithms exactly', () => {
    assert.deepEqual([...CLIENT_KEY_ALGORITHMS], ['ES256', 'ES384', 'EdDSA', 'Ed25519', 'PS256', 'PS384', 'RS256']);
  });
});

describe('checkClientJwks: set shape', () => {
  it('refuses non-objects', async () => {
    for (const value of [null, undefined, 'jwks', 42, [es256.publicJwk]]) {
      await expectProblem(value, 'jwks', 'JWK Set object');
    }
  });

  it('refuses missing or non-array keys', async () => {
    await expectProblem({}, 'jwks.keys', 'array');
    await expectProblem({ keys: es256.publicJwk }, 'jwks.keys', 'array');
  });

  it('refuses an empty keys array', async () => {
    await expectProblem(set(), 'jwks.keys', 'at least one');
  });

  it('refuses more than 10 keys', async () => {
    const eleven = Array.from({ length: 11 }, (_, i) => ({ ...es256.publicJwk, kid: `k${i}` }));
    await expectProblem(set(...eleven), 'jwks.keys', 'at most 10');
  });

  it('refuses a key that is not an object, naming its index', async () => {
    await expectProblem(set(es256.publicJwk, 'nope'), 'jwks.keys[1]', 'JWK object');
    await expectProblem(set(es256.publicJwk, null), 'jwks.keys[1]', 'JWK object');
    await expectProblem(set([es256.publicJwk]), 'jwks.keys[0]', 'JWK object');
  });
});

describe('checkClientJwks: key type', () => {
  it('refuses symmetric (oct) keys and their k', async () => {
    const problems = await checkClientJwks(set(es256.publicJwk, { kty: 'oct', k: 'c2VjcmV0LXNlY3JldC1zZWNyZXQ' }));
    assert.equal(problems.length, 2, JSON.stringify(problems));
    assert.ok(hasProblem(problems, 'jwks.keys[1].kty', 'symmetric keys are not allowed'));
    assert.ok(hasProblem(problems, 'jwks.keys[1].k', 'private key material must not be sent'));
  });

  it('refuses missing and unknown kty', async () => {
    const { kty: _ignored, ...noKty } = es256.publicJwk;
    await expectProblem(set(noKty), 'jwks.keys[0].kty', 'kty must be one of');
    await expectProblem(set({ ...es256.publicJwk, kty: 'AKP' }), 'jwks.keys[0].kty', 'kty must be one of');
    await expectProblem(set({ ...es256.publicJwk, kty: 'ec' }), 'jwks.keys[0].kty', 'kty must be one of');
  });
});

describe('checkClientJwks: private key material', () => {
  it('refuses a real EC private JWK (d)', async () => {
    await expectProblem(set(es256.privateJwk), 'jwks.keys[0].d', 'private key material must not be sent');
  });

  it('refuses a real Ed25519 private JWK (d)', async () => {
    await expectProblem(set(es384.publicJwk, ed25519.privateJwk), 'jwks.keys[1].d', 'private key material');
  });

  it('refuses every private member of a real RSA private JWK', async () => {
    const problems = await checkClientJwks(set(rsa2048.privateJwk));
    assert.deepEqual(
      problems.map((p) => p.field).sort(),
      ['d', 'dp', 'dq', 'p', 'q', 'qi'].map((m) => `jwks.keys[0].${m}`).sort(),
    );
    assert.ok(problems.every((p) => p.message === 'private key material must not be sent'));
  });

  it('refuses oth, k and priv on an otherwise public key, whatever their value', async () => {
    await expectProblem(set({ ...rsa2048.publicJwk, oth: [] }), 'jwks.keys[0].oth', 'private key material');
    await expectProblem(set({ ...es256.publicJwk, k: 'AAAA' }), 'jwks.keys[0].k', 'private key material');
    await expectProblem(set({ ...es256.publicJwk, priv: 'AAAA' }), 'jwks.keys[0].priv', 'private key material');
    await expectProblem(set({ ...es256.publicJwk, d: null }), 'jwks.keys[0].d', 'private key material');
  });
});

describe('checkClientJwks: EC', () => {
  it('refuses P-521 and a missing crv', async () => {
    await expectProblem(set(es512.publicJwk), 'jwks.keys[0].crv', 'P-256');
    const { crv: _ignored, ...noCrv } = es256.publicJwk;
    await expectProblem(set(noCrv), 'jwks.keys[0].crv', 'P-256');
  });

  it('requires x and y', async () => {
    const { x: _x, ...noX } = es256.publicJwk;
    const { y: _y, ...noY } = es384.publicJwk;
    await expectProblem(set(noX), 'jwks.keys[0].x', 'required');
    await expectProblem(set(noY), 'jwks.keys[0].y', 'required');
  });

  it('refuses non-base64url and wrong-length coordinates', async () => {
    await expectProblem(set({ ...es256.publicJwk, x: `${es256.publicJwk.x}=` }), 'jwks.keys[0].x', 'base64url');
    await expectProblem(set({ ...es256.publicJwk, y: 42 }), 'jwks.keys[0].y', 'base64url');
    // A P-384 coordinate on a P-256 key.
    await expectProblem(set({ ...es256.publicJwk, y: es384.publicJwk.y }), 'jwks.keys[0].y', 'exactly 32 bytes');
  });

  it('refuses non-canonical base64url (stray trailing bits)', async () => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const x = es256.publicJwk.x!;
    const last = alphabet.indexOf(x.at(-1)!);
    assert.equal(last & 3, 0); // 32 bytes -> 43 chars: the last char carries 2 unused zero bits
    const stray = `${x.slice(0, -1)}${alphabet[last | 1]}`;
    assert.deepEqual(Buffer.from(stray, 'base64url'), Buffer.from(x, 'base64url')); // same bytes, other spelling
    await expectProblem(set({ ...es256.publicJwk, x: stray }), 'jwks.keys[0].x', 'canonical base64url');
  });

  it('reports a point that is not on the curve as unimportable', async () => {
    await expectProblem(set({ ...es256.publicJwk, y: es256.publicJwk.x }), 'jwks.keys[0]', 'could not be imported');
  });
});

describe('checkClientJwks: OKP', () => {
  it('refuses X25519 and Ed448', async () => {
    await expectProblem(set(x25519), 'jwks.keys[0].crv', 'Ed25519');
    await expectProblem(set(ed448), 'jwks.keys[0].crv', 'Ed25519');
  });

  it('requires a 32-byte x', async () => {
    const { x: _x, ...noX } = ed25519.publicJwk;
    await expectProblem(set(noX), 'jwks.keys[0].x', 'required');
    await expectProblem(set({ ...ed25519.publicJwk, x: es384.publicJwk.x }), 'jwks.keys[0].x', 'exactly 32 bytes');
  });

  it('refuses small-order points (identity, order 2, order 4, order 8)', async () => {
    const p = (1n << 255n) - 19n;
    const y8 = 2707385501144840649318225287225658788936804267575313519463743609750303402022n;
    for (const y of [1n, p - 1n, 0n, y8, p - y8]) {
      await expectProblem(set({ kty: 'OKP', crv: 'Ed25519', x: littleEndian32(y) }), 'jwks.keys[0].x', 'small-order');
    }
  });

  it('refuses a non-canonical encoding (y >= p)', async () => {
    const p = (1n << 255n) - 19n;
    await expectProblem(set({ kty: 'OKP', crv: 'Ed25519', x: littleEndian32(p + 2n) }), 'jwks.keys[0].x', 'non-canonical');
  });
});

describe('checkClientJwks: RSA', () => {
  it('refuses a real 1024-bit key', async () => {
    await expectProblem(set(rsa1024), 'jwks.keys[0].n', 'RSA keys must be at least 2048 bits');
  });

  it('counts bits, not bytes: a 256-byte modulus with top byte 0x7f has 2047 bits', async () => {
    const n = Buffer.from(rsa2048.publicJwk.n!, 'base64url');
    assert.equal(n.length, 256);
    n[0] = 0x7f;
    await expectProblem(set({ ...rsa2048.publicJwk, n: b64(n) }), 'jwks.keys[0].n', 'at least 2048 bits');
    n[0] = 0x80; // exactly 2048 bits: size is fine (the import decides the rest)
    const problems = await checkClientJwks(set({ ...rsa2048.publicJwk, n: b64(n) }));
    assert.ok(!problems.some((p) => p.field === 'jwks.keys[0].n'), JSON.stringify(problems));
  });

  it('refuses a 2048-bit-long modulus whose top byte is zero (2040 significant bits)', async () => {
    const n = Buffer.from(rsa2048.publicJwk.n!, 'base64url');
    n[0] = 0;
    await expectProblem(set({ ...rsa2048.publicJwk, n: b64(n) }), 'jwks.keys[0].n', 'at least 2048 bits');
  });

  it('refuses a 1024-bit modulus padded with zero bytes to 2048 bits of length', async () => {
    const padded = b64(Buffer.concat([Buffer.alloc(128), Buffer.from(rsa1024.n!, 'base64url')]));
    assert.equal(Buffer.from(padded, 'base64url').length, 256);
    await expectProblem(set({ ...rsa1024, n: padded }), 'jwks.keys[0].n', 'at least 2048 bits');
  });

  it('refuses a 2040-bit modulus', async () => {
    const n = Buffer.from(rsa2048.publicJwk.n!, 'base64url').subarray(1);
    await expectProblem(set({ ...rsa2048.publicJwk, n: b64(n) }), 'jwks.keys[0].n', 'at least 2048 bits');
  });

  it('refuses moduli above 8192 bits', async () => {
    const n = Buffer.alloc(1025, 0xff); // 8200 bits, odd
    await expectProblem(set({ kty: 'RSA', n: b64(n), e: 'AQAB' }), 'jwks.keys[0].n', 'at most 8192 bits');
  });

  it('refuses an even modulus', async () => {
    const n = Buffer.from(rsa2048.publicJwk.n!, 'base64url');
    n[n.length - 1]! &= 0xfe;
    await expectProblem(set({ ...rsa2048.publicJwk, n: b64(n) }), 'jwks.keys[0].n', 'odd');
  });

  it('requires n and e', async () => {
    const { n: _n, ...noN } = rsa2048.publicJwk;
    const { e: _e, ...noE } = rsa2048.publicJwk;
    await expectProblem(set(noN), 'jwks.keys[0].n', 'required');
    await expectProblem(set(noE), 'jwks.keys[0].e', 'required');
  });

  it('refuses forgeable or non-standard exponents (1, 3, even, >= 2^256)', async () => {
    for (const e of ['AQ', 'Aw', 'AQAA', b64(Buffer.from([1, ...Buffer.alloc(31), 1]))]) {
      await expectProblem(set({ ...rsa2048.publicJwk, e }), 'jwks.keys[0].e', 'at least 65537');
    }
  });
});

describe('checkClientJwks: alg, use, key_ops, kid', () => {
  it('refuses algorithms outside the list', async () => {
    for (const alg of ['HS256', 'none', 'ES512', 'PS512', 'RS384', 'RSA-OAEP', 42]) {
      await expectProblem(set({ ...es256.publicJwk, alg }), 'jwks.keys[0].alg', 'unsupported alg');
    }
  });

  it('refuses algorithms inconsistent with kty/crv', async () => {
    const cases: Array<[JWK, string]> = [
      [es256.publicJwk, 'ES384'],
      [es384.publicJwk, 'ES256'],
      [es256.publicJwk, 'EdDSA'],
      [es256.publicJwk, 'RS256'],
      [ed25519.publicJwk, 'ES256'],
      [ed25519.publicJwk, 'PS256'],
      [rsa2048.publicJwk, 'ES256'],
      [rsa2048.publicJwk, 'Ed25519'],
    ];
    for (const [key, alg] of cases) {
      await expectProblem(set({ ...key, alg }), 'jwks.keys[0].alg', 'unsupported alg');
    }
  });

  it('refuses use other than sig', async () => {
    await expectProblem(set({ ...es256.publicJwk, use: 'enc' }), 'jwks.keys[0].use', 'sig');
  });

  it('refuses key_ops other than ["verify"]', async () => {
    for (const key_ops of [['sign'], ['verify', 'sign'], [], 'verify']) {
      await expectProblem(set({ ...es256.publicJwk, key_ops }), 'jwks.keys[0].key_ops', 'verify');
    }
  });

  it('refuses duplicate kids, naming the later key', async () => {
    const problems = await checkClientJwks(
      set({ ...es256.publicJwk, kid: 'a' }, { ...ed25519.publicJwk, kid: 'b' }, { ...rsa2048.publicJwk, kid: 'a' }),
    );
    assert.equal(problems.length, 1, JSON.stringify(problems));
    assert.equal(problems[0]!.field, 'jwks.keys[2].kid');
    assert.match(problems[0]!.message, /duplicate kid.*jwks\.keys\[0\]/);
  });

  it('refuses empty or non-string kid', async () => {
    await expectProblem(set({ ...es256.publicJwk, kid: '' }), 'jwks.keys[0].kid', 'non-empty string');
    await expectProblem(set({ ...es256.publicJwk, kid: 7 }), 'jwks.keys[0].kid', 'non-empty string');
  });

  it('refuses a malformed x5c', async () => {
    await expectProblem(set({ ...es256.publicJwk, x5c: 'MIIB' }), 'jwks.keys[0].x5c', 'x5c');
  });

  it('reports problems of several keys in key order', async () => {
    const problems = await checkClientJwks(
      set(es256.publicJwk, { ...es256.publicJwk, y: es256.publicJwk.x }, es256.privateJwk, { ...rsa2048.publicJwk, use: 'enc' }),
    );
    assert.deepEqual(
      problems.map((p) => p.field),
      ['jwks.keys[1]', 'jwks.keys[2].d', 'jwks.keys[3].use'],
    );
  });

  it('ignores inherited (prototype) members', async () => {
    const key = Object.assign(Object.create({ d: 'AAAA', alg: 'HS256' }) as object, es256.publicJwk);
    assert.deepEqual(await checkClientJwks(set(key)), []);
  });
});

describe('thumbprints', () => {
  it('computes RFC 7638 SHA-256 thumbprints, in order', async () => {
    const keys = [es256.publicJwk, ed25519.publicJwk, rsa2048.publicJwk];
    const manual = (members: Record<string, unknown>) =>
      createHash('sha256').update(JSON.stringify(members)).digest('base64url');
    const { crv, x, y } = es256.publicJwk;
    const expected = [
      manual({ crv, kty: 'EC', x, y }),
      manual({ crv: 'Ed25519', kty: 'OKP', x: ed25519.publicJwk.x }),
      manual({ e: rsa2048.publicJwk.e, kty: 'RSA', n: rsa2048.publicJwk.n }),
    ];
    assert.deepEqual(await thumbprints({ keys: keys.map((k) => ({ ...k, kid: 'ignored', alg: 'ES256' })) }), expected);
    assert.deepEqual(await thumbprints({ keys }), await Promise.all(keys.map((k) => calculateJwkThumbprint(k))));
  });

  it('matches the RFC 8037 Appendix A.3 Ed25519 example', async () => {
    const [thumbprint] = await thumbprints({
      keys: [{ kty: 'OKP', crv: 'Ed25519', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo' }],
    });
    assert.equal(thumbprint, 'kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k');
  });
});

describe('publicJwks', () => {
  it('keeps only public members and strips private material', () => {
    const input = {
      keys: [
        { ...rsa2048.privateJwk, kid: 'r', alg: 'PS256', use: 'sig', key_ops: ['verify'], x5c: ['MIIB'], ext: true, x5u: 'https://x', foo: 1 } as JWK,
        { ...es256.privateJwk, kid: 'e' },
        { ...ed25519.privateJwk },
        { kty: 'oct', k: 'AAAA' },
      ],
    };
    const out = publicJwks(input);
    assert.deepEqual(out.keys[0], {
      kty: 'RSA',
      n: rsa2048.publicJwk.n,
      e: rsa2048.publicJwk.e,
      kid: 'r',
      alg: 'PS256',
      use: 'sig',
      key_ops: ['verify'],
      x5c: ['MIIB'],
    });
    assert.deepEqual(out.keys[1], { kty: 'EC', crv: 'P-256', x: es256.publicJwk.x, y: es256.publicJwk.y, kid: 'e' });
    assert.deepEqual(out.keys[2], { kty: 'OKP', crv: 'Ed25519', x: ed25519.publicJwk.x });
    assert.deepEqual(out.keys[3], { kty: 'oct' });
    for (const key of out.keys) {
      for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k', 'ext', 'x5u', 'foo']) {
        assert.equal(Object.hasOwn(key, member), false, member);
      }
    }
  });

  it('does not mutate or alias the input', () => {
    const key: JWK = { ...es256.publicJwk, key_ops: ['verify'], d: 'AAAA' };
    const out = publicJwks({ keys: [key] });
    assert.equal(key.d, 'AAAA');
    assert.notEqual(out.keys[0]!.key_ops, key.key_ops);
    out.keys[0]!.key_ops!.push('sign');
    assert.deepEqual(key.key_ops, ['verify']);
  });
});
