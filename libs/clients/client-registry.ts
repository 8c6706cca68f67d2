import { randomBytes } from 'node:crypto';
import { Inject, Injectable, Logger, NotFoundException, type OnModuleInit } from '@nestjs/common';
import { AdminInputError } from '#admin';
import type { AuditActor } from '#audit';
import { CONFIG, type TollgateConfig } from '#config';
import { HOT_STATE, type HotState } from '#hot-state';
import { ClientCache } from './client-cache.js';
import type { CreateClientDto, UpdateClientDto } from './client-dto.js';
import { publicJwks } from './client-keys.js';
import { type FederatedIdentity, normalizedIdentities } from './federated-identities.js';
import type { ClientRecord } from './client-record.js';
import { type ClientChanges, ClientRepository } from './client-repository.js';
import { ResourceCatalog } from './resource-catalog.js';
import { clientProblems, type ClientShape, couldBeClientId } from './client-rules.js';
import { generateClientSecret, hashClientSecret } from './client-secret.js';

const TOPIC = 'clients';

function splitScope(scope: string | undefined): string[] | undefined {
  return scope === undefined ? undefined : [...new Set(scope.split(' ').filter(Boolean))];
}

/**
 * The machine-client registry: admin writes (validated, audited, then announced to every
 * instance) and the cached lookup the hot paths use.
 */
@Injectable()
export class ClientRegistry implements OnModuleInit {
  private readonly cache: ClientCache;

  constructor(
    private readonly repository: ClientRepository,
    @Inject(HOT_STATE) private readonly hot: HotState,
    @Inject(CONFIG) private readonly config: TollgateConfig,
    private readonly catalog: ResourceCatalog,
  ) {
    this.cache = new ClientCache(config.clientCacheTtl * 1000);
  }

  onModuleInit(): void {
    this.hot.events.subscribe(TOPIC, (clientId) => this.cache.delete(clientId));
    this.hot.events.onResync(() => this.cache.clear());
  }

  get cacheStats() {
    return { hits: this.cache.hits, misses: this.cache.misses };
  }

  /** Hot-path lookup: cached; includes suspended clients (callers decide what status means). */
  async lookup(clientId: string): Promise<ClientRecord | null> {
    // Not cached either: impossible ids (from a Basic header, an assertion's iss) must not fill the cache.
    if (!couldBeClientId(clientId)) return null;
    const cached = this.cache.get(clientId);
    if (cached !== undefined) return cached;
    const record = await this.repository.find(clientId);
    this.cache.set(clientId, record);
    return record;
  }

  async get(clientId: string): Promise<ClientRecord> {
    const record = couldBeClientId(clientId) ? await this.repository.find(clientId) : null;
    if (!record) throw new NotFoundException({ error: 'not_found', error_description: `no client ${clientId}` });
    return record;
  }

  list(limit: number, after?: string, search?: string): Promise<ClientRecord[]> {
    return this.repository.list(limit, after, search);
  }

  async create(
    input: CreateClientDto,
    actor: AuditActor,
    extra: { registrationTokenHash?: string } = {},
  ): Promise<{ client: ClientRecord; secret?: string }> {
    const roles = (input.roles ?? ['workload']) as ClientRecord['roles'];
    const shape: ClientShape = {
      roles,
      tokenEndpointAuthMethod: (input.token_endpoint_auth_method ??
        (roles.includes('gateway') ? 'client_secret_basic' : 'private_key_jwt')) as ClientRecord['tokenEndpointAuthMethod'],
      jwks: (input.jwks as ClientRecord['jwks']) ?? null,
      jwksUri: input.jwks_uri ?? null,
      federatedIdentities: (input.federated_identities as unknown as FederatedIdentity[] | null) ?? [],
      scopes: splitScope(input.scope) ?? [],
      allowedResources: input.allowed_resources ?? [],
      accessTokenTtl: input.access_token_ttl ?? null,
    };
    await this.assertValid(shape);
    shape.federatedIdentities = normalizedIdentities(shape.federatedIdentities);
    const secret = shape.tokenEndpointAuthMethod === 'client_secret_basic' ? generateClientSecret() : undefined;
    const clientId = `tg_${randomBytes(12).toString('base64url')}`;
    const client = await this.repository.create(
      clientId,
      {
        ...shape,
        jwks: shape.jwks ? publicJwks(shape.jwks) : null,
        clientName: input.client_name ?? null,
        dpopBoundAccessTokens: input.dpop_bound_access_tokens ?? true,
        requireDpopNonce: input.require_dpop_nonce ?? false,
        secretHash: secret ? await hashClientSecret(secret) : null,
        registrationTokenHash: extra.registrationTokenHash ?? null,
      },
      { actor, action: 'client.create', clientId, details: { roles, client_name: input.client_name ?? null } },
    );
    await this.announce(clientId);
    return { client, secret };
  }

  async update(
    clientId: string,
    patch: UpdateClientDto,
    actor: AuditActor,
    extra: { registrationTokenHash?: string } = {},
  ): Promise<{ client: ClientRecord; secret?: string }> {
    const current = await this.get(clientId);
    const changes: ClientChanges = {
      ...(extra.registrationTokenHash ? { registrationTokenHash: extra.registrationTokenHash } : {}),
      ...(patch.client_name !== undefined ? { clientName: patch.client_name } : {}),
      ...(patch.roles !== undefined ? { roles: patch.roles as ClientRecord['roles'] } : {}),
      ...(patch.token_endpoint_auth_method !== undefined
        ? { tokenEndpointAuthMethod: patch.token_endpoint_auth_method as ClientRecord['tokenEndpointAuthMethod'] }
        : {}),
      // Key rotation replaces the whole set (RFC 7591 `jwks`); jwks and jwks_uri exclude each other.
      ...(patch.jwks !== undefined ? { jwks: patch.jwks as ClientRecord['jwks'], jwksUri: null } : {}),
      ...(patch.jwks_uri !== undefined ? { jwksUri: patch.jwks_uri, jwks: null } : {}),
      ...(patch.federated_identities !== undefined
        ? { federatedIdentities: (patch.federated_identities as unknown as FederatedIdentity[] | null) ?? [] }
        : {}),
      ...(patch.scope !== undefined ? { scopes: splitScope(patch.scope) } : {}),
      ...(patch.allowed_resources !== undefined ? { allowedResources: patch.allowed_resources } : {}),
      ...(patch.access_token_ttl !== undefined ? { accessTokenTtl: patch.access_token_ttl } : {}),
      ...(patch.dpop_bound_access_tokens !== undefined ? { dpopBoundAccessTokens: patch.dpop_bound_access_tokens } : {}),
      ...(patch.require_dpop_nonce !== undefined ? { requireDpopNonce: patch.require_dpop_nonce } : {}),
      ...(patch.status !== undefined ? { status: patch.status } : {}),
    };
    if (patch.jwks !== undefined && patch.jwks_uri !== undefined) {
      throw new AdminInputError([{ field: 'jwks', message: 'send either jwks or jwks_uri, not both' }], 'invalid_client_metadata');
    }
    const merged = { ...current, ...changes };
    await this.assertValid(merged);
    if (changes.jwks) changes.jwks = publicJwks(changes.jwks);
    if (changes.federatedIdentities) changes.federatedIdentities = normalizedIdentities(changes.federatedIdentities);
    let secret: string | undefined;
    if (patch.rotate_secret) {
      if (merged.tokenEndpointAuthMethod !== 'client_secret_basic') {
        throw new AdminInputError([{ field: 'rotate_secret', message: 'only clients using client_secret_basic have a secret' }], 'invalid_client_metadata');
      }
      secret = generateClientSecret();
      changes.secretHash = await hashClientSecret(secret);
    } else if (merged.tokenEndpointAuthMethod !== 'client_secret_basic') {
      changes.secretHash = null;
    } else if (!merged.secretHash) {
      secret = generateClientSecret();
      changes.secretHash = await hashClientSecret(secret);
    }
    const fieldsChanged = Object.keys(patch).filter((k) => k !== 'rotate_secret');
    const client = await this.repository.update(clientId, changes, {
      actor,
      action:
        patch.status && patch.status !== current.status
          ? `client.${patch.status === 'suspended' ? 'suspend' : 'activate'}`
          : fieldsChanged.length === 0 && extra.registrationTokenHash
            ? 'client.registration_token.rotate'
            : 'client.update',
      clientId,
      details: { fields: fieldsChanged, ...(secret ? { secret_rotated: true } : {}), ...(changes.jwks ? { keys_replaced: true } : {}) },
    });
    if (!client) throw new NotFoundException({ error: 'not_found', error_description: `no client ${clientId}` });
    await this.announce(clientId);
    return { client, secret };
  }

  async remove(clientId: string, actor: AuditActor): Promise<void> {
    const removed = couldBeClientId(clientId) && (await this.repository.remove(clientId, { actor, action: 'client.delete', clientId }));
    if (!removed) throw new NotFoundException({ error: 'not_found', error_description: `no client ${clientId}` });
    await this.announce(clientId);
  }

  private async assertValid(shape: ClientShape): Promise<void> {
    const problems = await clientProblems(shape, this.config.accessTokenTtlMax, { allow: this.config.egressAllow });
    if (problems.length) throw new AdminInputError(problems, 'invalid_client_metadata');
  }

  /** Drop the cached copy here and on every other instance before the write is acknowledged. */
  private async announce(clientId: string): Promise<void> {
    this.cache.delete(clientId);
    this.catalog.changed();
    try {
      await this.hot.events.publish(TOPIC, clientId);
    } catch {
      // The change is committed; other instances fall back to their cache TTL (TOLLGATE_CLIENT_CACHE_TTL).
      this.logger.warn({ message: 'change notice not delivered; other instances see it within the client cache TTL', client_id: clientId });
    }
  }

  private readonly logger = new Logger('clients');
}
