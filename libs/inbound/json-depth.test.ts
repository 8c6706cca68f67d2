import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { jsonDepth } from './json-depth.js';

describe('jsonDepth', () => {
  it('counts objects and arrays, not scalars', () => {
    assert.equal(jsonDepth('1'), 0);
    assert.equal(jsonDepth('"a"'), 0);
    assert.equal(jsonDepth('{}'), 1);
    assert.equal(jsonDepth('[]'), 1);
    assert.equal(jsonDepth('{"a":[1,{"b":2}]}'), 3);
    assert.equal(jsonDepth('[[],[[]],[]]'), 3);
  });

  it('skips brackets inside strings, escaped quotes and backslashes included', () => {
    assert.equal(jsonDepth('{"a":"[[[{{{"}'), 1);
    assert.equal(jsonDepth('{"a\\"[[[":"\\\\"}'), 1);
    assert.equal(jsonDepth('["\\"", ["\\\\", "]]]"]]'), 2);
  });

  it('measures 10,000 levels without recursion', () => {
    const n = 10_000;
    assert.equal(jsonDepth('['.repeat(n) + ']'.repeat(n)), n);
    assert.equal(jsonDepth('{"a":'.repeat(n) + '1' + '}'.repeat(n)), n);
  });

  it('gives some number for malformed text (the parse refuses it)', () => {
    assert.equal(typeof jsonDepth('[[[{'), 'number');
    assert.equal(typeof jsonDepth(']]]'), 'number');
  });
});
