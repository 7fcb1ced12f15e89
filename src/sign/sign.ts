/**
 * Signs one signatory's field of an agreement PDF: visible stamp + PAdES signature
 * (ETSI.CAdES.detached, SHA-256), written as an incremental update so that every earlier
 * signature keeps covering exactly the bytes it signed.
 *
 * The update touches only: the signatory's field/widget (/V, /AP, /Rect), the AcroForm
 * (/SigFlags), and new objects (signature dictionary, appearance XObject with its font and
 * image). Page content is never rewritten — the verifier checks exactly that.
 *
 * Signing is two steps so that a batch can be authorised once: `prepareSignature` does every
 * check (signatory known, field unsigned, order, certificate validity, date, image), builds the
 * update with a zeroed /Contents and returns the digest the signer must sign; `completeSignature`
 * embeds the signer's value (plus a time-stamp) into the reserved space. `signAgreement` does both
 * with one signer. Nothing is written here; the caller stores the result atomically.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { PDF, PdfArray, PdfDict, PdfName, PdfNumber, PdfString } from '@libpdf/core';
import { formatDate } from '../compose/format.ts';
import { isValidIsoDate } from '../model/agreement.ts';
// The stamp's date uses the agreement's body size; /M uses the renderer's UTC PDF date format.
import { BODY_SIZE, pdfDate, renderPdf } from '../render/pdf/index.ts';
import { CREATOR_TOOL } from '../render/pdf/pdfa.ts';
import { diffRevisions } from './revisions.ts';
import { foreignContent } from './foreign.ts';
import type { ComposedAgreement } from '../compose/index.ts';
import { AgreementPdfError, deref, findField, formatSignatoryRef, readAgreementPdf } from './agreement-pdf.ts';
import type { AgreementPdf, SignatoryRef, SignatureFieldState } from './agreement-pdf.ts';
import { assembleSignedData, sha256, signatureAlgorithmIdentifier, signatureTimestampAttribute, signedAttributesFor } from './cms.ts';
import type { SignatoryPerson, TimestampAuthority } from './identity.ts';
import type { Signer, SigningSession } from './signer.ts';
import type { Level } from './verify.ts';
import { certifiedName, namesSignatory, purposeProblem, subjectNames } from './certs.ts';
import { printedPlaces, recompose } from './reproduce.ts';
import { checkSignatureImage, renderStamp } from './stamp.ts';
import type { Rect } from './stamp.ts';
import { berlinDateTime } from '../compose/format.ts';

export class SignError extends Error {}

export interface SignOptions {
  signatory: SignatoryRef;
  /** The signer (key store, PKCS#11, CSC), or a look-up for the signatory (called after all document checks). */
  signer: Signer | ((person: SignatoryPerson, at: Date) => Promise<Signer>);
  /** The date stamped after "<place>, den" (ISO yyyy-mm-dd); defaults to the signing day. */
  date?: string;
  /** Required when `date` is not the signing day: why the agreement carries another date (kept in the audit trail). */
  backdateReason?: string;
  /** Defaults to the place printed in the party's column (the seat). */
  place?: string;
  /** Signature mark (PNG/JPEG); without it the name is written in italics. */
  image?: Uint8Array;
  /** When given, the signature gets an RFC 3161 signature time-stamp (PAdES B-T). */
  tsa?: TimestampAuthority;
  /** The moment of signing (the PDF's /M); defaults to now. */
  signingTime?: Date;
  /** What the signature will be (see verify.ts expectedLevel), for the stamp's label; the key store is always simple. */
  stampLevel?: Level;
  /**
   * The draft Zielwerk generated for this agreement, as registered in the store: the PDF's first
   * revision must be exactly these bytes. Without it the embedded data is re-rendered and must
   * give the first revision byte for byte.
   */
  draft?: Uint8Array;
}

/** The stamp says what the signature is. */
export const STAMP_LABELS: Record<Level | 'unknown', string> = {
  qualified: 'Qualifiziert elektronisch signiert',
  advanced: 'Fortgeschritten elektronisch signiert',
  simple: 'Elektronisch signiert (einfache Signatur)',
  unknown: 'Elektronisch signiert',
};

export interface SignResult {
  bytes: Uint8Array;
  fieldName: string;
  name: string;
  role: string;
  place: string;
  date: string;
  signingTime: Date;
  /** Signatories still to sign, in order. */
  remaining: { ref: string; name: string; role: string }[];
  /** Where the key lived (key store = the embedded default, a simple signature). */
  signer: { kind: Signer['kind']; description: string };
  /** Set when the stamped date is not the signing day (confirmed with a reason). */
  backdated: { signingDay: string; reason: string } | null;
}

/** Key in the signature dictionary holding the stamped date (second-class name, prefixed). */
export const STAMP_DATE_KEY = 'ZV_StampDate';

const BYTE_RANGE_PLACEHOLDER = '/ByteRange [0 9999999999 9999999999 9999999999]';

/** "21.11.2026, 14:03 MEZ" */
export function formatSigningTime(d: Date): string {
  return berlinDateTime(d);
}

const isoDay = (d: Date) => new Intl.DateTimeFormat('sv-SE', { timeZone: 'Europe/Berlin' }).format(d);

function checkCertificate(signer: Signer, at: Date): X509Certificate {
  const cert = new X509Certificate(signer.certificate);
  const from = new Date(cert.validFrom);
  const to = new Date(cert.validTo);
  if (at < from) throw new SignError(`the certificate of ${cert.subject.split('\n').join(', ')} is not valid yet (valid from ${from.toISOString()})`);
  if (at > to) throw new SignError(`the certificate of ${cert.subject.split('\n').join(', ')} expired on ${to.toISOString()}`);
  return cert;
}

const union = (a: Rect, b: Rect): Rect => [Math.min(a[0], b[0]), Math.min(a[1], b[1]), Math.max(a[2], b[2]), Math.max(a[3], b[3])];
const numbers = (arr: PdfArray | undefined): number[] => (arr ? arr.toArray().map((n) => (n instanceof PdfNumber ? n.value : NaN)) : []);

/** Room for the CMS: certificates, signed attributes, the signature and (if any) a time-stamp token. */
function contentsSize(signer: Signer, tsa: boolean): number {
  const certs = signer.certificate.length + signer.chain.reduce((n, c) => n + c.length, 0);
  return 2048 + certs + (tsa ? 8192 : 0);
}

/** An update ready for its signature value: what the signer signs, and where the CMS goes. */
export interface PreparedSignature {
  /** The signed attributes' SHA-256: what the signer signs. */
  digest: Uint8Array;
  /** The DER signed attributes over the byte-range digest. */
  signedAttributes: Uint8Array;
  signer: Signer;
  /** The input plus the update, /Contents still zero. */
  bytes: Buffer;
  contentsStart: number;
  contentsEnd: number;
  /** Everything SignResult reports except the bytes. */
  result: Omit<SignResult, 'bytes'>;
}

/**
 * Where a field's stamp goes: its slot, and — for a party's first signatory — the party's
 * "<place>, den" line, whose blank the date fills; the widget grows to take both in.
 */
export function stampGeometry(doc: AgreementPdf, field: SignatureFieldState): { slot: Rect; dateSlot: { rect: number[]; baseline: number } | undefined; rect: Rect } {
  const { entry } = field;
  const slot = numbers(field.dict.getArray('Rect')) as Rect;
  if (slot.length !== 4 || slot.some((n) => !Number.isFinite(n))) throw new SignError(`signature field ${entry.fieldName} has no usable /Rect`);
  const firstOfParty = !doc.fields.some((f) => f.entry.party === entry.party && f.entry.index < entry.index);
  const dateSlot = firstOfParty ? doc.metadata.dateSlots.find((d) => d.party === entry.party) : undefined;
  return { slot, dateSlot, rect: dateSlot ? union(slot, dateSlot.rect as Rect) : slot };
}

/**
 * Only our own drafts get signed (shadow attacks): the first revision must be the registered draft
 * or what the embedded data renders to, byte for byte; everything after it only signatures
 * filling their fields — no overlay annotation, no extra field, no hidden object.
 */
async function checkOwnDraft(input: Uint8Array, doc: AgreementPdf, composed: ComposedAgreement, registered?: Uint8Array): Promise<void> {
  const draft = registered ?? (await renderPdf(composed.tree));
  const origin = registered ? 'the draft registered for this agreement' : `what its embedded data renders to with ${CREATOR_TOOL}`;
  const prefix = Buffer.from(input.buffer, input.byteOffset, Math.min(input.length, draft.length));
  if (input.length < draft.length || !prefix.equals(draft)) {
    throw new SignError(
      `this PDF's first revision is not a draft Zielwerk generated: it differs from ${origin}. Only Zielwerk's own drafts are signed ` +
        '(a doctored draft can hide content in overlays, extra form fields or unused objects); generate the agreement anew and sign that; nothing was signed',
    );
  }
  if (input.length === draft.length) return;
  const changed = diffRevisions(await PDF.load(draft), doc.pdf, doc.metadata.dateSlots).disallowed.map((c) => `${c.object}: ${c.what}`);
  const foreign = ((await foreignContent(input, doc.metadata.signatories, [input.length], doc.pdf)).get(input.length) ?? []).map((c) => `${c.object}: ${c.what}`);
  const problems = [...changed, ...foreign];
  if (problems.length) throw new SignError(`this PDF was changed since Zielwerk generated it beyond signatures in their fields (${problems.join('; ')}); nothing was signed`);
}

/** Signs one field with one signer: prepare, authorise this one digest, sign, complete. */
export async function signAgreement(input: Uint8Array, opts: SignOptions): Promise<SignResult> {
  const prepared = await prepareSignature(input, opts);
  const session = await prepared.signer.authorize([prepared.digest]);
  try {
    return await completeSignature(prepared, session, opts.tsa);
  } finally {
    await session.close();
  }
}

/** Embeds the signature value the session makes for `prepared` (plus a signature time-stamp when a TSA is given). */
export async function completeSignature(prepared: PreparedSignature, session: SigningSession, tsa?: TimestampAuthority): Promise<SignResult> {
  const { signer, signedAttributes } = prepared;
  const signature = await session.sign({ digest: prepared.digest, data: signedAttributes });
  const cms = assembleSignedData({
    certificate: signer.certificate,
    chain: signer.chain,
    signedAttributes,
    signatureAlgorithm: signatureAlgorithmIdentifier(signer.scheme),
    signature,
    unsignedAttributes: tsa ? [await signatureTimestampAttribute(tsa, signature)] : [],
  });
  const hex = Buffer.from(cms).toString('hex');
  const { contentsStart, contentsEnd } = prepared;
  if (hex.length > contentsEnd - contentsStart - 2) throw new SignError('internal: the signature is larger than the space reserved for it');
  const out = Buffer.from(prepared.bytes); // the prepared bytes stay reusable (a retry signs them again)
  out.write(hex, contentsStart + 1, 'latin1');
  return { ...prepared.result, bytes: new Uint8Array(out.buffer, out.byteOffset, out.length) };
}

export async function prepareSignature(input: Uint8Array, opts: Omit<SignOptions, 'tsa'> & { tsa?: TimestampAuthority | boolean }): Promise<PreparedSignature> {
  const signingTime = opts.signingTime ?? new Date();
  let doc;
  try {
    doc = await readAgreementPdf(input);
  } catch (e) {
    if (e instanceof AgreementPdfError) throw new SignError(e.message);
    throw e;
  }
  const field = (() => {
    try {
      return findField(doc, opts.signatory);
    } catch (e) {
      throw new SignError((e as Error).message);
    }
  })();
  const { entry } = field;
  const who = `${entry.name} (${entry.role}, ${formatSignatoryRef(entry)})`;
  if (field.signature) throw new SignError(`${who} has already signed this agreement; a field cannot be signed twice`);
  const waiting = doc.fields.find((f) => f.entry.order < entry.order && !f.signature);
  if (waiting) {
    throw new SignError(`not ${entry.name}'s turn yet: ${waiting.entry.name} (${waiting.entry.role}, ${formatSignatoryRef(waiting.entry)}) signs first`);
  }
  if (opts.image) checkSignatureImage(opts.image);

  const date = opts.date ?? isoDay(signingTime);
  if (!isValidIsoDate(date)) throw new SignError(`--date must be a date such as 2023-05-30, got ${JSON.stringify(date)}`);
  if (date > isoDay(signingTime)) throw new SignError(`the date ${date} lies after the moment of signing (${isoDay(signingTime)})`);
  // A stamped date other than the signing day changes what the document says: only on purpose, with a reason.
  const signingDay = isoDay(signingTime);
  const reason = opts.backdateReason?.trim() ?? '';
  if (date !== signingDay && !reason) {
    throw new SignError(`the date ${date} is not the signing day (${signingDay}); to stamp the agreement's date instead, confirm it with --backdate-reason "<why>" (kept in the audit trail)`);
  }
  if (reason.length > 500) throw new SignError('--backdate-reason must be at most 500 characters');
  const earlier = doc.fields.map((f) => f.signature?.getString(STAMP_DATE_KEY)?.asString()).filter((d): d is string => !!d);
  const latest = earlier.sort().at(-1);
  if (latest && date < latest) throw new SignError(`the date ${date} lies before the date of an earlier signature (${latest})`);

  let composed;
  try {
    composed = recompose(doc);
  } catch (e) {
    throw new SignError(`the agreement's embedded input cannot be read: ${(e as Error).message.replace(/\s*\n\s*/g, '; ')}`);
  }
  await checkOwnDraft(input, doc, composed, opts.draft);
  const printed = printedPlaces(composed)[entry.party];
  const place = (opts.place ?? printed).trim();
  if (!place) throw new SignError('--place must not be empty');
  if (place.length > 60) throw new SignError('--place must be at most 60 characters');
  const organisation = entry.party === 'ministry' ? composed.resolved.ministry.name : composed.resolved.partner.name;
  const signer = typeof opts.signer === 'function' ? await opts.signer({ name: entry.name, role: entry.role, organisation }, signingTime) : opts.signer;
  checkCertificate(signer, signingTime);
  // A signature is bound to the person of its field: a certificate of someone else would only make an invalid one.
  const names = subjectNames(signer.certificate);
  if (!namesSignatory(names, entry.name)) {
    throw new SignError(`the certificate names ${certifiedName(names) ?? 'nobody'}, but this field is for ${entry.name} (${entry.role}): a signature must be made with the signatory's own certificate`);
  }
  const purpose = purposeProblem(signer.certificate);
  if (purpose) throw new SignError(`${purpose}; nothing was signed`);
  const dateStyle = doc.metadata.dateStyle === 'numeric' ? 'numeric' : 'long';
  const dateText = formatDate(date, dateStyle);

  const { slot, dateSlot, rect } = stampGeometry(doc, field);
  const movedPlace = place !== printed;
  const label = STAMP_LABELS[signer.kind === 'keystore' ? 'simple' : (opts.stampLevel ?? 'unknown')];
  const footer = `${label}: ${entry.name}${entry.role ? `, ${entry.role}` : ''}, ${formatSigningTime(signingTime)}${movedPlace && dateSlot ? `, in ${place}` : ''}`;

  const stamp = await renderStamp({
    rect,
    slot,
    dateAfterPlace: dateSlot ? { x: dateSlot.rect[0], baseline: dateSlot.baseline, size: BODY_SIZE, text: dateText } : undefined,
    placeDateLine: dateSlot ? undefined : `${place}, den ${dateText}`,
    image: opts.image,
    name: entry.name,
    footer,
  });

  const pdf = doc.pdf;
  const appearance = await pdf.embedPage(await PDF.load(stamp), 0);
  const title = pdf.getMetadata().title ?? '';
  const sigDict = PdfDict.of({
    Type: PdfName.of('Sig'),
    Filter: PdfName.of('Adobe.PPKLite'),
    SubFilter: PdfName.of('ETSI.CAdES.detached'),
    ByteRange: new PdfArray([0, 9999999999, 9999999999, 9999999999].map((n) => PdfNumber.of(n))),
    Contents: PdfString.fromHex('00'.repeat(contentsSize(signer, !!opts.tsa))),
    M: PdfString.fromString(pdfDate(signingTime)),
    Name: PdfString.fromString(entry.name),
    Location: PdfString.fromString(place),
    Reason: PdfString.fromString(`${entry.role ? `${entry.role} – ` : ''}${title}`),
    [STAMP_DATE_KEY]: PdfString.fromString(date),
  });
  field.dict.set('V', pdf.register(sigDict));
  field.dict.set('Rect', new PdfArray(rect.map((n) => PdfNumber.of(Math.round(n * 1000) / 1000))));
  field.dict.set('AP', PdfDict.of({ N: appearance.ref }));
  const acroDict = deref(pdf, pdf.getCatalog().get('AcroForm'));
  if (acroDict instanceof PdfDict) acroDict.set('SigFlags', PdfNumber.of(3));

  const out = Buffer.from(await pdf.save({ incremental: true }));
  if (out.length <= input.length || !out.subarray(0, input.length).equals(input)) {
    throw new SignError('internal: the PDF could not be saved as an incremental update; nothing was signed');
  }
  const { contentsStart, contentsEnd } = patchByteRange(out, input.length);
  const documentDigest = createHash('sha256').update(out.subarray(0, contentsStart)).update(out.subarray(contentsEnd)).digest();
  const signedAttributes = signedAttributesFor(signer.certificate, documentDigest);
  return {
    digest: sha256(signedAttributes),
    signedAttributes,
    signer,
    bytes: out,
    contentsStart,
    contentsEnd,
    result: {
      fieldName: entry.fieldName,
      name: entry.name,
      role: entry.role,
      place,
      date,
      signingTime,
      remaining: doc.fields
        .filter((f) => !f.signature && f !== field)
        .map((f) => ({ ref: formatSignatoryRef(f.entry), name: f.entry.name, role: f.entry.role })),
      signer: { kind: signer.kind, description: signer.description },
      backdated: date !== signingDay ? { signingDay, reason } : null,
    },
  };
}

/** Fills in /ByteRange around the /Contents placeholder of the update that starts at `from`. */
function patchByteRange(out: Buffer, from: number): { contentsStart: number; contentsEnd: number } {
  const br = out.indexOf(BYTE_RANGE_PLACEHOLDER, from, 'latin1');
  if (br < 0 || out.indexOf(BYTE_RANGE_PLACEHOLDER, br + 1, 'latin1') >= 0) throw new SignError('internal: byte range placeholder not found exactly once');
  const contentsKey = out.indexOf('/Contents <0000', br, 'latin1');
  if (contentsKey < 0) throw new SignError('internal: contents placeholder not found');
  const contentsStart = contentsKey + '/Contents '.length;
  const contentsEnd = out.indexOf('>', contentsStart, 'latin1') + 1;
  const range = `/ByteRange [0 ${contentsStart} ${contentsEnd} ${out.length - contentsEnd}]`;
  if (range.length > BYTE_RANGE_PLACEHOLDER.length) throw new SignError('internal: byte range does not fit its placeholder');
  out.write(range.padEnd(BYTE_RANGE_PLACEHOLDER.length, ' '), br, 'latin1');
  return { contentsStart, contentsEnd };
}
