import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import grpc from '@grpc/grpc-js';
import { loadExtAuthzServices } from '#check';


export interface HeaderValueOption {
  header: { key: string; value: string };
}

/** envoy.service.auth.v3.CheckResponse as a real gRPC client decodes it (proto-loader, keepCase). */
export interface CheckResponse {
  status?: { code: number; message?: string };
  http_response?: 'ok_response' | 'denied_response' | 'error_response';
  ok_response?: { headers?: HeaderValueOption[]; headers_to_remove?: string[] };
  /** `status.code` as the HTTP status number. */
  denied_response?: { status?: { code: string | number }; headers?: HeaderValueOption[]; body?: string };
}

/** What an Envoy would send for one HTTP call (AttributeContext, attribute_context.proto). */
export interface CheckCall {
  method: string;
  host: string;
  /** Path and query, as the client sent them. */
  path: string;
  scheme?: string;
  headers?: Record<string, string>;
  sourceAddress?: string;
}

export interface ExtAuthzClient {
  check(call: CheckCall, gatewayCredential?: string): Promise<CheckResponse>;
  health(service?: string): Promise<{ status: string }>;
  /** The first status a Watch sends, and whether the stream later ended (shutdown). */
  watch(service?: string): { first: Promise<string>; statuses: string[]; ended: Promise<void> };
  close(): void;
}

type Unary<Req, Res> = (req: Req, metadata: grpc.Metadata, callback: (error: grpc.ServiceError | null, res: Res) => void) => void;

/** A real gRPC client, built from the same protos as the server (what Envoy speaks). */
export function extAuthzClient(port: number): ExtAuthzClient {
  const loaded = loadExtAuthzServices();
  const definition = loaded.definition;
  // envoy.type.v3.StatusCode names (enums: String) → HTTP status numbers.
  const statusCodes = new Map(
    ((definition['envoy.type.v3.StatusCode'] as unknown as { type: { value: { name: string; number: number }[] } }).type.value).map((v) => [v.name, v.number]),
  );
  const address = `127.0.0.1:${port}`;
  const auth = new loaded.envoy.service.auth.v3.Authorization(address, grpc.credentials.createInsecure());
  const health = new loaded.grpc.health.v1.Health(address, grpc.credentials.createInsecure());
  return {
    check: (call, gatewayCredential) =>
      new Promise((resolve, reject) => {
        const metadata = new grpc.Metadata();
        if (gatewayCredential !== undefined) metadata.set('x-gateway-authorization', gatewayCredential);
        const headers = Object.fromEntries(Object.entries({ ':authority': call.host, ':method': call.method, ':path': call.path, ...call.headers }).map(([k, v]) => [k.toLowerCase(), v]));
        const request = {
          attributes: {
            source: { address: { socket_address: { address: call.sourceAddress ?? '127.0.0.1', port_value: 40000 } } },
            destination: { address: { socket_address: { address: '127.0.0.1', port_value: 8080 } } },
            request: { http: { id: '1', method: call.method, path: call.path, host: call.host, scheme: call.scheme ?? 'http', protocol: 'HTTP/1.1', headers } },
          },
        };
        (auth.Check as Unary<object, CheckResponse>).call(auth, request, metadata, (error, res) => {
          if (error) return reject(error);
          const status = res.denied_response?.status;
          if (status && typeof status.code === 'string') status.code = statusCodes.get(status.code) ?? status.code;
          resolve(res);
        });
      }),
    health: (service = '') =>
      new Promise((resolve, reject) => {
        (health.Check as Unary<object, { status: string }>).call(health, { service }, new grpc.Metadata(), (error, res) => (error ? reject(error) : resolve(res)));
      }),
    watch: (service = '') => {
      const statuses: string[] = [];
      const stream = (health.Watch as (req: object) => grpc.ClientReadableStream<{ status: string }>).call(health, { service });
      const first = new Promise<string>((resolve, reject) => {
        stream.once('data', (m: { status: string }) => resolve(m.status));
        stream.once('error', reject);
      });
      stream.on('data', (m: { status: string }) => statuses.push(m.status));
      const ended = new Promise<void>((resolve) => {
        stream.on('end', resolve);
        stream.on('error', () => resolve());
      });
      return { first, statuses, ended };
    },
    close: () => {
      auth.close();
      health.close();
    },
  };
}

/**
 * The smallest Envoy-like gateway: for each request it asks ext_authz over gRPC exactly as Envoy's
 * HTTP filter does (the call's method, path, host, scheme, headers, source address; the gateway
 * credential as metadata), then on OK applies `headers` and `headers_to_remove` and forwards to
 * the upstream, and on a denial answers the client with the denied_response as Envoy would.
 * Envoy itself is not installable here; the protocol is what is under test.
 */
export async function startGrpcGateway(o: { grpcPort: number; upstreamPort: number; gatewayCredential: string }): Promise<{ url: string; close(): Promise<void> }> {
  const client = extAuthzClient(o.grpcPort);
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(',') : v;
      client
        .check({ method: req.method ?? 'GET', host: req.headers.host ?? '', path: req.url ?? '/', headers, sourceAddress: req.socket.remoteAddress }, `Basic ${o.gatewayCredential}`)
        .then((answer) => {
          if (answer.status?.code === 0 && answer.ok_response) {
            const upstream: IncomingHttpHeaders = { ...req.headers };
            for (const name of answer.ok_response.headers_to_remove ?? []) delete upstream[name];
            for (const h of answer.ok_response.headers ?? []) upstream[h.header.key.toLowerCase()] = h.header.value;
            const forward = httpRequest({ host: '127.0.0.1', port: o.upstreamPort, method: req.method, path: req.url, headers: upstream }, (up) => {
              res.writeHead(up.statusCode ?? 502, up.headers);
              up.pipe(res);
            });
            forward.on('error', () => (res.headersSent ? res.destroy() : (res.writeHead(502), res.end())));
            forward.end(Buffer.concat(chunks));
            return;
          }
          // Envoy: a non-OK status denies; the denied_response gives status, headers and body (403 by default).
          const denied = answer.denied_response ?? {};
          const code = Number(denied.status?.code ?? 403);
          const out: Record<string, string> = {};
          for (const h of denied.headers ?? []) out[h.header.key] = h.header.value;
          res.writeHead(Number.isFinite(code) && code >= 400 ? code : 403, out);
          res.end(denied.body ?? '');
        })
        // Envoy with failure_mode_allow false: an unreachable authorizer is a 403.
        .catch(() => (res.writeHead(403), res.end()));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    close: async () => {
      client.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
    },
  };
}
