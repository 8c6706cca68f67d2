import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { inNetworks, networkOf } from './network.js';

describe('inNetworks', () => {
  const nets = ['10.0.0.0/8', '192.168.1.0/24', '2001:db8::/32'];

  it('matches IPv4 and IPv6 addresses inside a range', () => {
    assert.equal(inNetworks('10.200.3.4', nets), true);
    assert.equal(inNetworks('192.168.1.255', nets), true);
    assert.equal(inNetworks('2001:db8:ffff::1', nets), true);
  });

  it('refuses addresses outside every range', () => {
    assert.equal(inNetworks('11.0.0.1', nets), false);
    assert.equal(inNetworks('192.168.2.1', nets), false);
    assert.equal(inNetworks('2001:db9::1', nets), false);
  });

  it('treats an IPv4-mapped IPv6 address as IPv4', () => {
    assert.equal(inNetworks('::ffff:10.1.2.3', nets), true);
    assert.equal(inNetworks('::ffff:11.1.2.3', nets), false);
    assert.equal(inNetworks('10.1.2.3', ['::ffff:10.0.0.0/104']), true);
  });

  it('never matches an IPv4 address against an IPv6 range or the reverse', () => {
    assert.equal(inNetworks('10.0.0.1', ['::/0']), false);
    assert.equal(inNetworks('::1', ['0.0.0.0/0']), false);
  });

  it('refuses unparsable or non-canonical addresses and an empty list', () => {
    for (const ip of ['', 'x', '10.0.0', '10.1', '0x0a.0.0.1', '010.0.0.1', '10.0.0.1/8', '10.0.0.256']) assert.equal(inNetworks(ip, nets), false, ip);
    assert.equal(inNetworks('10.0.0.1', []), false);
  });

  it('ignores unparsable ranges rather than matching everything', () => {
    assert.equal(inNetworks('10.0.0.1', ['nonsense', '10/8']), false);
    assert.equal(inNetworks('10.0.0.1', ['nonsense', '10.0.0.0/8']), true);
  });
});

describe('networkOf', () => {
  it('is the /24 of an IPv4 address', () => {
    assert.equal(networkOf('203.0.113.77'), '203.0.113.0/24');
  });

  it('is the /48 of an IPv6 address', () => {
    assert.equal(networkOf('2001:db8:1:2:3::4'), '2001:db8:1::/48');
    assert.equal(networkOf('2001:DB8:0001::1'), '2001:db8:1::/48');
    assert.equal(networkOf('fe80::1%eth0'), 'fe80::/48');
  });

  it('is the IPv4 /24 for an IPv4-mapped IPv6 address', () => {
    assert.equal(networkOf('::ffff:203.0.113.77'), '203.0.113.0/24');
  });

  it('is undefined for an invalid ip', () => {
    for (const ip of ['', 'localhost', '1.2.3', '1.2.3.4.5', '::g']) assert.equal(networkOf(ip), undefined, ip);
  });
});
