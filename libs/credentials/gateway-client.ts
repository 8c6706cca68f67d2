import { Injectable } from '@nestjs/common';
import { type ClientRecord, ClientRegistry, SecretVerifier } from '#clients';
import { AuthenticationFailures } from './authentication-failures.js';
import { InvalidClient } from './oauth-error.js';

/**
 * RFC 6749 §2.3.1 client_secret_basic: `Basic base64(urlencode(id):urlencode(secret))`.
 * Returns undefined for a missing or malformed header.
 */
const BASIC = /^Basic ([A-Za-z0-9+/]+=*)$/i;
const PLUS = /\+/g;

export function parseBasicCredentials(header: unknown): { clientId: string; secret: string } | undefined {
  if (typeof header !== 'string') return undefined;
  const match = BASIC.exec(header.trim());
  if (!match) return undefined;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 1) return undefined;
  try {
    const form = (s: string) => decodeURIComponent(s.replace(PLUS, ' '));
    return { clientId: form(decoded.slice(0, colon)), secret: form(decoded.slice(colon + 1)) };
  } catch {
    return undefined;
  }
}

export interface GatewayAuthDeps {
  lookupClient(clientId: string): Promise<ClientRecord | null>;
  verifySecret(clientId: string, secret: string, stored: string): Promise<boolean>;
}

/**
 * Authenticates an active gateway client from its parsed Basic credentials (parseBasicCredentials,
 * undefined when the header was missing or malformed); every refusal reads the same, its reason
 * code says why.
 */
export async function authenticateGateway(credentials: { clientId: string; secret: string } | undefined, deps: GatewayAuthDeps): Promise<ClientRecord> {
  if (!credentials) throw new InvalidClient('gateway authentication with client_secret_basic is required', 'no_credentials');
  const client = await deps.lookupClient(credentials.clientId);
  // Verify against a dummy hash when the client is unknown so timing does not reveal which ids exist.
  const stored = client?.secretHash ?? DUMMY_HASH;
  const ok = await deps.verifySecret(credentials.clientId, credentials.secret, stored);
  if (!client || client.status !== 'active' || !client.roles.includes('gateway')) throw new InvalidClient('gateway authentication failed', 'unknown_client');
  if (!ok) throw new InvalidClient('gateway authentication failed', 'client_secret');
  return client;
}

/** Where a gateway authenticates, for the decision log. */
export interface GatewayEndpoint {
  kind: 'check' | 'introspection';
  method: string;
  path: string;
  /** The request being handled (X-Request-Id). */
  requestId?: string;
}

/**
 * authenticateGateway over the client registry (cached) and the secret verifier (memoised),
 * behind the source's failure budget: a wrong secret costs a scrypt, so a source that keeps
 * sending them is refused before that work (AuthenticationFailures).
 */
@Injectable()
export class GatewayAuthenticator {
  private readonly deps: GatewayAuthDeps;

  constructor(clients: ClientRegistry, secrets: SecretVerifier, private readonly failures: AuthenticationFailures) {
    this.deps = {
      lookupClient: (id) => clients.lookup(id),
      verifySecret: (id, secret, stored) => secrets.verify(id, secret, stored),
    };
  }

  async authenticate(header: unknown, endpoint: GatewayEndpoint, ip: string | undefined): Promise<ClientRecord> {
    const credentials = parseBasicCredentials(header);
    const named = credentials?.clientId;
    const release = await this.failures.admit(endpoint.kind, ip, named);
    try {
      return await authenticateGateway(credentials, this.deps);
    } catch (err) {
      if (err instanceof InvalidClient) {
        await this.failures.unauthenticated({ endpoint: endpoint.kind, method: endpoint.method, path: endpoint.path, ip, clientId: named, reason: err.reason, requestId: endpoint.requestId });
      }
      throw err;
    } finally {
      release();
    }
  }
}

// scrypt hash of a random value nobody knows; same cost as a real verification.
const DUMMY_HASH = 'scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
