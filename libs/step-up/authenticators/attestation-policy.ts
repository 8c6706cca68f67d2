import { X509Certificate } from 'node:crypto';

/** Attestation statement formats a policy may accept (WebAuthn L3 §8.2 packed, §8.3 tpm, §8.4 android-key, §8.8 apple, §8.7 none). */
export const ATTESTATION_FORMATS = ['packed', 'tpm', 'android-key', 'apple', 'none'] as const;
export type AttestationFormat = (typeof ATTESTATION_FORMATS)[number];

/** A client's attestation policy (docs/step-up.md §6), as stored and as the admin API shows it. */
export interface AttestationPolicy {
  /** Non-empty; `none` only with allow_software. */
  formats: AttestationFormat[];
  /** Accepted authenticator models (WebAuthn L3 §6.5.1 AAGUID), lower-case UUIDs; empty = any. */
  aaguids: string[];
  /** PEM root certificates an x5c chain must reach to count as `basic` / chain_verified. */
  trust_anchors: string[];
  /** Also admit self attestation, `none`, and x5c chains when no trust anchor is configured. */
  allow_software: boolean;
  /** Active authenticators the client may hold, 1–20. */
  max_authenticators: number;
}

export interface PolicyProblem {
  field: string;
  message: string;
}

export type PolicyCheck = { policy: AttestationPolicy; problems?: undefined } | { policy?: undefined; problems: PolicyProblem[] };

const KNOWN = new Set(['formats', 'aaguids', 'trust_anchors', 'allow_software', 'max_authenticators']);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const PEM_CERTIFICATE = /^\s*-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE-----\s*$/;
export const MAX_AUTHENTICATORS_LIMIT = 20;
const MAX_LIST = 100;
const MAX_PEM_LENGTH = 16_384;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * One PEM certificate, or why not. Exactly one CERTIFICATE block: a private key, a public key, a
 * bundle or anything else is refused before it is parsed (and its content is never echoed).
 */
function anchorProblem(value: unknown): string | undefined {
  if (typeof value !== 'string') return 'must be a PEM certificate string';
  if (value.length > MAX_PEM_LENGTH) return `must be at most ${MAX_PEM_LENGTH} characters`;
  if (/PRIVATE KEY/.test(value)) return 'is a private key: give the root certificate only (and replace that key, it has been shared)';
  if (!PEM_CERTIFICATE.test(value)) return 'must be exactly one PEM block "-----BEGIN CERTIFICATE-----"';
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(value);
  } catch {
    return 'is not a parseable X.509 certificate';
  }
  if (!cert.ca) return 'is not a CA certificate (basicConstraints cA): a trust anchor issues attestation certificates';
  if (Date.parse(cert.validTo) < Date.now()) return `expired on ${new Date(cert.validTo).toISOString()}`;
  return undefined;
}

function stringList(value: unknown, field: string, out: PolicyProblem[]): unknown[] | undefined {
  if (!Array.isArray(value)) {
    out.push({ field, message: 'must be an array' });
    return undefined;
  }
  if (value.length > MAX_LIST) {
    out.push({ field, message: `must have at most ${MAX_LIST} entries` });
    return undefined;
  }
  return value;
}

/**
 * Checks an attestation policy document (docs/step-up.md §6) as a whole and returns it
 * normalised (defaults filled in, AAGUIDs lower-cased, duplicates dropped) or every problem,
 * each named by its field. Unknown fields are refused by name, never dropped.
 */
export function checkAttestationPolicy(doc: unknown): PolicyCheck {
  if (!isObject(doc)) return { problems: [{ field: '(body)', message: 'must be a JSON object' }] };
  const problems: PolicyProblem[] = [];
  for (const key of Object.keys(doc)) if (!KNOWN.has(key)) problems.push({ field: key, message: 'unknown field' });

  const formats: AttestationFormat[] = [];
  if (doc.formats === undefined) {
    problems.push({ field: 'formats', message: `is required: a non-empty array of ${ATTESTATION_FORMATS.join(', ')}` });
  } else {
    const list = stringList(doc.formats, 'formats', problems);
    if (list && list.length === 0) problems.push({ field: 'formats', message: 'must not be empty' });
    list?.forEach((f, i) => {
      if (!(ATTESTATION_FORMATS as readonly unknown[]).includes(f)) {
        problems.push({ field: `formats[${i}]`, message: `must be one of ${ATTESTATION_FORMATS.join(', ')}` });
      } else if (!formats.includes(f as AttestationFormat)) formats.push(f as AttestationFormat);
    });
  }

  const aaguids: string[] = [];
  if (doc.aaguids !== undefined) {
    stringList(doc.aaguids, 'aaguids', problems)?.forEach((a, i) => {
      const lower = typeof a === 'string' ? a.toLowerCase() : undefined;
      if (lower === undefined || !UUID.test(lower)) problems.push({ field: `aaguids[${i}]`, message: 'must be a UUID (8-4-4-4-12 hex digits)' });
      else if (!aaguids.includes(lower)) aaguids.push(lower);
    });
  }

  const anchors: string[] = [];
  if (doc.trust_anchors !== undefined) {
    stringList(doc.trust_anchors, 'trust_anchors', problems)?.forEach((pem, i) => {
      const problem = anchorProblem(pem);
      if (problem) problems.push({ field: `trust_anchors[${i}]`, message: problem });
      else if (!anchors.includes((pem as string).trim())) anchors.push((pem as string).trim());
    });
  }

  let allowSoftware = false;
  if (doc.allow_software !== undefined) {
    if (typeof doc.allow_software !== 'boolean') problems.push({ field: 'allow_software', message: 'must be true or false' });
    else allowSoftware = doc.allow_software;
  }

  let max = 1;
  if (doc.max_authenticators !== undefined) {
    const m = doc.max_authenticators;
    if (typeof m !== 'number' || !Number.isInteger(m) || m < 1 || m > MAX_AUTHENTICATORS_LIMIT) {
      problems.push({ field: 'max_authenticators', message: `must be an integer from 1 to ${MAX_AUTHENTICATORS_LIMIT}` });
    } else max = m;
  }

  // `none` proves nothing about the authenticator: only a policy that admits software may take it.
  if (formats.includes('none') && doc.allow_software !== true) {
    problems.push({ field: 'formats', message: 'none requires allow_software: true' });
  }

  if (problems.length) return { problems };
  return { policy: { formats, aaguids, trust_anchors: anchors, allow_software: allowSoftware, max_authenticators: max } };
}
