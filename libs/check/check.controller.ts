import { All, Controller, Inject, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { CONFIG, type TollgateConfig } from '#config';
import { callerAddress, send } from '#credentials';
import { requestIdOf } from '#operations';
import { CheckEndpoint } from './check-endpoint.js';

/** The check endpoint through Nest (CheckEndpoint holds the endpoint itself). */
@Controller()
export class CheckController {
  constructor(
    @Inject(CONFIG) private readonly config: TollgateConfig,
    private readonly endpoint: CheckEndpoint,
  ) {}

  @All(['check', 'check/*path'])
  async check(@Req() req: Request, @Res() res: Response) {
    send(res, await this.endpoint.answer({ method: req.method, path: req.path, headers: req.headers, ip: callerAddress(req, this.config.trustProxy), requestId: requestIdOf(req) }));
  }
}
