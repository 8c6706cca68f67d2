import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { matchRoute, normalizePath, routeKey, scopeSetKey } from './route-path.js';
import type { RouteRule } from './types.js';

describe('normalizePath', () => {
  it('keeps a plain path and drops query and fragment', () => {
    assert.equal(normalizePath('/orders/42'), '/orders/42');
    assert.equal(normalizePath('/orders/42?x=/admin#frag'), '/orders/42');
    assert.equal(normalizePath('/a#b?c'), '/a');
    assert.equal(normalizePath('/'), '/');
  });

  it('resolves dot segments (RFC 3986 §5.2.4)', () => {
    assert.equal(normalizePath('/a/../admin'), '/admin');
    assert.equal(normalizePath('/a/./b/../../admin/x'), '/admin/x');
    assert.equal(normalizePath('/../../admin'), '/admin');
    assert.equal(normalizePath('/a/..'), '/');
    assert.equal(normalizePath('/a/.'), '/a/');
    assert.equal(normalizePath('/a/b/..'), '/a/');
  });

  it('resolves encoded dot segments', () => {
    assert.equal(normalizePath('/%2e%2e/admin'), '/admin');
    assert.equal(normalizePath('/x/%2E%2e/admin'), '/admin');
    assert.equal(normalizePath('/x/.%2e/admin'), '/admin');
    assert.equal(normalizePath('/x/%2e/admin'), '/x/admin');
  });

  it('collapses repeated slashes', () => {
    assert.equal(normalizePath('//admin'), '/admin');
    assert.equal(normalizePath('/a//b///c'), '/a/b/c');
    assert.equal(normalizePath('/a/..//admin'), '/admin');
  });

  it('decodes unreserved characters and upper-cases other escapes (§2.3, §6.2.2)', () => {
    assert.equal(normalizePath('/%61dmin'), '/admin');
    assert.equal(normalizePath('/%7Euser/%2D%5F'), '/~user/-_');
    assert.equal(normalizePath('/a%3ab'), '/a%3Ab');
    assert.equal(normalizePath('/a%20b'), '/a%20b');
    assert.equal(normalizePath('/caf%c3%a9'), '/caf%C3%A9');
  });

  it('does not decode twice: %25 stays an escape', () => {
    assert.equal(normalizePath('/%252e%252e/admin'), '/%252e%252e/admin');
    assert.equal(normalizePath('/%252f'), '/%252f');
  });

  it('encodes characters that may not appear raw, so both spellings are one path', () => {
    assert.equal(normalizePath('/café'), '/caf%C3%A9');
    assert.equal(normalizePath('/a"b'), '/a%22b');
    assert.equal(normalizePath('/😀'), '/%F0%9F%98%80');
  });

  it('keeps case (paths are case-sensitive)', () => {
    assert.equal(normalizePath('/ADMIN'), '/ADMIN');
  });

  it('refuses encoded slashes and backslashes', () => {
    for (const p of ['/admin%2fx', '/admin%2Fx', '/a%5cb', '/a%5Cb', '/a\\b', '/..\\admin']) assert.equal(normalizePath(p), undefined, p);
  });

  it('refuses NUL and control characters, raw or encoded', () => {
    for (const p of ['/a%00b', '/a\u0000b', '/a%0ab', '/a\nb', '/a\tb', '/a%7f', '/a\u007f', '/a b']) assert.equal(normalizePath(p), undefined, JSON.stringify(p));
  });

  it('refuses malformed escapes and targets that are not paths', () => {
    for (const p of ['/a%', '/a%2', '/a%zz', '', '*', 'admin', '?x', 'x'.repeat(9000)]) assert.equal(normalizePath(p), undefined, p.slice(0, 20));
  });

  it('refuses dot segments with parameters (servlet containers strip them: /x/..;/admin)', () => {
    assert.equal(normalizePath('/public/..;/admin'), undefined);
    assert.equal(normalizePath('/public/.;x/admin'), undefined);
    assert.equal(normalizePath('/public/%2e%2e;/admin'), undefined);
    assert.equal(normalizePath('/a;v=1/b'), '/a;v=1/b');
  });

  it('reads an absolute-form target as its path', () => {
    assert.equal(normalizePath('https://api.example.com/a/../admin?x'), '/admin');
    assert.equal(normalizePath('https://api.example.com'), '/');
  });
});

describe('matchRoute', () => {
  const rules: RouteRule[] = [
    { methods: ['DELETE'], path: '/orders/**', scopes: ['orders:delete'] },
    { path: '/orders/*' },
    { path: '/admin/**', acr: 'urn:tollgate:acr:attested' },
  ];

  it('returns the first rule whose method and glob match', () => {
    assert.equal(matchRoute(rules, 'DELETE', '/orders/1'), rules[0]);
    assert.equal(matchRoute(rules, 'GET', '/orders/1'), rules[1]);
    assert.equal(matchRoute(rules, 'GET', '/admin/users/1'), rules[2]);
  });

  it('compares methods upper-case; no methods = every method', () => {
    assert.equal(matchRoute(rules, 'delete', '/orders/1'), rules[0]);
    assert.equal(matchRoute([{ path: '/x', methods: [] }], 'PATCH', '/x')?.path, '/x');
  });

  it('returns undefined when nothing matches', () => {
    assert.equal(matchRoute(rules, 'GET', '/orders/1/items'), undefined);
    assert.equal(matchRoute(rules, 'GET', '/public'), undefined);
    assert.equal(matchRoute([], 'GET', '/x'), undefined);
    assert.equal(matchRoute(undefined, 'GET', '/x'), undefined);
  });

  it('matches dot files (dot: true) and is case-sensitive', () => {
    assert.equal(matchRoute(rules, 'GET', '/admin/.env'), rules[2]);
    assert.equal(matchRoute(rules, 'GET', '/ADMIN/x'), undefined);
  });

  it('cannot be dodged once the path is normalised', () => {
    for (const raw of ['/x/../admin/users', '/%2e%2e/admin/users', '//admin/users', '/%61dmin/users']) {
      assert.equal(matchRoute(rules, 'GET', normalizePath(raw)!), rules[2], raw);
    }
  });

  it('reuses the compiled matcher for the same rule object', () => {
    const rule: RouteRule = { path: '/a/*' };
    assert.equal(matchRoute([rule], 'GET', '/a/b'), rule);
    (rule as { path: string }).path = '/zzz'; // frozen in real use; shows the matcher was cached
    assert.equal(matchRoute([rule], 'GET', '/a/b'), rule);
  });
});

describe('routeKey and scopeSetKey', () => {
  it('names a route by method and path with id-like segments as *', () => {
    assert.equal(routeKey('get', '/orders/8812/items'), 'GET /orders/*/items');
    assert.equal(routeKey('GET', '/u/3f2504e0-4f89-11d3-9a0c-0305e82c3301'), 'GET /u/*');
    assert.equal(routeKey('GET', '/blob/0123456789abcdef0123'), 'GET /blob/*');
    assert.equal(routeKey('GET', '/reset/Zx9kQ2mP7rT4vW1yB6nC'), 'GET /reset/*');
    assert.equal(routeKey('GET', '/orders/pending'), 'GET /orders/pending');
    assert.equal(routeKey('GET', '/' + 'a/'.repeat(200)).length, 256);
  });

  it('makes one key of a scope set whatever the order and repeats', () => {
    assert.equal(scopeSetKey(['b', 'a', 'b']), 'a b');
    assert.equal(scopeSetKey([]), '');
  });
});
