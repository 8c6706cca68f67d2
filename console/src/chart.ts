import { h, s } from './dom.js';

export const OUTCOMES = ['allow', 'step_up', 'deny', 'invalid'] as const;
export type Outcome = (typeof OUTCOMES)[number];
type Counts = Record<Outcome, number>;

/** A chart's time span: `buckets` bars of `bucketSeconds` each, ending now (GET /admin/decisions/summary's windows). */
export interface ChartWindow {
  name: 'hour' | 'day';
  buckets: number;
  bucketSeconds: number;
  /** "per minute over the last hour" */
  per: string;
  /** A tick every this many buckets, labelled with how long ago it is. */
  tickEvery: number;
  tickLabel(bucketsAgo: number): string;
}

export const WINDOWS: Record<ChartWindow['name'], ChartWindow> = {
  hour: { name: 'hour', buckets: 60, bucketSeconds: 60, per: 'per minute over the last hour', tickEvery: 10, tickLabel: (n) => `-${n}m` },
  day: { name: 'day', buckets: 96, bucketSeconds: 900, per: 'per 15 minutes over the last day', tickEvery: 16, tickLabel: (n) => `-${n / 4}h` },
};

/** GET /admin/decisions/summary's answer. */
export interface DecisionSummary {
  until: string;
  buckets: ({ start: string } & Counts)[];
}

/** Live decisions held while the server's counts are on their way (beyond it the oldest are dropped). */
const MAX_WAITING = 10_000;
const WIDTH = 720;
const HEIGHT = 180;
const PAD = { left: 40, right: 8, top: 10, bottom: 24 };

/**
 * Decisions per bucket (a minute over the last hour, or 15 minutes over the last day) by outcome,
 * as stacked SVG bars (drawn with attributes and CSS classes only: the CSP allows no style
 * attributes). The counts come from the server's aggregate (setSummary), then from the live
 * stream (add), which counts only what the aggregate did not (decided at or after its `until`).
 */
export class DecisionChart {
  readonly element: HTMLElement;
  private readonly counts = new Map<number, Counts>();
  private readonly caption: HTMLElement;
  private readonly figure: HTMLElement;
  private readonly summary: HTMLElement;
  private note = '';
  private baseline: number | null = null;
  /** Epoch ms up to which the server's aggregate counted (live decisions before it are in it); null while it is awaited. */
  private countedUntil: number | null = null;
  /** Live decisions that arrived while the aggregate was awaited: counted once it is known which it holds. */
  private waiting: [number, Outcome][] = [];

  constructor(
    private window: ChartWindow = WINDOWS.hour,
    private readonly subject = 'Decisions',
  ) {
    this.caption = h('figcaption', {});
    this.figure = h('div', { class: 'chart-canvas' });
    this.summary = h('p', { class: 'chart-summary', 'aria-live': 'polite' });
    this.element = h('figure', { class: 'chart' }, this.caption, this.figure, this.summary);
    this.setWindow(window);
  }

  get windowName(): ChartWindow['name'] {
    return this.window.name;
  }

  /** Another span: the counts start over (until the next setSummary). */
  setWindow(window: ChartWindow): void {
    this.window = window;
    this.caption.textContent = `${this.subject} ${window.per}`;
    this.reset();
  }

  /** A learned rate (per minute) drawn across the chart as a dashed line (the hour's chart only). */
  setBaseline(perMinute: number | null): void {
    this.baseline = perMinute;
  }

  /** The server's counts for the window, replacing what was there. */
  setSummary(summary: DecisionSummary): void {
    this.counts.clear();
    const width = this.window.bucketSeconds * 1000;
    for (const b of summary.buckets) {
      const c: Counts = { allow: 0, step_up: 0, deny: 0, invalid: 0 };
      for (const o of OUTCOMES) c[o] = Number(b[o]) || 0;
      this.counts.set(Math.floor(Date.parse(b.start) / width), c);
    }
    this.countedUntil = Date.parse(summary.until);
    const waiting = this.waiting;
    this.waiting = [];
    for (const [at, outcome] of waiting) this.count(at, outcome);
  }

  /** A live decision; one the server's counts already hold is skipped. */
  add(atIso: string, outcome: string): void {
    if (!(OUTCOMES as readonly string[]).includes(outcome)) return;
    const at = Date.parse(atIso);
    if (this.countedUntil === null) {
      this.waiting.push([at, outcome as Outcome]);
      if (this.waiting.length > MAX_WAITING) this.waiting.shift();
    } else this.count(at, outcome as Outcome);
  }

  private count(at: number, outcome: Outcome): void {
    if (this.countedUntil === null || !(at >= this.countedUntil)) return;
    const bucket = Math.floor(at / (this.window.bucketSeconds * 1000));
    let c = this.counts.get(bucket);
    if (!c) {
      c = { allow: 0, step_up: 0, deny: 0, invalid: 0 };
      this.counts.set(bucket, c);
    }
    c[outcome]++;
  }

  /** Nothing counted; live decisions wait for the next setSummary. */
  reset(): void {
    this.counts.clear();
    this.countedUntil = null;
    this.waiting = [];
  }

  setNote(note: string): void {
    this.note = note;
  }

  draw(): void {
    const { buckets, bucketSeconds } = this.window;
    const last = Math.floor(Date.now() / (bucketSeconds * 1000));
    const first = last - buckets + 1;
    for (const bucket of this.counts.keys()) if (bucket < first) this.counts.delete(bucket);
    const totals: Counts = { allow: 0, step_up: 0, deny: 0, invalid: 0 };
    let max = 1;
    for (let b = first; b <= last; b++) {
      const c = this.counts.get(b);
      if (!c) continue;
      max = Math.max(max, c.allow + c.step_up + c.deny + c.invalid);
      for (const o of OUTCOMES) totals[o] += c[o];
    }
    const baseline = this.window.name === 'hour' ? this.baseline : null;
    if (baseline !== null) max = Math.max(max, Math.ceil(baseline));
    const plotW = WIDTH - PAD.left - PAD.right;
    const plotH = HEIGHT - PAD.top - PAD.bottom;
    const barW = plotW / buckets;
    const title = `${this.subject} ${this.window.per}: ${OUTCOMES.map((o) => `${totals[o]} ${o}`).join(', ')}`;
    const svg = s('svg', { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: 'img', 'aria-label': title, class: 'chart-svg' }, s('title', {}, title));
    // Axes and labels.
    svg.appendChild(s('line', { x1: PAD.left, y1: PAD.top + plotH, x2: WIDTH - PAD.right, y2: PAD.top + plotH, class: 'axis' }));
    svg.appendChild(s('text', { x: PAD.left - 6, y: PAD.top + 10, class: 'tick', 'text-anchor': 'end' }, String(max)));
    svg.appendChild(s('text', { x: PAD.left - 6, y: PAD.top + plotH, class: 'tick', 'text-anchor': 'end' }, '0'));
    for (let i = 0; i <= buckets; i += this.window.tickEvery) {
      const x = PAD.left + i * barW;
      const label = i === buckets ? 'now' : this.window.tickLabel(buckets - i);
      svg.appendChild(s('text', { x, y: HEIGHT - 6, class: 'tick', 'text-anchor': i === buckets ? 'end' : 'middle' }, label));
    }
    for (let b = first; b <= last; b++) {
      const c = this.counts.get(b);
      if (!c) continue;
      let y = PAD.top + plotH;
      const x = PAD.left + (b - first) * barW + 1;
      const time = new Date(b * bucketSeconds * 1000).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', hour12: false });
      for (const o of OUTCOMES) {
        if (!c[o]) continue;
        const bh = (c[o] / max) * plotH;
        y -= bh;
        svg.appendChild(s('rect', { x: x.toFixed(1), y: y.toFixed(1), width: Math.max(barW - 2, 1).toFixed(1), height: bh.toFixed(1), class: `bar bar-${o}` }, s('title', {}, `${time}: ${c[o]} ${o}`)));
      }
    }
    if (baseline !== null && baseline > 0) {
      const y = (PAD.top + plotH - (baseline / max) * plotH).toFixed(1);
      svg.appendChild(s('line', { x1: PAD.left, y1: y, x2: WIDTH - PAD.right, y2: y, class: 'baseline' }, s('title', {}, `learned rate: ${baseline.toFixed(1)} per minute`)));
    }
    this.figure.replaceChildren(svg);
    const legend = h('ul', { class: 'legend' }, ...OUTCOMES.map((o) => h('li', {}, h('span', { class: `swatch swatch-${o}`, 'aria-hidden': 'true' }), `${o}: ${totals[o]}`)));
    const rate = baseline !== null ? h('span', { class: 'hint' }, `Dashed line: learned rate, ${baseline.toFixed(1)} allowed calls per minute. `) : '';
    this.summary.replaceChildren(legend, rate, this.note ? h('span', { class: 'hint' }, this.note) : '');
  }
}
