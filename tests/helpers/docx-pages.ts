/**
 * DOCX pagination checks: renders agreements as DOCX, converts them all with one LibreOffice call,
 * and reads back page counts (pdfinfo) and per-page text (pdftotext, pages split at form feeds).
 * Shared by tests/docx-pagination.test.ts and ad-hoc measurements.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { composeFromData, composeResolved } from '../../src/compose/index.ts';
import type { Block, DocumentTree } from '../../src/document/tree.ts';
import { loadBatch } from '../../src/batch/load.ts';
import { readJsonFile } from '../../src/input.ts';
import { renderDocx } from '../../src/render/docx.ts';
import { layoutPdf } from '../../src/render/pdf/index.ts';
import { run } from './tools.ts';

export const examplePath = (name: string) => new URL(`../../examples/${name}`, import.meta.url).pathname;

export interface NamedTree {
  name: string;
  tree: DocumentTree;
}

export function exampleTree(file: string): NamedTree {
  const src = readJsonFile(examplePath(file));
  return { name: file.replace(/\.json$/, ''), tree: composeFromData(src.data, { source: src.path, sourceBytes: src.bytes }).tree };
}

export async function batchTrees(file: string): Promise<NamedTree[]> {
  const loaded = await loadBatch(examplePath(file));
  return loaded.agreements.map((a) => {
    const c = composeResolved(a.resolved);
    return { name: c.resolved.fileBase, tree: c.tree };
  });
}

export interface Converted {
  name: string;
  /** The PDF LibreOffice wrote. */
  pdf: string;
  pdfPages: number;
  docxPages: number;
  /** Text of each page of the LibreOffice PDF. */
  pageTexts: string[];
}

/** Renders every tree as DOCX into `dir`, converts them with one soffice call, and compares page counts. */
export async function convertAll(trees: NamedTree[], dir: string): Promise<Converted[]> {
  const files: string[] = [];
  for (const { name, tree } of trees) {
    const path = join(dir, `${name}.docx`);
    writeFileSync(path, await renderDocx(tree));
    files.push(path);
  }
  const profile = `file://${join(dir, 'lo-profile')}`;
  run('soffice', [`-env:UserInstallation=${profile}`, '--headless', '--convert-to', 'pdf', '--outdir', dir, ...files], {
    timeoutMs: 600_000,
  });
  return trees.map(({ name, tree }) => {
    const pdf = join(dir, `${name}.pdf`);
    const docxPages = Number(run('pdfinfo', [pdf]).match(/Pages:\s+(\d+)/)![1]);
    const text = run('pdftotext', ['-layout', pdf, '-']);
    const pageTexts = text.split('\f').slice(0, docxPages);
    return { name, pdf, pdfPages: layoutPdf(tree).pages.length, docxPages, pageTexts };
  });
}

const norm = (s: string) => s.replace(/[\s\u00A0\u202F]+/g, ' ').trim();

/** The texts of every heading (and title line) of the tree, normalised. */
export function headingTexts(tree: DocumentTree): Set<string> {
  const out = new Set<string>();
  const text = (b: Block) => (b.kind === 'heading' ? b.runs.map((r) => r.text).join('') : '');
  for (const b of tree.blocks) if (b.kind === 'heading') out.add(norm(text(b)));
  return out;
}

/** The last non-footer line of a page, normalised ('' for an empty page). */
export function lastBodyLine(pageText: string): string {
  const lines = pageText
    .split('\n')
    .map(norm)
    .filter((l) => l !== '' && !/^Seite \d+ von \d+$/.test(l));
  return lines[lines.length - 1] ?? '';
}

/** Pages (1-based) whose last body line is a heading of the tree; the document's last page is not checked for this. */
export function pagesEndingInHeading(c: Converted, tree: DocumentTree): number[] {
  const headings = headingTexts(tree);
  const out: number[] = [];
  c.pageTexts.forEach((t, i) => {
    if (i === c.pageTexts.length - 1) return;
    const last = lastBodyLine(t);
    if (headings.has(last) || /^§ ?\d+$/.test(last)) out.push(i + 1);
  });
  return out;
}
