// The admin API, as the console calls it: the session cookie goes along by itself (same
// origin); the CSRF token, held here in memory only, goes in a header on every change.

export interface FieldProblem {
  field: string;
  message: string;
}

export class ApiError extends Error {
  constructor(readonly status: number, readonly body: Record<string, unknown>) {
    super(typeof body.error_description === 'string' ? body.error_description : `request failed (${status})`);
  }

  get fields(): FieldProblem[] {
    return Array.isArray(this.body.fields) ? (this.body.fields as FieldProblem[]) : [];
  }
}

let csrf: string | null = null;
let onSignedOut: () => void = () => undefined;

export function setSession(token: string | null): void {
  csrf = token;
}

/** Called when the server says the session has ended (expired, or signed out elsewhere). */
export function whenSignedOut(handler: () => void): void {
  onSignedOut = handler;
}

/** What GET /console/session answers: not being signed in is an ordinary answer, not an error. */
export interface SessionState {
  signed_in: boolean;
  csrf_token?: string;
  expires_at?: string;
}

/** Asks the server whether the session still lives; when it does not, the signed-out handler runs. */
export async function checkSession(): Promise<boolean> {
  const state = await api<SessionState>('GET', '/console/session');
  if (!state.signed_in && csrf !== null) {
    csrf = null;
    onSignedOut();
  }
  return state.signed_in;
}

export async function api<T = any>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && csrf) headers['X-Tollgate-CSRF'] = csrf;
  const res = await fetch(path, {
    method,
    headers,
    credentials: 'same-origin',
    cache: 'no-store',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: any = {};
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = { error_description: text.slice(0, 200) };
    }
  }
  if (!res.ok) {
    // The session ended (expired, or signed out elsewhere): back to sign-in.
    if (res.status === 401 && path !== '/console/session') {
      csrf = null;
      onSignedOut();
    }
    throw new ApiError(res.status, parsed);
  }
  return parsed as T;
}

/** `?a=1&b=2` from the given, non-empty values. */
export function query(params: Record<string, string | number | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}
