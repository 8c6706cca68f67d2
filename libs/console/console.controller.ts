import {
  Controller,
  Delete,
  Get,
  HttpCode,
  Inject,
  Logger,
  NotFoundException,
  Param,
  Post,
  Req,
  Res,
  ServiceUnavailableException,
  UnauthorizedException,
  UnsupportedMediaTypeException,
  UseGuards,
} from '@nestjs/common';
import type { Request, Response } from 'express';
import {
  ADMIN_SESSIONS,
  ADMIN_TOKEN,
  type AdminSessions,
  AdminTokenCheck,
  AdminTokenGuard,
  SECURE_SESSION_COOKIE,
  SESSION_COOKIE,
  sessionCookie,
} from '#admin';
import { CONFIG, type TollgateConfig } from '#config';
import { callerAddress, FailureBudget, OAuthError, sourceOf } from '#credentials';
import { type Asset, CONSOLE_CSP, loadAssets } from './console-assets.js';
import { ConsoleAudit } from './console-audit.js';

/** Headers on every console page and script: the CSP, and no sniffing, framing or referrers. */
function secure(res: Response): void {
  res.setHeader('Content-Security-Policy', CONSOLE_CSP);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
  res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
}

class TooManySignIns extends OAuthError {
  constructor(retryAfter: number) {
    super('slow_down', 429, `too many failed sign-ins from this network; retry after ${retryAfter} s`);
    this.retryAfter = retryAfter;
  }
}

/**
 * The admin console (docs/console.md): its static files under /console, and its session.
 * Sign-in takes the admin token once, in a POST body, and answers with an HttpOnly,
 * SameSite=Strict cookie (Secure and `__Host-` when the issuer is https) and the session's CSRF
 * token, which the page keeps in memory and sends on every change (libs/admin AdminTokenGuard).
 * The token is never put in a URL, a cookie or storage. Wrong tokens spend the caller's failure
 * budget, the one client authentications spend (docs/risk.md), and are answered 429 past it.
 */
@Controller('console')
export class ConsoleController {
  private readonly logger = new Logger('console');
  private readonly assets: Map<string, Asset>;
  private readonly token: AdminTokenCheck;
  private readonly secureCookie: boolean;

  constructor(
    @Inject(CONFIG) private readonly config: TollgateConfig,
    @Inject(ADMIN_TOKEN) token: string,
    @Inject(ADMIN_SESSIONS) private readonly sessions: AdminSessions,
    private readonly budget: FailureBudget,
    private readonly audit: ConsoleAudit,
  ) {
    this.token = new AdminTokenCheck(token);
    this.assets = loadAssets();
    this.secureCookie = new URL(config.issuer).protocol === 'https:';
    if (!this.assets.has('index.html')) this.logger.warn({ message: 'the console is not built (dist/console is missing): run `npm run build`' });
  }

  @Get()
  index(@Res() res: Response): void {
    this.serve('index.html', res);
  }

  /**
   * The page asks on every load whether it is signed in. Not being signed in is an ordinary
   * answer here (200 `{"signed_in": false}`, and a cookie naming an ended session is cleared),
   * not a 401 a browser would log as a failed request.
   */
  @Get('session')
  async current(@Req() req: Request, @Res({ passthrough: true }) res: Response) {
    res.setHeader('Cache-Control', 'no-store');
    const id = sessionCookie(req.headers.cookie);
    const session = id === undefined ? null : await this.sessions.find(id);
    if (!session) {
      if (id !== undefined) res.setHeader('Set-Cookie', this.cookie('', 0));
      return { signed_in: false };
    }
    return { signed_in: true, csrf_token: session.csrf, expires_at: new Date(session.expiresAt).toISOString() };
  }

  @Post('session')
  @HttpCode(201)
  async signIn(@Req() req: Request, @Res({ passthrough: true }) res: Response) {
    res.setHeader('Cache-Control', 'no-store');
    if (!req.is('application/json')) throw new UnsupportedMediaTypeException({ error: 'invalid_request', error_description: 'send {"admin_token": "…"} as application/json' });
    const source = sourceOf(callerAddress(req, this.config.trustProxy));
    const turn = await this.budget.enter(source);
    if ('retryAfter' in turn) throw new TooManySignIns(turn.retryAfter);
    try {
      const given: unknown = (req.body as Record<string, unknown> | undefined)?.admin_token;
      if (typeof given !== 'string' || given.length > 1024 || !this.token.matches(given)) {
        await this.budget.spend(source);
        this.logger.log({ message: 'console sign-in refused', ip: callerAddress(req, this.config.trustProxy) });
        throw new UnauthorizedException({ error: 'invalid_token', error_description: 'that is not the admin token' });
      }
    } finally {
      turn.release();
    }
    const { id, session } = await this.sessions.open();
    res.setHeader('Set-Cookie', this.cookie(id, this.sessions.lifetimeSeconds));
    await this.audit.record('console.signed_in', id, { ip: callerAddress(req, this.config.trustProxy) });
    return { signed_in: true, csrf_token: session.csrf, expires_at: new Date(session.expiresAt).toISOString() };
  }

  /** Sign-out: the session ends on every instance and the cookie is cleared; CSRF-checked like any change. */
  @Delete('session')
  @HttpCode(204)
  @UseGuards(AdminTokenGuard)
  async signOut(@Req() req: Request, @Res({ passthrough: true }) res: Response): Promise<void> {
    res.setHeader('Cache-Control', 'no-store');
    const id = sessionCookie(req.headers.cookie);
    if (id !== undefined) await this.sessions.close(id);
    res.setHeader('Set-Cookie', this.cookie('', 0));
    await this.audit.record('console.signed_out', id, { ip: callerAddress(req, this.config.trustProxy) });
  }

  @Get(':asset')
  asset(@Param('asset') name: string, @Res() res: Response): void {
    this.serve(name, res);
  }

  private serve(name: string, res: Response): void {
    const asset = this.assets.get(name);
    if (!asset) {
      if (!this.assets.size) throw new ServiceUnavailableException({ error: 'temporarily_unavailable', error_description: 'the console is not built: run `npm run build`' });
      throw new NotFoundException({ error: 'not_found', error_description: 'no such console file' });
    }
    secure(res);
    res.setHeader('Content-Type', asset.type);
    res.setHeader('Cache-Control', 'no-cache');
    res.status(200).end(asset.body);
  }

  /** RFC 6265 §4.1; SameSite=Strict (RFC 6265bis §5.4.7) keeps it off every cross-site request. */
  private cookie(value: string, maxAge: number): string {
    const name = this.secureCookie ? SECURE_SESSION_COOKIE : SESSION_COOKIE;
    return `${name}=${value}; Path=/; Max-Age=${maxAge}; HttpOnly; SameSite=Strict${this.secureCookie ? '; Secure' : ''}`;
  }
}
