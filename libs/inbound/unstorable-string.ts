import type { FieldProblem } from './refusal.js';

/**
 * NUL, or a UTF-16 surrogate without its partner. PostgreSQL stores neither (text and jsonb refuse
 * U+0000; jsonb refuses an unpaired `\ud800`, and UTF-8 cannot encode one), so they are refused
 * at the door, naming the field, instead of failing a query later.
 */
export const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const UNSTORABLE_ALL = new RegExp(UNSTORABLE.source, 'g');

function problemIn(text: string): string | undefined {
  const match = UNSTORABLE.exec(text);
  if (!match) return undefined;
  return match[0] === '\u0000' ? 'must not contain NUL (U+0000)' : 'must not contain an unpaired UTF-16 surrogate (U+D800–U+DFFF): not valid Unicode';
}

/**
 * The first string in `value`, member names included, that holds NUL or a lone surrogate, in
 * document order, with its path (`client_name`, `jwks.keys[0].kid`); undefined when there is none.
 * Walks with its own stack, so any depth is safe.
 */
export function unstorableString(value: unknown, path = ''): FieldProblem | undefined {
  // [value, its path, the member name that leads to it (checked first)]
  const stack: Array<[unknown, string, string | undefined]> = [[value, path, undefined]];
  const seen = new Set<object>();
  while (stack.length) {
    const [item, at, name] = stack.pop()!;
    if (name !== undefined) {
      const problem = problemIn(name);
      if (problem) return { field: at, message: `the member name ${problem}` };
    }
    if (typeof item === 'string') {
      const problem = problemIn(item);
      if (problem) return { field: at || '(body)', message: problem };
      continue;
    }
    if (item === null || typeof item !== 'object' || seen.has(item)) continue;
    seen.add(item);
    const children: Array<[unknown, string, string | undefined]> = Array.isArray(item)
      ? item.map((child, i) => [child, `${at}[${i}]`, undefined])
      : Object.entries(item).map(([key, child]) => {
          // The path names the member without the characters that are the problem.
          const shown = key.replace(UNSTORABLE_ALL, '\ufffd');
          return [child, at ? `${at}.${shown}` : shown, key];
        });
    for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]!);
  }
  return undefined;
}
