/** A Content-Type's essence (`type/subtype`, lower case) and its charset, if any (RFC 9110 §8.3.1). */
export function mediaType(header: string | undefined): { essence: string; charset?: string } | undefined {
  if (!header) return undefined;
  const [essence, ...params] = header.split(';');
  let charset: string | undefined;
  for (const param of params) {
    const eq = param.indexOf('=');
    if (eq !== -1 && param.slice(0, eq).trim().toLowerCase() === 'charset') {
      charset = param.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1').toLowerCase();
    }
  }
  return { essence: essence!.trim().toLowerCase(), ...(charset !== undefined ? { charset } : {}) };
}

/** `application/json` and the structured syntax suffix `+json` (RFC 6839 §3.1). */
export function isJson(essence: string): boolean {
  return essence === 'application/json' || /^application\/[!#$&^_.+\-a-z0-9]+\+json$/.test(essence);
}

export const FORM = 'application/x-www-form-urlencoded';
