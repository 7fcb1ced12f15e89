import Handlebars from 'handlebars';
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { templatesDir } from '../paths.ts';
import { capitalize } from './format.ts';

/**
 * Canonical templates are Handlebars over a light Markdown markup (see templates/README.md).
 * Values are escaped for the markup before they reach Handlebars (see escapeMarkup), so Handlebars'
 * own HTML escaping is switched off: a project called "<b>" must print as "<b>", not "&lt;b&gt;".
 */
const hb = Handlebars.create();
hb.registerHelper('cap', (text: unknown) => capitalize(String(text)));

let partialsLoaded = false;
const compiled = new Map<string, HandlebarsTemplateDelegate>();

function loadPartials(): void {
  if (partialsLoaded) return;
  const root = join(templatesDir, 'partials');
  for (const entry of readdirSync(root, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.md.hbs')) continue;
    const file = join(entry.parentPath, entry.name);
    const name = relative(root, file).replace(/\.md\.hbs$/, '').split('\\').join('/');
    hb.registerPartial(name, readFileSync(file, 'utf8'));
  }
  partialsLoaded = true;
}

/** Renders the template at `templates/<path>` with an already-escaped view context, giving markup text. */
export function renderTemplate(path: string, context: object): string {
  loadPartials();
  let template = compiled.get(path);
  if (!template) {
    template = hb.compile(readFileSync(join(templatesDir, path), 'utf8'), { noEscape: true, strict: true });
    compiled.set(path, template);
  }
  return template(context);
}

/**
 * Escapes a value for the markup: every ASCII punctuation character gets a backslash, which Markdown
 * (CommonMark) defines as "this character, literally". So `**Neu** # 1`, `1. Preis` or `{{x}}` cannot
 * become emphasis, a heading, a list or a template expression.
 */
export function escapeMarkup(text: string): string {
  return text.replace(/[!-/:-@[-`{-~]/g, (c) => `\\${c}`);
}

/** Deep-copies plain data, escaping every string for the markup; numbers and booleans pass unchanged. */
export function escapeDeep<T>(value: T): T {
  if (typeof value === 'string') return escapeMarkup(value) as T;
  if (Array.isArray(value)) return value.map((v) => escapeDeep(v)) as T;
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, escapeDeep(v)])) as T;
  }
  return value;
}
