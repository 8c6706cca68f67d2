import { type RegistrationResponseJSON, SettingsService, verifyRegistrationResponse } from '@simplewebauthn/server';
import { decodeAttestationObject, isoBase64URL } from '@simplewebauthn/server/helpers';
import type { AttestationFormat, AttestationPolicy } from './attestation-policy.js';
import { chainsToAnchor } from './certificate-chain.js';
import { clientDataProblem, describe, type Expected, isBase64url, rpIdHashMatches } from './relying-party-checks.js';

/** COSE algorithms offered and accepted (RFC 9053): ES256, EdDSA, RS256. */
export const SUPPORTED_ALGORITHMS = [-7, -8, -257];

/** A registration the server refuses (docs/step-up.md §5.2 `invalid_attestation`). The message is client-safe. */
export class AttestationRefused extends Error {
  override readonly name = 'AttestationRefused';
}

export type AttestationType = 'basic' | 'self' | 'none';

export interface VerifiedEnrolment {
  /** base64url. */
  credentialId: string;
  /** COSE_Key (RFC 9052 §7). */
  publicKey: Uint8Array;
  counter: number;
  format: AttestationFormat;
  /** Lower-case UUID. */
  aaguid: string;
  attestation: AttestationType;
  chainVerified: boolean;
  transports: string[];
}

export interface EnrolmentInput {
  /** A RegistrationResponseJSON (WebAuthn L3 §5.1), as parsed from the request: checked here. */
  response: unknown;
  expectedChallenge: string;
  origin: string;
  rpId: string;
  policy: AttestationPolicy;
}

/** AuthenticatorTransport values (WebAuthn L3 §5.8.4) worth keeping; anything else is dropped. */
const TRANSPORTS = new Set(['usb', 'nfc', 'ble', 'smart-card', 'hybrid', 'internal']);
const MAX_CREDENTIAL_ID = 1023; // WebAuthn L3 §4 "Credential ID": at most 1023 bytes

/**
 * Trust anchors are per client, but SimpleWebAuthn reads them from SettingsService, one global
 * map per format. Setting a client's anchors there before each verification would race between
 * concurrent enrolments of different clients (verifyRegistrationResponse awaits between reading
 * and using them), and SimpleWebAuthn would also fetch CRLs from the network while it validates a
 * path. So SimpleWebAuthn is given no anchors at all — it then verifies everything about the
 * statement (signature by x5c[0] or the credential key, certificate requirements, the AAGUID
 * extension, TPM structures, Android key description, Apple nonce) except the path to a root —
 * and the path is checked here, per request, against the client's own anchors (chainsToAnchor).
 * This also removes the vendor roots SimpleWebAuthn preloads for android-key and apple: whose
 * roots count is the policy's decision. Every write is the same constant, so repeating it before
 * each verification (in case anything else in the process set anchors) cannot race.
 */
function withoutGlobalAnchors(): void {
  for (const identifier of ['packed', 'tpm', 'android-key', 'apple', 'fido-u2f', 'android-safetynet'] as const) {
    SettingsService.setRootCertificates({ identifier, certificates: [] });
  }
}
withoutGlobalAnchors();

function shape(response: unknown): RegistrationResponseJSON {
  const r = response as RegistrationResponseJSON;
  const ok =
    typeof response === 'object' &&
    response !== null &&
    isBase64url(r.id) &&
    r.id.length <= Math.ceil((MAX_CREDENTIAL_ID * 4) / 3) &&
    r.rawId === r.id &&
    r.type === 'public-key' &&
    typeof r.response === 'object' &&
    r.response !== null &&
    isBase64url(r.response.clientDataJSON) &&
    isBase64url(r.response.attestationObject);
  if (!ok) throw new AttestationRefused('registration_response is not a RegistrationResponseJSON (id = rawId, type public-key, clientDataJSON, attestationObject)');
  return r;
}

function transports(value: unknown): string[] {
  if (!Array.isArray(value)) return [];
  return [...new Set(value.filter((t): t is string => typeof t === 'string' && TRANSPORTS.has(t)))];
}

/**
 * Verifies a WebAuthn registration (WebAuthn L3 §7.1) with SimpleWebAuthn, then applies the
 * client's attestation policy (docs/step-up.md §6): the format, the AAGUID, and the provenance —
 * an x5c chain to one of the policy's trust anchors is `basic` with chainVerified; self
 * attestation, `none`, and an x5c chain when the policy has no anchor are admitted only with
 * allow_software (chainVerified false). A chain that fails against configured anchors is refused
 * even with allow_software: it claims a provenance the policy can check, and the check failed.
 */
export async function verifyEnrolment(input: EnrolmentInput): Promise<VerifiedEnrolment> {
  const { policy } = input;
  const response = shape(input.response);
  const expected: Expected = { type: 'webauthn.create', challenge: input.expectedChallenge, origin: input.origin, rpId: input.rpId };
  const problem = clientDataProblem(response.response.clientDataJSON, expected);
  if (problem) throw new AttestationRefused(describe(problem, 'registration', expected));

  let fmt: string;
  let x5c: Uint8Array[] | undefined;
  try {
    const decoded = decodeAttestationObject(isoBase64URL.toBuffer(response.response.attestationObject));
    fmt = decoded.get('fmt');
    const authData = decoded.get('authData');
    if (!(authData instanceof Uint8Array)) throw new Error('authData');
    if (!rpIdHashMatches(authData, input.rpId)) throw new AttestationRefused(describe('rp_id', 'registration', expected));
    const attStmt = decoded.get('attStmt');
    x5c = attStmt instanceof Map ? attStmt.get('x5c') : undefined;
  } catch (err) {
    if (err instanceof AttestationRefused) throw err;
    throw new AttestationRefused('the attestation object is not readable CBOR (WebAuthn L3 §6.5)');
  }
  if (typeof fmt !== 'string' || !(policy.formats as string[]).includes(fmt)) {
    throw new AttestationRefused(`the attestation format ${typeof fmt === 'string' ? JSON.stringify(fmt.slice(0, 32)) : '(missing)'} is not accepted by the client's attestation policy (accepted: ${policy.formats.join(', ')})`);
  }
  const format = fmt as AttestationFormat;

  withoutGlobalAnchors();
  let info;
  try {
    const result = await verifyRegistrationResponse({
      response,
      expectedChallenge: input.expectedChallenge,
      expectedOrigin: input.origin,
      expectedRPID: input.rpId,
      expectedType: 'webauthn.create',
      requireUserPresence: true,
      requireUserVerification: false,
      supportedAlgorithmIDs: SUPPORTED_ALGORITHMS,
    });
    if (!result.verified) throw new Error('signature');
    info = result.registrationInfo;
  } catch (err) {
    // SimpleWebAuthn's messages may quote the challenge or whole certificates: not for the client.
    throw new AttestationRefused(`the ${format} attestation statement does not verify (signature, certificate or key algorithm)`, { cause: err });
  }

  const aaguid = info.aaguid.toLowerCase();
  if (policy.aaguids.length > 0 && !policy.aaguids.includes(aaguid)) {
    throw new AttestationRefused(`the authenticator model (AAGUID ${aaguid}) is not accepted by the client's attestation policy`);
  }

  let attestation: AttestationType;
  let chainVerified = false;
  if (x5c && x5c.length > 0) {
    attestation = 'basic';
    if (policy.trust_anchors.length > 0) {
      const chain = chainsToAnchor(x5c, policy.trust_anchors);
      if (!chain.ok) throw new AttestationRefused(`the attestation chain is refused: ${chain.reason}`);
      chainVerified = true;
    } else if (!policy.allow_software) {
      throw new AttestationRefused('the attestation chain cannot be verified: the policy has no trust anchor, and does not allow software authenticators');
    }
  } else if (format === 'none') {
    attestation = 'none';
  } else if (format === 'packed') {
    attestation = 'self';
  } else {
    // tpm, android-key and apple statements always carry x5c; SimpleWebAuthn refuses them otherwise.
    throw new AttestationRefused(`the ${format} attestation statement has no certificate chain`);
  }
  if (attestation !== 'basic' && !policy.allow_software) {
    throw new AttestationRefused(`${attestation === 'self' ? 'self attestation' : 'attestation format none'} is a software authenticator, which the client's attestation policy does not allow`);
  }

  return {
    credentialId: info.credential.id,
    publicKey: new Uint8Array(info.credential.publicKey),
    counter: info.credential.counter,
    format,
    aaguid,
    attestation,
    chainVerified,
    transports: transports(response.response.transports),
  };
}
