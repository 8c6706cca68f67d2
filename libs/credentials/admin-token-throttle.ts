import type { Request, Response } from 'express';
import { Inject, Injectable, type NestMiddleware } from '@nestjs/common';
import { CONFIG, type TollgateConfig } from '#config';
import { callerAddress, FailureBudget, sourceOf } from './failure-budget.js';
import { errorAnswer } from './oauth-answer.js';
import { SlowDown } from './oauth-error.js';
import { send } from './oauth-error.filter.js';

/**
 * Wrong admin tokens spend the caller's failure budget, as console sign-ins and client
 * authentications do (docs/risk.md, "Failure budgets"): an admin request that sent
 * `Authorization` and was answered 401 is charged to its source. Past the budget every admin
 * request from that source — the right token included — is answered `429 slow_down` with
 * `Retry-After` until the window ends, before the token is looked at. Requests without
 * `Authorization` (console sessions, whose sign-in is throttled itself) are not charged.
 */
@Injectable()
export class AdminTokenThrottle implements NestMiddleware {
  constructor(
    private readonly budget: FailureBudget,
    @Inject(CONFIG) private readonly config: TollgateConfig,
  ) {}

  async use(req: Request, res: Response, next: () => void): Promise<void> {
    if (req.headers.authorization === undefined) return next();
    const source = sourceOf(callerAddress(req, this.config.trustProxy));
    // A turn, as for client authentications: no more attempts of a source judged at once than it
    // has budget left, so a burst of guesses cannot outrun the count.
    const turn = await this.budget.enter(source);
    if ('retryAfter' in turn) return send(res, errorAnswer(new SlowDown(turn.retryAfter, 'wrong admin tokens')));
    // The turn ends when the answer's status is known: at its head, so that a decision stream
    // opened with the token does not hold it for as long as it runs; a 401 is counted first.
    let judged = false;
    const judge = () => {
      if (judged) return;
      judged = true;
      if (res.statusCode === 401) void this.budget.spend(source).catch(() => undefined).finally(turn.release);
      else turn.release();
    };
    const writeHead = res.writeHead;
    res.writeHead = function (this: Response, ...args: Parameters<Response['writeHead']>) {
      const written = writeHead.apply(this, args);
      judge();
      return written;
    } as Response['writeHead'];
    res.once('close', judge);
    next();
  }
}
