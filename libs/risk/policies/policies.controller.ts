import { Body, Controller, Delete, Get, Header, HttpCode, Param, Post, Put, Req, UnsupportedMediaTypeException, UseGuards } from '@nestjs/common';
import type { Request } from 'express';
import { Actor, type AdminActor, AdminTokenGuard } from '#admin';
import { type DryRunResult, PolicyDryRun } from './policy-dry-run.js';
import { type ClientPolicyView, type DefaultPolicyView, RiskPolicies } from './risk-policies.js';

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

const dryRunView = (r: DryRunResult) => ({
  client_id: r.clientId,
  evaluated: r.evaluated,
  changed: r.changed,
  not_reevaluable: r.notReevaluable,
  decisions: r.entries.map((e) => ({
    decision_id: e.decisionId,
    at: e.at.toISOString(),
    kind: e.kind,
    client_id: e.clientId,
    method: e.method,
    route: e.route,
    recorded: e.recorded,
    dry_run: e.reevaluated,
    changed: e.changed,
    reevaluable: e.reevaluated !== null,
  })),
});

/**
 * Risk policies over the admin API. The body of a PUT is the policy document itself (libs/risk
 * RiskPolicy), checked as a whole by checkPolicy — not by a DTO — so that every problem is named
 * with its path (`routes[2].path`) and nothing is silently dropped.
 */
@Controller('admin')
@UseGuards(AdminTokenGuard)
export class PoliciesController {
  constructor(
    private readonly policies: RiskPolicies,
    private readonly dryRuns: PolicyDryRun,
  ) {}

  @Get('policy')
  @Header('Cache-Control', 'no-store')
  async getDefault() {
    return defaultView(await this.policies.getDefault());
  }

  @Put('policy')
  @Header('Cache-Control', 'no-store')
  async putDefault(@Req() req: Request, @Body() body: unknown, @Actor() actor: AdminActor) {
    return defaultView(await this.policies.putDefault(json(req, body), actor));
  }

  /** The edited default against the newest decisions of every client (each merged with its own policy); nothing is stored. */
  @Post('policy/dry-run')
  @HttpCode(200)
  @Header('Cache-Control', 'no-store')
  async dryRunDefault(@Req() req: Request, @Body() body: unknown) {
    return dryRunView(await this.dryRuns.forDefault(json(req, body)));
  }

  @Get('clients/:client_id/policy')
  @Header('Cache-Control', 'no-store')
  async getClient(@Param('client_id') clientId: string) {
    return clientView(await this.policies.getClient(clientId));
  }

  @Put('clients/:client_id/policy')
  @Header('Cache-Control', 'no-store')
  async putClient(@Req() req: Request, @Param('client_id') clientId: string, @Body() body: unknown, @Actor() actor: AdminActor) {
    return clientView(await this.policies.putClient(clientId, json(req, body), actor));
  }

  /** The client's edited own policy against its newest decisions; nothing is stored. */
  @Post('clients/:client_id/policy/dry-run')
  @HttpCode(200)
  @Header('Cache-Control', 'no-store')
  async dryRunClient(@Req() req: Request, @Param('client_id') clientId: string, @Body() body: unknown) {
    return dryRunView(await this.dryRuns.forClient(clientId, json(req, body)));
  }

  @Delete('clients/:client_id/policy')
  @HttpCode(204)
  @Header('Cache-Control', 'no-store')
  async deleteClient(@Param('client_id') clientId: string, @Actor() actor: AdminActor) {
    await this.policies.deleteClient(clientId, actor);
  }
}
