import { Inject, Injectable, Logger, NotFoundException, type OnModuleInit } from '@nestjs/common';
import { AdminInputError } from '#admin';
import type { AuditActor } from '#audit';
import { ACR } from '#protocol';
import { HOT_STATE, type HotState } from '#hot-state';
import { checkPolicy, mergePolicies } from '../core/policy-check.js';
import type { RiskPolicy } from '../core/types.js';
import { PolicyCache } from './policy-cache.js';
import { PolicyRepository, type StoredPolicy } from './policy-repository.js';

/** Change notices: the message is a client id, or DEFAULT_NOTICE for the server default. */
const TOPIC = 'policies';
const DEFAULT_NOTICE = 'default';
/** ClientRegistry's notices: a deleted client's policy went with it (ON DELETE CASCADE). */
const CLIENTS_TOPIC = 'clients';

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const member of Object.values(value)) deepFreeze(member);
  }
  return value;
}

/**
 * The server-wide default while none is stored (PUT /admin/policy replaces it as a whole).
 * Frozen: effective policies are shared by every request that reads them.
 */
export const BUILTIN_DEFAULT_POLICY: Readonly<RiskPolicy> = deepFreeze({
  thresholds: { step_up: 40, deny: 80 },
  step_up_acr: ACR.live,
  // A new DPoP key scores but does not by itself ask for `live`: workloads make a fresh DPoP key
  // at every start, and `live` proves what their next token request proves anyway (the client
  // key, now). Pair "step_up" with step_up_acr "urn:tollgate:acr:attested" where it means more.
  on_new_key: 'allow',
  on_new_network: 'allow',
  baseline: { factor: 5, min_minutes: 10 },
} satisfies RiskPolicy);

export interface DefaultPolicyView {
  policy: RiskPolicy;
  source: 'stored' | 'builtin';
  version: number | null;
  updatedAt: Date | null;
}

export interface ClientPolicyView {
  clientId: string;
  /** The client's own document; null when it has none (the default applies as is). */
  policy: RiskPolicy | null;
  /** What the risk engine applies: mergePolicies(default, own). */
  effective: RiskPolicy;
  version: number | null;
  updatedAt: Date | null;
}

/**
 * Risk policies: the admin writes (validated, audited, announced to every instance) and the
 * effective policy per client that the token and check paths read on every request, from memory.
 */
@Injectable()
export class RiskPolicies implements OnModuleInit {
  /** 60 s TTL only as a backstop for a lost change notice; 10k clients. */
  private readonly cache = new PolicyCache(60_000, 10_000);
  private readonly logger = new Logger('risk-policies');

  constructor(
    private readonly repository: PolicyRepository,
    @Inject(HOT_STATE) private readonly hot: HotState,
  ) {}

  onModuleInit(): void {
    this.hot.events.subscribe(TOPIC, (message) => this.invalidate(message));
    this.hot.events.subscribe(CLIENTS_TOPIC, (clientId) => this.cache.delete(clientId));
    this.hot.events.onResync(() => this.cache.clear());
  }

  get cacheStats() {
    return { hits: this.cache.hits, misses: this.cache.misses, size: this.cache.size };
  }

  /**
   * Hot path: the policy the risk engine applies to this client — its own document merged over
   * the server default (the built-in one while none is stored). Frozen and shared: do not mutate.
   */
  effective(clientId: string): Promise<RiskPolicy> {
    return this.cache.effective(clientId, async () => {
      const [base, own] = await Promise.all([this.defaultPolicy(), this.repository.getClient(clientId)]);
      return deepFreeze(own ? mergePolicies(base, own.document) : base);
    });
  }

  async getDefault(): Promise<DefaultPolicyView> {
    const stored = await this.repository.getDefault();
    return stored
      ? { policy: stored.document, source: 'stored', version: stored.version, updatedAt: stored.updatedAt }
      : { policy: BUILTIN_DEFAULT_POLICY, source: 'builtin', version: null, updatedAt: null };
  }

  async putDefault(document: unknown, actor: AuditActor): Promise<DefaultPolicyView> {
    const stored = await this.repository.putDefault(this.validate(document), actor);
    await this.announce(DEFAULT_NOTICE);
    return { policy: stored.document, source: 'stored', version: stored.version, updatedAt: stored.updatedAt };
  }

  async getClient(clientId: string): Promise<ClientPolicyView> {
    const [exists, own, base] = await Promise.all([
      this.repository.clientExists(clientId),
      this.repository.getClient(clientId),
      this.repository.getDefault(),
    ]);
    if (!exists) throw notFound(clientId);
    return this.clientView(clientId, own, base);
  }

  async putClient(clientId: string, document: unknown, actor: AuditActor): Promise<ClientPolicyView> {
    const stored = await this.repository.putClient(clientId, this.validate(document), actor);
    if (!stored) throw notFound(clientId);
    await this.announce(clientId);
    return this.clientView(clientId, stored, await this.repository.getDefault());
  }

  /** Removes the client's own policy (the default then applies); nothing to remove is not an error. */
  async deleteClient(clientId: string, actor: AuditActor): Promise<void> {
    const result = await this.repository.deleteClient(clientId, actor);
    if (result === 'no_client') throw notFound(clientId);
    if (result !== 'absent') await this.announce(clientId);
  }

  /** The server default the risk engine applies now (the built-in one while none is stored). Frozen: do not mutate. */
  defaultPolicy(): Promise<RiskPolicy> {
    return this.cache.defaultPolicy(async () => {
      const stored = await this.repository.getDefault();
      return stored ? deepFreeze(stored.document) : BUILTIN_DEFAULT_POLICY;
    });
  }

  private clientView(clientId: string, own: StoredPolicy | null, base: StoredPolicy | null): ClientPolicyView {
    const defaults = base?.document ?? BUILTIN_DEFAULT_POLICY;
    return {
      clientId,
      policy: own?.document ?? null,
      effective: own ? mergePolicies(defaults, own.document) : defaults,
      version: own?.version ?? null,
      updatedAt: own?.updatedAt ?? null,
    };
  }

  /** Nothing is written (nor audited) unless checkPolicy finds no problem; the dry run checks with the same rule. */
  validate(document: unknown): RiskPolicy {
    const problems = checkPolicy(document);
    if (problems.length) throw new AdminInputError(problems);
    return document as RiskPolicy;
  }

  private invalidate(message: string): void {
    if (message === DEFAULT_NOTICE) this.cache.clear();
    else this.cache.delete(message);
  }

  /** Drop the cached copy here, synchronously, and on every other instance before the write is acknowledged. */
  private async announce(message: string): Promise<void> {
    this.invalidate(message);
    try {
      await this.hot.events.publish(TOPIC, message);
    } catch {
      // The change is committed and in force here; other instances see it when their copy
      // expires (PolicyCache TTL) or their notice channel resynchronises.
      this.logger.warn({ message: 'policy change notice not delivered to other instances', policy: message });
    }
  }
}

export function notFound(clientId: string): NotFoundException {
  return new NotFoundException({ error: 'not_found', error_description: `no client ${clientId}` });
}
