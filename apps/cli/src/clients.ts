import { readFile } from 'node:fs/promises';
import { type CommandContext, type CommandResult, parse, table } from './command.js';
import { UsageError } from './failures.js';

/** The client as the admin API shows it (RFC 7591 §3.2.1 names; libs/clients clientView). */
interface ClientView {
  client_id: string;
  client_name?: string;
  roles: string[];
  status: string;
  token_endpoint_auth_method: string;
  scope: string;
  allowed_resources: string[];
  jwks?: { keys: { kid?: string; kty?: string; alg?: string }[] };
  jwks_uri?: string;
  client_secret?: string;
  [member: string]: unknown;
}

export const CLIENTS_USAGE = `tollgate clients create --name NAME --roles workload|gateway [--token-endpoint-auth-method M]
                        [--jwks FILE | --jwks-uri URL] [--scope S] [--resource URL]...
                        [--access-token-ttl SECONDS] [--require-dpop-nonce]
tollgate clients list [--limit N] [--all]
tollgate clients get|suspend|resume|delete|rotate-secret CLIENT_ID`;

// RFC 7517 §4 / RFC 7518 §6: members only a private key has. A JWKS with any of them is refused
// before it leaves this machine.
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

/** A JWK Set from a file: `{"keys": [...]}` or one public JWK; never a private key. */
async function jwksFile(path: string): Promise<{ keys: Record<string, unknown>[] }> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new UsageError(`--jwks ${path}: ${(err as Error).message}`);
  }
  const set = (parsed as { keys?: unknown })?.keys !== undefined ? (parsed as { keys: unknown }).keys : [parsed];
  if (!Array.isArray(set) || !set.every((k) => typeof k === 'object' && k !== null && typeof k.kty === 'string')) {
    throw new UsageError(`--jwks ${path}: expected a JWK Set {"keys": [...]} or one JWK (RFC 7517)`);
  }
  for (const key of set as Record<string, unknown>[]) {
    const secret = PRIVATE_MEMBERS.filter((m) => m in key);
    if (secret.length) throw new UsageError(`--jwks ${path}: key ${String(key.kid ?? '')} has private members (${secret.join(', ')}); register the public key only`);
  }
  return { keys: set as Record<string, unknown>[] };
}

function describe(c: ClientView): string {
  const keys = c.jwks ? `${c.jwks.keys.length} key(s): ${c.jwks.keys.map((k) => k.kid ?? k.kty).join(', ')}` : c.jwks_uri ? `jwks_uri ${c.jwks_uri}` : 'none';
  const rows: [string, unknown][] = [
    ['client_id', c.client_id],
    ['name', c.client_name ?? ''],
    ['roles', c.roles.join(', ')],
    ['status', c.status],
    ['auth method', c.token_endpoint_auth_method],
    ['keys', keys],
    ['scope', c.scope || '(none)'],
    ['resources', c.allowed_resources.join(' ') || '(none)'],
    ['dpop nonce', c.require_dpop_nonce ? 'required' : 'not required'],
    ['created', c.created_at],
    ['updated', c.updated_at],
  ];
  return rows.map(([k, v]) => `${`${k}:`.padEnd(13)}${String(v)}`).join('\n');
}

const secretLine = (c: ClientView) => (c.client_secret ? `\nclient_secret: ${c.client_secret}\n(shown once: store it now; only its hash is kept)` : '');

export async function clients(args: string[], ctx: CommandContext): Promise<CommandResult> {
  const [sub, ...rest] = args;
  const id = (verb: string) => {
    const { positionals } = parse(rest, {}, { min: 1, max: 1, names: `tollgate clients ${verb} CLIENT_ID` });
    return encodeURIComponent(positionals[0]!);
  };
  switch (sub) {
    case 'create': {
      const { values } = parse(
        rest,
        {
          name: { type: 'string' },
          roles: { type: 'string', multiple: true },
          'token-endpoint-auth-method': { type: 'string' },
          jwks: { type: 'string' },
          'jwks-uri': { type: 'string' },
          scope: { type: 'string' },
          resource: { type: 'string', multiple: true },
          'access-token-ttl': { type: 'string' },
          'require-dpop-nonce': { type: 'boolean' },
        },
        { min: 0, max: 0, names: '' },
      );
      if (!values.name) throw new UsageError('--name is required');
      const roles = (values.roles ?? []).flatMap((r) => r.split(',')).filter(Boolean);
      if (!roles.length) throw new UsageError('--roles is required: workload, gateway or workload,gateway');
      if (values.jwks && values['jwks-uri']) throw new UsageError('give --jwks FILE or --jwks-uri URL, not both');
      const ttl = values['access-token-ttl'];
      if (ttl !== undefined && !/^\d+$/.test(ttl)) throw new UsageError('--access-token-ttl must be a number of seconds');
      const body = {
        client_name: values.name,
        roles,
        ...(values['token-endpoint-auth-method'] ? { token_endpoint_auth_method: values['token-endpoint-auth-method'] } : {}),
        ...(values.jwks ? { jwks: await jwksFile(values.jwks) } : {}),
        ...(values['jwks-uri'] ? { jwks_uri: values['jwks-uri'] } : {}),
        ...(values.scope !== undefined ? { scope: values.scope } : {}),
        ...(values.resource ? { allowed_resources: values.resource } : {}),
        ...(ttl !== undefined ? { access_token_ttl: Number(ttl) } : {}),
        ...(values['require-dpop-nonce'] ? { require_dpop_nonce: true } : {}),
      };
      const created = await ctx.api.request<ClientView>('POST', '/admin/clients', body);
      return { json: created, text: `created ${created.client_id}\n${describe(created)}${secretLine(created)}` };
    }
    case 'list': {
      const { values } = parse(rest, { limit: { type: 'string' }, all: { type: 'boolean' } }, { min: 0, max: 0, names: '' });
      if (values.limit !== undefined && !/^\d+$/.test(values.limit)) throw new UsageError('--limit must be a number');
      const found: ClientView[] = [];
      let cursor: string | null = null;
      do {
        const query = new URLSearchParams({ ...(values.limit ? { limit: values.limit } : {}), ...(cursor ? { cursor } : {}) });
        const page: { clients: ClientView[]; next_cursor: string | null } = await ctx.api.request('GET', `/admin/clients?${query}`);
        found.push(...page.clients);
        cursor = values.all ? page.next_cursor : null;
      } while (cursor);
      const rows = found.map((c) => [c.client_id, c.client_name ?? '', c.roles.join(','), c.status, c.scope]);
      return { json: { clients: found }, text: found.length ? table(['CLIENT_ID', 'NAME', 'ROLES', 'STATUS', 'SCOPE'], rows) : 'no clients' };
    }
    case 'get': {
      const client = await ctx.api.request<ClientView>('GET', `/admin/clients/${id('get')}`);
      return { json: client, text: describe(client) };
    }
    case 'suspend':
    case 'resume': {
      const status = sub === 'suspend' ? 'suspended' : 'active';
      const client = await ctx.api.request<ClientView>('PATCH', `/admin/clients/${id(sub)}`, { status });
      return { json: client, text: `${client.client_id} is ${client.status}` };
    }
    case 'delete': {
      const clientId = id('delete');
      await ctx.api.request('DELETE', `/admin/clients/${clientId}`);
      return { json: { client_id: decodeURIComponent(clientId), deleted: true }, text: `${decodeURIComponent(clientId)} deleted` };
    }
    case 'rotate-secret': {
      const client = await ctx.api.request<ClientView>('PATCH', `/admin/clients/${id('rotate-secret')}`, { rotate_secret: true });
      return { json: client, text: `new secret for ${client.client_id}${secretLine(client)}` };
    }
    default:
      throw new UsageError(sub ? `unknown command: clients ${sub}\n${CLIENTS_USAGE}` : CLIENTS_USAGE);
  }
}
