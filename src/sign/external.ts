/**
 * A signature made outside Zielwerk (Acrobat with a signature card, another PAdES signer) and
 * uploaded through the signatory's link. Accepted only as exactly the document we sent plus the
 * signatory's one signature in their own field:
 *
 *   - the upload starts with the sent bytes (same SHA-256 of the prefix): an incremental update;
 *   - exactly one new signature (/ByteRange) in the update, and it is the one in the signatory's
 *     field; no other field gets signed;
 *   - from the sent revision to the signed one, only what a signing tool changes in a form field
 *     (value, appearance, /AS, /M, widget flags, AcroForm resources, /SigFlags, DSS) — the
 *     revision diff of verification decides; nothing on pages, no new annotation or field;
 *   - the signature verifies (integrity, CMS, a trusted chain valid at the signing time), in
 *     /SubFilter /ETSI.CAdES.detached or /adbe.pkcs7.detached.
 *
 * Every refusal is a German sentence naming what is wrong; nothing is stored by this module.
 */
import { createHash } from 'node:crypto';
import { PDF } from '@libpdf/core';
import { readAgreementPdf, AgreementPdfError, type SignatoryRef } from './agreement-pdf.ts';
import { parseCades } from './cms.ts';
import { diffRevisions } from './revisions.ts';
import { verifyAgreement } from './verify.ts';

/** The size limit for uploaded PDFs (the web form and the API enforce it too). */
export const MAX_UPLOAD_BYTES = 20 * 1024 * 1024;

export class UploadRefusedError extends Error {
  constructor(
    message: string,
    readonly reason: UploadRefusal,
  ) {
    super(message);
    this.name = 'UploadRefusedError';
  }
}

export type UploadRefusal =
  | 'not-pdf'
  | 'too-large'
  | 'unchanged'
  | 'not-incremental'
  | 'no-signature'
  | 'several-signatures'
  | 'wrong-field'
  | 'disallowed-change'
  | 'invalid-signature'
  | 'untrusted';

export interface AcceptedUpload {
  certificate: Uint8Array;
  /** The signer's subject (RFC 4514-ish, one line). */
  subject: string;
  subFilter: string;
  /** The signature's /M, else its time-stamp, else now. */
  signingTime: Date;
  place: string;
  /** ISO day of the signing time in Europe/Berlin (uploads carry no stamp date of ours). */
  date: string;
  /** Time-stamp time, when the signature carries one. */
  timestamp: string | null;
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const berlinDay = (d: Date) => new Intl.DateTimeFormat('sv-SE', { timeZone: 'Europe/Berlin' }).format(d);

/** Every /ByteRange [0 a b c] in the file: the signed revisions (a = start of /Contents). */
function byteRanges(bytes: Uint8Array): { a: number; b: number; c: number }[] {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1');
  return [...text.matchAll(/\/ByteRange\s*\[\s*0\s+(\d+)\s+(\d+)\s+(\d+)\s*\]/g)].map((m) => ({ a: Number(m[1]), b: Number(m[2]), c: Number(m[3]) }));
}

export async function checkExternalSignature(sent: Uint8Array, upload: Uint8Array, opts: { signatory: SignatoryRef; trust: Uint8Array[]; now?: Date }): Promise<AcceptedUpload> {
  if (upload.length > MAX_UPLOAD_BYTES) throw new UploadRefusedError(`Die Datei ist größer als ${MAX_UPLOAD_BYTES / 1024 / 1024} MB.`, 'too-large');
  if (Buffer.from(upload.subarray(0, 1024)).indexOf('%PDF-') < 0) throw new UploadRefusedError('Die hochgeladene Datei ist kein PDF.', 'not-pdf');
  if (upload.length === sent.length && sha(upload) === sha(sent)) {
    throw new UploadRefusedError('Die hochgeladene Datei ist das unveränderte Dokument: Es enthält keine neue Unterschrift.', 'unchanged');
  }
  if (upload.length <= sent.length || sha(upload.subarray(0, sent.length)) !== sha(sent)) {
    throw new UploadRefusedError(
      'Die Datei beginnt nicht mit dem Dokument, das Ihnen zugesandt wurde: Entweder ist es ein anderes Dokument, oder es wurde beim Signieren neu gespeichert statt inkrementell ergänzt (z. B. „Speichern unter“ oder eine Optimierung). Bitte signieren Sie die heruntergeladene Datei unverändert in Ihrem Feld und laden Sie das Ergebnis hoch.',
      'not-incremental',
    );
  }

  let sentDoc, uploadDoc;
  try {
    sentDoc = await readAgreementPdf(sent);
    uploadDoc = await readAgreementPdf(upload);
  } catch (e) {
    if (e instanceof AgreementPdfError) throw new UploadRefusedError(`Die hochgeladene Datei ist kein lesbares Zielwerk-Dokument mehr: ${e.message}`, 'disallowed-change');
    throw e;
  }
  const mine = sentDoc.fields.find((f) => f.entry.party === opts.signatory.party && f.entry.index === opts.signatory.index);
  if (!mine) throw new UploadRefusedError('Ihr Unterschriftsfeld fehlt im Dokument.', 'wrong-field');
  const newRanges = byteRanges(upload).filter((r) => r.a >= sent.length);
  if (newRanges.length === 0) throw new UploadRefusedError(`Die Datei enthält keine neue Unterschrift. Bitte signieren Sie im Feld „${mine.entry.fieldName}“ (${mine.entry.name}).`, 'no-signature');
  if (newRanges.length > 1) throw new UploadRefusedError(`Die Datei enthält ${newRanges.length} neue Unterschriften; erlaubt ist genau eine, Ihre eigene.`, 'several-signatures');

  const wasSigned = new Set(sentDoc.fields.filter((f) => f.signature).map((f) => f.entry.fieldName));
  const nowSigned = uploadDoc.fields.filter((f) => f.signature && !wasSigned.has(f.entry.fieldName));
  const other = nowSigned.find((f) => f.entry.fieldName !== mine.entry.fieldName);
  if (other) {
    throw new UploadRefusedError(`Die Unterschrift steht im Feld von ${other.entry.name} (${other.entry.role}) statt in Ihrem Feld „${mine.entry.fieldName}“ (${mine.entry.name}).`, 'wrong-field');
  }
  if (!nowSigned.length) {
    throw new UploadRefusedError(`Die neue Unterschrift steht nicht in Ihrem Unterschriftsfeld „${mine.entry.fieldName}“ (${mine.entry.name}), sondern in einem neuen Feld. Bitte signieren Sie im vorhandenen Feld.`, 'wrong-field');
  }

  // From the sent revision to the revision the new signature covers: only a signing tool's changes.
  const range = newRanges[0]!;
  const signedEnd = range.b + range.c;
  const signedRevision = await PDF.load(upload.subarray(0, signedEnd));
  const diff = diffRevisions(sentDoc.pdf, signedRevision, sentDoc.metadata.dateSlots);
  if (diff.disallowed.length) {
    throw new UploadRefusedError(`Beim Signieren wurde mehr verändert als Ihr Unterschriftsfeld: ${diff.disallowed.map(germanChange).join('; ')}.`, 'disallowed-change');
  }

  const report = await verifyAgreement(upload, { trust: opts.trust, skipReproduction: true });
  const mineReport = report.signatures.find((s) => s.field === mine.entry.fieldName);
  if (!mineReport) throw new UploadRefusedError('Die neue Unterschrift ließ sich nicht lesen.', 'invalid-signature');
  for (const s of report.signatures) {
    if (s !== mineReport && s.status === 'invalid') {
      throw new UploadRefusedError(`Nach Ihrer Änderung ist die frühere Unterschrift von ${s.name} nicht mehr gültig (${s.problems.join('; ')}).`, 'disallowed-change');
    }
  }
  if (mineReport.status !== 'valid') {
    const c = mineReport.checks;
    if (!c.integrity || !c.signature || !c.signingCertificateAttribute) {
      throw new UploadRefusedError(`Die Unterschrift ist kryptografisch nicht gültig: ${mineReport.problems.join('; ') || 'Prüfung fehlgeschlagen'}.`, 'invalid-signature');
    }
    if (!c.unchangedSince) throw new UploadRefusedError(`Nach Ihrer Unterschrift wurde die Datei noch verändert: ${mineReport.changesAfter.map(germanChange).join('; ')}.`, 'disallowed-change');
    if (c.chain !== 'trusted') {
      throw new UploadRefusedError(
        `Das Zertifikat (${mineReport.certificate?.subject ?? '?'}, ausgestellt von ${mineReport.certificate?.issuer ?? '?'}) stammt von einer Stelle, der diese Zielwerk-Instanz nicht vertraut. Die Administration kann die ausstellende CA mit „zv trust add“ aufnehmen.`,
        'untrusted',
      );
    }
    if (!c.validAtSigningTime) throw new UploadRefusedError(`Das Zertifikat war zum Zeitpunkt der Unterschrift nicht gültig (gültig ${mineReport.certificate?.validFrom.slice(0, 10)} bis ${mineReport.certificate?.validTo.slice(0, 10)}).`, 'invalid-signature');
    throw new UploadRefusedError(`Die Unterschrift ist nicht gültig: ${mineReport.problems.join('; ')}.`, 'invalid-signature');
  }
  const field = uploadDoc.fields.find((f) => f.entry.fieldName === mine.entry.fieldName)!;
  const cmsCert = parseCades(field.signature!.getString('Contents')!.bytes).signerCertificate;
  const signingTime = mineReport.timestamp ? new Date(mineReport.timestamp) : mineReport.signingTime ? new Date(mineReport.signingTime) : (opts.now ?? new Date());
  return {
    certificate: cmsCert,
    subject: mineReport.certificate!.subject,
    subFilter: mineReport.subFilter!,
    signingTime,
    place: (mineReport.place ?? '').trim(),
    date: berlinDay(signingTime),
    timestamp: mineReport.timestamp,
  };
}

function germanChange(c: { object: string; what: string }): string {
  if (/annotation|page/.test(c.object)) return `Seite oder Anmerkungen geändert (${c.object}: ${c.what})`;
  if (/signature field/.test(c.object)) return `anderes Unterschriftsfeld geändert (${c.object}: ${c.what})`;
  return `${c.object}: ${c.what}`;
}
