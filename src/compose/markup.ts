import MarkdownIt from 'markdown-it';
import container from 'markdown-it-container';
type Token = ReturnType<InstanceType<typeof MarkdownIt>['parse']>[number];
import type { Block, ListBlock, ListItem, Run } from '../document/tree.ts';

/**
 * Parses the filled-in template markup into document blocks.
 * Supported: `#`/`##`/`###` headings, paragraphs with **bold** and *italic*, ordered and bulleted
 * lists (nested), and the containers `::: title`, `::: center`, `::: category` and `::: signatures`.
 * Anything else (links, code, HTML, tables …) is a template error, reported with its line number.
 */
const CONTAINERS = ['title', 'center', 'category', 'signatures'] as const;
type ContainerName = (typeof CONTAINERS)[number];

const md = new MarkdownIt('commonmark', { html: false, linkify: false, typographer: false });
for (const name of CONTAINERS) md.use(container, name);

export class TemplateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TemplateError';
  }
}

export function parseMarkup(markup: string, templateName: string): Block[] {
  const tokens = md.parse(markup, {});
  const blocks: Block[] = [];
  let pos = 0;

  const fail = (token: Token, what: string): never => {
    const line = token.map ? ` (line ${token.map[0] + 1} of the filled-in ${templateName})` : '';
    throw new TemplateError(`template ${templateName}: ${what}${line}`);
  };

  const expect = (type: string): Token => {
    const token = tokens[pos++];
    if (!token || token.type !== type) fail(token ?? tokens[tokens.length - 1], `expected ${type}, found ${token?.type ?? 'end of document'}`);
    return token;
  };

  /** Reads paragraph_open inline paragraph_close (paragraphs in tight lists are hidden but present). */
  const paragraphRuns = (): Runs => {
    expect('paragraph_open');
    const runs = inlineRuns(expect('inline'), fail);
    expect('paragraph_close');
    return runs;
  };

  const list = (): ListBlock => {
    const open = tokens[pos++];
    const ordered = open.type === 'ordered_list_open';
    const closeType = ordered ? 'ordered_list_close' : 'bullet_list_close';
    const start = ordered ? Number(open.attrGet('start') ?? 1) : undefined;
    const items: ListItem[] = [];
    while (tokens[pos].type !== closeType) {
      expect('list_item_open');
      const item: ListItem = { runs: paragraphRuns() };
      while (tokens[pos].type !== 'list_item_close') {
        const t = tokens[pos];
        if (t.type === 'bullet_list_open' || t.type === 'ordered_list_open') {
          if (item.children) fail(t, 'a list item may hold only one nested list');
          item.children = list();
        } else fail(t, `unsupported content in a list item: ${t.type}`);
      }
      expect('list_item_close');
      items.push(item);
    }
    pos++;
    return { kind: 'list', ordered, ...(ordered && start !== 1 ? { start } : {}), items };
  };

  const containerBlock = (name: ContainerName, open: Token) => {
    const close = `container_${name}_close`;
    const paragraphs: Runs[] = [];
    while (tokens[pos]?.type !== close) {
      if (tokens[pos] === undefined) fail(open, `unclosed ::: ${name}`);
      if (tokens[pos].type !== 'paragraph_open') fail(tokens[pos], `only paragraphs may stand inside ::: ${name}`);
      paragraphs.push(paragraphRuns());
    }
    pos++;
    switch (name) {
      case 'title':
        blocks.push({ kind: 'title', lines: paragraphs });
        break;
      case 'center':
        for (const runs of paragraphs) blocks.push({ kind: 'paragraph', align: 'center', runs });
        break;
      case 'category':
        for (const runs of paragraphs) blocks.push({ kind: 'paragraph', align: 'left', keepWithNext: true, runs });
        break;
      case 'signatures':
        if (paragraphs.length > 0) fail(open, '::: signatures must be empty: the signature block comes from the data');
        // Placeholder: composition replaces it with the signature block built from the signatories.
        blocks.push({ kind: 'signatures', columns: [] });
        break;
    }
  };

  while (pos < tokens.length) {
    const token = tokens[pos];
    if (token.type === 'heading_open') {
      const level = Number(token.tag.slice(1));
      if (level > 3) fail(token, 'headings deeper than ### are not supported');
      pos++;
      blocks.push({ kind: 'heading', level: level as 1 | 2 | 3, runs: inlineRuns(expect('inline'), fail) });
      expect('heading_close');
    } else if (token.type === 'paragraph_open') {
      blocks.push({ kind: 'paragraph', runs: paragraphRuns() });
    } else if (token.type === 'bullet_list_open' || token.type === 'ordered_list_open') {
      blocks.push(list());
    } else if (token.type.startsWith('container_') && token.type.endsWith('_open')) {
      pos++;
      containerBlock(token.type.slice('container_'.length, -'_open'.length) as ContainerName, token);
    } else {
      fail(token, `unsupported markup: ${token.type}`);
    }
  }
  return blocks;
}

type Runs = Run[];

/** Flattens an inline token into runs, merging neighbours with equal emphasis. */
function inlineRuns(inline: Token, fail: (t: Token, what: string) => never): Runs {
  const runs: Runs = [];
  let bold = 0;
  let italic = 0;
  const push = (text: string) => {
    const last = runs[runs.length - 1];
    const style = { bold: bold > 0, italic: italic > 0 };
    if (last && !!last.bold === style.bold && !!last.italic === style.italic) last.text += text;
    else runs.push({ text, ...(style.bold ? { bold: true } : {}), ...(style.italic ? { italic: true } : {}) });
  };
  for (const child of inline.children ?? []) {
    switch (child.type) {
      case 'text':
        push(child.content);
        break;
      case 'softbreak':
        push(' ');
        break;
      case 'strong_open':
        bold++;
        break;
      case 'strong_close':
        bold--;
        break;
      case 'em_open':
        italic++;
        break;
      case 'em_close':
        italic--;
        break;
      default:
        fail(inline, `unsupported inline markup: ${child.type}`);
    }
  }
  return runs;
}
