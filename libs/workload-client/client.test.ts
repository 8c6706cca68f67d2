import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeJwt, decodeProtectedHeader, generateKeyPair } from 'jose';
import { StepUpError, TokenError } from './errors.js';
import { accessTokenHash } from './dpop.js';
import { signerFromCryptoKey } from './jws.js';
import { SoftwareAuthenticator } from './software-authenticator.js';
import { WorkloadClient, type WorkloadClientOptions } from './client.js';

const ISSUER = 'https://tollgate.example.test';
const API = 'https://api.example.test/';

interface Seen {
  url: string;
  method: string;
  headers: Headers;
  form: URLSearchParams;
  body: string | undefined;
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });

/** A scripted stand-in for the network: answers in order, records what was sent. */
function network(...answers: ((seen: Seen) => Response | Promise<Response>)[]) {
  const seen: Seen[] = [];
  const fetch = async (input: Parameters<typeof globalThis.fetch>[0], init: RequestInit = {}) => {
    const raw = init.body;
    const body = typeof raw === 'string' ? raw : raw instanceof Uint8Array || raw instanceof ArrayBuffer ? Buffer.from(raw as Uint8Array).toString() : undefined;
    const request: Seen = { url: String(input), method: init.method ?? 'GET', headers: new Headers(init.headers), form: new URLSearchParams(body ?? ''), body };
    seen.push(request);
    const answer = answers.shift();
    if (!answer) throw new Error(`unexpected request ${request.method} ${request.url}`);
    return answer(request);
  };
  return { seen, fetch: fetch as typeof globalThis.fetch };
}

const tokenResponse = (access_token: string, expires_in = 300) => () => json(200, { access_token, token_type: 'DPoP', expires_in });

async function client(fetch: typeof globalThis.fetch, options: Partial<WorkloadClientOptions> = {}) {
  const { privateKey } = await generateKeyPair('ES256');
  return new WorkloadClient({ issuer: `${ISSUER}/`, clientId: 'wl_1', clientKey: signerFromCryptoKey(privateKey, 'ES256', 'k1'), resource: API, fetch, ...options });
}

const proofOf = (seen: Seen) => decodeJwt(seen.headers.get('dpop')!);
const assertionOf = (seen: Seen) => decodeJwt(seen.form.get('client_assertion')!);

describe('WorkloadClient', () => {
  it('gets a client_credentials token with private_key_jwt and DPoP, retrying once with a DPoP-Nonce', async () => {
    const net = network(() => json(400, { error: 'use_dpop_nonce' }, { 'DPoP-Nonce': 'server-nonce' }), tokenResponse('t1'));
    const wc = await client(net.fetch, { scope: 'orders:read' });
    assert.equal(await wc.token(), 't1');
    const [first, second] = net.seen;
    assert.equal(first!.url, `${ISSUER}/oauth/token`);
    assert.equal(first!.headers.get('content-type'), 'application/x-www-form-urlencoded');
    assert.equal(first!.form.get('grant_type'), 'client_credentials');
    assert.equal(first!.form.get('client_assertion_type'), 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
    assert.equal(first!.form.get('resource'), API);
    assert.equal(first!.form.get('scope'), 'orders:read');
    assert.deepEqual(decodeProtectedHeader(first!.form.get('client_assertion')!), { alg: 'ES256', kid: 'k1' });
    assert.equal(assertionOf(first!).aud, ISSUER);
    assert.equal(assertionOf(first!).nonce, undefined);
    assert.equal(proofOf(first!).nonce, undefined);
    assert.equal(proofOf(second!).nonce, 'server-nonce');
    assert.equal(proofOf(second!).htu, `${ISSUER}/oauth/token`);
    assert.notEqual(assertionOf(first!).jti, assertionOf(second!).jti);
  });

  it('caches per resource and scope, shares one request among concurrent callers, renews near expiry', async () => {
    const net = network(tokenResponse('t1'), tokenResponse('t2'), tokenResponse('t3', 10), tokenResponse('t4'));
    const wc = await client(net.fetch);
    assert.deepEqual(await Promise.all([wc.token(), wc.token(), wc.token()]), ['t1', 't1', 't1']);
    assert.equal(await wc.token({ scope: 'orders:write' }), 't2');
    assert.equal(await wc.token(), 't1');
    assert.equal(await wc.token({ resource: 'https://other.example.test/' }), 't3');
    // expires_in 10 < renewBeforeSeconds 30: renewed on the next call.
    assert.equal(await wc.token({ resource: 'https://other.example.test/' }), 't4');
    assert.equal(net.seen.length, 4);
  });

  it('throws TokenError with the OAuth error, and nothing secret in the message', async () => {
    const net = network(() => json(401, { error: 'invalid_client', error_description: 'client authentication failed' }));
    const wc = await client(net.fetch);
    const error = await wc.token().catch((e: unknown) => e);
    assert.ok(error instanceof TokenError);
    assert.equal(error.status, 401);
    assert.equal(error.error, 'invalid_client');
    assert.equal(error.error_description, 'client authentication failed');
    assert.ok(!error.message.includes(net.seen[0]!.form.get('client_assertion')!));
  });

  it('steps up when the token endpoint asks, answering with the challenge nonce and a WebAuthn assertion', async () => {
    const authenticator = new SoftwareAuthenticator();
    const registration = await authenticator.register(
      { rp: { id: 'tollgate.example.test', name: 'Tollgate' }, user: { id: 'd2xfMQ', name: 'wl_1', displayName: 'wl_1' }, challenge: 'c', pubKeyCredParams: [{ type: 'public-key', alg: -7 }] },
      ISSUER,
    );
    const challenge = {
      challenge_id: 'ch1',
      nonce: 'challenge-nonce',
      expires_in: 120,
      acr_values: 'urn:tollgate:acr:attested',
      methods: ['private_key_jwt', 'dpop', 'webauthn'],
      webauthn: { challenge: 'challenge-nonce', rpId: 'tollgate.example.test', allowCredentials: [{ id: registration.id, type: 'public-key' }], userVerification: 'discouraged' },
    };
    const net = network(
      () =>
        json(401, { error: 'insufficient_user_authentication', acr_values: 'urn:tollgate:acr:attested', max_age: 300 }, {
          'WWW-Authenticate': 'DPoP error="insufficient_user_authentication", acr_values="urn:tollgate:acr:attested", max_age=300',
          'DPoP-Nonce': 'server-nonce',
        }),
      () => json(201, challenge),
      tokenResponse('stepped'),
    );
    const wc = await client(net.fetch, { authenticator });
    assert.equal(await wc.token(), 'stepped');
    assert.equal(await wc.token(), 'stepped'); // cached
    const [, challengeRequest, grant] = net.seen;
    assert.equal(challengeRequest!.url, `${ISSUER}/step-up/challenges`);
    assert.equal(challengeRequest!.form.get('acr_values'), 'urn:tollgate:acr:attested');
    assert.equal(proofOf(challengeRequest!).htu, `${ISSUER}/step-up/challenges`);
    assert.equal(proofOf(challengeRequest!).nonce, 'server-nonce');
    assert.equal(grant!.form.get('grant_type'), 'urn:tollgate:params:oauth:grant-type:step-up');
    assert.equal(grant!.form.get('challenge_id'), 'ch1');
    assert.equal(grant!.form.get('resource'), API);
    assert.equal(assertionOf(grant!).nonce, 'challenge-nonce');
    assert.equal(proofOf(grant!).nonce, 'challenge-nonce');
    assert.equal(decodeProtectedHeader(grant!.headers.get('dpop')!).jwk!.x, decodeProtectedHeader(challengeRequest!.headers.get('dpop')!).jwk!.x);
    const webauthn = JSON.parse(grant!.form.get('webauthn_response')!);
    assert.equal(webauthn.id, registration.id);
    const clientData = JSON.parse(Buffer.from(webauthn.response.clientDataJSON, 'base64url').toString());
    assert.equal(clientData.challenge, 'challenge-nonce');
    assert.equal(clientData.origin, ISSUER);
  });

  it('refuses an attested step-up without an authenticator, and reports a refused challenge', async () => {
    const net = network(
      () => json(201, { challenge_id: 'ch', nonce: 'n', expires_in: 120, acr_values: 'urn:tollgate:acr:attested', methods: ['private_key_jwt', 'dpop', 'webauthn'], webauthn: { challenge: 'n' } }),
      () => json(400, { error: 'invalid_request', error_description: 'no authenticator is enrolled' }),
    );
    const wc = await client(net.fetch);
    const missing = await wc.stepUp('urn:tollgate:acr:attested').catch((e: unknown) => e);
    assert.ok(missing instanceof StepUpError);
    assert.equal(missing.error, 'authenticator_required');
    const refused = await wc.stepUp('urn:tollgate:acr:attested').catch((e: unknown) => e);
    assert.ok(refused instanceof StepUpError);
    assert.equal(refused.status, 400);
    assert.equal(refused.error, 'invalid_request');
    await assert.rejects(wc.enrolAuthenticator(), (e: unknown) => e instanceof StepUpError && e.error === 'authenticator_required');
  });

  it('fetch sends the token with a proof for the call, and retries once with the resource server’s nonce', async () => {
    const net = network(
      tokenResponse('t1'),
      () => new Response(null, { status: 401, headers: { 'WWW-Authenticate': 'DPoP algs="ES256", error="use_dpop_nonce"', 'DPoP-Nonce': 'rs-nonce' } }),
      () => new Response('ok'),
    );
    const wc = await client(net.fetch);
    const response = await wc.fetch(`${API}orders?page=2`, { method: 'POST', body: new URLSearchParams({ a: '1' }), headers: { 'x-trace': '1' } });
    assert.equal(await response.text(), 'ok');
    const [, first, retry] = net.seen;
    assert.equal(first!.headers.get('authorization'), 'DPoP t1');
    assert.equal(first!.headers.get('x-trace'), '1');
    assert.deepEqual({ ...proofOf(first!), jti: 0, iat: 0 }, { htm: 'POST', htu: `${API}orders`, ath: accessTokenHash('t1'), jti: 0, iat: 0 });
    assert.equal(proofOf(retry!).nonce, 'rs-nonce');
    assert.notEqual(proofOf(retry!).jti, proofOf(first!).jti);
  });

  it('fetch steps up on insufficient_user_authentication, retries with the new token, and never retries twice', async () => {
    const stepUp = () =>
      new Response(null, {
        status: 401,
        headers: { 'WWW-Authenticate': 'DPoP algs="ES256", error="insufficient_user_authentication", error_description="needs live, within 300 s", acr_values="urn:tollgate:acr:live", max_age=300' },
      });
    const net = network(
      tokenResponse('t1'),
      stepUp,
      () => json(201, { challenge_id: 'ch', nonce: 'n', expires_in: 120, acr_values: 'urn:tollgate:acr:live', methods: ['private_key_jwt', 'dpop'] }),
      tokenResponse('live'),
      stepUp,
    );
    const wc = await client(net.fetch);
    const response = await wc.fetch(API);
    assert.equal(response.status, 401);
    assert.equal(net.seen.length, 5);
    assert.equal(net.seen[2]!.form.get('acr_values'), 'urn:tollgate:acr:live');
    assert.equal(net.seen[3]!.form.get('webauthn_response'), null);
    assert.equal(net.seen[4]!.headers.get('authorization'), 'DPoP live');
    assert.equal(await wc.token(), 'live');
  });

  it('fetch gets a new token after invalid_token, and does not retry a stream body', async () => {
    const invalid = () => new Response(null, { status: 401, headers: { 'WWW-Authenticate': 'DPoP algs="ES256", error="invalid_token"' } });
    const net = network(tokenResponse('t1'), invalid, tokenResponse('t2'), () => new Response('ok'), invalid);
    const wc = await client(net.fetch);
    assert.equal((await wc.fetch(API)).status, 200);
    assert.equal(net.seen[3]!.headers.get('authorization'), 'DPoP t2');
    const stream = new ReadableStream({ start: (c) => (c.enqueue(new TextEncoder().encode('x')), c.close()) });
    assert.equal((await wc.fetch(API, { method: 'PUT', body: stream, duplex: 'half' } as RequestInit)).status, 401);
    assert.equal(net.seen.length, 5);
  });

  it('fetch accepts a Request, keeping its method, headers and body', async () => {
    const net = network(tokenResponse('t1'), () => new Response(null, { status: 401, headers: { 'WWW-Authenticate': 'DPoP error="use_dpop_nonce"', 'DPoP-Nonce': 'n' } }), () => new Response('ok'));
    const wc = await client(net.fetch);
    await wc.fetch(new Request(`${API}x#frag`, { method: 'PATCH', body: 'payload', headers: { 'content-type': 'text/plain' } }));
    for (const sent of net.seen.slice(1)) {
      assert.equal(sent.method, 'PATCH');
      assert.equal(sent.headers.get('content-type'), 'text/plain');
      assert.equal(proofOf(sent).htu, `${API}x`);
      assert.equal(sent.body, 'payload');
    }
  });
});
