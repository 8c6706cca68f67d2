import { api, ApiError } from './api.js';
import { showProblems } from './clients.js';
import { field, fill, h, when } from './dom.js';

/** The policy document's members (libs/risk/core/types.ts RiskPolicy), with what each one means. */
const MEMBERS: [string, string][] = [
  ['thresholds', 'Score thresholds, e.g. {"step_up": 40, "deny": 80}'],
  ['step_up_acr', 'acr asked for when the score calls for step-up, e.g. "urn:tollgate:acr:live"'],
  ['step_up_max_age', 'Seconds a step-up proof stays fresh, e.g. 300'],
  ['on_new_key', 'A DPoP key never seen for the client: "allow", "step_up" or "deny"'],
  ['on_new_network', 'A network never seen for the client: "allow", "step_up" or "deny"'],
  ['baseline', 'Learned rate baseline, e.g. {"factor": 5, "min_minutes": 10}'],
  ['rate_limit_per_minute', 'Hard limit of calls per minute, e.g. 600'],
  ['allowed_networks', 'CIDR ranges, e.g. ["10.0.0.0/8"]'],
  ['allowed_countries', 'ISO 3166-1 alpha-2 codes, e.g. ["DE", "FR"]'],
  ['allowed_hours', 'e.g. {"timezone": "Europe/Berlin", "days": [1,2,3,4,5], "from": "07:00", "to": "19:00"}'],
  ['weights', 'Per-signal score overrides, e.g. {"new_network": 30}'],
  ['routes', 'Per-route rules (see docs/risk.md)'],
];

type Field = ReturnType<typeof field>;

/**
 * Risk policies, the server default or one client's, edited member by member (each a JSON value)
 * or as one JSON document. The server checks the whole document; each problem it names is shown
 * next to the member it belongs to.
 */
export function policiesScreen(root: HTMLElement, initialClient: string): () => void {
  const target = h('input', { type: 'text', name: 'policy_client', autocomplete: 'off', value: initialClient });
  const chooser = h('form', { class: 'inline', 'aria-label': 'Choose a policy' }, field('Client id (empty: the server default)', target).wrap, h('button', { type: 'submit' }, 'Load'));
  const status = h('p', { class: 'status', role: 'status', 'aria-live': 'polite' });
  const general = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const heading = h('h2', {});
  const meta = h('p', { class: 'hint' });

  const members: Record<string, Field> = {};
  for (const [name, hint] of MEMBERS) {
    members[name] = field(name, h('textarea', { name, rows: '1', spellcheck: 'false', class: 'json-input' }), hint);
  }
  const json = field('Policy document (JSON)', h('textarea', { name: 'document', rows: '16', spellcheck: 'false', class: 'json-input' }));
  const fieldsPanel = h('fieldset', { class: 'members' }, h('legend', {}, 'Members (leave empty to leave out)'), ...Object.values(members).map((m) => m.wrap));
  const jsonPanel = h('div', { hidden: true }, json.wrap);
  const asFields = h('button', { type: 'button', 'aria-pressed': 'true' }, 'Edit as form');
  const asJson = h('button', { type: 'button', 'aria-pressed': 'false' }, 'Edit as JSON');
  const save = h('button', { type: 'submit' }, 'Save policy');
  const remove = h('button', { type: 'button', class: 'danger', hidden: true }, 'Remove this client’s policy');
  const dryRun = h('button', { type: 'button' }, 'Dry run');
  const editor = h('form', { 'aria-labelledby': 'policy-heading', hidden: true }, h('div', { class: 'tabs', role: 'group', 'aria-label': 'Editor' }, asFields, asJson), fieldsPanel, jsonPanel, general, h('div', { class: 'actions' }, save, dryRun, remove));
  const dryRunSummary = h('p', { id: 'dry-run-summary', role: 'status', 'aria-live': 'polite' });
  const dryRunRows = h('tbody', { id: 'dry-run-rows' });
  const dryRunPanel = h(
    'section',
    { 'aria-labelledby': 'dry-run-heading', hidden: true },
    h('h2', { id: 'dry-run-heading' }, 'Dry run'),
    dryRunSummary,
    h('div', { class: 'scroll' }, h('table', { class: 'list' }, h('caption', {}, 'The newest decisions, evaluated again under the edited policy (nothing is saved)'), h('thead', {}, h('tr', {}, ...['Time', 'Client', 'Kind', 'Route', 'Recorded', 'Under this policy', 'Reasons'].map((t) => h('th', { scope: 'col' }, t)))), dryRunRows)),
  );
  heading.id = 'policy-heading';
  fill(root, h('h1', { tabindex: '-1' }, 'Policies'), chooser, status, heading, meta, editor, dryRunPanel);

  let clientId = initialClient;
  let mode: 'fields' | 'json' = 'fields';

  /** The document as the form or the JSON editor has it; a JSON mistake is shown at its member. */
  const current = (): Record<string, unknown> | null => {
    for (const m of [...Object.values(members), json]) m.showError([]);
    if (mode === 'json') {
      try {
        const doc = JSON.parse(json.control.value || '{}');
        return doc;
      } catch (e) {
        json.showError([`not JSON: ${(e as Error).message}`]);
        return null;
      }
    }
    const doc: Record<string, unknown> = {};
    let ok = true;
    for (const [name, m] of Object.entries(members)) {
      const text = m.control.value.trim();
      if (!text) continue;
      try {
        doc[name] = JSON.parse(text);
      } catch (e) {
        m.showError([`${name}: not JSON: ${(e as Error).message}`]);
        ok = false;
      }
    }
    return ok ? doc : null;
  };

  const setDocument = (doc: Record<string, unknown>) => {
    for (const [name, m] of Object.entries(members)) {
      m.control.value = doc[name] === undefined ? '' : JSON.stringify(doc[name]);
      (m.control as HTMLTextAreaElement).rows = Math.min(6, Math.max(1, Math.ceil(m.control.value.length / 80)));
    }
    const unknown = Object.keys(doc).filter((k) => !(k in members));
    json.control.value = JSON.stringify(doc, null, 2);
    if (unknown.length) switchTo('json');
  };

  function switchTo(next: 'fields' | 'json') {
    if (next === mode) return;
    const doc = current();
    if (!doc) return;
    mode = next;
    if (next === 'json') json.control.value = JSON.stringify(doc, null, 2);
    else setDocument(doc);
    fieldsPanel.hidden = next !== 'fields';
    jsonPanel.hidden = next !== 'json';
    asFields.setAttribute('aria-pressed', String(next === 'fields'));
    asJson.setAttribute('aria-pressed', String(next === 'json'));
  }
  asFields.addEventListener('click', () => switchTo('fields'));
  asJson.addEventListener('click', () => switchTo('json'));

  const path = () => (clientId ? `/admin/clients/${encodeURIComponent(clientId)}/policy` : '/admin/policy');

  /** The server's problems with the document (a save or a dry run), each next to the member it names. */
  const serverProblems = (error: unknown) => {
    if (mode === 'json' && error instanceof ApiError) {
      // One editor: every problem goes next to it, each naming its field.
      showProblems(new ApiError(error.status, { ...error.body, fields: error.fields.map((p) => ({ field: 'document', message: `${p.field}: ${p.message}` })) }), { document: json }, general);
    } else showProblems(error, members, general);
  };

  /** Shows which of the newest decisions the edited policy would decide otherwise (POST …/dry-run; nothing is saved). */
  const showDryRun = (result: any) => {
    const entries: any[] = Array.isArray(result.decisions) ? result.decisions : [];
    const whose = clientId ? 'this client’s' : 'all clients’';
    dryRunSummary.textContent =
      `${result.changed} of ${result.evaluated} re-evaluated decisions would change (${whose} newest ${entries.length})` +
      (result.not_reevaluable ? `; ${result.not_reevaluable} not re-evaluable (no recorded call context).` : '.');
    const rows = entries.map((d) => {
      const outcome = d.dry_run ? `${d.dry_run.decision} (${d.dry_run.score})` : 'not re-evaluable';
      const reasons = d.dry_run ? d.dry_run.reasons.map((r: any) => (r.detail ? `${r.code} (${r.detail})` : r.code)).join(', ') || '—' : '—';
      return h(
        'tr',
        { 'data-decision-id': String(d.decision_id), class: d.changed ? 'changed' : d.reevaluable ? '' : 'muted' },
        h('td', {}, when(d.at)),
        h('td', {}, d.client_id ?? '—'),
        h('td', {}, d.kind),
        h('td', {}, d.route ? `${d.method ?? ''} ${d.route}`.trim() : '—'),
        h('td', {}, `${d.recorded.decision} (${d.recorded.score})`),
        h('td', {}, d.changed ? `${outcome} — would change` : outcome),
        h('td', {}, reasons),
      );
    });
    fill(dryRunRows, ...rows);
    dryRunPanel.hidden = false;
  };

  /** The dry run's table and summary go as soon as they may no longer be true (another run, a save, another policy). */
  const clearDryRun = () => {
    dryRunPanel.hidden = true;
    dryRunSummary.textContent = '';
    fill(dryRunRows);
  };

  const load = async () => {
    general.hidden = true;
    clearDryRun();
    status.textContent = 'Loading…';
    try {
      const view: any = await api('GET', path());
      editor.hidden = false;
      heading.textContent = clientId ? `Policy of ${clientId}` : 'Server default policy';
      if (clientId) {
        meta.textContent = view.policy ? `Own policy, version ${view.version}. The effective policy merges it over the server default.` : 'No policy of its own: the server default applies. Saving creates one.';
        setDocument(view.policy ?? {});
      } else {
        meta.textContent = view.source === 'stored' ? `Stored, version ${view.version}.` : 'Built in (nothing stored yet). Saving stores it.';
        setDocument(view.policy);
      }
      remove.hidden = !(clientId && view.policy);
      status.textContent = '';
    } catch (error) {
      // Nothing to edit (an unknown client, or the server could not answer): no Save, no Dry run.
      editor.hidden = true;
      heading.textContent = '';
      meta.textContent = '';
      status.textContent =
        error instanceof ApiError && error.status === 404 ? `No client ${clientId}: there is no policy to edit. Choose another client id.` : `Not loaded: ${(error as Error).message}`;
    }
  };

  chooser.addEventListener('submit', (event) => {
    event.preventDefault();
    clientId = target.value.trim();
    history.replaceState(null, '', clientId ? `#/policies/${encodeURIComponent(clientId)}` : '#/policies');
    void load();
  });

  editor.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearDryRun();
    const doc = current();
    if (!doc) {
      status.textContent = 'Not saved: fix the marked JSON first.';
      return;
    }
    try {
      await api('PUT', path(), doc);
      status.textContent = 'Saved. Every instance applies it within moments.';
      await load();
      status.textContent = 'Saved. Every instance applies it within moments.';
    } catch (error) {
      status.textContent = 'Not saved: the server found problems (shown at their fields).';
      serverProblems(error);
    }
  });

  dryRun.addEventListener('click', async () => {
    clearDryRun();
    const doc = current();
    if (!doc) {
      status.textContent = 'Not run: fix the marked JSON first.';
      return;
    }
    status.textContent = 'Running…';
    try {
      showDryRun(await api('POST', `${path()}/dry-run`, doc));
      general.hidden = true;
      for (const m of Object.values(members)) m.showError([]);
      status.textContent = 'Dry run done: nothing was saved.';
    } catch (error) {
      status.textContent = 'Not run: the server found problems (shown at their fields).';
      serverProblems(error);
    }
  });

  remove.addEventListener('click', async () => {
    try {
      await api('DELETE', path());
      status.textContent = 'Removed: the server default applies.';
      await load();
    } catch (error) {
      status.textContent = (error as Error).message;
    }
  });

  void load();
  return () => undefined;
}
