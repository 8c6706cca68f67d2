import { Body, Controller, Delete, Get, Header, HttpCode, Param, Put, Req, UnsupportedMediaTypeException, UseGuards } from '@nestjs/common';
import type { Request } from 'express';
import { AdminTokenGuard } from '#admin';
import { type ClientPolicyView, type DefaultPolicyView, RiskPolicies } from './risk-policies.js';

const ACTOR = 'admin-token';

const defaultView = (v: DefaultPolicyView) => ({
  policy: v.policy,
  source: v.source,
  version: v.version,
  updated_at: v.updatedAt?.toISOString() ?? null,
});

/**
 * The document must arrive as JSON: a form body parses to an object too, and an empty one would
 * silently store an empty policy.
 */
function json(req: Request, body: unknown): unknown {
  if (!req.is('application/json')) {
    throw new UnsupportedMediaTypeException({ error: 'invalid_request', error_description: 'send the policy document as application/json' });
  }
  return body;
}

const clientView = (v: ClientPolicyView) => ({
  client_id: v.clientId,
  policy: v.policy,
  effective: v.effective,
  version: v.version,
  updated_at: v.updatedAt?.toISOString() ?? null,
});

/**
 * Risk policies over the admin API. The body of a PUT is the policy document itself (libs/risk
 * RiskPolicy), checked as a whole by checkPolicy — not by a DTO — so that every problem is named
 * with its path (`routes[2].path`) and nothing is silently dropped.
 */
@Controller('admin')
@UseGuards(AdminTokenGuard)
export class PoliciesController {
  constructor(private readonly policies: RiskPolicies) {}

  @Get('policy')
  @Header('Cache-Control', 'no-store')
  async getDefault() {
    return defaultView(await this.policies.getDefault());
  }

  @Put('policy')
  @Header('Cache-Control', 'no-store')
  async putDefault(@Req() req: Request, @Body() body: unknown) {
    return defaultView(await this.policies.putDefault(json(req, body), ACTOR));
  }

  @Get('clients/:client_id/policy')
  @Header('Cache-Control', 'no-store')
  async getClient(@Param('client_id') clientId: string) {
    return clientView(await this.policies.getClient(clientId));
  }

  @Put('clients/:client_id/policy')
  @Header('Cache-Control', 'no-store')
  async putClient(@Req() req: Request, @Param('client_id') clientId: string, @Body() body: unknown) {
    return clientView(await this.policies.putClient(clientId, json(req, body), ACTOR));
  }

  @Delete('clients/:client_id/policy')
  @HttpCode(204)
  @Header('Cache-Control', 'no-store')
  async deleteClient(@Param('client_id') clientId: string) {
    await this.policies.deleteClient(clientId, ACTOR);
  }
}
