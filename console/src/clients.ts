import { api, ApiError, query } from './api.js';
import { DecisionChart, type DecisionSummary, WINDOWS } from './chart.js';
import { badge } from './decisions.js';
import { field, fill, h, lines, when } from './dom.js';

export interface Client {
  client_id: string;
  client_name?: string;
  roles: string[];
  status: string;
  scope: string;
  allowed_resources: string[];
  jwks?: unknown;
  jwks_uri?: string;
  token_endpoint_auth_method: string;
  dpop_bound_access_tokens: boolean;
  require_dpop_nonce: boolean;
  access_token_ttl?: number;
  created_at: string;
  updated_at: string;
  client_secret?: string;
  /** In the list only: the client's newest decision, and its decisions in the last hour. */
  last_seen?: string | null;
  decisions_last_hour?: number;
}

/** How long the search waits after the last keystroke before asking the server. */
const SEARCH_DELAY_MS = 250;

type Field = ReturnType<typeof field>;

/** Shows each of the server's field problems next to the control it names; the rest in `general`. */
export function showProblems(error: unknown, fields: Record<string, Field>, general: HTMLElement): void {
  for (const f of Object.values(fields)) f.showError([]);
  const rest: string[] = [];
  if (error instanceof ApiError && error.fields.length) {
    const byField = new Map<string, string[]>();
    for (const p of error.fields) {
      const top = p.field.split(/[.[]/)[0]!;
      if (fields[top]) byField.set(top, [...(byField.get(top) ?? []), `${p.field}: ${p.message}`]);
      else rest.push(`${p.field}: ${p.message}`);
    }
    for (const [name, messages] of byField) fields[name]!.showError(messages);
    const first = [...byField.keys()][0];
    if (first) fields[first]!.control.focus();
  } else rest.push((error as Error).message);
  fill(general, ...lines(rest));
  general.hidden = rest.length === 0;
}

/** The secret of a gateway, shown once: the server keeps only its hash. */
function secretPanel(client: Client, done: () => void): HTMLElement {
  const ok = h('button', { type: 'button', onclick: done }, 'I have stored the secret');
  const panel = h(
    'section',
    { class: 'secret', role: 'alert', 'aria-label': 'Client secret' },
    h('h2', {}, 'Store this secret now'),
    h('p', {}, 'Tollgate keeps only a hash of it: it is not shown again. Gateways send it with their client id (HTTP Basic).'),
    h('dl', {}, h('dt', {}, 'Client id'), h('dd', { class: 'mono' }, client.client_id), h('dt', {}, 'Client secret'), h('dd', { class: 'mono', id: 'client-secret' }, client.client_secret ?? '')),
    ok,
  );
  queueMicrotask(() => ok.focus());
  return panel;
}

/** A message for the client list to show when it opens next (after a client page sent it there). */
let nextNotice = '';

/** What suspension does, said for the client's roles (docs/configuration.md `status`). */
function suspendedText(client: Client): string {
  const parts: string[] = [];
  if (client.roles.includes('workload')) parts.push('its tokens are refused (its next call is answered 401) and it gets no new ones');
  if (client.roles.includes('gateway')) parts.push('its /check calls are refused (answered 401)');
  return `Suspended: ${parts.join('; ') || 'it can no longer authenticate'}.`;
}

/** The client list (server-side search, paging, activity) and the two create forms. */
export function clientsScreen(root: HTMLElement): () => void {
  const clients: Client[] = [];
  let cursor: string | null = null;
  /** The search the list shows (trimmed); each new one starts the list over. */
  let needle = '';
  /** Answers to an older search or page are dropped when they arrive late. */
  let generation = 0;
  let searchTimer: ReturnType<typeof setTimeout> | undefined;
  const search = h('input', { type: 'search', name: 'search', autocomplete: 'off' });
  const tbody = h('tbody', { id: 'client-rows' });
  const more = h('button', { type: 'button' }, 'Load more');
  const status = h('p', { class: 'status', role: 'status' });
  const notice = h('p', { class: 'status', id: 'clients-notice', role: 'status', 'aria-live': 'polite' });
  const secretSlot = h('div');
  // Set after the screen is drawn, so that the live region announces it.
  if (nextNotice) {
    const text = nextNotice;
    nextNotice = '';
    setTimeout(() => (notice.textContent = text), 50);
  }

  const render = () => {
    const shown = clients;
    fill(
      tbody,
      ...(shown.length
        ? shown.map((c) =>
            h(
              'tr',
              { 'data-client-id': c.client_id },
              h('td', {}, h('a', { href: `#/clients/${encodeURIComponent(c.client_id)}` }, c.client_name || '(no name)')),
              h('td', { class: 'mono' }, c.client_id),
              h('td', {}, c.roles.join(', ')),
              h('td', {}, h('span', { class: `badge badge-${c.status === 'active' ? 'allow' : 'deny'}` }, c.status)),
              h('td', { class: 'last-seen' }, when(c.last_seen)),
              h('td', { class: 'num decisions-last-hour' }, c.decisions_last_hour ?? 0),
              h('td', {}, when(c.created_at)),
            ),
          )
        : [h('tr', {}, h('td', { colspan: '7' }, needle ? 'No client matches.' : 'No clients yet.'))]),
    );
    more.hidden = !cursor;
    status.textContent = `${shown.length} client${shown.length === 1 ? '' : 's'} shown${needle ? ` matching “${needle}”` : ''}${cursor ? ' (more on the server)' : ''}.`;
  };

  /** The next page of the current search (the first when the list is empty), from the server. */
  const load = async () => {
    const mine = generation;
    const page: { clients: Client[]; next_cursor: string | null } = await api('GET', `/admin/clients${query({ limit: 50, cursor, q: needle })}`);
    if (mine !== generation) return;
    clients.push(...page.clients);
    cursor = page.next_cursor;
    render();
  };

  /** A new search: the server filters by name or id (any case); the list starts over. */
  const searchNow = () => {
    const next = search.value.trim();
    if (next === needle) return;
    needle = next;
    generation++;
    clients.length = 0;
    cursor = null;
    status.textContent = 'Searching…';
    void load().catch((e: Error) => (status.textContent = e.message));
  };

  // Workload: a pasted public JWK (or JWKS), or a jwks_uri.
  const wName = field('Name', h('input', { type: 'text', name: 'client_name', maxlength: '200' }));
  const wScope = field('Scopes', h('input', { type: 'text', name: 'scope' }), 'Space-separated, e.g. orders:read orders:write');
  const wResources = field('Allowed resources', h('input', { type: 'text', name: 'allowed_resources' }), 'Space-separated URLs the tokens may be used at (RFC 8707); empty for the server default');
  const wJwk = field('Public key (JWK or JWKS, JSON)', h('textarea', { name: 'jwks', rows: '5', spellcheck: 'false' }), 'Paste the public key only; or give a jwks_uri instead');
  const wUri = field('jwks_uri', h('input', { type: 'url', name: 'jwks_uri' }), 'https URL of the client’s key set');
  const wGeneral = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const workloadFields: Record<string, Field> = { client_name: wName, scope: wScope, allowed_resources: wResources, jwks: wJwk, jwks_uri: wUri };
  const workloadForm = h(
    'form',
    { 'aria-labelledby': 'new-workload' },
    h('h2', { id: 'new-workload' }, 'New workload'),
    wName.wrap, wScope.wrap, wResources.wrap, wJwk.wrap, wUri.wrap, wGeneral,
    h('button', { type: 'submit' }, 'Create workload'),
  );
  workloadForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    const body: Record<string, unknown> = { roles: ['workload'] };
    const val = (f: Field) => f.control.value.trim();
    if (val(wName)) body.client_name = val(wName);
    if (val(wScope)) body.scope = val(wScope);
    if (val(wResources)) body.allowed_resources = val(wResources).split(/\s+/);
    if (val(wUri)) body.jwks_uri = val(wUri);
    if (val(wJwk)) {
      let parsed: any;
      try {
        parsed = JSON.parse(val(wJwk));
      } catch (e) {
        return showProblems(new ApiError(400, { fields: [{ field: 'jwks', message: `not JSON: ${(e as Error).message}` }] }), workloadFields, wGeneral);
      }
      const keys = parsed && Array.isArray(parsed.keys) ? parsed.keys : [parsed];
      if (keys.some((k: any) => k && typeof k === 'object' && 'd' in k)) {
        return showProblems(new ApiError(400, { fields: [{ field: 'jwks', message: 'this is a private key: paste the public key only (no "d")' }] }), workloadFields, wGeneral);
      }
      body.jwks = { keys };
    }
    try {
      const created: Client = await api('POST', '/admin/clients', body);
      for (const f of Object.values(workloadFields)) f.showError([]);
      wGeneral.hidden = true;
      workloadForm.reset();
      clients.unshift(created);
      render();
      status.textContent = `Workload ${created.client_id} created.`;
    } catch (error) {
      showProblems(error, workloadFields, wGeneral);
    }
  });

  const gName = field('Name', h('input', { type: 'text', name: 'client_name', maxlength: '200' }));
  const gGeneral = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const gatewayForm = h(
    'form',
    { 'aria-labelledby': 'new-gateway' },
    h('h2', { id: 'new-gateway' }, 'New gateway'),
    h('p', { class: 'hint' }, 'A gateway asks /check about calls; it authenticates with a client secret.'),
    gName.wrap, gGeneral,
    h('button', { type: 'submit' }, 'Create gateway'),
  );
  gatewayForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      const created: Client = await api('POST', '/admin/clients', { roles: ['gateway'], ...(gName.control.value.trim() ? { client_name: gName.control.value.trim() } : {}) });
      gGeneral.hidden = true;
      gatewayForm.reset();
      clients.unshift(created);
      render();
      fill(secretSlot, secretPanel(created, () => fill(secretSlot)));
    } catch (error) {
      showProblems(error, { client_name: gName }, gGeneral);
    }
  });

  search.addEventListener('input', () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(searchNow, SEARCH_DELAY_MS);
  });
  search.addEventListener('keydown', (event) => {
    if ((event as KeyboardEvent).key !== 'Enter') return;
    event.preventDefault();
    clearTimeout(searchTimer);
    searchNow();
  });
  more.addEventListener('click', () => void load().catch((e: Error) => (status.textContent = e.message)));
  fill(
    root,
    h('h1', { tabindex: '-1' }, 'Clients'),
    notice,
    secretSlot,
    field('Search clients (name or id)', search, 'Searches every client on the server, as you type').wrap,
    status,
    h(
      'div',
      { class: 'scroll' },
      h(
        'table',
        { class: 'list' },
        h('caption', {}, 'Machine clients'),
        h('thead', {}, h('tr', {}, ...['Name', 'Client id', 'Roles', 'Status', 'Last seen', 'Decisions (last hour)', 'Created'].map((t) => h('th', { scope: 'col' }, t)))),
        tbody,
      ),
    ),
    more,
    h('div', { class: 'columns' }, workloadForm, gatewayForm),
  );
  void load().catch((e: Error) => (status.textContent = e.message));
  return () => clearTimeout(searchTimer);
}

/** One client: its record, status and secret actions, delete with confirmation, authenticators, effective policy, recent decisions. */
export function clientScreen(root: HTMLElement, clientId: string): () => void {
  const status = h('p', { class: 'status', role: 'status', 'aria-live': 'polite' });
  const body = h('div');
  // Outside the record, which is drawn again after each change: a new secret stays until confirmed.
  const secretSlot = h('div');
  fill(root, h('h1', { tabindex: '-1' }, 'Client'), status, secretSlot, body);

  const show = async () => {
    let client: Client;
    try {
      client = await api('GET', `/admin/clients/${encodeURIComponent(clientId)}`);
    } catch (error) {
      status.textContent = (error as Error).message;
      return;
    }
    const heading = root.querySelector('h1')!;
    heading.textContent = client.client_name || client.client_id;
    const confirmSlot = h('div');

    /** A change, then the record read again (its status, its updated time). */
    const patch = async (change: Record<string, unknown>, done: string | ((updated: Client) => string)) => {
      try {
        const updated: Client = await api('PATCH', `/admin/clients/${encodeURIComponent(clientId)}`, change);
        status.textContent = typeof done === 'string' ? done : done(updated);
        if (updated.client_secret) fill(secretSlot, secretPanel(updated, () => fill(secretSlot)));
        await show();
      } catch (error) {
        status.textContent = (error as Error).message;
      }
    };

    const askDelete = () => {
      const yes = h('button', { type: 'button', class: 'danger' }, `Delete ${client.client_id} for good`);
      const no = h('button', { type: 'button' }, 'Keep it');
      yes.addEventListener('click', async () => {
        try {
          await api('DELETE', `/admin/clients/${encodeURIComponent(clientId)}`);
          nextNotice = client.client_name ? `Deleted ${client.client_name} (${client.client_id}).` : `Deleted ${client.client_id}.`;
          location.hash = '#/clients';
        } catch (error) {
          status.textContent = (error as Error).message;
        }
      });
      no.addEventListener('click', () => fill(confirmSlot));
      fill(confirmSlot, h('div', { class: 'confirm', role: 'alertdialog', 'aria-label': 'Confirm deletion' }, h('p', {}, 'Delete this client? Its tokens stop working and its policy and keys go with it. This cannot be undone.'), yes, ' ', no));
      no.focus();
    };

    // A new secret replaces the old one at once: the gateway is refused until it is given the new one.
    const askRotate = () => {
      const yes = h('button', { type: 'button', class: 'danger' }, 'Rotate the secret now');
      const no = h('button', { type: 'button' }, 'Keep the current secret');
      yes.addEventListener('click', () => {
        fill(confirmSlot);
        void patch({ rotate_secret: true }, 'Secret rotated: the old secret no longer works. Give the gateway the new one.');
      });
      no.addEventListener('click', () => fill(confirmSlot));
      fill(
        confirmSlot,
        h(
          'div',
          { class: 'confirm', role: 'alertdialog', 'aria-label': 'Confirm secret rotation' },
          h('p', {}, 'Rotate this gateway’s secret? The current secret stops working at once: the gateway’s /check calls are refused until it is configured with the new secret, which is shown once.'),
          yes,
          ' ',
          no,
        ),
      );
      no.focus();
    };

    const actions = h(
      'div',
      { class: 'actions' },
      client.status === 'active'
        ? h('button', { type: 'button', onclick: () => void patch({ status: 'suspended' }, suspendedText) }, 'Suspend')
        : h('button', { type: 'button', onclick: () => void patch({ status: 'active' }, 'Resumed.') }, 'Resume'),
      client.roles.includes('gateway') ? h('button', { type: 'button', onclick: askRotate }, 'Rotate secret…') : null,
      h('a', { class: 'button', href: `#/policies/${encodeURIComponent(client.client_id)}` }, 'Edit policy'),
      h('button', { type: 'button', class: 'danger', onclick: askDelete }, 'Delete…'),
    );

    const facts: [string, string | Node][] = [
      ['Client id', client.client_id],
      ['Status', client.status],
      ['Roles', client.roles.join(', ')],
      ['Scopes', client.scope || '—'],
      ['Allowed resources', client.allowed_resources.join(' ') || '—'],
      ['Authentication', client.token_endpoint_auth_method],
      ['Keys', client.jwks_uri ? `jwks_uri ${client.jwks_uri}` : client.jwks ? JSON.stringify(client.jwks) : '—'],
      ['DPoP-bound tokens', String(client.dpop_bound_access_tokens)],
      ['DPoP nonce required', String(client.require_dpop_nonce)],
      ['Token lifetime', client.access_token_ttl ? `${client.access_token_ttl} s` : 'server default'],
      ['Created', h('time', { datetime: client.created_at }, when(client.created_at))],
      ['Updated', h('time', { datetime: client.updated_at, id: 'client-updated' }, when(client.updated_at))],
    ];
    const authenticators = h('div', {}, 'Loading…');
    const learned = h('div', { id: 'learned' }, 'Loading…');
    const rate = new DecisionChart(WINDOWS.hour, 'This client’s decisions');
    const policy = h('pre', { class: 'json' }, 'Loading…');
    const recent = h('tbody');
    fill(
      body,
      actions,
      confirmSlot,
      h('dl', { class: 'facts' }, ...facts.flatMap(([k, v]) => [h('dt', {}, k), h('dd', { class: k === 'Keys' ? 'mono wrap' : '' }, v)])),
      h('h2', {}, 'What the risk engine has learned'),
      learned,
      rate.element,
      h('h2', {}, 'Recent decisions'),
      h('div', { class: 'scroll' }, h('table', { class: 'list' }, h('thead', {}, h('tr', {}, ...['Time', 'Call', 'Outcome', 'Score', 'Reasons'].map((t) => h('th', { scope: 'col' }, t)))), recent)),
      h('h2', {}, 'Effective policy'),
      policy,
      h('h2', {}, 'Step-up authenticators'),
      authenticators,
    );
    api('GET', `/admin/decisions${query({ client_id: clientId, limit: 20 })}`).then(
      (page: { decisions: any[] }) =>
        fill(
          recent,
          ...(page.decisions.length
            ? page.decisions.map((d) => h('tr', {}, h('td', {}, when(d.at)), h('td', { class: 'mono' }, `${d.method ?? ''} ${d.route ?? ''}`.trim() || d.kind), h('td', {}, badge(d.decision)), h('td', {}, String(d.score)), h('td', {}, (d.reasons as { code: string }[]).map((r) => r.code).join(', '))))
            : [h('tr', {}, h('td', { colspan: '5' }, 'No decisions yet.'))]),
        ),
      (e: Error) => fill(recent, h('tr', {}, h('td', { colspan: '5' }, e.message))),
    );
    Promise.all([
      api('GET', `/admin/clients/${encodeURIComponent(clientId)}/risk-state`),
      api('GET', `/admin/decisions/summary${query({ window: 'hour', client_id: clientId })}`),
    ]).then(
      ([state, summary]: [LearnedState, DecisionSummary]) => {
        fill(learned, learnedView(state));
        rate.setSummary(summary);
        rate.setBaseline(state.baseline.call.minutes ? state.baseline.call.per_minute : null);
        rate.draw();
      },
      (e: Error) => fill(learned, e.message),
    );
    api('GET', `/admin/clients/${encodeURIComponent(clientId)}/policy`).then(
      (p: { effective: unknown; policy: unknown }) => (policy.textContent = `${JSON.stringify(p.effective, null, 2)}\n\n${p.policy ? '(the server default merged with this client’s own policy)' : '(the server default: this client has no policy of its own)'}`),
      (e: Error) => (policy.textContent = e.message),
    );
    api('GET', `/admin/clients/${encodeURIComponent(clientId)}/authenticators`).then(
      (a: { authenticators: Record<string, unknown>[] }) =>
        fill(
          authenticators,
          a.authenticators.length
            ? h('ul', {}, ...a.authenticators.map((x) => h('li', { class: 'mono wrap' }, JSON.stringify(x))))
            : h('p', {}, 'None enrolled.'),
        ),
      (e: Error) => fill(authenticators, e.message),
    );
  };
  void show();
  return () => undefined;
}

interface LearnedState {
  learned_calls: number;
  learning: boolean;
  baseline: Record<'call' | 'issuance', { per_minute: number; minutes: number }>;
  routes: { value: string; last_seen: string }[];
  networks: { value: string; last_seen: string }[];
  dpop_keys: { value: string; last_seen: string }[];
  scope_sets: { value: string; last_seen: string }[];
  audiences: { value: string; last_seen: string }[];
  recent_failures: number;
}

/** The learned state as lists, each member with when it was last seen. */
function learnedView(state: LearnedState): HTMLElement {
  const rateText = (b: { per_minute: number; minutes: number }) => (b.minutes ? `${b.per_minute.toFixed(1)} per minute over ${b.minutes} active minutes` : 'not learned yet');
  const list = (title: string, id: string, items: { value: string; last_seen: string }[]) =>
    h(
      'section',
      { 'aria-labelledby': id },
      h('h3', { id }, `${title} (${items.length})`),
      items.length
        ? h('table', { class: 'list' }, h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, title), h('th', { scope: 'col' }, 'Last seen'))), h('tbody', {}, ...items.map((m) => h('tr', {}, h('td', { class: 'mono wrap' }, m.value), h('td', {}, when(m.last_seen))))))
        : h('p', { class: 'hint' }, 'None yet.'),
    );
  return h(
    'div',
    {},
    h(
      'dl',
      { class: 'facts' },
      h('dt', {}, 'Learned from'),
      h('dd', {}, `${state.learned_calls} allowed calls and issuances${state.learning ? ' (still learning: “never seen” signals stay quiet)' : ''}`),
      h('dt', {}, 'Call rate'),
      h('dd', {}, rateText(state.baseline.call)),
      h('dt', {}, 'Issuance rate'),
      h('dd', {}, rateText(state.baseline.issuance)),
      h('dt', {}, 'Failures, last 5 minutes'),
      h('dd', {}, String(state.recent_failures)),
    ),
    h(
      'div',
      { class: 'learned' },
      list('Routes', 'learned-routes', state.routes),
      list('Networks', 'learned-networks', state.networks),
      list('DPoP keys', 'learned-keys', state.dpop_keys),
      list('Scope sets', 'learned-scopes', state.scope_sets),
      list('Audiences', 'learned-audiences', state.audiences),
    ),
  );
}
