/**
 * Server-rendered HTML: a tagged template that escapes every interpolated value unless it is
 * already Html, and the page layout shared by all areas. No inline scripts or styles anywhere:
 * the CSP forbids them, so behaviour lives in /static/*.js.
 */
import escapeHtml from 'escape-html';
import type { Role } from './roles.ts';
import { berlinDateTime } from '../compose/format.ts';

export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

type Part = Html | string | number | boolean | null | undefined | readonly Part[];

function render(part: Part): string {
  if (part === null || part === undefined || part === false) return '';
  if (part instanceof Html) return part.value;
  if (Array.isArray(part)) return part.map(render).join('');
  return escapeHtml(String(part));
}

/** html`<p>${userText}</p>`: values are escaped, nested html`` and arrays of it are kept. */
export function html(strings: TemplateStringsArray, ...values: Part[]): Html {
  let out = strings[0]!;
  values.forEach((v, i) => {
    out += render(v) + strings[i + 1]!;
  });
  return new Html(out);
}

/** Trusted markup (e.g. produced by another html`` call and stored as a string). */
export const raw = (s: string) => new Html(s);

export interface PageUser {
  displayName: string;
  username: string;
  roles: Role[];
}

export interface PageOptions {
  title: string;
  user?: PageUser | null;
  csrf: string;
  /** Scripts from /static/ to load (deferred). */
  scripts?: string[];
  /** A flash message shown above the content. */
  notice?: { kind: 'ok' | 'error' | 'info'; text: string } | null;
  /** Navigation key of the current area, to mark it. */
  active?: string;
}

const NAV: { key: string; href: string; label: string; roles: Role[] }[] = [
  { key: 'clerk', href: '/jahre', label: 'Vereinbarungen', roles: ['clerk'] },
  { key: 'ministry', href: '/ministerium', label: 'Unterzeichnen (Ministerium)', roles: ['ministry'] },
  { key: 'archive', href: '/archiv', label: 'Archiv', roles: ['archivist'] },
  { key: 'verify', href: '/pruefen', label: 'Prüfen', roles: ['archivist', 'clerk'] },
  { key: 'admin', href: '/verwaltung', label: 'Verwaltung', roles: ['admin'] },
  { key: 'account', href: '/konto', label: 'Konto', roles: ['admin', 'clerk', 'ministry', 'archivist'] },
];

export function page(opts: PageOptions, body: Html): Html {
  const user = opts.user;
  const nav = user
    ? NAV.filter((n) => n.roles.some((r) => user.roles.includes(r))).map(
        (n) => html`<li><a href="${n.href}"${n.key === opts.active ? raw(' aria-current="page"') : ''}>${n.label}</a></li>`,
      )
    : [];
  return html`<!doctype html>
<html lang="de">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${opts.title} – Zielwerk</title>
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/static/app.css">
${(opts.scripts ?? []).map((s) => html`<script src="/static/${s}" defer></script>`)}
</head>
<body>
<a class="skip" href="#main">Zum Inhalt springen</a>
<header class="top">
  <a class="brand" href="/">Zielwerk</a>
  ${user
    ? html`<nav aria-label="Hauptnavigation"><ul>${nav}</ul></nav>
  <form class="logout" method="post" action="/logout">
    <input type="hidden" name="_csrf" value="${opts.csrf}">
    <span class="who">${user.displayName}</span>
    <button type="submit">Abmelden</button>
  </form>`
    : ''}
</header>
<main id="main">
${opts.notice ? html`<p class="notice ${opts.notice.kind}" role="${opts.notice.kind === 'error' ? 'alert' : 'status'}">${opts.notice.text}</p>` : ''}
${body}
</main>
<footer class="foot">Zielwerk – Zielvereinbarungen des Landes Hessen mit den Landkreisen und kreisfreien Städten</footer>
</body>
</html>`;
}

/** A labelled form field with its error, if any (errors are keyed by the field's path, e.g. "measures[1].projects[0]"). */
export function field(opts: {
  name: string;
  label: string;
  value?: string | number | null;
  type?: string;
  errors?: Record<string, string>;
  required?: boolean;
  hint?: string;
  attrs?: Html;
  id?: string;
}): Html {
  const id = opts.id ?? `f-${opts.name.replace(/[^a-zA-Z0-9]+/g, '-')}`;
  const error = opts.errors?.[opts.name];
  const describedBy = [opts.hint ? `${id}-hint` : '', error ? `${id}-error` : ''].filter(Boolean).join(' ');
  return html`<div class="field${error ? ' invalid' : ''}">
  <label for="${id}">${opts.label}${opts.required ? html` <span aria-hidden="true">*</span>` : ''}</label>
  <input id="${id}" name="${opts.name}" type="${opts.type ?? 'text'}" value="${opts.value ?? ''}"${opts.required ? raw(' required') : ''}${error ? raw(' aria-invalid="true"') : ''}${describedBy ? html` aria-describedby="${describedBy}"` : ''} ${opts.attrs ?? ''}>
  ${opts.hint ? html`<p class="hint" id="${id}-hint">${opts.hint}</p>` : ''}
  ${error ? html`<p class="error" id="${id}-error">${error}</p>` : ''}
</div>`;
}

/** The hidden CSRF field every POST form carries. */
export const csrfField = (token: string) => html`<input type="hidden" name="_csrf" value="${token}">`;

export const euro = (cents: number | null | undefined) =>
  cents === null || cents === undefined ? '—' : new Intl.NumberFormat('de-DE', { style: 'currency', currency: 'EUR' }).format(cents / 100);

export const dateTime = (iso: string | null | undefined) =>
  iso ? berlinDateTime(new Date(iso), { zone: false }) : '—';
