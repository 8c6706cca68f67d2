import { RefusedError, UnreachableError, UsageError, type FieldProblem } from './failures.js';

/** Where the server is and how to authenticate to its admin API (TOLLGATE_URL, TOLLGATE_ADMIN_TOKEN). */
export interface Target {
  url: string;
  adminToken: string | undefined;
}

const TIMEOUT_MS = 15_000;

/** What an error body says, whatever shape it has (the admin API's, oidc-provider's or none). */
function refusal(status: number, body: unknown): RefusedError {
  const b = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  const fields = Array.isArray(b.fields) ? (b.fields as FieldProblem[]).filter((f) => typeof f?.field === 'string' && typeof f?.message === 'string') : [];
  const error = typeof b.error === 'string' ? b.error : `http_${status}`;
  const description = typeof b.error_description === 'string' ? b.error_description : typeof b.message === 'string' ? b.message : undefined;
  return new RefusedError(status, error, description, fields);
}

/** An HTTP call to the server; a network failure is UnreachableError, a non-2xx answer RefusedError. */
export async function call(url: string, init: RequestInit = {}): Promise<{ status: number; headers: Headers; body: unknown }> {
  let res: Response;
  try {
    res = await fetch(url, { ...init, signal: AbortSignal.timeout(TIMEOUT_MS) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new UnreachableError(`cannot reach ${new URL(url).origin}: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
  }
  const text = await res.text();
  let body: unknown = undefined;
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      body = { error: `http_${res.status}`, error_description: text.slice(0, 200) };
    }
  }
  if (!res.ok) throw refusal(res.status, body);
  return { status: res.status, headers: res.headers, body };
}

/** The admin API (Authorization: Bearer TOLLGATE_ADMIN_TOKEN; docs/configuration.md). */
export class AdminApi {
  constructor(private readonly target: Target) {}

  async request<T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<T> {
    if (!this.target.adminToken) throw new UsageError('TOLLGATE_ADMIN_TOKEN is not set (the admin token the server printed at start, or the one it was given)');
    const headers: Record<string, string> = { authorization: `Bearer ${this.target.adminToken}`, accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await call(new URL(path, this.target.url).href, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    return res.body as T;
  }
}
