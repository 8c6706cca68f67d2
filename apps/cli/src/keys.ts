import { type CommandContext, type CommandResult, parse, table } from './command.js';
import { UsageError } from './failures.js';

export const KEYS_USAGE = `tollgate keys list
tollgate keys rotate`;

interface SigningKey {
  kid: string;
  alg: string;
  status: string;
  created_at: string;
  retired_at: string | null;
  published_until: string | null;
}

/** The server's token signing keys (libs/keys): the new key signs, retired ones stay published. */
export async function keys(args: string[], ctx: CommandContext): Promise<CommandResult> {
  const [sub, ...rest] = args;
  parse(rest, {}, { min: 0, max: 0, names: '' });
  switch (sub) {
    case 'list': {
      const answer = await ctx.api.request<{ keys: SigningKey[] }>('GET', '/admin/keys');
      const rows = answer.keys.map((k) => [k.kid, k.alg, k.status, k.created_at, k.published_until ?? '']);
      return { json: answer, text: table(['KID', 'ALG', 'STATUS', 'CREATED', 'PUBLISHED_UNTIL'], rows) };
    }
    case 'rotate': {
      const key = await ctx.api.request<SigningKey>('POST', '/admin/keys/rotate');
      return { json: key, text: `${key.kid} (${key.alg}) now signs; the retired keys stay in the JWKS until their tokens have expired` };
    }
    default:
      throw new UsageError(sub ? `unknown command: keys ${sub}\n${KEYS_USAGE}` : KEYS_USAGE);
  }
}
