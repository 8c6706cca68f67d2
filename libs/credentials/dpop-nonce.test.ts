import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { DpopNonces } from './dpop-nonce.js';

describe('DPoP server nonces (RFC 9449 §9)', () => {
  const kek = randomBytes(32);
  it('accepts its own nonce for the rest of its minute and the two after, then refuses it', () => {
    const nonces = new DpopNonces(kek);
    const t = Date.UTC(2026, 10, 23, 12, 0, 30);
    const n = nonces.issue(t);
    assert.ok(nonces.check(n, t));
    assert.ok(nonces.check(n, t + 149_000));
    assert.ok(!nonces.check(n, t + 190_000));
  });
  it('is shared by instances with the same key and differs across keys', () => {
    const t = Date.now();
    assert.ok(new DpopNonces(kek).check(new DpopNonces(kek).issue(t), t));
    assert.ok(!new DpopNonces(randomBytes(32)).check(new DpopNonces(kek).issue(t), t));
  });
  it('refuses made-up values', () => {
    assert.ok(!new DpopNonces(kek).check('made-up'));
    assert.ok(!new DpopNonces(kek).check(''));
  });
});
