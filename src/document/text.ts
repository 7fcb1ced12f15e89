import type { Block, DocumentTree, ListBlock, Run } from './tree.ts';

const runsText = (runs: Run[]) => runs.map((r) => r.text).join('');

function listLines(list: ListBlock, out: string[]): void {
  for (const item of list.items) {
    out.push(runsText(item.runs));
    if (item.children) listLines(item.children, out);
  }
}

function blockLines(block: Block, out: string[]): void {
  switch (block.kind) {
    case 'title':
      for (const line of block.lines) out.push(runsText(line));
      break;
    case 'heading':
    case 'paragraph':
      out.push(runsText(block.runs));
      break;
    case 'list':
      listLines(block, out);
      break;
    case 'signatures':
      for (const column of block.columns) {
        out.push(`${column.place}, den${column.date ? ' ' + column.date : ''}`);
        out.push(...column.headerLines);
        for (const s of column.signatories) out.push([s.name, s.role, ...s.organisationLines].join(' '));
      }
      break;
  }
}

/**
 * The document's wording as plain text, one block (heading, paragraph, list item) per line —
 * the same shape as the reference texts, without list markers. Used for review and tests.
 */
export function plainText(tree: DocumentTree): string {
  const out: string[] = [];
  for (const block of tree.blocks) blockLines(block, out);
  return out.join('\n') + '\n';
}
