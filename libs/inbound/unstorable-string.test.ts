import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { unstorableString } from './unstorable-string.js';

const NUL = 'must not contain NUL (U+0000)';

describe('unstorableString', () => {
  it('accepts ordinary text, paired surrogates (emoji) and non-strings', () => {
    assert.equal(unstorableString({ a: 'plain', b: 'é😀', c: [1, true, null, { d: 'x\u2028' }] }), undefined);
    assert.equal(unstorableString('😀'), undefined);
    assert.equal(unstorableString(42), undefined);
    assert.equal(unstorableString(null), undefined);
  });

  it('names the field holding NUL, nested paths included', () => {
    assert.deepEqual(unstorableString({ client_name: 'a\u0000b' }), { field: 'client_name', message: NUL });
    assert.deepEqual(unstorableString({ jwks: { keys: [{ kty: 'EC' }, { kid: '\u0000' }] } }), { field: 'jwks.keys[1].kid', message: NUL });
    assert.deepEqual(unstorableString(['ok', ['\u0000']]), { field: '[1][0]', message: NUL });
  });

  it('refuses a lone high or low surrogate, and a reversed pair', () => {
    for (const s of ['\ud800', 'a\ud83d', '\udfffb', '\udc00\ud800']) {
      const problem = unstorableString({ scope: s });
      assert.equal(problem?.field, 'scope', JSON.stringify(s));
      assert.match(problem!.message, /surrogate/);
    }
  });

  it('checks member names, naming the member without the bad characters', () => {
    assert.deepEqual(unstorableString({ jwks: { 'k\u0000': 1 } }), { field: 'jwks.k\ufffd', message: `the member name ${NUL}` });
    assert.match(unstorableString({ '\ud800': 'x' })!.message, /member name .*surrogate/);
  });

  it('reports the first problem in document order', () => {
    assert.equal(unstorableString({ a: { b: 'fine', c: '\u0000' }, d: '\u0000' })?.field, 'a.c');
    assert.equal(unstorableString({ a: ['x', '\ud800'], b: '\u0000' })?.field, 'a[1]');
  });

  it('uses the given path as the prefix and walks any depth without recursion', () => {
    assert.equal(unstorableString({ x: '\u0000' }, 'body')?.field, 'body.x');
    assert.equal(unstorableString('\u0000', 'client_id')?.field, 'client_id');
    let deep: unknown = '\u0000';
    for (let i = 0; i < 100_000; i++) deep = [deep];
    assert.equal(unstorableString(deep)?.field, '[0]'.repeat(100_000));
  });

  it('stops on cycles', () => {
    const a: Record<string, unknown> = { name: 'ok' };
    a.self = a;
    assert.equal(unstorableString(a), undefined);
  });
});
