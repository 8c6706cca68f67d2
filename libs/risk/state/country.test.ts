import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { COUNTRY_DATA_DATE, COUNTRY_DATA_VERSION, countryOf } from './country.js';

describe('countryOf', () => {
  it('finds the country of public IPv4 and IPv6 addresses', () => {
    assert.equal(countryOf('8.8.8.8'), 'US');
    assert.match(countryOf('2a00:1450:4001:80b::200e') ?? '', /^[A-Z]{2}$/);
  });

  it('reads an IPv4-mapped IPv6 address as IPv4', () => {
    assert.equal(countryOf('::ffff:8.8.8.8'), countryOf('8.8.8.8'));
  });

  it('is undefined for private, reserved and invalid addresses', () => {
    for (const ip of ['10.0.0.1', '127.0.0.1', '192.168.1.1', '::1', 'not-an-ip', '', '8.8.8']) assert.equal(countryOf(ip), undefined, ip);
  });

  it("reports the data version and date from the package's version", () => {
    assert.match(COUNTRY_DATA_VERSION, /^\d+\.\d+\.\d{12}$/);
    assert.equal(COUNTRY_DATA_DATE, `${COUNTRY_DATA_VERSION.slice(-12, -8)}-${COUNTRY_DATA_VERSION.slice(-8, -6)}-${COUNTRY_DATA_VERSION.slice(-6, -4)}`);
    assert.equal(COUNTRY_DATA_DATE, '2026-09-26');
  });
});
