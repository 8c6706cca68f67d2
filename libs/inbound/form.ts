import type { FieldProblem } from './refusal.js';

/** A parsed form: each value a string, or an array of strings when the name repeats. */
export type Form = Record<string, string | string[]>;

/**
 * One name or value of a form or query: `+` is a space, then percent-decoding of UTF-8
 * (WHATWG URL §5.1, as node:querystring splits). Undefined when the escapes are not UTF-8:
 * node:querystring would put U+FFFD there silently, and a stored value would differ from the
 * one sent.
 */
export function decodeComponent(raw: string): string | undefined {
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

/**
 * `application/x-www-form-urlencoded`, split as node:querystring splits it (`&`, then the first
 * `=`; repeated names gather into an array, never nested objects), decoded strictly.
 */
export function parseForm(text: string): { form: Form } | { problem: FieldProblem } {
  const form: Form = Object.create(null);
  for (const pair of text.split('&')) {
    if (!pair) continue;
    const eq = pair.indexOf('=');
    const rawName = eq === -1 ? pair : pair.slice(0, eq);
    const name = decodeComponent(rawName);
    if (name === undefined) return { problem: { field: rawName, message: 'the parameter name is not valid percent-encoded UTF-8' } };
    const value = decodeComponent(eq === -1 ? '' : pair.slice(eq + 1));
    if (value === undefined) return { problem: { field: name, message: 'is not valid percent-encoded UTF-8' } };
    const held = form[name];
    if (held === undefined) form[name] = value;
    else if (Array.isArray(held)) held.push(value);
    else form[name] = [held, value];
  }
  return { form };
}
