import { X509Certificate } from 'node:crypto';

/** Attestation chains are short (leaf, maybe one or two intermediates); anything longer is refused. */
const MAX_CHAIN = 5;

export type ChainResult = { ok: true } | { ok: false; reason: string };

const validAt = (cert: X509Certificate, now: number) => Date.parse(cert.validFrom) <= now && now <= Date.parse(cert.validTo);

/** `issuer` issued `cert`: names and key identifiers match (checkIssued), it is a CA, and its key signed `cert`. */
const issuedBy = (cert: X509Certificate, issuer: X509Certificate) => issuer.ca && cert.checkIssued(issuer) && cert.verify(issuer.publicKey);

/**
 * Does an attestation statement's `x5c` (DER, leaf first — WebAuthn L3 §8.2) chain to one of
 * the policy's trust anchors (PEM)? Each certificate must be issued and signed by the next one,
 * the last by an anchor (or be an anchor itself), and every certificate used, anchors included,
 * must be within its validity dates at `now`.
 *
 * Revocation (CRL / OCSP) is not checked: it would make enrolment depend on fetching the
 * vendor's CRL at request time; an administrator removes a compromised anchor from the policy
 * and revokes the authenticators it admitted.
 */
export function chainsToAnchor(x5c: readonly Uint8Array[], anchorsPem: readonly string[], now: Date = new Date()): ChainResult {
  if (x5c.length === 0) return { ok: false, reason: 'the attestation statement has an empty x5c' };
  if (x5c.length > MAX_CHAIN) return { ok: false, reason: `the attestation chain has more than ${MAX_CHAIN} certificates` };
  let chain: X509Certificate[];
  try {
    chain = x5c.map((der) => new X509Certificate(der));
  } catch {
    return { ok: false, reason: 'the attestation chain holds a certificate that cannot be parsed' };
  }
  const at = now.getTime();
  if (!chain.every((cert) => validAt(cert, at))) return { ok: false, reason: 'the attestation chain holds a certificate outside its validity dates' };
  for (let i = 0; i < chain.length - 1; i++) {
    if (!issuedBy(chain[i]!, chain[i + 1]!)) return { ok: false, reason: 'the attestation chain is broken: a certificate is not issued by the next one' };
  }
  const last = chain[chain.length - 1]!;
  const anchors = anchorsPem.map((pem) => new X509Certificate(pem)).filter((anchor) => validAt(anchor, at));
  const reaches = anchors.some((anchor) => last.raw.equals(anchor.raw) || issuedBy(last, anchor));
  return reaches ? { ok: true } : { ok: false, reason: 'the attestation chain does not lead to a trust anchor of the policy (or that anchor is outside its validity dates)' };
}
