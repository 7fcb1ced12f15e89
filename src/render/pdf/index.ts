/**
 * PDF renderer: DocumentTree → archival, tagged PDF/A-3a (PDF/UA-1) with empty signature fields.
 *
 * Pipeline: layout (pure: line breaking, hyphenation, pagination) → content streams (draw) →
 * signature fields → PDF/A structures (XMP, output intent, attachments, ID) → pdf-lib save.
 */
import { deflateSync } from 'node:zlib';
import { PDFDocument, PDFName, PDFRef } from 'pdf-lib';
import type { DocumentTree } from '../../document/tree.ts';
import { FONT_STYLES, loadResources } from './fonts.ts';
import type { FontStyle, Resources } from './fonts.ts';
import { breakText, layoutDocument } from './layout.ts';
import type { DateSlotBox, Layout, LayoutOptions, Measurer } from './layout.ts';
import { pageContent } from './draw.ts';
import type { DrawFont } from './draw.ts';
import { addSignatureFields } from './fields.ts';
import { applyPdfA, documentDigest } from './pdfa.ts';
import { embedSubsetFont } from './embed-font.ts';
import { StructWriter } from './structure.ts';

export { BODY_SIZE, layoutDocument, PAGE, TEXT_WIDTH } from './layout.ts';
export type { Layout, LaidOutPage, PageFragment, PageItem, TextLine, TextPiece, SignatureSlotBox, DateSlotBox } from './layout.ts';
export { breakPoints } from './hyphenate.ts';
export { parseSigningMetadata, pdfDate, ZV_NAMESPACE } from './pdfa.ts';
export type { SigningMetadata, SigningEntry, DateSlotEntry } from './pdfa.ts';

/** Subset tags: fixed per style so output is deterministic (the tag only has to be unique per file). */
const SUBSET_TAG: Record<FontStyle, string> = { regular: 'ZWLSAA', bold: 'ZWLSAB', italic: 'ZWLSAC', boldItalic: 'ZWLSAD' };
const RESOURCE_NAME: Record<FontStyle, string> = { regular: 'F1', bold: 'F2', italic: 'F3', boldItalic: 'F4' };

function measurer(res: Resources): Measurer {
  const r = res.faces.regular;
  return {
    width: (style, size, text) => res.faces[style].width(text, size),
    hasGlyph: (style, cp) => res.faces[style].hasGlyph(cp),
    glyphs: (style, text) => (text === '' ? 0 : res.faces[style].shape(text).glyphIds.length),
    ascent: r.ascent,
    descent: r.descent,
  };
}

/** Breaks one paragraph of plain text into ragged lines with the document's breaker and fonts. */
export function breakTextLines(text: string, style: FontStyle, size: number, maxWidth: number): string[] {
  return breakText(text, style, size, maxWidth, measurer(loadResources()));
}

/**
 * The default layout of each tree, computed once: the DOCX renderer asks for the page count of the
 * same tree the PDF renderer lays out (the layout is pure, so sharing it changes nothing).
 */
const layouts = new WeakMap<DocumentTree, Layout>();

/** Lays out a tree without producing a PDF (for inspection, tests and the DOCX's page count). */
export function layoutPdf(tree: DocumentTree): Layout {
  let layout = layouts.get(tree);
  if (!layout) {
    layout = layoutDocument(tree, measurer(loadResources()));
    layouts.set(tree, layout);
  }
  return layout;
}

/** Renders the tree; `opts` exist so that a later renderer's choices (e.g. no hyphenation) can be tried against archived documents. */
export async function renderPdf(tree: DocumentTree, opts: LayoutOptions = {}): Promise<Uint8Array> {
  const res = loadResources();
  const layout = Object.keys(opts).length === 0 ? layoutPdf(tree) : layoutDocument(tree, measurer(res), opts);

  const used = new Set<FontStyle>();
  for (const page of layout.pages) for (const item of page.items) if (item.kind === 'text') for (const p of item.pieces) used.add(p.style);

  const doc = await PDFDocument.create({ updateMetadata: false });

  // Embed only the styles in use, as hb-subset font programs (written when the document is saved).
  const fonts = {} as Record<FontStyle, DrawFont>;
  const fontRefs: Record<string, PDFRef> = {};
  for (const style of FONT_STYLES) {
    if (!used.has(style)) continue;
    const face = res.faces[style];
    const font = embedSubsetFont(doc, face, SUBSET_TAG[style]);
    fonts[style] = { resourceName: RESOURCE_NAME[style], unitsPerEm: face.unitsPerEm, shape: (text) => face.shape(text), encode: font.encode };
    fontRefs[RESOURCE_NAME[style]] = font.ref;
  }

  const ctx = doc.context;
  const contents: string[] = [];
  const pageRefs: PDFRef[] = [];
  const dateSlots: { pageIndex: number; slot: DateSlotBox }[] = [];
  const struct = new StructWriter(doc, layout.structure);
  layout.pages.forEach((lp, pageIndex) => {
    const page = doc.addPage([layout.width, layout.height]);
    const content = pageContent(lp, fonts, (tag, props) => struct.begin(pageIndex, tag, props));
    contents.push(content);
    // Node's native zlib: several times faster than pdf-lib's JS deflate, and just as deterministic.
    page.node.set(PDFName.of('Contents'), ctx.register(ctx.stream(deflateSync(Buffer.from(content, 'latin1')), { Filter: 'FlateDecode' })));
    page.node.set(PDFName.of('Resources'), ctx.obj({ Font: fontRefs }));
    pageRefs.push(page.ref);
    for (const item of lp.items) if (item.kind === 'date-slot') dateSlots.push({ pageIndex, slot: item });
  });

  const fields = addSignatureFields(doc, pageRefs, layout);
  for (const f of fields) if (f.node !== undefined) struct.annotation(f.node, f.pageIndex, f.ref, f.description);
  struct.finish(pageRefs);
  applyPdfA(doc, { tree, fields, dateSlots, digest: documentDigest(tree, contents), icc: res.icc });

  return doc.save({ useObjectStreams: false, addDefaultPage: false, updateFieldAppearances: false });
}
