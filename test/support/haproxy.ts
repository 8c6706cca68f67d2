import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { answersHttp, freePort, stopProcess, waitFor } from './processes.js';

export const HAPROXY = ['/usr/sbin/haproxy', '/usr/local/sbin/haproxy'].find((p) => spawnSync(p, ['-v']).status === 0);

/** The Lua action shipped in the repository (examples/haproxy/tollgate.lua), as docs/gateways.md installs it. */
export const HAPROXY_LUA = fileURLToPath(new URL('../../../examples/haproxy/tollgate.lua', import.meta.url));

/** examples/haproxy/haproxy.cfg, filled in for a test (the credential from the environment, as documented). */
export function haproxyConfig(o: { port: number; upstreamPort: number; tollgatePort: number; lua: string }): string {
  return `global
  lua-load ${o.lua}
  log stderr format raw local0 warning
  httpclient.ssl.verify none

defaults
  mode http
  log global
  timeout connect 5s
  timeout client 30s
  timeout server 30s

frontend api
  bind 127.0.0.1:${o.port}
  http-request lua.tollgate_check "http://127.0.0.1:${o.tollgatePort}/check" "\${TOLLGATE_GATEWAY_CREDENTIAL}"
  default_backend api

backend api
  server api1 127.0.0.1:${o.upstreamPort}
`;
}

export interface RunningHaproxy {
  url: string;
  errorLog(): string;
  close(): Promise<void>;
}

export async function startHaproxy(o: { upstreamPort: number; tollgatePort: number; gatewayCredential: string }): Promise<RunningHaproxy> {
  if (!HAPROXY) throw new Error('haproxy is not installed');
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-haproxy-'));
  const port = await freePort();
  const config = join(dir, 'haproxy.cfg');
  writeFileSync(config, haproxyConfig({ port, ...o, lua: HAPROXY_LUA }));
  const env = { ...process.env, TOLLGATE_GATEWAY_CREDENTIAL: o.gatewayCredential };
  const test = spawnSync(HAPROXY, ['-c', '-f', config], { encoding: 'utf8', env });
  if (test.status !== 0) throw new Error(`haproxy -c failed: ${test.stdout}${test.stderr}`);
  let log = '';
  const child: ChildProcess = spawn(HAPROXY, ['-db', '-f', config], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  try {
    await waitFor(answersHttp(`http://127.0.0.1:${port}/`), () => `haproxy did not start: ${log}`);
  } catch (error) {
    // Not left running behind a failed start (the test process would never exit).
    await stopProcess(child);
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    url: `http://127.0.0.1:${port}`,
    errorLog: () => log,
    close: async () => {
      await stopProcess(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
