import { api, query } from './api.js';
import { field, fill, h, when } from './dom.js';

interface AuditEvent {
  id: string;
  at: string;
  actor: string;
  action: string;
  client_id: string | null;
  details: unknown;
}

/** The audit log: newest first, by client, paged. */
export function auditScreen(root: HTMLElement): () => void {
  const client = h('input', { type: 'text', name: 'client_id', autocomplete: 'off' });
  const form = h('form', { class: 'inline', 'aria-label': 'Filter the audit log' }, field('Client id', client).wrap, h('button', { type: 'submit' }, 'Show'));
  const tbody = h('tbody', { id: 'audit-rows' });
  const more = h('button', { type: 'button', hidden: true }, 'Older events');
  const status = h('p', { class: 'status', role: 'status' });
  let cursor: string | null = null;

  const load = async (reset: boolean) => {
    if (reset) {
      cursor = null;
      fill(tbody);
    }
    try {
      const page: { events: AuditEvent[]; next_cursor: string | null } = await api('GET', `/admin/audit${query({ client_id: client.value.trim(), limit: 50, cursor })}`);
      for (const e of page.events) {
        tbody.appendChild(
          h('tr', {}, h('td', {}, when(e.at)), h('td', {}, e.actor), h('td', {}, e.action), h('td', { class: 'mono' }, e.client_id ?? '—'), h('td', { class: 'mono wrap' }, JSON.stringify(e.details))),
        );
      }
      if (!tbody.children.length) tbody.appendChild(h('tr', {}, h('td', { colspan: '5' }, 'No events.')));
      cursor = page.next_cursor;
      more.hidden = !cursor;
      status.textContent = '';
    } catch (error) {
      status.textContent = (error as Error).message;
    }
  };
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void load(true);
  });
  more.addEventListener('click', () => void load(false));
  fill(
    root,
    h('h1', { tabindex: '-1' }, 'Audit log'),
    form,
    status,
    h('div', { class: 'scroll' }, h('table', { class: 'list' }, h('caption', {}, 'Every administrative change, newest first'), h('thead', {}, h('tr', {}, ...['Time', 'Actor', 'Action', 'Client', 'Details'].map((t) => h('th', { scope: 'col' }, t)))), tbody)),
    more,
  );
  void load(true);
  return () => undefined;
}

interface SigningKey {
  kid: string;
  alg: string;
  status: string;
  created_at: string;
  retired_at: string | null;
  published_until: string | null;
}

/** The server's signing keys; rotation after a confirmation. */
export function keysScreen(root: HTMLElement): () => void {
  const tbody = h('tbody', { id: 'key-rows' });
  const status = h('p', { class: 'status', role: 'status', 'aria-live': 'polite' });
  const confirmSlot = h('div');
  const load = async () => {
    try {
      const { keys }: { keys: SigningKey[] } = await api('GET', '/admin/keys');
      fill(
        tbody,
        ...keys.map((k) =>
          h('tr', {}, h('td', { class: 'mono' }, k.kid), h('td', {}, k.alg), h('td', {}, h('span', { class: `badge badge-${k.status === 'signing' ? 'allow' : 'step_up'}` }, k.status)), h('td', {}, when(k.created_at)), h('td', {}, when(k.retired_at)), h('td', {}, when(k.published_until))),
        ),
      );
    } catch (error) {
      status.textContent = (error as Error).message;
    }
  };
  const rotate = h('button', { type: 'button' }, 'Rotate signing key…');
  rotate.addEventListener('click', () => {
    const yes = h('button', { type: 'button' }, 'Rotate now');
    const no = h('button', { type: 'button' }, 'Cancel');
    yes.addEventListener('click', async () => {
      fill(confirmSlot);
      try {
        const key: SigningKey = await api('POST', '/admin/keys/rotate');
        status.textContent = `New signing key ${key.kid}. The old one stays published until its tokens expire.`;
        await load();
      } catch (error) {
        status.textContent = (error as Error).message;
      }
    });
    no.addEventListener('click', () => fill(confirmSlot));
    fill(confirmSlot, h('div', { class: 'confirm', role: 'alertdialog', 'aria-label': 'Confirm rotation' }, h('p', {}, 'A new key signs from now on; tokens signed by the current one stay valid until they expire.'), yes, ' ', no));
    no.focus();
  });
  fill(
    root,
    h('h1', { tabindex: '-1' }, 'Signing keys'),
    status,
    h('div', { class: 'scroll' }, h('table', { class: 'list' }, h('caption', {}, 'Keys in the published JWKS'), h('thead', {}, h('tr', {}, ...['Key id', 'Algorithm', 'Status', 'Created', 'Retired', 'Published until'].map((t) => h('th', { scope: 'col' }, t)))), tbody)),
    h('div', { class: 'actions' }, rotate),
    confirmSlot,
  );
  void load();
  return () => undefined;
}
