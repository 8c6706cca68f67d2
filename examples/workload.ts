/**
 * A workload talking to Tollgate with oauth4webapi v3, end to end:
 *
 *   1. generates an ES256 client key (private_key_jwt, RFC 7523) and a separate DPoP key (RFC 9449);
 *   2. registers itself through the admin API;
 *   3. discovers the server (RFC 8414) and asks for a DPoP-bound access token with the
 *      client_credentials grant, retrying once when the server asks for a DPoP nonce;
 *   4. registers a gateway and introspects the token as the gateway (RFC 7662, then the signed
 *      RFC 9701 form);
 *   5. revokes the token (RFC 7009) and introspects it again.
 *
 * Run it from the repository folder against a running server (it is not part of the build):
 *
 *   npx tsc examples/workload.ts --outDir dist/examples --target es2023 --module nodenext \
 *     --strict --skipLibCheck --types node
 *   TOLLGATE_URL=http://localhost:3000 TOLLGATE_ADMIN_TOKEN=... node dist/examples/workload.js
 *
 * TOLLGATE_URL must be the server's issuer (TOLLGATE_ISSUER; by default http://localhost:$PORT).
 */
import * as oauth from 'oauth4webapi';

const issuer = new URL(process.env.TOLLGATE_URL ?? 'http://localhost:3000');
const adminToken = process.env.TOLLGATE_ADMIN_TOKEN;
if (!adminToken) {
  console.error('Set TOLLGATE_ADMIN_TOKEN to the admin token the server printed (or was given).');
  process.exit(2);
}
const resource = 'https://orders.example.com/';

// oauth4webapi refuses plain http unless told otherwise; Tollgate allows http only for localhost.
const http = { [oauth.allowInsecureRequests]: issuer.protocol === 'http:' };

/** POST /admin/clients (RFC 7591 field names plus Tollgate's roles and allowed_resources). */
async function register(metadata: Record<string, unknown>): Promise<{ client_id: string; client_secret?: string }> {
  const response = await fetch(new URL('/admin/clients', issuer), {
    method: 'POST',
    headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify(metadata),
  });
  const body = (await response.json()) as { client_id: string; client_secret?: string };
  if (response.status !== 201) throw new Error(`registration failed: ${response.status} ${JSON.stringify(body)}`);
  return body;
}

function claimsOf(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8'));
}

// 1. Keys. The client key proves who the workload is; the DPoP key is what its tokens are bound to.
const clientKey = await oauth.generateKeyPair('ES256');
const dpopKey = await oauth.generateKeyPair('ES256');
const publicJwk = await crypto.subtle.exportKey('jwk', clientKey.publicKey);

// 2. Registration. require_dpop_nonce makes the server ask for a nonce (RFC 9449 §8), so the
//    retry below is exercised; without it the first request succeeds.
const workload = await register({
  client_name: 'example workload',
  jwks: { keys: [{ kty: publicJwk.kty, crv: publicJwk.crv, x: publicJwk.x, y: publicJwk.y, kid: 'k1', alg: 'ES256', use: 'sig' }] },
  scope: 'orders:read orders:write',
  allowed_resources: [resource],
  require_dpop_nonce: true,
});
console.log(`registered workload ${workload.client_id}`);

// 3. Discovery and the token request.
const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...http }));
const client: oauth.Client = { client_id: workload.client_id };
const clientAuth = oauth.PrivateKeyJwt({ key: clientKey.privateKey, kid: 'k1' });
const DPoP = oauth.DPoP(client, dpopKey);

async function requestToken(): Promise<oauth.TokenEndpointResponse> {
  const response = await oauth.clientCredentialsGrantRequest(as, client, clientAuth, { scope: 'orders:read', resource }, { DPoP, ...http });
  return oauth.processClientCredentialsResponse(as, client, response);
}

let tokens: oauth.TokenEndpointResponse;
try {
  tokens = await requestToken();
} catch (error) {
  // use_dpop_nonce: the DPoP handle has kept the DPoP-Nonce the server sent; try once more.
  if (!oauth.isDPoPNonceError(error)) throw error;
  console.log('server asked for a DPoP nonce; retrying with it');
  tokens = await requestToken();
}
console.log(`token_type: ${tokens.token_type}, expires_in: ${tokens.expires_in}`);
console.log('access token claims:', claimsOf(tokens.access_token));

// 4. A gateway (client_secret_basic; the secret is returned once) introspects the token.
const gateway = await register({ client_name: 'example gateway', roles: ['gateway'] });
const gatewayClient: oauth.Client = { client_id: gateway.client_id };
const gatewayAuth = oauth.ClientSecretBasic(gateway.client_secret!);

const introspected = await oauth.processIntrospectionResponse(
  as,
  gatewayClient,
  await oauth.introspectionRequest(as, gatewayClient, gatewayAuth, tokens.access_token, http),
);
console.log('introspection:', introspected);

// RFC 9701: the same answer as a JWT signed by the server; check its signature against the JWKS.
const signedResponse = await oauth.introspectionRequest(as, gatewayClient, gatewayAuth, tokens.access_token, { requestJwtResponse: true, ...http });
const signed = await oauth.processIntrospectionResponse(as, gatewayClient, signedResponse);
await oauth.validateApplicationLevelSignature(as, signedResponse, http);
console.log(`signed introspection verified: active=${signed.active}`);

// 5. The workload revokes its token (private_key_jwt again); introspection now says inactive.
await oauth.processRevocationResponse(await oauth.revocationRequest(as, client, clientAuth, tokens.access_token, http));
const after = await oauth.processIntrospectionResponse(
  as,
  gatewayClient,
  await oauth.introspectionRequest(as, gatewayClient, gatewayAuth, tokens.access_token, http),
);
console.log(`after revocation: active=${after.active}`);
