/**
 * Tagged PDF (ISO 32000-1 § 14.7/14.8, PDF/UA-1, PDF/A-3a): the logical structure tree, shared by
 * the agreement renderer and the Signaturprotokoll.
 *
 * pdf-lib has no structure-tree API, so the tree is built from its low-level objects in two steps:
 *
 * 1. The layout (pure, no pdf-lib) allocates logical nodes in reading order with `StructNodes` and
 *    tags every laid-out line with the node it belongs to, or marks it as an artifact (footer,
 *    rules). Reading order is the order of allocation, not the order of drawing — that is how the
 *    two signature columns, drawn row by row, read party by party.
 * 2. While the content streams are written, `StructWriter.begin()` gives each tagged line a
 *    marked-content sequence (`/P <</MCID n>> BDC … EMC`, MCIDs counted per page) and records the
 *    MCID under its node; widgets get an OBJR under their Form node. `finish()` then writes the
 *    StructElem dictionaries, the ParentTree number tree, /StructParents on the pages, /Tabs /S
 *    on pages with annotations and /MarkInfo in the catalog.
 *
 * Within a node, marked content comes before child elements (a list body's text before its
 * nested list), which is the reading order for everything these documents contain.
 */
import { PDFArray, PDFDict, PDFDocument, PDFHexString, PDFName, PDFNumber, PDFRef } from 'pdf-lib';
import type { PDFObject } from 'pdf-lib';

/** Standard structure types used here (ISO 32000-1 § 14.8.4); no RoleMap is needed. */
export type StructRole = 'Document' | 'Div' | 'H1' | 'H2' | 'H3' | 'P' | 'L' | 'LI' | 'Lbl' | 'LBody' | 'Form' | 'Table' | 'TR' | 'TH' | 'TD';

export interface StructNode {
  role: StructRole;
  /** Index of the parent node; -1 for the root. */
  parent: number;
  /** Table header cells: /Scope of the attribute object (owner Table). */
  scope?: 'Row' | 'Column';
  /** Alternate description (/Alt), e.g. for a Form element. */
  alt?: string;
}

/** How a laid-out item is marked: as the content of a logical node, or as an artifact. */
export type Tag = { node: number } | { artifact: 'Pagination' | 'Layout' };

/** Logical nodes in reading order; node 0 is the Document root. */
export class StructNodes {
  readonly nodes: StructNode[] = [{ role: 'Document', parent: -1 }];

  add(role: StructRole, parent = 0, extra: Partial<Pick<StructNode, 'scope' | 'alt'>> = {}): number {
    if (parent < 0 || parent >= this.nodes.length) throw new Error(`structure: no parent node ${parent}`);
    this.nodes.push({ role, parent, ...extra });
    return this.nodes.length - 1;
  }
}

export const ARTIFACT_PAGINATION: Tag = { artifact: 'Pagination' };
export const ARTIFACT_LAYOUT: Tag = { artifact: 'Layout' };

type Kid = { page: number; mcid: number } | { page: number; annot: PDFRef };

/** Writes the structure tree of `nodes` into `doc`, collecting content while the pages are drawn. */
export class StructWriter {
  private readonly kids: Kid[][];
  /** Per page: node of each MCID, in MCID order. */
  private readonly pageNodes: number[][] = [];
  private readonly annots: { node: number; ref: PDFRef; page: number }[] = [];
  private readonly alts = new Map<number, string>();

  constructor(
    private readonly doc: PDFDocument,
    private readonly nodes: readonly StructNode[],
  ) {
    this.kids = nodes.map(() => []);
  }

  /**
   * Opening operator of the marked-content sequence for `tag` on page `page` (0-based); close it
   * with `EMC`. An untagged item becomes a layout artifact rather than untagged content.
   */
  begin(page: number, tag: Tag | undefined, props?: string): string {
    if (!tag || 'artifact' in tag) {
      const type = tag?.artifact ?? 'Layout';
      return type === 'Pagination' ? '/Artifact <</Type /Pagination /Subtype /Footer>> BDC' : '/Artifact <</Type /Layout>> BDC';
    }
    const node = this.nodes[tag.node];
    if (!node) throw new Error(`structure: no node ${tag.node}`);
    const list = (this.pageNodes[page] ??= []);
    const mcid = list.length;
    list.push(tag.node);
    this.kids[tag.node]!.push({ page, mcid });
    // The tag is the element's role; with extra properties (ActualText) it is /Span, the only tag
    // under which poppler honours ActualText. The structure type comes from the element either way.
    return props ? `/Span <</MCID ${mcid} ${props}>> BDC` : `/${node.role} <</MCID ${mcid}>> BDC`;
  }

  /** An annotation (signature widget) as content of `node` (a Form element), with its description as /Alt. */
  annotation(node: number, page: number, ref: PDFRef, alt?: string) {
    if (!this.nodes[node]) throw new Error(`structure: no node ${node}`);
    this.kids[node]!.push({ page, annot: ref });
    if (alt) this.alts.set(node, alt);
    this.annots.push({ node, ref, page });
  }

  /** Writes StructTreeRoot, ParentTree and the page and catalog entries. */
  finish(pageRefs: PDFRef[]) {
    const ctx = this.doc.context;
    // Elements without any content (e.g. an empty line) are left out: an empty element says nothing.
    // Parents are allocated before their children, so one backward pass decides.
    const used = this.nodes.map((_, i) => this.kids[i]!.length > 0 || i === 0);
    for (let i = this.nodes.length - 1; i > 0; i--) if (used[i]) used[this.nodes[i]!.parent] = true;
    const refs = this.nodes.map((_, i) => (used[i] ? ctx.nextRef() : undefined));
    const rootRef = ctx.nextRef();
    const children = this.nodes.map(() => [] as number[]);
    this.nodes.forEach((n, i) => {
      if (n.parent >= 0 && used[i]) children[n.parent]!.push(i);
    });
    this.nodes.forEach((n, i) => {
      if (!used[i]) return;
      const kids = this.kids[i]!;
      const pg = kids[0]?.page;
      const k: PDFObject[] = [];
      for (const kid of kids) {
        if ('mcid' in kid) {
          k.push(kid.page === pg ? PDFNumber.of(kid.mcid) : ctx.obj({ Type: 'MCR', Pg: pageRefs[kid.page]!, MCID: kid.mcid }));
        } else {
          k.push(ctx.obj({ Type: 'OBJR', Obj: kid.annot, Pg: pageRefs[kid.page]! }));
        }
      }
      for (const c of children[i]!) k.push(refs[c]!);
      const dict = ctx.obj({ Type: 'StructElem', S: n.role, P: n.parent >= 0 ? refs[n.parent]! : rootRef }) as PDFDict;
      const alt = this.alts.get(i) ?? n.alt;
      if (pg !== undefined) dict.set(PDFName.of('Pg'), pageRefs[pg]!);
      if (alt) dict.set(PDFName.of('Alt'), PDFHexString.fromText(alt));
      if (n.scope) dict.set(PDFName.of('A'), ctx.obj({ O: 'Table', Scope: n.scope }));
      dict.set(PDFName.of('K'), ctx.obj(k));
      ctx.assign(refs[i]!, dict);
    });

    // ParentTree: key p (page p's /StructParents) → the element of each MCID; then one key per
    // annotation (its /StructParent) → its element.
    const nums = PDFArray.withContext(ctx);
    pageRefs.forEach((pageRef, p) => {
      const page = ctx.lookup(pageRef, PDFDict);
      page.set(PDFName.of('StructParents'), PDFNumber.of(p));
      nums.push(PDFNumber.of(p));
      nums.push(ctx.obj((this.pageNodes[p] ?? []).map((n) => refs[n]!)));
    });
    let key = pageRefs.length;
    const tabbed = new Set<number>();
    for (const a of this.annots) {
      const annot = ctx.lookup(a.ref, PDFDict);
      annot.set(PDFName.of('StructParent'), PDFNumber.of(key));
      nums.push(PDFNumber.of(key));
      nums.push(refs[a.node]!);
      key++;
      tabbed.add(a.page);
    }
    // Pages with annotations: tab order follows the structure (PDF/UA-1 § 7.18.3).
    for (const p of [...tabbed].sort((x, y) => x - y)) ctx.lookup(pageRefs[p]!, PDFDict).set(PDFName.of('Tabs'), PDFName.of('S'));
    const parentTree = ctx.register(ctx.obj({ Nums: nums }));
    ctx.assign(rootRef, ctx.obj({ Type: 'StructTreeRoot', K: refs[0]!, ParentTree: parentTree, ParentTreeNextKey: key }));
    this.doc.catalog.set(PDFName.of('StructTreeRoot'), rootRef);
    this.doc.catalog.set(PDFName.of('MarkInfo'), ctx.obj({ Marked: true }));
  }
}
