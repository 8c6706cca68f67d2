import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseForm } from './form.js';

const form = (text: string) => {
  const parsed = parseForm(text);
  assert.ok('form' in parsed, JSON.stringify(parsed));
  return { ...parsed.form };
};

describe('parseForm', () => {
  it('decodes + and percent escapes; repeated names become arrays; never nested objects', () => {
    assert.deepEqual(form('a=1&b=x+y%2Bz&c=%C3%A9&a=2&a=3&d[e]=f&g'), { a: ['1', '2', '3'], b: 'x y+z', c: 'é', 'd[e]': 'f', g: '' });
    assert.deepEqual(form(''), {});
    assert.deepEqual(form('&&a=1&'), { a: '1' });
    assert.deepEqual(form('a=b=c'), { a: 'b=c' });
  });

  it('gives a prototype-free object: __proto__ is an ordinary name', () => {
    const parsed = parseForm('__proto__=x&constructor=y');
    assert.ok('form' in parsed);
    assert.equal(Object.getPrototypeOf(parsed.form), null);
    assert.equal(parsed.form['__proto__'], 'x');
  });

  it('refuses escapes that are not UTF-8, naming the parameter (node:querystring would put U+FFFD there)', () => {
    for (const value of ['%FF', '%ED%A0%80', '%C0%80', '%E0%80', '%', '%zz%']) {
      const parsed = parseForm(`ok=1&token=${value}`);
      assert.ok('problem' in parsed, value);
      assert.equal(parsed.problem.field, 'token');
    }
    const parsed = parseForm('%FF=1');
    assert.ok('problem' in parsed);
    assert.equal(parsed.problem.field, '%FF');
    assert.match(parsed.problem.message, /parameter name/);
  });

  it('keeps %00 (decodable): the string rule, not the parser, refuses it', () => {
    assert.deepEqual(form('a=%00'), { a: '\u0000' });
  });
});
