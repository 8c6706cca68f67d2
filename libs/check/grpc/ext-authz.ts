import grpc from '@grpc/grpc-js';
import type { LoggerService } from '@nestjs/common';
import { type OAuthAnswer, OAuthError, errorAnswer, unavailableAnswer, unexpectedAnswer } from '#credentials';
import { requestIdFrom } from '#operations';
import { isDependencyUnavailable } from '#persistence';
import type { CheckEndpoint } from '../check-endpoint.js';
import { describedCall } from '../gateway-request.js';
import { loadExtAuthzServices } from './protos.js';

const AUTHORIZATION_SERVICE = 'envoy.service.auth.v3.Authorization';
/** The gateway's credential travels as gRPC metadata of the same name as the HTTP header. */
const GATEWAY_METADATA = 'x-gateway-authorization';
/** How long in-flight Checks get to finish at shutdown before their streams are cut. */
const DRAIN_MS = 5_000;

/** google.rpc.Code (googleapis google/rpc/code.proto): what Envoy reads first in a CheckResponse. */
const RPC_CODE = { OK: 0, INVALID_ARGUMENT: 3, PERMISSION_DENIED: 7, RESOURCE_EXHAUSTED: 8, INTERNAL: 13, UNAVAILABLE: 14, UNAUTHENTICATED: 16 } as const;

function rpcCode(httpStatus: number): number {
  switch (httpStatus) {
    case 200:
      return RPC_CODE.OK;
    case 400:
      return RPC_CODE.INVALID_ARGUMENT;
    case 401:
      return RPC_CODE.UNAUTHENTICATED;
    case 403:
      return RPC_CODE.PERMISSION_DENIED;
    case 429:
      return RPC_CODE.RESOURCE_EXHAUSTED;
    case 503:
      return RPC_CODE.UNAVAILABLE;
    default:
      return RPC_CODE.INTERNAL;
  }
}

/** The parts of envoy.service.auth.v3.CheckRequest Tollgate reads (proto-loader, keepCase). */
interface CheckRequestMessage {
  attributes?: {
    source?: { address?: { socket_address?: { address?: string } } };
    request?: {
      http?: {
        id?: string;
        method?: string;
        path?: string;
        host?: string;
        scheme?: string;
        headers?: Record<string, string>;
        header_map?: { headers?: { key?: string; value?: string; raw_value?: Buffer }[] };
      };
    };
  };
}

interface HeaderValueOption {
  header: { key: string; value: string };
}

/** envoy.service.auth.v3.CheckResponse as proto-loader serialises it. */
export interface CheckResponseMessage {
  status: { code: number; message?: string };
  ok_response?: { headers: HeaderValueOption[]; headers_to_remove: string[] };
  denied_response?: { status: { code: number }; headers: HeaderValueOption[]; body: string };
}

/** The HTTP headers of the protected call: the `headers` map, or `header_map` (encode_raw_headers). */
function callHeaders(http: NonNullable<NonNullable<NonNullable<CheckRequestMessage['attributes']>['request']>['http']>): Map<string, string> {
  const headers = new Map<string, string>();
  for (const [key, value] of Object.entries(http.headers ?? {})) headers.set(key.toLowerCase(), value);
  for (const h of http.header_map?.headers ?? []) {
    if (!h.key) continue;
    const key = h.key.toLowerCase();
    const value = h.value || (h.raw_value ? Buffer.from(h.raw_value).toString('latin1') : '');
    // Envoy joins repeated headers with ',' in the map form; do the same here.
    headers.set(key, headers.has(key) ? `${headers.get(key)},${value}` : value);
  }
  return headers;
}

/** The gateway's address from grpc-js's peer string (`127.0.0.1:5000`, `[::1]:5000`, `ipv4:…`). */
function peerAddress(peer: string): string | undefined {
  const bare = peer.replace(/^ipv[46]:/, '');
  const bracketed = /^\[([^\]]+)\]:\d+$/.exec(bare);
  if (bracketed) return bracketed[1];
  const plain = /^([^:]+):\d+$/.exec(bare);
  return plain?.[1];
}

function headerOptions(headers: Record<string, string>): HeaderValueOption[] {
  return Object.entries(headers).map(([key, value]) => ({ header: { key: key.toLowerCase(), value } }));
}

/**
 * The check's answer in Envoy's terms. Allowed: OK and the identity headers for the upstream
 * (OkHttpResponse headers overwrite those of the same name, external_auth.proto), and every
 * other `x-tollgate-*` the client sent removed. Anything else — refusals, and our own failures
 * too — is a non-OK status with a DeniedHttpResponse carrying what /check would have answered,
 * never an RPC error or an `error_response`: both let an Envoy with `failure_mode_allow` through.
 */
export function checkResponse(answer: OAuthAnswer, sent: Map<string, string>): CheckResponseMessage {
  if (answer.status === 200) {
    const identity: Record<string, string> = {};
    for (const [name, value] of Object.entries(answer.headers)) if (/^x-tollgate-/i.test(name)) identity[name.toLowerCase()] = value;
    const forged = [...sent.keys()].filter((name) => name.startsWith('x-tollgate-') && !(name in identity));
    return { status: { code: RPC_CODE.OK }, ok_response: { headers: headerOptions(identity), headers_to_remove: forged } };
  }
  const body = answer.raw ?? JSON.stringify(answer.body);
  const error = typeof answer.body.error === 'string' ? answer.body.error : undefined;
  return {
    status: { code: rpcCode(answer.status), ...(error ? { message: error } : {}) },
    denied_response: {
      status: { code: answer.status },
      headers: headerOptions({ 'Content-Type': 'application/json; charset=utf-8', ...answer.headers }),
      body,
    },
  };
}

export interface ExtAuthzOptions {
  port: number;
  host: string;
  logger: LoggerService | false;
}

/** grpc.health.v1 serving status values (health.proto). */
const SERVING = 'SERVING';
const NOT_SERVING = 'NOT_SERVING';
const SERVICE_UNKNOWN = 'SERVICE_UNKNOWN';

/**
 * Envoy ext_authz over gRPC (envoy.service.auth.v3.Authorization/Check) on its own port, and the
 * grpc.health.v1 health service beside it. Each Check is the same gateway question as /check
 * (CheckEndpoint.decide): the gateway's credential from metadata, the call from
 * `attributes.request.http`, the caller from `attributes.source`.
 */
export class ExtAuthzServer {
  private readonly server = new grpc.Server();
  private serving = true;
  private readonly watchers = new Set<grpc.ServerWritableStream<{ service?: string }, { status: string }>>();
  private bound = false;

  constructor(private readonly check: CheckEndpoint, private readonly logger: LoggerService | false) {
    const loaded = loadExtAuthzServices();
    this.server.addService(loaded.envoy.service.auth.v3.Authorization.service, {
      Check: (call: grpc.ServerUnaryCall<CheckRequestMessage, CheckResponseMessage>, callback: grpc.sendUnaryData<CheckResponseMessage>) => {
        // answer() renders every failure itself; this is the last guard against an RPC error.
        this.answer(call).then(
          (response) => callback(null, response),
          () => callback(null, checkResponse(unexpectedAnswer(), new Map())),
        );
      },
    });
    this.server.addService(loaded.grpc.health.v1.Health.service, {
      Check: (call: grpc.ServerUnaryCall<{ service?: string }, { status: string }>, callback: grpc.sendUnaryData<{ status: string }>) => {
        const status = this.status(call.request.service ?? '');
        if (status === SERVICE_UNKNOWN) callback({ code: grpc.status.NOT_FOUND, details: 'unknown service' });
        else callback(null, { status });
      },
      List: (_call: grpc.ServerUnaryCall<object, object>, callback: grpc.sendUnaryData<object>) => {
        const status = { status: this.status('') };
        callback(null, { statuses: { '': status, [AUTHORIZATION_SERVICE]: status } });
      },
      Watch: (call: grpc.ServerWritableStream<{ service?: string }, { status: string }>) => {
        call.write({ status: this.status(call.request.service ?? '') });
        if (!this.serving) return call.end();
        this.watchers.add(call);
        call.on('cancelled', () => this.watchers.delete(call));
        call.on('close', () => this.watchers.delete(call));
      },
    });
  }

  private status(service: string): string {
    if (service !== '' && service !== AUTHORIZATION_SERVICE) return SERVICE_UNKNOWN;
    return this.serving ? SERVING : NOT_SERVING;
  }

  private async answer(call: grpc.ServerUnaryCall<CheckRequestMessage, CheckResponseMessage>): Promise<CheckResponseMessage> {
    const http = call.request.attributes?.request?.http ?? {};
    const headers = callHeaders(http);
    const credentials = call.metadata.get(GATEWAY_METADATA).map((v) => (typeof v === 'string' ? v : v.toString('latin1')));
    let answer: OAuthAnswer;
    try {
      answer = await this.check.decide({
        face: 'grpc',
        gatewayCredential: credentials.length > 1 ? credentials : credentials[0],
        gatewayIp: peerAddress(call.getPeer()),
        gatewayRequest: { method: 'POST', path: `/${AUTHORIZATION_SERVICE}/Check` },
        call: () =>
          describedCall(
            { method: http.method ?? '', scheme: http.scheme, host: http.host, path: http.path, ip: call.request.attributes?.source?.address?.socket_address?.address },
            this.check.defaultScheme,
          ),
        authorization: headers.get('authorization'),
        dpop: headers.get('dpop'),
        // Envoy makes an x-request-id for every request (and sends it among the headers).
        requestId: requestIdFrom(headers.get('x-request-id') ?? http.id),
      });
    } catch (error) {
      if (error instanceof OAuthError) answer = errorAnswer(error);
      else if (isDependencyUnavailable(error)) answer = unavailableAnswer();
      else {
        if (this.logger) this.logger.error({ message: 'unhandled error', error: (error as Error)?.name, detail: (error as Error)?.message }, 'ext-authz');
        answer = unexpectedAnswer();
      }
    }
    return checkResponse(answer, headers);
  }

  /** Binds the port (0: any free one) and returns the port bound. */
  listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.bindAsync(`${host.includes(':') ? `[${host}]` : host}:${port}`, grpc.ServerCredentials.createInsecure(), (error, bound) => {
        if (error) return reject(error);
        this.bound = true;
        resolve(bound);
      });
    });
  }

  /**
   * Graceful: health says NOT_SERVING (watchers are told, then their streams end), no new calls
   * are accepted, in-flight Checks finish; after DRAIN_MS whatever is left is cut.
   */
  async close(): Promise<void> {
    if (!this.serving) return;
    this.serving = false;
    for (const watcher of this.watchers) {
      watcher.write({ status: NOT_SERVING });
      watcher.end();
    }
    this.watchers.clear();
    if (!this.bound) return;
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, DRAIN_MS);
      force.unref();
      this.server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
  }
}
