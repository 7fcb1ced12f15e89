/**
 * What a signer certificate says and whether it chains to a trust anchor:
 *
 *   - path validation by pkijs' CertificateChainValidationEngine (signatures, validity at the
 *     time of proof, name chaining, CA basic constraints and keyCertSign, unknown critical
 *     extensions). pkijs parses but does not enforce pathLenConstraint, so that is checked on the
 *     path it returns;
 *   - the leaf's purpose: keyUsage (digitalSignature or nonRepudiation) and extendedKeyUsage (a
 *     time-stamping certificate must not sign agreements);
 *   - qcStatements (ETSI EN 319 412-5): QcCompliance, QcSSCD, QcType;
 *   - the subject's names, for binding a signature to the planned signatory.
 */
import { webcrypto, X509Certificate } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';

pkijs.setEngine('node-webcrypto', new pkijs.CryptoEngine({ name: 'node-webcrypto', crypto: webcrypto as unknown as Crypto }));

export const CERT_OID = {
  qcStatements: '1.3.6.1.5.5.7.1.3',
  qcCompliance: '0.4.0.1862.1.1',
  qcSSCD: '0.4.0.1862.1.4',
  qcType: '0.4.0.1862.1.6',
  qcTypeEsign: '0.4.0.1862.1.6.1',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  basicConstraints: '2.5.29.19',
  kpTimeStamping: '1.3.6.1.5.5.7.3.8',
  commonName: '2.5.4.3',
  givenName: '2.5.4.42',
  surname: '2.5.4.4',
  organisation: '2.5.4.10',
} as const;

const toPkijs = (der: Uint8Array) => pkijs.Certificate.fromBER(Uint8Array.from(der));

/** Extensions this validation understands (pkijs' own registry misses some, keyUsage among them). */
const KNOWN_EXTENSIONS = new Set([
  '2.5.29.9', '2.5.29.14', '2.5.29.15', '2.5.29.16', '2.5.29.17', '2.5.29.18', '2.5.29.19', '2.5.29.30', '2.5.29.31', '2.5.29.32',
  '2.5.29.33', '2.5.29.35', '2.5.29.36', '2.5.29.37', '2.5.29.46', '2.5.29.54', '1.3.6.1.5.5.7.1.1', '1.3.6.1.5.5.7.1.3', '1.3.6.1.5.5.7.48.1.5',
]);

export interface PathResult {
  result: 'trusted' | 'untrusted' | 'broken';
  /** The anchor the path ends at (DER), when trusted. */
  anchor: Uint8Array | null;
  /** Leaf first, anchor last. */
  path: Uint8Array[];
  /** ETSI EN 319 102-1 sub-indication when not trusted. */
  subIndication: 'NO_CERTIFICATE_CHAIN_FOUND' | 'OUT_OF_BOUNDS_NO_POE' | 'CHAIN_CONSTRAINTS_FAILURE' | 'SIG_CRYPTO_FAILURE' | null;
  detail: string | null;
}

/** Validates `leaf` against `anchors` at `at`, with `pool` as candidate intermediates. */
export async function validatePath(leaf: Uint8Array, pool: Uint8Array[], anchors: Uint8Array[], at: Date): Promise<PathResult> {
  const leafCert = new X509Certificate(leaf);
  const subject = leafCert.subject.split('\n').join(', ');
  if (!anchors.length) return { result: 'untrusted', anchor: null, path: [], subIndication: 'NO_CERTIFICATE_CHAIN_FOUND', detail: `no trust anchor configured for ${subject}` };
  // An anchor that is the signer's own certificate: trusted as such (rare, but allowed by RFC 5280 6.1).
  const self = anchors.find((a) => Buffer.from(a).equals(Buffer.from(leaf)));
  if (self) {
    const inTime = at >= new Date(leafCert.validFrom) && at <= new Date(leafCert.validTo);
    return inTime ? { result: 'trusted', anchor: self, path: [leaf], subIndication: null, detail: null } : { result: 'broken', anchor: self, path: [leaf], subIndication: 'OUT_OF_BOUNDS_NO_POE', detail: `the certificate of ${subject} was not valid at ${at.toISOString()}` };
  }
  // An issuer by name whose key did not sign the certificate: a forged or swapped certificate, not an unknown CA.
  const named = [...anchors, ...pool].map((d) => new X509Certificate(d)).filter((c) => c.subject === leafCert.issuer && c.fingerprint256 !== leafCert.fingerprint256);
  if (named.length && !named.some((c) => leafCert.verify(c.publicKey))) {
    return { result: 'broken', anchor: null, path: [], subIndication: 'SIG_CRYPTO_FAILURE', detail: `the certificate of ${subject} is not signed by its issuer` };
  }
  let engineResult: pkijs.CertificateChainValidationEngineVerifyResult;
  try {
    const engine = new pkijs.CertificateChainValidationEngine({
      trustedCerts: anchors.map(toPkijs),
      // pkijs validates the LAST certificate of `certs`; the others are candidate intermediates.
      certs: [...pool.filter((p) => !Buffer.from(p).equals(Buffer.from(leaf))).map(toPkijs), toPkijs(leaf)],
      checkDate: at,
    });
    engineResult = await engine.verify();
  } catch (e) {
    return { result: 'broken', anchor: null, path: [], subIndication: 'CHAIN_CONSTRAINTS_FAILURE', detail: `certificate path of ${subject} cannot be validated: ${(e as Error).message}` };
  }
  if (!engineResult.result) {
    const msg = engineResult.resultMessage || String(engineResult.error ?? '');
    // pkijs result codes: 8 = validity, 10 = name chaining, 1/2/11 … = no path; signature failures name it.
    if (engineResult.resultCode === 8) return { result: 'broken', anchor: null, path: [], subIndication: 'OUT_OF_BOUNDS_NO_POE', detail: `a certificate of the path of ${subject} was not valid at ${at.toISOString()}` };
    if (/signature/i.test(msg) && !/No valid certificate paths found/i.test(msg)) return { result: 'broken', anchor: null, path: [], subIndication: 'SIG_CRYPTO_FAILURE', detail: `certificate path of ${subject}: ${msg}` };
    if (/keyCertSign|BasicConstraints|critical|intermediate/i.test(msg)) return { result: 'broken', anchor: null, path: [], subIndication: 'CHAIN_CONSTRAINTS_FAILURE', detail: `certificate path of ${subject}: ${msg}` };
    return { result: 'untrusted', anchor: null, path: [], subIndication: 'NO_CERTIFICATE_CHAIN_FOUND', detail: `no trusted issuer for ${leafCert.issuer.split('\n').join(', ')} (${msg})` };
  }
  const path = (engineResult.certificatePath ?? []).map((c) => new Uint8Array(c.toSchema(true).toBER(false)));
  // pathLenConstraint (RFC 5280 6.1.4 (m)): a CA may have at most that many non-self-issued CAs below it in the path.
  for (let i = 1; i < path.length; i++) {
    const limit = pathLength(path[i]!);
    if (limit === null) continue;
    const below = path.slice(1, i).filter((c) => !selfIssued(c)).length;
    if (below > limit) return { result: 'broken', anchor: null, path, subIndication: 'CHAIN_CONSTRAINTS_FAILURE', detail: `${new X509Certificate(path[i]!).subject.split('\n').join(', ')} allows ${limit} intermediate CA(s) below it, the path has ${below}` };
  }
  // RFC 5280 4.2: a certificate with a critical extension the validator does not recognise is
  // rejected. pkijs does not: it only fails on unparseable ones, so we look its registry up ourselves.
  for (const der of path.slice(0, -1)) {
    const unknown = toPkijs(der).extensions?.find((e) => e.critical && !KNOWN_EXTENSIONS.has(e.extnID) && !pkijs.ExtensionValueFactory.find(e.extnID));
    if (unknown) return { result: 'broken', anchor: null, path, subIndication: 'CHAIN_CONSTRAINTS_FAILURE', detail: `${new X509Certificate(der).subject.split('\n').join(', ')} carries an unknown critical extension (${unknown.extnID})` };
  }
  const anchor = path.at(-1) ?? null;
  return { result: 'trusted', anchor, path, subIndication: null, detail: null };
}

function extension(der: Uint8Array, oid: string): pkijs.Extension | undefined {
  return toPkijs(der).extensions?.find((e) => e.extnID === oid);
}

/** pathLenConstraint of a CA certificate, or null when it sets none (read from the DER: pkijs defaults it to 0). */
function pathLength(der: Uint8Array): number | null {
  const ext = extension(der, CERT_OID.basicConstraints);
  if (!ext) return null;
  const parsed = asn1js.fromBER(Uint8Array.from(ext.extnValue.valueBlock.valueHexView));
  if (parsed.offset === -1 || !(parsed.result instanceof asn1js.Sequence)) return null;
  const items = parsed.result.valueBlock.value;
  const ca = items.find((i) => i instanceof asn1js.Boolean) as asn1js.Boolean | undefined;
  const len = items.find((i) => i instanceof asn1js.Integer) as asn1js.Integer | undefined;
  return ca?.valueBlock.value && len ? len.valueBlock.valueDec : null;
}

function selfIssued(der: Uint8Array): boolean {
  const c = new X509Certificate(der);
  return c.subject === c.issuer;
}

/** Whether the leaf may sign agreements: keyUsage and extendedKeyUsage; null when it may, else why not. */
export function purposeProblem(der: Uint8Array): string | null {
  const c = toPkijs(der);
  const ku = c.extensions?.find((e) => e.extnID === CERT_OID.keyUsage);
  if (ku) {
    const bits = new Uint8Array((ku.parsedValue as asn1js.BitString).valueBlock.valueHexView);
    const digitalSignature = (bits[0]! & 0x80) !== 0;
    const nonRepudiation = (bits[0]! & 0x40) !== 0;
    if (!digitalSignature && !nonRepudiation) return 'the certificate is not for signatures (keyUsage has neither digitalSignature nor nonRepudiation)';
  }
  const eku = c.extensions?.find((e) => e.extnID === CERT_OID.extKeyUsage)?.parsedValue as pkijs.ExtKeyUsage | undefined;
  if (eku?.keyPurposes.includes(CERT_OID.kpTimeStamping)) return 'the certificate is a time-stamping certificate (extendedKeyUsage timeStamping) and must not sign agreements';
  return null;
}

export interface QcInfo {
  present: boolean;
  compliance: boolean;
  sscd: boolean;
  /** QcType values (0.4.0.1862.1.6.x); esign is .1. */
  types: string[];
}

/** The qcStatements of a certificate (EN 319 412-5). */
export function qcStatements(der: Uint8Array): QcInfo {
  const ext = extension(der, CERT_OID.qcStatements);
  const out: QcInfo = { present: !!ext, compliance: false, sscd: false, types: [] };
  if (!ext) return out;
  const parsed = asn1js.fromBER(Uint8Array.from(ext.extnValue.valueBlock.valueHexView));
  if (parsed.offset === -1 || !(parsed.result instanceof asn1js.Sequence)) return out;
  for (const statement of parsed.result.valueBlock.value) {
    if (!(statement instanceof asn1js.Sequence)) continue;
    const [id, info] = statement.valueBlock.value;
    if (!(id instanceof asn1js.ObjectIdentifier)) continue;
    const oid = id.valueBlock.toString();
    if (oid === CERT_OID.qcCompliance) out.compliance = true;
    if (oid === CERT_OID.qcSSCD) out.sscd = true;
    if (oid === CERT_OID.qcType && info instanceof asn1js.Sequence) {
      for (const t of info.valueBlock.value) if (t instanceof asn1js.ObjectIdentifier) out.types.push(t.valueBlock.toString());
    }
  }
  return out;
}

export interface SubjectNames {
  commonName: string | null;
  givenName: string | null;
  surname: string | null;
  organisation: string | null;
}

export function subjectNames(der: Uint8Array): SubjectNames {
  const rdn = toPkijs(der).subject.typesAndValues;
  const get = (oid: string) => {
    const v = rdn.find((tv) => tv.type === oid)?.value as { valueBlock?: { value?: string } } | undefined;
    return v?.valueBlock?.value ?? null;
  };
  return { commonName: get(CERT_OID.commonName), givenName: get(CERT_OID.givenName), surname: get(CERT_OID.surname), organisation: get(CERT_OID.organisation) };
}

/** Name comparison without case and diacritics (Jürgen = jurgen, Straße = strasse), whitespace collapsed. */
export function normaliseName(s: string): string {
  return s
    .normalize('NFD')
    .replace(/\p{M}+/gu, '')
    .replace(/ß/g, 'ss')
    .toLowerCase()
    .replace(/\s+/g, ' ')
    .trim();
}

/** The person a certificate names (CN, else given name + surname). */
export function certifiedName(n: SubjectNames): string | null {
  return n.commonName ?? ([n.givenName, n.surname].filter(Boolean).join(' ') || null);
}

/** Does the certificate name the planned signatory (subject CN, or givenName + surname)? */
export function namesSignatory(n: SubjectNames, planned: string): boolean {
  const want = normaliseName(planned);
  if (n.commonName && normaliseName(n.commonName) === want) return true;
  if (n.givenName && n.surname && normaliseName(`${n.givenName} ${n.surname}`) === want) return true;
  return false;
}

