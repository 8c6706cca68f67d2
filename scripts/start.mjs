// `npm start`: builds only when dist/ is missing or older than its sources (see build-stamp.mjs),
// then runs the server as a child process and passes signals through, so that SIGTERM or
// Ctrl-C still shuts it down gracefully and the exit code is the server's. Plain Node, no
// dependencies. Production runs the built server directly (`npm run serve`, the Dockerfile).
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { buildNeeded, MAIN, projectRoot, readBuildState } from './build-stamp.mjs';

const reason = buildNeeded(readBuildState(projectRoot));
if (reason) {
  process.stderr.write(`tollgate: building (${reason})\n`);
  // npm sets npm_execpath for the scripts it runs; without it, `npm` from PATH. The build's
  // output goes to stderr: stdout is the server's log stream.
  const npm = process.env.npm_execpath;
  const build = npm
    ? spawnSync(process.execPath, [npm, 'run', 'build'], { cwd: projectRoot, stdio: ['ignore', 2, 2] })
    : spawnSync('npm', ['run', 'build'], { cwd: projectRoot, stdio: ['ignore', 2, 2], shell: process.platform === 'win32' });
  if (build.status !== 0) {
    process.stderr.write(`tollgate: the build failed (${build.error?.message ?? `exit ${build.status ?? build.signal}`})\n`);
    process.exit(build.status || 1);
  }
}

const server = spawn(process.execPath, [join(projectRoot, MAIN), ...process.argv.slice(2)], { stdio: 'inherit' });
const SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'];
for (const signal of SIGNALS) process.on(signal, () => server.kill(signal));
server.on('error', (error) => {
  process.stderr.write(`tollgate: cannot run ${MAIN}: ${error.message}\n`);
  process.exit(1);
});
server.on('exit', (code, signal) => {
  if (signal) {
    // Die of the same signal, so that whoever started us sees what happened to the server.
    for (const s of SIGNALS) process.removeAllListeners(s);
    process.kill(process.pid, signal);
  } else {
    process.exit(code ?? 1);
  }
});
