import { Controller, Get, Header, Inject, Param, UseGuards } from '@nestjs/common';
import { AdminTokenGuard } from '#admin';
import type { LearnedMember } from '../state/store.js';
import { RISK_STATE, type RiskStateStore } from '../state/store.js';
import { RiskPolicies } from './risk-policies.js';

const members = (list: LearnedMember[]) => list.map((m) => ({ value: m.value, last_seen: new Date(m.lastSeen).toISOString() }));

/**
 * What the risk engine has learned about one client (docs/risk.md "Learned state"), for the
 * admin console's client screen: read from the learned-state store (one round trip), never on a
 * hot path. Networks are the /24 (IPv4) or /64 (IPv6) a call came from; keys are DPoP key
 * thumbprints (RFC 7638); at most 50 of each, most recently seen first.
 */
@Controller('admin')
@UseGuards(AdminTokenGuard)
export class RiskStateController {
  constructor(
    @Inject(RISK_STATE) private readonly state: RiskStateStore,
    private readonly policies: RiskPolicies,
  ) {}

  @Get('clients/:client_id/risk-state')
  @Header('Cache-Control', 'no-store')
  async learned(@Param('client_id') clientId: string) {
    await this.policies.getClient(clientId); // 404 for a client that does not exist
    const l = await this.state.learned(clientId, Date.now());
    return {
      client_id: clientId,
      learned_calls: l.learnedCalls,
      learning: l.learning,
      baseline: {
        call: { per_minute: l.baseline.call.perMinute, minutes: l.baseline.call.minutes },
        issuance: { per_minute: l.baseline.issuance.perMinute, minutes: l.baseline.issuance.minutes },
      },
      routes: members(l.routes),
      networks: members(l.networks),
      dpop_keys: members(l.keys),
      scope_sets: members(l.scopeSets),
      audiences: members(l.audiences),
      recent_failures: l.recentFailures,
    };
  }
}
