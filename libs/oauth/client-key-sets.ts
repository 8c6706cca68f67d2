import type { JWK } from 'jose';
import type { ClientRecord } from '#clients';
import { InvalidClient } from './oauth-error.js';

/**
 * A client's public keys for verifying its assertions outside oidc-provider (revocation, and
 * later step-up): the registered `jwks`, or its `jwks_uri` fetched and cached for 5 minutes
 * (bounded, per client version, so a key rotation through the admin API applies at once).
 */
export class ClientKeySets {
  private readonly remote = new Map<string, { keys: { keys: JWK[] }; expires: number }>();

  async keysFor(client: ClientRecord, _want: { kid?: string } = {}): Promise<{ keys: JWK[] }> {
    if (client.jwks) return client.jwks;
    if (!client.jwksUri) throw new InvalidClient('client has no keys', 'client_keys');
    const cacheKey = `${client.clientId}@${client.version}`;
    const cached = this.remote.get(cacheKey);
    if (cached && cached.expires > Date.now()) return cached.keys;
    let keys: { keys: JWK[] };
    try {
      const response = await fetch(client.jwksUri, { signal: AbortSignal.timeout(5000), redirect: 'error' });
      if (!response.ok) throw new Error(`status ${response.status}`);
      keys = (await response.json()) as { keys: JWK[] };
      if (!Array.isArray(keys?.keys)) throw new Error('not a JWK Set');
    } catch {
      throw new InvalidClient('client jwks_uri could not be fetched', 'client_keys');
    }
    if (this.remote.size > 1000) this.remote.clear();
    this.remote.set(cacheKey, { keys, expires: Date.now() + 300_000 });
    return keys;
  }
}
