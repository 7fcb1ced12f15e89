/**
 * DOCX renderer: turns a DocumentTree into a Word document (Office Open XML) with real Word styles,
 * real Word numbering, a borderless signature table and a "Seite X von Y" footer.
 *
 * The DOCX is set like the PDF (src/render/pdf/layout.ts), so that Word and LibreOffice paginate it
 * the same way: same page geometry and font (Liberation Sans), same sizes, exact line pitch
 * (size × 1.35), the PDF's collapsed paragraph spacing (max(after, before), written as "space before"
 * only, so nothing is added at a page bottom and nothing is left at a page top), the same
 * keep-with-next / keep-lines / widow rules and an unsplittable signature table that takes the last
 * lines of the text with it.
 *
 * Hyphenation: on for the document (German, from the document defaults' language), at most 2
 * hyphenated lines in a row, never in all-caps words; switched off per paragraph (suppressAutoHyphens)
 * for the title, headings, the amount line and the signature block. Word hyphenates per paragraph, so
 * a proper name inside a body paragraph (Run.noHyphenate) is protected by marking its run w:noProof:
 * Word and LibreOffice do not hyphenate text that is excluded from proofing.
 *
 * The output is deterministic: the same tree gives byte-identical bytes (see `finalizePackage`).
 *
 * Attachments (`tree.attachments`) are deliberately ignored: a DOCX has no counterpart to a PDF/A-3
 * associated file; the input JSON is only embedded in the archival PDF.
 */
import {
  AlignmentType,
  BorderStyle,
  Document,
  Footer,
  LevelFormat,
  NoBreakHyphen,
  Packer,
  Paragraph,
  SoftHyphen,
  Tab,
  Table,
  TableCell,
  TableLayoutType,
  TableRow,
  TextRun,
  VerticalAlignTable,
  WidthType,
  type ILevelsOptions,
  type INumberingOptions,
} from 'docx';
import { strFromU8, strToU8, unzipSync, zipSync, type Zippable } from 'fflate';
import type {
  Block,
  DocumentTree,
  HeadingBlock,
  ListBlock,
  ParagraphBlock,
  Run,
  SignatureBlock,
  SignatureColumn,
  SignatorySlot,
  TitleBlock,
} from '../document/tree.ts';
import { loadResources } from './pdf/fonts.ts';
import {
  BODY_SIZE,
  HEADING,
  LINE_FACTOR,
  LIST_GAP_AFTER_LABEL,
  LIST_INDENT,
  LIST_ITEM_GAP,
  PAGE,
  PARAGRAPH_AFTER,
  SIG,
  TITLE_AFTER,
  TITLE_FIRST_SIZE,
  TITLE_LINE_GAP,
  TITLE_SIZE,
} from './pdf/layout.ts';

// Geometry and typography come from the PDF layout (src/render/pdf/layout.ts): one set of numbers.
/** Descent of Liberation Sans (em): puts the footer's baseline where the PDF's is. */
const FONT_DESCENT = 0.212;

/** Points → twips (1/20 pt). */
const tw = (pt: number) => Math.round(pt * 20);
/** Exact line pitch of a font size, in twips. */
const pitch = (size: number) => tw(size * LINE_FACTOR);
/** Font size in half points. */
const halfPt = (size: number) => Math.round(size * 2);

const PAGE_WIDTH = tw(PAGE.width); // A4: 11906
const PAGE_HEIGHT = tw(PAGE.height); // 16838
const MARGIN = { top: tw(PAGE.marginTop), bottom: tw(PAGE.marginBottom), left: tw(PAGE.marginLeft), right: tw(PAGE.marginRight) };
const TEXT_WIDTH = PAGE_WIDTH - MARGIN.left - MARGIN.right;
const FOOTER_DISTANCE = tw(PAGE.footerBaseline - FONT_DESCENT * PAGE.footerSize);

/** The font the PDF embeds; LibreOffice has it (fonts-liberation), Word substitutes Arial (same metrics). */
export const FONT = 'Liberation Sans';

// ---------------------------------------------------------------------------------------------
// Styles: written by us (styles.xml), only those the document uses
// ---------------------------------------------------------------------------------------------

export const STYLE_IDS = {
  normal: 'Normal',
  title: 'Title',
  titleBlock: 'TitleBlock',
  heading1: 'Heading1',
  heading2: 'Heading2',
  heading3: 'Heading3',
  amount: 'Amount',
  listParagraph: 'ListParagraph',
  signatureHeader: 'SignatureHeader',
  signatureText: 'SignatureText',
  signatureLine: 'SignatureLine',
  footer: 'Footer',
  properName: 'ProperName',
  tableNormal: 'TableNormal',
} as const;

interface StyleDef {
  type: 'paragraph' | 'character' | 'table';
  id: string;
  name: string;
  basedOn?: string;
  next?: string;
  isDefault?: boolean;
  uiPriority?: number;
  qFormat?: boolean;
  /** Inner XML of w:pPr / w:rPr / w:tblPr. */
  pPr?: string;
  rPr?: string;
  tblPr?: string;
}

const spacingXml = (before: number, line: number) => `<w:spacing w:before="${before}" w:after="0" w:line="${line}" w:lineRule="exact"/>`;
const sizeXml = (size: number) => `<w:sz w:val="${halfPt(size)}"/><w:szCs w:val="${halfPt(size)}"/>`;

/** Space before each style's paragraphs, in twips: the PDF's gap in the usual sequence (overridden per paragraph). */
const STYLE_BEFORE: Record<string, number> = {
  [STYLE_IDS.normal]: tw(PARAGRAPH_AFTER),
  [STYLE_IDS.amount]: tw(PARAGRAPH_AFTER),
  [STYLE_IDS.listParagraph]: tw(LIST_ITEM_GAP),
  [STYLE_IDS.title]: 0,
  [STYLE_IDS.titleBlock]: tw(TITLE_LINE_GAP),
  [STYLE_IDS.heading1]: tw(HEADING[1].before),
  [STYLE_IDS.heading2]: tw(HEADING[2].before),
  [STYLE_IDS.heading3]: tw(HEADING[3].before),
  [STYLE_IDS.signatureText]: 0,
  [STYLE_IDS.signatureHeader]: 0,
  [STYLE_IDS.signatureLine]: tw(SIG.gapAfterPlaceLine),
};

function centred(id: string, name: string, size: number, extra: Partial<StyleDef> = {}, outline?: number): StyleDef {
  return {
    type: 'paragraph',
    id,
    name,
    basedOn: STYLE_IDS.normal,
    next: STYLE_IDS.normal,
    qFormat: true,
    ...extra,
    // Kept together and with what follows; never hyphenated.
    pPr:
      '<w:keepNext/><w:keepLines/><w:suppressAutoHyphens/>' +
      spacingXml(STYLE_BEFORE[id]!, pitch(size)) +
      '<w:jc w:val="center"/>' +
      (outline !== undefined ? `<w:outlineLvl w:val="${outline}"/>` : ''),
    rPr: `<w:b/><w:bCs/>${sizeXml(size)}`,
  };
}

const STYLES: StyleDef[] = [
  {
    type: 'paragraph',
    id: STYLE_IDS.normal,
    name: 'Normal',
    isDefault: true,
    qFormat: true,
    pPr: spacingXml(STYLE_BEFORE[STYLE_IDS.normal]!, pitch(BODY_SIZE)) + '<w:jc w:val="both"/>',
  },
  {
    type: 'table',
    id: STYLE_IDS.tableNormal,
    name: 'Normal Table',
    isDefault: true,
    uiPriority: 99,
    tblPr: '<w:tblInd w:w="0" w:type="dxa"/><w:tblCellMar><w:top w:w="0" w:type="dxa"/><w:left w:w="0" w:type="dxa"/><w:bottom w:w="0" w:type="dxa"/><w:right w:w="0" w:type="dxa"/></w:tblCellMar>',
  },
  centred(STYLE_IDS.title, 'Title', TITLE_FIRST_SIZE, { next: STYLE_IDS.titleBlock, uiPriority: 10 }),
  centred(STYLE_IDS.titleBlock, 'Titelblock', TITLE_SIZE, { next: STYLE_IDS.titleBlock }),
  centred(STYLE_IDS.heading1, 'heading 1', HEADING[1].size, { uiPriority: 9 }, 0),
  centred(STYLE_IDS.heading2, 'heading 2', HEADING[2].size, { uiPriority: 9 }, 1),
  centred(STYLE_IDS.heading3, 'heading 3', HEADING[3].size, { uiPriority: 9 }, 2),
  {
    // The amount line: centred like the PDF's, an ordinary paragraph otherwise, never hyphenated.
    type: 'paragraph',
    id: STYLE_IDS.amount,
    name: 'Betrag',
    basedOn: STYLE_IDS.normal,
    next: STYLE_IDS.normal,
    qFormat: true,
    pPr: '<w:suppressAutoHyphens/><w:jc w:val="center"/>',
  },
  {
    type: 'paragraph',
    id: STYLE_IDS.listParagraph,
    name: 'List Paragraph',
    basedOn: STYLE_IDS.normal,
    qFormat: true,
    uiPriority: 34,
    pPr: spacingXml(STYLE_BEFORE[STYLE_IDS.listParagraph]!, pitch(BODY_SIZE)),
  },
  {
    type: 'paragraph',
    id: STYLE_IDS.signatureText,
    name: 'Unterschrift',
    basedOn: STYLE_IDS.normal,
    next: STYLE_IDS.signatureText,
    pPr: '<w:keepLines/><w:suppressAutoHyphens/>' + spacingXml(0, pitch(BODY_SIZE)) + '<w:jc w:val="left"/>',
  },
  {
    type: 'paragraph',
    id: STYLE_IDS.signatureHeader,
    name: 'Unterschrift Kopf',
    basedOn: STYLE_IDS.signatureText,
    next: STYLE_IDS.signatureText,
    rPr: '<w:b/><w:bCs/>',
  },
  {
    // The blank slot for the handwritten signature: an empty paragraph as tall as the PDF's slot, closed by the rule.
    type: 'paragraph',
    id: STYLE_IDS.signatureLine,
    name: 'Unterschrift Linie',
    basedOn: STYLE_IDS.signatureText,
    next: STYLE_IDS.signatureText,
    pPr:
      `<w:pBdr><w:bottom w:val="single" w:sz="${Math.round(SIG.ruleWidth * 8)}" w:space="0" w:color="000000"/></w:pBdr>` +
      spacingXml(STYLE_BEFORE[STYLE_IDS.signatureLine]!, tw(SIG.slotHeight)),
  },
  {
    type: 'paragraph',
    id: STYLE_IDS.footer,
    name: 'footer',
    basedOn: STYLE_IDS.normal,
    uiPriority: 99,
    pPr: '<w:suppressAutoHyphens/>' + spacingXml(0, pitch(PAGE.footerSize)) + '<w:jc w:val="center"/>',
    rPr: sizeXml(PAGE.footerSize),
  },
  {
    // Proper names: excluded from proofing, which also keeps Word and LibreOffice from hyphenating them.
    type: 'character',
    id: STYLE_IDS.properName,
    name: 'Eigenname',
    // Word skips proofing (and so hyphenation) for w:noProof; LibreOffice only for text without a language (zxx).
    rPr: '<w:noProof/><w:lang w:val="zxx"/>',
  },
];

function styleXml(s: StyleDef): string {
  const attrs = `w:type="${s.type}"${s.isDefault ? ' w:default="1"' : ''} w:styleId="${s.id}"`;
  return (
    `<w:style ${attrs}><w:name w:val="${s.name}"/>` +
    (s.basedOn ? `<w:basedOn w:val="${s.basedOn}"/>` : '') +
    (s.next ? `<w:next w:val="${s.next}"/>` : '') +
    (s.uiPriority !== undefined ? `<w:uiPriority w:val="${s.uiPriority}"/>` : '') +
    (s.qFormat ? '<w:qFormat/>' : '') +
    (s.pPr ? `<w:pPr>${s.pPr}</w:pPr>` : '') +
    (s.rPr ? `<w:rPr>${s.rPr}</w:rPr>` : '') +
    (s.tblPr ? `<w:tblPr>${s.tblPr}</w:tblPr>` : '') +
    '</w:style>'
  );
}

/**
 * styles.xml with the document defaults (font, size, language, widow control) and exactly the styles
 * that the parts reference (and what those are based on). Replaces the library's, which brings dozens of
 * unused styles (TOC, footnotes, captions, …).
 */
function stylesXml(language: string, parts: string[]): string {
  const used = new Set<string>([STYLE_IDS.normal]);
  for (const xml of parts) {
    for (const m of xml.matchAll(/<w:(?:pStyle|rStyle|tblStyle) w:val="([^"]+)"\/>/g)) used.add(m[1]!);
    if (xml.includes('<w:tbl>')) used.add(STYLE_IDS.tableNormal);
  }
  const byId = new Map(STYLES.map((s) => [s.id, s]));
  for (const id of [...used]) {
    for (let s = byId.get(id); s?.basedOn; s = byId.get(s.basedOn)) used.add(s.basedOn);
  }
  const unknown = [...used].filter((id) => !byId.has(id));
  if (unknown.length) throw new Error(`renderDocx: style(s) ${unknown.join(', ')} used but not defined`);
  const font = xmlEscape(FONT);
  return (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>' +
    '<w:styles xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">' +
    '<w:docDefaults><w:rPrDefault><w:rPr>' +
    `<w:rFonts w:ascii="${font}" w:hAnsi="${font}" w:eastAsia="${font}" w:cs="${font}"/>` +
    sizeXml(BODY_SIZE) +
    `<w:lang w:val="${xmlEscape(language)}"/>` +
    '</w:rPr></w:rPrDefault>' +
    '<w:pPrDefault><w:pPr><w:widowControl/></w:pPr></w:pPrDefault></w:docDefaults>' +
    STYLES.filter((s) => used.has(s.id)).map(styleXml).join('') +
    '</w:styles>'
  );
}

// ---------------------------------------------------------------------------------------------
// Numbering: as in the PDF, ordered lists say "1.", "2.", … at every depth (numbers right-aligned
// against the text), bullets alternate "•" / "–"; the exact indents are set on each paragraph.
// ---------------------------------------------------------------------------------------------

const BULLET_CHARS = ['\u2022', '\u2013'];

/** Default level indents (the paragraphs carry the exact ones): as if every ancestor were of the same kind. */
function levelIndent(ordered: boolean, level: number) {
  const box = ordered ? 18 : 14;
  const textX = LIST_INDENT + box * (level + 1);
  return { left: tw(textX), hanging: ordered ? tw(LIST_GAP_AFTER_LABEL) : tw(box) };
}

function orderedLevels(start: number): ILevelsOptions[] {
  return Array.from({ length: 9 }, (_, level) => ({
    level,
    format: LevelFormat.DECIMAL,
    text: `%${level + 1}.`,
    start,
    alignment: AlignmentType.RIGHT,
    style: { paragraph: { indent: levelIndent(true, level) } },
  }));
}

function bulletLevels(): ILevelsOptions[] {
  return Array.from({ length: 9 }, (_, level) => ({
    level,
    format: LevelFormat.BULLET,
    text: BULLET_CHARS[level % BULLET_CHARS.length]!,
    alignment: AlignmentType.LEFT,
    style: { paragraph: { indent: levelIndent(false, level) } },
  }));
}

export const BULLET_REFERENCE = 'zw-bullet';
export const orderedReference = (start: number) => (start === 1 ? 'zw-ordered' : `zw-ordered-${start}`);

/** Numbering config for every list shape that occurs in the tree (so numbering.xml holds only what is used). */
function numberingConfig(blocks: Block[]): INumberingOptions {
  const refs = new Map<string, ILevelsOptions[]>();
  const visit = (list: ListBlock) => {
    if (list.ordered) {
      const start = listStart(list);
      const ref = orderedReference(start);
      if (!refs.has(ref)) refs.set(ref, orderedLevels(start));
    } else if (!refs.has(BULLET_REFERENCE)) {
      refs.set(BULLET_REFERENCE, bulletLevels());
    }
    for (const item of list.items) if (item.children) visit(item.children);
  };
  for (const block of blocks) if (block.kind === 'list') visit(block);
  // Stable order: ordered definitions (by start), then bullets.
  const sorted = [...refs.entries()].sort(([a], [b]) => a.localeCompare(b, 'en'));
  return { config: sorted.map(([reference, levels]) => ({ reference, levels })) };
}

function listStart(list: ListBlock): number {
  const s = list.start ?? 1;
  if (!Number.isInteger(s) || s < 0) throw new Error(`renderDocx: invalid list start ${String(list.start)}`);
  return s;
}

// ---------------------------------------------------------------------------------------------
// Runs
// ---------------------------------------------------------------------------------------------

// Characters not allowed in XML 1.0 (docx would write them verbatim and produce an unreadable file).
// eslint-disable-next-line no-control-regex
const INVALID_XML_CHARS = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g;

/**
 * Literal text → run(s); tabs become w:tab, line feeds become w:br. Nothing is interpreted as markup.
 * Non-breaking spaces (U+00A0, U+202F) are kept as they are; U+2011 and U+00AD become w:noBreakHyphen and
 * w:softHyphen. No run is written without content.
 */
function textRuns(run: Run, noHyphenate = false): TextRun[] {
  const clean = run.text.replace(/\r\n?/g, '\n').replace(INVALID_XML_CHARS, '');
  const out: TextRun[] = [];
  let pendingBreak = false;
  clean.split('\n').forEach((line, i) => {
    if (i > 0) pendingBreak = true;
    const children: (string | Tab | NoBreakHyphen | SoftHyphen)[] = [];
    line.split('\t').forEach((seg, j) => {
      if (j > 0) children.push(new Tab());
      // Word's own elements for U+2011 (the font has no glyph for it) and U+00AD.
      for (const part of seg.split(/([\u2011\u00AD])/)) {
        if (part === '\u2011') children.push(new NoBreakHyphen());
        else if (part === '\u00AD') children.push(new SoftHyphen());
        else if (part !== '') children.push(part);
      }
    });
    if (children.length === 0 && !pendingBreak) return;
    out.push(
      new TextRun({
        children,
        ...(pendingBreak ? { break: 1 } : {}),
        bold: run.bold || undefined,
        italics: run.italic || undefined,
        ...(noHyphenate && run.noHyphenate ? { style: STYLE_IDS.properName } : {}),
      }),
    );
    pendingBreak = false;
  });
  return out;
}

/** Runs of a body paragraph (proper names protected from hyphenation) or of a never-hyphenated one. */
function runs(rs: Run[], protectNames = true): TextRun[] {
  return rs.flatMap((r) => textRuns(r, protectNames));
}

const plainText = (rs: Run[]) => rs.map((r) => r.text).join('');

// ---------------------------------------------------------------------------------------------
// Blocks. Spacing follows the PDF's model: the gap before a block is max(previous after, own before),
// written as "space before" of its first paragraph (Word and LibreOffice add after + before instead).
// ---------------------------------------------------------------------------------------------

interface Ctx {
  /** The PDF's "space after" of the previous block. */
  prevAfter: number;
  labelWidth: (label: string) => number;
  /** Width in points of `text` at the body size. */
  measure: (text: string, bold: boolean) => number;
  nextListInstance: number;
}

/** `spacing` option for a paragraph whose gap (pt) differs from its style's default. */
function spacingFor(style: string, gapPt: number) {
  const before = tw(gapPt);
  return before === STYLE_BEFORE[style] ? {} : { spacing: { before } };
}

function renderTitle(block: TitleBlock, ctx: Ctx): Paragraph[] {
  return block.lines.map((line, i) => {
    const style = i === 0 ? STYLE_IDS.title : STYLE_IDS.titleBlock;
    const gap = i === 0 ? ctx.prevAfter : TITLE_LINE_GAP;
    return new Paragraph({ style, ...spacingFor(style, gap), children: runs(line, false) });
  });
}

function renderHeading(block: HeadingBlock, ctx: Ctx): Paragraph {
  const style = STYLE_IDS[`heading${block.level}`];
  return new Paragraph({ style, ...spacingFor(style, Math.max(ctx.prevAfter, HEADING[block.level].before)), children: runs(block.runs, false) });
}

/** Same rule as the PDF: a paragraph marked keepWithNext or ending in ':' stays with what it introduces. */
function paragraphKeepsWithNext(block: ParagraphBlock): boolean {
  return block.keepWithNext === true || plainText(block.runs).trimEnd().endsWith(':');
}

function renderParagraph(block: ParagraphBlock, ctx: Ctx, keepNext: boolean): Paragraph {
  const align = block.align ?? 'justify';
  const style = align === 'center' ? STYLE_IDS.amount : STYLE_IDS.normal;
  return new Paragraph({
    style,
    ...spacingFor(style, ctx.prevAfter),
    children: runs(block.runs, align !== 'center'),
    ...(align === 'left' ? { alignment: AlignmentType.LEFT } : {}),
    ...(keepNext ? { keepNext: true } : {}),
  });
}

/** Lists laid out as in the PDF: label box of max(18 / 14 pt, widest label + 6 pt), nested lists start at the parent's text. */
function renderList(list: ListBlock, ctx: Ctx, depth: number, x0: number, keepLastWithNext: boolean, first: { gap: number } | null): Paragraph[] {
  if (depth > 8) throw new Error('renderDocx: lists nest at most 9 levels deep');
  const reference = list.ordered ? orderedReference(listStart(list)) : BULLET_REFERENCE;
  const start = listStart(list);
  // Every list gets its own concrete numbering instance (w:num), so each one restarts at its own start.
  const instance = ctx.nextListInstance++;
  const labels = list.items.map((_, i) => (list.ordered ? `${start + i}.` : BULLET_CHARS[depth % 2]!));
  const box = Math.max(list.ordered ? 18 : 14, Math.max(0, ...labels.map(ctx.labelWidth)) + LIST_GAP_AFTER_LABEL);
  const textX = x0 + box;
  const indent = { left: tw(textX), hanging: list.ordered ? tw(LIST_GAP_AFTER_LABEL) : tw(box) };
  const out: Paragraph[] = [];
  list.items.forEach((item, i) => {
    const isLast = i === list.items.length - 1;
    const gap = i === 0 && first ? first.gap : LIST_ITEM_GAP;
    out.push(
      new Paragraph({
        style: STYLE_IDS.listParagraph,
        numbering: { reference, level: depth, instance },
        indent,
        ...spacingFor(STYLE_IDS.listParagraph, gap),
        children: runs(item.runs),
        // An item stays with its nested list's first item (as in the PDF).
        ...(item.children?.items.length || (isLast && keepLastWithNext) ? { keepNext: true } : {}),
      }),
    );
    if (item.children) out.push(...renderList(item.children, ctx, depth + 1, textX, isLast && keepLastWithNext, null));
  });
  return out;
}

function cleanLine(text: string): string {
  return text.replace(/[\r\n\t]+/g, ' ').replace(INVALID_XML_CHARS, '');
}

const NO_BORDER = { style: BorderStyle.NONE, size: 0, color: 'auto' } as const;

function sigParagraph(text: string, opts: { style?: string; before?: number } = {}): Paragraph {
  const style = opts.style ?? STYLE_IDS.signatureText;
  const clean = cleanLine(text);
  return new Paragraph({
    style,
    ...(opts.before !== undefined ? spacingFor(style, opts.before) : {}),
    children: clean ? [new TextRun({ text: clean })] : [],
  });
}

/**
 * Lines that `text` takes in a signature column: first fit at spaces and after hard hyphens, never
 * hyphenated — how the PDF (and a word processor, for left-aligned unhyphenated text) sets it.
 */
function wrappedLines(text: string, bold: boolean, width: number, measure: Ctx['measure']): number {
  const words = cleanLine(text).split(/ +/).filter(Boolean).flatMap((w) => w.split(/(?<=[\p{L}\p{N}]-)(?=[\p{L}\p{N}])/u));
  if (words.length === 0) return 1;
  let lines = 1;
  let line = '';
  for (const w of words) {
    const sep = line === '' || line.endsWith('-') ? '' : ' ';
    const candidate = line + sep + w;
    if (line !== '' && measure(candidate, bold) > width + 0.01) {
      lines++;
      line = w;
    } else line = candidate;
  }
  return lines;
}

/**
 * The signature block as in the PDF: columns 45 % of the text width, the first at the left margin and the
 * last flush right, "<place>, den" (SGB II: then the organisation in bold), then the signatories, each a
 * 2 cm slot closed by a rule, with name, role and organisation below. One table row, one cell per party,
 * so the block reads party by party; the rules of the first (second, …) signatories line up across the
 * columns because each cell is padded to the PDF's row positions. The row never splits.
 */
function renderSignatures(block: SignatureBlock, ctx: Ctx): Table {
  const cols = block.columns;
  const n = Math.max(1, cols.length);
  const colW = Math.round(TEXT_WIDTH * SIG.columnShare);
  const step = n > 1 ? Math.floor((TEXT_WIDTH - colW) / (n - 1)) : TEXT_WIDTH;
  const widths = Array.from({ length: n }, (_, i) => (i < n - 1 ? step : TEXT_WIDTH - step * (n - 1)));
  const colPt = colW / 20;
  const lh = BODY_SIZE * LINE_FACTOR;
  const height = (texts: string[], bold = false) => texts.reduce((h, t) => h + wrappedLines(t, bold, colPt, ctx.measure) * lh, 0);

  const placeLine = (col: SignatureColumn) => `${col.place}, den${col.date !== null ? ` ${col.date}` : ''}`;
  const signatoryLines = (s: SignatorySlot) => [s.name, ...(s.role ? [s.role] : []), ...s.organisationLines];
  // Same arithmetic as layout.ts: head height = the tallest column head, row height = the tallest signatory of that rank.
  const heads = cols.map((c) => height([placeLine(c)]) + (c.headerLines.length ? SIG.gapAfterPlaceLine + height(c.headerLines, true) : 0));
  const headHeight = Math.max(0, ...heads);
  const rows = Math.max(0, ...cols.map((c) => c.signatories.length));
  const rowHeights = Array.from({ length: rows }, (_, r) =>
    Math.max(0, ...cols.map((c) => (c.signatories[r] ? SIG.slotHeight + SIG.gapAfterRule + height(signatoryLines(c.signatories[r]!)) : 0))),
  );

  const cells = cols.map((col, ci) => {
    const children: Paragraph[] = [
      sigParagraph(placeLine(col), { before: SIG.before }),
      ...col.headerLines.map((h, i) => sigParagraph(h, { style: STYLE_IDS.signatureHeader, before: i === 0 ? SIG.gapAfterPlaceLine : 0 })),
    ];
    // Padding carried down to the next rule: what this column falls short of the tallest one.
    let pad = headHeight - heads[ci]!;
    col.signatories.forEach((s, r) => {
      const gap = (r === 0 ? SIG.gapAfterPlaceLine : SIG.gapBetweenSignatories) + pad;
      children.push(sigParagraph('', { style: STYLE_IDS.signatureLine, before: gap }));
      signatoryLines(s).forEach((t, i) => children.push(sigParagraph(t, i === 0 ? { before: SIG.gapAfterRule } : {})));
      pad = rowHeights[r]! - (SIG.slotHeight + SIG.gapAfterRule + height(signatoryLines(s)));
    });
    return new TableCell({
      width: { size: widths[ci]!, type: WidthType.DXA },
      verticalAlign: VerticalAlignTable.TOP,
      margins: { left: 0, right: widths[ci]! - colW, top: 0, bottom: 0 },
      borders: { top: NO_BORDER, bottom: NO_BORDER, left: NO_BORDER, right: NO_BORDER },
      children,
    });
  });
  return new Table({
    width: { size: TEXT_WIDTH, type: WidthType.DXA },
    columnWidths: widths,
    layout: TableLayoutType.FIXED,
    borders: {
      top: NO_BORDER,
      bottom: NO_BORDER,
      left: NO_BORDER,
      right: NO_BORDER,
      insideHorizontal: NO_BORDER,
      insideVertical: NO_BORDER,
    },
    rows: [new TableRow({ cantSplit: true, children: cells })],
  });
}

function renderBlocks(blocks: Block[], ctx: Ctx): (Paragraph | Table)[] {
  const out: (Paragraph | Table)[] = [];
  blocks.forEach((block, i) => {
    const next = blocks[i + 1];
    // The signature block takes the last lines of the text with it (widow control keeps two together).
    const beforeSignatures = next?.kind === 'signatures';
    switch (block.kind) {
      case 'title':
        if (block.lines.length === 0) return;
        out.push(...renderTitle(block, ctx));
        ctx.prevAfter = TITLE_AFTER;
        break;
      case 'heading':
        out.push(renderHeading(block, ctx));
        ctx.prevAfter = HEADING[block.level].after;
        break;
      case 'paragraph':
        out.push(renderParagraph(block, ctx, beforeSignatures || paragraphKeepsWithNext(block)));
        ctx.prevAfter = PARAGRAPH_AFTER;
        break;
      case 'list':
        if (block.items.length === 0) return;
        out.push(...renderList(block, ctx, 0, LIST_INDENT, beforeSignatures, { gap: ctx.prevAfter }));
        ctx.prevAfter = PARAGRAPH_AFTER;
        break;
      case 'signatures':
        out.push(renderSignatures(block, ctx));
        ctx.prevAfter = 0;
        break;
      default: {
        const never: never = block;
        throw new Error(`renderDocx: unknown block ${JSON.stringify(never)}`);
      }
    }
  });
  return out;
}

// ---------------------------------------------------------------------------------------------
// Entry point
// ---------------------------------------------------------------------------------------------

export interface DocxOptions {
  /**
   * Page count shown as the NUMPAGES field's cached result (what Word shows before it updates fields).
   * Defaults to the page count of the PDF layout of the same tree.
   */
  pageCount?: number;
}

export async function renderDocx(tree: DocumentTree, opts: DocxOptions = {}): Promise<Uint8Array> {
  const { faces } = loadResources();
  const ctx: Ctx = {
    prevAfter: 0,
    labelWidth: (l) => faces.regular.width(l, BODY_SIZE),
    measure: (t, bold) => faces[bold ? 'bold' : 'regular'].width(t, BODY_SIZE),
    nextListInstance: 1,
  };
  const pageCount = opts.pageCount ?? (await import('./pdf/index.ts')).layoutPdf(tree).pages.length;
  const doc = new Document({
    title: tree.meta.title,
    subject: tree.meta.subject,
    creator: tree.meta.author,
    lastModifiedBy: tree.meta.author,
    keywords: tree.meta.keywords.join(', '),
    description: `${tree.meta.title}: ${tree.meta.subject}`,
    revision: 1,
    numbering: numberingConfig(tree.blocks),
    // Zone 0.63 cm (Word's German default); at most 2 hyphenated lines in a row; acronyms left whole (as in the PDF).
    hyphenation: { autoHyphenation: true, hyphenationZone: 357, consecutiveHyphenLimit: 2, doNotHyphenateCaps: true },
    sections: [
      {
        properties: {
          page: {
            size: { width: PAGE_WIDTH, height: PAGE_HEIGHT },
            margin: { ...MARGIN, header: FOOTER_DISTANCE, footer: FOOTER_DISTANCE, gutter: 0 },
          },
        },
        // Placeholder: finalizePackage writes the footer paragraph with cached field results.
        footers: { default: new Footer({ children: [new Paragraph({ style: STYLE_IDS.footer, children: [] })] }) },
        children: renderBlocks(tree.blocks, ctx),
      },
    ],
  });
  const packed = await Packer.toBuffer(doc);
  return finalizePackage(new Uint8Array(packed.buffer, packed.byteOffset, packed.byteLength), tree, pageCount);
}

// ---------------------------------------------------------------------------------------------
// Post-processing for determinism and the few settings docx cannot write
// ---------------------------------------------------------------------------------------------

function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function fontTableXml(): string {
  return (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>' +
    '<w:fonts xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">' +
    `<w:font w:name="${xmlEscape(FONT)}"><w:altName w:val="Arial"/><w:panose1 w:val="020B0604020202020204"/>` +
    '<w:charset w:val="00"/><w:family w:val="swiss"/><w:pitch w:val="variable"/></w:font>' +
    '</w:fonts>'
  );
}

const fieldRuns = (instr: string, cached: string) =>
  '<w:r><w:fldChar w:fldCharType="begin"/></w:r>' +
  `<w:r><w:instrText xml:space="preserve"> ${instr} </w:instrText></w:r>` +
  '<w:r><w:fldChar w:fldCharType="separate"/></w:r>' +
  `<w:r><w:t>${cached}</w:t></w:r>` +
  '<w:r><w:fldChar w:fldCharType="end"/></w:r>';

function footerParagraph(pageCount: number): string {
  return (
    `<w:p><w:pPr><w:pStyle w:val="${STYLE_IDS.footer}"/></w:pPr>` +
    '<w:r><w:t xml:space="preserve">Seite </w:t></w:r>' +
    fieldRuns('PAGE', '1') +
    '<w:r><w:t xml:space="preserve"> von </w:t></w:r>' +
    fieldRuns('NUMPAGES', String(pageCount)) +
    '</w:p>'
  );
}

/** W3CDTF without milliseconds, as Word writes it. */
function w3cdtf(d: Date): string {
  if (Number.isNaN(d.getTime())) throw new Error('renderDocx: meta.created is not a valid date');
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function replaceOnce(xml: string, pattern: RegExp, replacement: string, what: string): string {
  if (!pattern.test(xml)) throw new Error(`renderDocx: cannot post-process ${what} (docx output changed?)`);
  return xml.replace(pattern, replacement);
}

/**
 * Rewrites the package so that it depends only on the tree:
 *  - docProps/core.xml: created/modified = meta.created (docx stamps the clock), plus dc:language;
 *  - word/styles.xml: written by us (stylesXml), the library's default styles dropped;
 *  - the footer paragraph with cached field results; no footnote/endnote parts (the document has none);
 *  - the zip itself: docx's fflate zip stamps Date.now() into every entry; we re-zip with a fixed
 *    DOS time derived from meta.created (built from local-time components, because the DOS time
 *    format is local time and fflate reads local-time getters — this keeps the bytes TZ-independent).
 */
function finalizePackage(bytes: Uint8Array, tree: DocumentTree, pageCount: number): Uint8Array {
  const files = unzipSync(bytes);
  const created = w3cdtf(tree.meta.created);

  const coreName = 'docProps/core.xml';
  let core = strFromU8(files[coreName]!);
  core = replaceOnce(core, /(<dcterms:created\b[^>]*>)[^<]*(<\/dcterms:created>)/, `$1${created}$2`, 'core.xml created');
  core = replaceOnce(core, /(<dcterms:modified\b[^>]*>)[^<]*(<\/dcterms:modified>)/, `$1${created}$2`, 'core.xml modified');
  if (!core.includes('<dc:language>')) {
    core = replaceOnce(
      core,
      /<\/cp:coreProperties>\s*$/,
      `<dc:language>${xmlEscape(tree.meta.language || 'de-DE')}</dc:language></cp:coreProperties>`,
      'core.xml language',
    );
  }
  files[coreName] = strToU8(core);

  // The footer: "Seite X von Y" with PAGE / NUMPAGES fields whose cached results are what Word shows
  // before it updates them (page 1, and the PDF layout's page count).
  const rels = strFromU8(files['word/_rels/document.xml.rels']!);
  const footerTarget = rels.match(/<Relationship [^>]*Type="[^"]*\/footer"[^>]*Target="([^"]+)"/)?.[1];
  if (!footerTarget) throw new Error('renderDocx: cannot post-process the footer (docx output changed?)');
  const footerName = `word/${footerTarget}`;
  const footer = replaceOnce(strFromU8(files[footerName]!), /<w:p>[\s\S]*<\/w:p>/, footerParagraph(pageCount), 'footer paragraph');
  files[footerName] = strToU8(footer);

  // Footnote and endnote parts with their separators (which reference footnote styles): the document has none.
  let relsOut = rels;
  let types = strFromU8(files['[Content_Types].xml']!);
  for (const part of ['footnotes', 'endnotes']) {
    delete files[`word/${part}.xml`];
    delete files[`word/_rels/${part}.xml.rels`];
    relsOut = relsOut.replace(new RegExp(`<Relationship [^>]*Target="${part}\\.xml"[^>]*/>`), '');
    types = types.replace(new RegExp(`<Override [^>]*PartName="/word/${part}\\.xml"[^>]*/>`), '');
  }
  files['word/_rels/document.xml.rels'] = strToU8(relsOut);
  files['[Content_Types].xml'] = strToU8(types);

  // The font table names Arial (same metrics) as the stand-in where Liberation Sans is not installed (Word on Windows).
  files['word/fontTable.xml'] = strToU8(fontTableXml());

  // Our own styles.xml: document defaults plus exactly the styles in use.
  const document = strFromU8(files['word/document.xml']!);

  // numbering.xml: only the numbering instances the document uses (docx adds a default bullet list).
  const numberingName = 'word/numbering.xml';
  if (files[numberingName]) {
    const usedNums = new Set([...document.matchAll(/<w:numId w:val="(\d+)"\/>/g)].map((m) => m[1]!));
    let numbering = strFromU8(files[numberingName]!).replace(/<w:num w:numId="(\d+)">[\s\S]*?<\/w:num>/g, (m, id: string) => (usedNums.has(id) ? m : ''));
    const usedAbstract = new Set([...numbering.matchAll(/<w:abstractNumId w:val="(\d+)"\/>/g)].map((m) => m[1]!));
    numbering = numbering.replace(/<w:abstractNum w:abstractNumId="(\d+)"[^>]*>[\s\S]*?<\/w:abstractNum>/g, (m, id: string) => (usedAbstract.has(id) ? m : ''));
    files[numberingName] = strToU8(numbering);
  }
  files['word/styles.xml'] = strToU8(stylesXml(tree.meta.language || 'de-DE', [document, footer]));

  const c = tree.meta.created;
  // Noon of the creation day (UTC calendar date): never inside a DST gap, and >= 1980 for the DOS format.
  const year = Math.min(2107, Math.max(1980, c.getUTCFullYear()));
  const mtime = new Date(year, c.getUTCMonth(), c.getUTCDate(), 12, 0, 0);
  const zippable: Zippable = {};
  for (const [name, data] of Object.entries(files)) zippable[name] = [data, { mtime, level: 6 }];
  return zipSync(zippable);
}
