import request from 'supertest';
import { startCaddy } from './caddy.js';
import { startGrpcGateway } from './ext-authz.js';
import { startHaproxy } from './haproxy.js';
import { startEchoUpstream, startNginx } from './nginx.js';
import { type RunningTollgate, startTollgate } from './server.js';
import { Workload } from './workload.js';

/** A registered gateway client and the credentials it presents (client_secret_basic). */
export interface Gateway {
  id: string;
  secret: string;
  /** `base64(id:secret)`, as gateway configs carry it. */
  credential: string;
  /** `Basic <credential>` for X-Gateway-Authorization. */
  basic: string;
}

/**
 * A check as NGINX's auth_request sends it (docs/gateways.md): the gateway's credential, the
 * original method and URL (`https://api.example.test` + path), the caller's address
 * (203.0.113.10), the token and a fresh proof for that call.
 */
export async function gatewayCheck(server: Pick<RunningTollgate, 'url'>, gateway: Gateway, w: Workload, token: string, path = '/orders/1') {
  const url = `https://api.example.test${path}`;
  return request(server.url)
    .get('/check')
    .set('X-Gateway-Authorization', gateway.basic)
    .set('X-Original-Method', 'GET')
    .set('X-Original-URL', url)
    .set('X-Real-IP', '203.0.113.10')
    .set('Authorization', `DPoP ${token}`)
    .set('DPoP', await w.proof('GET', url, { accessToken: token }));
}

export async function registerGateway(server: Pick<RunningTollgate, 'url' | 'admin'>, name = 'test gateway'): Promise<Gateway> {
  const res = await request(server.url).post('/admin/clients').set('Authorization', server.admin).send({ client_name: name, roles: ['gateway'] });
  if (res.status !== 201) throw new Error(`gateway registration failed: ${res.status} ${JSON.stringify(res.body)}`);
  const credential = Buffer.from(`${res.body.client_id}:${res.body.client_secret}`).toString('base64');
  return { id: res.body.client_id, secret: res.body.client_secret, credential, basic: `Basic ${credential}` };
}

/** A real gateway in front of an echo upstream, asking a real Tollgate (configured as in docs/gateways.md). */
export interface ProtectedApi {
  tollgate: RunningTollgate;
  /** The gateway's base URL: what workloads call. */
  api: string;
  /** The gateway's error log (NGINX, HAProxy), for assertion messages. */
  errorLog(): string;
  close(): Promise<void>;
}

/**
 * Starts Tollgate (with `env`), an echo upstream, a gateway client and NGINX, Caddy, HAProxy or
 * the Envoy-like gRPC gateway (ext_authz over gRPC; test/support/ext-authz.ts) in front of it.
 */
export async function startProtectedApi(gateway: 'nginx' | 'caddy' | 'haproxy' | 'envoy-grpc', env: Record<string, string | undefined> = {}): Promise<ProtectedApi> {
  const tollgate = await startTollgate(gateway === 'envoy-grpc' ? { TOLLGATE_GRPC_PORT: '0', ...env } : env);
  const upstream = await startEchoUpstream();
  const stop = async (proxy?: { close(): Promise<void> }) => {
    await proxy?.close();
    upstream.server.close();
    await tollgate.close();
  };
  try {
    const gw = await registerGateway(tollgate, gateway);
    const options = { upstreamPort: upstream.port, tollgatePort: Number(new URL(tollgate.url).port), gatewayCredential: gw.credential };
    const proxy: { url: string; close(): Promise<void>; errorLog?(): string } =
      gateway === 'nginx'
        ? await startNginx(options)
        : gateway === 'caddy'
          ? await startCaddy(options)
          : gateway === 'haproxy'
            ? await startHaproxy(options)
            : await startGrpcGateway({ ...options, grpcPort: tollgate.grpcPort! });
    return { tollgate, api: proxy.url, errorLog: () => proxy.errorLog?.() ?? '', close: () => stop(proxy) };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** A protected API behind `gateway`, and a workload whose policy routes it (docs/gateways.md's example). */
export interface RoutedApi {
  stack: ProtectedApi;
  tollgate: RunningTollgate;
  api: string;
  w: Workload;
  /** Its token, `orders:read orders:write`. */
  token: string;
}

/**
 * The gateway suites' common scene: `/admin/**` needs `live`, `/payments/**` the scope
 * `payments:write`, GET and POST on `/orders/**` the scope `orders:read`.
 */
export async function startRoutedApi(gateway: 'nginx' | 'haproxy'): Promise<RoutedApi> {
  const stack = await startProtectedApi(gateway);
  const { tollgate, api } = stack;
  const w = await Workload.register(tollgate, { allowed_resources: [`${api}/`], scope: 'orders:read orders:write' });
  const policy = await request(tollgate.url)
    .put(`/admin/clients/${w.clientId}/policy`)
    .set('Authorization', tollgate.admin)
    .send({
      routes: [
        { path: '/admin/**', acr: 'urn:tollgate:acr:live' },
        { path: '/payments/**', scopes: ['payments:write'] },
        { methods: ['GET', 'POST'], path: '/orders/**', scopes: ['orders:read'] },
      ],
    });
  if (policy.status !== 200) throw new Error(`policy refused: ${policy.status} ${JSON.stringify(policy.body)}`);
  return { stack, tollgate, api, w, token: await w.token({ scope: 'orders:read orders:write' }) };
}
