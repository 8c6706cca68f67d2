import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { answersHttp, freePort, stopProcess, waitFor } from './processes.js';

export const NGINX = ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/local/nginx/sbin/nginx'].find(
  (p) => spawnSync(p, ['-v']).status === 0,
);


/** A small API behind the gateway: answers every request with what it received. */
export async function startEchoUpstream(): Promise<{ port: number; server: Server }> {
  const server = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as { port: number }).port, server };
}

/**
 * The NGINX configuration of the README (docs/gateways.md), filled in for a test: auth_request
 * to Tollgate's /check, identity headers to the upstream (overwriting any the client sent),
 * DPoP-Nonce and the decision id back to the client on 401/403.
 */
export function nginxConfig(o: { dir: string; port: number; upstreamPort: number; tollgatePort: number; gatewayCredential: string }): string {
  return `
worker_processes 1;
user root;
error_log ${o.dir}/error.log warn;
pid ${o.dir}/nginx.pid;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${o.dir}/tmp/body;
  proxy_temp_path ${o.dir}/tmp/proxy;
  fastcgi_temp_path ${o.dir}/tmp/fastcgi;
  uwsgi_temp_path ${o.dir}/tmp/uwsgi;
  scgi_temp_path ${o.dir}/tmp/scgi;

  server {
    listen 127.0.0.1:${o.port};

    location / {
      auth_request /_tollgate_check;
      auth_request_set $tollgate_client $upstream_http_x_tollgate_client_id;
      auth_request_set $tollgate_scope $upstream_http_x_tollgate_scope;
      auth_request_set $tollgate_acr $upstream_http_x_tollgate_acr;
      auth_request_set $tollgate_risk $upstream_http_x_tollgate_risk;
      auth_request_set $tollgate_decision $upstream_http_x_tollgate_decision_id;
      auth_request_set $tollgate_nonce $upstream_http_dpop_nonce;

      # What the upstream may trust: set here, so values a client sent are overwritten.
      proxy_set_header X-Tollgate-Client-Id $tollgate_client;
      proxy_set_header X-Tollgate-Scope $tollgate_scope;
      proxy_set_header X-Tollgate-Acr $tollgate_acr;
      proxy_set_header X-Tollgate-Risk $tollgate_risk;
      proxy_set_header X-Tollgate-Decision-Id $tollgate_decision;
      proxy_set_header X-Gateway-Authorization "";

      error_page 401 = @tollgate_401;
      error_page 403 = @tollgate_403;
      proxy_pass http://127.0.0.1:${o.upstreamPort};
    }

    # RFC 9728 §3: this API's protected-resource metadata, answered by Tollgate from the API's own
    # host and path (docs/gateways.md). No auth_request: a client reads it before it has a token.
    location /.well-known/oauth-protected-resource {
      proxy_pass http://127.0.0.1:${o.tollgatePort};
      proxy_set_header X-Forwarded-Host $http_host;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Uri "";
      proxy_set_header X-Original-URL "";
    }

    location = /_tollgate_check {
      internal;
      proxy_pass http://127.0.0.1:${o.tollgatePort}/check;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-Method $request_method;
      proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
      proxy_set_header X-Original-URI "";
      proxy_set_header X-Forwarded-Method "";
      proxy_set_header X-Forwarded-Uri "";
      proxy_set_header X-Real-IP $remote_addr;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_set_header X-Gateway-Authorization "Basic ${o.gatewayCredential}";
    }

    # nginx copies WWW-Authenticate from a 401 by itself; DPoP-Nonce and the decision id
    # reach the client only this way.
    location @tollgate_401 {
      add_header DPoP-Nonce $tollgate_nonce always;
      add_header X-Tollgate-Decision-Id $tollgate_decision always;
      return 401;
    }
    location @tollgate_403 {
      add_header X-Tollgate-Decision-Id $tollgate_decision always;
      return 403;
    }
  }
}
`;
}

export interface RunningNginx {
  url: string;
  close(): Promise<void>;
  errorLog(): string;
}

export async function startNginx(o: { upstreamPort: number; tollgatePort: number; gatewayCredential: string }): Promise<RunningNginx> {
  if (!NGINX) throw new Error('nginx is not installed');
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-nginx-'));
  mkdirSync(join(dir, 'tmp'));
  const port = await freePort();
  writeFileSync(join(dir, 'nginx.conf'), nginxConfig({ dir, port, ...o }));
  const test = spawnSync(NGINX, ['-t', '-p', dir, '-c', join(dir, 'nginx.conf')], { encoding: 'utf8' });
  if (test.status !== 0) throw new Error(`nginx -t failed: ${test.stderr}`);
  const child: ChildProcess = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], { stdio: 'ignore' });
  await waitFor(answersHttp(`http://127.0.0.1:${port}/`), 'nginx did not start');
  return {
    url: `http://127.0.0.1:${port}`,
    errorLog: () => {
      try {
        return readFileSync(join(dir, 'error.log'), 'utf8');
      } catch {
        return '';
      }
    },
    close: async () => {
      await stopProcess(child, 'SIGQUIT'); // nginx's graceful shutdown
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
