/**
 * Audiences parsed once: a token's `aud` is one of a handful of resources, and comes back with
 * every call. Owner: this module. Bound: MAX_AUDIENCES (oldest dropped). No invalidation: a
 * string parses the same way for ever.
 */
const parsed = new Map<string, URL | null>();
const MAX_AUDIENCES = 10_000;

function audienceUrl(a: string): URL | null {
  let url = parsed.get(a);
  if (url === undefined) {
    url = URL.parse(a);
    if (parsed.size >= MAX_AUDIENCES) parsed.delete(parsed.keys().next().value!);
    parsed.set(a, url);
  }
  return url;
}

/** RFC 8707 audience covers the called URL: same origin, and the URL's path under the audience's path. */
export function audienceCovers(aud: unknown, target: URL): boolean {
  const audiences = Array.isArray(aud) ? aud : [aud];
  return audiences.some((a) => {
    if (typeof a !== 'string') return false;
    const resource = audienceUrl(a);
    if (!resource || resource.origin !== target.origin) return false;
    const base = resource.pathname.endsWith('/') ? resource.pathname : `${resource.pathname}/`;
    return target.pathname === resource.pathname || target.pathname.startsWith(base);
  });
}
