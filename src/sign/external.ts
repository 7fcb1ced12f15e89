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
import { X509Certificate } from 'node:crypto';
import { PDF, PdfDict, PdfNumber, PdfRef } from '@libpdf/core';
import { readAgreementPdf, AgreementPdfError, type SignatoryRef } from './agreement-pdf.ts';
import { parseCades } from './cms.ts';
import { canonical, diffRevisions } from './revisions.ts';
import { pageContents, verifyAgreement } from './verify.ts';
import type { TrustConfig } from './trust-config.ts';
import { sha256Hex } from '../digest.ts';

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

const sha = sha256Hex;
const berlinDay = (d: Date) => new Intl.DateTimeFormat('sv-SE', { timeZone: 'Europe/Berlin' }).format(d);

/** Object numbers of signature dictionaries (a /ByteRange and /Contents), as the parser sees them. */
function signatureDicts(pdf: PDF): Map<number, string> {
  const out = new Map<number, string>();
  const size = pdf.context.info.trailer.getNumber('Size')?.value ?? 0;
  for (let n = 1; n < size; n++) {
    const o = pdf.getObject(PdfRef.of(n, 0));
    if (o instanceof PdfDict && o.has('ByteRange') && o.has('Contents')) out.set(n, canonical(o));
  }
  return out;
}

/** [0, a, b, c] of a signature dictionary, when it is four direct non-negative integers starting with 0. */
function byteRangeOf(sig: PdfDict): [number, number, number, number] | null {
  const arr = sig.getArray('ByteRange')?.toArray() ?? [];
  const nums = arr.map((n) => (n instanceof PdfNumber ? n.value : NaN));
  if (nums.length !== 4 || nums.some((n) => !Number.isInteger(n) || n < 0) || nums[0] !== 0) return null;
  return nums as [number, number, number, number];
}

const FIVE_MINUTES = 5 * 60_000;

export async function checkExternalSignature(
  sent: Uint8Array,
  upload: Uint8Array,
  opts: { signatory: SignatoryRef; trust: Uint8Array[] | TrustConfig; now?: Date; /** When the sent revision was stored: a signature cannot be older. */ sentAt?: Date },
): Promise<AcceptedUpload> {
  const now = opts.now ?? new Date();
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

  const wasSigned = new Set(sentDoc.fields.filter((f) => f.signature).map((f) => f.entry.fieldName));
  const nowSigned = uploadDoc.fields.filter((f) => f.signature && !wasSigned.has(f.entry.fieldName));
  const other = nowSigned.find((f) => f.entry.fieldName !== mine.entry.fieldName);
  if (other) {
    throw new UploadRefusedError(`Die Unterschrift steht im Feld von ${other.entry.name} (${other.entry.role}) statt in Ihrem Feld „${mine.entry.fieldName}“ (${mine.entry.name}).`, 'wrong-field');
  }
  // New signature dictionaries as the parser sees them (a text search could be fooled by a comment).
  const before = signatureDicts(sentDoc.pdf);
  const added = [...signatureDicts(uploadDoc.pdf)].filter(([n, text]) => before.get(n) !== text);
  if (added.length === 0) throw new UploadRefusedError(`Die Datei enthält keine neue Unterschrift. Bitte signieren Sie im Feld „${mine.entry.fieldName}“ (${mine.entry.name}).`, 'no-signature');
  if (added.length > 1) throw new UploadRefusedError(`Die Datei enthält ${added.length} neue Unterschriften; erlaubt ist genau eine, Ihre eigene.`, 'several-signatures');
  if (!nowSigned.length) {
    throw new UploadRefusedError(`Die neue Unterschrift steht nicht in Ihrem Unterschriftsfeld „${mine.entry.fieldName}“ (${mine.entry.name}), sondern in einem neuen Feld. Bitte signieren Sie im vorhandenen Feld.`, 'wrong-field');
  }
  const ownSig = nowSigned[0]!.signature!;
  const range = byteRangeOf(ownSig);
  if (!range || range[1] < sent.length || range[2] + range[3] > upload.length || range[2] <= range[1]) {
    throw new UploadRefusedError('Die Signatur in Ihrem Feld hat keinen gültigen Byte-Bereich hinter dem zugesandten Dokument.', 'invalid-signature');
  }

  // From the sent revision to the revision the new signature covers: only a signing tool's changes.
  const signedRevision = await PDF.load(upload.subarray(0, range[2] + range[3]));
  const diff = diffRevisions(sentDoc.pdf, signedRevision, sentDoc.metadata.dateSlots);
  if (diff.disallowed.length) {
    throw new UploadRefusedError(`Beim Signieren wurde mehr verändert als Ihr Unterschriftsfeld: ${diff.disallowed.map(germanChange).join('; ')}.`, 'disallowed-change');
  }
  // Defence in depth: the pages' content is byte for byte the sent one, in the signed revision and the file.
  const sentPages = pageContents(sentDoc.pdf).join('\u0000');
  if (pageContents(signedRevision).join('\u0000') !== sentPages || pageContents(uploadDoc.pdf).join('\u0000') !== sentPages) {
    throw new UploadRefusedError('Beim Signieren wurde der Seiteninhalt verändert.', 'disallowed-change');
  }

  const trust = Array.isArray(opts.trust) ? { trust: opts.trust } : opts.trust;
  const report = await verifyAgreement(upload, { ...trust, skipReproduction: true });
  const foreign = report.signatures.find((s) => s.field === mine.entry.fieldName)?.foreignContent ?? [];
  if (foreign.length) {
    throw new UploadRefusedError(`Die signierte Datei enthält, was Zielwerk nicht erzeugt (${foreign.map(germanChange).join('; ')}). Bitte signieren Sie das zugesandte Dokument ohne weitere Änderungen.`, 'disallowed-change');
  }
  if (report.problems.length) throw new UploadRefusedError(`Die Datei ist nicht einwandfrei: ${report.problems.join('; ')}.`, 'disallowed-change');
  const mineReport = report.signatures.find((s) => s.field === mine.entry.fieldName);
  if (!mineReport) throw new UploadRefusedError('Die neue Unterschrift ließ sich nicht lesen.', 'invalid-signature');
  for (const s of report.signatures) {
    if (s !== mineReport && s.status === 'invalid') {
      throw new UploadRefusedError(`Nach Ihrer Änderung ist die frühere Unterschrift von ${s.name} nicht mehr gültig (${s.problems.join('; ')}).`, 'disallowed-change');
    }
  }
  if (mineReport.status !== 'valid') {
    const c = mineReport.checks;
    if (mineReport.subIndication === 'SIGNATORY_MISMATCH') {
      throw new UploadRefusedError(`Die Datei ist von ${mineReport.signer?.name ?? 'jemand anderem'} unterschrieben, nicht von ${mine.entry.name}: In Ihrem Feld muss Ihre eigene Signatur stehen.`, 'invalid-signature');
    }
    if (!c.integrity || !c.signature || !c.signingCertificateAttribute) {
      throw new UploadRefusedError(`Die Unterschrift ist kryptografisch nicht gültig: ${mineReport.problems.join('; ') || 'Prüfung fehlgeschlagen'}.`, 'invalid-signature');
    }
    if (!c.unchangedSince) throw new UploadRefusedError(`Nach Ihrer Unterschrift wurde die Datei noch verändert: ${mineReport.changesAfter.map(germanChange).join('; ')}.`, 'disallowed-change');
    if (mineReport.subIndication === 'OUT_OF_BOUNDS_NO_POE') {
      throw new UploadRefusedError(`Das Zertifikat ist jetzt nicht gültig (gültig ${mineReport.certificate?.validFrom.slice(0, 10)} bis ${mineReport.certificate?.validTo.slice(0, 10)}), und kein Zeitstempel beweist eine frühere Unterschrift.`, 'invalid-signature');
    }
    if (c.chain !== 'trusted') {
      throw new UploadRefusedError(
        `Das Zertifikat (${mineReport.certificate?.subject ?? '?'}, ausgestellt von ${mineReport.certificate?.issuer ?? '?'}) stammt von einer Stelle, der diese Zielwerk-Instanz nicht vertraut. Die Administration kann die ausstellende CA mit „zv trust add“ aufnehmen.`,
        'untrusted',
      );
    }
    if (!c.validAtSigningTime) throw new UploadRefusedError(`Das Zertifikat war zum Zeitpunkt der Unterschrift nicht gültig (gültig ${mineReport.certificate?.validFrom.slice(0, 10)} bis ${mineReport.certificate?.validTo.slice(0, 10)}).`, 'invalid-signature');
    throw new UploadRefusedError(`Die Unterschrift ist nicht gültig: ${mineReport.problems.join('; ')}.`, 'invalid-signature');
  }
  const cmsCert = parseCades(ownSig.getString('Contents')!.bytes).signerCertificate;
  // The signing time an uploader claims (/M) is trusted only within the window in which the
  // signature can have been made: after we sent this revision, not in the future. Without a
  // trusted time-stamp, the certificate must also be valid now.
  const signingTime = mineReport.timestamp && mineReport.checks.timestamp ? new Date(mineReport.timestamp) : mineReport.signingTime ? new Date(mineReport.signingTime) : now;
  if (opts.sentAt && signingTime.getTime() < opts.sentAt.getTime() - FIVE_MINUTES) {
    throw new UploadRefusedError(`Die Signaturzeit (${signingTime.toISOString().slice(0, 16).replace('T', ' ')} UTC) liegt vor dem Versand dieses Dokuments; eine rückdatierte Signatur wird nicht angenommen.`, 'invalid-signature');
  }
  if (signingTime.getTime() > now.getTime() + FIVE_MINUTES) throw new UploadRefusedError('Die Signaturzeit liegt in der Zukunft.', 'invalid-signature');
  const leaf = new X509Certificate(cmsCert);
  if (!(mineReport.timestamp && mineReport.checks.timestamp) && (new Date(leaf.validTo) < now || new Date(leaf.validFrom) > now)) {
    throw new UploadRefusedError(`Das Zertifikat ist jetzt nicht gültig (gültig ${new Date(leaf.validFrom).toISOString().slice(0, 10)} bis ${new Date(leaf.validTo).toISOString().slice(0, 10)}).`, 'invalid-signature');
  }
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
