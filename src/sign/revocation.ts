/**
 * Certificate revocation (RFC 5280 CRLs, RFC 6960 OCSP), both sides:
 *
 *   - the CA side, used by the key store's Demo-CA (keys.ts): a v2 CRL with CRL number, authority
 *     key identifier and reason codes, and an OCSP responder answer (BasicOCSPResponse signed by
 *     the CA itself, which RFC 6960 4.2.2.2 allows);
 *   - the relying party's side: `checkRevocation` judges DER CRLs and OCSP responses (from a PDF's
 *     DSS or fetched) as evidence about one certificate at a time of reference, and
 *     `RevocationFetcher` gets them from the URLs a certificate names (AIA id-ad-ocsp, CRL
 *     distribution points), with a cache, or from our own CA in-process. It is also a
 *     @libpdf/core `RevocationProvider` (getOCSP, getCRL), for B-LT validation data.
 *
 * Structures are built and parsed with pkijs/asn1js; signatures are made and checked with node:crypto.
 */
import { SIGNATURE_DIGEST } from './cms.ts';
import { createHash, randomBytes, sign as nodeSign, verify as nodeVerify, constants, X509Certificate, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { writeFilesAtomically } from '../store/atomic.ts';
import { sha256Hex } from '../digest.ts';

// ───────────────────────────── names and numbers ─────────────────────────────

/** RFC 5280 5.3.1 CRLReason names, in code order (code 7 is unused). */
export const REVOCATION_REASONS = [
  'unspecified',
  'keyCompromise',
  'cACompromise',
  'affiliationChanged',
  'superseded',
  'cessationOfOperation',
  'certificateHold',
  'removeFromCRL',
  'privilegeWithdrawn',
  'aACompromise',
] as const;
export type RevocationReason = (typeof REVOCATION_REASONS)[number];

export const REASON_CODES: Record<RevocationReason, number> = {
  unspecified: 0,
  keyCompromise: 1,
  cACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  certificateHold: 6,
  removeFromCRL: 8,
  privilegeWithdrawn: 9,
  aACompromise: 10,
};

export const isRevocationReason = (s: string): s is RevocationReason => (REVOCATION_REASONS as readonly string[]).includes(s);

/** The CRLReason name of a code ("reason 7" for codes RFC 5280 does not define). */
export function reasonName(code: number): string {
  return (Object.entries(REASON_CODES).find(([, c]) => c === code)?.[0] as RevocationReason | undefined) ?? `reason ${code}`;
}

const OID = {
  sha1: '1.3.14.3.2.26',
  sha256: '2.16.840.1.101.3.4.2.1',
  sha256WithRsa: '1.2.840.113549.1.1.11',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  ecdsaWithSha384: '1.2.840.10045.4.3.3',
  rsassaPss: '1.2.840.113549.1.1.10',
  crlNumber: '2.5.29.20',
  reasonCode: '2.5.29.21',
  deltaCrlIndicator: '2.5.29.27',
  issuingDistributionPoint: '2.5.29.28',
  certificateIssuer: '2.5.29.29',
  authorityKeyIdentifier: '2.5.29.35',
  expiredCertsOnCrl: '2.5.29.60',
  crlDistributionPoints: '2.5.29.31',
  authorityInfoAccess: '1.3.6.1.5.5.7.1.1',
  adOcsp: '1.3.6.1.5.5.7.48.1',
  extKeyUsage: '2.5.29.37',
  kpOcspSigning: '1.3.6.1.5.5.7.3.9',
  ocspBasic: '1.3.6.1.5.5.7.48.1.1',
  ocspNonce: '1.3.6.1.5.5.7.48.1.2',
} as const;

/** Hash algorithms a CertID may use, by OID → node:crypto name. */
const CERT_ID_HASHES: Record<string, string> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.4': 'sha224',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};


/** OCSPResponseStatus (RFC 6960 4.2.1). */
export const OCSP_RESPONSE_STATUS = { successful: 0, malformedRequest: 1, internalError: 2, tryLater: 3, sigRequired: 5, unauthorized: 6 } as const;
export type OcspResponseStatus = keyof typeof OCSP_RESPONSE_STATUS;
const statusName = (n: number) => (Object.entries(OCSP_RESPONSE_STATUS).find(([, v]) => v === n)?.[0] ?? `status ${n}`) as string;

// ───────────────────────────── small helpers ─────────────────────────────

/** A copy backed by a plain ArrayBuffer, as pkijs's types demand. */
const own = (b: Uint8Array) => new Uint8Array(b);
const toPkijsCert = (der: Uint8Array) => pkijs.Certificate.fromBER(own(der));
const hash = (alg: string, data: Uint8Array) => new Uint8Array(createHash(alg).update(data).digest());
const bytesEqual = (a: Uint8Array, b: Uint8Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
const iso = (d: Date) => d.toISOString().replace('.000Z', 'Z');
const wholeSeconds = (d: Date) => new Date(Math.floor(d.getTime() / 1000) * 1000);
const errorMessage = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** Serial numbers compared as numbers: upper-case hex without leading zeros ("01" and "1" are one serial). */
export function serialKey(hexOrInteger: string | asn1js.Integer): string {
  const big = typeof hexOrInteger === 'string' ? BigInt('0x' + (hexOrInteger.replace(/[\s:]/g, '') || '0')) : hexOrInteger.toBigInt();
  return big.toString(16).toUpperCase();
}

/** Upper-case hex of an INTEGER's content octets, as OpenSSL prints serials. */
const integerHex = (i: asn1js.Integer) => Buffer.from(i.valueBlock.valueHexView).toString('hex').toUpperCase();

const subjectText = (der: Uint8Array) => {
  try {
    return new X509Certificate(der).subject.split('\n').reverse().join(', ');
  } catch {
    return '(unreadable certificate)';
  }
};

/** The raw DER of a pkijs name (pkijs keeps the bytes it parsed). */
const nameDer = (n: pkijs.RelativeDistinguishedNames) => new Uint8Array(n.toSchema().toBER(false));
const namesEqual = (a: pkijs.RelativeDistinguishedNames, b: pkijs.RelativeDistinguishedNames) => bytesEqual(nameDer(a), nameDer(b)) || a.isEqual(b);

/** The subjectPublicKey BIT STRING's bits: what key hashes (CertID, key identifiers, responderID byKey) are taken over. */
const publicKeyBits = (c: pkijs.Certificate) => new Uint8Array(c.subjectPublicKeyInfo.subjectPublicKey.valueBlock.valueHexView);

/** The signature AlgorithmIdentifier our CA uses for a key: ecdsa-with-SHA256 (P-256) / -SHA384 (P-384), else sha256WithRSAEncryption. */
export function signatureAlgorithmFor(key: KeyObject): { identifier: pkijs.AlgorithmIdentifier; hash: string } {
  if (key.asymmetricKeyType === 'ec') {
    const p384 = key.asymmetricKeyDetails?.namedCurve === 'secp384r1';
    return { identifier: new pkijs.AlgorithmIdentifier({ algorithmId: p384 ? OID.ecdsaWithSha384 : OID.ecdsaWithSha256 }), hash: p384 ? 'sha384' : 'sha256' };
  }
  if (key.asymmetricKeyType === 'rsa') return { identifier: new pkijs.AlgorithmIdentifier({ algorithmId: OID.sha256WithRsa, algorithmParams: new asn1js.Null() }), hash: 'sha256' };
  throw new Error(`unsupported CA key type ${key.asymmetricKeyType}`);
}

function signWith(key: KeyObject, data: Uint8Array): { identifier: pkijs.AlgorithmIdentifier; value: asn1js.BitString } {
  const { identifier, hash: h } = signatureAlgorithmFor(key);
  const value = key.asymmetricKeyType === 'ec' ? nodeSign(h, data, { key, dsaEncoding: 'der' }) : nodeSign(h, data, { key, padding: constants.RSA_PKCS1_PADDING });
  return { identifier, value: new asn1js.BitString({ valueHex: new Uint8Array(value) }) };
}

/** Does `signature` over `data` verify under the certificate's key with `algorithm`? (RSA PKCS#1 v1.5, RSA-PSS, ECDSA, Ed25519) */
function verifySignature(signerDer: Uint8Array, algorithm: pkijs.AlgorithmIdentifier, data: Uint8Array, signature: asn1js.BitString): boolean {
  try {
    const key = new X509Certificate(signerDer).publicKey;
    const value = new Uint8Array(signature.valueBlock.valueHexView);
    const oid = algorithm.algorithmId;
    if (oid === OID.rsassaPss) {
      const params = new pkijs.RSASSAPSSParams({ schema: algorithm.algorithmParams });
      const h = CERT_ID_HASHES[params.hashAlgorithm.algorithmId];
      if (!h || key.asymmetricKeyType !== 'rsa') return false;
      return nodeVerify(h, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: params.saltLength }, value);
    }
    if (oid === '1.3.101.112') return key.asymmetricKeyType === 'ed25519' && nodeVerify(null, data, key, value);
    const h = SIGNATURE_DIGEST[oid];
    if (!h) return false;
    if (oid.startsWith('1.2.840.10045.')) return key.asymmetricKeyType === 'ec' && nodeVerify(h, data, { key, dsaEncoding: 'der' }, value);
    return key.asymmetricKeyType === 'rsa' && nodeVerify(h, data, { key, padding: constants.RSA_PKCS1_PADDING }, value);
  } catch {
    return false;
  }
}

function timeOf(d: Date): pkijs.Time {
  // RFC 5280: UTCTime through 2049, GeneralizedTime from 2050.
  return new pkijs.Time({ type: d.getUTCFullYear() < 2050 ? 0 : 1, value: d });
}

const implicitNull = (tagNumber: number) => new asn1js.Primitive({ idBlock: { tagClass: 3, tagNumber } });

// ───────────────────────────── CA side: CRL ─────────────────────────────

export interface RevokedEntry {
  /** Hex serial of the revoked certificate. */
  serial: string;
  revokedAt: Date;
  reason: RevocationReason;
}

export interface CaKey {
  /** DER CA certificate. */
  certificate: Uint8Array;
  key: KeyObject;
}

/**
 * A v2 CRL (RFC 5280 5) signed by the CA: CRL number, authority key identifier, ExpiredCertsOnCRL
 * (this CA keeps expired certificates on its list, so a CRL issued after a certificate's end still
 * speaks for it), and per entry the reason code (left out for "unspecified", as 5.3.1 recommends).
 */
export function buildCrl(ca: CaKey, o: { number: bigint; thisUpdate: Date; nextUpdate: Date; revoked: RevokedEntry[] }): Uint8Array {
  const caCert = toPkijsCert(ca.certificate);
  const { identifier } = signatureAlgorithmFor(ca.key);
  const keyId = hash('sha1', publicKeyBits(caCert));
  const crl = new pkijs.CertificateRevocationList({
    version: 1,
    signature: identifier,
    issuer: caCert.subject,
    thisUpdate: timeOf(wholeSeconds(o.thisUpdate)),
    nextUpdate: timeOf(wholeSeconds(o.nextUpdate)),
    crlExtensions: new pkijs.Extensions({
      extensions: [
        new pkijs.Extension({ extnID: OID.authorityKeyIdentifier, extnValue: new asn1js.Sequence({ value: [new asn1js.Primitive({ idBlock: { tagClass: 3, tagNumber: 0 }, valueHex: keyId })] }).toBER() }),
        new pkijs.Extension({ extnID: OID.crlNumber, extnValue: asn1js.Integer.fromBigInt(o.number).toBER() }),
        new pkijs.Extension({ extnID: OID.expiredCertsOnCrl, extnValue: new asn1js.GeneralizedTime({ valueDate: wholeSeconds(caCert.notBefore.value) }).toBER() }),
      ],
    }),
  });
  // RFC 5280 5.1.2.6: with nothing revoked the list is absent, not empty.
  if (o.revoked.length) {
    crl.revokedCertificates = [...o.revoked]
      .sort((a, b) => a.revokedAt.getTime() - b.revokedAt.getTime())
      .map(
        (e) =>
          new pkijs.RevokedCertificate({
            userCertificate: asn1js.Integer.fromBigInt(BigInt('0x' + e.serial)),
            revocationDate: timeOf(wholeSeconds(e.revokedAt)),
            ...(e.reason !== 'unspecified'
              ? { crlEntryExtensions: new pkijs.Extensions({ extensions: [new pkijs.Extension({ extnID: OID.reasonCode, extnValue: new asn1js.Enumerated({ value: REASON_CODES[e.reason] }).toBER() })] }) }
              : {}),
          }),
      );
  }
  // encodeTBS is protected in pkijs' types; it is what pkijs' own sign() encodes.
  crl.tbsView = new Uint8Array((crl as unknown as { encodeTBS(): asn1js.Sequence }).encodeTBS().toBER());
  const { identifier: algorithm, value } = signWith(ca.key, crl.tbsView);
  crl.signatureAlgorithm = algorithm;
  crl.signatureValue = value;
  return new Uint8Array(crl.toSchema().toBER(false));
}

/** What a CRL says about itself (thisUpdate, nextUpdate, number), or null when it does not parse. */
export function crlInfo(der: Uint8Array): { thisUpdate: Date; nextUpdate: Date | null; number: bigint | null; issuer: pkijs.RelativeDistinguishedNames } | null {
  try {
    const crl = pkijs.CertificateRevocationList.fromBER(own(der));
    const ext = crl.crlExtensions?.extensions.find((e) => e.extnID === OID.crlNumber);
    let number: bigint | null = null;
    if (ext) {
      const parsed = asn1js.fromBER(own(ext.extnValue.valueBlock.valueHexView));
      if (parsed.result instanceof asn1js.Integer) number = parsed.result.toBigInt();
    }
    return { thisUpdate: crl.thisUpdate.value, nextUpdate: crl.nextUpdate?.value ?? null, number, issuer: crl.issuer };
  } catch {
    return null;
  }
}

/** Whether a CRL is signed by the CA certificate's key and names it as issuer. */
export function crlSignedBy(crlDer: Uint8Array, caDer: Uint8Array): boolean {
  try {
    const crl = pkijs.CertificateRevocationList.fromBER(own(crlDer));
    return namesEqual(crl.issuer, toPkijsCert(caDer).subject) && verifySignature(caDer, crl.signatureAlgorithm, crl.tbsView, crl.signatureValue);
  } catch {
    return false;
  }
}

// ───────────────────────────── CA side: OCSP ─────────────────────────────

export type OcspStatus = { status: 'good' } | { status: 'revoked'; revokedAt: Date; reason: RevocationReason } | { status: 'unknown' };

/** An OCSPResponse without a body: malformedRequest, internalError, tryLater, sigRequired, unauthorized. */
export function ocspErrorResponse(status: Exclude<OcspResponseStatus, 'successful'>): Uint8Array {
  return new Uint8Array(new pkijs.OCSPResponse({ responseStatus: new asn1js.Enumerated({ value: OCSP_RESPONSE_STATUS[status] }) }).toSchema().toBER(false));
}

/** The CA certificate a CertID names (issuer name hash and key hash), with the CertID's hash algorithm. */
function certIdNamesIssuer(id: pkijs.CertID, issuer: pkijs.Certificate, alsoName?: pkijs.RelativeDistinguishedNames): boolean {
  const h = CERT_ID_HASHES[id.hashAlgorithm.algorithmId];
  if (!h) return false;
  const nameHash = new Uint8Array(id.issuerNameHash.valueBlock.valueHexView);
  const keyHash = new Uint8Array(id.issuerKeyHash.valueBlock.valueHexView);
  const names = [nameDer(issuer.subject), ...(alsoName ? [nameDer(alsoName)] : [])];
  return bytesEqual(keyHash, hash(h, publicKeyBits(issuer))) && names.some((n) => bytesEqual(nameHash, hash(h, n)));
}

/**
 * Answers a DER OCSPRequest for the CA: one SingleResponse per requested CertID (good, revoked
 * with time and reason, or unknown when the CertID names another issuer or a serial this CA did
 * not issue), producedAt = thisUpdate = now, nextUpdate = now + `validityMs`, the request's nonce
 * echoed, signed by the CA key (responderID byKey, the CA certificate in `certs`). A request that
 * does not parse gets malformedRequest; `ca` null (key not available) gets tryLater.
 */
export function answerOcspRequest(requestDer: Uint8Array, o: { ca: CaKey | null; status: (serialHex: string) => OcspStatus; now?: Date; validityMs?: number }): Uint8Array {
  let request: pkijs.OCSPRequest;
  try {
    const parsed = asn1js.fromBER(own(requestDer));
    if (parsed.offset === -1 || parsed.offset !== requestDer.length) throw new Error('not DER');
    request = new pkijs.OCSPRequest({ schema: parsed.result });
    if (!request.tbsRequest.requestList.length) throw new Error('no request');
    for (const r of request.tbsRequest.requestList) if (!(r.reqCert.serialNumber instanceof asn1js.Integer)) throw new Error('no serial');
  } catch {
    return ocspErrorResponse('malformedRequest');
  }
  if (!o.ca) return ocspErrorResponse('tryLater');
  const now = wholeSeconds(o.now ?? new Date());
  const nextUpdate = new Date(now.getTime() + (o.validityMs ?? 86_400_000));
  const caCert = toPkijsCert(o.ca.certificate);
  const responses = request.tbsRequest.requestList.map((r) => {
    const id = r.reqCert;
    const s: OcspStatus = certIdNamesIssuer(id, caCert) ? o.status(integerHex(id.serialNumber)) : { status: 'unknown' };
    let certStatus: asn1js.BaseBlock;
    if (s.status === 'good') certStatus = implicitNull(0);
    else if (s.status === 'unknown') certStatus = implicitNull(2);
    else {
      const info: asn1js.BaseBlock[] = [new asn1js.GeneralizedTime({ valueDate: wholeSeconds(s.revokedAt) })];
      if (s.reason !== 'unspecified') info.push(new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 0 }, value: [new asn1js.Enumerated({ value: REASON_CODES[s.reason] })] }));
      certStatus = new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 1 }, value: info });
    }
    return new pkijs.SingleResponse({ certID: id, certStatus, thisUpdate: now, nextUpdate });
  });
  const nonce = request.tbsRequest.requestExtensions?.find((e) => e.extnID === OID.ocspNonce);
  const data = new pkijs.ResponseData({
    responderID: new asn1js.OctetString({ valueHex: hash('sha1', publicKeyBits(caCert)) }),
    producedAt: now,
    responses,
    ...(nonce ? { responseExtensions: [new pkijs.Extension({ extnID: OID.ocspNonce, extnValue: own(nonce.extnValue.valueBlock.valueHexView).buffer })] } : {}),
  });
  data.tbsView = new Uint8Array(data.toSchema(true).toBER(false));
  const { identifier, value } = signWith(o.ca.key, data.tbsView);
  const basic = new pkijs.BasicOCSPResponse({ tbsResponseData: data, signatureAlgorithm: identifier, signature: value, certs: [caCert] });
  const response = new pkijs.OCSPResponse({
    responseStatus: new asn1js.Enumerated({ value: OCSP_RESPONSE_STATUS.successful }),
    responseBytes: new pkijs.ResponseBytes({ responseType: OID.ocspBasic, response: new asn1js.OctetString({ valueHex: basic.toSchema().toBER(false) }) }),
  });
  return new Uint8Array(response.toSchema().toBER(false));
}

/** A DER OCSPRequest for one certificate: CertID with SHA-1 (what every responder supports, RFC 5019), optionally a nonce. */
export function buildOcspRequest(cert: Uint8Array, issuer: Uint8Array, opts: { nonce?: Uint8Array | null } = {}): Uint8Array {
  const c = toPkijsCert(cert);
  const i = toPkijsCert(issuer);
  const certID = new pkijs.CertID({
    hashAlgorithm: new pkijs.AlgorithmIdentifier({ algorithmId: OID.sha1, algorithmParams: new asn1js.Null() }),
    issuerNameHash: new asn1js.OctetString({ valueHex: hash('sha1', nameDer(i.subject)) }),
    issuerKeyHash: new asn1js.OctetString({ valueHex: hash('sha1', publicKeyBits(i)) }),
    serialNumber: c.serialNumber,
  });
  const tbs = new pkijs.TBSRequest({ requestList: [new pkijs.Request({ reqCert: certID })] });
  const nonce = opts.nonce === undefined ? new Uint8Array(randomBytes(16)) : opts.nonce;
  if (nonce) tbs.requestExtensions = [new pkijs.Extension({ extnID: OID.ocspNonce, extnValue: new asn1js.OctetString({ valueHex: own(nonce) }).toBER() })];
  return new Uint8Array(new pkijs.OCSPRequest({ tbsRequest: tbs }).toSchema(true).toBER(false));
}

// ───────────────────────────── relying party: URLs ─────────────────────────────

/** The revocation services a certificate names: OCSP responders (AIA id-ad-ocsp) and CRL distribution points, HTTP(S) URIs only (no LDAP). */
export function revocationUrls(der: Uint8Array): { ocsp: string[]; crl: string[] } {
  const out = { ocsp: [] as string[], crl: [] as string[] };
  const http = (u: unknown) => typeof u === 'string' && /^https?:\/\//i.test(u);
  let cert: pkijs.Certificate;
  try {
    cert = toPkijsCert(der);
  } catch {
    return out;
  }
  for (const e of cert.extensions ?? []) {
    try {
      if (e.extnID === OID.authorityInfoAccess && e.parsedValue instanceof pkijs.InfoAccess) {
        for (const d of e.parsedValue.accessDescriptions) if (d.accessMethod === OID.adOcsp && d.accessLocation.type === 6 && http(d.accessLocation.value)) out.ocsp.push(String(d.accessLocation.value));
      }
      if (e.extnID === OID.crlDistributionPoints && e.parsedValue instanceof pkijs.CRLDistributionPoints) {
        for (const p of e.parsedValue.distributionPoints) {
          const names = Array.isArray(p.distributionPoint) ? p.distributionPoint : [];
          for (const n of names) if (n.type === 6 && http(n.value)) out.crl.push(String(n.value));
        }
      }
    } catch {
      /* an extension that does not parse names nothing */
    }
  }
  return out;
}

// ───────────────────────────── relying party: judging evidence ─────────────────────────────

export interface RevocationMaterial {
  /** DER CRLs. */
  crls: Uint8Array[];
  /** DER OCSPResponses (the full OCSPResponse, as in a PDF DSS /OCSPs). */
  ocsps: Uint8Array[];
}

export interface RevocationFinding {
  status: 'good' | 'revoked' | 'unknown';
  source: 'ocsp' | 'crl' | null;
  /** ISO; set when revoked. */
  revokedAt?: string;
  /** CRLReason name when revoked. */
  reason?: string;
  /** ISO: thisUpdate of the CRL or of the OCSP response used. */
  issuedAt?: string;
  /** English, names why. */
  detail: string;
}

/** One piece of evidence that counts: correctly signed and about this certificate. */
interface Evidence {
  source: 'ocsp' | 'crl';
  status: 'good' | 'revoked' | 'unknown';
  /** thisUpdate. */
  issued: Date;
  revokedAt?: Date;
  reason?: string;
  describe: string;
}

interface Subject {
  cert: pkijs.Certificate;
  der: Uint8Array;
  issuer: pkijs.Certificate;
  issuerDer: Uint8Array;
  serial: string;
}

/** OCSP: a response about this certificate, signed by its issuer or by a responder the issuer certified for OCSP signing. */
function ocspEvidence(der: Uint8Array, s: Subject): { evidence: Evidence[]; problem?: string; concerns: boolean } {
  let basic: pkijs.BasicOCSPResponse;
  try {
    const response = pkijs.OCSPResponse.fromBER(own(der));
    const status = response.responseStatus.valueBlock.valueDec;
    if (status !== 0) return { evidence: [], concerns: false, problem: `an OCSP response has status ${statusName(status)}` };
    if (!response.responseBytes || response.responseBytes.responseType !== OID.ocspBasic) return { evidence: [], concerns: false, problem: 'an OCSP response is not a basic OCSP response' };
    basic = pkijs.BasicOCSPResponse.fromBER(own(response.responseBytes.response.valueBlock.valueHexView));
  } catch (e) {
    return { evidence: [], concerns: false, problem: `an OCSP response does not parse (${errorMessage(e)})` };
  }
  const mine = basic.tbsResponseData.responses.filter((r) => certIdNamesIssuer(r.certID, s.issuer, s.cert.issuer) && serialKey(r.certID.serialNumber) === s.serial);
  if (!mine.length) return { evidence: [], concerns: false };
  const producedAt = basic.tbsResponseData.producedAt;
  const tbs = basic.tbsResponseData.tbsView;
  let responder: string | null = null;
  if (verifySignature(s.issuerDer, basic.signatureAlgorithm, tbs, basic.signature)) responder = 'the issuer';
  else {
    for (const c of basic.certs ?? []) {
      const cDer = new Uint8Array(c.toSchema(true).toBER(false));
      const eku = c.extensions?.find((e) => e.extnID === OID.extKeyUsage)?.parsedValue as pkijs.ExtKeyUsage | undefined;
      const delegated =
        namesEqual(c.issuer, s.issuer.subject) &&
        verifySignature(s.issuerDer, c.signatureAlgorithm, new Uint8Array(c.tbsView), c.signatureValue) &&
        !!eku?.keyPurposes.includes(OID.kpOcspSigning) &&
        producedAt >= c.notBefore.value &&
        producedAt <= c.notAfter.value;
      if (delegated && verifySignature(cDer, basic.signatureAlgorithm, tbs, basic.signature)) {
        responder = `responder ${subjectText(cDer)}`;
        break;
      }
    }
  }
  if (!responder) return { evidence: [], concerns: true, problem: `OCSP response signature does not verify (produced ${iso(producedAt)}; signed neither by the issuer nor by a responder it certified for OCSP signing)` };
  const evidence = mine.map((r): Evidence => {
    const base = { source: 'ocsp' as const, issued: r.thisUpdate, describe: `OCSP response by ${responder} produced ${iso(producedAt)} (thisUpdate ${iso(r.thisUpdate)})` };
    const tag = (r.certStatus as asn1js.BaseBlock).idBlock;
    if (tag.tagClass === 3 && tag.tagNumber === 0) return { ...base, status: 'good' };
    if (tag.tagClass === 3 && tag.tagNumber === 1) {
      const parts = (r.certStatus as asn1js.Constructed).valueBlock.value ?? [];
      const time = parts[0] as asn1js.GeneralizedTime | undefined;
      // The RevokedInfo is [1] IMPLICIT: asn1js reads its GeneralizedTime as a plain primitive when the schema does not say so.
      const revokedAt = time instanceof asn1js.GeneralizedTime ? time.toDate() : parseGeneralizedTime(time);
      const reasonNode = parts[1] as asn1js.Constructed | undefined;
      const enumerated = reasonNode?.valueBlock?.value?.[0] as asn1js.Enumerated | undefined;
      const reason = enumerated instanceof asn1js.Enumerated ? reasonName(enumerated.valueBlock.valueDec) : 'unspecified';
      return { ...base, status: 'revoked', revokedAt: revokedAt ?? undefined, reason };
    }
    return { ...base, status: 'unknown' };
  });
  return { evidence, concerns: true };
}

function parseGeneralizedTime(node: asn1js.BaseBlock | undefined): Date | null {
  if (!node) return null;
  try {
    const text = Buffer.from((node as asn1js.Primitive).valueBlock.valueHexView).toString('latin1');
    const g = new asn1js.GeneralizedTime({ value: text });
    return g.toDate();
  } catch {
    return null;
  }
}

/** The Issuing Distribution Point's scope: what a CRL with it does not cover for this certificate, or null. */
function idpProblem(ext: pkijs.Extension, certIsCa: boolean): string | null {
  const parsed = asn1js.fromBER(own(ext.extnValue.valueBlock.valueHexView));
  if (!(parsed.result instanceof asn1js.Sequence)) return 'its issuing distribution point does not parse';
  for (const item of parsed.result.valueBlock.value) {
    if (item.idBlock.tagClass !== 3) continue;
    const on = item.idBlock.tagNumber === 3 || Buffer.from((item as asn1js.Primitive).valueBlock.valueHexView ?? []).some((b) => b !== 0);
    if (!on) continue;
    switch (item.idBlock.tagNumber) {
      case 1:
        if (certIsCa) return 'it covers end-entity certificates only';
        break;
      case 2:
        if (!certIsCa) return 'it covers CA certificates only';
        break;
      case 3:
        return 'it covers only some revocation reasons';
      case 4:
        return 'it is an indirect CRL';
      case 5:
        return 'it covers attribute certificates only';
    }
  }
  return null;
}

const KNOWN_CRL_EXTENSIONS = new Set<string>([OID.crlNumber, OID.authorityKeyIdentifier, OID.issuingDistributionPoint, OID.expiredCertsOnCrl, OID.deltaCrlIndicator, '1.3.6.1.5.5.7.1.1', '2.5.29.46']);

/** CRL: a complete CRL by the certificate's issuer, signed with the issuer's key. */
function crlEvidence(der: Uint8Array, s: Subject): { evidence: Evidence[]; problem?: string; concerns: boolean } {
  let crl: pkijs.CertificateRevocationList;
  try {
    crl = pkijs.CertificateRevocationList.fromBER(own(der));
  } catch (e) {
    return { evidence: [], concerns: false, problem: `a CRL does not parse (${errorMessage(e)})` };
  }
  if (!namesEqual(crl.issuer, s.cert.issuer)) return { evidence: [], concerns: false };
  const thisUpdate = crl.thisUpdate.value;
  const what = `CRL of ${iso(thisUpdate)}`;
  if (!verifySignature(s.issuerDer, crl.signatureAlgorithm, crl.tbsView, crl.signatureValue)) return { evidence: [], concerns: true, problem: `the ${what} does not verify with the issuer's key` };
  const exts = crl.crlExtensions?.extensions ?? [];
  if (exts.some((e) => e.extnID === OID.deltaCrlIndicator)) return { evidence: [], concerns: true, problem: `the ${what} is a delta CRL, which alone does not give a status` };
  const unknown = exts.find((e) => e.critical && !KNOWN_CRL_EXTENSIONS.has(e.extnID));
  if (unknown) return { evidence: [], concerns: true, problem: `the ${what} carries an unknown critical extension (${unknown.extnID})` };
  const idp = exts.find((e) => e.extnID === OID.issuingDistributionPoint);
  const isCa = s.cert.extensions?.some((e) => e.extnID === '2.5.29.19' && (e.parsedValue as pkijs.BasicConstraints | undefined)?.cA) ?? false;
  const scope = idp ? idpProblem(idp, isCa) : null;
  if (scope) return { evidence: [], concerns: true, problem: `the ${what} does not cover the certificate: ${scope}` };
  const entry = crl.revokedCertificates?.find((r) => serialKey(r.userCertificate) === s.serial);
  const base = { source: 'crl' as const, issued: thisUpdate, describe: what };
  if (entry) {
    const code = entry.crlEntryExtensions?.extensions.find((e) => e.extnID === OID.reasonCode);
    let reason = 'unspecified';
    if (code) {
      const parsed = asn1js.fromBER(own(code.extnValue.valueBlock.valueHexView));
      if (parsed.result instanceof asn1js.Enumerated) reason = reasonName(parsed.result.valueBlock.valueDec);
    }
    if (reason === 'removeFromCRL') return { evidence: [], concerns: true };
    return { evidence: [{ ...base, status: 'revoked', revokedAt: entry.revocationDate.value, reason }], concerns: true };
  }
  const notAfter = s.cert.notAfter.value;
  if (thisUpdate > notAfter && !exts.some((e) => e.extnID === OID.expiredCertsOnCrl)) {
    return { evidence: [], concerns: true, problem: `the ${what} was issued after the certificate expired (${iso(notAfter)}) and does not say it keeps expired certificates, so not being listed proves nothing` };
  }
  return { evidence: [{ ...base, status: 'good' }], concerns: true };
}

/**
 * The status of `cert` (DER) issued by `issuer` (DER), from `material`, as evidence that it was
 * not revoked at `at`. Only evidence that is correctly signed and about this certificate counts.
 * 'revoked' when any of it lists the certificate as revoked (a certificateHold lifted by newer
 * evidence excepted); the caller compares revokedAt with its time of proof. 'good' only from
 * evidence issued (thisUpdate, to the second) at or after `at`; OCSP preferred over a CRL, the newest first.
 */
export function checkRevocation(cert: Uint8Array, issuer: Uint8Array, material: RevocationMaterial, at: Date): RevocationFinding {
  let s: Subject;
  try {
    const c = toPkijsCert(cert);
    s = { cert: c, der: cert, issuer: toPkijsCert(issuer), issuerDer: issuer, serial: serialKey(c.serialNumber) };
  } catch (e) {
    return { status: 'unknown', source: null, detail: `the certificate or its issuer does not parse: ${errorMessage(e)}` };
  }
  const serialText = integerHex(s.cert.serialNumber);
  const evidence: Evidence[] = [];
  const problems: string[] = [];
  let concerning = 0;
  for (const [list, judge] of [
    [material.ocsps, ocspEvidence],
    [material.crls, crlEvidence],
  ] as const) {
    for (const der of list) {
      const r = judge(der, s);
      evidence.push(...r.evidence);
      if (r.concerns) concerning++;
      if (r.problem && r.concerns) problems.push(r.problem);
    }
  }
  const newestFirst = (a: Evidence, b: Evidence) => b.issued.getTime() - a.issued.getTime();
  const goods = evidence.filter((e) => e.status === 'good').sort(newestFirst);
  // A hold is lifted when newer evidence says good; any other revocation is final.
  const revoked = evidence
    .filter((e) => e.status === 'revoked')
    .filter((e) => e.reason !== 'certificateHold' || !goods.some((g) => g.issued > e.issued))
    .sort((a, b) => (a.revokedAt?.getTime() ?? 0) - (b.revokedAt?.getTime() ?? 0));
  const final = revoked.find((e) => e.reason !== 'certificateHold') ?? revoked[0];
  if (final) {
    return {
      status: 'revoked',
      source: final.source,
      revokedAt: final.revokedAt ? final.revokedAt.toISOString() : undefined,
      reason: final.reason,
      issuedAt: final.issued.toISOString(),
      detail: `serial ${serialText} is revoked since ${final.revokedAt ? iso(final.revokedAt) : '(no time given)'} (${final.reason}), according to the ${final.describe}`,
    };
  }
  const threshold = wholeSeconds(at);
  const fresh = goods.filter((g) => g.issued >= threshold);
  const best = fresh.find((g) => g.source === 'ocsp') ?? fresh[0];
  if (best) return { status: 'good', source: best.source, issuedAt: best.issued.toISOString(), detail: `serial ${serialText} is not revoked according to the ${best.describe}` };

  const details: string[] = [];
  const newestOcsp = goods.find((g) => g.source === 'ocsp');
  const newestCrl = goods.find((g) => g.source === 'crl');
  if (newestOcsp) details.push(`the newest OCSP response (thisUpdate ${iso(newestOcsp.issued)}) is older than ${iso(at)}`);
  if (newestCrl) details.push(`the newest CRL (thisUpdate ${iso(newestCrl.issued)}) is older than ${iso(at)}`);
  const unknowns = evidence.filter((e) => e.status === 'unknown');
  if (unknowns.length) details.push(`the OCSP responder does not know serial ${serialText} (${unknowns[0]!.describe})`);
  details.push(...new Set(problems));
  if (!concerning) details.unshift(`no OCSP response or CRL for serial ${serialText} of ${subjectText(issuer)}`);
  return { status: 'unknown', source: null, detail: details.join('; ') };
}

// ───────────────────────────── relying party: fetching ─────────────────────────────

export interface FetchAttempt {
  url: string;
  kind: 'ocsp' | 'crl';
  ok: boolean;
  error?: string;
  cached?: boolean;
}

/**
 * Our own CA, answered in-process (KeyStore.localRevocation()): for URLs under `baseUrl`, and for
 * every certificate the CA certificate issued, whatever URL it names (an instance whose ZV_BASE_URL
 * changed, certificates issued before they named any).
 */
export interface LocalRevocation {
  baseUrl: string;
  ocsp(request: Uint8Array): Promise<Uint8Array>;
  crl(): Promise<Uint8Array>;
  /** The CA certificate (DER), or null before there is one. */
  caCertificate?(): Uint8Array | null;
}

export interface RevocationFetcherOptions {
  /** Where fetched CRLs and OCSP responses are kept until their nextUpdate (none: no cache). */
  cacheDir?: string;
  /** Per request (default ZV_REVOCATION_TIMEOUT_MS, else 5 000). */
  timeoutMs?: number;
  local?: LocalRevocation;
  fetch?: typeof fetch;
}

/** The @libpdf/core RevocationProvider shape (kept structural so this module does not load the PDF library). */
export interface RevocationProviderLike {
  getOCSP(cert: Uint8Array, issuer: Uint8Array): Promise<Uint8Array | null>;
  getCRL(cert: Uint8Array): Promise<Uint8Array | null>;
}

const MAX_OCSP_BYTES = 1 << 20;
const MAX_CRL_BYTES = 32 << 20;

export function revocationTimeoutMs(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.ZV_REVOCATION_TIMEOUT_MS;
  const n = raw ? Number(raw) : NaN;
  return Number.isInteger(n) && n > 0 ? n : 5_000;
}

/** thisUpdate / nextUpdate of the response's SingleResponse for `serial`, and whether it is a signed answer about it. */
function ocspTimes(der: Uint8Array, s: Subject): { thisUpdate: Date; nextUpdate: Date | null } | null {
  try {
    const response = pkijs.OCSPResponse.fromBER(own(der));
    if (response.responseStatus.valueBlock.valueDec !== 0 || response.responseBytes?.responseType !== OID.ocspBasic) return null;
    const basic = pkijs.BasicOCSPResponse.fromBER(own(response.responseBytes.response.valueBlock.valueHexView));
    const r = basic.tbsResponseData.responses.find((x) => certIdNamesIssuer(x.certID, s.issuer, s.cert.issuer) && serialKey(x.certID.serialNumber) === s.serial);
    return r ? { thisUpdate: r.thisUpdate, nextUpdate: r.nextUpdate ?? null } : null;
  } catch {
    return null;
  }
}

/**
 * Gets revocation data for a certificate from the services it names: OCSP (AIA) first, the CRL
 * distribution points when no OCSP responder gives a usable answer. Our own CA (`local`: the
 * certificates it issued, and URLs under its baseUrl) is answered in-process. Fetched CRLs and OCSP responses are cached in
 * `cacheDir` until their nextUpdate; failures are not cached. Also a @libpdf/core RevocationProvider.
 */
export class RevocationFetcher implements RevocationProviderLike {
  private readonly timeoutMs: number;
  private readonly fetchImpl: typeof fetch;

  constructor(private readonly opts: RevocationFetcherOptions = {}) {
    this.timeoutMs = opts.timeoutMs ?? revocationTimeoutMs();
    this.fetchImpl = opts.fetch ?? fetch;
  }

  /** RevocationProvider.getOCSP: the first usable OCSP response, or null. */
  async getOCSP(cert: Uint8Array, issuer: Uint8Array): Promise<Uint8Array | null> {
    return (await this.ocsp(cert, issuer, [], undefined))[0] ?? null;
  }

  /** RevocationProvider.getCRL: the first CRL from the certificate's distribution points, or null. */
  async getCRL(cert: Uint8Array): Promise<Uint8Array | null> {
    return (await this.crl(cert, null, [], undefined))[0] ?? null;
  }

  /**
   * OCSP first, the CRL when OCSP is down or unusable; with what was tried. `after`: cached data
   * issued before it is not reused (fetched anew; kept only as a fallback when that fails), e.g.
   * the time a signature was made, for evidence that must postdate it.
   */
  async material(cert: Uint8Array, issuer: Uint8Array, opts: { after?: Date } = {}): Promise<RevocationMaterial & { attempts: FetchAttempt[] }> {
    const attempts: FetchAttempt[] = [];
    const ocsps = await this.ocsp(cert, issuer, attempts, opts.after);
    const crls = ocsps.length ? [] : await this.crl(cert, issuer, attempts, opts.after);
    return { crls, ocsps, attempts };
  }

  /** A RevocationProvider whose answers postdate `after` where a fresh one can be had (see material). */
  provider(opts: { after?: Date } = {}): RevocationProviderLike {
    return {
      getOCSP: async (cert, issuer) => (await this.ocsp(cert, issuer, [], opts.after))[0] ?? null,
      getCRL: async (cert) => (await this.crl(cert, null, [], opts.after))[0] ?? null,
    };
  }

  private subject(cert: Uint8Array, issuer: Uint8Array): Subject | null {
    try {
      const c = toPkijsCert(cert);
      return { cert: c, der: cert, issuer: toPkijsCert(issuer), issuerDer: issuer, serial: serialKey(c.serialNumber) };
    } catch {
      return null;
    }
  }

  private async ocsp(cert: Uint8Array, issuer: Uint8Array, attempts: FetchAttempt[], after: Date | undefined): Promise<Uint8Array[]> {
    const s = this.subject(cert, issuer);
    if (!s) return [];
    const keyHash = Buffer.from(hash('sha1', publicKeyBits(s.issuer))).toString('hex');
    for (const { url, local } of this.targets(cert, 'ocsp')) {
      const cacheName = `ocsp-${sha256Hex(`${url}\n${keyHash}\n${s.serial}`).slice(0, 40)}.der`;
      const cached = local
        ? null
        : this.readCache(cacheName, (der) => {
            const t = ocspTimes(der, s);
            return t && t.nextUpdate ? { issued: t.thisUpdate, nextUpdate: t.nextUpdate } : null;
          });
      if (cached && (!after || cached.issued >= wholeSeconds(after))) {
        attempts.push({ url, kind: 'ocsp', ok: true, cached: true });
        return [cached.der];
      }
      try {
        const nonce = new Uint8Array(randomBytes(16));
        const request = buildOcspRequest(cert, issuer, { nonce });
        const der = local ? await this.opts.local!.ocsp(request) : await this.http(url, { method: 'POST', body: request, type: 'application/ocsp-request', accept: 'application/ocsp-response', limit: MAX_OCSP_BYTES });
        const problem = this.ocspProblem(der, s, nonce);
        if (problem) {
          attempts.push({ url, kind: 'ocsp', ok: false, error: problem });
          continue;
        }
        attempts.push({ url, kind: 'ocsp', ok: true });
        const t = ocspTimes(der, s);
        if (t?.nextUpdate && !local) this.writeCache(cacheName, der);
        return [der];
      } catch (e) {
        attempts.push({ url, kind: 'ocsp', ok: false, error: errorMessage(e) });
      }
    }
    // Nothing fresh: a cached answer that predates `after` is still better than none (the checker decides what it proves).
    for (const { url, local } of this.targets(cert, 'ocsp')) {
      if (local) continue;
      const cacheName = `ocsp-${sha256Hex(`${url}\n${keyHash}\n${s.serial}`).slice(0, 40)}.der`;
      const cached = this.readCache(cacheName, (der) => {
        const t = ocspTimes(der, s);
        return t && t.nextUpdate ? { issued: t.thisUpdate, nextUpdate: t.nextUpdate } : null;
      });
      if (cached) {
        attempts.push({ url, kind: 'ocsp', ok: true, cached: true });
        return [cached.der];
      }
    }
    return [];
  }

  /** Why an OCSP answer cannot be used (not successful, not about this certificate, signature, nonce), or null. */
  private ocspProblem(der: Uint8Array, s: Subject, nonce: Uint8Array): string | null {
    let response: pkijs.OCSPResponse;
    try {
      response = pkijs.OCSPResponse.fromBER(own(der));
    } catch {
      return 'the answer is not an OCSP response';
    }
    const status = response.responseStatus.valueBlock.valueDec;
    if (status !== 0) return `the responder answered ${statusName(status)}`;
    const judged = ocspEvidence(der, s);
    if (!judged.concerns) return judged.problem ?? 'the response does not answer for this certificate';
    if (!judged.evidence.length) return judged.problem ?? 'the response gives no status';
    if (judged.evidence.every((e) => e.status === 'unknown')) return 'the responder does not know the certificate';
    try {
      const basic = pkijs.BasicOCSPResponse.fromBER(own(response.responseBytes!.response.valueBlock.valueHexView));
      const echoed = basic.tbsResponseData.responseExtensions?.find((e) => e.extnID === OID.ocspNonce);
      const sent = new Uint8Array(new asn1js.OctetString({ valueHex: own(nonce) }).toBER());
      // A responder may leave the nonce out (RFC 5019 pre-produced responses); one it echoes must be ours.
      if (echoed && !bytesEqual(new Uint8Array(echoed.extnValue.valueBlock.valueHexView), sent)) return 'the response carries another nonce than the request (replayed?)';
    } catch {
      return 'the response does not parse';
    }
    return null;
  }

  private async crl(cert: Uint8Array, issuer: Uint8Array | null, attempts: FetchAttempt[], after: Date | undefined): Promise<Uint8Array[]> {
    const s = issuer ? this.subject(cert, issuer) : null;
    const targets = this.targets(cert, 'crl');
    const cacheNameOf = (url: string) => `crl-${sha256Hex(url).slice(0, 40)}.der`;
    const times = (der: Uint8Array) => {
      const info = crlInfo(der);
      return info && info.nextUpdate ? { issued: info.thisUpdate, nextUpdate: info.nextUpdate } : null;
    };
    for (const { url, local } of targets) {
      const cached = local ? null : this.readCache(cacheNameOf(url), times);
      if (cached && (!after || cached.issued >= wholeSeconds(after))) {
        attempts.push({ url, kind: 'crl', ok: true, cached: true });
        return [cached.der];
      }
      try {
        const der = local ? await this.opts.local!.crl() : await this.http(url, { method: 'GET', accept: 'application/pkix-crl', limit: MAX_CRL_BYTES });
        const info = crlInfo(der);
        if (!info) {
          attempts.push({ url, kind: 'crl', ok: false, error: 'the answer is not a CRL' });
          continue;
        }
        if (s) {
          const judged = crlEvidence(der, s);
          if (!judged.concerns || judged.problem) {
            attempts.push({ url, kind: 'crl', ok: false, error: judged.problem ?? "the CRL is not by the certificate's issuer" });
            continue;
          }
        }
        attempts.push({ url, kind: 'crl', ok: true });
        if (info.nextUpdate && !local) this.writeCache(cacheNameOf(url), der);
        return [der];
      } catch (e) {
        attempts.push({ url, kind: 'crl', ok: false, error: errorMessage(e) });
      }
    }
    for (const { url, local } of targets) {
      const cached = local ? null : this.readCache(cacheNameOf(url), times);
      if (cached) {
        attempts.push({ url, kind: 'crl', ok: true, cached: true });
        return [cached.der];
      }
    }
    return [];
  }

  /**
   * Where to ask: a certificate of our own CA in-process (once, under the URL it names, else ours),
   * others at the URLs they name (those under local.baseUrl in-process too).
   */
  private targets(cert: Uint8Array, kind: 'ocsp' | 'crl'): Array<{ url: string; local: boolean }> {
    const path = kind === 'ocsp' ? '/pki/ocsp' : '/pki/ca.crl';
    const urls = revocationUrls(cert)[kind];
    if (this.issuedByLocal(cert)) return [{ url: urls.find((u) => this.isLocal(u, path)) ?? urls[0] ?? `${this.opts.local!.baseUrl.replace(/\/+$/, '')}${path}`, local: true }];
    return urls.map((url) => ({ url, local: this.isLocal(url, path) }));
  }

  private issuedByLocal(cert: Uint8Array): boolean {
    const ca = this.opts.local?.caCertificate?.();
    if (!ca) return false;
    try {
      const c = new X509Certificate(cert);
      const i = new X509Certificate(ca);
      return c.checkIssued(i) && c.verify(i.publicKey);
    } catch {
      return false;
    }
  }

  private isLocal(url: string, path: string): boolean {
    const base = this.opts.local?.baseUrl.replace(/\/+$/, '');
    return !!base && url === `${base}${path}`;
  }

  private async http(url: string, o: { method: 'GET' | 'POST'; body?: Uint8Array; type?: string; accept: string; limit: number }): Promise<Uint8Array> {
    let res: Response;
    try {
      res = await this.fetchImpl(url, {
        method: o.method,
        headers: { accept: o.accept, ...(o.type ? { 'content-type': o.type } : {}) },
        ...(o.body ? { body: Buffer.from(o.body) } : {}),
        signal: AbortSignal.timeout(this.timeoutMs),
        redirect: 'follow',
      });
    } catch (e) {
      const err = e as Error & { cause?: { code?: string; message?: string } };
      if (err.name === 'TimeoutError') throw new Error(`no answer within ${this.timeoutMs} ms`);
      throw new Error(err.cause?.code ?? err.cause?.message ?? err.message);
    }
    if (!res.ok) throw new Error(`HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`);
    const length = Number(res.headers.get('content-length') ?? NaN);
    if (length > o.limit) throw new Error(`the answer is too large (${length} bytes)`);
    const body = new Uint8Array(await res.arrayBuffer());
    if (body.length > o.limit) throw new Error(`the answer is too large (${body.length} bytes)`);
    return body;
  }

  private readCache(name: string, times: (der: Uint8Array) => { issued: Date; nextUpdate: Date } | null): { der: Uint8Array; issued: Date } | null {
    if (!this.opts.cacheDir) return null;
    const path = join(this.opts.cacheDir, name);
    if (!existsSync(path)) return null;
    try {
      const der = new Uint8Array(readFileSync(path));
      const t = times(der);
      if (!t || t.nextUpdate <= new Date()) return null;
      return { der, issued: t.issued };
    } catch {
      return null;
    }
  }

  private writeCache(name: string, der: Uint8Array): void {
    if (!this.opts.cacheDir) return;
    try {
      mkdirSync(this.opts.cacheDir, { recursive: true });
      writeFilesAtomically([{ path: join(this.opts.cacheDir, name), bytes: der }]);
    } catch {
      /* a cache that cannot be written only costs a fetch next time */
    }
  }
}
