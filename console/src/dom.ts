// Building the page: every string from the server becomes a Text node (textContent), never
// markup. There is no innerHTML anywhere in the console.

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | undefined | null | ((event: Event) => void)>;

function append(parent: Node, children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === 'string' || typeof child === 'number' ? document.createTextNode(String(child)) : child);
  }
}

function apply(el: Element, attrs: Attrs): void {
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (typeof value === 'function') el.addEventListener(name.replace(/^on/, ''), value);
    else el.setAttribute(name, value === true ? '' : String(value));
  }
}

/** An HTML element: `h('button', { type: 'button', onclick }, 'Save')`. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  apply(el, attrs);
  append(el, children);
  return el;
}

const SVG = 'http://www.w3.org/2000/svg';

/** An SVG element (attributes only, no style attributes: the CSP allows none). */
export function s(tag: string, attrs: Attrs = {}, ...children: Child[]): SVGElement {
  const el = document.createElementNS(SVG, tag);
  apply(el, attrs);
  append(el, children);
  return el as SVGElement;
}

/** Replaces an element's content. */
export function fill(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, children);
}

let unique = 0;
export const uid = (prefix: string) => `${prefix}-${++unique}`;

/**
 * Several messages, each on its own line (a block each), separated by a "; " that is not drawn
 * (`.separator`): as an element's text, and so as the description of a control that names it in
 * aria-describedby, they read "first; second".
 */
export function lines(messages: string[]): Node[] {
  // The separator ends the line before it and stays inline (not drawn: font-size 0), so that the
  // computed description has no space before it, as it would next to a block or positioned element.
  return messages.map((m, i) => h('span', { class: 'message' }, m, i < messages.length - 1 ? h('span', { class: 'separator' }, '; ') : null));
}

/** A labelled form control; `hint` and the error slot are tied to it with aria-describedby. */
export function field(label: string, control: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement, hint?: string) {
  const id = control.id || uid('f');
  control.id = id;
  const hintEl = hint ? h('p', { class: 'hint', id: `${id}-hint` }, hint) : null;
  const error = h('p', { class: 'field-error', id: `${id}-error`, role: 'alert', hidden: true });
  control.setAttribute('aria-describedby', [hintEl ? `${id}-hint` : '', `${id}-error`].filter(Boolean).join(' '));
  const wrap = h('div', { class: 'field' }, h('label', { for: id }, label), hintEl, control, error);
  return {
    wrap,
    control,
    showError(messages: string[]) {
      fill(error, ...lines(messages));
      error.hidden = messages.length === 0;
      control.setAttribute('aria-invalid', messages.length ? 'true' : 'false');
    },
  };
}

export function when(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString(undefined, { hour12: false });
}
