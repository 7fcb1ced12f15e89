/**
 * Verification of a signed agreement, shaped like ETSI EN 319 102-1. Per signature: byte-range
 * integrity, the CMS signature, the certificate path to a trust anchor (pkijs path validation at
 * the time the verdict relies on), the certificate's purpose, that the certificate names the
 * field's planned signatory, coverage of the whole document and what changed after it — giving an
 * indication (TOTAL_PASSED / TOTAL_FAILED / INDETERMINATE) with a sub-indication, and the level
 * (simple / advanced / qualified electronic signature) from evidence only. Per document: whether
 * the written form (§ 3a Abs. 2 VwVfG) is met electronically. Whether the embedded input JSON
 * re-renders to the page content is a separate, informational finding: a later renderer must
 * never turn an archived agreement's signatures invalid.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { PDF, PdfDict, PdfStream } from '@libpdf/core';
import { renderPdf } from '../render/pdf/index.ts';
import { CREATOR_TOOL } from '../render/pdf/pdfa.ts';
import { AgreementPdfError, deref, formatSignatoryRef, readAgreementPdf } from './agreement-pdf.ts';
import type { AgreementPdf, SignatureFieldState } from './agreement-pdf.ts';
import { parseCades } from './cms.ts';
import type { ParsedCades } from './cms.ts';
import { recompose, recordedEdition } from './reproduce.ts';
import { diffRevisions } from './revisions.ts';
import { foreignContent } from './foreign.ts';
import type { Change } from './revisions.ts';
import { STAMP_DATE_KEY } from './sign.ts';
import { certifiedName, namesSignatory, purposeProblem, qcStatements, subjectNames, validatePath } from './certs.ts';
import { documentTimestamps, hasVri, readDss } from './ltv.ts';
import type { DocumentTimestamp } from './ltv.ts';
import { certificateAt, timestampAuthorityAt } from './proof.ts';
import type { ProofContext, ProofSubIndication, RevocationReport, RevocationSource } from './proof.ts';
import { sha256Hex } from '../digest.ts';

export type Status = 'valid' | 'invalid' | 'indeterminate';
export type Indication = 'TOTAL_PASSED' | 'TOTAL_FAILED' | 'INDETERMINATE';
export type SubIndication =
  | 'FORMAT_FAILURE'
  | 'HASH_FAILURE'
  | 'SIG_CRYPTO_FAILURE'
  | 'SIG_CONSTRAINTS_FAILURE'
  | 'CHAIN_CONSTRAINTS_FAILURE'
  | 'NO_CERTIFICATE_CHAIN_FOUND'
  | 'OUT_OF_BOUNDS_NO_POE'
  | 'SIGNATORY_MISMATCH'
  | 'DISALLOWED_MODIFICATION'
  | ProofSubIndication;
/** PAdES baseline level a signature has reached (ETSI EN 319 142-1). */
export type PadesLevel = 'B-B' | 'B-T' | 'B-LT' | 'B-LTA';
export type Level = 'simple' | 'advanced' | 'qualified';

export const LEVEL_LABELS: Record<Level, string> = {
  simple: 'einfache elektronische Signatur',
  advanced: 'fortgeschrittene elektronische Signatur',
  qualified: 'qualifizierte elektronische Signatur',
};
/** The same after "mit einer" (dative). */
const LEVEL_DATIVE: Record<Level, string> = {
  simple: 'einfachen elektronischen Signatur',
  advanced: 'fortgeschrittenen elektronischen Signatur',
  qualified: 'qualifizierten elektronischen Signatur',
};

const STATUS_OF: Record<Indication, Status> = { TOTAL_PASSED: 'valid', TOTAL_FAILED: 'invalid', INDETERMINATE: 'indeterminate' };

export interface SignatureReport {
  field: string;
  signatory: string;
  /** /SubFilter of the signature dictionary: ETSI.CAdES.detached (ours) or adbe.pkcs7.detached (Acrobat, pdfsig). */
  subFilter: string | null;
  /** As planned by the generator (the printed name and role). */
  name: string;
  role: string;
  place: string | null;
  date: string | null;
  /** Claimed signing time (/M), ISO. */
  signingTime: string | null;
  /** Proven time from an RFC 3161 time-stamp, ISO. */
  timestamp: string | null;
  certificate: { subject: string; issuer: string; serial: string; validFrom: string; validTo: string; sha256: string } | null;
  checks: {
    integrity: boolean;
    signature: boolean;
    signingCertificateAttribute: boolean;
    chain: 'trusted' | 'untrusted' | 'broken';
    validAtSigningTime: boolean;
    timestamp: boolean | null;
    coversWholeDocument: boolean;
    unchangedSince: boolean;
    /** The signed revision holds only what the generator makes: the planned signature fields, their widgets, no unused objects. */
    onlyGeneratorContent: boolean;
  };
  changesAfter: Change[];
  /** What the signed revision holds that Zielwerk's generator does not make (shadow-attack material). */
  foreignContent: Change[];
  allowedChangesAfter: number;
  problems: string[];
  /** ETSI EN 319 102-1 result; `status` is the same verdict in a word. */
  indication: Indication;
  subIndication: SubIndication | null;
  status: Status;
  /** Who signed, from the certificate, and whether that is the field's planned signatory. */
  signer: { name: string | null; organisation: string | null; matchesPlanned: boolean } | null;
  level: Level;
  /** Why this level (German, for people). */
  levelReason: string;
  /**
   * The time the verdict relies on (ETSI: the proof of existence) and where it comes from: the
   * signature's own time-stamp, a document time-stamp over it, or only this verification.
   */
  timeOfProof: { at: string; source: 'timestamp' | 'document-timestamp' | 'verification' };
  /** Revocation status of each certificate of the signer's path at the time of proof. */
  revocation: RevocationReport[];
  pades: PadesLevel;
}

export interface DocumentTimestampReport {
  field: string;
  /** genTime, ISO. */
  time: string | null;
  tsa: string | null;
  status: Status;
  /** When it is proven to exist: a newer valid time-stamp's time, or now. */
  proofAt: string;
  coversWholeDocument: boolean;
  problems: string[];
}

export interface VerifyReport {
  title: string;
  sha256: string;
  signatures: SignatureReport[];
  pending: { signatory: string; name: string; role: string }[];
  /**
   * Informational: whether the embedded data re-renders to the page content (never a condition of
   * validity). `edition` is the template edition the document records, `generator` the Zielwerk that
   * made it (its /Creator), `renderer` the one that re-rendered it now.
   */
  reproduction: { status: 'match' | 'mismatch' | 'unavailable'; detail: string; summary?: string; edition?: string; generator?: string; renderer?: string };
  problems: string[];
  verdict: Status;
  /** § 3a Abs. 2 VwVfG: every planned signatory signed with a qualified signature that passed. */
  writtenForm: boolean;
  writtenFormReasons: string[];
  /** Document time-stamps (B-LTA), oldest first. */
  documentTimestamps: DocumentTimestampReport[];
  /** The time this verification was made at. */
  verifiedAt: string;
}

export interface VerifyOptions {
  /** Trust anchors (DER certificates), not marked qualified. */
  trust: Uint8Array[];
  /** Anchors marked as qualified trust services (`zv trust add --qualified`, an EU trusted list). */
  qualifiedTrust?: Uint8Array[];
  /** SHA-256 (hex) of certificates whose keys this server holds (its key store): such signatures are simple. */
  serverHeld?: Iterable<string>;
  /** SHA-256 of the demo CA certificate: what it issued is the key store's by construction. */
  demoCa?: string | null;
  /** Renders the embedded data for the informational reproduction check (default: this Zielwerk's renderer). */
  render?: (doc: AgreementPdf) => Promise<Uint8Array>;
  /** Require every planned signatory to have signed. */
  requireComplete?: boolean;
  /** Skip re-rendering the embedded input (for callers that only need the signature checks). */
  skipReproduction?: boolean;
  /** Revocation data when the document's DSS holds none that answers (CRL/OCSP fetcher, the own CA in-process). */
  revocation?: RevocationSource;
  /** The time of this verification (default: now). */
  now?: Date;
}

interface Trust {
  anchors: Uint8Array[];
  qualified: Set<string>;
  serverHeld: Set<string>;
  demoCa: string | null;
}

/** What the whole document offers as proof: its DSS, its document time-stamps and when each is proven. */
interface Evidence extends ProofContext {
  dts: (DocumentTimestamp & { valid: boolean; proofAt: Date })[];
}

const fingerprint = (der: Uint8Array) => sha256Hex(der);

function certInfo(c: X509Certificate) {
  return {
    subject: c.subject.split('\n').join(', '),
    issuer: c.issuer.split('\n').join(', '),
    serial: c.serialNumber,
    validFrom: new Date(c.validFrom).toISOString(),
    validTo: new Date(c.validTo).toISOString(),
    sha256: c.fingerprint256.replace(/:/g, '').toLowerCase(),
  };
}

const numbersOf = (d: PdfDict, key: string) => (d.getArray(key)?.toArray() ?? []).map((n) => (n as unknown as { value: number }).value);

async function verifySignature(
  bytes: Uint8Array,
  field: SignatureFieldState,
  doc: AgreementPdf,
  final: PDF,
  trust: Trust,
  foreign: Map<number, Change[]>,
  evidence: Evidence,
): Promise<SignatureReport> {
  const sig = field.signature!;
  const problems: string[] = [];
  const text = (key: string) => sig.getString(key)?.asString() ?? null;
  const report: SignatureReport = {
    field: field.entry.fieldName,
    signatory: formatSignatoryRef(field.entry),
    subFilter: sig.getName('SubFilter')?.value ?? null,
    name: field.entry.name,
    role: field.entry.role,
    place: text('Location'),
    date: text(STAMP_DATE_KEY),
    signingTime: null,
    timestamp: null,
    certificate: null,
    checks: {
      integrity: false,
      signature: false,
      signingCertificateAttribute: false,
      chain: 'broken',
      validAtSigningTime: false,
      timestamp: null,
      coversWholeDocument: false,
      unchangedSince: false,
      onlyGeneratorContent: false,
    },
    changesAfter: [],
    foreignContent: [],
    allowedChangesAfter: 0,
    problems,
    indication: 'TOTAL_FAILED',
    subIndication: 'FORMAT_FAILURE',
    status: 'invalid',
    signer: null,
    level: 'simple',
    levelReason: 'Die Signatur ist nicht gültig.',
    timeOfProof: { at: evidence.now.toISOString(), source: 'verification' },
    revocation: [],
    pades: 'B-B',
  };
  const m = /^D:(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})/.exec(text('M') ?? '');
  const claimed = m ? new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!)) : null;
  report.signingTime = claimed?.toISOString() ?? null;

  // 1. Byte range: [0 a b c], the gap is exactly the /Contents hex string, all inside the file.
  const [s0, a, b, c] = numbersOf(sig, 'ByteRange');
  const contents = sig.getString('Contents')?.bytes;
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const rangeOk =
    s0 === 0 && a !== undefined && b !== undefined && c !== undefined && a > 0 && b > a && b + c <= bytes.length && buf[a] === 0x3c && buf[b - 1] === 0x3e;
  if (!rangeOk || !contents) {
    problems.push('byte range is malformed or points outside the file');
    return report;
  }
  const hexInFile = buf.subarray(a + 1, b - 1).toString('latin1');
  if (hexInFile.toLowerCase() !== Buffer.from(contents).toString('hex').padEnd(hexInFile.length, '0')) {
    problems.push('the byte range gap is not the signature value');
    return report;
  }
  const digest = createHash('sha256').update(buf.subarray(0, a)).update(buf.subarray(b, b + c)).digest();

  // 2. CMS. Both detached CMS formats a PDF signer writes are read; the older PKCS#7 one has no
  // PAdES baseline rules (a signingTime attribute is normal there, signing-certificate optional).
  const cades = report.subFilter === 'ETSI.CAdES.detached';
  if (!cades && report.subFilter !== 'adbe.pkcs7.detached') {
    problems.push(`signature format /${report.subFilter ?? '?'} is not supported (ETSI.CAdES.detached or adbe.pkcs7.detached)`);
    return report;
  }
  let cms: ParsedCades;
  try {
    cms = await parseCades(contents);
  } catch (e) {
    problems.push(`signature value is not a valid CMS structure: ${(e as Error).message}`);
    return report;
  }
  report.checks.integrity = !!cms.messageDigest && Buffer.from(cms.messageDigest).equals(digest);
  if (!report.checks.integrity) problems.push('the signed bytes were changed (digest mismatch)');
  report.checks.signature = cms.signatureValid;
  if (!cms.signatureValid) problems.push('the CMS signature does not verify with the signer certificate');
  report.checks.signingCertificateAttribute = cms.signingCertificateV2Matches === true || (!cades && cms.signingCertificateV2Matches === null);
  if (!report.checks.signingCertificateAttribute) problems.push('signing-certificate attribute missing or not matching the certificate (certificate swapped?)');
  if (cades && cms.hasSigningTimeAttribute) problems.push('CMS carries a signingTime attribute (not allowed in PAdES baseline)');

  // 3. The time of proof: the signature's own time-stamp (itself proven by a document time-stamp
  // over it, else judged now), else the earliest valid document time-stamp over the signature,
  // else only now. The claimed /M proves nothing.
  const leaf = new X509Certificate(cms.signerCertificate);
  report.certificate = certInfo(leaf);
  const pool = cms.certificates;
  const end = b + c;
  const covering = evidence.dts.filter((d) => d.valid && d.end > end && d.parsed);
  const dtsProof = covering.length ? covering[0]!.parsed!.genTime : null;
  let proven: Date | null = null;
  let proofIndication: SignatureReport['indication'] | null = null;
  let proofSub: SubIndication | null = null;
  if (cms.timestamp) {
    report.timestamp = cms.timestamp.genTime.toISOString();
    if (!cms.timestamp.imprintMatches || !cms.timestamp.tokenSignatureValid) {
      report.checks.timestamp = false;
      problems.push('the signature time-stamp does not match or does not verify');
    } else {
      const poe = dtsProof ?? evidence.now;
      const tsa = await timestampAuthorityAt(cms.timestamp.tsaCertificate, pool, cms.timestamp.genTime, poe, evidence, 'signature time-stamp', !dtsProof);
      problems.push(...tsa.problems);
      if (tsa.ok) {
        report.checks.timestamp = true;
        proven = cms.timestamp.genTime;
      } else if (tsa.path.result === 'untrusted') {
        // A TSA nobody configured proves no time (the signature is judged now), but is no failure.
        problems.push('the signature time-stamp proves no time: its time-stamp authority is not trusted (pass its CA with --trust)');
      } else if (tsa.indication === 'TOTAL_FAILED') {
        report.checks.timestamp = false;
      } else {
        // A time-stamp that cannot be proven any more is no failure of the signature, only no proof.
        proofIndication = 'INDETERMINATE';
        proofSub = tsa.subIndication;
      }
    }
  }
  const at = proven ?? dtsProof ?? evidence.now;
  report.timeOfProof = { at: at.toISOString(), source: proven ? 'timestamp' : dtsProof ? 'document-timestamp' : 'verification' };
  const signer = await certificateAt(cms.signerCertificate, pool, at, proven ?? claimed, evidence, 'signature', !proven && !dtsProof);
  const path = signer.path;
  report.revocation = signer.revocation;
  problems.push(...signer.problems);
  report.checks.chain = path.result;
  // Validity at the time of proof is part of path validation; a path that fails only on time says so.
  report.checks.validAtSigningTime = path.subIndication !== 'OUT_OF_BOUNDS_NO_POE' && at >= new Date(leaf.validFrom) && at <= new Date(leaf.validTo);
  if (path.detail) problems.push(path.detail);
  if (!report.checks.validAtSigningTime) problems.push(`the signer's certificate (valid ${leaf.validFrom} – ${leaf.validTo}) is not valid at the time of proof ${at.toISOString()}${proven || dtsProof ? '' : ' and no time-stamp proves an earlier time'}`);
  const purpose = purposeProblem(cms.signerCertificate);
  if (purpose) problems.push(purpose);
  report.pades = !report.checks.timestamp ? 'B-B' : hasVri(evidence.dss.vri, contents) ? (covering.length ? 'B-LTA' : 'B-LT') : 'B-T';

  // The certificate must name the field's planned signatory.
  const names = subjectNames(cms.signerCertificate);
  const certified = certifiedName(names);
  report.signer = { name: certified, organisation: names.organisation, matchesPlanned: namesSignatory(names, field.entry.name) };
  if (!report.signer.matchesPlanned) problems.push(`unterschrieben von ${certified ?? 'einem Zertifikat ohne Namen'} statt ${field.entry.name}`);

  // 4. Coverage, what the signed revision holds besides the generator's objects, and what changed afterwards.
  report.checks.coversWholeDocument = end === bytes.length;
  report.foreignContent = foreign.get(end) ?? [];
  report.checks.onlyGeneratorContent = report.foreignContent.length === 0;
  for (const f of report.foreignContent) problems.push(`in the signed revision: ${f.object} — ${f.what}`);
  try {
    const signedRevision = end === bytes.length ? final : await PDF.load(bytes.subarray(0, end));
    const diff = end === bytes.length ? { allowed: [], disallowed: [] } : diffRevisions(signedRevision, final, doc.metadata.dateSlots);
    report.changesAfter = diff.disallowed;
    report.allowedChangesAfter = diff.allowed.length;
    report.checks.unchangedSince = diff.disallowed.length === 0;
    for (const ch of diff.disallowed) problems.push(`modified after signature: ${ch.object} ${ch.what}`);
  } catch (e) {
    problems.push(`the signed revision cannot be read: ${(e as Error).message}`);
  }

  let [indication, sub] = indicate(report, path.subIndication, purpose);
  if (indication === 'TOTAL_PASSED' && signer.indication) [indication, sub] = [signer.indication, signer.subIndication];
  else if (indication === 'INDETERMINATE' && signer.indication === 'TOTAL_FAILED') [indication, sub] = [signer.indication, signer.subIndication];
  // No proof of existence before the certificate ended, because the time-stamp itself cannot be proven now.
  if (indication === 'INDETERMINATE' && sub === 'OUT_OF_BOUNDS_NO_POE' && proofIndication) sub = proofSub ?? sub;
  report.indication = indication;
  report.subIndication = sub;
  report.status = STATUS_OF[indication];
  Object.assign(report, levelOf(report, cms.signerCertificate, path.anchor, trust));
  return report;
}

/** The ETSI indication, worst finding first. */
function indicate(r: SignatureReport, pathSub: SubIndication | null, purpose: string | null): [Indication, SubIndication | null] {
  const c = r.checks;
  if (!c.integrity) return ['TOTAL_FAILED', 'HASH_FAILURE'];
  if (!c.signature) return ['TOTAL_FAILED', 'SIG_CRYPTO_FAILURE'];
  if (!c.signingCertificateAttribute) return ['TOTAL_FAILED', 'SIG_CONSTRAINTS_FAILURE'];
  // What was signed is not what the generator makes: an overlay, an extra field or a hidden object.
  if (!c.onlyGeneratorContent) return ['TOTAL_FAILED', 'FORMAT_FAILURE'];
  if (!c.unchangedSince) return ['TOTAL_FAILED', 'DISALLOWED_MODIFICATION'];
  if (r.signer && !r.signer.matchesPlanned) return ['TOTAL_FAILED', 'SIGNATORY_MISMATCH'];
  if (purpose) return ['TOTAL_FAILED', 'SIG_CONSTRAINTS_FAILURE'];
  if (c.timestamp === false) return ['TOTAL_FAILED', 'SIG_CONSTRAINTS_FAILURE'];
  if (c.chain === 'broken') return pathSub === 'OUT_OF_BOUNDS_NO_POE' ? ['INDETERMINATE', 'OUT_OF_BOUNDS_NO_POE'] : ['TOTAL_FAILED', pathSub ?? 'CHAIN_CONSTRAINTS_FAILURE'];
  if (!c.validAtSigningTime) return ['INDETERMINATE', 'OUT_OF_BOUNDS_NO_POE'];
  if (c.chain === 'untrusted') return ['INDETERMINATE', 'NO_CERTIFICATE_CHAIN_FOUND'];
  return ['TOTAL_PASSED', null];
}

/**
 * The level, from evidence only: qualified = a qualified certificate (QcCompliance, QcSSCD, QcType
 * esign where present) under an anchor marked qualified; advanced = a trusted anchor that is not
 * the demo CA, and a key this server does not hold; simple = everything else.
 */
function levelOf(r: SignatureReport, cert: Uint8Array, anchor: Uint8Array | null, trust: Trust): { level: Level; levelReason: string } {
  if (r.indication !== 'TOTAL_PASSED') return { level: 'simple', levelReason: 'Die Signatur hat die Prüfung nicht bestanden; sie trägt keine Rechtswirkung einer fortgeschrittenen oder qualifizierten Signatur.' };
  return certificateLevel(cert, anchor, trust);
}

/**
 * The level a signature with this certificate has, given the anchor its path ends at (null: none) —
 * also asked before signing, for the stamp's honest label.
 */
function certificateLevel(cert: Uint8Array, anchor: Uint8Array | null, trust: Trust): { level: Level; levelReason: string } {
  if (!anchor) return { level: 'simple', levelReason: 'Das Zertifikat führt zu keiner vertrauten Stelle: einfache elektronische Signatur.' };
  const sha = fingerprint(cert);
  const anchorSha = anchor ? fingerprint(anchor) : null;
  const demoAnchor = !!anchor && /Zielwerk Demo-CA/.test(new X509Certificate(anchor).subject);
  if (trust.serverHeld.has(sha) || (anchorSha && anchorSha === trust.demoCa) || demoAnchor) {
    return { level: 'simple', levelReason: 'Der Schlüssel liegt auf dem Zielwerk-Server (Key-Store, Zielwerk-Demo-CA): einfache elektronische Signatur.' };
  }
  const qc = qcStatements(cert);
  const qualifiedCert = qc.compliance && qc.sscd && (qc.types.length === 0 || qc.types.includes('0.4.0.1862.1.6.1'));
  const qualifiedAnchor = !!anchorSha && trust.qualified.has(anchorSha);
  if (qualifiedCert && qualifiedAnchor) {
    return { level: 'qualified', levelReason: 'Qualifiziertes Zertifikat (QcCompliance, QcSSCD) eines als qualifiziert vertrauten Vertrauensdiensteanbieters, gültig zum Signaturzeitpunkt.' };
  }
  const why = qualifiedCert
    ? 'das Zertifikat erklärt sich als qualifiziert, seine ausstellende Stelle ist aber nicht als qualifizierter Vertrauensdienst vertraut'
    : qc.present
      ? 'das Zertifikat hat qcStatements, aber nicht QcCompliance und QcSSCD (qualifizierte Signaturerstellungseinheit)'
      : 'das Zertifikat ist kein qualifiziertes Zertifikat (keine qcStatements)';
  return { level: 'advanced', levelReason: `Zertifikat einer vertrauten Stelle, Schlüssel nicht auf dem Zielwerk-Server – fortgeschritten, nicht qualifiziert: ${why}.` };
}

/**
 * The level a signature by `signer` will have (for the stamp, before signing): its path at `at`
 * against the instance's trust, its qcStatements, and whether this server holds the key.
 */
export async function expectedLevel(
  signer: { kind: string; certificate: Uint8Array; chain: Uint8Array[] },
  opts: Pick<VerifyOptions, 'trust' | 'qualifiedTrust' | 'serverHeld' | 'demoCa'>,
  at: Date,
): Promise<Level> {
  if (signer.kind === 'keystore') return 'simple';
  const qualified = opts.qualifiedTrust ?? [];
  const trust: Trust = { anchors: [...opts.trust, ...qualified], qualified: new Set(qualified.map(fingerprint)), serverHeld: new Set(opts.serverHeld ?? []), demoCa: opts.demoCa ?? null };
  const path = await validatePath(signer.certificate, signer.chain, trust.anchors, at);
  return certificateLevel(signer.certificate, path.result === 'trusted' ? path.anchor : null, trust).level;
}

/** Page content streams, decoded and concatenated per page. */
export function pageContents(pdf: PDF): string[] {
  return pdf.getPages().map((page) => {
    const contents = deref(pdf, page.dict.get('Contents'));
    const streams = contents instanceof PdfStream ? [contents] : contents && 'toArray' in contents ? (contents as unknown as { toArray(): unknown[] }).toArray().map((r) => deref(pdf, r as never)) : [];
    return streams.map((s) => (s instanceof PdfStream ? Buffer.from(s.getDecodedData()).toString('latin1') : '')).join('\n');
  });
}

async function checkReproduction(doc: AgreementPdf, render: (doc: AgreementPdf) => Promise<Uint8Array>): Promise<VerifyReport['reproduction']> {
  const meta = doc.pdf.getMetadata();
  const about = {
    edition: recordedEdition(doc),
    generator: meta.creator,
    renderer: CREATOR_TOOL,
  };
  const which = `Fassung ${about.edition ?? '?'}, erzeugt von ${about.generator ?? '?'}, neu gesetzt mit ${about.renderer}`;
  const summaryOf = (status: 'match' | 'mismatch', where = '') =>
    status === 'match'
      ? `Inhalt entspricht den eingebetteten Daten (${which})`
      : `Inhalt weicht von der Neusetzung der eingebetteten Daten ab${where} (${which}) – informativ: die Signaturen hängen nicht davon ab`;
  let rendered: Uint8Array;
  try {
    rendered = await render(doc);
  } catch (e) {
    return { status: 'mismatch', detail: `the embedded input cannot be rendered: ${(e as Error).message}`, summary: summaryOf('mismatch', `: die Daten lassen sich nicht setzen (${(e as Error).message})`), ...about };
  }
  const fresh = pageContents(await PDF.load(rendered));
  const actual = pageContents(doc.pdf);
  if (fresh.length !== actual.length) return { status: 'mismatch', detail: `the embedded data renders to ${fresh.length} pages, the document has ${actual.length} (${which})`, summary: summaryOf('mismatch', `: ${fresh.length} statt ${actual.length} Seiten`), ...about };
  const differing = actual.map((p, i) => (p === fresh[i] ? 0 : i + 1)).filter(Boolean);
  if (differing.length) return { status: 'mismatch', detail: `page content differs from the embedded data on page ${differing.join(', ')} (${which})`, summary: summaryOf('mismatch', ` auf Seite ${differing.join(', ')}`), ...about };
  return { status: 'match', detail: `all ${actual.length} pages reproduce from the embedded input ${doc.input!.name} (${which})`, summary: summaryOf('match'), ...about };
}

export async function verifyAgreement(bytes: Uint8Array, opts: VerifyOptions): Promise<VerifyReport> {
  const sha256 = sha256Hex(bytes);
  let doc: AgreementPdf;
  try {
    doc = await readAgreementPdf(bytes);
  } catch (e) {
    if (!(e instanceof AgreementPdfError)) throw e;
    return { title: '', sha256, signatures: [], pending: [], reproduction: { status: 'unavailable', detail: e.message }, problems: [e.message], verdict: 'invalid', writtenForm: false, writtenFormReasons: [`kein Zielwerk-Dokument: ${e.message}`], documentTimestamps: [], verifiedAt: (opts.now ?? new Date()).toISOString() };
  }
  const qualified = opts.qualifiedTrust ?? [];
  const trust: Trust = {
    anchors: [...opts.trust, ...qualified],
    qualified: new Set(qualified.map(fingerprint)),
    serverHeld: new Set(opts.serverHeld ?? []),
    demoCa: opts.demoCa ?? null,
  };
  const problems: string[] = [];
  if (doc.pdf.recoveredViaBruteForce) problems.push('the PDF structure is damaged (cross-reference table had to be rebuilt)');
  const signatures: SignatureReport[] = [];
  const signedEnds = doc.fields.flatMap((f) => {
    const [, , b, c] = f.signature ? numbersOf(f.signature, 'ByteRange') : [];
    return b !== undefined && c !== undefined && Number.isFinite(b + c) ? [b + c] : [];
  });
  let foreign: Map<number, Change[]>;
  try {
    foreign = await foreignContent(bytes, doc.metadata.signatories, signedEnds, doc.pdf);
  } catch (e) {
    foreign = new Map(signedEnds.map((e2) => [e2, [{ object: 'file structure', what: `cannot be read per revision: ${(e as Error).message}` }]]));
  }
  const now = opts.now ?? new Date();
  const evidence: Evidence = { anchors: trust.anchors, dss: readDss(doc.pdf), revocation: opts.revocation, now, dts: [] };
  const dtsReports = await judgeDocumentTimestamps(bytes, doc, evidence, problems);
  for (const f of doc.fields) if (f.signature) signatures.push(await verifySignature(bytes, f, doc, doc.pdf, trust, foreign, evidence));
  // Bytes after the newest signature must be a recognisable update with allowed changes only (e.g. DSS);
  // anything else appended is unsigned and unexplained.
  const newest = signatures.find((s) => s.checks.coversWholeDocument) ?? evidence.dts.find((d) => d.coversWholeDocument);
  const latest = signatures.at(-1);
  if (latest && !newest && latest.allowedChangesAfter === 0 && latest.changesAfter.length === 0) {
    problems.push('the file continues after the last signature with bytes that no signature covers');
  }
  const pending = doc.fields.filter((f) => !f.signature).map((f) => ({ signatory: formatSignatoryRef(f.entry), name: f.entry.name, role: f.entry.role }));
  if (opts.requireComplete && pending.length) problems.push(`not signed yet by: ${pending.map((p) => `${p.name} (${p.signatory})`).join(', ')}`);
  // Informational only: the signatures do not depend on this Zielwerk's renderer.
  const reproduction = opts.skipReproduction
    ? ({ status: 'unavailable', detail: 'not checked' } as const)
    : doc.input
      ? await checkReproduction(doc, opts.render ?? ((d) => renderPdf(recompose(d).tree)))
      : ({ status: 'unavailable', detail: 'no embedded input JSON' } as const);

  const statuses = signatures.map((s) => s.status);
  const verdict: Status =
    problems.length || statuses.includes('invalid') || !signatures.length ? 'invalid' : statuses.includes('indeterminate') ? 'indeterminate' : 'valid';
  const { writtenForm, writtenFormReasons } = writtenFormOf(signatures, pending, problems);
  return { title: doc.pdf.getMetadata().title ?? '', sha256, signatures, pending, reproduction, problems, verdict, writtenForm, writtenFormReasons, documentTimestamps: dtsReports, verifiedAt: now.toISOString() };
}

/**
 * Document time-stamps, newest first: the newest is judged now, each older one at the time of the
 * nearest newer valid one (which proves it existed then). A time-stamp whose imprint does not
 * match means the file changed after it: a finding against the document.
 */
async function judgeDocumentTimestamps(bytes: Uint8Array, doc: AgreementPdf, evidence: Evidence, problems: string[]): Promise<DocumentTimestampReport[]> {
  const found = documentTimestamps(bytes, doc.pdf);
  const reports: DocumentTimestampReport[] = [];
  let proofAt: Date | null = null;
  const judged: Evidence['dts'] = [];
  for (const d of [...found].reverse()) {
    const at = proofAt ?? evidence.now;
    const r: DocumentTimestampReport = { field: d.field, time: d.parsed?.genTime.toISOString() ?? null, tsa: null, status: 'invalid', proofAt: at.toISOString(), coversWholeDocument: d.coversWholeDocument, problems: [...d.problems] };
    let valid = false;
    if (d.parsed && !d.problems.length) {
      if (d.parsed.tsaCertificate) r.tsa = new X509Certificate(d.parsed.tsaCertificate).subject.split('\n').join(', ');
      const v = await timestampAuthorityAt(d.parsed.tsaCertificate, [], d.parsed.genTime, at, evidence, `document time-stamp ${d.field}`, !proofAt);
      r.problems.push(...v.problems);
      valid = v.ok;
      r.status = v.ok ? 'valid' : v.indication === 'TOTAL_FAILED' ? 'invalid' : 'indeterminate';
      if (v.ok) proofAt = d.parsed.genTime;
    } else {
      problems.push(...d.problems);
    }
    judged.unshift({ ...d, valid, proofAt: at });
    reports.unshift(r);
  }
  evidence.dts = judged;
  return reports;
}

/** § 3a Abs. 2 VwVfG: met only when every planned signatory of both parties signed qualified, and every signature passed. */
function writtenFormOf(signatures: SignatureReport[], pending: VerifyReport['pending'], problems: string[]): { writtenForm: boolean; writtenFormReasons: string[] } {
  const reasons: string[] = [];
  for (const p of pending) reasons.push(`${p.name} (${p.role}) hat noch nicht unterzeichnet`);
  for (const s of signatures) {
    if (s.indication !== 'TOTAL_PASSED') reasons.push(`die Signatur von ${s.name} (${s.role}) ist nicht gültig (${s.indication}${s.subIndication ? `/${s.subIndication}` : ''})`);
    else if (s.level !== 'qualified') reasons.push(`${s.name} (${s.role}) hat mit einer ${LEVEL_DATIVE[s.level]} unterzeichnet`);
  }
  if (problems.length && !reasons.length) reasons.push('das Dokument weist Befunde auf');
  if (!signatures.length && !pending.length) reasons.push('keine Signatur');
  return reasons.length
    ? { writtenForm: false, writtenFormReasons: reasons }
    : { writtenForm: true, writtenFormReasons: [`alle ${signatures.length} Unterzeichnenden beider Seiten haben qualifiziert elektronisch signiert`] };
}

/** The German verdict on the written form, as the web pages, the report and the Signaturprotokoll show it. */
export function writtenFormText(r: Pick<VerifyReport, 'writtenForm' | 'writtenFormReasons'>): string {
  return r.writtenForm ? 'Schriftform elektronisch gewahrt (§ 3a Abs. 2 VwVfG)' : `Schriftform nicht gewahrt — qualifizierte Signatur oder Papierausfertigung erforderlich: ${r.writtenFormReasons.join('; ')}`;
}
