import { createHash, timingSafeEqual } from 'node:crypto';
import {
  type CanActivate,
  type ExecutionContext,
  ForbiddenException,
  Inject,
  Injectable,
  UnauthorizedException,
} from '@nestjs/common';
import { ADMIN_SESSIONS, type AdminSessions, CSRF_HEADER, sameSecret, sessionCookie } from './admin-sessions.js';

export const ADMIN_TOKEN = Symbol('TOLLGATE_ADMIN_TOKEN');

const digest = (value: string) => createHash('sha256').update(value).digest();

/** The admin token, compared as SHA-256 digests in constant time, so neither content nor length leaks. */
export class AdminTokenCheck {
  private readonly expected: Buffer;

  constructor(token: string) {
    this.expected = digest(token);
  }

  matches(given: string): boolean {
    return timingSafeEqual(digest(given), this.expected);
  }
}

/** Methods that change nothing (RFC 9110 §9.2.1): no CSRF token needed. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Every admin route accepts either
 * - `Authorization: Bearer <TOLLGATE_ADMIN_TOKEN>` (RFC 6750 §2.1), as before, or
 * - when no Authorization header is sent, the console's session cookie (libs/console), and for
 *   anything but GET/HEAD also the session's CSRF token in `X-Tollgate-CSRF`. The cookie is
 *   SameSite=Strict already; the header is the second fence (a cross-site form cannot set it),
 *   and a browser's `Sec-Fetch-Site: cross-site` on such a change is refused as well (reads rely
 *   on SameSite=Strict).
 * Anything else is 401 (RFC 6750 §3); a session request without its CSRF token is 403.
 */
@Injectable()
export class AdminTokenGuard implements CanActivate {
  private readonly token: AdminTokenCheck;

  constructor(@Inject(ADMIN_TOKEN) token: string, @Inject(ADMIN_SESSIONS) private readonly sessions: AdminSessions) {
    this.token = new AdminTokenCheck(token);
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest();
    const header: unknown = request.headers.authorization;
    if (header === undefined) {
      const id = sessionCookie(request.headers.cookie);
      if (id !== undefined) return this.session(context, id);
    }
    const match = typeof header === 'string' ? /^Bearer ([\x21-\x7e]+)$/i.exec(header) : null;
    if (!match || !this.token.matches(match[1]!)) {
      const response = context.switchToHttp().getResponse();
      response.setHeader('WWW-Authenticate', match ? 'Bearer error="invalid_token"' : 'Bearer');
      throw new UnauthorizedException({
        error: match ? 'invalid_token' : 'invalid_request',
        error_description: 'admin routes require Authorization: Bearer <TOLLGATE_ADMIN_TOKEN>',
      });
    }
    return true;
  }

  private async session(context: ExecutionContext, id: string): Promise<boolean> {
    const request = context.switchToHttp().getRequest();
    const session = await this.sessions.find(id);
    if (!session) {
      context.switchToHttp().getResponse().setHeader('WWW-Authenticate', 'Bearer');
      throw new UnauthorizedException({ error: 'invalid_token', error_description: 'the console session has ended: sign in again' });
    }
    if (!SAFE_METHODS.has(request.method)) {
      if (request.headers['sec-fetch-site'] === 'cross-site' || !sameSecret(request.headers[CSRF_HEADER], session.csrf)) {
        throw new ForbiddenException({
          error: 'invalid_request',
          error_description: `console requests that change something must come from the console with its ${CSRF_HEADER} header`,
        });
      }
    }
    return true;
  }
}
