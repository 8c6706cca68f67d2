/**
 * The WebAuthn side of step-up (docs/step-up.md §5): an authenticator the workload holds. Options
 * and responses are the JSON forms of WebAuthn Level 3 (§5.1, §5.4, §5.5), byte values base64url.
 */
export type Base64UrlString = string;

export type AuthenticatorTransport = 'ble' | 'cable' | 'hybrid' | 'internal' | 'nfc' | 'smart-card' | 'usb';

/** PublicKeyCredentialDescriptorJSON (WebAuthn L3 §5.10.3). */
export interface CredentialDescriptorJSON {
  id: Base64UrlString;
  type: string;
  transports?: string[];
}

/** PublicKeyCredentialCreationOptionsJSON (WebAuthn L3 §5.4). */
export interface CreationOptionsJSON {
  rp: { id?: string; name: string };
  user: { id: Base64UrlString; name: string; displayName: string };
  challenge: Base64UrlString;
  pubKeyCredParams: { type: string; alg: number }[];
  timeout?: number;
  excludeCredentials?: CredentialDescriptorJSON[];
  authenticatorSelection?: {
    authenticatorAttachment?: string;
    residentKey?: string;
    requireResidentKey?: boolean;
    userVerification?: string;
  };
  hints?: string[];
  attestation?: string;
  attestationFormats?: string[];
  extensions?: Record<string, unknown>;
}

/** PublicKeyCredentialRequestOptionsJSON (WebAuthn L3 §5.5). */
export interface RequestOptionsJSON {
  challenge: Base64UrlString;
  timeout?: number;
  rpId?: string;
  allowCredentials?: CredentialDescriptorJSON[];
  userVerification?: string;
  hints?: string[];
  extensions?: Record<string, unknown>;
}

/** RegistrationResponseJSON (WebAuthn L3 §5.1, PublicKeyCredential.toJSON()). */
export interface RegistrationResponseJSON {
  id: Base64UrlString;
  rawId: Base64UrlString;
  type: 'public-key';
  response: {
    clientDataJSON: Base64UrlString;
    attestationObject: Base64UrlString;
    authenticatorData?: Base64UrlString;
    transports?: AuthenticatorTransport[];
    publicKeyAlgorithm?: number;
    /** SubjectPublicKeyInfo, DER. */
    publicKey?: Base64UrlString;
  };
  authenticatorAttachment?: 'platform' | 'cross-platform';
  clientExtensionResults: Record<string, never>;
}

/** AuthenticationResponseJSON (WebAuthn L3 §5.1). */
export interface AuthenticationResponseJSON {
  id: Base64UrlString;
  rawId: Base64UrlString;
  type: 'public-key';
  response: {
    clientDataJSON: Base64UrlString;
    authenticatorData: Base64UrlString;
    signature: Base64UrlString;
    userHandle?: Base64UrlString;
  };
  authenticatorAttachment?: 'platform' | 'cross-platform';
  clientExtensionResults: Record<string, never>;
}

/**
 * A WebAuthn authenticator together with the client-side steps a browser would do (client data,
 * RP ID checks). `origin` is the relying party's origin: Tollgate's issuer origin.
 */
export interface Authenticator {
  /** navigator.credentials.create() (WebAuthn L3 §5.1.3). */
  register(options: CreationOptionsJSON, origin: string): Promise<RegistrationResponseJSON>;
  /** navigator.credentials.get() (WebAuthn L3 §5.1.4). */
  authenticate(options: RequestOptionsJSON, origin: string): Promise<AuthenticationResponseJSON>;
}
