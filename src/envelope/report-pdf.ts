/**
 * The audit report ("Signaturprotokoll") of one signing envelope as an A4 PDF.
 *
 * Pipeline: build blocks of wrapped lines (pure, measured with the embedded Liberation Sans faces) →
 * paginate (an event's lines stay together when they fit; headings stay with what follows; nothing
 * below the bottom margin) → draw → footers ("Seite X von Y", known only once laid out) → metadata.
 *
 * The output is deterministic: every date comes from `generatedAt`, never from the clock, the subset
 * tags are fixed, and the trailer /ID is a digest of the input, so equal data gives equal bytes.
 */
import { createHash } from 'node:crypto';
import type { Font } from '@pdf-lib/fontkit';
import { PDFDocument, PDFOperator, PDFOperatorNames, rgb } from 'pdf-lib';
import type { PDFFont, PDFPage, RGB } from 'pdf-lib';
import { loadResources, printableText } from '../render/pdf/fonts.ts';
import { embedSubsetFont } from '../render/pdf/embed-font.ts';
import { breakTextLines } from '../render/pdf/index.ts';
import { writeIdentity } from '../render/pdf/pdfa.ts';
import { ARTIFACT_LAYOUT, ARTIFACT_PAGINATION, StructNodes, StructWriter } from '../render/pdf/structure.ts';
import type { StructRole, Tag } from '../render/pdf/structure.ts';
import { berlinDateTime } from '../compose/format.ts';

export interface AuditReportData {
  envelopeId: string;
  agreement: { title: string; type: 'aqb' | 'sgb2'; year: number; partnerName: string; amountText: string; version: number; edition: string; agreementId: string };
  status: string;            // German label already, e.g. "unterzeichnet", "abgelehnt", "storniert", "in Unterzeichnung"
  generatedAt: string;       // ISO 8601 instant (UTC), show as German local time Europe/Berlin "30.05.2023, 14:05:09 MESZ"-like
  documents: { label: string; fileName: string; sha256: string; size: number }[];  // e.g. "Ausgangsdokument (Entwurf)", "Signiertes Dokument"
  signatories: {
    position: number; name: string; role: string; party: string;   // party: "Ministerium" or the partner's name
    email: string | null;
    status: string;            // German label: "unterzeichnet", "ausstehend", "abgelehnt"
    signedAt?: string | null;  // ISO instant
    place?: string | null; date?: string | null;  // place and date as stamped (date ISO yyyy-mm-dd → print dd.mm.yyyy)
    certificate?: { subject: string; issuer: string; serial: string; sha256: string } | null;
    declineReason?: string | null;
    /** German: "qualifizierte elektronische Signatur" …, and how it was made. */
    level?: string | null;
    signer?: string | null;
  }[];
  /** The written-form verdict for a completed envelope (German sentence). */
  writtenForm?: { met: boolean; text: string } | null;
  /** The archive time-stamp that made the completed document PAdES B-LTA. */
  archiveTimestamp?: { time: string | null; tsa: string | null } | null;
  events: { seq: number; at: string; type: string; typeLabel: string; actor: string; details: string; docBefore: string | null; docAfter: string | null; prevHash: string; hash: string }[];
  chain: { ok: boolean; head: string; text: string };   // e.g. { ok: true, head: '<hex>', text: 'Hash-Kette vollständig und unverändert (12 Ereignisse)' }
}

// ---------------------------------------------------------------------------------------------
// Fonts (bytes read and parsed once per process)

type Style = 'regular' | 'bold' | 'italic';
const STYLES: Style[] = ['regular', 'bold', 'italic'];
/** Fixed subset tags, so the output does not depend on pdf-lib's suffix generator. */
const TAG: Record<Style, string> = { regular: 'ZWPRAA', bold: 'ZWPRAB', italic: 'ZWPRAC' };

interface Face { bytes: Uint8Array; font: Font }
let faces: Record<Style, Face> | undefined;

/** The renderer's process-wide faces (embedSubsetFont needs them, and they are parsed only once). */
function loadFaces(): Record<Style, Face> {
  if (!faces) {
    const all = loadResources().faces;
    faces = { regular: all.regular, bold: all.bold, italic: all.italic };
  }
  return faces;
}

// ---------------------------------------------------------------------------------------------
// Geometry and typography

const CM = 72 / 2.54;
const PAGE_W = 595.28;
const PAGE_H = 841.89;
const MARGIN = 2.5 * CM;
const TEXT_W = PAGE_W - 2 * MARGIN;
const BOTTOM = PAGE_H - MARGIN;          // measured from the top of the page
const BODY = 9.5;
const SMALL = 9;                         // hashes, event detail lines
const LEADING = 1.3;
const INDENT = 14;
const GRAY = rgb(0.35, 0.35, 0.35);
const RED = rgb(0.7, 0, 0);

const ART: Record<AuditReportData['agreement']['type'], string> = {
  aqb: 'Ausbildungs- und Qualifizierungsbudget (AQB)',
  sgb2: 'SGB II (§§ 16a, 24, 28 SGB II)',
};

/** `tag` (on a segment, else its line's): the structure node the text belongs to (structure.ts). */
interface Seg { x: number; text: string; style: Style; size: number; color?: RGB; tag?: Tag }
interface Line { height: number; segs: Seg[]; rule?: boolean; tag?: Tag }
interface Block { lines: Line[]; spaceBefore: number; keepWithNext?: boolean }

// ---------------------------------------------------------------------------------------------
// Text helpers

/** Replaces characters the fonts cannot show by their code point, drops control characters; keeps line breaks. */
function clean(text: string, style: Style = 'regular'): string {
  const face = loadResources().faces[style];
  let out = '';
  for (const ch of text.replace(/\r\n?/g, '\n').replace(/\t/g, ' ')) {
    const cp = ch.codePointAt(0)!;
    if (ch === '\n') out += ch;
    else if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0) || cp === 0xad || cp === 0x200b || cp === 0xfeff) continue;
    // Text from outside the validated input (certificate names, reasons typed at signing) may hold
    // characters the fonts lack: shown as their code point, never as '?' or a missing glyph.
    else out += printableText(ch, face);
  }
  return out;
}

const widthCache = new Map<string, number>();
function width(text: string, style: Style, size: number): number {
  const key = `${style}\u0000${text}`;
  let w = widthCache.get(key);
  if (w === undefined) {
    const font = loadFaces()[style].font;
    w = 0;
    for (const g of font.layout(text).glyphs) w += g.advanceWidth;
    w /= font.unitsPerEm;
    if (widthCache.size > 50_000) widthCache.clear();
    widthCache.set(key, w);
  }
  return w * size;
}

/**
 * Lines of a text with explicit line breaks: each paragraph broken by the agreements' total-fit breaker
 * (ragged: at spaces and hard hyphens, a hash or URL wider than the line between characters).
 */
function wrapText(text: string, style: Style, size: number, maxWidth: number): string[] {
  return clean(text, style)
    .split('\n')
    .flatMap((para) => (para.trim() === '' ? [''] : breakTextLines(para, style, size, maxWidth)));
}

/** "30.05.2023, 14:05:09 MESZ"; unparsable input is shown as given. */
function germanDateTime(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : berlinDateTime(d, { seconds: true });
}

/** "2023-05-30" → "30.05.2023"; anything else is shown as given. */
function germanDate(date: string): string {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date.trim());
  return m ? `${m[3]}.${m[2]}.${m[1]}` : date;
}

const NUMBER = new Intl.NumberFormat('de-DE');
function bytesText(size: number): string {
  return `${NUMBER.format(size)} ${size === 1 ? 'Byte' : 'Bytes'}`;
}

// ---------------------------------------------------------------------------------------------
// Blocks

function lineHeight(size: number): number {
  return size * LEADING;
}

/** A wrapped paragraph. */
function para(text: string, opts: { style?: Style; size?: number; indent?: number; color?: RGB; spaceBefore?: number; keepWithNext?: boolean; tag?: Tag } = {}): Block {
  const style = opts.style ?? 'regular';
  const size = opts.size ?? BODY;
  const indent = opts.indent ?? 0;
  const lines = wrapText(text, style, size, TEXT_W - indent).map<Line>((t) => ({
    height: lineHeight(size),
    segs: [{ x: indent, text: t, style, size, color: opts.color }],
    tag: opts.tag,
  }));
  return { lines, spaceBefore: opts.spaceBefore ?? 0, keepWithNext: opts.keepWithNext };
}

interface KV { label: string; value: string; hash?: boolean; style?: Style; color?: RGB }

/**
 * Label/value rows: labels in a column, values wrapped beside them. Hashes use the small size.
 * With `table` (a structure node of nodes `st`) the rows are tagged as its TR with TH (label,
 * row header) and TD (value).
 */
function kvLines(rows: KV[], opts: { indent?: number; labelStyle?: Style; labelSize?: number; labelColor?: RGB; size?: number; st?: StructNodes } = {}): Line[] {
  const table = opts.st?.add('Table');
  const indent = opts.indent ?? 0;
  const labelStyle = opts.labelStyle ?? 'bold';
  const labelSize = opts.labelSize ?? BODY;
  const size = opts.size ?? BODY;
  const labelW = Math.min(150, Math.max(0, ...rows.map((r) => width(clean(r.label, labelStyle) + ':', labelStyle, labelSize)))) + 8;
  const valueX = indent + labelW;
  const valueW = TEXT_W - valueX;
  const lines: Line[] = [];
  for (const row of rows) {
    const vSize = row.hash ? SMALL : size;
    const vStyle = row.style ?? 'regular';
    const h = lineHeight(Math.max(vSize, labelSize));
    const labelLines = wrapText(row.label + ':', labelStyle, labelSize, labelW - 4);
    let valueLines = wrapText(row.value || '—', vStyle, vSize, valueW);
    let valueOffset = 0;
    // A long unbreakable value that fits the full width goes on its own line below the label.
    if (valueLines.length > 1 && !/\s/.test(row.value.trim()) && width(clean(row.value, vStyle), vStyle, vSize) <= TEXT_W - indent - INDENT) {
      valueLines = [clean(row.value, vStyle)];
      valueOffset = labelLines.length;
    }
    const n = Math.max(labelLines.length, valueOffset + valueLines.length);
    const tr = opts.st && table !== undefined ? opts.st.add('TR', table) : undefined;
    const th: Tag | undefined = tr !== undefined ? { node: opts.st!.add('TH', tr, { scope: 'Row' }) } : undefined;
    const td: Tag | undefined = tr !== undefined ? { node: opts.st!.add('TD', tr) } : undefined;
    for (let i = 0; i < n; i++) {
      const segs: Seg[] = [];
      if (i < labelLines.length) segs.push({ x: indent, text: labelLines[i], style: labelStyle, size: labelSize, color: opts.labelColor, tag: th });
      const vi = i - valueOffset;
      if (vi >= 0 && vi < valueLines.length) {
        segs.push({ x: valueOffset ? indent + INDENT : valueX, text: valueLines[vi], style: vStyle, size: vSize, color: row.color, tag: td });
      }
      lines.push({ height: h, segs });
    }
  }
  return lines;
}

function heading(text: string, st: StructNodes, spaceBefore = 16): Block {
  const size = 12;
  const tag: Tag = { node: st.add('H2') };
  const lines = wrapText(text, 'bold', size, TEXT_W).map<Line>((t) => ({ height: lineHeight(size), segs: [{ x: 0, text: t, style: 'bold', size }], tag }));
  lines[lines.length - 1].rule = true;
  lines.push({ height: 4, segs: [] });
  return { lines, spaceBefore, keepWithNext: true };
}

/**
 * The report's blocks, with their structure allocated in reading order in `st`: H1 (the report),
 * P (the agreement's title), H2 per section, H3 per document/signatory, label/value rows as a
 * Table (TR, TH row headers, TD), and P for sentences and event lines.
 */
function buildBlocks(data: AuditReportData, st: StructNodes): Block[] {
  const a = data.agreement;
  const blocks: Block[] = [];
  const node = (role: StructRole): Tag => ({ node: st.add(role) });
  /** Bold one-line titles of a document, signatory or event. */
  const titleLines = (text: string, tag: Tag) => wrapText(text, 'bold', BODY, TEXT_W).map<Line>((t) => ({ height: lineHeight(BODY), segs: [{ x: 0, text: t, style: 'bold', size: BODY }], tag }));

  blocks.push(para('Signaturprotokoll', { style: 'bold', size: 18, tag: node('H1') }));
  blocks.push(para(a.title, { style: 'bold', size: 12, spaceBefore: 4, tag: node('P') }));
  blocks.push({
    lines: kvLines([
      { label: 'Vereinbarung', value: a.title },
      { label: 'Partner', value: a.partnerName },
      { label: 'Art', value: ART[a.type] ?? String(a.type) },
      { label: 'Jahr', value: String(a.year) },
      { label: 'Betrag', value: a.amountText },
      { label: 'Fassung', value: a.edition },
      { label: 'Version', value: String(a.version) },
      { label: 'Vereinbarungs-ID', value: a.agreementId },
      { label: 'Umschlag-ID', value: data.envelopeId },
      { label: 'Status', value: data.status, style: 'bold' },
      { label: 'Erstellt am', value: germanDateTime(data.generatedAt) },
    ], { st }),
    spaceBefore: 12,
  });

  // Dokumente
  blocks.push(heading('Dokumente', st));
  if (!data.documents.length) blocks.push(para('Keine Dokumente.', { style: 'italic', tag: node('P') }));
  data.documents.forEach((d, i) => {
    const title = titleLines(d.label, node('H3'));
    const rows = kvLines(
      [
        { label: 'Datei', value: d.fileName },
        { label: 'Größe', value: bytesText(d.size) },
        { label: 'SHA-256', value: d.sha256, hash: true },
      ],
      { indent: INDENT, labelStyle: 'regular', labelColor: GRAY, st },
    );
    blocks.push({ lines: [...title, ...rows], spaceBefore: i ? 8 : 0 });
  });

  // Unterzeichnende
  blocks.push(heading('Unterzeichnende', st));
  if (!data.signatories.length) blocks.push(para('Keine Unterzeichnenden.', { style: 'italic', tag: node('P') }));
  [...data.signatories]
    .sort((x, y) => x.position - y.position)
    .forEach((s, i) => {
      const title = titleLines(`${i + 1}. ${s.name}`, node('H3'));
      const rows: KV[] = [
        { label: 'Funktion', value: s.role },
        { label: 'Vertragspartei', value: s.party },
        { label: 'E-Mail', value: s.email ?? '—' },
        { label: 'Status', value: s.status, style: 'bold', color: s.status === 'abgelehnt' ? RED : undefined },
      ];
      if (s.signedAt) rows.push({ label: 'Unterzeichnet am', value: germanDateTime(s.signedAt) });
      const placeDate = [s.place?.trim(), s.date ? germanDate(s.date) : undefined].filter((v): v is string => !!v).join(', ');
      if (placeDate) rows.push({ label: 'Ort, Datum', value: placeDate });
      if (s.certificate) {
        rows.push({ label: 'Zertifikat', value: s.certificate.subject });
        rows.push({ label: 'Aussteller', value: s.certificate.issuer });
        rows.push({ label: 'Seriennummer', value: s.certificate.serial, hash: true });
        rows.push({ label: 'Fingerabdruck (SHA-256)', value: s.certificate.sha256, hash: true });
      }
      if (s.level) rows.push({ label: 'Signaturniveau', value: s.level, style: 'bold' });
      if (s.signer) rows.push({ label: 'Art der Unterschrift', value: s.signer });
      if (s.declineReason) rows.push({ label: 'Ablehnungsgrund', value: s.declineReason });
      blocks.push({ lines: [...title, ...kvLines(rows, { indent: INDENT, labelStyle: 'regular', labelColor: GRAY, st })], spaceBefore: i ? 8 : 0 });
    });

  if (data.writtenForm) {
    blocks.push(heading('Schriftform', st));
    blocks.push(para(data.writtenForm.text, { style: 'bold', color: data.writtenForm.met ? undefined : RED, tag: node('P') }));
  }

  if (data.archiveTimestamp) {
    blocks.push(heading('Langzeitnachweis (PAdES B-LTA)', st));
    blocks.push(
      para(
        `Das unterzeichnete Dokument enthält die Prüfdaten aller Signaturen (Zertifikate, Sperrinformationen) und einen Archivzeitstempel vom ${data.archiveTimestamp.time ? germanDateTime(data.archiveTimestamp.time) : '?'} (${data.archiveTimestamp.tsa ?? 'Zeitstempeldienst unbekannt'}). Es bleibt prüfbar, solange der jeweils letzte Archivzeitstempel gültig ist; „zv archive renew“ erneuert ihn rechtzeitig.`,
        { tag: node('P') },
      ),
    );
  }

  // Ereignisse
  blocks.push(heading('Ereignisse', st));
  if (!data.events.length) blocks.push(para('Keine Ereignisse.', { style: 'italic', tag: node('P') }));
  [...data.events]
    .sort((x, y) => x.seq - y.seq)
    .forEach((e, i) => {
      // "#seq  time  typeLabel" in bold, the actor beside it in regular weight (below it if it does not fit).
      const head = [`#${e.seq}`, germanDateTime(e.at), e.typeLabel].filter((v) => v && v.trim()).join('  ');
      const actor = clean(e.actor ?? '', 'regular').replace(/\s+/g, ' ').trim();
      const headTag = node('P');
      const lines: Line[] = wrapText(head, 'bold', BODY, TEXT_W).map((t) => ({ height: lineHeight(BODY), segs: [{ x: 0, text: t, style: 'bold' as Style, size: BODY }], tag: headTag }));
      if (actor) {
        const last = lines[lines.length - 1].segs[0];
        const x = width(last.text, 'bold', BODY) + width('  ', 'regular', BODY);
        if (x + width(actor, 'regular', BODY) <= TEXT_W) lines[lines.length - 1].segs.push({ x, text: actor, style: 'regular', size: BODY });
        else for (const t of wrapText(actor, 'regular', BODY, TEXT_W - INDENT)) lines.push({ height: lineHeight(BODY), segs: [{ x: INDENT, text: t, style: 'regular', size: BODY }], tag: headTag });
      }
      if (e.details && e.details.trim()) {
        const tag = node('P');
        for (const t of wrapText(e.details.trim(), 'regular', BODY, TEXT_W - INDENT)) lines.push({ height: lineHeight(BODY), segs: [{ x: INDENT, text: t, style: 'regular', size: BODY }], tag });
      }
      const rows: KV[] = [];
      if (e.docBefore) rows.push({ label: 'Dokument vorher', value: e.docBefore, hash: true });
      if (e.docAfter) rows.push({ label: 'Dokument nachher', value: e.docAfter, hash: true });
      rows.push({ label: 'Vorheriger Hash', value: e.prevHash, hash: true });
      rows.push({ label: 'Hash', value: e.hash, hash: true });
      lines.push(...kvLines(rows, { indent: INDENT, labelStyle: 'regular', labelSize: SMALL, labelColor: GRAY, size: SMALL, st }));
      blocks.push({ lines, spaceBefore: i ? 7 : 0 });
    });

  // Integrität
  blocks.push(heading('Integrität', st));
  blocks.push(para(data.chain.text, { style: 'bold', color: data.chain.ok ? undefined : RED, tag: node('P') }));
  blocks.push({ lines: kvLines([{ label: 'Letzter Hash', value: data.chain.head, hash: true }], { labelStyle: 'regular', labelColor: GRAY, st }), spaceBefore: 2 });

  return blocks;
}

// ---------------------------------------------------------------------------------------------
// Pagination

interface Placed { top: number; line: Line }

function paginate(blocks: Block[]): Placed[][] {
  const pages: Placed[][] = [[]];
  let y = MARGIN;
  const atTop = () => pages[pages.length - 1].length === 0;
  const newPage = () => {
    pages.push([]);
    y = MARGIN;
  };
  const blockHeight = (b: Block, first: boolean) => (first ? 0 : b.spaceBefore) + b.lines.reduce((s, l) => s + l.height, 0);

  for (let i = 0; i < blocks.length; ) {
    // A unit: blocks chained by keepWithNext plus the block that follows them.
    let j = i;
    while (j < blocks.length - 1 && blocks[j].keepWithNext) j++;
    const unit = blocks.slice(i, j + 1);
    i = j + 1;

    const height = unit.reduce((s, b, k) => s + blockHeight(b, k === 0 && atTop()), 0);
    if (!atTop() && y + height > BOTTOM && height - unit[0].spaceBefore <= BOTTOM - MARGIN) newPage();
    else if (!atTop() && y + height > BOTTOM) {
      // Too tall for any page: at least keep the first lines of each block together with its heading.
      const lead = unit.slice(0, -1).reduce((s, b) => s + blockHeight(b, false), 0) + (unit[unit.length - 1].lines[0]?.height ?? 0);
      if (y + lead > BOTTOM) newPage();
    }

    for (const b of unit) {
      if (!atTop()) y += b.spaceBefore;
      // A block that does not fit the rest of the page but would fit an empty one starts a new page.
      const h = blockHeight(b, true);
      if (!atTop() && y + h > BOTTOM && h <= BOTTOM - MARGIN) newPage();
      for (const line of b.lines) {
        if (y + line.height > BOTTOM) newPage();
        pages[pages.length - 1].push({ top: y, line });
        y += line.height;
      }
    }
  }
  return pages;
}

// ---------------------------------------------------------------------------------------------
// Rendering

/** Fits `text` into `maxWidth` by shortening it with an ellipsis. */
function fit(text: string, style: Style, size: number, maxWidth: number): string {
  if (width(text, style, size) <= maxWidth) return text;
  const chars = Array.from(text);
  let lo = 0;
  let hi = chars.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (width(chars.slice(0, mid).join('').trimEnd() + ' …', style, size) <= maxWidth) lo = mid;
    else hi = mid - 1;
  }
  return chars.slice(0, lo).join('').trimEnd() + ' …';
}

/** Runs `draw` inside the marked-content sequence of `tag` (an MCID of its node, or an artifact). */
function marked(page: PDFPage, begin: (tag: Tag | undefined) => string, tag: Tag | undefined, draw: () => void) {
  page.pushOperators(PDFOperator.of(PDFOperatorNames.BeginMarkedContentSequence, [begin(tag).replace(/ BDC$/, '')]));
  draw();
  page.pushOperators(PDFOperator.of(PDFOperatorNames.EndMarkedContent));
}

function drawLine(page: PDFPage, fonts: Record<Style, PDFFont>, placed: Placed, begin: (tag: Tag | undefined) => string) {
  const { top, line } = placed;
  const size = Math.max(0, ...line.segs.map((s) => s.size));
  const baseline = PAGE_H - (top + size * 0.95);
  for (const seg of line.segs) {
    if (!seg.text) continue;
    marked(page, begin, seg.tag ?? line.tag, () =>
      page.drawText(seg.text, { x: MARGIN + seg.x, y: baseline, font: fonts[seg.style], size: seg.size, color: seg.color ?? rgb(0, 0, 0) }),
    );
  }
  if (line.rule) {
    const y = PAGE_H - (top + line.height + 1);
    marked(page, begin, ARTIFACT_LAYOUT, () => page.drawLine({ start: { x: MARGIN, y }, end: { x: PAGE_W - MARGIN, y }, thickness: 0.5, color: GRAY }));
  }
}

export async function renderAuditReport(data: AuditReportData): Promise<Uint8Array> {
  const st = new StructNodes();
  const pages = paginate(buildBlocks(data, st));

  const doc = await PDFDocument.create({ updateMetadata: false });
  const fonts = {} as Record<Style, PDFFont>;
  for (const s of STYLES) fonts[s] = embedSubsetFont(doc, loadResources().faces[s], TAG[s]).pdf;

  const struct = new StructWriter(doc, st.nodes);
  const pdfPages = pages.map((placed, pageIndex) => {
    const page = doc.addPage([PAGE_W, PAGE_H]);
    for (const p of placed) drawLine(page, fonts, p, (tag) => struct.begin(pageIndex, tag));
    return page;
  });

  // Footers, now that the page count is known.
  const footerSize = 8;
  const title = clean(data.agreement.title, 'italic').replace(/\s+/g, ' ').trim();
  pdfPages.forEach((page, i) => {
    const pageText = ` · Seite ${i + 1} von ${pdfPages.length}`;
    const room = TEXT_W - width('Signaturprotokoll · ' + pageText, 'italic', footerSize);
    const text = `Signaturprotokoll · ${fit(title, 'italic', footerSize, room)}${pageText}`;
    const y = MARGIN / 2;
    marked(page, (tag) => struct.begin(i, tag), ARTIFACT_PAGINATION, () => {
      page.drawLine({ start: { x: MARGIN, y: y + 11 }, end: { x: PAGE_W - MARGIN, y: y + 11 }, thickness: 0.5, color: GRAY });
      page.drawText(text, { x: MARGIN, y, font: fonts.italic, size: footerSize, color: GRAY });
    });
  });
  struct.finish(pdfPages.map((p) => p.ref));

  // Metadata: fixed dates (from generatedAt; the epoch if it cannot be read), German language,
  // PDF/A-3a + PDF/UA-1 identification, and a file identifier derived from the input.
  const generated = new Date(data.generatedAt);
  writeIdentity(
    doc,
    {
      title: `Signaturprotokoll – ${data.agreement.title}`,
      author: '',
      subject: data.envelopeId,
      keywords: [],
      language: 'de-DE',
      created: Number.isNaN(generated.getTime()) ? new Date(0) : generated,
      creatorTool: 'Zielwerk',
      producer: 'Zielwerk',
      digest: createHash('sha256').update('zielwerk-audit-report\u0000').update(JSON.stringify(data)).digest(),
    },
    loadResources().icc,
  );

  return doc.save({ useObjectStreams: false, addDefaultPage: false });
}
