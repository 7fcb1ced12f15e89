/**
 * What changed in a PDF after a signature: every object of the revision the signature covers is
 * compared with the final document, and each difference is classified as allowed (a later
 * signature filling its pre-existing field: value, appearance, rectangle within its slot; the
 * AcroForm's /SigFlags; DSS) or not. New annotations on pages are never allowed: Zielwerk's fields
 * exist from generation on, so a new widget can only be an overlay.
 *
 * Objects are compared by a canonical serialisation (streams by their raw bytes), so how an
 * update was written — plain objects, object streams, a rebuilt xref — does not matter.
 */
import { PDF, PdfDict, PdfRef, PdfStream } from '@libpdf/core';
import type { PdfObject } from '@libpdf/core';
import type { DateSlotEntry } from '../render/pdf/index.ts';
import { sha256Hex } from '../digest.ts';

export interface Change {
  object: string;
  what: string;
}

export interface RevisionDiff {
  allowed: Change[];
  disallowed: Change[];
}

type Kind = 'string' | 'number' | 'name' | 'bool' | 'null' | 'array' | 'dict' | 'stream' | 'ref';
const kind = (o: PdfObject): Kind => (o as unknown as { type: Kind }).type;

const memo = new WeakMap<object, string>();

/** A canonical text for an object (references stay references; stream data hashed). Memoised per parsed object. */
export function canonical(o: PdfObject | null | undefined): string {
  if (o === null || o === undefined) return 'missing';
  const k = kind(o);
  if (k !== 'dict' && k !== 'stream' && k !== 'array') return canonicalOf(o);
  let text = memo.get(o);
  if (text === undefined) {
    text = canonicalOf(o);
    memo.set(o, text);
  }
  return text;
}

function canonicalOf(o: PdfObject): string {
  switch (kind(o)) {
    case 'ref': {
      const r = o as PdfRef;
      return `${r.objectNumber} ${r.generation} R`;
    }
    case 'name':
      return `/${(o as unknown as { value: string }).value}`;
    case 'number':
    case 'bool':
      return String((o as unknown as { value: unknown }).value);
    case 'null':
      return 'null';
    case 'string':
      return `<${Buffer.from((o as unknown as { bytes: Uint8Array }).bytes).toString('hex')}>`;
    case 'array':
      return `[${(o as unknown as { toArray(): PdfObject[] }).toArray().map(canonical).join(' ')}]`;
    case 'dict':
    case 'stream': {
      const entries = [...(o as PdfDict)].map(([k, v]) => `/${k.value} ${canonical(v)}`).sort();
      const body = `<<${entries.join(' ')}>>`;
      if (kind(o) === 'dict') return body;
      return `${body}stream:${sha256Hex((o as PdfStream).data)}`;
    }
  }
}

function objectCount(pdf: PDF): number {
  return pdf.context.info.trailer.getNumber('Size')?.value ?? 0;
}

function objectsOf(pdf: PDF): Map<number, PdfObject> {
  const map = new Map<number, PdfObject>();
  const size = objectCount(pdf);
  for (let n = 1; n < size; n++) {
    const o = pdf.getObject(PdfRef.of(n, 0));
    if (o) map.set(n, o);
  }
  return map;
}

const nameOf = (d: PdfDict, key: string) => d.getName(key)?.value;

function describe(o: PdfObject): string {
  if (kind(o) !== 'dict' && kind(o) !== 'stream') return kind(o);
  const d = o as PdfDict;
  const type = nameOf(d, 'Type');
  const sub = nameOf(d, 'Subtype');
  if (nameOf(d, 'FT') === 'Sig') return `signature field ${d.getString('T')?.asString() ?? ''}`.trim();
  if (type === 'Page') return 'page';
  if (type === 'Catalog') return 'document catalog';
  if (type === 'Sig') return 'signature dictionary';
  if (type === 'Annot' || sub === 'Widget') return `annotation (${sub ?? '?'})`;
  if (type === 'EmbeddedFile') return 'embedded file';
  if (type === 'Metadata') return 'XMP metadata';
  if (type === 'XObject') return `XObject (${sub ?? '?'})`;
  if (type) return `/${type}`;
  return kind(o) === 'stream' ? 'stream (e.g. page content)' : 'dictionary';
}

/** Keys whose values differ between two dictionaries. */
function changedKeys(a: PdfDict, b: PdfDict): string[] {
  const keys = new Set([...a.keys(), ...b.keys()].map((k) => k.value));
  return [...keys].filter((k) => canonical(a.get(k)) !== canonical(b.get(k))).sort();
}

const within = (inner: number[], outer: number[], tol = 1) =>
  inner[0]! >= outer[0]! - tol && inner[1]! >= outer[1]! - tol && inner[2]! <= outer[2]! + tol && inner[3]! <= outer[3]! + tol;

/**
 * A widget's /Rect as [llx, lly, urx, ury], or null unless it is exactly four direct, finite
 * numbers. Normalised the way viewers do, so reversed corners cannot pass for a small slot.
 */
function rectOf(d: PdfDict): number[] | null {
  const raw = d.get('Rect');
  if (!raw || kind(raw) !== 'array') return null;
  const items = (raw as unknown as { toArray(): PdfObject[] }).toArray();
  if (items.length !== 4 || items.some((n) => kind(n) !== 'number')) return null;
  const [a, b, c, e] = items.map((n) => (n as unknown as { value: number }).value) as [number, number, number, number];
  if (![a, b, c, e].every(Number.isFinite)) return null;
  return [Math.min(a, c), Math.min(b, e), Math.max(a, c), Math.max(b, e)];
}

/**
 * Differences between `signed` (the revision a signature covers) and `final`.
 * `dateSlots` bound how far a later signature's widget may grow (its party's place/date line).
 */
export function diffRevisions(signed: PDF, final: PDF, dateSlots: DateSlotEntry[]): RevisionDiff {
  const before = objectsOf(signed);
  const after = objectsOf(final);
  const allowed: Change[] = [];
  const disallowed: Change[] = [];

  const ownAppearances = appearancesOfNewlySigned(signed, final, before);

  const rootBefore = signed.context.info.trailer.get('Root');
  const rootAfter = final.context.info.trailer.get('Root');
  if (canonical(rootBefore) !== canonical(rootAfter)) disallowed.push({ object: 'trailer', what: 'the document catalog was replaced' });

  for (const [n, old] of before) {
    const cur = after.get(n);
    const label = `object ${n} (${describe(old)})`;
    if (!cur) {
      disallowed.push({ object: label, what: 'deleted' });
      continue;
    }
    if (canonical(old) === canonical(cur)) continue;
    if (kind(old) === 'stream' && kind(cur) === 'stream' && ownAppearances.has(n)) {
      // A signing tool may redraw the appearance stream of the field it signs (pdfsig does).
      allowed.push({ object: label, what: 'appearance of the field being signed redrawn' });
      continue;
    }
    if (kind(old) === 'array' && kind(cur) === 'array' && appendsOnlyTimestamps(final, before, old, cur)) {
      allowed.push({ object: label, what: 'document time-stamp field added' });
      continue;
    }
    if (kind(old) !== kind(cur) || kind(old) === 'stream' || kind(old) !== 'dict') {
      disallowed.push({ object: label, what: 'content changed' });
      continue;
    }
    const o = old as PdfDict;
    const c = cur as PdfDict;
    const keys = changedKeys(o, c);
    const sigField = nameOf(o, 'FT') === 'Sig' && nameOf(c, 'FT') === 'Sig';
    // A field that was empty and is now signed: only its value, appearance and rectangle may change.
    const nowSigned = sigField && !o.has('V') && isSignatureDict(final, c.get('V'));
    if (nowSigned && keys.every((k) => SIGNING_KEYS.includes(k) || (k === 'P' && isPageRef(final, c.get('P'))))) {
      const grownTo = rectOf(c);
      const oldRect = rectOf(o);
      if (!grownTo || !oldRect) {
        disallowed.push({ object: label, what: 'the signature field has no rectangle of four plain numbers' });
        continue;
      }
      // A party's first signature may take in the party's place/date line (same column).
      const slot = dateSlots.find((d) => d.rect[0] >= oldRect[0]! - 1 && d.rect[2] <= oldRect[2]! + 1);
      const limit = slot ? [Math.min(oldRect[0]!, slot.rect[0]), Math.min(oldRect[1]!, slot.rect[1]), Math.max(oldRect[2]!, slot.rect[2]), Math.max(oldRect[3]!, slot.rect[3])] : oldRect;
      // A zero-area rectangle is an invisible signature (the empty slot simply stays empty).
      const invisible = (grownTo[0] === grownTo[2] || grownTo[1] === grownTo[3]) && within(grownTo, [0, 0, 1e6, 1e6], 0);
      if (!invisible && !within(grownTo, limit)) disallowed.push({ object: label, what: 'signature appearance moved outside its signature slot' });
      else allowed.push({ object: label, what: 'signed by a later signature' });
    } else if (nameOf(o, 'Type') === 'Catalog' && keys.every((k) => k === 'DSS')) {
      allowed.push({ object: label, what: 'validation data (DSS) added' });
    } else if (o.has('Fields') && keys.every((k) => ['SigFlags', 'DR', 'DA', 'Fields'].includes(k)) && (!keys.includes('Fields') || appendsOnlyTimestamps(final, before, o.get('Fields'), c.get('Fields')))) {
      // Signing tools mark the form as signed and may add the fonts of their appearance (/DR, /DA);
      // a document time-stamp (B-LTA) adds its own invisible field.
      allowed.push({ object: label, what: keys.includes('Fields') ? 'document time-stamp field added' : 'form marked as signed (/SigFlags) or appearance resources added' });
    } else if (nameOf(o, 'Type') === 'Page' && keys.every((k) => k === 'Annots') && appendsOnlyTimestamps(final, before, o.get('Annots'), c.get('Annots'))) {
      allowed.push({ object: label, what: 'invisible widget of a document time-stamp added to the page' });
    } else {
      disallowed.push({ object: label, what: `changed: /${keys.join(', /')}` });
    }
  }
  return { allowed, disallowed };
}

/**
 * What signing tools change on the field they sign: its value and appearance (/V, /AP, /AS), its
 * rectangle within the slot, the modification date (/M), widget flags (/F), appearance
 * characteristics (/MK) and default appearance (/DA).
 */
const SIGNING_KEYS = ['V', 'AP', 'Rect', 'AS', 'M', 'F', 'MK', 'DA'];

/**
 * Object numbers of the appearance streams (before) of fields that get signed in `final`, when
 * nothing but that field (or its /AP dictionary object) refers to them: these a signer may redraw.
 */
function appearancesOfNewlySigned(signed: PDF, final: PDF, before: Map<number, PdfObject>): Set<number> {
  const own = new Map<number, Set<number>>(); // appearance stream → the objects allowed to refer to it
  for (const [n, o] of before) {
    if (kind(o) !== 'dict' || nameOf(o as PdfDict, 'FT') !== 'Sig' || (o as PdfDict).has('V')) continue;
    const now = final.getObject(PdfRef.of(n, 0));
    if (!(now instanceof PdfDict) || !isSignatureDict(final, now.get('V'))) continue;
    const holders = new Set([n]);
    let ap = (o as PdfDict).get('AP');
    if (ap instanceof PdfRef) {
      holders.add(ap.objectNumber);
      ap = signed.getObject(ap) ?? undefined;
    }
    if (!(ap instanceof PdfDict)) continue;
    for (const [, entry] of ap) {
      const refs = entry instanceof PdfRef ? [entry] : entry instanceof PdfDict ? [...entry].map(([, v]) => v).filter((v): v is PdfRef => v instanceof PdfRef) : [];
      for (const r of refs) own.set(r.objectNumber, holders);
    }
  }
  for (const [n, o] of before) {
    const text = canonical(o);
    for (const [stream, holders] of own) if (!holders.has(n) && new RegExp(`(^|[^0-9])${stream} 0 R`).test(text)) own.delete(stream);
  }
  return new Set(own.keys());
}

/**
 * /P (the widget's page) is informational: viewers draw a widget from the /Annots of the page that
 * holds it. Signers add it — @libpdf/core 0.4 even names the first page for a widget on page 3 —
 * so any page reference is accepted; something else is not.
 */
function isPageRef(final: PDF, p: PdfObject | undefined): boolean {
  if (!(p instanceof PdfRef)) return false;
  const page = final.getObject(p);
  return page instanceof PdfDict && nameOf(page, 'Type') === 'Page';
}

/**
 * Whether `after` is `before` (arrays, or absent) with only new, invisible document time-stamp
 * fields appended (PAdES B-LTA: /Type /DocTimeStamp, a zero-area widget) — nothing else.
 */
function appendsOnlyTimestamps(final: PDF, before: Map<number, PdfObject>, was: PdfObject | undefined, now: PdfObject | undefined): boolean {
  const items = (o: PdfObject | undefined, resolve: (r: PdfRef) => PdfObject | undefined): PdfObject[] | null => {
    if (o === undefined) return [];
    const a = o instanceof PdfRef ? resolve(o) : o;
    return a && kind(a) === 'array' ? (a as unknown as { toArray(): PdfObject[] }).toArray() : null;
  };
  const old = items(was, (r) => before.get(r.objectNumber));
  const cur = items(now, (r) => final.getObject(r) ?? undefined);
  if (!old || !cur || cur.length <= old.length) return false;
  if (old.some((o, i) => canonical(o) !== canonical(cur[i]))) return false;
  return cur.slice(old.length).every((r) => {
    if (!(r instanceof PdfRef) || before.has(r.objectNumber)) return false;
    const w = final.getObject(r);
    if (!(w instanceof PdfDict) || nameOf(w, 'FT') !== 'Sig') return false;
    const v = w.get('V');
    const sig = v instanceof PdfRef ? final.getObject(v) : v;
    if (!(sig instanceof PdfDict) || nameOf(sig, 'Type') !== 'DocTimeStamp' || nameOf(sig, 'SubFilter') !== 'ETSI.RFC3161') return false;
    const rect = rectOf(w);
    return !w.has('Rect') || (!!rect && (rect[0] === rect[2] || rect[1] === rect[3]));
  });
}

/** The value of a signed field: a /Sig dictionary with a byte range and contents. */
function isSignatureDict(pdf: PDF, v: PdfObject | undefined): boolean {
  const d = v instanceof PdfRef ? pdf.getObject(v) : v;
  return d instanceof PdfDict && nameOf(d, 'Type') === 'Sig' && d.has('ByteRange') && d.has('Contents');
}
