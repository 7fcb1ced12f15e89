/**
 * What a revision holds that Zielwerk's generator does not make — the material of shadow attacks
 * (Mainka, Mladenov, Rohlmann: "Shadow Attacks: Hiding and Replacing Content in Signed PDFs",
 * NDSS 2021):
 *
 *   hide              an annotation (an overlay) that shows other content than the page,
 *   replace           a form field besides the signature fields, whose value is changed later,
 *   hide-and-replace  an object nothing uses, which a later xref-only update brings into view.
 *
 * So per revision: every form field must be one of the plan's signature fields, every annotation
 * one of their widgets, and every object must be in use — referenced from the trailer, or used in
 * an earlier revision (a signature replaces its field's empty appearance, which stays behind), or
 * the cross-reference machinery itself. Objects defined in the bytes but listed in no
 * cross-reference section are reported too; those are what an xref-only update revives.
 */
import { PDF, PdfArray, PdfDict, PdfRef, PdfStream } from '@libpdf/core';
import type { PdfObject } from '@libpdf/core';
import type { SigningEntry } from '../render/pdf/index.ts';
import type { Change } from './revisions.ts';

export interface Revision {
  /** Byte offset just after this revision's %%EOF line. */
  end: number;
  /** Offset of its cross-reference section. */
  xref: number;
}

const latin1 = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1');

/**
 * The revisions of `bytes`, oldest first, found by following the newest cross-reference section's
 * /Prev chain. A file whose chain cannot be followed gives one revision (the whole file).
 */
export function revisionsOf(bytes: Uint8Array): Revision[] {
  const text = latin1(bytes);
  const last = [...text.slice(Math.max(0, text.length - 2048)).matchAll(/startxref\s+(\d+)/g)].at(-1);
  if (!last) return [{ end: bytes.length, xref: -1 }];
  const offsets: number[] = [];
  let at: number | undefined = Number(last[1]);
  while (at !== undefined && at >= 0 && at < text.length && !offsets.includes(at)) {
    offsets.push(at);
    const section = sectionDictText(text, at);
    const prev = section ? /\/Prev\s+(\d+)/.exec(section)?.[1] : undefined;
    at = prev === undefined ? undefined : Number(prev);
  }
  return offsets.reverse().map((xref, i, all) => {
    const eof = /%%EOF[ \t]*(\r\n|\r|\n)?/g;
    eof.lastIndex = xref;
    const m = eof.exec(text);
    let end = m ? m.index + m[0].length : bytes.length;
    // The newest revision takes in trailing white space; other trailing bytes stay outside it.
    if (i === all.length - 1 && /^\s*$/.test(text.slice(end))) end = bytes.length;
    return { end, xref };
  });
}

/** The trailer dictionary text of a classic section, or the dictionary of an xref stream. */
function sectionDictText(text: string, at: number): string | undefined {
  if (text.startsWith('xref', at)) {
    const t = text.indexOf('trailer', at);
    const s = text.indexOf('startxref', t);
    return t < 0 ? undefined : text.slice(t, s < 0 ? undefined : s);
  }
  if (/^\d+\s+\d+\s+obj/.test(text.slice(at, at + 32))) {
    const s = text.indexOf('stream', at);
    return s < 0 ? undefined : text.slice(at, s);
  }
  return undefined;
}

/** Every offset an uncompressed entry of any cross-reference section of the chain points at. */
function listedOffsets(text: string, revisions: Revision[], pdf: PDF): Set<number> {
  const listed = new Set<number>();
  for (const { xref } of revisions) {
    if (xref < 0) continue;
    if (text.startsWith('xref', xref)) {
      const end = text.indexOf('trailer', xref);
      const body = text.slice(xref + 4, end < 0 ? undefined : end);
      for (const m of body.matchAll(/(\d{10}) (\d{5}) n/g)) listed.add(Number(m[1]));
      continue;
    }
    const head = /^(\d+)\s+(\d+)\s+obj/.exec(text.slice(xref, xref + 32));
    if (!head) continue;
    listed.add(xref);
    // An xref stream: the parser has it as an object; its rows are decoded here (/W, /Index).
    const stream = pdf.getObject(PdfRef.of(Number(head[1]), Number(head[2])));
    if (!(stream instanceof PdfStream)) continue;
    const w = numbers(stream.get('W'));
    if (w.length !== 3) continue;
    const index = numbers(stream.get('Index'));
    const data = stream.getDecodedData();
    const row = w[0]! + w[1]! + w[2]!;
    const field = (offset: number, width: number) => {
      let v = 0;
      for (let k = 0; k < width; k++) v = v * 256 + data[offset + k]!;
      return v;
    };
    const rows = index.length ? index.filter((_, i) => i % 2 === 1).reduce((a, b) => a + b, 0) : data.length / row;
    for (let r = 0; r < rows && (r + 1) * row <= data.length; r++) {
      const type = w[0] === 0 ? 1 : field(r * row, w[0]!);
      if (type === 1) listed.add(field(r * row + w[0]!, w[1]!));
    }
  }
  return listed;
}

const numbers = (o: PdfObject | undefined): number[] => (o instanceof PdfArray ? o.toArray().map((n) => (n as unknown as { value: number }).value) : []);

/**
 * Top-level object definitions in `text` ("N G obj"), skipping stream data by its /Length so that
 * bytes inside a stream are never mistaken for an object.
 */
function definedObjects(text: string, pdf: PDF): Array<{ offset: number; number: number; generation: number }> {
  const found: Array<{ offset: number; number: number; generation: number }> = [];
  const header = /(?:^|[\s>\]])(\d+)\s+(\d+)\s+obj\b/g;
  let pos = 0;
  while (pos < text.length) {
    header.lastIndex = pos;
    const m = header.exec(text);
    if (!m) break;
    const offset = m.index + m[0].indexOf(m[1]!);
    found.push({ offset, number: Number(m[1]), generation: Number(m[2]) });
    const bodyStart = m.index + m[0].length;
    const endobj = text.indexOf('endobj', bodyStart);
    const stream = /\bstream(\r\n|\n|\r)/g;
    stream.lastIndex = bodyStart;
    const s = stream.exec(text);
    if (s && (endobj < 0 || s.index < endobj)) {
      const length = streamLength(text.slice(bodyStart, s.index), pdf);
      const dataEnd = length === undefined ? text.indexOf('endstream', s.index) : s.index + s[0].length + length;
      const after = text.indexOf('endobj', Math.max(dataEnd, bodyStart));
      pos = after < 0 ? text.length : after + 6;
    } else {
      pos = endobj < 0 ? text.length : endobj + 6;
    }
  }
  return found;
}

function streamLength(dictText: string, pdf: PDF): number | undefined {
  const m = /\/Length\s+(\d+)(?:\s+(\d+)\s+R)?/.exec(dictText);
  if (!m) return undefined;
  if (m[2] === undefined) return Number(m[1]);
  const v = pdf.getObject(PdfRef.of(Number(m[1]), Number(m[2])));
  const n = (v as unknown as { value?: unknown } | null)?.value;
  return typeof n === 'number' ? n : undefined;
}

/** Object numbers reachable from the trailer (/Root, /Info, /Encrypt …). */
export function reachableObjects(pdf: PDF): Set<number> {
  const reached = new Set<number>();
  const stack: Array<PdfObject | undefined | null> = [pdf.context.info.trailer as unknown as PdfObject];
  while (stack.length) {
    const o = stack.pop();
    if (!o) continue;
    if (o instanceof PdfRef) {
      if (reached.has(o.objectNumber)) continue;
      reached.add(o.objectNumber);
      stack.push(pdf.getObject(o));
    } else if (o instanceof PdfDict) {
      for (const [, v] of o) stack.push(v);
    } else if (o instanceof PdfArray) {
      stack.push(...o.toArray());
    }
  }
  return reached;
}

function effectiveObjects(pdf: PDF): Map<number, PdfObject> {
  const map = new Map<number, PdfObject>();
  const size = pdf.context.info.trailer.getNumber('Size')?.value ?? 0;
  for (let n = 1; n < size; n++) {
    const o = pdf.getObject(PdfRef.of(n, 0));
    if (o) map.set(n, o);
  }
  return map;
}

const typeOf = (o: PdfObject) => (o instanceof PdfDict ? o.getName('Type')?.value : undefined);

/** Form fields and annotations besides the plan's signature fields and their widgets. */
function foreignFormContent(pdf: PDF, plan: SigningEntry[]): Change[] {
  const found: Change[] = [];
  const planned = new Set(plan.map((e) => e.fieldName));
  const widgets = new Set<number>();
  const seen = new Set<string>();
  const acroForm = deref(pdf, pdf.getCatalog().get('AcroForm'));
  const walk = (item: PdfObject | undefined, parent: string | null) => {
    const dict = deref(pdf, item);
    if (!(dict instanceof PdfDict)) return;
    const name = dict.getString('T')?.asString() ?? '';
    const full = parent ? `${parent}.${name}` : name;
    const kids = deref(pdf, dict.get('Kids'));
    if (kids instanceof PdfArray && kids.toArray().some((k) => deref(pdf, k) instanceof PdfDict && (deref(pdf, k) as PdfDict).has('T'))) {
      found.push({ object: `form field ${full || '(ohne Namen)'}`, what: 'a field with sub-fields, which Zielwerk does not generate' });
      return;
    }
    const type = dict.getName('FT')?.value;
    if (type !== 'Sig' || !planned.has(full) || seen.has(full)) {
      found.push({ object: `form field ${full || '(ohne Namen)'} (/${type ?? '?'})`, what: 'a field Zielwerk does not generate (only the signature fields of the signing plan)' });
      return;
    }
    seen.add(full);
    if (item instanceof PdfRef) widgets.add(item.objectNumber);
  };
  const fields = acroForm instanceof PdfDict ? deref(pdf, acroForm.get('Fields')) : undefined;
  if (fields instanceof PdfArray) for (const f of fields.toArray()) walk(f, null);
  pdf.getPages().forEach((page, i) => {
    const annots = deref(pdf, page.dict.get('Annots'));
    if (!(annots instanceof PdfArray)) return;
    for (const a of annots.toArray()) {
      const dict = deref(pdf, a);
      const sub = dict instanceof PdfDict ? dict.getName('Subtype')?.value : undefined;
      if (a instanceof PdfRef && widgets.has(a.objectNumber) && sub === 'Widget') continue;
      found.push({ object: `annotation /${sub ?? '?'} on page ${i + 1}`, what: sub === 'Widget' ? 'a widget of no planned signature field' : 'an annotation Zielwerk does not generate (it can show other content than the page)' });
    }
  });
  return found;
}

function deref(pdf: PDF, o: PdfObject | undefined | null): PdfObject | undefined {
  return o instanceof PdfRef ? (pdf.getObject(o) ?? undefined) : (o ?? undefined);
}

/**
 * For each revision of `bytes` ending at one of `ends` (e.g. the signed revisions), what it holds
 * that the generator does not make. Revisions are read from the cross-reference chain; `final`
 * may be passed when it is already parsed.
 */
export async function foreignContent(bytes: Uint8Array, plan: SigningEntry[], ends: number[], final?: PDF): Promise<Map<number, Change[]>> {
  const revisions = revisionsOf(bytes);
  const load = async (end: number) => (end === bytes.length && final ? final : PDF.load(bytes.subarray(0, end)));
  const result = new Map<number, Change[]>();
  const usedEarlier = new Set<number>();
  const wanted = new Set(ends);
  for (const rev of revisions) {
    const relevant = wanted.has(rev.end) || [...wanted].some((e) => e > rev.end);
    if (!relevant) continue;
    const pdf = await load(rev.end);
    const reached = reachableObjects(pdf);
    if (wanted.has(rev.end)) {
      const findings = foreignFormContent(pdf, plan);
      for (const [n, o] of effectiveObjects(pdf)) {
        const type = typeOf(o);
        if (reached.has(n) || usedEarlier.has(n) || type === 'XRef' || type === 'ObjStm') continue;
        findings.push({ object: `object ${n}`, what: 'defined but used by nothing in the document (hidden content that a later update can bring into view)' });
      }
      const text = latin1(bytes.subarray(0, rev.end));
      const listed = listedOffsets(text, revisions.filter((r) => r.end <= rev.end), pdf);
      for (const d of definedObjects(text, pdf)) {
        if (!listed.has(d.offset)) findings.push({ object: `object ${d.number} at byte ${d.offset}`, what: 'defined in the file but listed in no cross-reference section (hidden content that an xref-only update can bring into view)' });
      }
      result.set(rev.end, findings);
    }
    for (const n of reached) usedEarlier.add(n);
  }
  // An end that is not a revision boundary of the chain (damaged file): nothing can be said per revision.
  for (const e of ends) if (!result.has(e)) result.set(e, [{ object: 'file structure', what: 'this signed revision is not a revision of the cross-reference chain' }]);
  return result;
}
