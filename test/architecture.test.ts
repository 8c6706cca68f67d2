import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

// Run from dist/test: the repository is two folders up.
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The libraries in docs/architecture.md's "Layers" block, top first. */
function documentedLayers(): string[] {
  const doc = readFileSync(join(ROOT, 'docs/architecture.md'), 'utf8');
  const block = /## Layers[^\n]*\n+```\n([\s\S]*?)```/.exec(doc)?.[1] ?? '';
  return [...block.matchAll(/^libs\/([a-z-]+)\s/gm)].map((m) => m[1]!);
}

/** Each library's imports of other libraries (`#name`), from its non-test sources. */
function imports(): Map<string, Map<string, string>> {
  const graph = new Map<string, Map<string, string>>();
  const walk = (lib: string, dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== 'node_modules' && entry.name !== 'dist') walk(lib, path);
      } else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) {
        for (const m of readFileSync(path, 'utf8').matchAll(/from '#([a-z-]+)'/g)) {
          if (m[1] !== lib && !graph.get(lib)!.has(m[1]!)) graph.get(lib)!.set(m[1]!, path.slice(ROOT.length));
        }
      }
    }
  };
  for (const lib of readdirSync(join(ROOT, 'libs'))) {
    graph.set(lib, new Map());
    walk(lib, join(ROOT, 'libs', lib));
  }
  return graph;
}

describe('docs/architecture.md is what the code is', () => {
  const layers = documentedLayers();
  const graph = imports();

  it('names every library under libs/, once', () => {
    assert.deepEqual([...layers].sort(), [...graph.keys()].sort());
    assert.equal(new Set(layers).size, layers.length);
  });

  it('calls only go down: no library imports one listed above it', () => {
    const upward: string[] = [];
    for (const [lib, deps] of graph) {
      for (const [dep, file] of deps) {
        if (layers.includes(dep) && layers.indexOf(dep) < layers.indexOf(lib)) upward.push(`${file} imports #${dep}, listed above libs/${lib}`);
      }
    }
    assert.deepEqual(upward, []);
  });

  it('the SDK imports no server library; libs/risk/core no I/O and no NestJS (the pure constants of #protocol only)', () => {
    assert.deepEqual([...graph.get('workload-client')!.keys()], []);
    for (const file of readdirSync(join(ROOT, 'libs/risk/core')).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))) {
      const text = readFileSync(join(ROOT, 'libs/risk/core', file), 'utf8');
      const io = [...text.matchAll(/from '(#(?!protocol')[a-z-]+|@nestjs\/[a-z-]+|ioredis|@prisma\/[a-z-]+|node:(?:fs|net|http|https)|pg)'/g)].map((m) => m[1]);
      assert.deepEqual(io, [], `libs/risk/core/${file}`);
    }
  });
});
