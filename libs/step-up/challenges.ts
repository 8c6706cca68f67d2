import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { decodeJwt } from 'jose';
import { DecisionLog } from '#audit';
import { CONFIG, type TollgateConfig } from '#config';
import {
  asAuthorizationServerError,
  InvalidClient,
  InvalidDpopProof,
  InvalidGrant,
  InvalidRequest,
  OAuthError,
  verifyDpopProof,
} from '#credentials';
import { HOT_STATE, type HotState } from '#hot-state';
import { ACR, CLIENT_SIGNING_ALGS } from '#protocol';
import { AssertionRefused, AttestationRefused, Authenticators } from './authenticators/index.js';

const LIVE = ACR.live;
const ATTESTED = ACR.attested;
/** Levels a challenge can be asked for, lowest first (docs/step-up.md §1; `key` needs none). */
const CHALLENGE_LEVELS: string[] = [LIVE, ATTESTED];

/** What the workload sent with the step-up grant (docs/step-up.md §4); the client is already authenticated. */
export interface StepUpAnswer {
  clientId: string;
  challengeId?: string;
  /** The client assertion oidc-provider has verified (signature, claims, replay). */
  assertion: string;
  proof?: string;
  webauthnResponse?: string;
  /** The token endpoint URL, for the DPoP proof's htu. */
  tokenEndpoint: string;
  /** The caller's address (as for risk at issuance), for the decision log. */
  ip?: string;
  /** The request (X-Request-Id), for the decision log. */
  requestId?: string;
  /**
   * The client re-authenticated with a platform token verified for this request (docs/federation.md):
   * the token cannot carry the nonce, so the DPoP proof's nonce alone answers the challenge.
   */
  federated?: boolean;
}

/** The level the answer proved (RFC 9470 acr, RFC 8176 amr) and the DPoP key to bind to. */
export interface ProvenLevel {
  acr: string;
  amr: string[];
  /** Epoch seconds. */
  authTime: number;
  jkt: string;
}

/**
 * Challenges (step-up and enrolment together) one client id may ask for within one challenge
 * lifetime. A workload needs one at a time, but a fleet of replicas often shares one client id;
 * the bound is there to keep one client from filling the store every other client's step-ups
 * live in (in memory: 100,000 records).
 */
const MAX_CHALLENGES_PER_WINDOW = 1000;

/** What is kept of a step-up challenge (hot state, which forgets it when it expires). The nonce only as a hash. */
interface ChallengeRecord {
  clientId: string;
  jkt: string;
  acr: string;
  nonceHash: string;
}

/** What is kept of an enrolment challenge (docs/step-up.md §5.1), keyed by the WebAuthn challenge. */
export interface EnrolmentRecord {
  clientId: string;
  jkt: string;
  name?: string;
}

export interface IssuedChallenge {
  challenge_id: string;
  nonce: string;
  expires_in: number;
  acr_values: string;
  methods: string[];
  webauthn?: unknown;
}

const hash = (value: string) => createHash('sha256').update(value).digest('base64url');
/** Constant time: the nonce is a secret until answered. */
const sameNonce = (given: unknown, nonceHash: string) =>
  typeof given === 'string' && timingSafeEqual(Buffer.from(hash(given)), Buffer.from(nonceHash));
const challengeKey = (id: string) => `step-up:${id}`;
const enrolmentKey = (challenge: string) => `enrolment:${challenge}`;

/** RFC 9470 style acr_values: the first supported level above `key` (docs/step-up.md §3). */
function requestedLevel(acrValues: string | undefined): string {
  const level = (acrValues ?? '').split(' ').find((v) => CHALLENGE_LEVELS.includes(v));
  if (!level) throw new InvalidRequest(`acr_values must name ${CHALLENGE_LEVELS.join(' or ')}`);
  return level;
}

/**
 * Step-up challenges (docs/step-up.md §3, §4): issued to one client and one DPoP key, kept in
 * the shared hot state (memory, or Redis across instances), answered once through the step-up
 * grant at the token endpoint (libs/oauth), which hands the answer to `answer`.
 */
@Injectable()
export class StepUpChallenges {
  constructor(
    @Inject(CONFIG) private readonly config: TollgateConfig,
    @Inject(HOT_STATE) private readonly hot: HotState,
    private readonly authenticators: Authenticators,
    private readonly decisions: DecisionLog,
  ) {}

  /** Counts a challenge against the client's allowance (429 with Retry-After beyond it). */
  private async admit(clientId: string): Promise<void> {
    const ttl = this.config.stepUpChallengeTtl;
    if ((await this.hot.challenges.count(`issued:${clientId}`, ttl)) > MAX_CHALLENGES_PER_WINDOW) {
      const refusal = new OAuthError('invalid_request', 429, `at most ${MAX_CHALLENGES_PER_WINDOW} challenges per ${ttl} s: answer one, or wait`);
      refusal.retryAfter = ttl;
      throw refusal;
    }
  }

  async issue(clientId: string, jkt: string, acrValues: string | undefined): Promise<IssuedChallenge> {
    const acr = requestedLevel(acrValues);
    await this.admit(clientId);
    const id = randomBytes(16).toString('base64url');
    const nonce = randomBytes(32).toString('base64url');
    let webauthn: unknown;
    if (acr === ATTESTED) {
      webauthn = await this.authenticators.requestOptions(clientId, nonce);
      if (!webauthn) throw new InvalidRequest('no authenticator is enrolled for this client');
    }
    const ttl = this.config.stepUpChallengeTtl;
    const record: ChallengeRecord = { clientId, jkt, acr, nonceHash: hash(nonce) };
    await this.hot.challenges.put(challengeKey(id), JSON.stringify(record), ttl);
    return {
      challenge_id: id,
      nonce,
      expires_in: ttl,
      acr_values: acr,
      methods: acr === ATTESTED ? ['private_key_jwt', 'dpop', 'webauthn'] : ['private_key_jwt', 'dpop'],
      ...(webauthn ? { webauthn } : {}),
    };
  }

  /** docs/step-up.md §5.1: WebAuthn creation options whose challenge is bound to this client and DPoP key. */
  async issueEnrolment(clientId: string, jkt: string, name?: string): Promise<unknown> {
    await this.admit(clientId);
    const challenge = randomBytes(32).toString('base64url');
    const options = await this.authenticators.creationOptions(clientId, challenge, name);
    const record: EnrolmentRecord = { clientId, jkt, ...(name ? { name } : {}) };
    const ttl = this.config.stepUpChallengeTtl;
    await this.hot.challenges.put(enrolmentKey(challenge), JSON.stringify(record), ttl);
    return options;
  }

  /** docs/step-up.md §5.2: takes the enrolment challenge a registration response answers (AttestationRefused when it cannot). */
  takeEnrolment(clientId: string, challenge: string): Promise<EnrolmentRecord> {
    return this.takeOwned<EnrolmentRecord>(enrolmentKey(challenge), clientId, (why) =>
      new AttestationRefused(why === 'foreign' ? 'the enrolment challenge was issued to another client' : 'the enrolment challenge is unknown, expired or already used'),
    );
  }

  /**
   * The single-use rule every challenge follows: its own client takes it (and so spends it,
   * whatever comes next); another client's attempt is refused and leaves it alone. Atomic
   * across instances (the store's take). Expiry is the store's: an expired record is gone.
   */
  private async takeOwned<T extends { clientId: string }>(key: string, clientId: string, refuse: (why: 'gone' | 'foreign') => Error): Promise<T> {
    const raw = await this.hot.challenges.get(key);
    if (!raw) throw refuse('gone');
    const record = JSON.parse(raw) as T;
    if (record.clientId !== clientId) throw refuse('foreign');
    if ((await this.hot.challenges.take(key)) === null) throw refuse('gone');
    return record;
  }

  /** docs/step-up.md §4, recorded in the decision log (kind step_up): who proved what, or why not. */
  async answer(a: StepUpAnswer): Promise<ProvenLevel> {
    const entry = { id: randomUUID(), at: new Date(), kind: 'step_up' as const, clientId: a.clientId, method: 'POST', score: 0, ip: a.ip, requestId: a.requestId };
    try {
      const proven = await this.check(a);
      await this.decisions.record({ ...entry, decision: 'allow', reasons: [{ code: 'step_up_proven', score: 0, detail: proven.acr }] });
      return proven;
    } catch (err) {
      if (err instanceof OAuthError) {
        await this.decisions.record({ ...entry, decision: 'invalid', reasons: [{ code: err.error, score: 0, detail: err.error_description }] });
      }
      throw err;
    }
  }

  /**
   * docs/step-up.md §4. The client is authenticated already (oidc-provider verified the
   * assertion). A challenge of another client is refused and left alone; any answer from its
   * own client spends it, right or wrong, so the nonce can never be guessed at.
   */
  private async check(a: StepUpAnswer): Promise<ProvenLevel> {
    if (!a.challengeId) throw new InvalidRequest('challenge_id is required');
    const record = await this.takeOwned<ChallengeRecord>(challengeKey(a.challengeId), a.clientId, (why) =>
      new InvalidGrant(why === 'foreign' ? 'the challenge was issued to another client' : 'the challenge is unknown, expired or already answered'),
    );

    // Re-authentication: the assertion (verified by oidc-provider) carries the challenge nonce;
    // a federated workload re-authenticated with a platform token instead, which cannot (the proof's nonce below answers).
    if (!a.federated) {
      let assertionNonce: unknown;
      try {
        assertionNonce = decodeJwt(a.assertion).nonce;
      } catch {
        throw new InvalidClient('client assertion is invalid');
      }
      if (!sameNonce(assertionNonce, record.nonceHash)) throw new InvalidClient('client assertion nonce is missing or is not the challenge nonce');
    }

    // Possession: a DPoP proof (RFC 9449 §4.3) by the challenge's key, carrying its nonce (§8).
    let proof;
    try {
      proof = await verifyDpopProof(
        a.proof,
        { method: 'POST', url: a.tokenEndpoint, notBefore: this.hot.replay.notBefore() },
        { algorithms: CLIENT_SIGNING_ALGS, maxAgeSeconds: this.config.dpopProofMaxAge, clockSkewSeconds: this.config.clockSkew },
        this.hot.replay,
      );
    } catch (err) {
      throw asAuthorizationServerError(err);
    }
    if (!sameNonce(proof.nonce, record.nonceHash)) throw new InvalidDpopProof('DPoP proof nonce is not the challenge nonce', 400);
    if (proof.jkt !== record.jkt) throw new InvalidDpopProof('DPoP proof key is not the key the challenge was issued to', 400);

    const authTime = Math.floor(Date.now() / 1000);
    // docs/federation.md: `fed` instead of `swk` when the client authenticated with a platform token.
    const how = a.federated ? 'fed' : 'swk';
    if (record.acr !== ATTESTED) return { acr: record.acr, amr: [how, 'pop'], authTime, jkt: proof.jkt };

    // Attestation: a WebAuthn assertion over the same nonce by an enrolled authenticator.
    if (!a.webauthnResponse) throw new InvalidRequest('webauthn_response is required for this challenge');
    let response: unknown;
    try {
      response = JSON.parse(a.webauthnResponse);
    } catch {
      throw new InvalidRequest('webauthn_response must be a JSON AuthenticationResponseJSON');
    }
    try {
      const { chainVerified } = await this.authenticators.verifyAssertion(a.clientId, response, proof.nonce!);
      // RFC 8176 hwk only when the authenticator's chain verified to a trust anchor (docs/step-up.md §1).
      return { acr: ATTESTED, amr: [how, 'pop', 'mfa', ...(chainVerified ? ['hwk'] : [])], authTime, jkt: proof.jkt };
    } catch (err) {
      if (err instanceof AssertionRefused) throw new InvalidGrant(`the authenticator assertion was refused: ${err.message}`);
      throw err;
    }
  }
}
