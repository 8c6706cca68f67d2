/**
 * The nesting depth of JSON text (`{}` and `[]` count 1, `{"a":[1]}` 2), found by one linear scan
 * that skips string contents, without parsing: used before JSON.parse so that a document of
 * 10,000 levels is refused before any recursive code walks it. Malformed text gets some number;
 * the parse that follows refuses it.
 */
export function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: the next character is escaped, whatever it is
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) max = depth;
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    }
  }
  return max;
}
