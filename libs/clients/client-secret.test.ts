import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { randomBytes, scryptSync } from 'node:crypto';
import { before, describe, it } from 'node:test';

import {
  MAX_CLIENT_SECRET_LENGTH,
  SecretVerifier,
  generateClientSecret,
  hashClientSecret,
  verifyClientSecret,
} from './client-secret.js';

const FORMAT = /^scrypt\$16384\$8\$1\$([A-Za-z0-9_-]{22})\$([A-Za-z0-9_-]{43})$/;

let secret: string;
let stored: string;

before(async () => {
  secret = generateClientSecret();
  stored = await hashClientSecret(secret);
});

describe('generateClientSecret', () => {
  it('returns 32 random bytes as base64url', () => {
    const a = generateClientSecret();
    const b = generateClientSecret();
    assert.match(a, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(Buffer.from(a, 'base64url').length, 32);
    assert.notEqual(a, b);
  });
});

describe('hashClientSecret / verifyClientSecret', () => {
  it('produces scrypt$16384$8$1$salt$hash with a 16-byte salt and 32-byte hash', () => {
    const match = FORMAT.exec(stored);
    assert.ok(match, stored);
    assert.equal(Buffer.from(match[1]!, 'base64url').length, 16);
    assert.equal(Buffer.from(match[2]!, 'base64url').length, 32);
  });

  it('round-trips', async () => {
    assert.equal(await verifyClientSecret(secret, stored), true);
  });

  it('is real scrypt: matches an independently computed hash', async () => {
    const salt = randomBytes(16);
    const hash = scryptSync('s3cret', salt, 32, { N: 16384, r: 8, p: 1 });
    const independent = `scrypt$16384$8$1$${salt.toString('base64url')}$${hash.toString('base64url')}`;
    assert.equal(await verifyClientSecret('s3cret', independent), true);
    assert.equal(await verifyClientSecret('s3creT', independent), false);
  });

  it('refuses correctly computed hashes whose parameters are too weak', async () => {
    const salt = randomBytes(16);
    const make = (N: number, r: number, p: number) =>
      `scrypt$${N}$${r}$${p}$${salt.toString('base64url')}$${scryptSync('s3cret', salt, 32, { N, r, p, maxmem: 1 << 28 }).toString('base64url')}`;
    assert.equal(await verifyClientSecret('s3cret', make(32768, 8, 1)), true); // stronger is fine
    assert.equal(await verifyClientSecret('s3cret', make(1024, 8, 1)), false);
    assert.equal(await verifyClientSecret('s3cret', make(16384, 8, 2)), true);
    assert.equal(await verifyClientSecret('s3cret', make(16384, 1, 1)), false); // r below 8
  });

  it('rejects a wrong secret', async () => {
    assert.equal(await verifyClientSecret(generateClientSecret(), stored), false);
    assert.equal(await verifyClientSecret(`${secret}x`, stored), false);
    assert.equal(await verifyClientSecret(secret.slice(0, -1), stored), false);
    assert.equal(await verifyClientSecret('', stored), false);
  });

  it('uses a fresh salt each time', async () => {
    const again = await hashClientSecret(secret);
    assert.notEqual(again, stored);
    assert.notEqual(FORMAT.exec(again)![1], FORMAT.exec(stored)![1]);
    assert.equal(await verifyClientSecret(secret, again), true);
  });

  it('returns false, never throws, for malformed stored values', async () => {
    const [, , , , salt, hash] = stored.split('$');
    const flipped = `${hash!.slice(0, -2)}${hash!.at(-2) === 'A' ? 'B' : 'A'}${hash!.at(-1)}`;
    const malformed: unknown[] = [
      '',
      'garbage',
      secret,
      `bcrypt$16384$8$1$${salt}$${hash}`,
      `scrypt$16384$8$1$${salt}`,
      `scrypt$16384$8$1$${salt}$${hash}$`,
      `scrypt$16384$8$1$${salt}$${flipped}`, // tampered hash
      `scrypt$abc$8$1$${salt}$${hash}`,
      `scrypt$016384$8$1$${salt}$${hash}`,
      `scrypt$16383$8$1$${salt}$${hash}`, // not a power of two
      `scrypt$1024$8$1$${salt}$${hash}`, // weaker than allowed
      `scrypt$1073741824$8$1$${salt}$${hash}`, // absurd memory
      `scrypt$16384$8$99999$${salt}$${hash}`, // absurd work
      `scrypt$16384$0$1$${salt}$${hash}`,
      `scrypt$16384$8$1$${salt}$${hash}AAAA`, // wrong hash length
      `scrypt$16384$8$1$${salt}$${hash}=`,
      `scrypt$16384$8$1$c2FsdA$${hash}`, // 4-byte salt
      `scrypt$16384$8$1$${salt}+/$${hash}`,
      `scrypt$16384$8$1$$${hash}`,
      `${stored}${'A'.repeat(1000)}`,
      null,
      undefined,
      42,
      { toString: () => stored },
    ];
    for (const value of malformed) {
      assert.equal(await verifyClientSecret(secret, value as string), false, String(value));
    }
  });

  it('returns false for non-string or over-long secrets', async () => {
    for (const value of [null, undefined, 42, Buffer.from(secret), 'x'.repeat(MAX_CLIENT_SECRET_LENGTH + 1)]) {
      assert.equal(await verifyClientSecret(value as string, stored), false);
    }
  });

  it('hashClientSecret refuses empty, non-string and over-long secrets', async () => {
    for (const value of ['', null, 42, 'x'.repeat(MAX_CLIENT_SECRET_LENGTH + 1)]) {
      await assert.rejects(hashClientSecret(value as string), TypeError);
    }
  });
});

describe('SecretVerifier', () => {
  /** Wraps the real check and counts how often it runs. */
  function counting() {
    const calls: string[] = [];
    const verifySecret = async (s: string, h: string) => {
      calls.push(s);
      return verifyClientSecret(s, h);
    };
    return { calls, verifySecret };
  }

  it('works with the default (real) check', async () => {
    const verifier = new SecretVerifier();
    assert.equal(await verifier.verify('client-a', secret, stored), true);
    assert.equal(await verifier.verify('client-a', secret, stored), true);
    assert.equal(await verifier.verify('client-a', 'wrong', stored), false);
    assert.equal(verifier.size, 1);
  });

  it('caches successes: the second call does not run scrypt', async () => {
    const { calls, verifySecret } = counting();
    const verifier = new SecretVerifier({ verifySecret });
    assert.equal(await verifier.verify('client-a', secret, stored), true);
    assert.equal(await verifier.verify('client-a', secret, stored), true);
    assert.equal(calls.length, 1);
    assert.equal(verifier.size, 1);
  });

  it('never caches failures', async () => {
    const { calls, verifySecret } = counting();
    const verifier = new SecretVerifier({ verifySecret });
    assert.equal(await verifier.verify('client-a', 'wrong', stored), false);
    assert.equal(await verifier.verify('client-a', 'wrong', stored), false);
    assert.equal(calls.length, 2);
    assert.equal(verifier.size, 0);
    // A failure does not poison a later success either.
    assert.equal(await verifier.verify('client-a', secret, stored), true);
  });

  it('a cached success does not admit a different secret, client or stored hash', async () => {
    const { calls, verifySecret } = counting();
    const verifier = new SecretVerifier({ verifySecret });
    assert.equal(await verifier.verify('client-a', secret, stored), true);
    assert.equal(await verifier.verify('client-a', `${secret}x`, stored), false);
    assert.equal(await verifier.verify('client-b', secret, stored), true); // same hash, other id: real check
    const rotated = await hashClientSecret(generateClientSecret());
    assert.equal(await verifier.verify('client-a', secret, rotated), false);
    assert.equal(calls.length, 4);
  });

  it('expires entries after the TTL (60 s by default)', async () => {
    let now = 1_000_000;
    const { calls, verifySecret } = counting();
    const verifier = new SecretVerifier({ verifySecret, now: () => now });
    await verifier.verify('client-a', secret, stored);
    now += 59_999;
    await verifier.verify('client-a', secret, stored);
    assert.equal(calls.length, 1);
    now += 1;
    assert.equal(await verifier.verify('client-a', secret, stored), true);
    assert.equal(calls.length, 2);
  });

  it('is bounded and evicts the oldest entry first', async () => {
    const calls: string[] = [];
    const verifier = new SecretVerifier({
      maxEntries: 3,
      verifySecret: async (s) => {
        calls.push(s);
        return true;
      },
    });
    for (const id of ['a', 'b', 'c', 'd']) await verifier.verify(id, 's', 'h');
    assert.equal(verifier.size, 3);
    calls.length = 0;
    await verifier.verify('b', 's', 'h');
    await verifier.verify('c', 's', 'h');
    await verifier.verify('d', 's', 'h');
    assert.deepEqual(calls, []);
    await verifier.verify('a', 's', 'h'); // evicted
    assert.deepEqual(calls, ['s']);
    assert.equal(verifier.size, 3);
  });

  it('defaults to at most 10,000 entries', async () => {
    const verifier = new SecretVerifier({ verifySecret: async () => true });
    for (let i = 0; i < 10_005; i++) await verifier.verify(`client-${i}`, 's', 'h');
    assert.equal(verifier.size, 10_000);
  });

  it('treats a non-true result from the check as failure, and does not cache NUL-ambiguous ids', async () => {
    const weird = new SecretVerifier({ verifySecret: async () => 'yes' as unknown as boolean });
    assert.equal(await weird.verify('a', 's', 'h'), false);
    assert.equal(weird.size, 0);
    const verifier = new SecretVerifier({ verifySecret: async () => true });
    assert.equal(await verifier.verify('a\0b', 's', 'h'), true);
    assert.equal(verifier.size, 0);
  });
});
