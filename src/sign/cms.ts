/**
 * CMS for PAdES: builds CAdES detached signatures (SubFilter ETSI.CAdES.detached, PAdES baseline
 * B-B, or B-T when a time-stamp authority is given) and parses them back for verification.
 *
 * Building is done with a small DER writer (below) rather than pkijs' encoder, because the
 * result must be byte-exact DER: the signed attributes are a DER SET OF (sorted), certificates
 * are embedded verbatim and an encapsulated TSTInfo must be a primitive OCTET STRING (pkijs
 * re-chunks it into a constructed one). Parsing uses pkijs/asn1js; signatures are created and
 * checked with node:crypto.
 */
import { createHash, createPublicKey, constants, sign as nodeSign, verify as nodeVerify, type KeyObject } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import type { SigningIdentity, TimestampAuthority } from './identity.ts';
import { PSS_SALT_LENGTH, type SignatureScheme } from './signer.ts';
import { sha256 } from '../digest.ts';

export class CmsError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'CmsError';
  }
}

/** Object identifiers used by CMS, CAdES and RFC 3161. */
export const OID = {
  data: '1.2.840.113549.1.7.1',
  signedData: '1.2.840.113549.1.7.2',
  tstInfo: '1.2.840.113549.1.9.16.1.4',
  contentType: '1.2.840.113549.1.9.3',
  messageDigest: '1.2.840.113549.1.9.4',
  signingTime: '1.2.840.113549.1.9.5',
  signingCertificateV2: '1.2.840.113549.1.9.16.2.47',
  signatureTimeStampToken: '1.2.840.113549.1.9.16.2.14',
  sha256: '2.16.840.1.101.3.4.2.1',
  rsaEncryption: '1.2.840.113549.1.1.1',
  rsassaPss: '1.2.840.113549.1.1.10',
  mgf1: '1.2.840.113549.1.1.8',
  sha256WithRSAEncryption: '1.2.840.113549.1.1.11',
  ecPublicKey: '1.2.840.10045.2.1',
  ecdsaWithSHA256: '1.2.840.10045.4.3.2',
  commonName: '2.5.4.3',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  kpTimeStamping: '1.3.6.1.5.5.7.3.8',
} as const;

/** Digest algorithms we can evaluate, by OID: display name, node:crypto name, output length. */
export const DIGESTS: Record<string, { name: string; node: string; length: number }> = {
  '1.3.14.3.2.26': { name: 'SHA-1', node: 'sha1', length: 20 },
  '2.16.840.1.101.3.4.2.4': { name: 'SHA-224', node: 'sha224', length: 28 },
  '2.16.840.1.101.3.4.2.1': { name: 'SHA-256', node: 'sha256', length: 32 },
  '2.16.840.1.101.3.4.2.2': { name: 'SHA-384', node: 'sha384', length: 48 },
  '2.16.840.1.101.3.4.2.3': { name: 'SHA-512', node: 'sha512', length: 64 },
};

/** Signature algorithms with an implied digest (RSA PKCS#1 v1.5 and ECDSA). */
export const SIGNATURE_DIGEST: Record<string, string> = {
  '1.2.840.113549.1.1.5': 'sha1',
  '1.2.840.113549.1.1.14': 'sha224',
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
  '1.2.840.10045.4.1': 'sha1',
  '1.2.840.10045.4.3.1': 'sha224',
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
};

// ---------------------------------------------------------------------------------------------
// DER writer
// ---------------------------------------------------------------------------------------------

function lengthOctets(n: number): number[] {
  if (n < 0x80) return [n];
  const out: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) out.unshift(v & 0xff);
  return [0x80 | out.length, ...out];
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** DER ordering of SET OF elements: as octet strings, the shorter one padded with zeros (X.690 11.6). */
function compareDer(a: Uint8Array, b: Uint8Array): number {
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

function tlv(tag: number, ...parts: Uint8Array[]): Uint8Array {
  const content = concat(parts);
  return concat([Uint8Array.from([tag, ...lengthOctets(content.length)]), content]);
}

function oid(dotted: string): Uint8Array {
  const arcs = dotted.split('.').map((a) => BigInt(a));
  if (arcs.length < 2) throw new Error(`invalid OID ${dotted}`);
  const out: number[] = [];
  for (const arc of [arcs[0]! * 40n + arcs[1]!, ...arcs.slice(2)]) {
    const bytes = [Number(arc & 0x7fn)];
    for (let v = arc >> 7n; v > 0n; v >>= 7n) bytes.unshift(Number(v & 0x7fn) | 0x80);
    out.push(...bytes);
  }
  return tlv(0x06, Uint8Array.from(out));
}

/** INTEGER from an unsigned big-endian magnitude (minimal, positive). */
function unsignedInteger(magnitude: Uint8Array): Uint8Array {
  let i = 0;
  while (i < magnitude.length - 1 && magnitude[i] === 0) i++;
  const body = magnitude.subarray(i);
  if (body.length === 0) return tlv(0x02, Uint8Array.of(0));
  return body[0]! & 0x80 ? tlv(0x02, Uint8Array.of(0), body) : tlv(0x02, body);
}

function smallInteger(n: number): Uint8Array {
  if (!Number.isInteger(n) || n < 0 || n > 0x7fffffff) throw new Error(`unsupported INTEGER ${n}`);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return unsignedInteger(Uint8Array.from(bytes.length ? bytes : [0]));
}

function ascii(s: string): Uint8Array {
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

/** GeneralizedTime, UTC, with milliseconds when non-zero (trailing zeros removed, as DER requires). */
function generalizedTime(d: Date): Uint8Array {
  if (Number.isNaN(d.getTime())) throw new Error('invalid date');
  const iso = d.toISOString();
  let s = iso.slice(0, 4) + iso.slice(5, 7) + iso.slice(8, 10) + iso.slice(11, 13) + iso.slice(14, 16) + iso.slice(17, 19);
  const ms = d.getUTCMilliseconds();
  if (ms !== 0) s += '.' + String(ms).padStart(3, '0').replace(/0+$/, '');
  return tlv(0x18, ascii(s + 'Z'));
}

/** Certificate validity time: UTCTime up to 2049, GeneralizedTime from 2050 (RFC 5280 4.1.2.5), whole seconds. */
function certificateTime(d: Date): Uint8Array {
  const whole = new Date(Math.floor(d.getTime() / 1000) * 1000);
  if (whole.getUTCFullYear() >= 2050) return generalizedTime(whole);
  const iso = whole.toISOString();
  return tlv(0x17, ascii(iso.slice(2, 4) + iso.slice(5, 7) + iso.slice(8, 10) + iso.slice(11, 13) + iso.slice(14, 16) + iso.slice(17, 19) + 'Z'));
}

/** Minimal DER writer, shared with tsa.ts. */
export const der = {
  tlv,
  concat,
  seq: (...parts: Uint8Array[]) => tlv(0x30, ...parts),
  /** SET with the elements in the given order (use for single elements or pre-sorted input). */
  set: (...parts: Uint8Array[]) => tlv(0x31, ...parts),
  /** SET OF, sorted into DER order. */
  setOf: (items: readonly Uint8Array[]) => tlv(0x31, ...[...items].sort(compareDer)),
  /** Context-specific constructed tag [n] (EXPLICIT, or IMPLICIT of a constructed type). */
  context: (n: number, ...parts: Uint8Array[]) => tlv(0xa0 | n, ...parts),
  oid,
  unsignedInteger,
  smallInteger,
  octetString: (bytes: Uint8Array) => tlv(0x04, bytes),
  bitString: (bytes: Uint8Array, unusedBits = 0) => tlv(0x03, Uint8Array.of(unusedBits), bytes),
  boolean: (value: boolean) => tlv(0x01, Uint8Array.of(value ? 0xff : 0)),
  null: () => Uint8Array.of(0x05, 0x00),
  utf8String: (s: string) => tlv(0x0c, new TextEncoder().encode(s)),
  generalizedTime,
  certificateTime,
  algorithm: (algorithm: string, params?: Uint8Array) => (params ? tlv(0x30, oid(algorithm), params) : tlv(0x30, oid(algorithm))),
  attribute: (type: string, ...values: Uint8Array[]) => tlv(0x30, oid(type), tlv(0x31, ...[...values].sort(compareDer))),
};

// ---------------------------------------------------------------------------------------------
// ASN.1 reading helpers
// ---------------------------------------------------------------------------------------------

/** The parts of an asn1js block we read; asn1js' own types are a wide union. */
interface AsnNode {
  idBlock: { tagClass: number; tagNumber: number; isConstructed: boolean };
  valueBeforeDecodeView: Uint8Array;
  valueBlock: { value?: unknown; valueHexView?: Uint8Array };
}

const node = (x: unknown) => x as AsnNode;
const kids = (n: AsnNode): AsnNode[] => (Array.isArray(n.valueBlock.value) ? (n.valueBlock.value as AsnNode[]) : []);
const isUniversal = (n: AsnNode | undefined, tag: number) => n !== undefined && n.idBlock.tagClass === 1 && n.idBlock.tagNumber === tag;
const isContext = (n: AsnNode | undefined, tag: number) => n !== undefined && n.idBlock.tagClass === 3 && n.idBlock.tagNumber === tag;
/** Dotted form of an OBJECT IDENTIFIER block ('' for anything else). */
const oidOf = (n: AsnNode): string => (isUniversal(n, 6) ? String(n.valueBlock) : '');
/** A copy backed by a plain ArrayBuffer (what pkijs' BufferSource parameters want). */
const plain = (bytes: Uint8Array): Uint8Array<ArrayBuffer> => Uint8Array.from(bytes);

/** Content octets of a primitive block, or the concatenated pieces of a constructed string. */
function primitiveValue(n: AsnNode): Uint8Array {
  if (n.idBlock.isConstructed) return concat(kids(n).map(primitiveValue));
  return n.valueBlock.valueHexView ?? new Uint8Array(0);
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** Integer magnitude without leading zero octets, for comparisons. */
function integerMagnitude(bytes: Uint8Array): Uint8Array {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  return bytes.subarray(i);
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

export { sha256 };

/**
 * The first complete BER/DER element of `input` (a PDF /Contents is zero-padded, so trailing
 * bytes are ignored). Throws CmsError if there is none.
 */
export function firstElement(input: Uint8Array, what = 'CMS'): { bytes: Uint8Array; block: AsnNode } {
  if (!(input instanceof Uint8Array) || input.length === 0) throw new CmsError(`${what}: input is empty`);
  const parsed = asn1js.fromBER(input);
  if (parsed.offset === -1) throw new CmsError(`${what}: not DER-encoded data (${parsed.result.error || 'cannot decode'})`);
  const block = node(parsed.result);
  return { bytes: input.subarray(0, parsed.offset), block };
}

/** Raw pieces of a certificate needed for signer identification and ESS attributes. */
export interface CertificateParts {
  der: Uint8Array;
  /** The serialNumber INTEGER as encoded (tag and length included). */
  serialDer: Uint8Array;
  /** Its magnitude, without leading zero octets (for comparisons). */
  serial: Uint8Array;
  /** Issuer and subject Name, DER as encoded. */
  issuer: Uint8Array;
  subject: Uint8Array;
  subjectPublicKeyInfo: Uint8Array;
  /** Content of the subjectKeyIdentifier extension, if present. */
  subjectKeyIdentifier: Uint8Array | null;
}

export function certificateParts(certificate: Uint8Array): CertificateParts {
  let element: ReturnType<typeof firstElement>;
  try {
    element = firstElement(certificate, 'certificate');
  } catch (err) {
    throw new CmsError(`not an X.509 certificate: ${(err as Error).message}`);
  }
  return certificatePartsOf(element.block);
}

/** CertificateParts of an already decoded Certificate. */
function certificatePartsOf(cert: AsnNode): CertificateParts {
  const tbs = kids(cert)[0];
  const f = tbs && isUniversal(tbs, 16) ? kids(tbs) : [];
  const i = isContext(f[0], 0) ? 1 : 0;
  const [serial, , issuer, validity, subject, spki] = f.slice(i);
  if (!isUniversal(cert, 16) || !isUniversal(serial, 2) || !isUniversal(issuer, 16) || !isUniversal(validity, 16) || !isUniversal(subject, 16) || !isUniversal(spki, 16)) {
    throw new CmsError('not an X.509 certificate: unexpected TBSCertificate structure');
  }
  let subjectKeyIdentifier: Uint8Array | null = null;
  const extensions = f.find((n) => isContext(n, 3));
  for (const ext of extensions ? kids(kids(extensions)[0] ?? extensions) : []) {
    const [id, ...rest] = kids(ext);
    if (id && isUniversal(id, 6) && oidOf(id) === OID.subjectKeyIdentifier) {
      const value = rest[rest.length - 1];
      if (value) {
        const inner = asn1js.fromBER(primitiveValue(value));
        if (inner.offset !== -1) subjectKeyIdentifier = primitiveValue(node(inner.result));
      }
    }
  }
  return {
    der: cert.valueBeforeDecodeView,
    serialDer: serial!.valueBeforeDecodeView,
    serial: integerMagnitude(primitiveValue(serial!)),
    issuer: issuer!.valueBeforeDecodeView,
    subject: subject!.valueBeforeDecodeView,
    subjectPublicKeyInfo: spki!.valueBeforeDecodeView,
    subjectKeyIdentifier,
  };
}

// ---------------------------------------------------------------------------------------------
// Building
// ---------------------------------------------------------------------------------------------

/** SigningCertificateV2 attribute (RFC 5035): one ESSCertIDv2, SHA-256 (the default, hence omitted) plus issuerSerial. */
function signingCertificateV2Attribute(cert: CertificateParts): Uint8Array {
  const issuerSerial = der.seq(der.seq(der.context(4, cert.issuer)), cert.serialDer);
  const essCertIdV2 = der.seq(der.octetString(sha256(cert.der)), issuerSerial);
  return der.attribute(OID.signingCertificateV2, der.seq(der.seq(essCertIdV2)));
}

function signatureAlgorithmFor(key: KeyObject): Uint8Array {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return signatureAlgorithmIdentifier('rsa-pkcs1');
    case 'ec':
      return signatureAlgorithmIdentifier('ecdsa');
    default:
      throw new CmsError(`unsupported signing key type "${key.asymmetricKeyType}" (RSA or EC keys are supported)`);
  }
}

/** The SignerInfo's signatureAlgorithm for a scheme (SHA-256 throughout; PSS with MGF1-SHA-256 and a 32-byte salt). */
export function signatureAlgorithmIdentifier(scheme: SignatureScheme): Uint8Array {
  switch (scheme) {
    case 'rsa-pkcs1':
      return der.algorithm(OID.sha256WithRSAEncryption, der.null());
    case 'ecdsa':
      return der.algorithm(OID.ecdsaWithSHA256);
    case 'rsa-pss':
      return der.algorithm(OID.rsassaPss, pssParameters());
  }
}

/** RSASSA-PSS-params (RFC 4055): SHA-256, MGF1 with SHA-256, a 32-byte salt, trailer 1 (default). */
export function pssParameters(): Uint8Array {
  const sha256Id = der.algorithm(OID.sha256, der.null());
  return der.seq(der.context(0, sha256Id), der.context(1, der.algorithm(OID.mgf1, sha256Id)), der.context(2, der.smallInteger(PSS_SALT_LENGTH)));
}

/** Signs `data` with SHA-256 (RSA PKCS#1 v1.5, or ECDSA with a DER-encoded r,s pair). */
export function signSha256(data: Uint8Array, key: KeyObject): { signature: Uint8Array; algorithm: Uint8Array } {
  const algorithm = signatureAlgorithmFor(key);
  const signature = key.asymmetricKeyType === 'rsa' ? nodeSign('sha256', data, { key, padding: constants.RSA_PKCS1_PADDING }) : nodeSign('sha256', data, { key, dsaEncoding: 'der' });
  return { signature: new Uint8Array(signature), algorithm };
}

function assertKeyMatchesCertificate(key: KeyObject, cert: CertificateParts): void {
  if (key.type !== 'private') throw new CmsError('the signing identity must hold a private key');
  const spki = new Uint8Array(createPublicKey(key).export({ type: 'spki', format: 'der' }));
  const certKey = new Uint8Array(createPublicKey({ key: Buffer.from(cert.subjectPublicKeyInfo), format: 'der', type: 'spki' }).export({ type: 'spki', format: 'der' }));
  if (!equalBytes(spki, certKey)) throw new CmsError('the private key does not belong to the signer certificate');
}

export interface SignedDataParams {
  identity: SigningIdentity;
  /** eContentType; id-data for PAdES, id-ct-TSTInfo for time-stamp tokens. */
  eContentType: string;
  /** Encapsulated content (e.g. a TSTInfo); omitted → detached signature. */
  eContent?: Uint8Array;
  /** SHA-256 digest of the content (the messageDigest attribute). */
  contentDigest: Uint8Array;
  /** Include the signer certificate and chain (default true). */
  includeCertificates?: boolean;
  /** Produces DER Attributes for unsignedAttrs from the signature value (e.g. a time-stamp token). */
  unsignedAttributes?: (signatureValue: Uint8Array) => Promise<Uint8Array[]>;
}

/**
 * The signed attributes of our SignerInfos as the DER SET OF that is signed: contentType,
 * messageDigest and signingCertificateV2 — and nothing else (no signingTime: PAdES baseline
 * forbids it).
 */
export function signedAttributesFor(certificate: Uint8Array, contentDigest: Uint8Array, eContentType: string = OID.data): Uint8Array {
  if (contentDigest.length !== 32) throw new CmsError(`the content digest must be a 32-byte SHA-256 value, got ${contentDigest.length} bytes`);
  const signer = certificateParts(certificate);
  return der.setOf([der.attribute(OID.contentType, oid(eContentType)), der.attribute(OID.messageDigest, der.octetString(contentDigest)), signingCertificateV2Attribute(signer)]);
}

export interface AssembleParams {
  certificate: Uint8Array;
  chain: Uint8Array[];
  /** As returned by signedAttributesFor (tag 0x31). */
  signedAttributes: Uint8Array;
  /** DER AlgorithmIdentifier of the signature (signatureAlgorithmIdentifier). */
  signatureAlgorithm: Uint8Array;
  signature: Uint8Array;
  eContentType?: string;
  eContent?: Uint8Array;
  includeCertificates?: boolean;
  unsignedAttributes?: Uint8Array[];
}

/** A DER ContentInfo(SignedData) with one SignerInfo (sid issuerAndSerialNumber, SHA-256) around a signature made elsewhere. */
export function assembleSignedData(p: AssembleParams): Uint8Array {
  const signer = certificateParts(p.certificate);
  const eContentType = p.eContentType ?? OID.data;
  const signedAttrsImplicit = Uint8Array.from(p.signedAttributes); // as stored: [0] IMPLICIT
  signedAttrsImplicit[0] = 0xa0;
  const unsigned = p.unsignedAttributes ?? [];
  const signerInfo = der.seq(
    der.smallInteger(1),
    der.seq(signer.issuer, signer.serialDer),
    der.algorithm(OID.sha256),
    signedAttrsImplicit,
    p.signatureAlgorithm,
    der.octetString(p.signature),
    ...(unsigned.length ? [tlv(0xa1, ...[...unsigned].sort(compareDer))] : []),
  );

  const certificates: Uint8Array[] = [];
  if (p.includeCertificates ?? true) {
    for (const c of [signer.der, ...p.chain.map((c) => certificateParts(c).der)]) {
      if (!certificates.some((x) => equalBytes(x, c))) certificates.push(c);
    }
  }
  const signedData = der.seq(
    der.smallInteger(eContentType === OID.data ? 1 : 3),
    der.set(der.algorithm(OID.sha256)),
    der.seq(oid(eContentType), ...(p.eContent ? [der.context(0, der.octetString(p.eContent))] : [])),
    // A SET OF in DER order (leaf first is not guaranteed; CMS gives the order no meaning — readers use the sid).
    ...(certificates.length ? [tlv(0xa0, ...[...certificates].sort(compareDer))] : []),
    der.set(signerInfo),
  );
  return der.seq(oid(OID.signedData), der.context(0, signedData));
}

/**
 * A DER ContentInfo(SignedData) with one SignerInfo (sid issuerAndSerialNumber, SHA-256) whose
 * signed attributes are contentType, messageDigest and signingCertificateV2 — signed with a key
 * this process holds (time-stamp tokens, tests).
 */
export async function buildSignedData(p: SignedDataParams): Promise<Uint8Array> {
  const signedAttributes = signedAttributesFor(p.identity.certificate, p.contentDigest, p.eContentType);
  assertKeyMatchesCertificate(p.identity.privateKey, certificateParts(p.identity.certificate));
  const { signature, algorithm } = signSha256(signedAttributes, p.identity.privateKey);
  const unsignedAttributes = p.unsignedAttributes ? await p.unsignedAttributes(signature) : [];
  return assembleSignedData({
    certificate: p.identity.certificate,
    chain: p.identity.chain,
    signedAttributes,
    signatureAlgorithm: algorithm,
    signature,
    eContentType: p.eContentType,
    eContent: p.eContent,
    includeCertificates: p.includeCertificates,
    unsignedAttributes,
  });
}

/** The id-aa-signatureTimeStampToken attribute for a signature value (PAdES B-T), checked against its imprint. */
export async function signatureTimestampAttribute(tsa: TimestampAuthority, signatureValue: Uint8Array): Promise<Uint8Array> {
  const imprint = sha256(signatureValue);
  const token = firstElement(await tsa.timestamp(imprint, 'SHA-256'), 'time-stamp token').bytes;
  const parsed = parseTimeStampToken(token);
  if (parsed.imprintAlgorithm !== OID.sha256 || !equalBytes(parsed.imprint, imprint)) {
    throw new CmsError('the time-stamp authority returned a token for a different message imprint');
  }
  return der.attribute(OID.signatureTimeStampToken, token);
}

export interface CadesOptions {
  identity: SigningIdentity;
  /** SHA-256 digest of the PDF byte ranges (already computed by the caller). */
  documentDigest: Uint8Array;
  /** If given: a token over SHA-256(signatureValue) is added as id-aa-signatureTimeStampToken → PAdES B-T. */
  tsa?: TimestampAuthority;
}

/**
 * DER-encoded ContentInfo(SignedData), detached, eContentType id-data, for /SubFilter
 * /ETSI.CAdES.detached. Signed attributes: contentType, messageDigest, signingCertificateV2; no
 * signingTime (PAdES baseline forbids it). Certificates: the signer's and its chain.
 */
export async function buildCadesSignature(opts: CadesOptions): Promise<Uint8Array> {
  const { tsa } = opts;
  return buildSignedData({
    identity: opts.identity,
    eContentType: OID.data,
    contentDigest: opts.documentDigest,
    unsignedAttributes: tsa ? async (signatureValue) => [await signatureTimestampAttribute(tsa, signatureValue)] : undefined,
  });
}

// ---------------------------------------------------------------------------------------------
// Parsing and verification
// ---------------------------------------------------------------------------------------------

export interface ParsedCades {
  /** DER, found by the SignerInfo's sid (issuerAndSerialNumber or subjectKeyIdentifier). */
  signerCertificate: Uint8Array;
  /** All certificates in the CMS, in stored order. */
  certificates: Uint8Array[];
  /** e.g. 'SHA-256' (the OID if unknown). */
  digestAlgorithm: string;
  /** The signed messageDigest attribute. */
  messageDigest: Uint8Array | null;
  /** The signature over the DER SET OF signed attributes verifies with the signer certificate's key. */
  signatureValid: boolean;
  /** null if the attribute is absent. */
  signingCertificateV2Matches: boolean | null;
  hasSigningTimeAttribute: boolean;
  timestamp: null | {
    genTime: Date;
    /** The token's message imprint equals the hash of this signature's value. */
    imprintMatches: boolean;
    /** The token's own CMS signature (and its messageDigest over the TSTInfo) verifies with the TSA certificate. */
    tokenSignatureValid: boolean;
    tsaCertificate: Uint8Array | null;
    policy: string;
    /** TSTInfo serialNumber, lowercase hex without leading zeros. */
    serial: string;
  };
}

interface ParsedSignedData {
  eContentType: string;
  eContent: Uint8Array | null;
  certificates: Uint8Array[];
  signerInfo: pkijs.SignerInfo;
  /** null if the signer certificate is not among `certificates` (nor `extraCertificates`). */
  signer: CertificateParts | null;
}

/**
 * Reads a ContentInfo(SignedData). The SignedData's top level is walked here; only the
 * EncapsulatedContentInfo and the first SignerInfo go through pkijs (its full SignedData parser
 * would also decode every certificate, which is slow and fails on certificates it cannot model).
 */
function parseSignedData(input: Uint8Array, what: string, extraCertificates: Uint8Array[] = []): ParsedSignedData {
  const { block } = firstElement(input, what);
  if (!isUniversal(block, 16)) throw new CmsError(`${what}: not a CMS ContentInfo (expected a DER SEQUENCE)`);
  let contentInfo: pkijs.ContentInfo;
  try {
    contentInfo = new pkijs.ContentInfo({ schema: block });
  } catch (err) {
    throw new CmsError(`${what}: not a CMS ContentInfo (${(err as Error).message})`);
  }
  if (contentInfo.contentType !== OID.signedData) {
    throw new CmsError(`${what}: the ContentInfo holds content type ${contentInfo.contentType}, not SignedData (${OID.signedData})`);
  }
  // SignedData ::= SEQUENCE { version, digestAlgorithms SET, encapContentInfo, [0] certificates OPTIONAL, [1] crls OPTIONAL, signerInfos SET }
  const signedData = node(contentInfo.content);
  const fields = isUniversal(signedData, 16) ? kids(signedData) : [];
  const [version, digestAlgorithms, encap] = fields;
  const signerInfos = fields[fields.length - 1];
  const optional = fields.slice(3, -1);
  if (fields.length < 4 || !isUniversal(version, 2) || !isUniversal(digestAlgorithms, 17) || !isUniversal(encap, 16) || !isUniversal(signerInfos, 17) || optional.some((n) => !isContext(n, 0) && !isContext(n, 1))) {
    throw new CmsError(`${what}: malformed SignedData (expected version, digestAlgorithms, encapContentInfo, certificates, crls, signerInfos)`);
  }
  let encapContentInfo: pkijs.EncapsulatedContentInfo;
  try {
    encapContentInfo = new pkijs.EncapsulatedContentInfo({ schema: encap });
  } catch (err) {
    throw new CmsError(`${what}: malformed encapContentInfo (${(err as Error).message})`);
  }
  const signerInfoNode = kids(signerInfos!)[0];
  if (!signerInfoNode) throw new CmsError(`${what}: the SignedData contains no SignerInfo`);
  let signerInfo: pkijs.SignerInfo;
  try {
    signerInfo = new pkijs.SignerInfo({ schema: signerInfoNode });
  } catch (err) {
    throw new CmsError(`${what}: malformed SignerInfo (${(err as Error).message})`);
  }

  // Certificates exactly as encoded (CertificateChoices other than Certificate are skipped).
  const certificatesField = optional.find((n) => isContext(n, 0));
  const certificateNodes = (certificatesField ? kids(certificatesField) : []).filter((n) => isUniversal(n, 16));
  const candidates: CertificateParts[] = [];
  for (const n of certificateNodes) {
    try {
      candidates.push(certificatePartsOf(n));
    } catch {
      /* not an X.509 certificate we can read: cannot be the signer */
    }
  }
  for (const extra of extraCertificates) {
    try {
      candidates.push(certificateParts(extra));
    } catch {
      /* ditto */
    }
  }
  const e = encapContentInfo.eContent;

  return {
    eContentType: encapContentInfo.eContentType,
    eContent: e ? primitiveValue(node(e)) : null,
    certificates: certificateNodes.map((n) => Uint8Array.from(n.valueBeforeDecodeView)),
    signerInfo,
    signer: findSignerCertificate(signerInfo, candidates),
  };
}

function findSignerCertificate(signerInfo: pkijs.SignerInfo, candidates: CertificateParts[]): CertificateParts | null {
  const sid = signerInfo.sid as unknown;
  for (const parts of candidates) {
    if (sid instanceof pkijs.IssuerAndSerialNumber) {
      if (!equalBytes(integerMagnitude(sid.serialNumber.valueBlock.valueHexView), parts.serial)) continue;
      if (equalBytes(new Uint8Array(sid.issuer.valueBeforeDecode), parts.issuer)) return parts;
      // Same serial, differently encoded issuer: compare the parsed names.
      try {
        if (pkijs.RelativeDistinguishedNames.fromBER(plain(parts.issuer)).isEqual(sid.issuer)) return parts;
      } catch {
        /* not comparable */
      }
    } else {
      const ski = primitiveValue(node(sid));
      if (parts.subjectKeyIdentifier && equalBytes(ski, parts.subjectKeyIdentifier)) return parts;
    }
  }
  return null;
}

function describeSid(signerInfo: pkijs.SignerInfo): string {
  const sid = signerInfo.sid as unknown;
  if (sid instanceof pkijs.IssuerAndSerialNumber) {
    const issuer = sid.issuer.typesAndValues.map((tv) => `${tv.type}=${tv.value.valueBlock.value}`).join(', ');
    return `issuer "${issuer}", serial ${toHex(integerMagnitude(sid.serialNumber.valueBlock.valueHexView))}`;
  }
  return `subjectKeyIdentifier ${toHex(primitiveValue(node(sid)))}`;
}

function signedAttribute(signerInfo: pkijs.SignerInfo, type: string): AsnNode | null {
  const attribute = signerInfo.signedAttrs?.attributes.find((a) => a.type === type);
  return attribute && attribute.values.length ? node(attribute.values[0]) : null;
}

/**
 * Verifies the SignerInfo's signature over its DER SET OF signed attributes (as encoded, tag
 * changed to SET) with `certificate`'s public key. Supports RSA PKCS#1 v1.5, RSASSA-PSS and ECDSA.
 */
function verifySignerInfoSignature(signerInfo: pkijs.SignerInfo, certificate: CertificateParts): boolean {
  const signedAttrs = signerInfo.signedAttrs;
  if (!signedAttrs || signedAttrs.encodedValue.byteLength === 0) return false;
  const data = new Uint8Array(signedAttrs.encodedValue); // pkijs already set the first octet to 0x31
  const signature = signerInfo.signature.valueBlock.valueHexView;
  const algorithm = signerInfo.signatureAlgorithm.algorithmId;
  const digest = DIGESTS[signerInfo.digestAlgorithm.algorithmId]?.node;
  try {
    const key = createPublicKey({ key: Buffer.from(certificate.subjectPublicKeyInfo), format: 'der', type: 'spki' });
    if (algorithm === OID.rsassaPss) {
      const params = new pkijs.RSASSAPSSParams({ schema: signerInfo.signatureAlgorithm.algorithmParams });
      const hash = DIGESTS[params.hashAlgorithm.algorithmId]?.node;
      if (!hash) return false;
      return nodeVerify(hash, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: params.saltLength }, signature);
    }
    const hash = SIGNATURE_DIGEST[algorithm] ?? (algorithm === OID.rsaEncryption || algorithm === OID.ecPublicKey ? digest : undefined);
    if (!hash) return false;
    if (key.asymmetricKeyType === 'rsa') return nodeVerify(hash, data, { key, padding: constants.RSA_PKCS1_PADDING }, signature);
    if (key.asymmetricKeyType === 'ec') return nodeVerify(hash, data, { key, dsaEncoding: 'der' }, signature);
    return false;
  } catch {
    return false;
  }
}

/** Does the first ESSCertIDv2 of a SigningCertificateV2 value identify `certificate`? */
function signingCertificateV2Matches(value: AsnNode, parts: CertificateParts): boolean {
  const first = kids(kids(value)[0] ?? value)[0];
  if (!first || !isUniversal(first, 16)) return false;
  let fields = kids(first);
  let hash = 'sha256';
  if (isUniversal(fields[0], 16)) {
    const algorithm = kids(fields[0]!)[0];
    const known = algorithm && DIGESTS[oidOf(algorithm)];
    if (!known) return false;
    hash = known.node;
    fields = fields.slice(1);
  }
  const [certHash, issuerSerial] = fields;
  if (!certHash || !isUniversal(certHash, 4)) return false;
  if (!equalBytes(primitiveValue(certHash), new Uint8Array(createHash(hash).update(parts.der).digest()))) return false;
  if (!issuerSerial) return true;
  const [generalNames, serial] = kids(issuerSerial);
  if (!generalNames || !serial || !equalBytes(integerMagnitude(primitiveValue(serial)), parts.serial)) return false;
  return kids(generalNames).some((gn) => {
    if (!isContext(gn, 4)) return false;
    const name = kids(gn)[0];
    if (!name) return false;
    if (equalBytes(name.valueBeforeDecodeView, parts.issuer)) return true;
    try {
      return pkijs.RelativeDistinguishedNames.fromBER(plain(parts.issuer)).isEqual(pkijs.RelativeDistinguishedNames.fromBER(plain(name.valueBeforeDecodeView)));
    } catch {
      return false;
    }
  });
}

/** A CMS signer is valid if contentType/messageDigest are present and right and the signature verifies. */
function verifyEncapsulatingSigner(sd: ParsedSignedData): boolean {
  if (!sd.signer || !sd.eContent) return false;
  const contentType = signedAttribute(sd.signerInfo, OID.contentType);
  if (!contentType || oidOf(contentType) !== sd.eContentType) return false;
  const messageDigest = signedAttribute(sd.signerInfo, OID.messageDigest);
  const hash = DIGESTS[sd.signerInfo.digestAlgorithm.algorithmId]?.node;
  if (!messageDigest || !hash) return false;
  if (!equalBytes(primitiveValue(messageDigest), new Uint8Array(createHash(hash).update(sd.eContent).digest()))) return false;
  const ess = signedAttribute(sd.signerInfo, OID.signingCertificateV2);
  if (ess && !signingCertificateV2Matches(ess, sd.signer)) return false;
  return verifySignerInfoSignature(sd.signerInfo, sd.signer);
}

export interface ParsedTimeStampToken {
  genTime: Date;
  policy: string;
  /** lowercase hex, no leading zeros */
  serial: string;
  imprintAlgorithm: string;
  imprint: Uint8Array;
  /** Integer magnitude of the nonce, or null. */
  nonce: Uint8Array | null;
  tsaCertificate: Uint8Array | null;
  /** Signature, messageDigest (over the TSTInfo) and, if present, signingCertificateV2 check out. */
  signatureValid: boolean;
}

/** Parses an RFC 3161 TimeStampToken (ContentInfo SignedData over a TSTInfo); throws CmsError if malformed. */
export function parseTimeStampToken(der: Uint8Array, extraCertificates: Uint8Array[] = []): ParsedTimeStampToken {
  const sd = parseSignedData(der, 'time-stamp token', extraCertificates);
  if (sd.eContentType !== OID.tstInfo) throw new CmsError(`time-stamp token: encapsulated content type is ${sd.eContentType}, not id-ct-TSTInfo (${OID.tstInfo})`);
  if (!sd.eContent) throw new CmsError('time-stamp token: no encapsulated TSTInfo');
  let tst: pkijs.TSTInfo;
  try {
    tst = pkijs.TSTInfo.fromBER(plain(sd.eContent));
  } catch (err) {
    throw new CmsError(`time-stamp token: malformed TSTInfo (${(err as Error).message})`);
  }
  return {
    genTime: tst.genTime,
    policy: tst.policy,
    serial: toHex(integerMagnitude(tst.serialNumber.valueBlock.valueHexView)).replace(/^0(?=.)/, ''),
    imprintAlgorithm: tst.messageImprint.hashAlgorithm.algorithmId,
    imprint: Uint8Array.from(tst.messageImprint.hashedMessage.valueBlock.valueHexView),
    nonce: tst.nonce ? Uint8Array.from(integerMagnitude(tst.nonce.valueBlock.valueHexView)) : null,
    tsaCertificate: sd.signer ? Uint8Array.from(sd.signer.der) : null,
    signatureValid: verifyEncapsulatingSigner(sd),
  };
}

/**
 * Parses a CAdES/CMS signature (e.g. the decoded /Contents of a PDF signature, trailing zero
 * padding allowed) and checks what can be checked without the signed content. Uses the first
 * SignerInfo. Throws CmsError on malformed input.
 */
export function parseCades(input: Uint8Array): ParsedCades {
  const sd = parseSignedData(input, 'CMS signature');
  const { signerInfo } = sd;
  const signer = sd.signer;
  if (!signer) throw new CmsError(`CMS signature: the signer certificate (${describeSid(signerInfo)}) is not included in the CMS`);

  const messageDigest = signedAttribute(signerInfo, OID.messageDigest);
  const ess = signedAttribute(signerInfo, OID.signingCertificateV2);
  const digestOid = signerInfo.digestAlgorithm.algorithmId;

  let timestamp: ParsedCades['timestamp'] = null;
  const tokenAttribute = signerInfo.unsignedAttrs?.attributes.find((a) => a.type === OID.signatureTimeStampToken);
  if (tokenAttribute && tokenAttribute.values.length) {
    const token = parseTimeStampToken(node(tokenAttribute.values[0]).valueBeforeDecodeView, sd.certificates);
    const hash = DIGESTS[token.imprintAlgorithm]?.node;
    const signatureValue = signerInfo.signature.valueBlock.valueHexView;
    timestamp = {
      genTime: token.genTime,
      imprintMatches: hash !== undefined && equalBytes(token.imprint, new Uint8Array(createHash(hash).update(signatureValue).digest())),
      tokenSignatureValid: token.signatureValid,
      tsaCertificate: token.tsaCertificate,
      policy: token.policy,
      serial: token.serial,
    };
  }

  return {
    signerCertificate: Uint8Array.from(signer.der),
    certificates: sd.certificates,
    digestAlgorithm: DIGESTS[digestOid]?.name ?? digestOid,
    messageDigest: messageDigest ? Uint8Array.from(primitiveValue(messageDigest)) : null,
    signatureValid: verifySignerInfoSignature(signerInfo, signer),
    signingCertificateV2Matches: ess ? signingCertificateV2Matches(ess, signer) : null,
    hasSigningTimeAttribute: signedAttribute(signerInfo, OID.signingTime) !== null,
    timestamp,
  };
}
