/**
 * The visible signature stamp: a one-page PDF the size of the signature field's rectangle,
 * drawn with pdf-lib and the same embedded Liberation Sans as the agreement, then imported by
 * the signer as the field's appearance (a Form XObject). Drawing it as a tiny PDF keeps font
 * subsetting and image embedding in one well-tested place (pdf-lib) instead of hand-writing
 * appearance streams; the fonts are embedded by render/pdf/embed-font.ts, as in the agreement.
 *
 * Contents, in page coordinates of the agreement:
 * - the date after the printed "<place>, den" (first signatory of a party), or a small
 *   "<place>, den <date>" line at the top of the slot (second and later signatories);
 * - the signature mark: the uploaded/drawn image scaled into the slot, else the name in italics;
 * - a small line "Elektronisch signiert: <name>, <role>, <time>".
 */
import zlib from 'node:zlib';
import { PDFDocument, rgb } from 'pdf-lib';
import type { PDFFont, PDFImage } from 'pdf-lib';
import { loadResources, printableText } from '../render/pdf/fonts.ts';
import { embedSubsetFont } from '../render/pdf/embed-font.ts';
import type { FontStyle } from '../render/pdf/fonts.ts';

export type Rect = [number, number, number, number];

/** Largest signature image accepted (bytes), and its largest side in pixels. */
export const MAX_IMAGE_BYTES = 2 * 1024 * 1024;
export const MAX_IMAGE_SIDE = 4000;

export interface StampSpec {
  /** The widget rectangle the stamp fills (page space). */
  rect: Rect;
  /** The blank slot above the signatory's rule (page space), inside `rect`. */
  slot: Rect;
  /** Date written after the printed "<place>, den" at the body size. */
  dateAfterPlace?: { x: number; baseline: number; size: number; text: string };
  /** "<place>, den <date>" as a small line at the top of the slot. */
  placeDateLine?: string;
  /** Signature image (PNG or JPEG); without it the name is written in italics. */
  image?: Uint8Array;
  name: string;
  /** "Elektronisch signiert: …" */
  footer: string;
}

export class StampImageError extends Error {}

const INK = rgb(0.06, 0.16, 0.45);
const NOTE = rgb(0.25, 0.25, 0.3);

/**
 * Checks a signature image before anything else happens: size, type by content (not name), and a
 * structural decode — pdf-lib trusts PNG/JPEG headers (a truncated PNG can make it loop forever, a
 * truncated JPEG is embedded broken), so the data is validated here first.
 */
export function checkSignatureImage(bytes: Uint8Array): 'png' | 'jpeg' {
  if (bytes.length > MAX_IMAGE_BYTES) {
    throw new StampImageError(`signature image is ${(bytes.length / 1048576).toFixed(1)} MB; at most ${MAX_IMAGE_BYTES / 1048576} MB are accepted`);
  }
  const isPng = bytes.length > 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47;
  const isJpeg = bytes.length > 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
  if (!isPng && !isJpeg) throw new StampImageError('signature image is neither PNG nor JPEG (checked by content)');
  if (isPng) checkPng(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));
  else checkJpeg(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));
  return isPng ? 'png' : 'jpeg';
}

const PNG_CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

function checkSide(w: number, h: number) {
  if (w < 1 || h < 1 || w > MAX_IMAGE_SIDE || h > MAX_IMAGE_SIDE) {
    throw new StampImageError(`signature image is ${w}×${h} px; each side must be 1–${MAX_IMAGE_SIDE} px`);
  }
}

function checkPng(b: Buffer): void {
  const bad = (why: string) => new StampImageError(`signature image cannot be read (PNG): ${why}`);
  let pos = 8;
  let header: { w: number; h: number; depth: number; color: number; interlace: number } | null = null;
  const idat: Buffer[] = [];
  let ended = false;
  while (pos + 12 <= b.length) {
    const len = b.readUInt32BE(pos);
    const type = b.toString('latin1', pos + 4, pos + 8);
    if (pos + 12 + len > b.length) throw bad(`chunk ${type} is cut off`);
    const body = b.subarray(pos + 8, pos + 8 + len);
    if (zlib.crc32 && zlib.crc32(b.subarray(pos + 4, pos + 8 + len)) !== b.readUInt32BE(pos + 8 + len)) throw bad(`chunk ${type} is damaged (CRC)`);
    if (type === 'IHDR') header = { w: body.readUInt32BE(0), h: body.readUInt32BE(4), depth: body[8]!, color: body[9]!, interlace: body[12]! };
    else if (type === 'IDAT') idat.push(body);
    else if (type === 'IEND') {
      ended = true;
      break;
    }
    pos += 12 + len;
  }
  if (!header) throw bad('no IHDR header');
  if (!ended) throw bad('the file is truncated (no IEND)');
  checkSide(header.w, header.h);
  const channels = PNG_CHANNELS[header.color];
  if (!channels) throw bad(`unknown colour type ${header.color}`);
  const expected = header.h * (1 + Math.ceil((header.w * channels * header.depth) / 8));
  let raw: Buffer;
  try {
    raw = zlib.inflateSync(Buffer.concat(idat), { maxOutputLength: expected * 2 + 1024 });
  } catch (e) {
    throw bad(`image data is damaged (${(e as Error).message})`);
  }
  if (header.interlace === 0 && raw.length !== expected) throw bad(`image data has ${raw.length} bytes, ${expected} expected`);
}

function checkJpeg(b: Buffer): void {
  const bad = (why: string) => new StampImageError(`signature image cannot be read (JPEG): ${why}`);
  let pos = 2;
  let size: { w: number; h: number } | null = null;
  // Walk the marker segments up to the start of scan; the frame header (SOFn) gives the size.
  while (pos + 4 <= b.length) {
    if (b[pos] !== 0xff) throw bad('broken marker structure');
    const marker = b[pos + 1]!;
    if (marker === 0xd9) break;
    const len = b.readUInt16BE(pos + 2);
    if (pos + 2 + len > b.length) throw bad('segment is cut off');
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) size = { h: b.readUInt16BE(pos + 5), w: b.readUInt16BE(pos + 7) };
    if (marker === 0xda) break;
    pos += 2 + len;
  }
  if (!size) throw bad('no frame header (SOF)');
  checkSide(size.w, size.h);
  let end = b.length;
  while (end > 2 && b[end - 1] === 0) end--;
  if (!(b[end - 2] === 0xff && b[end - 1] === 0xd9)) throw bad('the file is truncated (no end-of-image marker)');
}

async function embedImage(doc: PDFDocument, bytes: Uint8Array): Promise<PDFImage> {
  const type = checkSignatureImage(bytes);
  let image: PDFImage;
  try {
    image = type === 'png' ? await doc.embedPng(bytes) : await doc.embedJpg(bytes);
  } catch (e) {
    throw new StampImageError(`signature image cannot be read (${type.toUpperCase()}): ${(e as Error).message}`);
  }
  checkSide(image.width, image.height);
  return image;
}

/** Breaks `text` into at most `maxLines` lines that fit `width` (the last one shrinks the font if it must). */
function wrap(text: string, font: PDFFont, size: number, width: number, maxLines: number): string[] {
  const words = text.split(' ');
  const lines: string[] = [];
  let cur = '';
  for (const w of words) {
    const next = cur ? `${cur} ${w}` : w;
    if (!cur || font.widthOfTextAtSize(next, size) <= width || lines.length === maxLines - 1) cur = next;
    else {
      lines.push(cur);
      cur = w;
    }
  }
  if (cur) lines.push(cur);
  return lines;
}

/** Largest size ≤ `size` at which `text` fits `width`. */
function fitSize(text: string, font: PDFFont, size: number, width: number): number {
  const w = font.widthOfTextAtSize(text, size);
  return w <= width ? size : Math.max(4, (size * width) / w);
}

/** One text run of a stamp, in agreement page coordinates (what the stamp-fit test checks). */
export interface StampRun {
  text: string;
  x: number;
  baseline: number;
  size: number;
  width: number;
  style: FontStyle;
  /** The small "… signiert" line is grey, the rest in ink. */
  note?: boolean;
}

/** The stamp's texts with characters the fonts lack written as code points (fonts.ts printableText). */
function printableSpec(spec: StampSpec): StampSpec {
  const { regular, italic } = loadResources().faces;
  const p = (t: string) => printableText(t, regular, italic);
  return {
    ...spec,
    name: p(spec.name),
    footer: p(spec.footer),
    ...(spec.placeDateLine !== undefined ? { placeDateLine: p(spec.placeDateLine) } : {}),
    ...(spec.dateAfterPlace ? { dateAfterPlace: { ...spec.dateAfterPlace, text: p(spec.dateAfterPlace.text) } } : {}),
  };
}

/** The smallest size a line may shrink to before it moves to a line of its own. */
const MIN_SCALE = 0.8;

/**
 * Where every text of the stamp goes. Everything fits the widget's rectangle: a date that does not
 * fit after the printed "<place>, den" (a long seat such as "Bad Homburg v. d. Höhe") moves to its
 * own line below it; other lines wrap or shrink, never run past the edge.
 */
function planText(spec: StampSpec, font: (style: FontStyle) => PDFFont): { runs: StampRun[]; markBottom: number; markTop: number } {
  const [, , rx2] = spec.rect;
  const [sx, sy, sx2, sy2] = spec.slot;
  const slotW = sx2 - sx;
  const runs: StampRun[] = [];
  const regular = font('regular');
  const run = (text: string, x: number, baseline: number, size: number, note = false) => runs.push({ text, x, baseline, size, width: regular.widthOfTextAtSize(text, size), style: 'regular', note });
  let markTop = sy2 - 2;
  if (spec.dateAfterPlace) {
    const d = spec.dateAfterPlace;
    const fitted = fitSize(d.text, regular, d.size, rx2 - d.x - 1);
    if (fitted >= d.size * MIN_SCALE) run(d.text, d.x, d.baseline, fitted);
    else {
      const size = fitSize(d.text, regular, d.size, slotW - 2);
      const baseline = d.baseline - d.size * 1.25;
      run(d.text, sx + 1, baseline, size);
      markTop = Math.min(markTop, baseline - 3);
    }
  }
  const noteSize = 6;
  const footerLines = wrap(spec.footer, regular, noteSize, slotW - 2, 2);
  footerLines.forEach((line, i) => run(line, sx + 1, sy + 2 + (footerLines.length - 1 - i) * (noteSize + 1), fitSize(line, regular, noteSize, slotW - 2), true));
  const markBottom = sy + 2 + footerLines.length * (noteSize + 1) + 2;
  if (spec.placeDateLine) {
    const size = fitSize(spec.placeDateLine, regular, 8, slotW - 2);
    run(spec.placeDateLine, sx + 1, markTop - size, size);
    markTop -= size + 3;
  }
  return { runs, markBottom, markTop };
}

function stampFonts(doc: PDFDocument): (style: FontStyle) => PDFFont {
  const res = loadResources();
  // Same parsed faces as the agreement renderer. No fixed subset tag: a stamp goes into a file whose
  // own fonts already carry fixed tags (ZWLSA…), so its tag is derived from the glyphs it uses.
  const fonts = new Map<FontStyle, PDFFont>();
  for (const style of ['regular', 'italic'] as FontStyle[]) fonts.set(style, embedSubsetFont(doc, res.faces[style]).pdf);
  return (style) => fonts.get(style)!;
}

/** The text runs of a stamp without drawing it (the name included, when there is no image). */
export async function layoutStamp(given: StampSpec): Promise<StampRun[]> {
  const spec = printableSpec(given);
  const doc = await PDFDocument.create({ updateMetadata: false });
  const font = stampFonts(doc);
  const plan = planText(spec, font);
  if (!spec.image) plan.runs.push(nameRun(spec, font, plan));
  return plan.runs;
}

function nameRun(spec: StampSpec, font: (style: FontStyle) => PDFFont, plan: { markBottom: number; markTop: number }): StampRun {
  const [sx, , sx2] = spec.slot;
  const boxH = Math.max(4, plan.markTop - plan.markBottom);
  const italic = font('italic');
  const size = fitSize(spec.name, italic, Math.min(20, boxH * 0.8), sx2 - sx - 4);
  return { text: spec.name, x: sx + 2, baseline: plan.markBottom + (boxH - size * 0.7) / 2, size, width: italic.widthOfTextAtSize(spec.name, size), style: 'italic' };
}

export async function renderStamp(given: StampSpec): Promise<Uint8Array> {
  const spec = printableSpec(given);
  const [rx, ry, rx2, ry2] = spec.rect;
  const doc = await PDFDocument.create({ updateMetadata: false });
  const font = stampFonts(doc);
  const page = doc.addPage([rx2 - rx, ry2 - ry]);
  // Everything is planned in agreement page coordinates; shift into the stamp's own box.
  const X = (x: number) => x - rx;
  const Y = (y: number) => y - ry;
  const plan = planText(spec, font);
  for (const r of plan.runs) page.drawText(r.text, { x: X(r.x), y: Y(r.baseline), size: r.size, font: font(r.style), color: r.note ? NOTE : INK });
  const [sx, , sx2] = spec.slot;
  const boxH = Math.max(4, plan.markTop - plan.markBottom);
  if (spec.image) {
    const image = await embedImage(doc, spec.image);
    const scale = Math.min(boxH / image.height, (sx2 - sx - 4) / image.width);
    const w = image.width * scale;
    const h = image.height * scale;
    page.drawImage(image, { x: X(sx + 2), y: Y(plan.markBottom + (boxH - h) / 2), width: w, height: h });
  } else {
    const n = nameRun(spec, font, plan);
    page.drawText(n.text, { x: X(n.x), y: Y(n.baseline), size: n.size, font: font('italic'), color: INK });
  }
  return doc.save({ useObjectStreams: false, addDefaultPage: false, updateFieldAppearances: false });
}
