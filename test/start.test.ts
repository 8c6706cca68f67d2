import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { freePort, waitFor } from './support/processes.js';

/** scripts/build-stamp.mjs (plain Node, not compiled): the parts this suite uses. */
interface BuildStamp {
  STAMP: string;
  MAIN: string;
  buildNeeded(state: { stampMs?: number; mainMs?: number; inputs: { path: string; mtimeMs: number }[] }): string | null;
  readBuildState(root: string): { stampMs?: number; mainMs?: number; inputs: { path: string; mtimeMs: number }[] };
  beginBuild(root: string): void;
  endBuild(root: string): void;
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const stamp = (await import(pathToFileURL(join(ROOT, 'scripts/build-stamp.mjs')).href)) as BuildStamp;

describe('build staleness (scripts/build-stamp.mjs)', () => {
  const input = (path: string, mtimeMs: number) => ({ path, mtimeMs });

  it('builds when there is no finished build or no server to run', () => {
    assert.match(stamp.buildNeeded({ stampMs: undefined, mainMs: 5, inputs: [] })!, /no finished build/);
    assert.match(stamp.buildNeeded({ stampMs: 10, mainMs: undefined, inputs: [] })!, /main\.js is missing/);
  });

  it('builds when any input is newer than the stamp, and names it', () => {
    const inputs = [input('libs/config/config.ts', 90), input('prisma/schema.prisma', 120), input('package-lock.json', 50)];
    assert.equal(stamp.buildNeeded({ stampMs: 100, mainMs: 101, inputs }), 'prisma/schema.prisma changed since the last build');
  });

  it('does not build when everything is older than the stamp (or as old)', () => {
    const inputs = [input('libs/config/config.ts', 90), input('tsconfig.json', 100)];
    assert.equal(stamp.buildNeeded({ stampMs: 100, mainMs: 101, inputs }), null);
  });

  it('reads the sources tsc compiles and the other inputs, not what the build writes', () => {
    const paths = stamp.readBuildState(ROOT).inputs.map((i) => i.path);
    for (const expected of ['apps/tollgate/src/main.ts', 'libs/config/config.ts', 'test/start.test.ts', 'scripts/db-deploy.ts', 'prisma/schema.prisma', 'package-lock.json', 'tsconfig.json']) {
      assert.ok(paths.includes(expected), expected);
    }
    assert.ok(!paths.some((p) => p.startsWith('libs/persistence/generated/') || p.startsWith('dist/') || p.includes('node_modules')));
  });
});

/**
 * `npm start` end to end, in a copy of the project (sources and dist/ with their mtimes,
 * node_modules linked): the real tree's dist/ is never rebuilt by this suite.
 */
describe('npm start', () => {
  const project = mkdtempSync(join(tmpdir(), 'tollgate-start-'));
  const data = mkdtempSync(join(tmpdir(), 'tollgate-start-data-'));
  const children: ChildProcess[] = [];
  let port: number;

  before(async () => {
    for (const entry of ['apps', 'libs', 'test', 'bench', 'scripts', 'console', 'prisma', 'dist', 'package.json', 'package-lock.json', 'tsconfig.json', 'prisma.config.ts']) {
      cpSync(join(ROOT, entry), join(project, entry), { recursive: true, preserveTimestamps: true });
    }
    symlinkSync(join(ROOT, 'node_modules'), join(project, 'node_modules'));
    // A finished build as of now, whatever the state of the tree it was copied from.
    stamp.beginBuild(project);
    stamp.endBuild(project);
    port = await freePort();
  });

  after(async () => {
    for (const child of children) killGroup(child, 'SIGKILL');
    rmSync(project, { recursive: true, force: true });
    rmSync(data, { recursive: true, force: true });
  });

  /** `npm start` in its own process group (npm, scripts/start.mjs, the server). */
  function npmStart() {
    const child = spawn('npm', ['start'], {
      cwd: project,
      detached: true,
      env: {
        ...process.env,
        DATABASE_URL: '',
        REDIS_URL: '',
        TOLLGATE_DATA_DIR: data,
        PORT: String(port),
        HOST: '127.0.0.1',
        TOLLGATE_ADMIN_TOKEN: randomBytes(32).toString('base64url'),
        TOLLGATE_KEY_ENCRYPTION_KEY: Buffer.alloc(32, 9).toString('base64url'),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    const out = { stdout: '', stderr: '' };
    child.stdout!.on('data', (chunk) => (out.stdout += chunk));
    child.stderr!.on('data', (chunk) => (out.stderr += chunk));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    return { child, out, exited };
  }

  const healthy = async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).status === 200;
  // A full build (tsc over the whole tree) takes ~40 s on a quiet 2-core machine and more on a
  // busy one; a start without a build is ready in seconds.
  const serving = (out: { stdout: string; stderr: string }, seconds = 60) => waitFor(healthy, () => `not serving:\n${out.stdout}\n${out.stderr}`, seconds * 20, 50);

  /** Every file under dist/ with its mtime: tsc rewrites them all when it runs. */
  function distSnapshot(): Map<string, number> {
    const files = new Map<string, number>();
    const walk = (dir: string) => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) walk(path);
        else files.set(path, statSync(path).mtimeMs);
      }
    };
    walk(join(project, 'dist'));
    return files;
  }

  it('with a current build, serves without compiling; after kill -9 it serves again; SIGTERM reaches the server', async (t) => {
    const before = distSnapshot();
    const first = npmStart();
    await serving(first.out);
    assert.doesNotMatch(first.out.stderr, /tollgate: building/);

    // A crash: the whole instance is killed, then started again the same way.
    killGroup(first.child, 'SIGKILL');
    await first.exited;
    const restartedAt = Date.now();
    const second = npmStart();
    await serving(second.out);
    t.diagnostic(`npm start served /healthz again ${Date.now() - restartedAt} ms after kill -9 (embedded database, no build)`);
    assert.doesNotMatch(second.out.stderr, /tollgate: building/);

    const afterwards = distSnapshot();
    assert.deepEqual([...afterwards.keys()].sort(), [...before.keys()].sort(), 'no file added to or removed from dist/');
    for (const [path, mtimeMs] of before) assert.equal(afterwards.get(path), mtimeMs, `${path} was rewritten`);

    // SIGTERM to npm: passed through to the server, which shuts down gracefully and exits 0.
    second.child.kill('SIGTERM');
    const exit = await second.exited;
    assert.deepEqual(exit, { code: 0, signal: null }, second.out.stderr);
    assert.match(second.out.stdout, /"message":"shutting down","context":"tollgate","signal":"SIGTERM"/);
  });

  it('builds first when a source file is newer than the last build', async () => {
    const stampBefore = statSync(join(project, stamp.STAMP)).mtimeMs;
    const mainBefore = statSync(join(project, stamp.MAIN)).mtimeMs;
    const now = new Date();
    utimesSync(join(project, 'libs/config/config.ts'), now, now);

    const run = npmStart();
    await serving(run.out, 240);
    assert.match(run.out.stderr, /tollgate: building \(libs\/config\/config\.ts changed since the last build\)/);
    assert.ok(statSync(join(project, stamp.STAMP)).mtimeMs > stampBefore, 'a new stamp');
    assert.ok(statSync(join(project, stamp.MAIN)).mtimeMs > mainBefore, 'main.js compiled again');
    assert.equal(stamp.buildNeeded(stamp.readBuildState(project)), null, 'the build is current again');
    // The build's output went to stderr: stdout holds only npm's banner and log lines.
    for (const line of run.out.stdout.split('\n').filter((l) => l && !l.startsWith('>'))) JSON.parse(line);

    run.child.kill('SIGTERM');
    assert.equal((await run.exited).code, 0);
  });
});

function killGroup(child: ChildProcess, signal: NodeJS.Signals) {
  try {
    process.kill(-child.pid!, signal);
  } catch {
    // already gone
  }
}
