import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { addressAllowed, destinationOf } from './egress-policy.js';
import { EgressRefused, egressUrlProblem, parseEgressAllow, type EgressPolicy } from './index.js';

const none: EgressPolicy = { allow: [] };

const reasonOf = (url: string, policy: EgressPolicy = none) => {
  try {
    destinationOf(url, policy);
    return undefined;
  } catch (error) {
    assert.ok(error instanceof EgressRefused);
    return error.reason;
  }
};

describe('egressUrlProblem: registration-time URL rules (no DNS)', () => {
  const refused: [string, string][] = [
    ['http://keys.example.com/jwks', 'not_https'],
    ['ftp://keys.example.com/jwks', 'not_https'],
    ['not a url', 'bad_url'],
    ['https://user:pass@keys.example.com/jwks', 'bad_url'],
    ['https://user@keys.example.com/jwks', 'bad_url'],
    ['https://127.0.0.1:6379/', 'address_not_allowed'], // Redis
    ['https://127.0.0.1:5432/', 'address_not_allowed'],
    ['https://2130706433/', 'address_not_allowed'], // 127.0.0.1 spelled as a number
    ['https://0x7f.1/', 'address_not_allowed'],
    ['https://0.0.0.0/', 'address_not_allowed'],
    ['https://[::1]/', 'address_not_allowed'],
    ['https://[::]/', 'address_not_allowed'],
    ['https://10.0.0.1/', 'address_not_allowed'],
    ['https://172.16.5.4/', 'address_not_allowed'],
    ['https://192.168.1.1/', 'address_not_allowed'],
    ['https://169.254.169.254/latest/meta-data/', 'address_not_allowed'], // AWS/GCP/Azure metadata
    ['https://100.100.100.200/', 'address_not_allowed'], // CGNAT range, Alibaba metadata
    ['https://224.0.0.1/', 'address_not_allowed'],
    ['https://255.255.255.255/', 'address_not_allowed'],
    ['https://192.0.2.10/', 'address_not_allowed'], // documentation
    ['https://240.0.0.1/', 'address_not_allowed'],
    ['https://[fd00:ec2::254]/', 'address_not_allowed'], // AWS IPv6 metadata, unique-local
    ['https://[fe80::1]/', 'address_not_allowed'],
    ['https://[ff02::1]/', 'address_not_allowed'],
    ['https://[::ffff:127.0.0.1]/', 'address_not_allowed'], // IPv4-mapped
    ['https://[::ffff:169.254.169.254]/', 'address_not_allowed'],
    ['https://[::127.0.0.1]/', 'address_not_allowed'], // IPv4-compatible
    ['https://[64:ff9b::10.0.0.1]/', 'address_not_allowed'], // NAT64 of a private address
    ['https://[2002:7f00:1::]/', 'address_not_allowed'], // 6to4
    ['https://[2001:0:4136:e378::1]/', 'address_not_allowed'], // Teredo
    ['https://[2001:db8::1]/', 'address_not_allowed'], // documentation
    ['https://[100::1]/', 'address_not_allowed'], // discard
    ['https://[4000::1]/', 'address_not_allowed'], // outside 2000::/3
    ['https://localhost/', 'address_not_allowed'],
    ['https://LOCALHOST./', 'address_not_allowed'],
    ['https://foo.localhost:8443/', 'address_not_allowed'],
    ['https://metadata.google.internal/computeMetadata/v1/', 'address_not_allowed'],
    ['https://metadata/', 'address_not_allowed'],
    ['https://instance-data/', 'address_not_allowed'],
  ];
  for (const [url, reason] of refused) {
    it(`refuses ${url} (${reason})`, () => {
      assert.equal(reasonOf(url), reason);
      assert.equal(typeof egressUrlProblem(url, none), 'string');
    });
  }

  const accepted = [
    'https://keys.example.com/.well-known/jwks.json',
    'https://keys.example.com:8443/jwks?tenant=a#frag',
    'https://8.8.8.8/jwks',
    'https://[2606:4700:4700::1111]/jwks',
    'https://[::ffff:8.8.8.8]/jwks', // mapped, judged by its IPv4
    'https://[64:ff9b::808:808]/jwks', // NAT64 of 8.8.8.8
  ];
  for (const url of accepted) {
    it(`accepts ${url}`, () => assert.equal(egressUrlProblem(url, none), undefined));
  }

  it('names the host and the reason, briefly', () => {
    assert.equal(egressUrlProblem('https://127.0.0.1:6379/', none), '127.0.0.1 is not a public address (loopback)');
    assert.equal(egressUrlProblem('https://metadata.google.internal/', none), 'metadata.google.internal is a cloud metadata service');
    assert.equal(egressUrlProblem('http://x.example/', none), 'must use https');
  });

  it('admits what the operator allows, by CIDR or by name, and nothing next to it', () => {
    const policy: EgressPolicy = { allow: parseEgressAllow('127.0.0.1/32, 10.0.0.0/8, ::1/128, metadata, fd00:ec2::/32') };
    assert.equal(egressUrlProblem('https://127.0.0.1:6379/', policy), undefined);
    assert.equal(egressUrlProblem('https://[::ffff:127.0.0.1]/', policy), undefined);
    assert.equal(egressUrlProblem('https://10.20.30.40/', policy), undefined);
    assert.equal(egressUrlProblem('https://[::1]/', policy), undefined);
    assert.equal(egressUrlProblem('https://[fd00:ec2::254]/', policy), undefined);
    assert.equal(egressUrlProblem('https://metadata/', policy), undefined);
    assert.equal(egressUrlProblem('https://localhost:8443/', policy), undefined); // RFC 6761 §6.3: loopback
    assert.equal(reasonOf('https://127.0.0.2/', policy), 'address_not_allowed');
    assert.equal(reasonOf('https://192.168.0.1/', policy), 'address_not_allowed');
    assert.equal(reasonOf('https://metadata.google.internal/', policy), 'address_not_allowed');
  });

  it('admits an allowed host name whatever it is', () => {
    const policy: EgressPolicy = { allow: ['keys.internal', 'localhost'] };
    assert.equal(destinationOf('https://KEYS.internal./jwks', policy).allowedByName, true);
    assert.equal(destinationOf('https://localhost/jwks', policy).allowedByName, true);
    assert.equal(destinationOf('https://other.internal/jwks', policy).allowedByName, false);
  });
});

describe('addressAllowed: the rule for resolved addresses', () => {
  it('admits global unicast only, unless allowed', () => {
    for (const ip of ['8.8.8.8', '1.1.1.1', '2606:4700:4700::1111', '::ffff:8.8.8.8']) assert.equal(addressAllowed(ip, none), true, ip);
    for (const ip of ['127.0.0.1', '10.1.2.3', '169.254.169.254', '100.64.0.1', '::1', 'fd00:ec2::254', 'fe80::1', '::ffff:10.0.0.1', '64:ff9b::7f00:1', 'not-an-ip', '']) {
      assert.equal(addressAllowed(ip, none), false, ip);
    }
    assert.equal(addressAllowed('10.1.2.3', { allow: ['10.0.0.0/8'] }), true);
    assert.equal(addressAllowed('::ffff:10.1.2.3', { allow: ['10.0.0.0/8'] }), true);
    assert.equal(addressAllowed('11.0.0.1', { allow: ['10.0.0.0/8'] }), true); // public anyway
    assert.equal(addressAllowed('172.16.0.1', { allow: ['10.0.0.0/8', 'keys.internal'] }), false);
    assert.equal(addressAllowed('127.0.0.1', { allow: ['bad/entry', '10.0.0.0/8'] }), false);
  });
});

describe('parseEgressAllow', () => {
  it('normalises names, CIDRs and bare addresses, and skips empty items', () => {
    assert.deepEqual(parseEgressAllow('keys.internal, 10.0.0.0/8, ::1/128'), ['keys.internal', '10.0.0.0/8', '::1/128']);
    assert.deepEqual(parseEgressAllow(' Keys.Internal. ,10.1.2.3/8,, 127.0.0.1, ::1 ,[fd00::1], ::ffff:10.0.0.0/104,'), [
      'keys.internal',
      '10.0.0.0/8',
      '127.0.0.1/32',
      '::1/128',
      'fd00::1/128',
    ]);
    assert.deepEqual(parseEgressAllow(''), []);
    assert.deepEqual(parseEgressAllow('bücher.example'), ['xn--bcher-kva.example']);
  });

  for (const bad of ['10.0.0.0/33', '10/8', '010.0.0.0/8', '::1/129', '*.example.com', 'https://keys.example', 'keys example', '-bad.example', '127.1', '1.2.3.4.5', 'fe80::1%eth0', 'a'.repeat(64) + '.example']) {
    it(`refuses ${JSON.stringify(bad)}`, () => {
      assert.throws(() => parseEgressAllow(`keys.internal, ${bad}`), (error: Error) => error.message.includes(JSON.stringify(bad.trim())));
    });
  }
});
