import type { ClientRecord } from '#clients';
import type { ReplayStore } from '#hot-state';
import type { PrismaClient } from '#persistence';
import { WORKLOAD_GRANT_TYPES } from '#protocol';

/**
 * oidc-provider's storage extension point (docs: "adapter"). One class per model name:
 * - Client: read-only view of Tollgate's client registry (cached). Only active workloads are
 *   visible, so a suspended or deleted client fails authentication on its next token request,
 *   and gateways (secret-authenticated) can never obtain tokens.
 * - ReplayDetection: the shared replay store (memory or Redis). `find` claims the id
 *   atomically so two instances cannot both accept the same client assertion or DPoP proof
 *   (oidc-provider itself does find-then-save).
 * - everything else: the oidc_artifacts table through Prisma.
 */

/** oidc-provider keeps assertion/proof replay records for at most its 300 s DPoP window; assertions are capped at 300 s too. */
const REPLAY_CLAIM_SECONDS = 360;

export interface AdapterDeps {
  prisma: PrismaClient;
  replay: ReplayStore;
  lookupClient(clientId: string): Promise<ClientRecord | null>;
  /** Keys of a jwks_uri client, fetched and checked by us: oidc-provider gets them inline and never fetches. */
  keysFor?(client: ClientRecord): Promise<{ keys: object[] }>;
  /**
   * The public key of the federation hand-over assertions (FederatedAssertions): added to the keys
   * of clients with federated identities, and to no other client.
   */
  federationJwk?: Promise<object>;
}

type Payload = Record<string, unknown>;

export function providerMetadata(c: ClientRecord, jwks = c.jwks, federationJwk?: object): Payload {
  if (federationJwk && c.federatedIdentities.length) jwks = { keys: [...(jwks?.keys ?? []), federationJwk] } as ClientRecord['jwks'];
  return {
    client_id: c.clientId,
    ...(c.clientName ? { client_name: c.clientName } : {}),
    token_endpoint_auth_method: 'private_key_jwt',
    ...(jwks ? { jwks } : { jwks_uri: c.jwksUri }),
    grant_types: [...WORKLOAD_GRANT_TYPES],
    response_types: [],
    redirect_uris: [],
    dpop_bound_access_tokens: c.dpopBoundAccessTokens,
    require_dpop_nonce: c.requireDpopNonce,
  };
}

export function adapterFactory(deps: AdapterDeps) {
  return class TollgateAdapter {
    constructor(private readonly model: string) {}

    async find(id: string): Promise<Payload | undefined> {
      if (this.model === 'Client') {
        const c = await deps.lookupClient(id);
        if (!c || c.status !== 'active' || !c.roles.includes('workload')) return undefined;
        const federationJwk = c.federatedIdentities.length ? await deps.federationJwk : undefined;
        // A client with federated identities only: the hand-over key is its one key (none without it).
        if (!c.jwks && !c.jwksUri) return federationJwk ? providerMetadata(c, null, federationJwk) : undefined;
        if (c.jwks || !deps.keysFor) return providerMetadata(c, c.jwks, federationJwk);
        // One guarded fetch for every endpoint (ClientKeySets): the keys oidc-provider verifies with
        // passed the same rules as inline ones. No keys, no client (invalid_client).
        const keys = await deps.keysFor(c).catch(() => undefined);
        return keys ? providerMetadata(c, keys as ClientRecord['jwks'], federationJwk) : federationJwk ? providerMetadata(c, null, federationJwk) : undefined;
      }
      if (this.model === 'ReplayDetection') {
        const first = await deps.replay.claim(`oidc:${id}`, REPLAY_CLAIM_SECONDS);
        return first ? undefined : { jti: id };
      }
      const row = await deps.prisma.oidcArtifact.findUnique({ where: { model_id: { model: this.model, id } } });
      if (!row || (row.expiresAt && row.expiresAt <= new Date())) return undefined;
      return { ...(row.payload as Payload), ...(row.consumedAt ? { consumed: Math.floor(row.consumedAt.getTime() / 1000) } : {}) };
    }

    async upsert(id: string, payload: Payload, expiresIn?: number): Promise<void> {
      if (this.model === 'Client') throw new Error('clients are managed through the admin API');
      if (this.model === 'ReplayDetection') return; // claimed in find()
      const data = {
        payload: payload as object,
        grantId: (payload.grantId as string) ?? null,
        uid: (payload.uid as string) ?? null,
        userCode: (payload.userCode as string) ?? null,
        expiresAt: expiresIn ? new Date(Date.now() + expiresIn * 1000) : null,
      };
      await deps.prisma.oidcArtifact.upsert({
        where: { model_id: { model: this.model, id } },
        create: { model: this.model, id, ...data },
        update: data,
      });
    }

    async findByUid(uid: string): Promise<Payload | undefined> {
      const row = await deps.prisma.oidcArtifact.findFirst({ where: { model: this.model, uid } });
      return row ? (row.payload as Payload) : undefined;
    }

    async findByUserCode(userCode: string): Promise<Payload | undefined> {
      const row = await deps.prisma.oidcArtifact.findFirst({ where: { model: this.model, userCode } });
      return row ? (row.payload as Payload) : undefined;
    }

    async consume(id: string): Promise<void> {
      await deps.prisma.oidcArtifact.updateMany({ where: { model: this.model, id }, data: { consumedAt: new Date() } });
    }

    async destroy(id: string): Promise<void> {
      await deps.prisma.oidcArtifact.deleteMany({ where: { model: this.model, id } });
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      await deps.prisma.oidcArtifact.deleteMany({ where: { grantId } });
    }
  };
}
