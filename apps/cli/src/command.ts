import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { AdminApi, Target } from './admin-api.js';
import { UsageError } from './failures.js';

/** What every command gets: the server, the admin API, and where its output goes. */
export interface CommandContext {
  target: Target;
  api: AdminApi;
  json: boolean;
  /** Writes one line (or block) of output to stdout. */
  print(text: string): void;
  /** Aborted on SIGINT/SIGTERM: a following command (decisions tail) ends cleanly. */
  signal: AbortSignal;
}

/** A command's answer: `json` with --json, `text` otherwise (nothing is printed when it is empty). */
export interface CommandResult {
  json?: unknown;
  text: string;
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** Options every command takes (docs/cli.md). */
export const COMMON_OPTIONS = {
  json: { type: 'boolean' },
  url: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies Options;

/** node:util parseArgs, strict, with node's messages turned into usage errors. */
export function parse<O extends Options>(args: string[], options: O, positionals: { min: number; max: number; names: string }) {
  let parsed;
  try {
    parsed = parseArgs({ args, options: { ...COMMON_OPTIONS, ...options }, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const count = parsed.positionals.length;
  if (count < positionals.min || count > positionals.max) {
    throw new UsageError(positionals.max === 0 ? `unexpected argument ${parsed.positionals[0]}` : `expected ${positionals.names}`);
  }
  return parsed as { values: { [K in keyof O]?: O[K] extends { type: 'boolean' } ? boolean : O[K] extends { multiple: true } ? string[] : string }; positionals: string[] };
}

/** A fixed-width table for human output. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}
