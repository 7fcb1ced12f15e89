/**
 * Embeds a subset of one Liberation Sans face as a complete Type0 / Identity-H font, for every PDF
 * this project writes (agreement, signature stamp, Signaturprotokoll).
 *
 * Why not pdf-lib's own subsetting: fontkit's TTF subsetter keeps only the glyph tables (glyf, loca,
 * head, hhea, hmtx, maxp, hinting), which preflights reject as an incomplete font program. Here the
 * font program is cut by HarfBuzz's hb-subset (harfbuzzjs's standalone wasm), which keeps cmap,
 * OS/2, name and post. Glyph ids are retained (HB_SUBSET_FLAGS_RETAIN_GIDS), so a glyph's code in
 * the content stream is its id in the original font, CIDToGIDMap is /Identity, and the codes can be
 * written while drawing, before the subset exists.
 *
 * Two phases: `encode` (or pdf-lib's drawText, via the PDFFont) records every glyph drawn; the font
 * dictionaries, the subset and the ToUnicode map are written when pdf-lib saves the document
 * (PDFDocument.save → PDFFont.embed → embedIntoContext). Output is deterministic: same texts, same
 * bytes. No /CIDSet: PDF/A-2 and -3 do not require one (and a wrong one is an error).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { deflateSync } from 'node:zlib';
import { CustomFontEmbedder, PDFFont, PDFHexString, PDFString } from 'pdf-lib';
import type { PDFContext, PDFDocument, PDFRef } from 'pdf-lib';
import type { FontFace } from './fonts.ts';

// ---------------------------------------------------------------------------------------------
// hb-subset (raw wasm exports; the module has no imports)

interface HbExports {
  memory: WebAssembly.Memory;
  malloc(n: number): number;
  free(p: number): void;
  hb_blob_create(data: number, length: number, mode: number, userData: number, destroy: number): number;
  hb_blob_destroy(blob: number): void;
  hb_blob_get_length(blob: number): number;
  hb_blob_get_data(blob: number, lengthOut: number): number;
  hb_face_create(blob: number, index: number): number;
  hb_face_destroy(face: number): void;
  hb_face_reference_blob(face: number): number;
  hb_set_add(set: number, value: number): void;
  hb_subset_input_create_or_fail(): number;
  hb_subset_input_destroy(input: number): void;
  hb_subset_input_unicode_set(input: number): number;
  hb_subset_input_glyph_set(input: number): number;
  hb_subset_input_set(input: number, which: number): number;
  hb_subset_input_set_flags(input: number, flags: number): void;
  hb_subset_or_fail(face: number, input: number): number;
  _initialize?(): void;
}

const HB_MEMORY_MODE_READONLY = 1;
const HB_SUBSET_FLAGS_RETAIN_GIDS = 0x2;
const HB_SUBSET_FLAGS_NOTDEF_OUTLINE = 0x40;
const HB_SUBSET_SETS_DROP_TABLE_TAG = 3;
/** Layout tables: the text is shaped before it is written, a PDF viewer never reads them. */
const DROPPED_TABLES = ['GSUB', 'GPOS', 'GDEF', 'kern', 'morx', 'DSIG'];

let hb: HbExports | undefined;
function harfbuzz(): HbExports {
  if (!hb) {
    const path = createRequire(import.meta.url).resolve('harfbuzzjs/dist/harfbuzz-subset.wasm');
    const instance = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(path)), {});
    hb = instance.exports as unknown as HbExports;
    hb._initialize?.();
  }
  return hb;
}

const tagValue = (t: string) => ((t.charCodeAt(0) << 24) | (t.charCodeAt(1) << 16) | (t.charCodeAt(2) << 8) | t.charCodeAt(3)) >>> 0;

/** hb_face_t of each original font, created once per process (its bytes stay in wasm memory). */
const hbFaces = new Map<Uint8Array, number>();
function hbFace(bytes: Uint8Array): number {
  let face = hbFaces.get(bytes);
  if (face === undefined) {
    const e = harfbuzz();
    const ptr = e.malloc(bytes.length);
    new Uint8Array(e.memory.buffer, ptr, bytes.length).set(bytes);
    const blob = e.hb_blob_create(ptr, bytes.length, HB_MEMORY_MODE_READONLY, 0, 0);
    face = e.hb_face_create(blob, 0);
    e.hb_blob_destroy(blob); // the face holds its own reference
    hbFaces.set(bytes, face);
  }
  return face;
}

/**
 * The subset font program: the given glyphs (ids retained) and cmap entries for the given code
 * points; cmap, OS/2, name, post, head, hhea, hmtx, maxp, loca, glyf and the hinting tables are kept.
 */
export function subsetFontProgram(fontBytes: Uint8Array, glyphIds: Iterable<number>, codePoints: Iterable<number>): Uint8Array {
  const e = harfbuzz();
  const face = hbFace(fontBytes);
  const input = e.hb_subset_input_create_or_fail();
  if (!input) throw new Error('hb-subset: no input');
  try {
    const glyphs = e.hb_subset_input_glyph_set(input);
    for (const g of glyphIds) e.hb_set_add(glyphs, g);
    const unicodes = e.hb_subset_input_unicode_set(input);
    for (const cp of codePoints) e.hb_set_add(unicodes, cp);
    const drop = e.hb_subset_input_set(input, HB_SUBSET_SETS_DROP_TABLE_TAG);
    for (const t of DROPPED_TABLES) e.hb_set_add(drop, tagValue(t));
    e.hb_subset_input_set_flags(input, HB_SUBSET_FLAGS_RETAIN_GIDS | HB_SUBSET_FLAGS_NOTDEF_OUTLINE);
    const subset = e.hb_subset_or_fail(face, input);
    if (!subset) throw new Error('hb-subset failed');
    const blob = e.hb_face_reference_blob(subset);
    try {
      const length = e.hb_blob_get_length(blob);
      const data = e.hb_blob_get_data(blob, 0);
      return new Uint8Array(e.memory.buffer, data, length).slice();
    } finally {
      e.hb_blob_destroy(blob);
      e.hb_face_destroy(subset);
    }
  } finally {
    e.hb_subset_input_destroy(input);
  }
}

// ---------------------------------------------------------------------------------------------
// The PDF font

export interface SubsetFont {
  /** For pdf-lib's page.drawText and widthOfTextAtSize (stamp, Signaturprotokoll). */
  pdf: PDFFont;
  ref: PDFRef;
  /** Glyph codes (4 hex digits each) of `text`: the glyphs of FontFace.shape(text), recorded for the subset. */
  encode(text: string): string[];
}

/** Subset tags that fixed tables hand out start with Z; content-derived tags never do. */
const FIXED_TAG_PREFIX = 'Z';

/**
 * Registers a subset of `face` with `doc`. `tag` is the six-letter subset tag (ISO 32000-1 § 9.6.4);
 * without one, it is derived from the glyphs used (so equal tags mean equal font programs — what a
 * stamp imported into an already tagged file needs).
 */
export function embedSubsetFont(doc: PDFDocument, face: FontFace, tag?: string): SubsetFont {
  if (tag !== undefined && !/^[A-Z]{6}$/.test(tag)) throw new Error(`subset tag must be six capital letters: ${tag}`);
  const embedder = new SubsetEmbedder(face, tag);
  const ref = doc.context.nextRef();
  const pdf = PDFFont.of(ref, doc, embedder);
  // PDFDocument.save embeds every font in this list (the list is pdf-lib's own, not public API).
  (doc as unknown as { fonts: PDFFont[] }).fonts.push(pdf);
  return { pdf, ref, encode: (text) => embedder.encode(text) };
}

class SubsetEmbedder extends CustomFontEmbedder {
  private readonly face: FontFace;
  private readonly tag: string | undefined;
  /** Glyph id → the texts it was drawn for. */
  private readonly used = new Map<number, Set<string>>();
  private readonly codes = new Map<string, string[]>();

  constructor(face: FontFace, tag: string | undefined) {
    super(face.font as never, face.bytes, undefined, undefined);
    this.face = face;
    this.tag = tag;
  }

  encode(text: string): string[] {
    let c = this.codes.get(text);
    if (!c) {
      const shaped = this.face.shape(text);
      c = shaped.glyphIds.map((id, i) => {
        let texts = this.used.get(id);
        if (!texts) this.used.set(id, (texts = new Set()));
        texts.add(shaped.chars[i]!);
        return id.toString(16).toUpperCase().padStart(4, '0');
      });
      this.codes.set(text, c);
    }
    return c;
  }

  override encodeText(text: string): PDFHexString {
    return PDFHexString.of(this.encode(text).join(''));
  }

  /** Nominal advances, as drawText places the glyphs (no kerning). */
  override widthOfTextAtSize(text: string, size: number): number {
    let w = 0;
    for (const a of this.face.shape(text).nominal) w += a;
    return (w * size) / this.face.unitsPerEm;
  }

  override async embedIntoContext(context: PDFContext, ref?: PDFRef): Promise<PDFRef> {
    const font = this.face.font;
    const scale = 1000 / this.face.unitsPerEm;
    const gids = [...this.used.keys()].sort((a, b) => a - b);
    // A face nothing was drawn with (a stamp with an image has no italic name) is referenced by no
    // page: write nothing rather than an empty font.
    if (gids.length === 0 && ref) return ref;

    // ToUnicode: one text per glyph. Prefer a code point the font's own cmap maps to the glyph
    // (a space glyph drawn for U+0020 and U+00A0 reads as U+0020), then the smallest text.
    const unicode = new Map<number, string>();
    const cmapPoints = new Set<number>();
    for (const gid of gids) {
      const texts = [...this.used.get(gid)!].filter((t) => t !== '').sort(compareCodePoints);
      const own = texts.filter((t) => {
        const cps = [...t];
        return cps.length === 1 && font.glyphForCodePoint(t.codePointAt(0)!).id === gid;
      });
      for (const t of own) cmapPoints.add(t.codePointAt(0)!);
      const chosen = own[0] ?? texts[0];
      if (chosen !== undefined) unicode.set(gid, chosen);
    }

    const program = subsetFontProgram(this.face.bytes, gids, cmapPoints);
    const psName = font.postscriptName ?? this.fontName;
    const baseFont = `${this.tag ?? contentTag(psName, gids, unicode)}+${psName}`;
    this.baseFontName = baseFont;

    const fontFile = context.register(
      context.stream(deflateSync(program), { Filter: 'FlateDecode', Length1: program.length }),
    );
    const os2 = (font as unknown as { 'OS/2'?: { capHeight?: number; xHeight?: number; usWeightClass?: number } })['OS/2'];
    const italic = font.italicAngle !== 0;
    const bbox = font.bbox;
    const weight = os2?.usWeightClass ?? 400;
    const descriptor = context.register(
      context.obj({
        Type: 'FontDescriptor',
        FontName: baseFont,
        // Nonsymbolic (bit 6: standard Latin glyph set), Italic (bit 7).
        Flags: (1 << 5) | (italic ? 1 << 6 : 0),
        FontBBox: [bbox.minX, bbox.minY, bbox.maxX, bbox.maxY].map((v) => round(v * scale)),
        ItalicAngle: font.italicAngle,
        Ascent: round(font.ascent * scale),
        Descent: round(font.descent * scale),
        CapHeight: round((os2?.capHeight || font.ascent) * scale),
        XHeight: round((os2?.xHeight ?? 0) * scale),
        // The font has no stem width; the usual estimate from the weight class (as PDFBox does).
        StemV: Math.round(50 + (weight / 65) ** 2),
        FontFile2: fontFile,
      }),
    );
    const cidFont = context.register(
      context.obj({
        Type: 'Font',
        Subtype: 'CIDFontType2',
        BaseFont: baseFont,
        CIDSystemInfo: { Registry: PDFString.of('Adobe'), Ordering: PDFString.of('Identity'), Supplement: 0 },
        FontDescriptor: descriptor,
        W: widths(gids, (gid) => font.getGlyph(gid).advanceWidth * scale),
        CIDToGIDMap: 'Identity',
      }),
    );
    const toUnicode = context.register(context.stream(deflateSync(Buffer.from(toUnicodeCMap(unicode), 'latin1')), { Filter: 'FlateDecode' }));
    const dict = context.obj({
      Type: 'Font',
      Subtype: 'Type0',
      BaseFont: baseFont,
      Encoding: 'Identity-H',
      DescendantFonts: [cidFont],
      ToUnicode: toUnicode,
    });
    if (ref) {
      context.assign(ref, dict);
      return ref;
    }
    return context.register(dict);
  }
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}

function compareCodePoints(a: string, b: string): number {
  const x = [...a].map((c) => c.codePointAt(0)!);
  const y = [...b].map((c) => c.codePointAt(0)!);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return x.length - y.length;
}

/** Six capital letters from a digest of the subset's content; never starting with the fixed tables' Z. */
function contentTag(postscriptName: string, gids: number[], unicode: Map<number, string>): string {
  const h = createHash('sha256').update(postscriptName).update('\u0000');
  for (const gid of gids) h.update(`${gid}=${unicode.get(gid) ?? ''}\u0000`);
  const digest = h.digest();
  let tag = '';
  for (let i = 0; i < 6; i++) tag += String.fromCharCode(65 + (digest.readUInt16BE(i * 2) % (i === 0 ? 25 : 26)));
  if (tag.startsWith(FIXED_TAG_PREFIX)) throw new Error('unreachable: content tag with a fixed prefix');
  return tag;
}

/** The /W array: runs of consecutive CIDs, each `cid [w w …]`. */
function widths(gids: number[], width: (gid: number) => number): (number | number[])[] {
  const out: (number | number[])[] = [];
  let run: number[] = [];
  gids.forEach((gid, i) => {
    if (i === 0 || gid !== gids[i - 1]! + 1) {
      if (run.length) out.push(run);
      out.push(gid);
      run = [];
    }
    run.push(width(gid));
  });
  if (run.length) out.push(run);
  return out;
}

function utf16Hex(s: string): string {
  let hex = '';
  for (let i = 0; i < s.length; i++) hex += s.charCodeAt(i).toString(16).toUpperCase().padStart(4, '0');
  return hex;
}

/** A ToUnicode CMap (Adobe technical note #5411) with one bfchar entry per glyph. */
export function toUnicodeCMap(unicode: Map<number, string>): string {
  const entries = [...unicode].sort((a, b) => a[0] - b[0]).map(([gid, text]) => `<${gid.toString(16).toUpperCase().padStart(4, '0')}> <${utf16Hex(text)}>`);
  const lines = [
    '/CIDInit /ProcSet findresource begin',
    '12 dict begin',
    'begincmap',
    '/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def',
    '/CMapName /Adobe-Identity-UCS def',
    '/CMapType 2 def',
    '1 begincodespacerange',
    '<0000> <FFFF>',
    'endcodespacerange',
  ];
  for (let i = 0; i < entries.length; i += 100) {
    const chunk = entries.slice(i, i + 100);
    lines.push(`${chunk.length} beginbfchar`, ...chunk, 'endbfchar');
  }
  lines.push('endcmap', 'CMapName currentdict /CMap defineresource pop', 'end', 'end');
  return lines.join('\n') + '\n';
}
