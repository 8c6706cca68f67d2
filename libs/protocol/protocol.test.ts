import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { endpointOf, protectedResourceMetadataUrl } from './protocol.js';

describe('protectedResourceMetadataUrl (RFC 9728 §3.1)', () => {
  it('inserts the well-known path between the host and the path, a terminating slash removed', () => {
    const cases: [string, string][] = [
      ['https://api.example/', 'https://api.example/.well-known/oauth-protected-resource'],
      ['https://api.example', 'https://api.example/.well-known/oauth-protected-resource'],
      ['https://api.example:8443/billing', 'https://api.example:8443/.well-known/oauth-protected-resource/billing'],
      ['https://api.example/billing/', 'https://api.example/.well-known/oauth-protected-resource/billing'],
      ['http://127.0.0.1:8080/a/b', 'http://127.0.0.1:8080/.well-known/oauth-protected-resource/a/b'],
    ];
    for (const [resource, url] of cases) assert.equal(protectedResourceMetadataUrl(new URL(resource)), url, resource);
  });
});

describe('endpointOf', () => {
  it('classes the AuthZEN evaluation endpoints as authzen', () => {
    assert.equal(endpointOf('/access/v1/evaluation'), 'authzen');
    assert.equal(endpointOf('/access/v1/evaluations?x=1'), 'authzen');
    assert.equal(endpointOf('/access/v1/search/subject'), 'other');
  });
});
