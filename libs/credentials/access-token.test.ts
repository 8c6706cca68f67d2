import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import type { ClientRecord } from '#clients';
import { AccessTokenVerifier } from './access-token.js';
import type { RevocationList } from './revocation-list.js';

const ISSUER = 'https://tollgate.example.test';

async function setup() {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' }] };
  const revoked = new Set<string>();
  let status: ClientRecord['status'] = 'active';
  let lookups = 0;
  const verifier = new AccessTokenVerifier(
    ISSUER,
    0,
    () => jwks,
    { has: (jti: string) => revoked.has(jti) } as unknown as RevocationList,
    async () => {
      lookups++;
      return { clientId: 'c1', status } as ClientRecord;
    },
  );
  const token = (claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}, key = privateKey) => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ iss: ISSUER, client_id: 'c1', sub: 'c1', aud: 'https://api.example.test/', jti: `j-${Math.random()}`, iat: now, exp: now + 60, ...claims })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'k1', ...header })
      .sign(key);
  };
  return { verifier, token, revoked, setStatus: (s: ClientRecord['status']) => (status = s), lookups: () => lookups };
}

describe('access tokens (RFC 9068), verified once and remembered until they expire', () => {
  it('refuses what is not ours: another key, another issuer, another typ, missing claims, alg none', async () => {
    const { verifier, token } = await setup();
    const stranger = (await generateKeyPair('ES256')).privateKey;
    for (const t of [
      await token({}, {}, stranger),
      await token({ iss: 'https://other.example' }),
      await token({}, { typ: 'JWT' }),
      await token({ client_id: undefined }),
      await token({ jti: undefined }),
      await token({ aud: undefined }),
      `${Buffer.from('{"alg":"none","typ":"at+jwt"}').toString('base64url')}.${Buffer.from('{}').toString('base64url')}.`,
    ]) {
      assert.deepEqual(await verifier.verify(t), { active: false, reason: 'malformed' });
    }
    assert.equal((await verifier.verify(await token({}, { typ: 'application/AT+JWT' }))).active, true, 'RFC 8725 §3.11 spelling');
  });

  it('revocation and the client status still count on every call after the first', async () => {
    const { verifier, token, revoked, setStatus, lookups } = await setup();
    const t = await token({ jti: 'j-revoke' });
    assert.equal((await verifier.verify(t)).active, true);
    assert.equal((await verifier.verify(t)).active, true);
    assert.equal(lookups(), 2, 'the client is looked up (from its cache) each time');
    setStatus('suspended');
    assert.deepEqual(await verifier.verify(t), { active: false, reason: 'client_inactive' });
    setStatus('active');
    revoked.add('j-revoke');
    assert.deepEqual(await verifier.verify(t), { active: false, reason: 'revoked' });
  });

  it('a remembered token expires at its exp (real clock)', async () => {
    const { verifier, token } = await setup();
    const now = Math.floor(Date.now() / 1000);
    const t = await token({ exp: now + 2 });
    assert.equal((await verifier.verify(t)).active, true);
    await sleep(3100 - (Date.now() - now * 1000));
    assert.deepEqual(await verifier.verify(t), { active: false, reason: 'expired' });
    assert.equal((await verifier.verify(t, { ignoreExpiry: true })).active, true, 'revocation (RFC 7009) still reads expired tokens');
  });
});
