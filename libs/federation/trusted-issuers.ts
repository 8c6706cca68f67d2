import { Inject, Injectable, Logger, NotFoundException, type OnModuleInit } from '@nestjs/common';
import { AdminInputError } from '#admin';
import type { AuditActor } from '#audit';
import { publicJwks } from '#clients';
import { CONFIG, type TollgateConfig } from '#config';
import type { EgressPolicy } from '#egress';
import { HOT_STATE, type HotState } from '#hot-state';
import type { CreateTrustedIssuerDto, UpdateTrustedIssuerDto } from './trusted-issuer-dto.js';
import { TrustedIssuerRepository, type TrustedIssuerChanges } from './trusted-issuer-repository.js';
import { type TrustedIssuer, trustedIssuerProblems, type TrustedIssuerShape, verificationKeys } from './trusted-issuer.js';

const TOPIC = 'trusted-issuers';

const notFound = (id: string) => new NotFoundException({ error: 'not_found', error_description: `no trusted issuer ${id}` });

/**
 * The trusted issuers: admin writes (validated, audited, then announced to every instance) and
 * the lookup by name that token verification uses.
 *
 * Owner of the in-memory copy (every issuer, by name): this class. Bound: the issuers the
 * operator registered (a handful). TTL: TOLLGATE_CLIENT_CACHE_TTL, as clients. Invalidation: on
 * every write here, on the change notice from other instances, and when the notice channel
 * reconnects; the next lookup loads them all again (one query), so a change reaches every
 * instance on its next request.
 */
@Injectable()
export class TrustedIssuers implements OnModuleInit {
  private loaded?: { byName: Map<string, TrustedIssuer>; expires: number };
  private loading?: Promise<Map<string, TrustedIssuer>>;
  /** Bumped on every invalidation: a load that started before it is not kept. */
  private generation = 0;
  private readonly changeListeners: Array<() => void> = [];
  private readonly logger = new Logger('federation');
  readonly egress: EgressPolicy;

  constructor(
    private readonly repository: TrustedIssuerRepository,
    @Inject(HOT_STATE) private readonly hot: HotState,
    @Inject(CONFIG) private readonly config: TollgateConfig,
  ) {
    this.egress = { allow: config.egressAllow, ...(config.egressCa ? { ca: config.egressCa } : {}) };
  }

  onModuleInit(): void {
    this.hot.events.subscribe(TOPIC, () => this.invalidate());
    this.hot.events.onResync(() => this.invalidate());
  }

  /** Called whenever the issuers may have changed (key caches keyed by version need nothing). */
  onChange(listener: () => void): void {
    this.changeListeners.push(listener);
  }

  /** Hot-path lookup by the name tokens carry (`iss`, or spiffe://<trust domain>); cached. */
  async byName(name: string): Promise<TrustedIssuer | undefined> {
    return (await this.all()).get(name);
  }

  private async all(): Promise<Map<string, TrustedIssuer>> {
    if (this.loaded && this.loaded.expires > Date.now()) return this.loaded.byName;
    if (!this.loading) {
      const generation = this.generation;
      this.loading = this.repository
        .all()
        .then((issuers) => {
          const byName = new Map(issuers.map((t) => [t.issuer, t]));
          if (generation === this.generation) this.loaded = { byName, expires: Date.now() + Math.max(this.config.clientCacheTtl * 1000, 0) };
          return byName;
        })
        .finally(() => (this.loading = undefined));
    }
    return this.loading;
  }

  private invalidate(): void {
    this.generation++;
    this.loaded = undefined;
    this.loading = undefined;
    for (const listener of this.changeListeners) listener();
  }

  list(): Promise<TrustedIssuer[]> {
    return this.repository.all();
  }

  async get(id: string): Promise<TrustedIssuer> {
    const found = await this.repository.find(id);
    if (!found) throw notFound(id);
    return found;
  }

  async create(input: CreateTrustedIssuerDto, actor: AuditActor): Promise<TrustedIssuer> {
    const spiffe = input.kind === 'spiffe';
    const misplaced = spiffe ? (['issuer', 'jwks', 'jwks_uri'] as const) : (['trust_domain', 'bundle', 'bundle_endpoint'] as const);
    const problems = misplaced.filter((f) => input[f] !== undefined && input[f] !== null).map((field) => ({ field, message: `is not a member of a ${input.kind} issuer` }));
    const name = spiffe ? (input.trust_domain === undefined ? undefined : `spiffe://${input.trust_domain}`) : input.issuer;
    if (name === undefined) problems.push({ field: spiffe ? 'trust_domain' : 'issuer', message: 'is required' });
    if (problems.length) throw new AdminInputError(problems);
    const shape: TrustedIssuerShape = {
      kind: input.kind,
      issuer: name!,
      jwks: ((spiffe ? input.bundle : input.jwks) as TrustedIssuer['jwks']) ?? null,
      jwksUri: (spiffe ? input.bundle_endpoint : input.jwks_uri) ?? null,
      allowedAddresses: input.allowed_addresses ?? [],
    };
    await this.assertValid(shape);
    const created = await this.repository.create(
      { ...shape, jwks: shape.jwks ? publicJwks(verificationKeys(shape.kind, shape.jwks) as { keys: [] }) : null, reusableTokens: input.reusable_tokens ?? false },
      (id) => ({ actor, action: 'trusted_issuer.create', details: { id, kind: shape.kind, issuer: shape.issuer } }),
    );
    if (!created) throw new AdminInputError([{ field: spiffe ? 'trust_domain' : 'issuer', message: 'is already a trusted issuer' }]);
    await this.announce();
    return created;
  }

  async update(id: string, patch: UpdateTrustedIssuerDto, actor: AuditActor): Promise<TrustedIssuer> {
    const current = await this.get(id);
    const spiffe = current.kind === 'spiffe';
    const [keysField, uriField] = spiffe ? (['bundle', 'bundle_endpoint'] as const) : (['jwks', 'jwks_uri'] as const);
    const misplaced = (spiffe ? (['jwks', 'jwks_uri'] as const) : (['bundle', 'bundle_endpoint'] as const)).filter((f) => patch[f] !== undefined);
    if (misplaced.length) throw new AdminInputError(misplaced.map((field) => ({ field, message: `is not a member of a ${current.kind} issuer` })));
    if (patch[keysField] != null && patch[uriField] != null) throw new AdminInputError([{ field: keysField, message: `send either ${keysField} or ${uriField}, not both` }]);
    const changes: TrustedIssuerChanges = {
      // Static keys and a key URL exclude each other: giving one clears the other.
      ...(patch[keysField] !== undefined ? { jwks: (patch[keysField] as TrustedIssuer['jwks']) ?? null, ...(patch[keysField] ? { jwksUri: null } : {}) } : {}),
      ...(patch[uriField] !== undefined ? { jwksUri: patch[uriField] ?? null, ...(patch[uriField] ? { jwks: null } : {}) } : {}),
      ...(patch.allowed_addresses !== undefined ? { allowedAddresses: patch.allowed_addresses } : {}),
      ...(patch.reusable_tokens !== undefined ? { reusableTokens: patch.reusable_tokens } : {}),
    };
    await this.assertValid({ ...current, ...changes });
    if (changes.jwks) changes.jwks = publicJwks(verificationKeys(current.kind, changes.jwks) as { keys: [] });
    const updated = await this.repository.update(id, changes, {
      actor,
      action: 'trusted_issuer.update',
      details: { id, issuer: current.issuer, fields: Object.keys(patch) },
    });
    if (!updated) throw notFound(id);
    await this.announce();
    return updated;
  }

  async remove(id: string, actor: AuditActor): Promise<void> {
    const current = await this.repository.find(id);
    const removed = current && (await this.repository.remove(id, { actor, action: 'trusted_issuer.delete', details: { id, issuer: current.issuer } }));
    if (!removed) throw notFound(id);
    await this.announce();
  }

  private async assertValid(shape: TrustedIssuerShape): Promise<void> {
    const problems = await trustedIssuerProblems({ ...shape, jwks: shape.jwks ? (verificationKeys(shape.kind, shape.jwks) as TrustedIssuer['jwks']) : null }, this.egress);
    if (problems.length) throw new AdminInputError(problems);
  }

  /** Drop the copy here and on every other instance before the write is acknowledged. */
  private async announce(): Promise<void> {
    this.invalidate();
    try {
      await this.hot.events.publish(TOPIC, 'changed');
    } catch {
      // Committed; other instances see it within their cache TTL (TOLLGATE_CLIENT_CACHE_TTL).
      this.logger.warn({ message: 'change notice not delivered; other instances see the trusted issuers within the client cache TTL' });
    }
  }
}
