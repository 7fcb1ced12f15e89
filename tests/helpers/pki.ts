/**
 * A throwaway PKI for tests, made with @peculiar/x509 (independent of the code under test): a
 * test CA that is not the demo CA, signatory certificates for keys held elsewhere (a SoftHSM2
 * token, the CSC test server), with or without qcStatements, valid or expired.
 */
import { webcrypto, createPublicKey, type KeyObject } from 'node:crypto';
import * as asn1js from 'asn1js';
await import('reflect-metadata');
const x509 = await import('@peculiar/x509');

const crypto = webcrypto as unknown as Crypto;
x509.cryptoProvider.set(crypto);

const RSA = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } as const;
const EC = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

export interface TestCa {
  name: string;
  der: Uint8Array;
  pem: string;
  keys: CryptoKeyPair;
}

export async function testCa(name = 'Zielwerk Test-CA (nur für Tests)', opts: { pathLength?: number | null; issuer?: TestCa } = {}): Promise<TestCa> {
  const keys = (await crypto.subtle.generateKey({ ...RSA, modulusLength: 3072, publicExponent: new Uint8Array([1, 0, 1]) }, true, ['sign', 'verify'])) as CryptoKeyPair;
  const extensions = [
    new x509.BasicConstraintsExtension(true, opts.pathLength === null ? undefined : (opts.pathLength ?? 0), true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
  ];
  const common = { notBefore: new Date(Date.now() - 86_400_000), notAfter: new Date(Date.now() + 10 * 365 * 86_400_000), signingAlgorithm: RSA };
  const cert = opts.issuer
    ? await x509.X509CertificateGenerator.create({
        ...common,
        serialNumber: (serialCounter++).toString(16).padStart(4, '0'),
        issuer: `CN=${opts.issuer.name}, O=Zielwerk Tests, C=DE`,
        subject: `CN=${name}, O=Zielwerk Tests, C=DE`,
        publicKey: keys.publicKey,
        signingKey: opts.issuer.keys.privateKey,
        extensions: [...extensions, await x509.AuthorityKeyIdentifierExtension.create(opts.issuer.keys.publicKey)],
      })
    : await x509.X509CertificateGenerator.createSelfSigned({ ...common, serialNumber: '01', name: `CN=${name}, O=Zielwerk Tests, C=DE`, keys, extensions });
  return { name, der: new Uint8Array(cert.rawData), pem: cert.toString('pem'), keys };
}

export const QC = { compliance: '0.4.0.1862.1.1', sscd: '0.4.0.1862.1.4', type: '0.4.0.1862.1.6', esign: '0.4.0.1862.1.6.1', eseal: '0.4.0.1862.1.6.2' } as const;

/** A qcStatements extension value (EN 319 412-5) with the given statements, QcType with its types. */
function qcStatementsExtension(o: { compliance?: boolean; sscd?: boolean; types?: string[] }) {
  const statements: asn1js.Sequence[] = [];
  if (o.compliance) statements.push(new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: QC.compliance })] }));
  if (o.sscd) statements.push(new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: QC.sscd })] }));
  if (o.types) statements.push(new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: QC.type }), new asn1js.Sequence({ value: o.types.map((t) => new asn1js.ObjectIdentifier({ value: t })) })] }));
  return new x509.Extension('1.3.6.1.5.5.7.1.3', false, new asn1js.Sequence({ value: statements }).toBER(false));
}

export interface IssueOptions {
  cn?: string;
  givenName?: string;
  surname?: string;
  o?: string;
  /** qcStatements: a qualified certificate when compliance and sscd are set. */
  qc?: { compliance?: boolean; sscd?: boolean; types?: string[] };
  /** extendedKeyUsage OIDs (e.g. 1.3.6.1.5.5.7.3.8 timeStamping). */
  eku?: string[];
  /** keyUsage flags other than digitalSignature + nonRepudiation. */
  keyUsage?: number;
  /** A critical extension no validator knows. */
  unknownCritical?: boolean;
  /** Intermediates between `ca` and the leaf are named by their own TestCa (chain given separately). */
  /** The subject's public key: SPKI DER or a node KeyObject. */
  publicKey: Uint8Array | KeyObject;
  notBefore?: Date;
  notAfter?: Date;
  serial?: string;
}

let serialCounter = 100;

/** A signatory certificate (digitalSignature + nonRepudiation) issued by `ca` for an externally held key. */
export async function issue(ca: TestCa, o: IssueOptions): Promise<{ der: Uint8Array; pem: string }> {
  const spki = o.publicKey instanceof Uint8Array ? o.publicKey : new Uint8Array(o.publicKey.export({ type: 'spki', format: 'der' }));
  const key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  const curve = (key.asymmetricKeyDetails as { namedCurve?: string }).namedCurve;
  const algorithm = key.asymmetricKeyType === 'ec' ? { ...EC, namedCurve: curve === 'secp384r1' ? 'P-384' : 'P-256' } : RSA;
  const publicKey = await crypto.subtle.importKey('spki', Uint8Array.from(spki), algorithm, true, ['verify']);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: o.serial ?? (serialCounter++).toString(16).padStart(4, '0'),
    issuer: `CN=${ca.name}, O=Zielwerk Tests, C=DE`,
    subject: [o.cn ? `CN=${o.cn}` : '', o.givenName ? `G=${o.givenName}` : '', o.surname ? `SN=${o.surname}` : '', o.o ? `O=${o.o}` : '', 'C=DE'].filter(Boolean).join(', '),
    notBefore: o.notBefore ?? new Date(Date.now() - 86_400_000),
    notAfter: o.notAfter ?? new Date(Date.now() + 3 * 365 * 86_400_000),
    publicKey,
    signingKey: ca.keys.privateKey,
    signingAlgorithm: RSA,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(o.keyUsage ?? x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.nonRepudiation, true),
      await x509.AuthorityKeyIdentifierExtension.create(ca.keys.publicKey),
      await x509.SubjectKeyIdentifierExtension.create(publicKey),
      ...(o.qc ? [qcStatementsExtension(o.qc)] : []),
      ...(o.eku ? [new x509.ExtendedKeyUsageExtension(o.eku, true)] : []),
      ...(o.unknownCritical ? [new x509.Extension('1.3.6.1.4.1.99999.1', true, new asn1js.Null().toBER(false))] : []),
    ],
  });
  return { der: new Uint8Array(cert.rawData), pem: cert.toString('pem') };
}

export const toPem = (der: Uint8Array, label = 'CERTIFICATE') => `-----BEGIN ${label}-----\n${Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n')}\n-----END ${label}-----\n`;
