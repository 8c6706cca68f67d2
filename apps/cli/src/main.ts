#!/usr/bin/env node
// `tollgate`: the admin and workload command line (docs/cli.md). A client of the server's HTTP
// API only: it imports no server library (the workload SDK aside, for `token`).
import { AdminApi, type Target } from './admin-api.js';
import type { CommandContext, CommandResult } from './command.js';
import { clients, CLIENTS_USAGE } from './clients.js';
import { decisions, DECISIONS_USAGE } from './decisions.js';
import { EXIT, RefusedError, UnreachableError, UsageError } from './failures.js';
import { keys, KEYS_USAGE } from './keys.js';
import { policy, POLICY_USAGE } from './policy.js';
import { token, TOKEN_USAGE } from './token.js';

const USAGE = `usage:
${[CLIENTS_USAGE, POLICY_USAGE, DECISIONS_USAGE, KEYS_USAGE, TOKEN_USAGE].join('\n')}

options: --json (machine-readable output)  --url URL (default $TOLLGATE_URL, else http://localhost:3000)
environment: TOLLGATE_URL, TOLLGATE_ADMIN_TOKEN (admin commands)
exit codes: 0 ok, 1 the server refused, 2 usage, 3 the server could not be reached, 4 unexpected failure`;

const COMMANDS: Record<string, (args: string[], ctx: CommandContext) => Promise<CommandResult>> = { clients, policy, decisions, keys, token };

/** The global options, wherever they are on the line; the commands' own parsers accept them too. */
function globals(argv: string[]): { json: boolean; url: string | undefined; help: boolean } {
  let url: string | undefined;
  argv.forEach((arg, i) => {
    if (arg === '--url') url = argv[i + 1];
    else if (arg.startsWith('--url=')) url = arg.slice('--url='.length);
  });
  return { json: argv.includes('--json'), url, help: argv.includes('--help') || argv.includes('-h') };
}

async function main(argv: string[]): Promise<number> {
  const options = globals(argv);
  const [name, ...args] = argv;
  const command = name ? COMMANDS[name] : undefined;
  if (options.help || name === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return EXIT.ok;
  }
  const abort = new AbortController();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => abort.abort());
  try {
    if (!command) throw new UsageError(name ? `unknown command: ${name}\n${USAGE}` : USAGE);
    const url = options.url ?? process.env.TOLLGATE_URL ?? 'http://localhost:3000';
    if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol)) throw new UsageError(`TOLLGATE_URL is not an http(s) URL: ${url}`);
    const target: Target = { url, adminToken: process.env.TOLLGATE_ADMIN_TOKEN || undefined };
    const ctx: CommandContext = { target, api: new AdminApi(target), json: options.json, print: (text) => process.stdout.write(`${text}\n`), signal: abort.signal };
    const result = await command(args, ctx);
    if (options.json && result.json !== undefined) ctx.print(JSON.stringify(result.json, null, 2));
    else if (!options.json && result.text) ctx.print(result.text);
    return EXIT.ok;
  } catch (err) {
    if (err instanceof RefusedError) {
      if (options.json) process.stderr.write(`${JSON.stringify(err)}\n`);
      else {
        process.stderr.write(`tollgate: the server refused (${err.status} ${err.error})${err.fields.length ? '' : err.description ? `: ${err.description}` : ''}\n`);
        for (const f of err.fields) process.stderr.write(`  ${f.field}: ${f.message}\n`);
      }
      return err.exitCode;
    }
    if (err instanceof UsageError || err instanceof UnreachableError) {
      process.stderr.write(options.json ? `${JSON.stringify({ error: err instanceof UsageError ? 'usage' : 'unreachable', error_description: err.message })}\n` : `tollgate: ${err.message}\n`);
      return err.exitCode;
    }
    // A bug here, not a refusal: its own code, so that scripts do not mistake it for one.
    process.stderr.write(`tollgate: unexpected failure: ${(err as Error)?.stack ?? String(err)}\n`);
    return EXIT.failed;
  }
}

process.exitCode = await main(process.argv.slice(2));
