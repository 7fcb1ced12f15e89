/**
 * Independent readers for tagged-PDF checks: a content-stream tokeniser that tracks marked-content
 * sequences, a parser for poppler's `pdfinfo -struct-text`, and a walk of the raw structure tree
 * (StructTreeRoot, ParentTree) with pdf-lib's low-level objects.
 */
import { decodePDFRawStream, PDFArray, PDFDict, PDFDocument, PDFName, PDFNumber, PDFRawStream, PDFRef, PDFStream } from 'pdf-lib';
import type { PDFObject, PDFPage } from 'pdf-lib';

// ---------------------------------------------------------------------------------------------
// Content streams

type Operand = number | string | { name: string } | Operand[] | { [key: string]: Operand };

const WS = new Set([0x00, 0x09, 0x0a, 0x0c, 0x0d, 0x20]);
const DELIM = new Set('()<>[]{}/%'.split('').map((c) => c.charCodeAt(0)));

/** Tokenises a content stream into operators with their operands (strings are returned undecoded). */
export function* operators(content: Buffer): Generator<{ op: string; operands: Operand[] }> {
  let i = 0;
  const n = content.length;
  const skipWs = () => {
    for (;;) {
      while (i < n && WS.has(content[i]!)) i++;
      if (content[i] === 0x25) while (i < n && content[i] !== 0x0a && content[i] !== 0x0d) i++;
      else break;
    }
  };
  const regular = () => {
    const s = i;
    while (i < n && !WS.has(content[i]!) && !DELIM.has(content[i]!)) i++;
    return content.toString('latin1', s, i);
  };
  const value = (): Operand | { op: string } | null => {
    skipWs();
    if (i >= n) return null;
    const c = content[i]!;
    if (c === 0x28) {
      // literal string, balanced parentheses, backslash escapes
      let depth = 0;
      const s = i;
      for (; i < n; i++) {
        const ch = content[i]!;
        if (ch === 0x5c) i++;
        else if (ch === 0x28) depth++;
        else if (ch === 0x29 && --depth === 0) {
          i++;
          break;
        }
      }
      return content.toString('latin1', s, i);
    }
    if (c === 0x3c && content[i + 1] === 0x3c) {
      i += 2;
      const dict: { [key: string]: Operand } = {};
      for (;;) {
        skipWs();
        if (content[i] === 0x3e && content[i + 1] === 0x3e) {
          i += 2;
          return dict;
        }
        const key = value();
        const v = value();
        if (!key || typeof key !== 'object' || !('name' in key) || v === null) throw new Error(`bad dictionary at ${i}`);
        dict[(key as { name: string }).name] = v as Operand;
      }
    }
    if (c === 0x3c) {
      const s = i;
      while (i < n && content[i] !== 0x3e) i++;
      i++;
      return content.toString('latin1', s, i);
    }
    if (c === 0x5b) {
      i++;
      const arr: Operand[] = [];
      for (;;) {
        skipWs();
        if (content[i] === 0x5d) {
          i++;
          return arr;
        }
        const v = value();
        if (v === null) throw new Error('unterminated array');
        arr.push(v as Operand);
      }
    }
    if (c === 0x2f) {
      i++;
      return { name: regular() };
    }
    const tok = regular();
    if (tok === '') throw new Error(`unexpected byte ${c} at ${i}`);
    if (/^[+-]?(\d+\.?\d*|\.\d+)$/.test(tok)) return Number(tok);
    if (tok === 'true' || tok === 'false' || tok === 'null') return tok;
    return { op: tok };
  };
  let operands: Operand[] = [];
  for (;;) {
    const v = value();
    if (v === null) return;
    if (typeof v === 'object' && v !== null && 'op' in v && typeof v.op === 'string' && !Array.isArray(v)) {
      if (v.op === 'BI') throw new Error('inline images are not expected');
      yield { op: v.op, operands };
      operands = [];
    } else operands.push(v as Operand);
  }
}

const TEXT_SHOW = new Set(['Tj', 'TJ', "'", '"']);
const PAINT = new Set(['S', 's', 'f', 'F', 'f*', 'B', 'B*', 'b', 'b*', 'sh', 'Do']);

export interface MarkedContentReport {
  textOps: number;
  paintOps: number;
  /** Text-showing or painting operators outside any MCID sequence or Artifact, with their position. */
  untagged: string[];
  /** MCIDs in stream order. */
  mcids: number[];
  /** Problems: unbalanced BDC/EMC or BT/ET, marked content crossing a text object, nested MCIDs. */
  problems: string[];
}

/** Walks one content stream: every text-showing (and painting) operator must be inside an MCID sequence or an Artifact. */
export function walkMarkedContent(content: Buffer): MarkedContentReport {
  const stack: { tag: string; mcid?: number; inText: boolean }[] = [];
  const report: MarkedContentReport = { textOps: 0, paintOps: 0, untagged: [], mcids: [], problems: [] };
  let inText = false;
  let k = 0;
  for (const { op, operands } of operators(content)) {
    k++;
    if (op === 'BDC' || op === 'BMC') {
      const tag = (operands[0] as { name: string }).name;
      const props = operands[1];
      const mcid = props && typeof props === 'object' && !Array.isArray(props) && 'MCID' in props ? (props as { MCID: number }).MCID : undefined;
      if (mcid !== undefined) {
        if (stack.some((s) => s.mcid !== undefined)) report.problems.push(`MCID ${mcid} nested in another MCID sequence (op ${k})`);
        report.mcids.push(mcid);
      }
      stack.push({ tag, mcid, inText });
    } else if (op === 'EMC') {
      const top = stack.pop();
      if (!top) report.problems.push(`EMC without BDC/BMC (op ${k})`);
      else if (top.inText !== inText) report.problems.push(`marked content /${top.tag} crosses a text object boundary (op ${k})`);
    } else if (op === 'BT') {
      if (inText) report.problems.push(`nested BT (op ${k})`);
      inText = true;
    } else if (op === 'ET') {
      if (!inText) report.problems.push(`ET without BT (op ${k})`);
      if (stack.some((s) => s.inText)) report.problems.push(`ET inside a marked-content sequence begun in the text object (op ${k})`);
      inText = false;
    } else if (TEXT_SHOW.has(op) || PAINT.has(op)) {
      if (TEXT_SHOW.has(op)) report.textOps++;
      else report.paintOps++;
      const covered = stack.some((s) => s.mcid !== undefined || s.tag === 'Artifact');
      if (!covered) report.untagged.push(`${op} at operator ${k}`);
    }
  }
  if (stack.length) report.problems.push(`${stack.length} marked-content sequence(s) left open`);
  if (inText) report.problems.push('text object left open');
  return report;
}

/** The decoded content of a page (all its content streams, concatenated). */
export function pageContent(page: PDFPage): Buffer {
  const ctx = page.doc.context;
  const contents = page.node.get(PDFName.of('Contents'));
  const refs = contents instanceof PDFArray ? contents.asArray() : [contents];
  const parts: Buffer[] = [];
  for (const r of refs) {
    const stream = ctx.lookup(r as PDFObject);
    if (stream instanceof PDFRawStream) parts.push(Buffer.from(decodePDFRawStream(stream).decode()));
    else if (stream instanceof PDFStream) parts.push(Buffer.from(stream.getContents()));
    else throw new Error('page without content stream');
    parts.push(Buffer.from('\n'));
  }
  return Buffer.concat(parts);
}

// ---------------------------------------------------------------------------------------------
// poppler: pdfinfo -struct-text

export interface StructTextNode {
  role: string;
  text: string[];
  /** Object numbers of OBJR kids ("Object 12 0"). */
  objects: number[];
  /** Attribute lines, e.g. "/Scope /Row". */
  attributes: string[];
  children: StructTextNode[];
}

/** Parses `pdfinfo -struct-text` output (two spaces of indentation per level). */
export function parseStructText(out: string): StructTextNode {
  const root: StructTextNode = { role: '(root)', text: [], objects: [], attributes: [], children: [] };
  const stack: { depth: number; node: StructTextNode }[] = [{ depth: -1, node: root }];
  for (const raw of out.split('\n')) {
    if (!raw.trim()) continue;
    const line = raw.trim();
    // Attribute lines ("/Scope /Row") follow their element's "TH:" line, oddly indented.
    if (line.startsWith('/')) {
      stack[stack.length - 1]!.node.attributes.push(line);
      continue;
    }
    const depth = Math.floor((raw.length - raw.trimStart().length) / 2);
    while (stack.length > 1 && stack[stack.length - 1]!.depth >= depth) stack.pop();
    const parent = stack[stack.length - 1]!.node;
    if (line.startsWith('"') && line.endsWith('"') && line.length >= 2) parent.text.push(line.slice(1, -1));
    else if (/^Object \d+ \d+$/.test(line)) parent.objects.push(Number(line.split(' ')[1]));
    else {
      const node: StructTextNode = { role: line.replace(/:$/, '').replace(/ \((block|inline)\)$/, ''), text: [], objects: [], attributes: [], children: [] };
      parent.children.push(node);
      stack.push({ depth, node });
    }
  }
  return root;
}

/** The text of an element (its own chunks, then its children's). */
export function structText(node: StructTextNode): string {
  const chunks: string[] = [];
  const visit = (n: StructTextNode) => {
    chunks.push(...n.text);
    n.children.forEach(visit);
  };
  visit(node);
  // The content carries its own spaces (a line that ends between words draws its space), so the chunks
  // are concatenated as they are: a chunk without a trailing space ends inside a word. Soft hyphens
  // (U+00AD, if an extractor keeps them) are dropped, as ISO 32000-1 § 14.8.2.2.3 says.
  return chunks.join('').replace(/\u00ad/g, '');
}

/** All nodes in pre-order. */
export function flatten(node: StructTextNode): StructTextNode[] {
  return [node, ...node.children.flatMap(flatten)];
}

// ---------------------------------------------------------------------------------------------
// Raw structure tree (pdf-lib)

export interface RawLeaf {
  role: string;
  mcid?: number;
  /** Object number of an OBJR's annotation. */
  annot?: number;
  /** 0-based page index. */
  page: number;
}

/**
 * Walks StructTreeRoot /K in order and checks the ParentTree both ways: every MCID of a page maps
 * back to the element that lists it, every OBJR's annotation has a /StructParent that maps back to
 * its element. Returns the leaves in reading order and the problems found.
 */
export function rawStructure(doc: PDFDocument): { leaves: RawLeaf[]; roles: string[]; problems: string[] } {
  const ctx = doc.context;
  const problems: string[] = [];
  const pages = doc.getPages();
  const pageIndex = new Map(pages.map((p, i) => [p.ref.objectNumber, i]));
  const root = doc.catalog.lookup(PDFName.of('StructTreeRoot'), PDFDict);
  const parentTree = root.lookup(PDFName.of('ParentTree'), PDFDict);
  const nums = parentTree.lookup(PDFName.of('Nums'), PDFArray);
  const map = new Map<number, PDFObject>();
  for (let i = 0; i < nums.size(); i += 2) map.set(nums.lookup(i, PDFNumber).asNumber(), nums.get(i + 1));
  const leaves: RawLeaf[] = [];
  const roles: string[] = [];
  const refOf = (o: PDFObject | undefined) => (o instanceof PDFRef ? o.objectNumber : -1);

  const visit = (ref: PDFRef) => {
    const elem = ctx.lookup(ref, PDFDict);
    const role = elem.lookup(PDFName.of('S'), PDFName).decodeText();
    roles.push(role);
    const pg = elem.get(PDFName.of('Pg'));
    const kidsObj = elem.get(PDFName.of('K'));
    const kids = kidsObj === undefined ? [] : ctx.lookup(kidsObj) instanceof PDFArray ? ctx.lookup(kidsObj, PDFArray).asArray() : [kidsObj];
    for (const kid of kids) {
      const resolved = kid instanceof PDFRef ? ctx.lookup(kid) : kid;
      if (resolved instanceof PDFNumber || (resolved instanceof PDFDict && resolved.get(PDFName.of('MCID')))) {
        const mcid = resolved instanceof PDFNumber ? resolved.asNumber() : resolved.lookup(PDFName.of('MCID'), PDFNumber).asNumber();
        const page = pageIndex.get(refOf(resolved instanceof PDFDict && resolved.get(PDFName.of('Pg')) ? resolved.get(PDFName.of('Pg')) : pg));
        if (page === undefined) {
          problems.push(`${role}: MCID ${mcid} without a page`);
          continue;
        }
        leaves.push({ role, mcid, page });
        const key = pages[page]!.node.lookup(PDFName.of('StructParents'), PDFNumber).asNumber();
        const arr = ctx.lookup(map.get(key)) as PDFArray | undefined;
        if (!(arr instanceof PDFArray) || refOf(arr.get(mcid)) !== ref.objectNumber) problems.push(`ParentTree[${key}][${mcid}] does not lead back to its ${role}`);
      } else if (resolved instanceof PDFDict && resolved.lookup(PDFName.of('Type'), PDFName)?.decodeText() === 'OBJR') {
        const annotRef = resolved.get(PDFName.of('Obj')) as PDFRef;
        const annot = ctx.lookup(annotRef, PDFDict);
        const page = pageIndex.get(refOf(resolved.get(PDFName.of('Pg')) ?? pg));
        leaves.push({ role, annot: annotRef.objectNumber, page: page ?? -1 });
        const sp = annot.get(PDFName.of('StructParent'));
        if (!(sp instanceof PDFNumber)) problems.push(`annotation ${annotRef.objectNumber} has no /StructParent`);
        else if (refOf(map.get(sp.asNumber())) !== ref.objectNumber) problems.push(`ParentTree[${sp.asNumber()}] does not lead back to the ${role} of annotation ${annotRef.objectNumber}`);
      } else if (kid instanceof PDFRef) {
        const p = (resolved as PDFDict).get(PDFName.of('P'));
        if (refOf(p) !== ref.objectNumber) problems.push(`${role}: child ${kid.objectNumber} does not name it as /P`);
        visit(kid);
      } else problems.push(`${role}: unexpected kid ${String(kid)}`);
    }
  };
  const k = root.get(PDFName.of('K'));
  for (const r of k instanceof PDFArray ? k.asArray() : [k]) visit(r as PDFRef);
  return { leaves, roles, problems };
}
