/**
 * Extracts the visible text of a DOCX as plain text: one line per paragraph (w:p), in document order,
 * table cells included (row by row, cell by cell). Used by golden tests to compare wording.
 *
 * - w:t text is decoded (XML entities, numeric character references, CDATA);
 * - w:tab (inside a run) → "\t", w:br / w:cr → "\n", w:noBreakHyphen → "-", w:softHyphen → nothing;
 * - deleted text (w:delText), field instructions (w:instrText), tab stop definitions (w:tabs) and
 *   mc:Fallback duplicates are skipped; generated list numbers ("1.", "•") are not part of the text;
 * - empty paragraphs give empty lines. Lines are joined with "\n" (no trailing newline).
 *
 * Only word/document.xml is read (no headers/footers/footnotes). Implementation: fflate to unzip,
 * a small regex-based XML tokenizer (sufficient for OOXML, which has no DTDs and is machine-written).
 */
import { strFromU8, unzipSync } from 'fflate';

const TOKEN =
  /<!\[CDATA\[([\s\S]*?)\]\]>|<!--[\s\S]*?-->|<\?[\s\S]*?\?>|<!(?:[^>"']|"[^"]*"|'[^']*')*>|<(\/?)([^\s/>]+)((?:[^>"'/]|\/(?!>)|"[^"]*"|'[^']*')*)(\/?)>|([^<]+)/g;

const NAMED_ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

export function decodeXmlEntities(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[A-Za-z]+);/g, (m, ent: string) => {
    if (ent[0] === '#') {
      const cp = ent[1] === 'x' || ent[1] === 'X' ? parseInt(ent.slice(2), 16) : parseInt(ent.slice(1), 10);
      return Number.isFinite(cp) && cp >= 0 && cp <= 0x10ffff ? String.fromCodePoint(cp) : m;
    }
    return NAMED_ENTITIES[ent] ?? m;
  });
}

/** The visible text of a WordprocessingML body (the XML of word/document.xml). */
export function documentXmlText(xml: string): string {
  const lines: string[] = [];
  const paragraphs: string[] = []; // stack: paragraphs can nest via text boxes
  let inText = 0; // inside w:t
  let skip = 0; // inside an element whose content is not visible text
  const SKIP = new Set(['w:delText', 'w:instrText', 'w:delInstrText', 'w:tabs', 'mc:Fallback', 'w:pPr', 'w:rPr']);
  const append = (s: string) => {
    if (paragraphs.length > 0) paragraphs[paragraphs.length - 1] += s;
  };
  TOKEN.lastIndex = 0;
  for (let m = TOKEN.exec(xml); m !== null; m = TOKEN.exec(xml)) {
    const [, cdata, closing, name, , selfClosing, text] = m;
    if (cdata !== undefined) {
      if (inText > 0 && skip === 0) append(cdata);
      continue;
    }
    if (text !== undefined) {
      if (inText > 0 && skip === 0) append(decodeXmlEntities(text));
      continue;
    }
    if (name === undefined) continue; // comment, PI, doctype
    const isClose = closing === '/';
    const isEmpty = selfClosing === '/';
    if (SKIP.has(name)) {
      if (isEmpty) continue;
      skip += isClose ? -1 : 1;
      continue;
    }
    if (skip > 0) continue;
    switch (name) {
      case 'w:p':
        if (isEmpty) lines.push('');
        else if (isClose) lines.push(paragraphs.pop() ?? '');
        else paragraphs.push('');
        break;
      case 'w:t':
        if (isEmpty) break;
        inText += isClose ? -1 : 1;
        break;
      case 'w:tab':
        if (!isClose) append('\t');
        break;
      case 'w:br':
      case 'w:cr':
        if (!isClose) append('\n');
        break;
      case 'w:noBreakHyphen':
        if (!isClose) append('-');
        break;
      default:
        break;
    }
  }
  return lines.join('\n');
}

/** The visible text of a DOCX file, one paragraph per line. */
export async function docxText(bytes: Uint8Array): Promise<string> {
  const files = unzipSync(bytes, { filter: (f) => f.name === 'word/document.xml' });
  const doc = files['word/document.xml'];
  if (!doc) throw new Error('docxText: not a DOCX (word/document.xml missing)');
  return documentXmlText(strFromU8(doc));
}
