import { Injectable } from '@nestjs/common';
import { type ClientRecord, ClientRegistry, SecretVerifier } from '#clients';
import { InvalidClient } from './oauth-error.js';

/**
 * RFC 6749 §2.3.1 client_secret_basic: `Basic base64(urlencode(id):urlencode(secret))`.
 * Returns undefined for a missing or malformed header.
 */
export function parseBasicCredentials(header: unknown): { clientId: string; secret: string } | undefined {
  if (typeof header !== 'string') return undefined;
  const match = /^Basic ([A-Za-z0-9+/]+=*)$/i.exec(header.trim());
  if (!match) return undefined;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 1) return undefined;
  try {
    const form = (s: string) => decodeURIComponent(s.replace(/\+/g, ' '));
    return { clientId: form(decoded.slice(0, colon)), secret: form(decoded.slice(colon + 1)) };
  } catch {
    return undefined;
  }
}

export interface GatewayAuthDeps {
  lookupClient(clientId: string): Promise<ClientRecord | null>;
  verifySecret(clientId: string, secret: string, stored: string): Promise<boolean>;
}

/** Authenticates an active gateway client; everything else is `invalid_client` with the same words. */
export async function authenticateGateway(header: unknown, deps: GatewayAuthDeps): Promise<ClientRecord> {
  const credentials = parseBasicCredentials(header);
  if (!credentials) throw new InvalidClient('gateway authentication with client_secret_basic is required');
  const client = await deps.lookupClient(credentials.clientId);
  // Verify against a dummy hash when the client is unknown so timing does not reveal which ids exist.
  const stored = client?.secretHash ?? DUMMY_HASH;
  const ok = await deps.verifySecret(credentials.clientId, credentials.secret, stored);
  if (!ok || !client || client.status !== 'active' || !client.roles.includes('gateway')) {
    throw new InvalidClient('gateway authentication failed');
  }
  return client;
}

/** authenticateGateway over the client registry (cached) and the secret verifier (memoised). */
@Injectable()
export class GatewayAuthenticator {
  private readonly deps: GatewayAuthDeps;

  constructor(clients: ClientRegistry, secrets: SecretVerifier) {
    this.deps = {
      lookupClient: (id) => clients.lookup(id),
      verifySecret: (id, secret, stored) => secrets.verify(id, secret, stored),
    };
  }

  authenticate(header: unknown): Promise<ClientRecord> {
    return authenticateGateway(header, this.deps);
  }
}

// scrypt hash of a random value nobody knows; same cost as a real verification.
const DUMMY_HASH = 'scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
