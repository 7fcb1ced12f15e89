/**
 * Empty signature form fields, one per signatory, for the later signing stage.
 *
 * Each field is a merged field/widget dictionary (/FT /Sig + /Subtype /Widget) whose /Rect is
 * exactly the blank slot above the signatory's rule, on the page that holds the rule and the
 * printed name. The widget gets an empty appearance stream (/AP /N) because PDF/A requires an
 * appearance for every visible annotation; the signer replaces it with place, date, name and
 * the signature image.
 */
import { PDFArray, PDFDict, PDFDocument, PDFHexString, PDFName, PDFRef, PDFString } from 'pdf-lib';
import type { SignatorySlot } from '../../document/tree.ts';
import type { Layout } from './layout.ts';
import { num } from './draw.ts';

export interface PlacedSignatureField {
  slot: SignatorySlot;
  /** 0-based page index. */
  pageIndex: number;
  rect: [number, number, number, number];
  ref: PDFRef;
  /** Its Form structure node (layout), if tagged. */
  node?: number;
  /** The tooltip (/TU), also the Form element's /Alt. */
  description: string;
}

/** ASCII stays a literal string; anything else becomes a UTF-16BE text string. */
export function textString(s: string): PDFString | PDFHexString {
  return /^[\x20-\x7e]*$/.test(s) ? PDFString.of(s) : PDFHexString.fromText(s);
}

const round = (n: number) => Number(num(n));

export function addSignatureFields(doc: PDFDocument, pageRefs: PDFRef[], layout: Layout): PlacedSignatureField[] {
  const ctx = doc.context;
  const placed: PlacedSignatureField[] = [];
  const seen = new Set<string>();
  layout.pages.forEach((page, pageIndex) => {
    const annots: PDFRef[] = [];
    for (const item of page.items) {
      if (item.kind !== 'signature-slot') continue;
      const { slot } = item;
      if (seen.has(slot.fieldName)) throw new Error(`duplicate signature field name ${slot.fieldName}`);
      seen.add(slot.fieldName);
      const rect = item.rect.map(round) as [number, number, number, number];
      const w = round(rect[2] - rect[0]);
      const h = round(rect[3] - rect[1]);
      const ap = ctx.stream('', { Type: 'XObject', Subtype: 'Form', BBox: [0, 0, w, h], Resources: {} });
      const apRef = ctx.register(ap);
      const widget = ctx.obj({
        Type: 'Annot',
        Subtype: 'Widget',
        FT: 'Sig',
        Rect: rect,
        F: 4, // Print; not hidden — PDF/A
        P: pageRefs[pageIndex]!,
        AP: { N: apRef },
      }) as PDFDict;
      widget.set(PDFName.of('T'), textString(slot.fieldName));
      // Tooltip shown by signing applications: who signs here.
      const description = `Unterschrift ${slot.name}${slot.role ? `, ${slot.role}` : ''}`;
      widget.set(PDFName.of('TU'), PDFHexString.fromText(description));
      const ref = ctx.register(widget);
      annots.push(ref);
      placed.push({ slot, pageIndex, rect, ref, node: item.node, description });
    }
    if (annots.length) {
      const pageDict = ctx.lookup(pageRefs[pageIndex]!, PDFDict);
      pageDict.set(PDFName.of('Annots'), ctx.obj(annots));
    }
  });
  // Fields in signing order, so a viewer's field list reads top to bottom in the right order.
  placed.sort((a, b) => a.slot.order - b.slot.order || a.slot.fieldName.localeCompare(b.slot.fieldName));
  if (placed.length) {
    const fields = PDFArray.withContext(ctx);
    for (const p of placed) fields.push(p.ref);
    const acroForm = ctx.obj({}) as PDFDict;
    acroForm.set(PDFName.of('Fields'), fields);
    // No /NeedAppearances (forbidden in PDF/A); /SigFlags is set by the signer once signed.
    doc.catalog.set(PDFName.of('AcroForm'), ctx.register(acroForm));
  }
  return placed;
}
