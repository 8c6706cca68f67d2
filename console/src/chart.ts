import { h, s } from './dom.js';

export const OUTCOMES = ['allow', 'step_up', 'deny', 'invalid'] as const;
export type Outcome = (typeof OUTCOMES)[number];
type Counts = Record<Outcome, number>;

const MINUTE = 60_000;
const WIDTH = 720;
const HEIGHT = 180;
const PAD = { left: 40, right: 8, top: 10, bottom: 24 };

/**
 * Decisions per minute over the last hour, by outcome, as stacked SVG bars (drawn with
 * attributes and CSS classes only: the CSP allows no style attributes). Counts come from the
 * history first and then from the live stream.
 */
export class MinuteChart {
  readonly element: HTMLElement;
  private readonly counts = new Map<number, Counts>();
  private readonly figure: HTMLElement;
  private readonly summary: HTMLElement;
  private note = '';
  private baseline: number | null = null;

  constructor(private readonly minutes = 60, caption = 'Decisions per minute, last hour') {
    this.figure = h('div', { class: 'chart-canvas' });
    this.summary = h('p', { class: 'chart-summary', 'aria-live': 'polite' });
    this.element = h('figure', { class: 'chart' }, h('figcaption', {}, caption), this.figure, this.summary);
  }

  /** A learned rate (per minute) drawn across the chart as a dashed line. */
  setBaseline(perMinute: number | null): void {
    this.baseline = perMinute;
  }

  add(atIso: string, outcome: string): void {
    if (!(OUTCOMES as readonly string[]).includes(outcome)) return;
    const minute = Math.floor(Date.parse(atIso) / MINUTE);
    let c = this.counts.get(minute);
    if (!c) {
      c = { allow: 0, step_up: 0, deny: 0, invalid: 0 };
      this.counts.set(minute, c);
    }
    c[outcome as Outcome]++;
  }

  reset(): void {
    this.counts.clear();
  }

  setNote(note: string): void {
    this.note = note;
  }

  draw(): void {
    const last = Math.floor(Date.now() / MINUTE);
    const first = last - this.minutes + 1;
    for (const minute of this.counts.keys()) if (minute < first) this.counts.delete(minute);
    const totals: Counts = { allow: 0, step_up: 0, deny: 0, invalid: 0 };
    let max = 1;
    for (let m = first; m <= last; m++) {
      const c = this.counts.get(m);
      if (!c) continue;
      max = Math.max(max, c.allow + c.step_up + c.deny + c.invalid);
      for (const o of OUTCOMES) totals[o] += c[o];
    }
    if (this.baseline !== null) max = Math.max(max, Math.ceil(this.baseline));
    const plotW = WIDTH - PAD.left - PAD.right;
    const plotH = HEIGHT - PAD.top - PAD.bottom;
    const barW = plotW / this.minutes;
    const title = `Decisions per minute over the last hour: ${OUTCOMES.map((o) => `${totals[o]} ${o}`).join(', ')}`;
    const svg = s('svg', { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: 'img', 'aria-label': title, class: 'chart-svg' }, s('title', {}, title));
    // Axes and labels.
    svg.appendChild(s('line', { x1: PAD.left, y1: PAD.top + plotH, x2: WIDTH - PAD.right, y2: PAD.top + plotH, class: 'axis' }));
    svg.appendChild(s('text', { x: PAD.left - 6, y: PAD.top + 10, class: 'tick', 'text-anchor': 'end' }, String(max)));
    svg.appendChild(s('text', { x: PAD.left - 6, y: PAD.top + plotH, class: 'tick', 'text-anchor': 'end' }, '0'));
    for (let i = 0; i <= this.minutes; i += 10) {
      const x = PAD.left + i * barW;
      const label = i === this.minutes ? 'now' : `-${this.minutes - i}m`;
      svg.appendChild(s('text', { x, y: HEIGHT - 6, class: 'tick', 'text-anchor': 'middle' }, label));
    }
    for (let m = first; m <= last; m++) {
      const c = this.counts.get(m);
      if (!c) continue;
      let y = PAD.top + plotH;
      const x = PAD.left + (m - first) * barW + 1;
      for (const o of OUTCOMES) {
        if (!c[o]) continue;
        const bh = (c[o] / max) * plotH;
        y -= bh;
        const time = new Date(m * MINUTE).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', hour12: false });
        svg.appendChild(s('rect', { x: x.toFixed(1), y: y.toFixed(1), width: Math.max(barW - 2, 1).toFixed(1), height: bh.toFixed(1), class: `bar bar-${o}` }, s('title', {}, `${time}: ${c[o]} ${o}`)));
      }
    }
    if (this.baseline !== null && this.baseline > 0) {
      const y = (PAD.top + plotH - (this.baseline / max) * plotH).toFixed(1);
      svg.appendChild(s('line', { x1: PAD.left, y1: y, x2: WIDTH - PAD.right, y2: y, class: 'baseline' }, s('title', {}, `learned rate: ${this.baseline.toFixed(1)} per minute`)));
    }
    this.figure.replaceChildren(svg);
    const legend = h('ul', { class: 'legend' }, ...OUTCOMES.map((o) => h('li', {}, h('span', { class: `swatch swatch-${o}`, 'aria-hidden': 'true' }), `${o}: ${totals[o]}`)));
    const baseline = this.baseline !== null ? h('span', { class: 'hint' }, `Dashed line: learned rate, ${this.baseline.toFixed(1)} allowed calls per minute. `) : '';
    this.summary.replaceChildren(legend, baseline, this.note ? h('span', { class: 'hint' }, this.note) : '');
  }
}
