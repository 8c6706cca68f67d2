/** RFC 9449 §7.1 / RFC 6750 §3 `WWW-Authenticate: DPoP …` challenges, quoted safely. */
const quote = (value: string) => `"${value.replace(/["\\]/g, "'")}"`;

export function dpopChallenge(algs: string[], params: Record<string, string | number | undefined> = {}): string {
  const parts = [`algs=${quote(algs.join(' '))}`];
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined) continue;
    parts.push(`${key}=${typeof value === 'number' ? value : quote(value)}`);
  }
  return `DPoP ${parts.join(', ')}`;
}

/** RFC 8707 audience covers the called URL: same origin, and the URL's path under the audience's path. */
export function audienceCovers(aud: unknown, url: string): boolean {
  const target = URL.parse(url);
  if (!target) return false;
  const audiences = Array.isArray(aud) ? aud : [aud];
  return audiences.some((a) => {
    if (typeof a !== 'string') return false;
    const resource = URL.parse(a);
    if (!resource || resource.origin !== target.origin) return false;
    const base = resource.pathname.endsWith('/') ? resource.pathname : `${resource.pathname}/`;
    return target.pathname === resource.pathname || target.pathname.startsWith(base);
  });
}
