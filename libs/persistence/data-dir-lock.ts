import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/**
 * PGlite takes no lock on its data directory and two processes opening the same one corrupt
 * it, so Tollgate takes its own: a pid file created exclusively. A stale lock (dead pid) is
 * taken over; a live one stops the server with a clear message.
 */
const heldHere = new Set<string>();

export function lockDataDir(dir: string): () => void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, 'tollgate.lock');
  if (heldHere.has(path)) {
    throw new Error(`the embedded database in ${dir} is in use by process ${process.pid}; stop it, or set TOLLGATE_DATA_DIR to another folder`);
  }
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      heldHere.add(path);
      return () => {
        heldHere.delete(path);
        rmSync(path, { force: true });
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const pid = Number(readFileSync(path, 'utf8'));
      if (pid && pid !== process.pid && processAlive(pid)) {
        throw new Error(
          `the embedded database in ${dir} is in use by process ${pid}; stop it, or set TOLLGATE_DATA_DIR to another folder`,
        );
      }
      rmSync(path, { force: true });
    }
  }
  throw new Error(`could not lock ${path}`);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A killed process nobody has reaped yet (a zombie: its parent died too, and PID 1 in a
  // container often reaps nothing) still answers signal 0, but holds nothing any more.
  try {
    const state = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ').pop()?.[0];
    return state !== 'Z' && state !== 'X';
  } catch {
    return true; // no /proc (not Linux): trust signal 0
  }
}
