/** RFC 8707 audience covers the called URL: same origin, and the URL's path under the audience's path. */
export function audienceCovers(aud: unknown, target: URL): boolean {
  const audiences = Array.isArray(aud) ? aud : [aud];
  return audiences.some((a) => {
    if (typeof a !== 'string') return false;
    const resource = URL.parse(a);
    if (!resource || resource.origin !== target.origin) return false;
    const base = resource.pathname.endsWith('/') ? resource.pathname : `${resource.pathname}/`;
    return target.pathname === resource.pathname || target.pathname.startsWith(base);
  });
}
