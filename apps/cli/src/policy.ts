import { readFile } from 'node:fs/promises';
import { type CommandContext, type CommandResult, parse } from './command.js';
import { UsageError } from './failures.js';

export const POLICY_USAGE = `tollgate policy get [--client CLIENT_ID] [--effective]
tollgate policy set FILE|- [--client CLIENT_ID]
tollgate policy delete --client CLIENT_ID`;

interface PolicyAnswer {
  policy: unknown;
  effective?: unknown;
  version: number;
  source?: string;
  updated_at: string | null;
}

const path = (client: string | undefined) => (client ? `/admin/clients/${encodeURIComponent(client)}/policy` : '/admin/policy');

async function document(file: string): Promise<unknown> {
  let text: string;
  try {
    text = file === '-' ? await readStdin() : await readFile(file, 'utf8');
  } catch (err) {
    throw new UsageError(`${file}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${file} is not JSON: ${(err as Error).message}`);
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Risk policies (docs/risk.md). `get` prints the document alone, so that `get > file`, an edit
 * and `set file` round-trip; the server checks the whole document and names every bad field.
 */
export async function policy(args: string[], ctx: CommandContext): Promise<CommandResult> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'get': {
      const { values } = parse(rest, { client: { type: 'string' }, effective: { type: 'boolean' } }, { min: 0, max: 0, names: '' });
      if (values.effective && !values.client) throw new UsageError('--effective needs --client (the default policy is what it is)');
      const answer = await ctx.api.request<PolicyAnswer>('GET', path(values.client));
      return { json: answer, text: JSON.stringify(values.effective ? answer.effective : answer.policy, null, 2) };
    }
    case 'set': {
      const { values, positionals } = parse(rest, { client: { type: 'string' } }, { min: 1, max: 1, names: 'a policy file (or - for stdin)' });
      const body = await document(positionals[0]!);
      const answer = await ctx.api.request<PolicyAnswer>('PUT', path(values.client), body);
      const whose = values.client ? `policy of ${values.client}` : 'default policy';
      return { json: answer, text: `${whose} stored (version ${answer.version})` };
    }
    case 'delete': {
      const { values } = parse(rest, { client: { type: 'string' } }, { min: 0, max: 0, names: '' });
      if (!values.client) throw new UsageError('--client is required: the default policy cannot be deleted, only replaced');
      await ctx.api.request('DELETE', path(values.client));
      return { json: { client_id: values.client, deleted: true }, text: `policy of ${values.client} deleted: the default applies` };
    }
    default:
      throw new UsageError(sub ? `unknown command: policy ${sub}\n${POLICY_USAGE}` : POLICY_USAGE);
  }
}
