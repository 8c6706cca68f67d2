import { readFile } from 'node:fs/promises';
import { type CryptoKey, dpopProof, type JsonWebKey, signerFromCryptoKey, WorkloadClient, WorkloadClientError, type WorkloadEndpoints } from '#workload-client';
import { call } from './admin-api.js';
import { type CommandContext, type CommandResult, parse } from './command.js';
import { RefusedError, UnreachableError, UsageError } from './failures.js';

export const TOKEN_USAGE = `tollgate token --client-id CLIENT_ID --key FILE [--resource URL] [--scope S]
               [--curl [--method M] [CALL_URL]]`;

type Jwk = JsonWebKey & { kid?: string; alg?: string; key_ops?: string[]; ext?: boolean };

// RFC 7518 §3.1 / RFC 8037 §3.1: the WebCrypto import parameters for each JWS alg.
const IMPORT: Record<string, (jwk: Jwk) => Parameters<typeof crypto.subtle.importKey>[2]> = {
  ES256: () => ({ name: 'ECDSA', namedCurve: 'P-256' }),
  ES384: () => ({ name: 'ECDSA', namedCurve: 'P-384' }),
  ES512: () => ({ name: 'ECDSA', namedCurve: 'P-521' }),
  EdDSA: (jwk) => ({ name: jwk.crv === 'Ed448' ? 'Ed448' : 'Ed25519' }),
  RS256: () => ({ name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }),
  RS384: () => ({ name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-384' }),
  RS512: () => ({ name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-512' }),
  PS256: () => ({ name: 'RSA-PSS', hash: 'SHA-256' }),
  PS384: () => ({ name: 'RSA-PSS', hash: 'SHA-384' }),
  PS512: () => ({ name: 'RSA-PSS', hash: 'SHA-512' }),
};

/** The alg a key implies when its JWK names none (an RSA key could be RS* or PS*: it must say). */
function algOf(jwk: Jwk): string | undefined {
  if (jwk.alg) return jwk.alg;
  if (jwk.kty === 'EC') return { 'P-256': 'ES256', 'P-384': 'ES384', 'P-521': 'ES512' }[jwk.crv ?? ''];
  if (jwk.kty === 'OKP') return 'EdDSA';
  return undefined;
}

/** The workload's private JWK (as registered: its `kid` and `alg`) as a signer. The key never leaves this process. */
async function clientKey(file: string) {
  let jwk: Jwk;
  try {
    jwk = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new UsageError(`--key ${file}: ${(err as Error).message}`);
  }
  if (typeof jwk !== 'object' || jwk === null || typeof jwk.kty !== 'string') throw new UsageError(`--key ${file}: expected a private JWK (RFC 7517)`);
  if (jwk.d === undefined) throw new UsageError(`--key ${file}: this is a public key; the private JWK (with "d") signs`);
  const alg = algOf(jwk);
  const params = alg ? IMPORT[alg] : undefined;
  if (!alg || !params) throw new UsageError(`--key ${file}: cannot tell the JWS alg; add "alg" (${Object.keys(IMPORT).join(', ')}) to the JWK`);
  const { key_ops: _ops, ext: _ext, ...material } = jwk;
  let key: CryptoKey;
  try {
    key = await crypto.subtle.importKey('jwk', material, params(jwk), false, ['sign']);
  } catch (err) {
    throw new UsageError(`--key ${file}: not a usable ${alg} private key (${(err as Error).message})`);
  }
  try {
    return signerFromCryptoKey(key, alg, jwk.kid);
  } catch (err) {
    throw new UsageError(`--key ${file}: ${(err as Error).message}`);
  }
}

/** Network failures from the SDK's requests end as "unreachable" (exit 3), not as a crash. */
const transport: typeof fetch = async (input, init) => {
  try {
    return await fetch(input, init);
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause;
    throw new UnreachableError(`cannot reach ${new URL(String(input instanceof Request ? input.url : input)).origin}: ${cause?.code ?? (err as Error).message}`);
  }
};

const quote = (value: string) => `'${value.replaceAll("'", `'\\''`)}'`;

/**
 * A DPoP-bound token for a workload (RFC 7523 client assertion, RFC 9449 proof of a key made for
 * this run), with the server's endpoints from its metadata (RFC 8414). The DPoP key lives only as
 * long as this process: the token alone is for reading; --curl prints the headers for one call,
 * with a proof for that method and URL.
 */
export async function token(args: string[], ctx: CommandContext): Promise<CommandResult> {
  const { values, positionals } = parse(
    args,
    { 'client-id': { type: 'string' }, key: { type: 'string' }, resource: { type: 'string' }, scope: { type: 'string' }, curl: { type: 'boolean' }, method: { type: 'string' } },
    { min: 0, max: 1, names: 'at most one CALL_URL (with --curl)' },
  );
  if (!values['client-id']) throw new UsageError('--client-id is required');
  if (!values.key) throw new UsageError('--key is required: the workload’s private JWK file');
  if (!values.curl && (positionals.length || values.method)) throw new UsageError('CALL_URL and --method go with --curl');
  const callUrl = positionals[0] ?? values.resource;
  if (values.curl && !callUrl) throw new UsageError('--curl needs the URL of the call (CALL_URL, or --resource)');
  if (callUrl && !URL.canParse(callUrl)) throw new UsageError(`not a URL: ${callUrl}`);
  const method = (values.method ?? 'GET').toUpperCase();
  if (!/^[A-Z]+$/.test(method)) throw new UsageError(`not an HTTP method: ${method}`);

  const signer = await clientKey(values.key);
  const metadata = (await call(new URL('/.well-known/oauth-authorization-server', ctx.target.url).href)).body as Record<string, unknown>;
  if (typeof metadata?.issuer !== 'string' || typeof metadata.token_endpoint !== 'string') throw new RefusedError(200, 'invalid_metadata', 'the server’s metadata has no issuer or token_endpoint');
  const endpoints: Partial<WorkloadEndpoints> = { token: metadata.token_endpoint };
  if (typeof metadata.step_up_challenge_endpoint === 'string') endpoints.challenges = metadata.step_up_challenge_endpoint;
  const client = new WorkloadClient({
    issuer: metadata.issuer,
    clientId: values['client-id'],
    clientKey: signer,
    endpoints,
    fetch: transport,
    ...(values.resource ? { resource: values.resource } : {}),
    ...(values.scope ? { scope: values.scope } : {}),
  });
  let response;
  try {
    response = await client.tokenResponse();
  } catch (err) {
    if (err instanceof WorkloadClientError) throw new RefusedError(err.status ?? 0, err.error ?? 'token_error', err.error_description);
    throw err;
  }
  const summary = { access_token: response.access_token, token_type: response.token_type, expires_in: response.expires_in, scope: response.scope };
  if (!values.curl) return { json: summary, text: response.access_token };

  const proof = await dpopProof(await client.dpopKey(), method, callUrl!, { accessToken: response.access_token });
  const headers = { Authorization: `DPoP ${response.access_token}`, DPoP: proof };
  const command = ['curl', ...(method !== 'GET' ? ['-X', method] : []), ...Object.entries(headers).flatMap(([k, v]) => ['-H', quote(`${k}: ${v}`)]), quote(callUrl!)].join(' ');
  return { json: { ...summary, method, url: callUrl, headers }, text: command };
}
