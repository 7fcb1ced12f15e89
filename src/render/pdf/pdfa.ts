/**
 * PDF/A-3a and PDF/UA-1 document-level structures: Info dictionary and XMP metadata (kept
 * consistent, with pdfaid and pdfuaid identification), sRGB output intent, associated files
 * (embedded + /AF), /Lang, DisplayDocTitle, and a deterministic trailer /ID. The structure tree
 * that level "a" and PDF/UA need is written by structure.ts.
 *
 * Every date comes from tree.meta.created, never from the clock, and the ID is a SHA-256 digest
 * of the tree and the page contents, so the same input always yields a byte-identical file.
 *
 * The signing order lives in the XMP under a custom namespace, declared through a PDF/A
 * extension schema so that the metadata stays PDF/A-valid (custom catalog keys would not).
 */
import { createHash } from 'node:crypto';
import { PDFArray, PDFDict, PDFDocument, PDFHexString, PDFName, PDFRef, PDFString } from 'pdf-lib';
import type { DocumentTree, SignatorySlot } from '../../document/tree.ts';
import type { DateSlotBox } from './layout.ts';
import type { PlacedSignatureField } from './fields.ts';
import { num } from './draw.ts';
import { toolVersion } from '../../paths.ts';
import { sha256Hex } from '../../digest.ts';

export const ZV_NAMESPACE = 'https://zielwerk.example/ns/1.0/';
export const PRODUCER = 'Zielwerk PDF renderer (pdf-lib 1.17.1)';
/** The generator and its version, so that a verifier can say which Zielwerk made the draft. */
export const CREATOR_TOOL = `Zielwerk ${toolVersion}`;

// ---------------------------------------------------------------------------------------------
// Determinism helpers

/** JSON with sorted keys; Dates as ISO strings, byte arrays as their SHA-256. */
function canonical(value: unknown): unknown {
  if (value instanceof Date) return value.toISOString();
  if (value instanceof Uint8Array) return { sha256: sha256Hex(value), size: value.length };
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[k];
      if (v !== undefined) out[k] = canonical(v);
    }
    return out;
  }
  return value;
}

/** SHA-256 over the canonical tree and the rendered page contents. */
export function documentDigest(tree: DocumentTree, pageContents: string[]): Buffer {
  const h = createHash('sha256');
  h.update(JSON.stringify(canonical(tree)));
  for (const c of pageContents) {
    h.update('\u0000');
    h.update(c);
  }
  return h.digest();
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** PDF date string in UTC: D:YYYYMMDDHHmmSS+00'00'. */
export function pdfDate(d: Date): string {
  return `D:${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}+00'00'`;
}

/** XMP date in UTC, same instant as pdfDate. */
export function xmpDate(d: Date): string {
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}+00:00`;
}

function uuidFrom(bytes: Uint8Array): string {
  const h = Buffer.from(bytes.subarray(0, 16)).toString('hex');
  return `uuid:${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

const xml = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F]/g, '');

// ---------------------------------------------------------------------------------------------
// Signing metadata (custom XMP namespace)

export type SigningEntry = Pick<SignatorySlot, 'fieldName' | 'party' | 'index' | 'order' | 'name' | 'role'>;

export interface DateSlotEntry {
  party: 'ministry' | 'partner';
  /** 1-based page number. */
  page: number;
  rect: [number, number, number, number];
  baseline: number;
}

export interface SigningMetadata {
  dateStyle: string;
  signatories: SigningEntry[];
  dateSlots: DateSlotEntry[];
}

/** Fields are joined with '|'; a literal '|' or '\' inside a value is backslash-escaped. */
const esc = (s: string) => s.replace(/\\/g, '\\\\').replace(/\|/g, '\\|');
function splitEscaped(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '\\' && i + 1 < s.length) cur += s[++i];
    else if (c === '|') {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

const unxml = (s: string) =>
  s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&');

function seqItems(xmp: string, prop: string): string[] {
  const m = new RegExp(`<zv:${prop}>\\s*<rdf:Seq>([\\s\\S]*?)</rdf:Seq>\\s*</zv:${prop}>`).exec(xmp);
  if (!m) return [];
  return Array.from(m[1]!.matchAll(/<rdf:li>([\s\S]*?)<\/rdf:li>/g), (x) => unxml(x[1]!));
}

/**
 * Reads the signing order (and open date slots) back from the XMP written by renderPdf —
 * for the signing stage, which gets the PDF but not the tree.
 */
export function parseSigningMetadata(xmp: string): SigningMetadata {
  const signatories = seqItems(xmp, 'signatories').map((line) => {
    const [fieldName, party, index, order, name, role] = splitEscaped(line);
    return { fieldName: fieldName!, party: party as SigningEntry['party'], index: Number(index), order: Number(order), name: name ?? '', role: role ?? '' };
  });
  const dateSlots = seqItems(xmp, 'dateSlots').map((line) => {
    const [party, page, x1, y1, x2, y2, baseline] = splitEscaped(line);
    return {
      party: party as DateSlotEntry['party'],
      page: Number(page),
      rect: [Number(x1), Number(y1), Number(x2), Number(y2)] as [number, number, number, number],
      baseline: Number(baseline),
    };
  });
  const ds = /<zv:dateStyle>([^<]*)<\/zv:dateStyle>/.exec(xmp);
  return { dateStyle: ds ? unxml(ds[1]!) : '', signatories, dateSlots };
}

// ---------------------------------------------------------------------------------------------
// XMP

/** What the Info dictionary and the XMP both say about a document (kept identical, PDF/A § 6.6.2.3). */
export interface DocumentIdentity {
  title: string;
  /** Empty: no author is named. */
  author: string;
  subject: string;
  keywords: string[];
  /** BCP 47, e.g. "de-DE". */
  language: string;
  /** Creation = modification date (fixed, from the input). */
  created: Date;
  creatorTool: string;
  producer: string;
  /** At least 32 bytes: document/instance IDs and the trailer /ID derive from it. */
  digest: Uint8Array;
}

/** A PDF/A extension schema (ISO 19005-1 § 6.7.8) with its properties. */
interface ExtensionSchema {
  schema: string;
  namespaceURI: string;
  prefix: string;
  /** [name, valueType, category, description]; value types as the spec spells them ("Text", "seq Text", "Integer"). */
  properties: [string, string, 'internal' | 'external', string][];
}

/** PDF/UA identification (ISO 14289-1 § 5): pdfuaid is not an XMP standard schema, so PDF/A needs it declared. */
const PDFUA_SCHEMA: ExtensionSchema = {
  schema: 'PDF/UA Universal Accessibility Schema',
  namespaceURI: 'http://www.aiim.org/pdfua/ns/id/',
  prefix: 'pdfuaid',
  properties: [['part', 'Integer', 'internal', 'Indicates, which part of ISO 14289 standard is followed']],
};

const ZV_SCHEMA: ExtensionSchema = {
  schema: 'Zielwerk signing metadata',
  namespaceURI: ZV_NAMESPACE,
  prefix: 'zv',
  properties: [
    ['dateStyle', 'Text', 'external', "Date style for the signing stamp: 'long' (30. Mai 2023) or 'numeric' (24.01.2023)"],
    ['signatories', 'seq Text', 'external', 'Signature fields in signing order; each entry fieldName|party|index|order|name|role (| and \\ escaped with \\)'],
    ['dateSlots', 'seq Text', 'external', 'Blank date areas after "<place>, den"; each entry party|page|x1|y1|x2|y2|baseline in PDF user space'],
  ],
};

function schemaXml(sc: ExtensionSchema): string {
  const prop = ([name, valueType, category, description]: ExtensionSchema['properties'][number]) =>
    `<rdf:li rdf:parseType="Resource"><pdfaProperty:name>${name}</pdfaProperty:name><pdfaProperty:valueType>${valueType}</pdfaProperty:valueType><pdfaProperty:category>${category}</pdfaProperty:category><pdfaProperty:description>${xml(description)}</pdfaProperty:description></rdf:li>`;
  return `     <rdf:li rdf:parseType="Resource">
      <pdfaSchema:schema>${xml(sc.schema)}</pdfaSchema:schema>
      <pdfaSchema:namespaceURI>${sc.namespaceURI}</pdfaSchema:namespaceURI>
      <pdfaSchema:prefix>${sc.prefix}</pdfaSchema:prefix>
      <pdfaSchema:property>
       <rdf:Seq>
        ${sc.properties.map(prop).join('\n        ')}
       </rdf:Seq>
      </pdfaSchema:property>
     </rdf:li>`;
}

/**
 * The XMP packet: PDF/A-3a and PDF/UA-1 identification, Dublin Core, PDF and XMP basics, and
 * optional extra descriptions with their extension schemas.
 */
export function xmpPacket(id: DocumentIdentity, extra: { description: string; schema: ExtensionSchema }[] = []): string {
  const created = xmpDate(id.created);
  const li = (v: string) => `<rdf:li>${xml(v)}</rdf:li>`;
  const dc = [
    '<dc:format>application/pdf</dc:format>',
    `<dc:title><rdf:Alt><rdf:li xml:lang="x-default">${xml(id.title)}</rdf:li></rdf:Alt></dc:title>`,
    id.author ? `<dc:creator><rdf:Seq>${li(id.author)}</rdf:Seq></dc:creator>` : '',
    id.subject ? `<dc:description><rdf:Alt><rdf:li xml:lang="x-default">${xml(id.subject)}</rdf:li></rdf:Alt></dc:description>` : '',
    id.keywords.length ? `<dc:subject><rdf:Bag>${id.keywords.map(li).join('')}</rdf:Bag></dc:subject>` : '',
    `<dc:language><rdf:Bag>${li(id.language)}</rdf:Bag></dc:language>`,
  ].filter(Boolean);
  const body = `<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/">
   <pdfaid:part>3</pdfaid:part>
   <pdfaid:conformance>A</pdfaid:conformance>
  </rdf:Description>
  <rdf:Description rdf:about="" xmlns:pdfuaid="http://www.aiim.org/pdfua/ns/id/">
   <pdfuaid:part>1</pdfuaid:part>
  </rdf:Description>
  <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">
   ${dc.join('\n   ')}
  </rdf:Description>
  <rdf:Description rdf:about="" xmlns:pdf="http://ns.adobe.com/pdf/1.3/">
   <pdf:Producer>${xml(id.producer)}</pdf:Producer>${id.keywords.length ? `\n   <pdf:Keywords>${xml(id.keywords.join(', '))}</pdf:Keywords>` : ''}
  </rdf:Description>
  <rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/">
   <xmp:CreatorTool>${xml(id.creatorTool)}</xmp:CreatorTool>
   <xmp:CreateDate>${created}</xmp:CreateDate>
   <xmp:ModifyDate>${created}</xmp:ModifyDate>
   <xmp:MetadataDate>${created}</xmp:MetadataDate>
  </rdf:Description>
  <rdf:Description rdf:about="" xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/">
   <xmpMM:DocumentID>${uuidFrom(id.digest)}</xmpMM:DocumentID>
   <xmpMM:InstanceID>${uuidFrom(id.digest.subarray(16))}</xmpMM:InstanceID>
  </rdf:Description>
${extra.map((e) => e.description + '\n').join('')}  <rdf:Description rdf:about="" xmlns:pdfaExtension="http://www.aiim.org/pdfa/ns/extension/" xmlns:pdfaSchema="http://www.aiim.org/pdfa/ns/schema#" xmlns:pdfaProperty="http://www.aiim.org/pdfa/ns/property#">
   <pdfaExtension:schemas>
    <rdf:Bag>
${[PDFUA_SCHEMA, ...extra.map((e) => e.schema)].map(schemaXml).join('\n')}
    </rdf:Bag>
   </pdfaExtension:schemas>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>`;
  // Padding lets a later stage update the packet in place.
  const padding = (' '.repeat(99) + '\n').repeat(20);
  return `<?xpacket begin="\uFEFF" id="W5M0MpCehiHzreSzNTczkc9d"?>\n${body}\n${padding}<?xpacket end="w"?>`;
}

/** The agreement's identity: title, author etc. from the tree's metadata. */
export function agreementIdentity(tree: DocumentTree, digest: Uint8Array): DocumentIdentity {
  const { meta } = tree;
  return {
    title: meta.title,
    author: meta.author,
    subject: meta.subject,
    keywords: meta.keywords,
    language: meta.language || 'de-DE',
    created: meta.created,
    creatorTool: CREATOR_TOOL,
    producer: PRODUCER,
    digest,
  };
}

export function buildXmp(tree: DocumentTree, signing: SigningMetadata, digest: Uint8Array): string {
  const sigLines = signing.signatories.map((s) => [s.fieldName, s.party, String(s.index), String(s.order), s.name, s.role].map(esc).join('|'));
  const dateLines = signing.dateSlots.map((d) => [d.party, String(d.page), ...d.rect.map(num), num(d.baseline)].map(esc).join('|'));
  const li = (v: string) => `<rdf:li>${xml(v)}</rdf:li>`;
  const seq = (items: string[]) => (items.length ? `<rdf:Seq>${items.map(li).join('')}</rdf:Seq>` : '<rdf:Seq/>');
  const description = `  <rdf:Description rdf:about="" xmlns:zv="${ZV_NAMESPACE}">
   <zv:dateStyle>${xml(tree.meta.dateStyle)}</zv:dateStyle>
   <zv:signatories>${seq(sigLines)}</zv:signatories>
   <zv:dateSlots>${seq(dateLines)}</zv:dateSlots>
  </rdf:Description>`;
  return xmpPacket(agreementIdentity(tree, digest), [{ description, schema: ZV_SCHEMA }]);
}

/**
 * Info dictionary (= XMP), uncompressed XMP stream, sRGB output intent, /Lang, DisplayDocTitle
 * (PDF/UA-1 § 7.1) and the deterministic trailer /ID — the parts the agreement and the
 * Signaturprotokoll share. `xmp` defaults to the plain packet of `id`.
 */
export function writeIdentity(doc: PDFDocument, id: DocumentIdentity, icc: Uint8Array, xmp = xmpPacket(id)): void {
  const ctx = doc.context;
  const date = PDFString.of(pdfDate(id.created));
  const info = ctx.obj({}) as PDFDict;
  info.set(PDFName.of('Title'), PDFHexString.fromText(id.title));
  if (id.author) info.set(PDFName.of('Author'), PDFHexString.fromText(id.author));
  if (id.subject) info.set(PDFName.of('Subject'), PDFHexString.fromText(id.subject));
  if (id.keywords.length) info.set(PDFName.of('Keywords'), PDFHexString.fromText(id.keywords.join(', ')));
  info.set(PDFName.of('Creator'), PDFHexString.fromText(id.creatorTool));
  info.set(PDFName.of('Producer'), PDFHexString.fromText(id.producer));
  info.set(PDFName.of('CreationDate'), date);
  info.set(PDFName.of('ModDate'), date);
  ctx.trailerInfo.Info = ctx.register(info);

  // XMP metadata, uncompressed (PDF/A forbids filters on the metadata stream).
  const metadata = ctx.stream(new TextEncoder().encode(xmp), { Type: 'Metadata', Subtype: 'XML' });
  doc.catalog.set(PDFName.of('Metadata'), ctx.register(metadata));

  // Output intent with the sRGB profile (DeviceGray/DeviceRGB content is allowed with it).
  const iccRef = ctx.register(ctx.flateStream(icc, { N: 3 }));
  const intent = ctx.obj({
    Type: 'OutputIntent',
    S: 'GTS_PDFA1',
    OutputConditionIdentifier: PDFString.of('sRGB IEC61966-2.1'),
    Info: PDFString.of('sRGB IEC61966-2.1'),
    RegistryName: PDFString.of('http://www.color.org'),
    DestOutputProfile: iccRef,
  });
  doc.catalog.set(PDFName.of('OutputIntents'), ctx.obj([intent]));

  doc.catalog.set(PDFName.of('Lang'), PDFString.of(id.language));
  doc.catalog.set(PDFName.of('ViewerPreferences'), ctx.obj({ DisplayDocTitle: true }));

  // Deterministic file identifier (both halves equal: this is the original version).
  const fileId = PDFHexString.of(Buffer.from(id.digest.subarray(0, 16)).toString('hex').toUpperCase());
  ctx.trailerInfo.ID = ctx.obj([fileId, fileId]);
}

// ---------------------------------------------------------------------------------------------
// Catalog / trailer

/** ASCII-only fallback for /F (the Unicode name goes into /UF). */
function asciiName(s: string): string {
  return s.normalize('NFKD').replace(/[\u0300-\u036f]/g, '').replace(/[^\x20-\x7e]/g, '_');
}

export interface PdfAOptions {
  tree: DocumentTree;
  fields: PlacedSignatureField[];
  dateSlots: { pageIndex: number; slot: DateSlotBox }[];
  digest: Buffer;
  icc: Uint8Array;
}

export function applyPdfA(doc: PDFDocument, opts: PdfAOptions): { xmp: string } {
  const { tree, digest } = opts;
  const ctx = doc.context;
  const date = PDFString.of(pdfDate(tree.meta.created));

  const signing: SigningMetadata = {
    dateStyle: tree.meta.dateStyle,
    signatories: opts.fields.map((f) => ({
      fieldName: f.slot.fieldName,
      party: f.slot.party,
      index: f.slot.index,
      order: f.slot.order,
      name: f.slot.name,
      role: f.slot.role,
    })),
    dateSlots: opts.dateSlots.map((d) => ({ party: d.slot.party, page: d.pageIndex + 1, rect: d.slot.rect, baseline: d.slot.baseline })),
  };
  const xmp = buildXmp(tree, signing, digest);
  writeIdentity(doc, agreementIdentity(tree, digest), opts.icc, xmp);

  // Associated files: /Names /EmbeddedFiles name tree (sorted, unique keys) + catalog /AF.
  if (tree.attachments.length) {
    const entries: { key: string; ref: PDFRef }[] = [];
    const used = new Set<string>();
    for (const a of tree.attachments) {
      const content = a.content;
      const stream = ctx.flateStream(content, {
        Type: 'EmbeddedFile',
        Subtype: a.mimeType || 'application/octet-stream',
        Params: {
          Size: content.length,
          CreationDate: date,
          ModDate: date,
          CheckSum: PDFHexString.of(createHash('md5').update(content).digest('hex')),
        },
      });
      const streamRef = ctx.register(stream);
      const spec = ctx.obj({
        Type: 'Filespec',
        F: PDFString.of(asciiName(a.name)),
        UF: PDFHexString.fromText(a.name),
        Desc: PDFHexString.fromText(a.description),
        AFRelationship: a.relationship,
        EF: { F: streamRef, UF: streamRef },
      });
      const ref = ctx.register(spec);
      let key = a.name;
      for (let n = 2; used.has(key); n++) key = `${a.name} (${n})`;
      used.add(key);
      entries.push({ key, ref });
    }
    const af = PDFArray.withContext(ctx);
    for (const e of entries) af.push(e.ref);
    doc.catalog.set(PDFName.of('AF'), af);
    // Name-tree keys must be sorted by their byte encoding (UTF-16BE text strings here).
    const encoded = entries.map((e) => ({ ...e, bytes: Buffer.from(PDFHexString.fromText(e.key).asBytes()) }));
    encoded.sort((x, y) => Buffer.compare(x.bytes, y.bytes));
    const names = PDFArray.withContext(ctx);
    for (const e of encoded) {
      names.push(PDFHexString.fromText(e.key));
      names.push(e.ref);
    }
    doc.catalog.set(PDFName.of('Names'), ctx.obj({ EmbeddedFiles: ctx.register(ctx.obj({ Names: names })) }));
  }

  return { xmp };
}
