// Copies the console's pages and styles (console/static) next to its compiled scripts in
// dist/console, where the server reads them (libs/console). Plain Node, no dependencies.
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const from = join(root, 'console', 'static');
const to = join(root, 'dist', 'console');
mkdirSync(to, { recursive: true });
for (const name of readdirSync(from)) copyFileSync(join(from, name), join(to, name));
