/**
 * DOCX renderer: turns a DocumentTree into a Word document (Office Open XML) with real Word styles,
 * real Word numbering, a borderless signature table and a "Seite X von Y" footer.
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
  LineRuleType,
  Packer,
  PageNumber,
  Paragraph,
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
  type IParagraphStyleOptions,
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

// ---------------------------------------------------------------------------------------------
// Page geometry (twips: 1 cm = 567 twips)
// ---------------------------------------------------------------------------------------------

const CM = 567;
const PAGE_WIDTH = 11906; // A4
const PAGE_HEIGHT = 16838;
const MARGIN_LEFT_RIGHT = 1418; // 2.5 cm
const MARGIN_TOP_BOTTOM = 1134; // 2 cm
const TEXT_WIDTH = PAGE_WIDTH - 2 * MARGIN_LEFT_RIGHT; // 9070 twips = 16 cm
const CELL_GAP = 170; // 0.3 cm padding on the right of each signature cell (left: 0, so text aligns with the body)
const SIGNATURE_SPACE = 2 * CM; // blank space above each signature rule
const SIGNATURE_RULE_MAX = Math.round(6.5 * CM);
const LIST_INDENT = 425; // 0.75 cm per nesting level (number/bullet hangs in this width)

const FONT = 'Arial';

// ---------------------------------------------------------------------------------------------
// Style ids (Word built-ins where one exists, so Word's navigation pane and style gallery work)
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
} as const;

/**
 * A centred, bold paragraph style kept together with what follows (title lines, headings, the amount).
 * Headings use Word's built-in "heading n" ids so the navigation pane works.
 */
function centredStyle(
  id: string,
  name: string,
  size: number,
  spacing: { before: number; after: number },
  lang: { value: string },
  extra: Partial<IParagraphStyleOptions> = {},
  outlineLevel?: number,
): IParagraphStyleOptions {
  return {
    id,
    name,
    basedOn: STYLE_IDS.normal,
    next: STYLE_IDS.normal,
    quickFormat: true,
    ...extra,
    run: { font: FONT, size, bold: true, language: lang },
    paragraph: {
      alignment: AlignmentType.CENTER,
      spacing: { ...spacing, line: 288, lineRule: LineRuleType.AUTO },
      keepNext: true,
      keepLines: true,
      ...(outlineLevel !== undefined ? { outlineLevel } : {}),
    },
  };
}

const headingStyle = (level: 1 | 2 | 3, size: number, before: number, after: number, lang: { value: string }) =>
  centredStyle(STYLE_IDS[`heading${level}`], `heading ${level}`, size, { before, after }, lang, { uiPriority: 9 }, level - 1);

function paragraphStyles(language: string): IParagraphStyleOptions[] {
  const lang = { value: language };

  return [
    {
      id: STYLE_IDS.normal,
      name: 'Normal',
      quickFormat: true,
      run: { font: FONT, size: 22, language: lang },
      paragraph: {
        alignment: AlignmentType.JUSTIFIED,
        spacing: { before: 0, after: 160, line: 288, lineRule: LineRuleType.AUTO }, // 1.2 lines, 8 pt after
      },
    },
    centredStyle(STYLE_IDS.title, 'Title', 36, { before: 0, after: 240 }, lang, { next: STYLE_IDS.titleBlock, uiPriority: 10 }),
    centredStyle(STYLE_IDS.titleBlock, 'Titelblock', 24, { before: 0, after: 120 }, lang, { next: STYLE_IDS.titleBlock }),
    headingStyle(1, 24, 480, 120, lang),
    headingStyle(2, 24, 0, 240, lang),
    headingStyle(3, 22, 120, 160, lang),
    centredStyle(STYLE_IDS.amount, 'Betrag', 24, { before: 120, after: 280 }, lang),
    {
      id: STYLE_IDS.listParagraph,
      name: 'List Paragraph',
      basedOn: STYLE_IDS.normal,
      quickFormat: true,
      uiPriority: 34,
      run: { font: FONT, size: 22, language: lang },
      paragraph: {
        alignment: AlignmentType.LEFT,
        spacing: { before: 0, after: 80, line: 288, lineRule: LineRuleType.AUTO },
      },
    },
    {
      id: STYLE_IDS.signatureHeader,
      name: 'Unterschrift Kopf',
      basedOn: STYLE_IDS.normal,
      next: STYLE_IDS.signatureText,
      run: { font: FONT, size: 22, bold: true, language: lang },
      paragraph: {
        alignment: AlignmentType.LEFT,
        spacing: { before: 0, after: 0, line: 264, lineRule: LineRuleType.AUTO },
        keepNext: true,
        keepLines: true,
      },
    },
    {
      id: STYLE_IDS.signatureText,
      name: 'Unterschrift',
      basedOn: STYLE_IDS.normal,
      next: STYLE_IDS.signatureText,
      run: { font: FONT, size: 22, language: lang },
      paragraph: {
        alignment: AlignmentType.LEFT,
        spacing: { before: 0, after: 0, line: 264, lineRule: LineRuleType.AUTO },
        keepNext: true,
        keepLines: true,
      },
    },
    {
      id: STYLE_IDS.signatureLine,
      name: 'Unterschrift Linie',
      basedOn: STYLE_IDS.signatureText,
      next: STYLE_IDS.signatureText,
      run: { font: FONT, size: 22, language: lang },
      paragraph: {
        alignment: AlignmentType.LEFT,
        spacing: { before: SIGNATURE_SPACE, after: 60, line: 264, lineRule: LineRuleType.AUTO },
        border: { bottom: { style: BorderStyle.SINGLE, size: 6, color: '000000', space: 1 } },
        keepNext: true,
        keepLines: true,
      },
    },
    {
      id: STYLE_IDS.footer,
      name: 'footer',
      basedOn: STYLE_IDS.normal,
      uiPriority: 99,
      run: { font: FONT, size: 18, language: lang },
      paragraph: {
        alignment: AlignmentType.CENTER,
        spacing: { before: 0, after: 0, line: 240, lineRule: LineRuleType.AUTO },
      },
    },
  ];
}

// ---------------------------------------------------------------------------------------------
// Numbering: one abstract definition per (ordered, start); one concrete instance per ListBlock
// ---------------------------------------------------------------------------------------------

const BULLET_CHARS = ['•', '–', '▪'];
const ORDERED_FORMATS: { format: (typeof LevelFormat)[keyof typeof LevelFormat]; text: (lvl: number) => string }[] = [
  { format: LevelFormat.DECIMAL, text: (l) => `%${l + 1}.` },
  { format: LevelFormat.LOWER_LETTER, text: (l) => `%${l + 1})` },
  { format: LevelFormat.LOWER_ROMAN, text: (l) => `%${l + 1}.` },
];

function levelIndent(level: number) {
  return { left: LIST_INDENT * (level + 1), hanging: LIST_INDENT };
}

function orderedLevels(start: number): ILevelsOptions[] {
  return Array.from({ length: 9 }, (_, level) => {
    const f = ORDERED_FORMATS[level % ORDERED_FORMATS.length]!;
    return {
      level,
      format: f.format,
      text: f.text(level),
      start,
      alignment: AlignmentType.LEFT,
      style: { paragraph: { indent: levelIndent(level) } },
    };
  });
}

function bulletLevels(): ILevelsOptions[] {
  return Array.from({ length: 9 }, (_, level) => ({
    level,
    format: LevelFormat.BULLET,
    text: BULLET_CHARS[level % BULLET_CHARS.length]!,
    alignment: AlignmentType.LEFT,
    style: {
      paragraph: { indent: levelIndent(level) },
      run: { font: FONT },
    },
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
// Runs and blocks
// ---------------------------------------------------------------------------------------------

// Characters not allowed in XML 1.0 (docx would write them verbatim and produce an unreadable file).
// eslint-disable-next-line no-control-regex
const INVALID_XML_CHARS = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g;

/** Literal text → run(s); tabs become w:tab, line feeds become w:br. Nothing is interpreted as markup. */
function textRuns(run: Run, language: string): TextRun[] {
  const clean = run.text.replace(/\r\n?/g, '\n').replace(INVALID_XML_CHARS, '');
  return clean.split('\n').map((line, i) => {
    const children: (string | Tab)[] = [];
    line.split('\t').forEach((seg, j) => {
      if (j > 0) children.push(new Tab());
      if (seg !== '') children.push(seg);
    });
    return new TextRun({
      children,
      ...(i > 0 ? { break: 1 } : {}),
      bold: run.bold || undefined,
      italics: run.italic || undefined,
      language: { value: language },
    });
  });
}

function runs(rs: Run[], language: string): TextRun[] {
  return rs.flatMap((r) => textRuns(r, language));
}

interface Ctx {
  language: string;
  nextListInstance: number;
}

function renderTitle(block: TitleBlock, ctx: Ctx): Paragraph[] {
  return block.lines.map(
    (line, i) =>
      new Paragraph({
        style: i === 0 ? STYLE_IDS.title : STYLE_IDS.titleBlock,
        children: runs(line, ctx.language),
        // Extra room between the title block and the first section.
        ...(i === block.lines.length - 1 ? { spacing: { after: 360 } } : {}),
      }),
  );
}

function renderHeading(block: HeadingBlock, ctx: Ctx): Paragraph {
  const style = block.level === 1 ? STYLE_IDS.heading1 : block.level === 2 ? STYLE_IDS.heading2 : STYLE_IDS.heading3;
  return new Paragraph({ style, children: runs(block.runs, ctx.language) });
}

function renderParagraph(block: ParagraphBlock, ctx: Ctx, keepNext: boolean): Paragraph {
  const align = block.align ?? 'justify';
  if (align === 'center') {
    return new Paragraph({ style: STYLE_IDS.amount, children: runs(block.runs, ctx.language) });
  }
  return new Paragraph({
    style: STYLE_IDS.normal,
    children: runs(block.runs, ctx.language),
    ...(align === 'left' ? { alignment: AlignmentType.LEFT } : {}),
    ...(keepNext ? { keepNext: true } : {}),
  });
}

function renderList(list: ListBlock, ctx: Ctx, depth: number, keepLastWithNext: boolean): Paragraph[] {
  if (depth > 8) throw new Error('renderDocx: lists nest at most 9 levels deep');
  const reference = list.ordered ? orderedReference(listStart(list)) : BULLET_REFERENCE;
  // Every list gets its own concrete numbering instance (w:num), so each one restarts at its own start.
  const instance = ctx.nextListInstance++;
  const out: Paragraph[] = [];
  list.items.forEach((item, i) => {
    const isLast = i === list.items.length - 1;
    out.push(
      new Paragraph({
        style: STYLE_IDS.listParagraph,
        numbering: { reference, level: depth, instance },
        children: runs(item.runs, ctx.language),
        // Keep an item with its nested list's first item.
        ...(item.children || (isLast && keepLastWithNext) ? { keepNext: true } : {}),
      }),
    );
    if (item.children) out.push(...renderList(item.children, ctx, depth + 1, isLast && keepLastWithNext));
  });
  return out;
}

const NO_BORDER = { style: BorderStyle.NONE, size: 0, color: 'auto' } as const;

function signatoryParagraphs(s: SignatorySlot, ruleIndentRight: number): Paragraph[] {
  const line = (text: string, style: string = STYLE_IDS.signatureText) =>
    new Paragraph({ style, children: [new TextRun({ text: cleanLine(text) })] });
  return [
    // Blank space for the handwritten signature, closed by a short rule.
    new Paragraph({ style: STYLE_IDS.signatureLine, indent: { right: ruleIndentRight }, children: [] }),
    line(s.name),
    line(s.role),
    ...s.organisationLines.map((o) => line(o)),
  ];
}

function cleanLine(text: string): string {
  return text.replace(/[\r\n\t]+/g, ' ').replace(INVALID_XML_CHARS, '');
}

function signatureCell(col: SignatureColumn, width: number): TableCell {
  const inner = width - CELL_GAP;
  const ruleWidth = Math.min(SIGNATURE_RULE_MAX, inner);
  const ruleIndentRight = Math.max(0, inner - ruleWidth);
  const children: Paragraph[] = [];
  // As in the seeds (and the PDF): "<place>, den" first, then the organisation header (SGB II style).
  const placeLine = `${cleanLine(col.place)}, den${col.date !== null ? ` ${cleanLine(col.date)}` : ''}`;
  children.push(new Paragraph({ style: STYLE_IDS.signatureText, children: [new TextRun({ text: placeLine })] }));
  col.headerLines.forEach((h, i) => {
    children.push(
      new Paragraph({
        style: STYLE_IDS.signatureHeader,
        spacing: i === 0 ? { before: 120 } : undefined,
        children: [new TextRun({ text: cleanLine(h) })],
      }),
    );
  });
  for (const s of col.signatories) children.push(...signatoryParagraphs(s, ruleIndentRight));
  return new TableCell({
    width: { size: width, type: WidthType.DXA },
    verticalAlign: VerticalAlignTable.TOP,
    margins: { left: 0, right: CELL_GAP, top: 0, bottom: 0 },
    borders: { top: NO_BORDER, bottom: NO_BORDER, left: NO_BORDER, right: NO_BORDER },
    children,
  });
}

function renderSignatures(block: SignatureBlock): Table {
  const n = Math.max(1, block.columns.length);
  const base = Math.floor(TEXT_WIDTH / n);
  const widths = Array.from({ length: n }, (_, i) => (i === n - 1 ? TEXT_WIDTH - base * (n - 1) : base));
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
    rows: [
      new TableRow({
        cantSplit: true,
        children: block.columns.map((col, i) => signatureCell(col, widths[i]!)),
      }),
    ],
  });
}

/** Space between the last body paragraph and the signature table (the table itself has no spacing). */
function signatureSpacer(): Paragraph {
  return new Paragraph({
    style: STYLE_IDS.normal,
    keepNext: true,
    spacing: { before: 0, after: 0, line: 240, lineRule: LineRuleType.AUTO },
    children: [],
  });
}

function renderBlocks(blocks: Block[], ctx: Ctx): (Paragraph | Table)[] {
  const out: (Paragraph | Table)[] = [];
  blocks.forEach((block, i) => {
    const next = blocks[i + 1];
    // A paragraph keeps with a following centred amount line and with the signature block.
    const keepWithNext = next !== undefined && (next.kind === 'signatures' || (next.kind === 'paragraph' && next.align === 'center'));
    switch (block.kind) {
      case 'title':
        out.push(...renderTitle(block, ctx));
        break;
      case 'heading':
        out.push(renderHeading(block, ctx));
        break;
      case 'paragraph':
        out.push(renderParagraph(block, ctx, keepWithNext));
        break;
      case 'list':
        out.push(...renderList(block, ctx, 0, keepWithNext));
        break;
      case 'signatures':
        out.push(signatureSpacer(), renderSignatures(block));
        break;
      default: {
        const never: never = block;
        throw new Error(`renderDocx: unknown block ${JSON.stringify(never)}`);
      }
    }
  });
  return out;
}

function pageFooter(language: string): Footer {
  return new Footer({
    children: [
      new Paragraph({
        style: STYLE_IDS.footer,
        children: [
          new TextRun({
            children: ['Seite ', PageNumber.CURRENT, ' von ', PageNumber.TOTAL_PAGES],
            language: { value: language },
          }),
        ],
      }),
    ],
  });
}

// ---------------------------------------------------------------------------------------------
// Entry point
// ---------------------------------------------------------------------------------------------

export async function renderDocx(tree: DocumentTree): Promise<Uint8Array> {
  const language = tree.meta.language || 'de-DE';
  const ctx: Ctx = { language, nextListInstance: 1 };
  const doc = new Document({
    title: tree.meta.title,
    subject: tree.meta.subject,
    creator: tree.meta.author,
    lastModifiedBy: tree.meta.author,
    keywords: tree.meta.keywords.join(', '),
    description: `${tree.meta.title}: ${tree.meta.subject}`,
    revision: 1,
    styles: {
      default: { document: { run: { font: FONT, size: 22, language: { value: language } } } },
      paragraphStyles: paragraphStyles(language),
    },
    numbering: numberingConfig(tree.blocks),
    hyphenation: { autoHyphenation: true, hyphenationZone: 357, consecutiveHyphenLimit: 3 },
    sections: [
      {
        properties: {
          page: {
            size: { width: PAGE_WIDTH, height: PAGE_HEIGHT },
            margin: {
              top: MARGIN_TOP_BOTTOM,
              bottom: MARGIN_TOP_BOTTOM,
              left: MARGIN_LEFT_RIGHT,
              right: MARGIN_LEFT_RIGHT,
              header: 567,
              footer: 567,
              gutter: 0,
            },
          },
        },
        footers: { default: pageFooter(language) },
        children: renderBlocks(tree.blocks, ctx),
      },
    ],
  });
  const packed = await Packer.toBuffer(doc);
  return finalizePackage(new Uint8Array(packed.buffer, packed.byteOffset, packed.byteLength), tree);
}

// ---------------------------------------------------------------------------------------------
// Post-processing for determinism and the few settings docx cannot write
// ---------------------------------------------------------------------------------------------

function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
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
 *  - word/styles.xml: widow/orphan control in the document defaults (docx has no option for it);
 *  - the zip itself: docx's fflate zip stamps Date.now() into every entry; we re-zip with a fixed
 *    DOS time derived from meta.created (built from local-time components, because the DOS time
 *    format is local time and fflate reads local-time getters — this keeps the bytes TZ-independent).
 */
function finalizePackage(bytes: Uint8Array, tree: DocumentTree): Uint8Array {
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

  const stylesName = 'word/styles.xml';
  let styles = strFromU8(files[stylesName]!);
  if (!/<w:docDefaults>[\s\S]*<w:widowControl\/>[\s\S]*<\/w:docDefaults>/.test(styles)) {
    if (/<w:pPrDefault>\s*<w:pPr>/.test(styles)) {
      styles = styles.replace(/<w:pPrDefault>(\s*)<w:pPr>/, '<w:pPrDefault>$1<w:pPr><w:widowControl/>');
    } else if (/<w:pPrDefault\/>/.test(styles)) {
      styles = styles.replace('<w:pPrDefault/>', '<w:pPrDefault><w:pPr><w:widowControl/></w:pPr></w:pPrDefault>');
    } else {
      styles = replaceOnce(
        styles,
        /(<w:rPrDefault>[\s\S]*?<\/w:rPrDefault>|<w:rPrDefault\/>)/,
        '$1<w:pPrDefault><w:pPr><w:widowControl/></w:pPr></w:pPrDefault>',
        'styles.xml docDefaults',
      );
    }
  }
  files[stylesName] = strToU8(styles);

  const c = tree.meta.created;
  // Noon of the creation day (UTC calendar date): never inside a DST gap, and >= 1980 for the DOS format.
  const year = Math.min(2107, Math.max(1980, c.getUTCFullYear()));
  const mtime = new Date(year, c.getUTCMonth(), c.getUTCDate(), 12, 0, 0);
  const zippable: Zippable = {};
  for (const [name, data] of Object.entries(files)) zippable[name] = [data, { mtime, level: 6 }];
  return zipSync(zippable);
}
