import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { authError, parseWwwAuthenticate } from './www-authenticate.js';

describe('WWW-Authenticate parsing (RFC 9110 §11.6.1)', () => {
  it('reads Tollgate’s step-up challenge: quoted strings with commas, max_age unquoted (RFC 9470 §3)', () => {
    const header =
      'DPoP algs="ES256 EdDSA PS256", error="insufficient_user_authentication", ' +
      'error_description="this call needs urn:tollgate:acr:live, proven within 300 s", acr_values="urn:tollgate:acr:live", max_age=300';
    assert.deepEqual(parseWwwAuthenticate(header), [
      {
        scheme: 'DPoP',
        params: {
          algs: 'ES256 EdDSA PS256',
          error: 'insufficient_user_authentication',
          error_description: 'this call needs urn:tollgate:acr:live, proven within 300 s',
          acr_values: 'urn:tollgate:acr:live',
          max_age: '300',
        },
      },
    ]);
    assert.deepEqual(authError(header), {
      scheme: 'DPoP',
      error: 'insufficient_user_authentication',
      errorDescription: 'this call needs urn:tollgate:acr:live, proven within 300 s',
      acrValues: 'urn:tollgate:acr:live',
      maxAge: 300,
    });
  });

  it('separates several challenges, and prefers the DPoP one', () => {
    const header = 'Bearer realm="api", error="invalid_token", Basic abc==, DPoP algs="ES256", error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof"';
    const challenges = parseWwwAuthenticate(header);
    assert.deepEqual(challenges.map((c) => c.scheme), ['Bearer', 'Basic', 'DPoP']);
    assert.deepEqual(challenges[0]!.params, { realm: 'api', error: 'invalid_token' });
    assert.equal(challenges[1]!.token68, 'abc==');
    assert.equal(authError(header)?.error, 'use_dpop_nonce');
    assert.equal(authError(header)?.scheme, 'DPoP');
  });

  it('unescapes quoted-pairs, lower-cases parameter names, tolerates odd spacing and empty list elements', () => {
    const [challenge] = parseWwwAuthenticate('dpop ERROR = "invalid_token" ,, error_description="a \\"quoted\\" \\\\ word",');
    assert.equal(challenge!.scheme, 'dpop');
    assert.deepEqual(challenge!.params, { error: 'invalid_token', error_description: 'a "quoted" \\ word' });
    assert.equal(authError('dpop error="invalid_token"')?.scheme, 'dpop');
  });

  it('reads schemes without parameters, and headers joined by fetch', () => {
    assert.deepEqual(parseWwwAuthenticate('Negotiate, DPoP algs="ES256"').map((c) => c.scheme), ['Negotiate', 'DPoP']);
    assert.deepEqual(parseWwwAuthenticate('DPoP'), [{ scheme: 'DPoP', params: {} }]);
  });

  it('has no error for empty or error-less headers, and ignores a malformed max_age', () => {
    assert.deepEqual(parseWwwAuthenticate(null), []);
    assert.deepEqual(parseWwwAuthenticate(''), []);
    assert.equal(authError('DPoP algs="ES256"'), undefined);
    assert.equal(authError('DPoP error="insufficient_user_authentication", max_age="soon"')?.maxAge, undefined);
    assert.equal(authError('DPoP error="insufficient_user_authentication", max_age="60"')?.maxAge, 60);
  });
});
