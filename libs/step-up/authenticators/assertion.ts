import { type AuthenticationResponseJSON, verifyAuthenticationResponse } from '@simplewebauthn/server';
import { clientDataProblem, describe, type Expected, isBase64url, rpIdHashMatches, sameChallenge } from './relying-party-checks.js';

/** An assertion the server refuses (docs/step-up.md §4 `invalid_grant`). The message is client-safe. */
export class AssertionRefused extends Error {
  override readonly name = 'AssertionRefused';

  constructor(
    message: string,
    /** The signature verified but the counter did not increase: possibly a cloned authenticator (WebAuthn L3 §6.1.1). */
    readonly counterRegression = false,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** What the assertion is checked against: the stored authenticator it names. */
export interface AssertingAuthenticator {
  credentialId: string;
  /** COSE_Key. */
  publicKey: Uint8Array;
  counter: number;
  revoked: boolean;
}

export interface AssertionInput {
  /** An AuthenticationResponseJSON (WebAuthn L3 §5.1), as parsed from the request: checked here. */
  response: unknown;
  expectedChallenge: string;
  origin: string;
  rpId: string;
  authenticator: AssertingAuthenticator;
}

/** The credential id an assertion names (`id`), or undefined when the response has no usable one. */
export function assertedCredentialId(response: unknown): string | undefined {
  const id = (response as { id?: unknown } | null)?.id;
  return isBase64url(id) && id.length <= 1400 ? id : undefined;
}

function shape(response: unknown): AuthenticationResponseJSON {
  const r = response as AuthenticationResponseJSON;
  const ok =
    typeof response === 'object' &&
    response !== null &&
    isBase64url(r.id) &&
    r.rawId === r.id &&
    r.type === 'public-key' &&
    typeof r.response === 'object' &&
    r.response !== null &&
    isBase64url(r.response.clientDataJSON) &&
    isBase64url(r.response.authenticatorData) &&
    isBase64url(r.response.signature) &&
    (r.response.userHandle === undefined || typeof r.response.userHandle === 'string');
  if (!ok) throw new AssertionRefused('webauthn_response is not an AuthenticationResponseJSON (id = rawId, type public-key, clientDataJSON, authenticatorData, signature)');
  return r;
}

/**
 * Verifies a WebAuthn assertion (WebAuthn L3 §7.2) by a known authenticator over the expected
 * challenge: the relying party checks, the signature (SimpleWebAuthn), then the signature counter
 * (§6.1.1: when either counter is non-zero, the new one must be greater than the stored one).
 * The counter is judged only after the signature verified, so `counterRegression` — recorded in
 * the audit log as a possible clone — is never raised by a forged response.
 *
 * The caller looks the credential up (unknown credential ids and other clients' are its refusals)
 * and stores `newCounter` with a compare-and-set, which catches a concurrent answer.
 */
export async function verifyAuthenticatorAssertion(input: AssertionInput): Promise<{ newCounter: number }> {
  const { authenticator } = input;
  const response = shape(input.response);
  if (!sameChallenge(response.id, authenticator.credentialId)) throw new AssertionRefused('the assertion is by another credential than the authenticator it was checked against');
  if (authenticator.revoked) throw new AssertionRefused('the authenticator is revoked');
  const expected: Expected = { type: 'webauthn.get', challenge: input.expectedChallenge, origin: input.origin, rpId: input.rpId };
  const problem = clientDataProblem(response.response.clientDataJSON, expected);
  if (problem) throw new AssertionRefused(describe(problem, 'assertion', expected));
  if (!rpIdHashMatches(Buffer.from(response.response.authenticatorData, 'base64url'), input.rpId)) {
    throw new AssertionRefused(describe('rp_id', 'assertion', expected));
  }

  let newCounter: number;
  try {
    const result = await verifyAuthenticationResponse({
      response,
      expectedChallenge: input.expectedChallenge,
      expectedOrigin: input.origin,
      expectedRPID: input.rpId,
      expectedType: 'webauthn.get',
      requireUserVerification: false,
      // Counter 0 here: SimpleWebAuthn would judge the counter before the signature; it is judged below, after.
      credential: { id: authenticator.credentialId, publicKey: authenticator.publicKey as Uint8Array<ArrayBuffer>, counter: 0 },
    });
    if (!result.verified) throw new Error('signature');
    newCounter = result.authenticationInfo.newCounter;
  } catch (err) {
    throw new AssertionRefused('the assertion signature does not verify with the enrolled public key', false, { cause: err });
  }

  if ((newCounter > 0 || authenticator.counter > 0) && newCounter <= authenticator.counter) {
    throw new AssertionRefused('the signature counter did not increase: possibly a cloned authenticator', true);
  }
  return { newCounter };
}
