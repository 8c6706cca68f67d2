import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clientIp, describedCall, GatewayRequestError, originalCall } from './gateway-request.js';

describe('the original call, as each gateway family describes it', () => {
  it('NGINX auth_request with X-Original-URL keeps the raw target for route matching', () => {
    const call = originalCall('GET', '/check', { 'x-original-method': 'POST', 'x-original-url': 'https://api.example.test/a/../admin?x=1' }, 'https');
    assert.equal(call.family, 'nginx');
    assert.equal(call.method, 'POST');
    assert.equal(call.url.href, 'https://api.example.test/admin?x=1');
    assert.equal(call.target, '/a/../admin?x=1');
  });

  it('NGINX auth_request with X-Original-URI takes the host from Host', () => {
    const call = originalCall('GET', '/check', { 'x-original-method': 'GET', 'x-original-uri': '/orders/1', host: 'api.example.test' }, 'https');
    assert.equal(call.url.href, 'https://api.example.test/orders/1');
    assert.equal(call.target, '/orders/1');
  });

  it('Traefik/Caddy forward_auth with X-Forwarded-*', () => {
    const call = originalCall('GET', '/check', {
      'x-forwarded-method': 'DELETE',
      'x-forwarded-proto': 'http',
      'x-forwarded-host': 'api.example.test:8080',
      'x-forwarded-uri': '/orders/1?force=1',
    }, 'https');
    assert.equal(call.family, 'forward_auth');
    assert.equal(call.method, 'DELETE');
    assert.equal(call.url.href, 'http://api.example.test:8080/orders/1?force=1');
  });

  it('Envoy ext_authz: the original path after /check, the original method and Host', () => {
    const call = originalCall('PUT', '/check/orders/7', { host: 'api.example.test', 'x-forwarded-proto': 'https' }, 'http');
    assert.equal(call.family, 'envoy');
    assert.equal(call.method, 'PUT');
    assert.equal(call.url.href, 'https://api.example.test/orders/7');
  });

  it('refuses both families when they disagree (the client may have sent one of them)', () => {
    assert.throws(
      () => originalCall('GET', '/check', {
        'x-original-method': 'GET',
        'x-original-url': 'https://api.example.test/public',
        'x-forwarded-method': 'GET',
        'x-forwarded-host': 'api.example.test',
        'x-forwarded-uri': '/admin',
      }, 'https'),
      GatewayRequestError,
    );
  });

  it('accepts both families when they describe the same call', () => {
    const call = originalCall('GET', '/check', {
      'x-original-method': 'GET',
      'x-original-url': 'https://api.example.test/a',
      'x-forwarded-method': 'GET',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'api.example.test',
      'x-forwarded-uri': '/a',
    }, 'https');
    assert.equal(call.family, 'nginx');
  });

  it('refuses missing or malformed descriptions', () => {
    for (const headers of [
      {},
      { 'x-original-url': 'https://api.example.test/a' },
      { 'x-original-method': 'GET', 'x-original-url': 'ftp://x/a' },
      { 'x-original-method': 'GET', 'x-original-uri': 'no-slash', host: 'h' },
      { 'x-forwarded-method': 'GET', 'x-forwarded-uri': '/a' },
      { 'x-original-method': ['GET', 'POST'], 'x-original-url': 'https://a/b' },
    ]) {
      assert.throws(() => originalCall('GET', '/check', headers as never, 'https'), GatewayRequestError, JSON.stringify(headers));
    }
  });
});

describe('the caller address', () => {
  it('prefers X-Real-IP, else the last X-Forwarded-For entry (the one the gateway appended)', () => {
    assert.equal(clientIp({ 'x-real-ip': '203.0.113.9', 'x-forwarded-for': '1.1.1.1' }), '203.0.113.9');
    assert.equal(clientIp({ 'x-forwarded-for': '6.6.6.6, 198.51.100.7' }), '198.51.100.7');
    assert.equal(clientIp({}), undefined);
  });
});

describe('the original call as Envoy ext_authz over gRPC describes it (attributes.request.http)', () => {
  it('builds the URL from scheme, host and path (query included), keeping the raw target', () => {
    const call = describedCall({ method: 'post', scheme: 'https', host: 'api.example.test:8443', path: '/a/../admin?x=1', ip: '203.0.113.9' }, 'http');
    assert.equal(call.family, 'envoy_grpc');
    assert.equal(call.method, 'POST');
    assert.equal(call.url.href, 'https://api.example.test:8443/admin?x=1');
    assert.equal(call.target, '/a/../admin?x=1');
    assert.equal(call.ip, '203.0.113.9');
    assert.equal(describedCall({ method: 'GET', host: 'h', path: '/' }, 'https').url.protocol, 'https:', 'the default scheme');
  });

  it('refuses a call it cannot describe', () => {
    for (const parts of [{ method: '', host: 'h', path: '/' }, { method: 'GET', path: '/' }, { method: 'GET', host: 'h', path: 'x' }, { method: 'GET', host: 'h', path: '/', scheme: 'ftp' }]) {
      assert.throws(() => describedCall(parts, 'https'), GatewayRequestError, JSON.stringify(parts));
    }
  });
});
