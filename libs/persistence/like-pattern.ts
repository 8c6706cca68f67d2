/**
 * `text` as a literal inside a LIKE / ILIKE pattern (PostgreSQL's default escape character, `\`):
 * `%`, `_` and `\` match only themselves. What a caller sends as a search or a prefix must never
 * become a wildcard. Prisma's `contains` / `startsWith` do not escape them either.
 */
export function likeLiteral(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}
