import { api, checkSession, query } from './api.js';
import { DecisionChart, type DecisionSummary, OUTCOMES, WINDOWS } from './chart.js';
import { field, fill, h, when } from './dom.js';

interface Decision {
  decision_id: string;
  at: string;
  kind: string;
  client_id: string | null;
  method: string | null;
  route: string | null;
  decision: string;
  score: number;
  reasons: { code: string; score: number; detail?: string }[];
  ip: string | null;
  request_id?: string | null;
}

interface Filters {
  client_id: string;
  decision: string;
  reason: string;
  route: string;
}

/** Rows kept in the live list; older ones fall off the end. */
const MAX_ROWS = 200;
/** History pages (200 each) read to fill the list when reason or route filters skip most of them. */
const MAX_PAGES = 5;

const matches = (f: Filters, d: Decision) =>
  (!f.reason || d.reasons.some((r) => r.code === f.reason)) && (!f.route || (d.route ?? '').startsWith(f.route));

export function badge(outcome: string): HTMLElement {
  return h('span', { class: `badge badge-${outcome}` }, outcome);
}

/** Live decisions: a Server-Sent Events list with filters, the last hour's or day's chart, details on demand. */
export function decisionsScreen(root: HTMLElement): () => void {
  let source: EventSource | null = null;
  let filters: Filters = { client_id: '', decision: '', reason: '', route: '' };
  const rows: Decision[] = [];
  /** Decision ids shown or counted: the history and the live stream overlap for a moment. */
  const seen = new Set<string>();
  let redrawSoon: ReturnType<typeof setTimeout> | undefined;

  const clientInput = h('input', { type: 'text', name: 'client_id', autocomplete: 'off' });
  const decisionSelect = h('select', { name: 'decision' }, h('option', { value: '' }, 'any'), ...OUTCOMES.map((o) => h('option', { value: o }, o)));
  const reasonInput = h('input', { type: 'text', name: 'reason', autocomplete: 'off' });
  const routeInput = h('input', { type: 'text', name: 'route', autocomplete: 'off' });
  const form = h(
    'form',
    { class: 'filters', 'aria-label': 'Filter decisions' },
    field('Client id', clientInput).wrap,
    field('Outcome', decisionSelect).wrap,
    field('Reason code', reasonInput).wrap,
    field('Route starts with', routeInput).wrap,
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Apply filters')),
  );
  const status = h('p', { class: 'status', role: 'status', 'aria-live': 'polite' }, 'Connecting…');
  const chart = new DecisionChart(WINDOWS.hour);
  const lastHour = h('button', { type: 'button', 'aria-pressed': 'true' }, 'Last hour');
  const lastDay = h('button', { type: 'button', 'aria-pressed': 'false' }, 'Last day');
  const spans = h('div', { class: 'tabs', role: 'group', 'aria-label': 'Chart span' }, lastHour, lastDay);
  const tbody = h('tbody', { id: 'decision-rows' });
  const table = h(
    'table',
    { class: 'list' },
    h('caption', {}, 'Newest first. Choose a time for the decision’s details.'),
    h('thead', {}, h('tr', {}, ...['Time', 'Client', 'Kind', 'Call', 'Outcome', 'Score', 'Reasons'].map((t) => h('th', { scope: 'col' }, t)))),
    tbody,
  );
  const details = h('section', { class: 'details', id: 'decision-details', 'aria-label': 'Decision details', hidden: true });
  /** The decision shown in the details and the button that opened them: focus goes back there on close. */
  let opened: { id: string; button: HTMLButtonElement } | null = null;

  fill(root, h('h1', { tabindex: '-1' }, 'Decisions'), form, status, spans, chart.element, h('div', { class: 'split' }, h('div', { class: 'scroll' }, table), details));

  /** Closes the details; focus returns to the time button that opened them (the same decision's, if the list was redrawn). */
  const closeDetails = () => {
    if (details.hidden) return;
    details.hidden = true;
    const again = opened && tbody.querySelector<HTMLButtonElement>(`tr[data-decision-id="${CSS.escape(opened.id)}"] button`);
    const back = again ?? (opened?.button.isConnected ? opened.button : null);
    opened?.button.setAttribute('aria-expanded', 'false');
    opened = null;
    (back ?? root.querySelector<HTMLElement>('h1'))?.focus();
  };
  details.addEventListener('keydown', (event) => {
    if (event.key !== 'Escape') return;
    event.preventDefault();
    closeDetails();
  });

  const showDetails = (d: Decision, button: HTMLButtonElement) => {
    opened?.button.setAttribute('aria-expanded', 'false');
    opened = { id: d.decision_id, button };
    button.setAttribute('aria-expanded', 'true');
    const heading = h('h2', { tabindex: '-1' }, 'Decision ', d.decision_id);
    fill(
      details,
      heading,
      h(
        'dl',
        {},
        ...(
          [
            ['At', when(d.at)],
            ['Outcome', d.decision],
            ['Score', String(d.score)],
            ['Kind', d.kind],
            ['Client', d.client_id ?? '—'],
            ['Method', d.method ?? '—'],
            ['Route', d.route ?? '—'],
            ['Caller address', d.ip ?? '—'],
            ['Request id', d.request_id ?? '—'],
          ] as const
        ).flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]),
      ),
      h('h3', {}, 'Reasons'),
      d.reasons.length
        ? h(
            'table',
            { class: 'list' },
            h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Code'), h('th', { scope: 'col' }, 'Score'), h('th', { scope: 'col' }, 'Detail'))),
            h('tbody', {}, ...d.reasons.map((r) => h('tr', {}, h('td', {}, r.code), h('td', {}, String(r.score)), h('td', {}, r.detail ?? '')))),
          )
        : h('p', {}, 'No reasons: nothing scored.'),
      h('button', { type: 'button', onclick: closeDetails }, 'Close details'),
    );
    details.hidden = false;
    // Beside the list, below the chart: on a laptop screen it may start below the fold.
    const box = details.getBoundingClientRect();
    if (box.top < 0 || box.bottom > window.innerHeight) details.scrollIntoView({ block: 'start' });
    heading.focus({ preventScroll: true });
  };

  const rowOf = (d: Decision) =>
    h(
      'tr',
      { 'data-decision-id': d.decision_id },
      h('td', {}, h('button', { type: 'button', class: 'link', 'aria-controls': 'decision-details', 'aria-expanded': 'false', onclick: (event) => showDetails(d, event.currentTarget as HTMLButtonElement) }, when(d.at))),
      h('td', { class: 'mono' }, d.client_id ?? '—'),
      h('td', {}, d.kind),
      h('td', { class: 'mono' }, `${d.method ?? ''} ${d.route ?? ''}`.trim() || '—'),
      h('td', {}, badge(d.decision)),
      h('td', {}, String(d.score)),
      h('td', {}, d.reasons.map((r) => r.code).join(', ')),
    );

  const render = () => fill(tbody, ...(rows.length ? rows.map(rowOf) : [h('tr', {}, h('td', { colspan: '7' }, 'No decisions yet.'))]));

  const addLive = (d: Decision) => {
    // The chart tells by time which decisions its server counts hold; the list, by id.
    chart.add(d.at, d.decision);
    if (seen.has(d.decision_id)) return;
    seen.add(d.decision_id);
    rows.unshift(d);
    if (rows.length > MAX_ROWS) rows.length = MAX_ROWS;
    tbody.querySelector('tr:not([data-decision-id])')?.remove();
    tbody.prepend(rowOf(d));
    while (tbody.children.length > MAX_ROWS) tbody.lastElementChild?.remove();
    // Redrawn soon after a burst, not once per decision.
    redrawSoon ??= setTimeout(() => {
      redrawSoon = undefined;
      chart.draw();
    }, 200);
  };

  /** The chart's counts for its span, counted by the server (GET /admin/decisions/summary), with the same filters. */
  const loadChart = async () => {
    const span = chart.windowName;
    const summary: DecisionSummary = await api('GET', `/admin/decisions/summary${query({ window: span, ...filters })}`);
    if (span !== chart.windowName) return; // switched meanwhile: that answer is for the other span
    chart.setSummary(summary);
    chart.draw();
  };

  /** The list's newest decisions of the last hour (a few pages at most when reason or route filters skip rows). */
  const loadHistory = async () => {
    const since = new Date(Date.now() - 3600_000).toISOString();
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: { decisions: Decision[]; next_cursor: string | null } = await api(
        'GET',
        `/admin/decisions${query({ client_id: filters.client_id, decision: filters.decision, since, limit: 200, cursor })}`,
      );
      for (const d of page.decisions) {
        if (!matches(filters, d) || seen.has(d.decision_id)) continue;
        seen.add(d.decision_id);
        if (rows.length < MAX_ROWS) rows.push(d);
      }
      cursor = page.next_cursor;
    } while (cursor && rows.length < MAX_ROWS && ++pages < MAX_PAGES);
    // Live ones that arrived meanwhile are newer, but keep the order exact.
    rows.sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0));
    rows.length = Math.min(rows.length, MAX_ROWS);
  };

  const showSpan = (name: 'hour' | 'day') => {
    if (chart.windowName === name) return;
    lastHour.setAttribute('aria-pressed', String(name === 'hour'));
    lastDay.setAttribute('aria-pressed', String(name === 'day'));
    chart.setWindow(WINDOWS[name]);
    chart.draw();
    loadChart().catch((error: Error) => (status.textContent = `Chart not loaded: ${error.message}`));
  };
  lastHour.addEventListener('click', () => showSpan('hour'));
  lastDay.addEventListener('click', () => showSpan('day'));

  const connect = () => {
    source?.close();
    const s = new EventSource(`/admin/decisions/stream${query({ ...filters })}`);
    source = s;
    s.addEventListener('open', () => (status.textContent = 'Live: new decisions appear at the top.'));
    s.addEventListener('error', () => {
      if (s.readyState !== EventSource.CLOSED) {
        status.textContent = 'Live stream interrupted: reconnecting…';
        return;
      }
      status.textContent = 'Live stream closed (signed out, or too many streams).';
      // Refused on reconnecting: if the session ended, the page says so (back to sign-in).
      void checkSession().catch(() => undefined);
    });
    s.addEventListener('decision', (event) => {
      try {
        addLive(JSON.parse((event as MessageEvent<string>).data) as Decision);
      } catch {
        // A malformed event is skipped, never rendered.
      }
    });
  };

  const start = async () => {
    rows.length = 0;
    seen.clear();
    chart.reset();
    render();
    connect();
    chart.draw();
    const [history, counts] = await Promise.allSettled([loadHistory(), loadChart()]);
    render();
    if (history.status === 'rejected') status.textContent = `History not loaded: ${(history.reason as Error).message}`;
    else if (counts.status === 'rejected') status.textContent = `Chart not loaded: ${(counts.reason as Error).message}`;
  };

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    filters = { client_id: clientInput.value.trim(), decision: decisionSelect.value, reason: reasonInput.value.trim(), route: routeInput.value.trim() };
    void start();
  });
  // The minutes move on even without decisions.
  const redraw = setInterval(() => chart.draw(), 10_000);
  void start();
  return () => {
    source?.close();
    clearInterval(redraw);
    clearTimeout(redrawSoon);
  };
}
