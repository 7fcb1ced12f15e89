/**
 * Long-term validation material in a PDF (PAdES B-LT / B-LTA, ETSI EN 319 142-1): the document
 * security store (/DSS with certificates, CRLs, OCSP responses and per-signature /VRI entries)
 * and document time-stamps (/Type /DocTimeStamp, /SubFilter /ETSI.RFC3161). Reading is ours;
 * writing goes through @libpdf/core (`addValidationData`, `addTimestamp`), whose output our
 * modification analysis and independent tools (qpdf, pdfsig, openssl ts) accept.
 */
import { createHash } from 'node:crypto';
import { PDF, PdfArray, PdfDict, PdfStream } from '@libpdf/core';
import type { PdfObject, RevocationProvider } from '@libpdf/core';
import { deref } from './agreement-pdf.ts';
import { parseTimeStampToken, DIGESTS } from './cms.ts';
import type { ParsedTimeStampToken } from './cms.ts';
import type { TimestampAuthority } from './identity.ts';

export interface DssMaterial {
  certificates: Uint8Array[];
  crls: Uint8Array[];
  ocsps: Uint8Array[];
  /** Upper-case hex SHA-1 of the signature values the /VRI names. */
  vri: string[];
}

const streamsOf = (pdf: PDF, d: PdfDict | undefined, key: string): Uint8Array[] => {
  const arr = d ? deref(pdf, d.get(key)) : undefined;
  if (!(arr instanceof PdfArray)) return [];
  return arr
    .toArray()
    .map((r) => deref(pdf, r as PdfObject))
    .filter((s): s is PdfStream => s instanceof PdfStream)
    .map((s) => new Uint8Array(s.getDecodedData()));
};

/** The /DSS of the document (empty when there is none). */
export function readDss(pdf: PDF): DssMaterial {
  const dss = deref(pdf, pdf.getCatalog().get('DSS'));
  if (!(dss instanceof PdfDict)) return { certificates: [], crls: [], ocsps: [], vri: [] };
  const vri = deref(pdf, dss.get('VRI'));
  return {
    certificates: streamsOf(pdf, dss, 'Certs'),
    crls: streamsOf(pdf, dss, 'CRLs'),
    ocsps: streamsOf(pdf, dss, 'OCSPs'),
    vri: vri instanceof PdfDict ? [...vri.keys()].map((k) => k.value.toUpperCase()) : [],
  };
}

/** A /VRI key: upper-case hex SHA-1 of a signature's /Contents. */
export function vriKey(contents: Uint8Array): string {
  return createHash('sha1').update(contents).digest('hex').toUpperCase();
}

/**
 * Whether the DSS has a /VRI entry for this signature. Writers differ in what they hash: the
 * /Contents string as stored, zero padding included (@libpdf/core, PDF 2.0 12.8.4.3), or only the
 * DER signature in it; both are recognised.
 */
export function hasVri(vri: string[], contents: Uint8Array): boolean {
  return vri.includes(vriKey(contents)) || vri.includes(vriKey(contents.subarray(0, derElementLength(contents))));
}

export interface DocumentTimestamp {
  field: string;
  /** Byte offset up to which the time-stamp covers the file. */
  end: number;
  coversWholeDocument: boolean;
  token: Uint8Array;
  parsed: ParsedTimeStampToken | null;
  /** The token's imprint is the digest of the byte range. */
  imprintMatches: boolean;
  problems: string[];
}

const numbersOf = (d: PdfDict, key: string) => (d.getArray(key)?.toArray() ?? []).map((n) => (n as unknown as { value: number }).value);

/** Length of the DER element at the start of `bytes` (a /Contents is zero-padded). */
export function derElementLength(bytes: Uint8Array): number {
  if (bytes.length < 2) return bytes.length;
  const first = bytes[1]!;
  if (first < 0x80) return 2 + first;
  const n = first & 0x7f;
  let len = 0;
  for (let i = 0; i < n; i++) len = len * 256 + bytes[2 + i]!;
  return Math.min(bytes.length, 2 + n + len);
}

/** Every document time-stamp of the file, in file order, each checked against its byte range. */
export function documentTimestamps(bytes: Uint8Array, pdf: PDF): DocumentTimestamp[] {
  const acroForm = deref(pdf, pdf.getCatalog().get('AcroForm'));
  const fields = acroForm instanceof PdfDict ? deref(pdf, acroForm.get('Fields')) : undefined;
  if (!(fields instanceof PdfArray)) return [];
  const out: DocumentTimestamp[] = [];
  for (const r of fields.toArray()) {
    const field = deref(pdf, r as PdfObject);
    if (!(field instanceof PdfDict) || field.getName('FT')?.value !== 'Sig') continue;
    const v = deref(pdf, field.get('V'));
    if (!(v instanceof PdfDict)) continue;
    if (v.getName('Type')?.value !== 'DocTimeStamp' && v.getName('SubFilter')?.value !== 'ETSI.RFC3161') continue;
    const name = field.getString('T')?.asString() ?? '(ohne Namen)';
    const problems: string[] = [];
    const [s0, a, b, c] = numbersOf(v, 'ByteRange');
    const contents = v.getString('Contents')?.bytes ?? new Uint8Array(0);
    const token = contents.subarray(0, derElementLength(contents));
    const ok = s0 === 0 && a !== undefined && b !== undefined && c !== undefined && a > 0 && b > a && b + c <= bytes.length;
    if (!ok) problems.push(`document time-stamp ${name}: malformed byte range`);
    let parsed: ParsedTimeStampToken | null = null;
    try {
      parsed = parseTimeStampToken(token);
    } catch (e) {
      problems.push(`document time-stamp ${name}: ${(e as Error).message}`);
    }
    let imprintMatches = false;
    if (ok && parsed) {
      const hash = DIGESTS[parsed.imprintAlgorithm]?.node;
      if (hash) {
        const digest = createHash(hash).update(bytes.subarray(0, a)).update(bytes.subarray(b, b! + c!)).digest();
        imprintMatches = Buffer.from(parsed.imprint).equals(digest);
      }
      if (!imprintMatches) problems.push(`document time-stamp ${name}: the file was changed after it (imprint mismatch)`);
      if (!parsed.signatureValid) problems.push(`document time-stamp ${name}: the token's signature does not verify`);
    }
    out.push({ field: name, end: ok ? b! + c! : 0, coversWholeDocument: ok && b! + c! === bytes.length, token, parsed, imprintMatches, problems });
  }
  return out.sort((x, y) => x.end - y.end);
}

/**
 * B-LT then B-LTA: the validation material of every signature and time-stamp in a DSS update,
 * then a document time-stamp, then the material for that time-stamp's own certificate (all as
 * incremental updates; nothing a signature covers changes).
 */
export async function addArchivalTimestamp(bytes: Uint8Array, opts: { tsa: TimestampAuthority; revocation: RevocationProvider }): Promise<{ bytes: Uint8Array; warnings: string[] }> {
  const pdf = await PDF.load(bytes);
  const tsa = { timestamp: (digest: Uint8Array) => opts.tsa.timestamp(digest, 'SHA-256') };
  // 8 KB holds a token with a TSA chain of three certificates; @libpdf/core's 12 KB default adds 8 KB of hex zeros per renewal.
  const result = await pdf.addArchivalData({ timestampAuthority: tsa, revocationProvider: opts.revocation, fieldName: nextTimestampField(pdf), estimatedSize: 8192 });
  return { bytes: result.bytes, warnings: result.warnings.map((w) => `${w.code}: ${w.message}`) };
}

/** "Zeitstempel-1", "Zeitstempel-2", …: the next unused document time-stamp field name. */
function nextTimestampField(pdf: PDF): string {
  const acroForm = deref(pdf, pdf.getCatalog().get('AcroForm'));
  const fields = acroForm instanceof PdfDict ? deref(pdf, acroForm.get('Fields')) : undefined;
  const names = new Set(
    fields instanceof PdfArray
      ? fields.toArray().map((r) => {
          const f = deref(pdf, r as PdfObject);
          return f instanceof PdfDict ? (f.getString('T')?.asString() ?? '') : '';
        })
      : [],
  );
  let n = 1;
  while (names.has(`zv-timestamp-${n}`)) n++;
  return `zv-timestamp-${n}`;
}
