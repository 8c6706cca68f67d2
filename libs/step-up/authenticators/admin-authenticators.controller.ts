import { Body, Controller, Delete, Get, Header, HttpCode, Param, Put, Req, UnsupportedMediaTypeException, UseGuards } from '@nestjs/common';
import type { Request } from 'express';
import { Actor, type AdminActor, AdminTokenGuard } from '#admin';
import { Authenticators } from './authenticators.js';

/**
 * The policy must arrive as JSON: a form body parses to an object too, and an empty one would
 * be checked (and refused) as if the administrator had sent `{}`.
 */
function json(req: Request, body: unknown): unknown {
  if (!req.is('application/json')) {
    throw new UnsupportedMediaTypeException({ error: 'invalid_request', error_description: 'send the attestation policy as application/json' });
  }
  return body;
}

/**
 * Attestation policies and enrolled authenticators over the admin API (docs/step-up.md §6). The
 * body of a PUT is the policy itself, checked as a whole by checkAttestationPolicy so that every
 * problem is named (`fields`) and nothing is silently dropped.
 */
@Controller('admin')
@UseGuards(AdminTokenGuard)
export class AdminAuthenticatorsController {
  constructor(private readonly authenticators: Authenticators) {}

  @Get('clients/:client_id/attestation-policy')
  @Header('Cache-Control', 'no-store')
  getPolicy(@Param('client_id') clientId: string) {
    return this.authenticators.getPolicy(clientId);
  }

  @Put('clients/:client_id/attestation-policy')
  @Header('Cache-Control', 'no-store')
  putPolicy(@Req() req: Request, @Param('client_id') clientId: string, @Body() body: unknown, @Actor() actor: AdminActor) {
    return this.authenticators.putPolicy(clientId, json(req, body), actor);
  }

  @Delete('clients/:client_id/attestation-policy')
  @HttpCode(204)
  @Header('Cache-Control', 'no-store')
  async deletePolicy(@Param('client_id') clientId: string, @Actor() actor: AdminActor) {
    await this.authenticators.deletePolicy(clientId, actor);
  }

  @Get('clients/:client_id/authenticators')
  @Header('Cache-Control', 'no-store')
  async list(@Param('client_id') clientId: string) {
    return { authenticators: await this.authenticators.list(clientId) };
  }

  @Delete('clients/:client_id/authenticators/:authenticator_id')
  @HttpCode(204)
  @Header('Cache-Control', 'no-store')
  async revoke(@Param('client_id') clientId: string, @Param('authenticator_id') authenticatorId: string, @Actor() actor: AdminActor) {
    await this.authenticators.revoke(clientId, authenticatorId, actor);
  }
}
