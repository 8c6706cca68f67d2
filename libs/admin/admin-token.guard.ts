import { createHash, timingSafeEqual } from 'node:crypto';
import { type CanActivate, type ExecutionContext, Inject, Injectable, UnauthorizedException } from '@nestjs/common';

export const ADMIN_TOKEN = Symbol('TOLLGATE_ADMIN_TOKEN');

const digest = (value: string) => createHash('sha256').update(value).digest();

/**
 * `Authorization: Bearer <TOLLGATE_ADMIN_TOKEN>` on every admin route; anything else is 401
 * (RFC 6750 §3). Compared as SHA-256 digests in constant time, so neither content nor length leaks.
 */
@Injectable()
export class AdminTokenGuard implements CanActivate {
  private readonly expected: Buffer;

  constructor(@Inject(ADMIN_TOKEN) token: string) {
    this.expected = digest(token);
  }

  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest();
    const header: unknown = request.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer ([\x21-\x7e]+)$/i.exec(header) : null;
    if (!match || !timingSafeEqual(digest(match[1]!), this.expected)) {
      const response = context.switchToHttp().getResponse();
      response.setHeader('WWW-Authenticate', match ? 'Bearer error="invalid_token"' : 'Bearer');
      throw new UnauthorizedException({
        error: match ? 'invalid_token' : 'invalid_request',
        error_description: 'admin routes require Authorization: Bearer <TOLLGATE_ADMIN_TOKEN>',
      });
    }
    return true;
  }
}
