// The build stamp: when `npm run build` last succeeded, so that `npm start` compiles only when
// dist/ is missing or older than what it is built from. Plain Node, no dependencies.
//
//   node scripts/build-stamp.mjs begin   (first step of the build: forget the old stamp)
//   node scripts/build-stamp.mjs end     (last step, only reached when every step succeeded)
//
// The stamp's mtime is the moment the build began: a file saved while tsc runs is newer than it,
// so the next start builds again. A failed build leaves no stamp, so the next start builds again.
import { mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const STAMP = 'dist/.build-stamp';
const STARTED = 'dist/.build-started';
/** What the build produces and the server runs. */
export const MAIN = 'dist/apps/tollgate/src/main.js';
/** tsconfig.json's "include" (and console/, compiled by its own tsconfig): their files are built into dist/. */
export const SOURCE_DIRS = ['apps', 'libs', 'test', 'bench', 'scripts', 'console'];
/** The other inputs: the Prisma schema (generated client), its config, the locked dependencies, the compiler options. */
export const INPUT_FILES = ['prisma/schema.prisma', 'prisma.config.ts', 'package-lock.json', 'tsconfig.json'];
/** Written by the build itself (prisma generate), never an input. */
const OUTPUT_DIRS = new Set(['libs/persistence/generated']);
// The console's pages and styles are copied into dist/ too (scripts/console-assets.mjs).
const SOURCE = /\.((c|m)?ts|html|css)$/;

/**
 * Whether the build in dist/ must be made again. Pure: it is given the stamp's and main.js's
 * mtimes (undefined when missing) and every input's mtime, and returns the reason to build, or
 * null when dist/ is current.
 */
export function buildNeeded({ stampMs, mainMs, inputs }) {
  if (stampMs === undefined) return 'no finished build in dist/';
  if (mainMs === undefined) return `${MAIN} is missing`;
  const newer = inputs.find((input) => input.mtimeMs > stampMs);
  return newer ? `${newer.path} changed since the last build` : null;
}

const mtimeOf = (path) => {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return undefined;
  }
};

/** The mtimes buildNeeded() decides on, read from the project in `root`. */
export function readBuildState(root) {
  const inputs = [];
  const walk = (dir) => {
    for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory()) {
        if (entry.name !== 'node_modules' && !OUTPUT_DIRS.has(path)) walk(path);
      } else if (SOURCE.test(entry.name)) {
        inputs.push({ path, mtimeMs: statSync(join(root, path)).mtimeMs });
      }
    }
  };
  for (const dir of SOURCE_DIRS) if (mtimeOf(join(root, dir)) !== undefined) walk(dir);
  for (const file of INPUT_FILES) {
    const mtimeMs = mtimeOf(join(root, file));
    if (mtimeMs !== undefined) inputs.push({ path: file, mtimeMs });
  }
  return { stampMs: mtimeOf(join(root, STAMP)), mainMs: mtimeOf(join(root, MAIN)), inputs };
}

/**
 * tsc compiles everything each time but never removes what a moved or deleted source left
 * behind: a stale *.test.js would still run. The build starts from nothing (no extra compile time).
 */
export function cleanOutputs(root) {
  for (const dir of SOURCE_DIRS) rmSync(join(root, 'dist', dir), { recursive: true, force: true });
}

export function beginBuild(root) {
  rmSync(join(root, STAMP), { force: true });
  mkdirSync(join(root, 'dist'), { recursive: true });
  writeFileSync(join(root, STARTED), `${new Date().toISOString()}\n`);
}

export function endBuild(root) {
  // The rename keeps the mtime of `begin`.
  renameSync(join(root, STARTED), join(root, STAMP));
}

export const projectRoot = fileURLToPath(new URL('..', import.meta.url));

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const step = process.argv[2];
  if (step === 'begin') {
    cleanOutputs(projectRoot);
    beginBuild(projectRoot);
  } else if (step === 'end') endBuild(projectRoot);
  else {
    const reason = buildNeeded(readBuildState(projectRoot));
    process.stdout.write(reason ? `build needed: ${reason}\n` : `build is current (${relative(process.cwd(), join(projectRoot, STAMP))})\n`);
  }
}
