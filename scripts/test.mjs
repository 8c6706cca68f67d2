// Runs every compiled *.test.js with node's test runner, one file at a time (the end-to-end
// suites each start a server against the same database), and ends with `N passed, N failed`.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

function find(dir, out = []) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) find(path, out);
    else if (entry.name.endsWith('.test.js')) out.push(path);
  }
  return out;
}

const filter = process.argv.slice(2);
const files = ['dist/libs', 'dist/test'].flatMap((d) => find(d)).filter((f) => !filter.length || filter.some((x) => f.includes(x))).sort();
const child = spawn(process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=spec', ...files], { stdio: ['ignore', 'pipe', 'inherit'] });
let tail = '';
child.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  tail = (tail + chunk.toString()).slice(-200000);
});
child.on('close', (code) => {
  const count = (name) => Number(new RegExp(`ℹ ${name} (\\d+)`).exec(tail)?.[1] ?? 0);
  console.log(`\n${count('pass')} passed, ${count('fail')} failed`);
  process.exit(code ?? 1);
});
