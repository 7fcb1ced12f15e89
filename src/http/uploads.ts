/**
 * Uploads: multer keeps the file in memory (never under a user-chosen name on disk) with a size
 * limit, then the type is decided by the content, not by the file name or the browser's claim.
 * Images are decoded and re-encoded as PNG, so what reaches the signature stamp is a clean bitmap.
 */
import multer from 'multer';
import sharp from 'sharp';
import type { RequestHandler } from 'express';
import { HttpError, tooLarge, unsupported } from './problem.ts';

export type UploadKind = 'xlsx' | 'csv' | 'json' | 'png' | 'jpeg' | 'pdf';

const MB = 1024 * 1024;
export const LIMITS: Record<UploadKind, number> = { xlsx: 5 * MB, csv: 5 * MB, json: 5 * MB, png: 2 * MB, jpeg: 2 * MB, pdf: 20 * MB };

const KIND_LABELS: Record<UploadKind, string> = { xlsx: 'Excel-Tabelle (.xlsx)', csv: 'CSV-Datei', json: 'JSON-Datei', png: 'PNG-Bild', jpeg: 'JPEG-Bild', pdf: 'PDF-Dokument' };

const mb = (bytes: number) => `${(bytes / MB).toLocaleString('de-DE', { maximumFractionDigits: 1 })} MB`;

/** multer for one file field; the limit is the largest of the accepted kinds (checked again per kind). */
export function receiveFile(field: string, kinds: readonly UploadKind[]): RequestHandler {
  const limit = Math.max(...kinds.map((k) => LIMITS[k]));
  const upload = multer({ storage: multer.memoryStorage(), limits: { fileSize: limit, files: 1, fields: 200, fieldSize: 1 * MB, parts: 220 } }).single(field);
  return (req, res, next) =>
    upload(req, res, (err: unknown) => {
      if (!err) return next();
      if (err instanceof multer.MulterError) {
        if (err.code === 'LIMIT_FILE_SIZE') return next(tooLarge(`Die Datei ist größer als ${mb(limit)} (erlaubt: ${describeKinds(kinds)}). Es wurde nichts gespeichert.`));
        if (err.code === 'LIMIT_UNEXPECTED_FILE') return next(new HttpError(400, 'Ungültige Anfrage', `Unerwartetes Dateifeld „${err.field}“; erwartet wird „${field}“.`));
        return next(new HttpError(400, 'Ungültige Anfrage', `Der Upload wurde abgelehnt: ${err.message}`));
      }
      next(err);
    });
}

export function describeKinds(kinds: readonly UploadKind[]): string {
  return kinds.map((k) => `${KIND_LABELS[k]} bis ${mb(LIMITS[k])}`).join(', ');
}

const startsWith = (buf: Buffer, bytes: number[]) => bytes.every((b, i) => buf[i] === b);

/** The kind of a file judged by its bytes, or null. */
export function sniff(buf: Buffer): UploadKind | null {
  if (buf.length >= 8 && buf.subarray(0, 5).toString('latin1') === '%PDF-') return 'pdf';
  if (startsWith(buf, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'png';
  if (startsWith(buf, [0xff, 0xd8, 0xff])) return 'jpeg';
  if (startsWith(buf, [0x50, 0x4b, 0x03, 0x04])) return buf.includes('xl/workbook') || buf.includes('[Content_Types].xml') ? 'xlsx' : null;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(buf);
  } catch {
    return null;
  }
  if (text.includes('\u0000')) return null;
  const trimmed = text.replace(/^\uFEFF/, '').trimStart();
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    try {
      JSON.parse(trimmed);
      return 'json';
    } catch {
      return null;
    }
  }
  // A batch CSV may start with "# Art: aqb" settings lines; the first table line decides.
  const firstLine = trimmed.split(/\r?\n/).find((l) => l.trim() !== '' && !l.startsWith('#')) ?? '';
  return /[;,\t]/.test(firstLine) ? 'csv' : null;
}

/** Checks an uploaded file's content type and size; returns the detected kind or throws a German 413/415. */
export function checkUpload(buf: Buffer, kinds: readonly UploadKind[]): UploadKind {
  if (buf.length === 0) throw unsupported('Die Datei ist leer.');
  const kind = sniff(buf);
  if (!kind || !kinds.includes(kind)) {
    throw unsupported(`Der Inhalt der Datei ist ${kind ? `ein(e) ${KIND_LABELS[kind]}` : 'in keinem erkannten Format'}; erwartet: ${describeKinds(kinds)}. Es wurde nichts gespeichert.`);
  }
  if (buf.length > LIMITS[kind]) throw tooLarge(`${KIND_LABELS[kind]} ist ${mb(buf.length)} groß; erlaubt sind höchstens ${mb(LIMITS[kind])}. Es wurde nichts gespeichert.`);
  return kind;
}

/** Decodes a PNG/JPEG signature image and re-encodes it as a metadata-free PNG of at most 1200 × 600 pixels. */
export async function reencodeSignatureImage(buf: Buffer): Promise<Buffer> {
  try {
    return await sharp(buf, { limitInputPixels: 40_000_000, failOn: 'error' })
      .rotate()
      .resize({ width: 1200, height: 600, fit: 'inside', withoutEnlargement: true })
      .flatten({ background: '#ffffff' })
      .png({ compressionLevel: 9 })
      .toBuffer();
  } catch {
    throw unsupported('Das Bild lässt sich nicht lesen (beschädigt oder kein gültiges PNG/JPEG). Es wurde nichts gespeichert.');
  }
}
