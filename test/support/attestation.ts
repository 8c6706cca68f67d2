// X.509 certificates for attestation tests: CAs, intermediates, FIDO packed attestation leaves.
// @peculiar/x509 (a dev dependency) needs the Reflect metadata polyfill loaded first.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
const DAY = 86_400_000;

export interface TestCertificate {
  pem: string;
  der: Uint8Array;
  keys: webcrypto.CryptoKeyPair;
  name: string;
}

interface Validity {
  notBefore?: Date;
  notAfter?: Date;
}

const keyPair = async () => (await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
const wrap = (cert: x509.X509Certificate, keys: webcrypto.CryptoKeyPair, name: string): TestCertificate => ({
  pem: cert.toString('pem'),
  der: new Uint8Array(cert.rawData),
  keys,
  name,
});

/** A self-signed root CA. */
export async function rootCa(cn = 'Test Attestation Root', validity: Validity = {}): Promise<TestCertificate> {
  const keys = await keyPair();
  const name = `C=DE, O=Tollgate Tests, CN=${cn}`;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name,
    keys,
    notBefore: validity.notBefore ?? new Date(Date.now() - DAY),
    notAfter: validity.notAfter ?? new Date(Date.now() + 30 * DAY),
    signingAlgorithm: ALGORITHM,
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true)],
  });
  return wrap(cert, keys, name);
}

/** A certificate issued by `issuer`: an intermediate CA, or (ca false) an end entity. */
export async function issued(issuer: TestCertificate, cn: string, options: Validity & { ca?: boolean; aaguid?: string; ou?: string } = {}): Promise<TestCertificate> {
  const keys = await keyPair();
  const ca = options.ca ?? false;
  const name = `C=DE, O=Tollgate Tests, OU=${options.ou ?? (ca ? 'Intermediate' : 'Authenticator Attestation')}, CN=${cn}`;
  const extensions: x509.Extension[] = [new x509.BasicConstraintsExtension(ca, undefined, true)];
  if (ca) extensions.push(new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true));
  if (options.aaguid) {
    // id-fido-gen-ce-aaguid (WebAuthn L3 §8.2.1): an OCTET STRING holding the 16 AAGUID bytes.
    extensions.push(new x509.Extension('1.3.6.1.4.1.45724.1.1.4', false, Buffer.concat([Buffer.of(0x04, 0x10), Buffer.from(options.aaguid.replace(/-/g, ''), 'hex')])));
  }
  const cert = await x509.X509CertificateGenerator.create({
    subject: name,
    issuer: issuer.name,
    publicKey: keys.publicKey,
    signingKey: issuer.keys.privateKey,
    notBefore: options.notBefore ?? new Date(Date.now() - DAY),
    notAfter: options.notAfter ?? new Date(Date.now() + 30 * DAY),
    signingAlgorithm: ALGORITHM,
    extensions,
  });
  return wrap(cert, keys, name);
}

/** A PKCS#8 private key in PEM: what an administrator must never paste as a trust anchor. */
export async function privateKeyPem(): Promise<string> {
  const keys = await keyPair();
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  return `-----BEGIN PRIVATE KEY-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END PRIVATE KEY-----\n`;
}

/** A test CA and a FIDO packed attestation certificate (WebAuthn L3 §8.2.1) for `aaguid`, as SoftwareAuthenticator takes it. */
export async function attestationChain(aaguid: string) {
  const ca = await rootCa('Tollgate Test Attestation Root');
  const leaf = await issued(ca, 'Tollgate Test Authenticator', { aaguid });
  return { caPem: ca.pem, leafDer: leaf.der, leafKey: leaf.keys.privateKey };
}
