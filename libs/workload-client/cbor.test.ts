import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type CborValue, encodeCbor } from './cbor.js';

const hex = (value: CborValue) => Buffer.from(encodeCbor(value)).toString('hex');
const bytes = (h: string) => new Uint8Array(Buffer.from(h, 'hex'));

describe('CBOR encoding (RFC 8949 Appendix A)', () => {
  it('encodes unsigned and negative integers in the shortest form', () => {
    const cases: [CborValue, string][] = [
      [0, '00'],
      [1, '01'],
      [10, '0a'],
      [23, '17'],
      [24, '1818'],
      [25, '1819'],
      [100, '1864'],
      [1000, '1903e8'],
      [1000000, '1a000f4240'],
      [1000000000000, '1b000000e8d4a51000'],
      [18446744073709551615n, '1bffffffffffffffff'],
      [-18446744073709551616n, '3bffffffffffffffff'],
      [-1, '20'],
      [-10, '29'],
      [-100, '3863'],
      [-1000, '3903e7'],
    ];
    for (const [value, expected] of cases) assert.equal(hex(value), expected, String(value));
  });

  it('refuses what it cannot encode exactly', () => {
    assert.throws(() => encodeCbor(1.5), TypeError);
    assert.throws(() => encodeCbor(2 ** 53), TypeError);
    assert.throws(() => encodeCbor(18446744073709551616n), RangeError);
  });

  it('encodes simple values', () => {
    assert.equal(hex(false), 'f4');
    assert.equal(hex(true), 'f5');
    assert.equal(hex(null), 'f6');
  });

  it('encodes byte and text strings', () => {
    assert.equal(hex(new Uint8Array()), '40');
    assert.equal(hex(bytes('01020304')), '4401020304');
    assert.equal(hex(''), '60');
    assert.equal(hex('a'), '6161');
    assert.equal(hex('IETF'), '6449455446');
    assert.equal(hex('"\\'), '62225c');
    assert.equal(hex('\u00fc'), '62c3bc');
    assert.equal(hex('\u6c34'), '63e6b0b4');
    assert.equal(hex('\ud800\udd51'), '64f0908591');
  });

  it('encodes arrays', () => {
    assert.equal(hex([]), '80');
    assert.equal(hex([1, 2, 3]), '83010203');
    assert.equal(hex([1, [2, 3], [4, 5]]), '8301820203820405');
    assert.equal(
      hex(Array.from({ length: 25 }, (_, i) => i + 1)),
      '98190102030405060708090a0b0c0d0e0f101112131415161718181819',
    );
  });

  it('encodes maps with integer and text keys', () => {
    assert.equal(hex({}), 'a0');
    assert.equal(hex(new Map([[1, 2], [3, 4]])), 'a201020304');
    assert.equal(hex({ a: 1, b: [2, 3] }), 'a26161016162820203');
    assert.equal(hex(['a', { b: 'c' }]), '826161a161626163');
    assert.equal(hex({ a: 'A', b: 'B', c: 'C', d: 'D', e: 'E' }), 'a56161614161626142616361436164614461656145');
  });

  it('sorts map keys by their encoded bytes (RFC 8949 §4.2.1), whatever the insertion order', () => {
    // A COSE_Key as WebAuthn uses it: 1, 3, -1, -2, -3 encode as 01, 03, 20, 21, 22.
    const cose = new Map<number, CborValue>([[-3, 3], [-1, 1], [3, -7], [-2, 2], [1, 2]]);
    assert.equal(hex(cose), 'a501020326200121022203');
    assert.equal(hex({ authData: 1, fmt: 2, attStmt: 3 }), hex({ fmt: 2, attStmt: 3, authData: 1 }));
  });
});
