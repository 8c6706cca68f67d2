import http from 'node:http';

export interface SourcedResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: any;
}

/**
 * One HTTP request sent from another loopback address (Linux answers for all of 127.0.0.0/8), so
 * that the server sees a different source: an attacker's network next to the real client's.
 * `form` is sent as application/x-www-form-urlencoded. `rawPath`, when given, is sent as the
 * request target exactly as written (no URL normalisation: dot segments, percent-encoding).
 */
export function sendFrom(
  localAddress: string,
  url: string,
  options: { method?: string; headers?: Record<string, string>; form?: Record<string, string>; rawPath?: string } = {},
): Promise<SourcedResponse> {
  const target = new URL(url);
  const body = options.form ? new URLSearchParams(options.form).toString() : undefined;
  const headers: Record<string, string | number> = { ...options.headers };
  if (body !== undefined) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    headers['content-length'] = Buffer.byteLength(body);
  }
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: target.hostname, port: target.port, path: options.rawPath ?? `${target.pathname}${target.search}`, method: options.method ?? (body ? 'POST' : 'GET'), headers, localAddress },
      (res) => {
        let data = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (data += chunk));
        res.on('end', () => {
          let parsed: unknown = data;
          try {
            parsed = data ? JSON.parse(data) : undefined;
          } catch {
            // not JSON: kept as text
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
