import { Inject, Injectable, NotFoundException } from '@nestjs/common';
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
} from '@simplewebauthn/server';
import { AdminInputError } from '#admin';
import type { AuditActor } from '#audit';
import { CONFIG, type TollgateConfig } from '#config';
import { assertedCredentialId, AssertionRefused, verifyAuthenticatorAssertion } from './assertion.js';
import { AttestationRefused, SUPPORTED_ALGORITHMS, verifyEnrolment } from './attestation.js';
import { type AttestationPolicy, checkAttestationPolicy } from './attestation-policy.js';
import { AuthenticatorRepository, type StoredAttestationPolicy, type StoredAuthenticator } from './authenticator-repository.js';

/** Enrolment is closed to this client (docs/step-up.md §5.2 `403 access_denied`). The message is client-safe. */
export class EnrolmentDenied extends Error {
  override readonly name = 'EnrolmentDenied';
}

/** WebAuthn ceremony timeout, ms (WebAuthn L3 §5.4 `timeout`): the challenge's own lifetime is the lead's TTL. */
const TIMEOUT_MS = 120_000;
const NAME_MAX = 100;
/** Who is recorded in the audit log for what a workload does itself. */
const workloadActor = (clientId: string) => `client:${clientId}`;
/** What the server detects on its own (a possible clone). */
const SERVER_ACTOR = 'tollgate';

/** The registration result (docs/step-up.md §5.2), snake_case as on the wire. */
export interface EnrolledAuthenticatorView {
  authenticator_id: string;
  credential_id: string;
  format: string;
  aaguid: string;
  attestation: 'basic' | 'self' | 'none';
  chain_verified: boolean;
  name: string | null;
  created_at: string;
}

/** The admin listing (docs/step-up.md §6): the enrolment view plus use and revocation; never the public key. */
export interface AuthenticatorView extends EnrolledAuthenticatorView {
  transports: string[];
  counter: number;
  last_used_at: string | null;
  revoked_at: string | null;
}

export interface AttestationPolicyView {
  client_id: string;
  policy: AttestationPolicy;
  version: number;
  created_at: string;
  updated_at: string;
}

export const enrolledView = (a: StoredAuthenticator): EnrolledAuthenticatorView => ({
  authenticator_id: a.id,
  credential_id: a.credentialId,
  format: a.format,
  aaguid: a.aaguid,
  attestation: a.attestation,
  chain_verified: a.chainVerified,
  name: a.name,
  created_at: a.createdAt.toISOString(),
});

export const authenticatorView = (a: StoredAuthenticator): AuthenticatorView => ({
  ...enrolledView(a),
  transports: a.transports,
  counter: a.counter,
  last_used_at: a.lastUsedAt?.toISOString() ?? null,
  revoked_at: a.revokedAt?.toISOString() ?? null,
});

const policyView = (p: StoredAttestationPolicy): AttestationPolicyView => ({
  client_id: p.clientId,
  policy: p.policy,
  version: p.version,
  created_at: p.createdAt.toISOString(),
  updated_at: p.updatedAt.toISOString(),
});

const notFound = (what: string) => new NotFoundException({ error: 'not_found', error_description: what });

/**
 * WebAuthn authenticators for the `attested` step-up level (docs/step-up.md §5, §6): creation and
 * request options, enrolment under the client's attestation policy, assertion verification, and
 * the administration of policies and authenticators.
 *
 * The relying party is the issuer (§5): origin = its origin, RP ID = its host name.
 *
 * Nothing here is cached: enrolment and step-ups are rare next to token and check calls, and
 * reading the database each time makes a revocation or a policy change take effect at once on
 * every instance (§6) without a notice channel.
 */
@Injectable()
export class Authenticators {
  readonly origin: string;
  readonly rpId: string;

  constructor(
    private readonly repository: AuthenticatorRepository,
    @Inject(CONFIG) config: TollgateConfig,
  ) {
    const issuer = new URL(config.issuer);
    this.origin = issuer.origin;
    this.rpId = issuer.hostname;
  }

  // ---- workload side (docs/step-up.md §5.1, §5.2, §4)

  /**
   * PublicKeyCredentialCreationOptionsJSON (WebAuthn L3 §5.4) for a new authenticator; its
   * `challenge` is exactly `challenge` (base64url, stored by the caller). `name` is the label the
   * caller keeps with the challenge and passes to enrol; it is not part of the options.
   */
  async creationOptions(clientId: string, challenge: string, _name?: string): Promise<PublicKeyCredentialCreationOptionsJSON> {
    if (!/^[A-Za-z0-9_-]{16,}$/.test(challenge)) throw new TypeError('challenge must be base64url, at least 16 characters');
    const stored = await this.openPolicy(clientId);
    const active = await this.repository.listActive(clientId);
    if (active.length >= stored.policy.max_authenticators) throw limitReached(stored.policy.max_authenticators);
    const options = await generateRegistrationOptions({
      rpName: 'Tollgate',
      rpID: this.rpId,
      userName: clientId,
      userDisplayName: clientId,
      userID: new TextEncoder().encode(clientId),
      challenge: new Uint8Array(Buffer.from(challenge, 'base64url')),
      timeout: TIMEOUT_MS,
      // WebAuthn L3 §5.4.7: "direct" asks for the authenticator's own attestation statement, which the policy judges.
      attestationType: 'direct',
      excludeCredentials: active.map((a) => ({ id: a.credentialId, ...(a.transports.length ? { transports: a.transports as never } : {}) })),
      authenticatorSelection: { residentKey: 'discouraged', userVerification: 'discouraged' },
      supportedAlgorithmIDs: SUPPORTED_ALGORITHMS,
    });
    // The caller looks the challenge up by the exact string it stored; a non-canonical base64url
    // string would not survive the decode/encode above, so hand back the string itself.
    return { ...options, challenge };
  }

  /** Verifies a registration (§5.2) and stores the authenticator. AttestationRefused / EnrolmentDenied otherwise. */
  async enrol(clientId: string, response: unknown, expectedChallenge: string, name?: string): Promise<EnrolledAuthenticatorView> {
    if (name !== undefined && (name.length > NAME_MAX || /[\u0000-\u001f\u007f]/.test(name))) {
      throw new AttestationRefused(`name must be at most ${NAME_MAX} printable characters`);
    }
    const stored = await this.openPolicy(clientId);
    if ((await this.repository.countActive(clientId)) >= stored.policy.max_authenticators) throw limitReached(stored.policy.max_authenticators);
    const verified = await verifyEnrolment({ response, expectedChallenge, origin: this.origin, rpId: this.rpId, policy: stored.policy });
    const result = await this.repository.create(clientId, { ...verified, ...(name ? { name } : {}) }, stored, workloadActor(clientId));
    switch (result.kind) {
      case 'created':
        return enrolledView(result.authenticator);
      case 'no_policy':
        throw new EnrolmentDenied('the client has no attestation policy: enrolment is closed');
      case 'policy_changed':
        throw new EnrolmentDenied('the attestation policy changed during the enrolment: ask for new creation options');
      case 'limit':
        throw limitReached(result.max);
      case 'duplicate':
        throw new AttestationRefused('this credential is already enrolled');
    }
  }

  /**
   * PublicKeyCredentialRequestOptionsJSON (WebAuthn L3 §5.5) for an `attested` challenge (§3):
   * the client's active credentials, the challenge nonce as `challenge`. Null when it has none.
   */
  async requestOptions(clientId: string, challenge: string): Promise<PublicKeyCredentialRequestOptionsJSON | null> {
    if (!/^[A-Za-z0-9_-]{16,}$/.test(challenge)) throw new TypeError('challenge must be base64url, at least 16 characters');
    const active = await this.repository.listActive(clientId);
    if (active.length === 0) return null;
    const options = await generateAuthenticationOptions({
      rpID: this.rpId,
      challenge: new Uint8Array(Buffer.from(challenge, 'base64url')),
      allowCredentials: active.map((a) => ({ id: a.credentialId, ...(a.transports.length ? { transports: a.transports as never } : {}) })),
      userVerification: 'discouraged',
      timeout: TIMEOUT_MS,
    });
    const { extensions: _none, ...rest } = options; // undefined: leave it out of the JSON
    return { ...rest, challenge };
  }

  /**
   * Verifies an `attested` answer's assertion (§4) by one of the client's active authenticators
   * and records its use. AssertionRefused otherwise; a counter that did not increase is recorded
   * in the audit log as a possible clone (§9).
   */
  async verifyAssertion(clientId: string, response: unknown, expectedChallenge: string): Promise<{ authenticatorId: string; chainVerified: boolean }> {
    const credentialId = assertedCredentialId(response);
    if (!credentialId) throw new AssertionRefused('webauthn_response names no credential (id)');
    const authenticator = await this.repository.findByCredentialId(credentialId);
    // Another client's credential is refused exactly like an unknown one: nothing is learnt about it.
    if (!authenticator || authenticator.clientId !== clientId) throw new AssertionRefused('the credential is not enrolled for this client');
    if (authenticator.revokedAt) throw new AssertionRefused('the authenticator is revoked');

    let newCounter: number;
    try {
      ({ newCounter } = await verifyAuthenticatorAssertion({
        response,
        expectedChallenge,
        origin: this.origin,
        rpId: this.rpId,
        authenticator: { credentialId: authenticator.credentialId, publicKey: authenticator.publicKey, counter: authenticator.counter, revoked: false },
      }));
    } catch (err) {
      if (err instanceof AssertionRefused && err.counterRegression) {
        await this.repository.recordCounterRegression(authenticator, presentedCounter(response), SERVER_ACTOR);
      }
      throw err;
    }

    if (!(await this.repository.recordUse(authenticator.id, newCounter))) {
      // The compare-and-set lost: revoked meanwhile, or another answer with this counter or a
      // higher one was accepted since the row was read (a concurrent replay, or a clone).
      const now = await this.repository.findById(authenticator.id);
      if (!now || now.revokedAt) throw new AssertionRefused('the authenticator is revoked');
      await this.repository.recordCounterRegression(now, newCounter, SERVER_ACTOR);
      throw new AssertionRefused('the signature counter did not increase: possibly a cloned authenticator', true);
    }
    return { authenticatorId: authenticator.id, chainVerified: authenticator.chainVerified };
  }

  // ---- administration (docs/step-up.md §6)

  async getPolicy(clientId: string): Promise<AttestationPolicyView> {
    const stored = await this.repository.getPolicy(clientId);
    if (!stored) {
      throw notFound((await this.repository.clientExists(clientId)) ? `client ${clientId} has no attestation policy` : `no client ${clientId}`);
    }
    return policyView(stored);
  }

  /** Nothing is written (nor audited) unless checkAttestationPolicy finds no problem. */
  async putPolicy(clientId: string, document: unknown, actor: AuditActor): Promise<AttestationPolicyView> {
    const checked = checkAttestationPolicy(document);
    if (checked.problems) throw new AdminInputError(checked.problems);
    const stored = await this.repository.putPolicy(clientId, checked.policy, actor);
    if (!stored) throw notFound(`no client ${clientId}`);
    return policyView(stored);
  }

  /** Closes enrolment; enrolled authenticators stay until revoked. Nothing to remove is not an error. */
  async deletePolicy(clientId: string, actor: AuditActor): Promise<void> {
    if ((await this.repository.deletePolicy(clientId, actor)) === 'no_client') throw notFound(`no client ${clientId}`);
  }

  async list(clientId: string): Promise<AuthenticatorView[]> {
    const [exists, all] = await Promise.all([this.repository.clientExists(clientId), this.repository.listForClient(clientId)]);
    if (!exists) throw notFound(`no client ${clientId}`);
    return all.map(authenticatorView);
  }

  /** Revoked at once: every check reads the database (no cache to invalidate). Revoking twice is not an error. */
  async revoke(clientId: string, authenticatorId: string, actor: AuditActor): Promise<void> {
    const result = await this.repository.revoke(clientId, authenticatorId, actor);
    if (result === 'not_found') {
      throw notFound((await this.repository.clientExists(clientId)) ? `client ${clientId} has no authenticator ${authenticatorId}` : `no client ${clientId}`);
    }
  }

  private async openPolicy(clientId: string): Promise<StoredAttestationPolicy> {
    const stored = await this.repository.getPolicy(clientId);
    if (!stored) throw new EnrolmentDenied('the client has no attestation policy: enrolment is closed');
    return stored;
  }
}

function limitReached(max: number): EnrolmentDenied {
  return new EnrolmentDenied(`the client already holds ${max} active authenticator${max === 1 ? '' : 's'} (max_authenticators): an administrator revokes one first`);
}

/** The counter an assertion presents (authenticator data bytes 33–36), for the audit entry only. */
function presentedCounter(response: unknown): number | null {
  try {
    const data = Buffer.from((response as { response: { authenticatorData: string } }).response.authenticatorData, 'base64url');
    return data.length >= 37 ? data.readUInt32BE(33) : null;
  } catch {
    return null;
  }
}
