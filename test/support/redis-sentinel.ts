import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRedisServer, stopProcess, waitFor } from './processes.js';

/** A private Sentinel group: one master, one replica, three sentinels, all real redis-server processes. */
export interface SentinelGroupUnderTest {
  masterPort: number;
  replicaPort: number;
  master: ChildProcess;
  replica: ChildProcess;
  /** `redis+sentinel://` URL naming the three sentinels and the master name. */
  url: string;
  cli(port: number, ...args: string[]): string;
  close(): Promise<void>;
}

export const SENTINEL_MASTER_NAME = 'tollgate-test';

/**
 * Master on `firstPort`, its replica on the next port, sentinels (quorum 2) on the three after.
 * A master silent for `downAfterMs` is failed over to the replica.
 */
export async function startSentinelGroup(firstPort: number, downAfterMs = 1000): Promise<SentinelGroupUnderTest> {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-sentinel-'));
  const cli = (port: number, ...args: string[]) => spawnSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8' }).stdout ?? '';
  const [masterPort, replicaPort] = [firstPort, firstPort + 1];
  const sentinelPorts = [firstPort + 2, firstPort + 3, firstPort + 4];
  const children: ChildProcess[] = [];
  const close = async () => {
    await Promise.all(children.map((c) => stopProcess(c, 'SIGKILL')));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    children.push(await startRedisServer(masterPort, ['--dir', dir]));
    children.push(await startRedisServer(replicaPort, ['--dir', dir, '--replicaof', '127.0.0.1', String(masterPort)]));
    await waitFor(async () => cli(replicaPort, 'info', 'replication').includes('master_link_status:up'), 'the replica did not sync', 100, 100);
    for (const port of sentinelPorts) {
      const conf = join(dir, `sentinel-${port}.conf`);
      writeFileSync(conf, [
        `port ${port}`, 'bind 127.0.0.1', `dir ${dir}`,
        `sentinel monitor ${SENTINEL_MASTER_NAME} 127.0.0.1 ${masterPort} 2`,
        `sentinel down-after-milliseconds ${SENTINEL_MASTER_NAME} ${downAfterMs}`,
        `sentinel failover-timeout ${SENTINEL_MASTER_NAME} 5000`,
        '',
      ].join('\n'));
      children.push(spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' }));
    }
    // Each sentinel has found the replica and the two other sentinels (quorum needs them).
    const known = async () => sentinelPorts.every((p) => {
      const master = cli(p, 'sentinel', 'master', SENTINEL_MASTER_NAME);
      return /num-slaves\n1\n/.test(master) && /num-other-sentinels\n2\n/.test(master);
    });
    await waitFor(known, 'the sentinels did not find each other and the replica', 150, 100);
  } catch (error) {
    await close();
    throw error;
  }
  return {
    masterPort,
    replicaPort,
    master: children[0]!,
    replica: children[1]!,
    url: `redis+sentinel://${sentinelPorts.map((p) => `127.0.0.1:${p}`).join(',')}/${SENTINEL_MASTER_NAME}`,
    cli,
    close,
  };
}
