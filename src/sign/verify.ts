/**
 * Verification of a signed agreement, per signature: byte-range integrity, the CMS signature,
 * the certificate chain against trust anchors, validity at signing time, coverage of the whole
 * document, and what changed after the signature. For the document: that the embedded input JSON,
 * re-rendered with the recorded edition, reproduces the page content.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { PDF, PdfDict, PdfStream } from '@libpdf/core';
import { renderPdf } from '../render/pdf/index.ts';
import { AgreementPdfError, deref, formatSignatoryRef, readAgreementPdf } from './agreement-pdf.ts';
import type { AgreementPdf, SignatureFieldState } from './agreement-pdf.ts';
import { parseCades } from './cms.ts';
import type { ParsedCades } from './cms.ts';
import { recompose } from './reproduce.ts';
import { diffRevisions } from './revisions.ts';
import type { Change } from './revisions.ts';
import { STAMP_DATE_KEY } from './sign.ts';

export type Status = 'valid' | 'invalid' | 'indeterminate';

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
  };
  changesAfter: Change[];
  allowedChangesAfter: number;
  problems: string[];
  status: Status;
}

export interface VerifyReport {
  title: string;
  sha256: string;
  signatures: SignatureReport[];
  pending: { signatory: string; name: string; role: string }[];
  reproduction: { status: 'match' | 'mismatch' | 'unavailable'; detail: string };
  problems: string[];
  verdict: Status;
}

export interface VerifyOptions {
  /** Trust anchors (DER certificates). */
  trust: Uint8Array[];
  /** Require every planned signatory to have signed. */
  requireComplete?: boolean;
  /** Skip re-rendering the embedded input (for callers that only need the signature checks). */
  skipReproduction?: boolean;
}

interface Trust {
  anchors: X509Certificate[];
}

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

/** Walks leaf → issuer among the CMS certificates until a trust anchor; every link's signature must verify. */
function checkChain(leaf: X509Certificate, pool: X509Certificate[], trust: Trust, at: Date): { chain: 'trusted' | 'untrusted' | 'broken'; validAt: boolean; detail?: string } {
  let cur = leaf;
  let validAt = true;
  const seen = new Set<string>();
  for (let depth = 0; depth < 8; depth++) {
    const from = new Date(cur.validFrom);
    const to = new Date(cur.validTo);
    if (at < from || at > to) validAt = false;
    const anchor = trust.anchors.find((a) => a.fingerprint256 === cur.fingerprint256 || (cur.checkIssued(a) && cur.verify(a.publicKey)));
    if (anchor) {
      if (anchor.fingerprint256 !== cur.fingerprint256) {
        const af = new Date(anchor.validFrom);
        const at2 = new Date(anchor.validTo);
        if (at < af || at > at2) validAt = false;
      }
      return { chain: 'trusted', validAt };
    }
    seen.add(cur.fingerprint256);
    const issuer = pool.find((p) => !seen.has(p.fingerprint256) && cur.checkIssued(p));
    if (!issuer) return { chain: 'untrusted', validAt, detail: `no trusted issuer for ${cur.issuer.split('\n').join(', ')}` };
    if (!cur.verify(issuer.publicKey)) return { chain: 'broken', validAt, detail: `the certificate of ${cur.subject.split('\n').join(', ')} is not signed by its issuer` };
    if (!issuer.ca) return { chain: 'broken', validAt, detail: `the issuer ${issuer.subject.split('\n').join(', ')} is not a CA` };
    cur = issuer;
  }
  return { chain: 'broken', validAt, detail: 'certificate chain too long' };
}

const numbersOf = (d: PdfDict, key: string) => (d.getArray(key)?.toArray() ?? []).map((n) => (n as unknown as { value: number }).value);

async function verifySignature(
  bytes: Uint8Array,
  field: SignatureFieldState,
  doc: AgreementPdf,
  final: PDF,
  trust: Trust,
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
    },
    changesAfter: [],
    allowedChangesAfter: 0,
    problems,
    status: 'invalid',
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

  // 3. Certificate chain and validity at the (proven, else claimed) signing time.
  const leaf = new X509Certificate(cms.signerCertificate);
  report.certificate = certInfo(leaf);
  const pool = cms.certificates.map((d) => new X509Certificate(d));
  if (cms.timestamp) {
    report.timestamp = cms.timestamp.genTime.toISOString();
    // A time-stamp proves the time only if its TSA is trusted and certified for time-stamping.
    const tsaCert = cms.timestamp.tsaCertificate ? new X509Certificate(cms.timestamp.tsaCertificate) : null;
    const tsaChain = tsaCert ? checkChain(tsaCert, pool, trust, cms.timestamp.genTime) : null;
    const tsaOk = !!tsaCert && tsaChain?.chain === 'trusted' && tsaChain.validAt && (tsaCert.keyUsage ?? []).includes('1.3.6.1.5.5.7.3.8');
    report.checks.timestamp = cms.timestamp.imprintMatches && cms.timestamp.tokenSignatureValid && tsaOk;
    if (!cms.timestamp.imprintMatches || !cms.timestamp.tokenSignatureValid) problems.push('the signature time-stamp does not match or does not verify');
    else if (!tsaOk) problems.push('the time-stamp authority is not trusted for time-stamping (pass its CA with --trust)');
  }
  const at = (report.checks.timestamp && cms.timestamp?.genTime) || claimed || new Date();
  const chain = checkChain(leaf, pool, trust, at);
  report.checks.chain = chain.chain;
  report.checks.validAtSigningTime = chain.validAt;
  if (chain.detail) problems.push(chain.detail);
  if (!chain.validAt) problems.push(`a certificate was not valid at the signing time ${at.toISOString()}`);

  // 4. Coverage and what changed afterwards.
  const end = b + c;
  report.checks.coversWholeDocument = end === bytes.length;
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

  const ok =
    report.checks.integrity &&
    report.checks.signature &&
    report.checks.signingCertificateAttribute &&
    report.checks.unchangedSince &&
    report.checks.validAtSigningTime &&
    report.checks.timestamp !== false &&
    chain.chain !== 'broken';
  report.status = !ok ? 'invalid' : chain.chain === 'trusted' ? 'valid' : 'indeterminate';
  return report;
}

/** Page content streams, decoded and concatenated per page. */
export function pageContents(pdf: PDF): string[] {
  return pdf.getPages().map((page) => {
    const contents = deref(pdf, page.dict.get('Contents'));
    const streams = contents instanceof PdfStream ? [contents] : contents && 'toArray' in contents ? (contents as unknown as { toArray(): unknown[] }).toArray().map((r) => deref(pdf, r as never)) : [];
    return streams.map((s) => (s instanceof PdfStream ? Buffer.from(s.getDecodedData()).toString('latin1') : '')).join('\n');
  });
}

async function checkReproduction(doc: AgreementPdf): Promise<VerifyReport['reproduction']> {
  let rendered: Uint8Array;
  try {
    rendered = await renderPdf(recompose(doc).tree);
  } catch (e) {
    return { status: 'mismatch', detail: `the embedded input cannot be rendered: ${(e as Error).message}` };
  }
  const fresh = pageContents(await PDF.load(rendered));
  const actual = pageContents(doc.pdf);
  if (fresh.length !== actual.length) return { status: 'mismatch', detail: `the embedded data renders to ${fresh.length} pages, the document has ${actual.length}` };
  const differing = actual.map((p, i) => (p === fresh[i] ? 0 : i + 1)).filter(Boolean);
  if (differing.length) return { status: 'mismatch', detail: `page content differs from the embedded data on page ${differing.join(', ')}` };
  return { status: 'match', detail: `all ${actual.length} pages reproduce from the embedded input ${doc.input!.name}` };
}

export async function verifyAgreement(bytes: Uint8Array, opts: VerifyOptions): Promise<VerifyReport> {
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  let doc: AgreementPdf;
  try {
    doc = await readAgreementPdf(bytes);
  } catch (e) {
    if (!(e instanceof AgreementPdfError)) throw e;
    return { title: '', sha256, signatures: [], pending: [], reproduction: { status: 'unavailable', detail: e.message }, problems: [e.message], verdict: 'invalid' };
  }
  const trust: Trust = { anchors: opts.trust.map((d) => new X509Certificate(d)) };
  const problems: string[] = [];
  if (doc.pdf.recoveredViaBruteForce) problems.push('the PDF structure is damaged (cross-reference table had to be rebuilt)');
  const signatures: SignatureReport[] = [];
  for (const f of doc.fields) if (f.signature) signatures.push(await verifySignature(bytes, f, doc, doc.pdf, trust));
  // Bytes after the newest signature must be a recognisable update with allowed changes only (e.g. DSS);
  // anything else appended is unsigned and unexplained.
  const newest = signatures.find((s) => s.checks.coversWholeDocument);
  const latest = signatures.at(-1);
  if (latest && !newest && latest.allowedChangesAfter === 0 && latest.changesAfter.length === 0) {
    problems.push('the file continues after the last signature with bytes that no signature covers');
  }
  const pending = doc.fields.filter((f) => !f.signature).map((f) => ({ signatory: formatSignatoryRef(f.entry), name: f.entry.name, role: f.entry.role }));
  if (opts.requireComplete && pending.length) problems.push(`not signed yet by: ${pending.map((p) => `${p.name} (${p.signatory})`).join(', ')}`);
  const reproduction = opts.skipReproduction
    ? ({ status: 'unavailable', detail: 'not checked' } as const)
    : doc.input
      ? await checkReproduction(doc) : ({ status: 'unavailable', detail: 'no embedded input JSON' } as const);
  if (!opts.skipReproduction && reproduction.status !== 'match') problems.push(`reproduction: ${reproduction.detail}`);

  const statuses = signatures.map((s) => s.status);
  const verdict: Status =
    problems.length || statuses.includes('invalid') || !signatures.length ? 'invalid' : statuses.includes('indeterminate') ? 'indeterminate' : 'valid';
  return { title: doc.pdf.getMetadata().title ?? '', sha256, signatures, pending, reproduction, problems, verdict };
}
