import { createHash } from 'node:crypto';
import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { sessionCookie } from './admin-sessions.js';

/** Who made an admin change, as the audit log records it. */
export interface AdminActor {
  /** `admin-token`: `Authorization: Bearer <TOLLGATE_ADMIN_TOKEN>` (curl, the CLI); `console`: a console session. */
  name: 'admin-token' | 'console';
  /**
   * For `console`: which session, as 8 hex digits of SHA-256 over the hash the session is stored
   * under. Not secret (it opens nothing and cannot be turned back into the cookie); the same in
   * the session's `console.signed_in` entry, so a change can be traced to its sign-in.
   */
  session?: string;
}

/** The non-secret reference of a console session id (see AdminActor.session). */
export function sessionReference(id: string): string {
  const stored = createHash('sha256').update(id).digest('base64url');
  return createHash('sha256').update(stored).digest('hex').slice(0, 8);
}

/**
 * The actor of a request that AdminTokenGuard let through. The guard takes the session cookie
 * only when no Authorization header is sent, and otherwise requires the admin token; so, once
 * it has passed, a request without that header and with the cookie came from a console session.
 */
export function adminActor(request: { headers: Record<string, unknown> }): AdminActor {
  const id = request.headers.authorization === undefined ? sessionCookie(request.headers.cookie) : undefined;
  return id === undefined ? { name: 'admin-token' } : { name: 'console', session: sessionReference(id) };
}

/** `@Actor() actor: AdminActor` in a controller behind AdminTokenGuard: who is making this change. */
export const Actor = createParamDecorator((_data: unknown, context: ExecutionContext): AdminActor => adminActor(context.switchToHttp().getRequest()));
