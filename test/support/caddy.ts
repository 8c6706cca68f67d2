import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { answersHttp, freePort, stopProcess, waitFor } from './processes.js';

export const CADDY = ['/usr/bin/caddy', '/usr/local/bin/caddy'].find((p) => spawnSync(p, ['version']).status === 0);

/** The Caddy configuration of docs/gateways.md, filled in for a test. */
export function caddyfile(o: { port: number; upstreamPort: number; tollgatePort: number; gatewayCredential: string }): string {
  return `{
	admin off
	auto_https off
}

http://127.0.0.1:${o.port} {
	forward_auth 127.0.0.1:${o.tollgatePort} {
		uri /check
		header_up X-Gateway-Authorization "Basic ${o.gatewayCredential}"
		header_up -X-Original-URL
		header_up -X-Original-Method
		header_up -X-Original-URI
		copy_headers X-Tollgate-Client-Id X-Tollgate-Scope X-Tollgate-Acr X-Tollgate-Risk X-Tollgate-Decision-Id
	}
	reverse_proxy 127.0.0.1:${o.upstreamPort}
}
`;
}

export interface RunningCaddy {
  url: string;
  close(): Promise<void>;
}

export async function startCaddy(o: { upstreamPort: number; tollgatePort: number; gatewayCredential: string }): Promise<RunningCaddy> {
  if (!CADDY) throw new Error('caddy is not installed');
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-caddy-'));
  const port = await freePort();
  const config = join(dir, 'Caddyfile');
  writeFileSync(config, caddyfile({ port, ...o }));
  const env = { ...process.env, HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir };
  const child: ChildProcess = spawn(CADDY, ['run', '--config', config, '--adapter', 'caddyfile'], { env, stdio: 'ignore' });
  await waitFor(answersHttp(`http://127.0.0.1:${port}/`), 'caddy did not start');
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      await stopProcess(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
