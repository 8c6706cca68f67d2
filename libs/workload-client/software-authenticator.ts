import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type JsonWebKey as NodeJwk, KeyObject, randomBytes, sign } from 'node:crypto';
import type {
  AuthenticationResponseJSON,
  Authenticator,
  CreationOptionsJSON,
  RegistrationResponseJSON,
  RequestOptionsJSON,
} from './authenticator.js';
import { type CborValue, encodeCbor } from './cbor.js';
import { base64url, type CryptoKey, type JsonWebKey } from './jws.js';

/** The AAGUID (WebAuthn L3 §6.5.1) of Tollgate's software authenticator, unless told otherwise. */
export const SOFTWARE_AUTHENTICATOR_AAGUID = '5f0c6a1e-2b7d-4c39-9e84-7a1d3b6c0f52';

const ES256 = -7; // COSE algorithm (RFC 9053 §2.1)

// Authenticator data flags (WebAuthn L3 §6.1).
const UP = 0x01;
const UV = 0x04;
const AT = 0x40;

export interface SoftwareAuthenticatorOptions {
  /** Attestation statement format (WebAuthn L3 §8.2 packed, §8.7 none). Default packed. */
  format?: 'packed' | 'none';
  /** UUID. Default SOFTWARE_AUTHENTICATOR_AAGUID. */
  aaguid?: string;
  /**
   * Packed full attestation (WebAuthn L3 §8.2, "x5c"): the attestation certificate chain, DER,
   * leaf first, and the leaf's private key. Without it, packed is self attestation.
   */
  attestation?: { certificates: Uint8Array[]; privateKey: CryptoKey };
}

/** A credential as exportState() writes it. */
export interface SoftwareCredentialState {
  id: string;
  rpId: string;
  /** The credential private key, JWK (P-256). */
  privateKey: JsonWebKey;
  /** The signature counter last reported (WebAuthn L3 §6.1.1). */
  counter: number;
  userHandle?: string;
}

export interface SoftwareAuthenticatorState {
  format: 'packed' | 'none';
  aaguid: string;
  credentials: SoftwareCredentialState[];
}

interface Credential {
  id: Uint8Array;
  rpId: string;
  key: KeyObject;
  counter: number;
  userHandle?: string;
}

const sha256 = (data: Uint8Array | string) => new Uint8Array(createHash('sha256').update(data).digest());
const fromBase64url = (value: string) => new Uint8Array(Buffer.from(value, 'base64url'));
const concat = (...parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));

function u32(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value >>> 0);
  return out;
}

function aaguidBytes(uuid: string): Uint8Array {
  const hex = uuid.replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new TypeError('aaguid must be a UUID');
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

/** The credential public key as a COSE_Key (RFC 9052 §7, RFC 9053 §7.1.1: EC2, P-256, ES256). */
function coseKey(key: KeyObject): Uint8Array {
  const jwk = createPublicKey(key).export({ format: 'jwk' });
  return encodeCbor(
    new Map<number, number | Uint8Array>([
      [1, 2], // kty: EC2
      [3, ES256], // alg
      [-1, 1], // crv: P-256
      [-2, fromBase64url(jwk.x!)],
      [-3, fromBase64url(jwk.y!)],
    ]),
  );
}

/** The attestation key's COSE algorithm and signing hash (WebAuthn L3 §8.2: sig over authData ‖ clientDataHash). */
function attestationAlgorithm(key: KeyObject): { alg: number; hash: string | null } {
  if (key.asymmetricKeyType === 'ed25519') return { alg: -8, hash: null };
  if (key.asymmetricKeyType === 'rsa') return { alg: -257, hash: 'sha256' };
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (curve === 'prime256v1') return { alg: -7, hash: 'sha256' };
  if (curve === 'secp384r1') return { alg: -35, hash: 'sha384' };
  if (curve === 'secp521r1') return { alg: -36, hash: 'sha512' };
  throw new TypeError('unsupported attestation key');
}

/**
 * WebAuthn L3 §5.1.3 step 8 / §5.1.4 step 8: the RP ID must be the origin's host or a registrable
 * suffix of it. A browser checks this before the authenticator is ever asked.
 */
function checkRpId(rpId: string, origin: string): void {
  const host = new URL(origin).hostname;
  if (host !== rpId && !host.endsWith(`.${rpId}`)) throw new Error(`RP ID ${rpId} is not valid for origin ${origin}`);
}

/** CollectedClientData (WebAuthn L3 §5.8.1), members in the order §5.8.1.2 serialises them. */
const clientDataJSON = (type: 'webauthn.create' | 'webauthn.get', challenge: string, origin: string) =>
  new TextEncoder().encode(JSON.stringify({ type, challenge, origin, crossOrigin: false }));

/**
 * An authenticator in software, for development and tests: P-256 credentials per RP ID, packed
 * (self or full) or none attestation. It proves nothing about hardware, which is why an
 * attestation policy must allow it explicitly (docs/step-up.md §6).
 */
export class SoftwareAuthenticator implements Authenticator {
  private readonly credentials: Credential[] = [];
  private readonly format: 'packed' | 'none';
  private readonly aaguid: string;
  private readonly attestation?: { certificates: Uint8Array[]; key: KeyObject };

  constructor(options: SoftwareAuthenticatorOptions = {}) {
    this.format = options.format ?? 'packed';
    this.aaguid = options.aaguid ?? SOFTWARE_AUTHENTICATOR_AAGUID;
    aaguidBytes(this.aaguid);
    if (options.attestation) {
      if (this.format !== 'packed') throw new TypeError('an attestation certificate needs format packed');
      if (!options.attestation.certificates.length) throw new TypeError('attestation.certificates is empty');
      this.attestation = { certificates: options.attestation.certificates, key: KeyObject.from(options.attestation.privateKey) };
    }
  }

  async register(options: CreationOptionsJSON, origin: string): Promise<RegistrationResponseJSON> {
    // §5.1.3 step 10: only ES256 is offered; refuse like a real authenticator (NotSupportedError).
    if (!options.pubKeyCredParams.some((p) => p.type === 'public-key' && p.alg === ES256)) {
      throw new Error('the software authenticator supports ES256 (-7) only, which pubKeyCredParams does not offer');
    }
    const rpId = options.rp.id ?? new URL(origin).hostname;
    checkRpId(rpId, origin);
    // §6.3.2 step 3: a credential listed in excludeCredentials is already here.
    const excluded = new Set((options.excludeCredentials ?? []).map((c) => c.id));
    if (this.credentials.some((c) => c.rpId === rpId && excluded.has(base64url(c.id)))) {
      throw new Error('this authenticator already holds a credential in excludeCredentials');
    }

    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const credential: Credential = { id: new Uint8Array(randomBytes(32)), rpId, key: privateKey, counter: 0, userHandle: options.user.id };
    const clientData = clientDataJSON('webauthn.create', options.challenge, origin);
    const flags = UP | AT | (options.authenticatorSelection?.userVerification === 'required' ? UV : 0);
    const credentialIdLength = new Uint8Array(2);
    new DataView(credentialIdLength.buffer).setUint16(0, credential.id.length);
    // §6.1 authenticator data with §6.5.2 attested credential data.
    const authData = concat(sha256(rpId), Uint8Array.of(flags), u32(credential.counter), aaguidBytes(this.aaguid), credentialIdLength, credential.id, coseKey(privateKey));
    const attestationObject = encodeCbor({ fmt: this.format, attStmt: this.statement(authData, clientData, privateKey), authData });
    this.credentials.push(credential);

    const id = base64url(credential.id);
    return {
      id,
      rawId: id,
      type: 'public-key',
      response: {
        clientDataJSON: base64url(clientData),
        attestationObject: base64url(attestationObject),
        authenticatorData: base64url(authData),
        transports: ['internal'],
        publicKeyAlgorithm: ES256,
        publicKey: base64url(createPublicKey(privateKey).export({ type: 'spki', format: 'der' })),
      },
      authenticatorAttachment: 'platform',
      clientExtensionResults: {},
    };
  }

  /** The attestation statement (WebAuthn L3 §8.2 packed, §8.7 none). */
  private statement(authData: Uint8Array, clientData: Uint8Array, credentialKey: KeyObject): Record<string, CborValue> {
    if (this.format === 'none') return {};
    const signed = concat(authData, sha256(clientData));
    if (!this.attestation) return { alg: ES256, sig: new Uint8Array(sign('sha256', signed, credentialKey)) }; // self attestation
    const { alg, hash } = attestationAlgorithm(this.attestation.key);
    // ECDSA signatures in attestation statements are DER (WebAuthn L3 §6.5.5), node's default.
    const sig = new Uint8Array(sign(hash, signed, this.attestation.key));
    return { alg, sig, x5c: this.attestation.certificates };
  }

  async authenticate(options: RequestOptionsJSON, origin: string): Promise<AuthenticationResponseJSON> {
    const rpId = options.rpId ?? new URL(origin).hostname;
    checkRpId(rpId, origin);
    const allowed = new Set((options.allowCredentials ?? []).map((c) => c.id));
    // An empty allowCredentials asks for a discoverable credential (WebAuthn L3 §5.5).
    const credential = this.credentials.find((c) => c.rpId === rpId && (allowed.size === 0 || allowed.has(base64url(c.id))));
    if (!credential) throw new Error(`no credential for RP ID ${rpId} among allowCredentials`);

    credential.counter += 1;
    const clientData = clientDataJSON('webauthn.get', options.challenge, origin);
    const flags = UP | (options.userVerification === 'required' ? UV : 0);
    const authData = concat(sha256(rpId), Uint8Array.of(flags), u32(credential.counter));
    // WebAuthn L3 §6.3.3 step 11: the assertion signature over authData ‖ SHA-256(clientDataJSON).
    const signature = sign('sha256', concat(authData, sha256(clientData)), credential.key);
    const id = base64url(credential.id);
    return {
      id,
      rawId: id,
      type: 'public-key',
      response: {
        clientDataJSON: base64url(clientData),
        authenticatorData: base64url(authData),
        signature: base64url(signature),
        ...(credential.userHandle !== undefined ? { userHandle: credential.userHandle } : {}),
      },
      authenticatorAttachment: 'platform',
      clientExtensionResults: {},
    };
  }

  /** The credentials with their private keys and counters: secret material, keep it like a key. */
  exportState(): SoftwareAuthenticatorState {
    return {
      format: this.format,
      aaguid: this.aaguid,
      credentials: this.credentials.map((c) => ({
        id: base64url(c.id),
        rpId: c.rpId,
        privateKey: c.key.export({ format: 'jwk' }) as JsonWebKey,
        counter: c.counter,
        ...(c.userHandle !== undefined ? { userHandle: c.userHandle } : {}),
      })),
    };
  }

  /** An authenticator holding `state`'s credentials: a restart, or (in tests) a clone. */
  static fromState(state: SoftwareAuthenticatorState, options: Pick<SoftwareAuthenticatorOptions, 'attestation'> = {}): SoftwareAuthenticator {
    const authenticator = new SoftwareAuthenticator({ format: state.format, aaguid: state.aaguid, ...options });
    for (const c of state.credentials) {
      authenticator.credentials.push({
        id: fromBase64url(c.id),
        rpId: c.rpId,
        key: createPrivateKey({ key: c.privateKey as NodeJwk, format: 'jwk' }),
        counter: c.counter,
        ...(c.userHandle !== undefined ? { userHandle: c.userHandle } : {}),
      });
    }
    return authenticator;
  }
}
