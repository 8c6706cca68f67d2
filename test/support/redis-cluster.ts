import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stopProcess, waitFor } from './processes.js';

/** One redis-server of a test cluster: its port and process (replaced when it is restarted). */
export interface ClusterNode {
  port: number;
  child: ChildProcess;
}

/** A private Redis Cluster of real redis-server processes, without persistence (as on the project's machines). */
export interface RedisClusterUnderTest {
  nodes: ClusterNode[];
  /** `redis+cluster://` URL naming the first three nodes as seeds. */
  url: string;
  /** redis-cli against one node (arguments as for redis-cli after `-p`). */
  cli(port: number, ...args: string[]): string;
  /** port → role and, for a replica, its master's port; from CLUSTER NODES as `port` sees it. */
  topology(port?: number): { port: number; role: 'master' | 'replica'; masterPort?: number; failed: boolean }[];
  /** Starts the node on `port` again (after it was killed), with its cluster config file and nothing else. */
  restart(port: number): Promise<void>;
  /** Every replay key each live master holds. */
  replayKeys(): Set<string>;
  close(): Promise<void>;
}

/**
 * Starts `masters` × (1 + `replicasEach`) nodes on consecutive ports from `firstPort`, each with
 * `cluster-enabled yes` in a temp dir, and joins them with `redis-cli --cluster create`.
 * `nodeTimeoutMs` is how long a silent master stays master before its replica takes over.
 */
export async function startRedisCluster(firstPort: number, masters = 3, replicasEach = 1, nodeTimeoutMs = 2000): Promise<RedisClusterUnderTest> {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-cluster-'));
  const ports = Array.from({ length: masters * (1 + replicasEach) }, (_, i) => firstPort + i);
  const start = (port: number) =>
    spawn('redis-server', [
      '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
      '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`),
      '--cluster-node-timeout', String(nodeTimeoutMs), '--dir', dir,
    ], { stdio: 'ignore' });
  const cli = (port: number, ...args: string[]) => spawnSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8' }).stdout ?? '';
  const nodes: ClusterNode[] = ports.map((port) => ({ port, child: start(port) }));
  const close = async () => {
    await Promise.all(nodes.map((n) => stopProcess(n.child, 'SIGKILL')));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const port of ports) await waitFor(async () => cli(port, 'ping').includes('PONG'), `redis-server on ${port} did not start`, 50, 100);
    const created = spawnSync('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', String(replicasEach), '--cluster-yes'], { encoding: 'utf8' });
    if (created.status !== 0) throw new Error(`redis-cli --cluster create failed: ${created.stdout}${created.stderr}`);
    const settled = async () => ports.every((p) => cli(p, 'cluster', 'info').includes('cluster_state:ok'));
    await waitFor(settled, 'the cluster did not reach cluster_state:ok', 100, 100);
    // Replicas attach after the slots are assigned: wait until each one is in sync and listed.
    const linked = async () => ports.every((p) => {
      const info = cli(p, 'info', 'replication');
      return info.includes('role:master') ? info.includes(`connected_slaves:${replicasEach}`) : info.includes('master_link_status:up');
    }) && cli(firstPort, 'cluster', 'slots').trim().split('\n').length >= masters * (3 + 3 * (1 + replicasEach));
    await waitFor(linked, 'the replicas did not come in sync', 100, 100);
  } catch (error) {
    await close();
    throw error;
  }
  const topology = (port = nodes.find((n) => n.child.exitCode === null && n.child.signalCode === null)!.port) => {
    const lines = cli(port, 'cluster', 'nodes').trim().split('\n').map((l) => l.split(' '));
    const portOf = new Map(lines.map(([id, addr]) => [id!, Number(/:(\d+)@/.exec(addr!)?.[1])]));
    return lines.map(([, addr, flags, master]) => ({
      port: Number(/:(\d+)@/.exec(addr!)?.[1]),
      role: flags!.includes('master') ? ('master' as const) : ('replica' as const),
      ...(master !== '-' ? { masterPort: portOf.get(master!) } : {}),
      failed: flags!.includes('fail'),
    }));
  };
  const replayKeys = () => {
    const keys = new Set<string>();
    for (const node of topology().filter((n) => n.role === 'master' && !n.failed)) {
      for (const key of cli(node.port, '--scan', '--pattern', 'tollgate:replay:*').split('\n')) if (key) keys.add(key);
    }
    return keys;
  };
  const restart = async (port: number) => {
    const node = nodes.find((n) => n.port === port)!;
    node.child = start(port);
    await waitFor(async () => cli(port, 'ping').includes('PONG'), `redis-server on ${port} did not start again`, 50, 100);
  };
  return {
    nodes,
    restart,
    url: `redis+cluster://${ports.slice(0, 3).map((p) => `127.0.0.1:${p}`).join(',')}`,
    cli,
    topology,
    replayKeys,
    close,
  };
}
