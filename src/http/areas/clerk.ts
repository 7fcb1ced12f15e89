/**
 * The clerk's area (Sachbearbeitung): year overview and dashboard with budget, the agreement form
 * (new agreement / new version, with errors at the fields and a PDF preview), the detail page with
 * downloads, envelope state and the paper fallback, the table upload, opening envelopes, the
 * signatories' e-mail addresses — and the same as a JSON API.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import type { Response } from 'express';
import { LEVEL_LABELS } from '../../sign/verify.ts';
import { html, page, csrfField, field, euro, dateTime, type Html } from '../html.ts';
import { route, IdParam, type AnyRoute } from '../routes.ts';
import { HttpError, invalid, notFound, conflict, type FieldProblem } from '../problem.ts';
import type { AppContext } from '../context.ts';
import type { User } from '../accounts.ts';
import { AgreementInput, AgreementType, problemsFrom, ValidationError, type Problem } from '../../model/agreement.ts';
import { listPartners, findPartner } from '../../registry/partners.ts';
import { MEASURE_CATEGORIES } from '../../registry/categories.ts';
import { resolveAgreement, type ResolvedAgreement } from '../../compose/resolve.ts';
import { composeResolved } from '../../compose/index.ts';
import { renderFormats } from '../../generate.ts';
import {
  AgreementError,
  currentAgreements,
  generateIntoStore,
  getAgreement,
  readAgreementInputs,
  STATUS_LABELS,
  type AgreementRow,
  type AgreementStatus,
} from '../../store/agreements.ts';
import { BatchError } from '../../batch/load.ts';
import { parseGermanNumber } from '../../batch/numbers.ts';
import { fileById, readStoredFile } from '../../store/files.ts';
import type { Store } from '../../store/store.ts';
import type { Db } from '../../store/db.ts';
import { emailFor, saveContacts, storedContacts, type Contacts } from '../../envelope/contacts.ts';
import { ENVELOPE_STATUS_LABELS, SigningService, type Snapshot, type EnvelopeStatus } from '../../envelope/service.ts';
import { archivePaperScan, paperRefusal, paperScanOf, paperSignedIds, PaperError, type PaperScan } from '../../archive/paper.ts';
import { sendDownload } from '../download.ts';

const CLERK = ['clerk'] as const;
const READERS = ['clerk', 'archivist'] as const;
const TAG = 'Sachbearbeitung';
const TYPES = ['aqb', 'sgb2'] as const;
type Type = (typeof TYPES)[number];
const TYPE_LABELS: Record<Type, string> = { aqb: 'AQB', sgb2: 'SGB II' };
const PAPER_LABEL = 'auf Papier unterzeichnet';
const STEERING_LABELS: Record<string, string> = {
  dialog: 'Dialog (Zielerreichung im Gespräch erörtert)',
  exchange: 'Austausch (regelmäßiger Informationsaustausch)',
};
const ORDER_LABELS: Record<string, string> = { 'ministry-first': 'Ministerium zuerst', 'partner-first': 'Partner zuerst' };
/** Statuses from which envelopes can be opened and new versions made. */
const OPENABLE: readonly AgreementStatus[] = ['draft', 'declined', 'cancelled'];

const actorOf = (user: User | null) => (user ? `${user.displayName} (${user.username})` : 'unbekannt');
const thisYear = () => new Date().getFullYear();

// ───────────────────────────── data helpers ─────────────────────────────

function agreementOr404(store: Store, id: number): AgreementRow {
  try {
    return getAgreement(store, id);
  } catch (e) {
    if (e instanceof AgreementError) throw notFound(`Die Vereinbarung #${id} gibt es nicht.`);
    throw e;
  }
}

function isCurrent(db: Db, a: AgreementRow): boolean {
  const { v } = db.prepare('SELECT MAX(version) AS v FROM agreements WHERE type = ? AND year = ? AND partner_id = ?').get(a.type, a.year, a.partner_id) as { v: number };
  return v === a.version;
}

function versionsOf(db: Db, a: AgreementRow): AgreementRow[] {
  return db.prepare('SELECT * FROM agreements WHERE type = ? AND year = ? AND partner_id = ? ORDER BY version DESC').all(a.type, a.year, a.partner_id) as AgreementRow[];
}

function envelopesOf(svc: SigningService, agreementId: number): Snapshot[] {
  const ids = svc.store.db.prepare('SELECT id FROM envelopes WHERE agreement_id = ? ORDER BY id DESC').all(agreementId) as { id: number }[];
  return ids.map((r) => svc.snapshot(r.id));
}

/** Why no new version can be made from this row now, or null. */
function editRefusal(db: Db, a: AgreementRow): string | null {
  if (!isCurrent(db, a)) return `Version ${a.version} ist nicht die aktuelle Fassung.`;
  if (a.status === 'in_signing') return 'Die Vereinbarung ist in Unterzeichnung; stornieren Sie den Umschlag, bevor Sie eine neue Fassung erstellen.';
  if (!OPENABLE.includes(a.status)) return `Die Vereinbarung ist „${STATUS_LABELS[a.status]}“; eine neue Fassung ist nur für Entwürfe sowie abgelehnte oder stornierte Vereinbarungen möglich.`;
  return null;
}

const statusLabel = (a: AgreementRow, paper: boolean) => (paper ? PAPER_LABEL : STATUS_LABELS[a.status]);
const badge = (a: AgreementRow | undefined, paper = false) =>
  a ? html`<span class="badge ${a.status}${paper ? ' paper' : ''}">${statusLabel(a, paper)}</span>` : html`<span class="badge none">—</span>`;

const budgetKey = (year: number) => `budget:aqb:${year}`;
function budgetOf(db: Db, year: number): number | null {
  const row = db.prepare('SELECT value FROM settings WHERE key = ?').get(budgetKey(year)) as { value: string } | undefined;
  return row && /^\d+$/.test(row.value) ? Number(row.value) : null;
}
function setBudget(store: Store, year: number, cents: number | null): void {
  store.write(() => {
    if (cents === null) store.db.prepare('DELETE FROM settings WHERE key = ?').run(budgetKey(year));
    else store.db.prepare('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(budgetKey(year), String(cents));
  });
}

/**
 * The form's amount, read by the one German amount parser the tables use (batch/numbers.ts):
 * undefined when empty, null when it is no amount.
 */
export function parseGermanAmount(text: string): number | undefined | null {
  if (text.trim() === '') return undefined;
  return parseGermanNumber(text) ?? null;
}

const amountText = (euros: number | undefined) =>
  euros === undefined ? '' : new Intl.NumberFormat('de-DE', { minimumFractionDigits: Number.isInteger(euros) ? 0 : 2, maximumFractionDigits: 2 }).format(euros);

function contactsFor(db: Db, user: User): Contacts {
  return {
    clerk: { name: user.displayName, email: user.email ?? '' },
    signatories: storedContacts(db).map((c) => ({ party: c.party, name: c.name, email: c.email })),
  };
}

interface Missing {
  agreement: AgreementRow;
  name: string;
  role: string;
}

/** Partner signatories of the given agreements without a stored e-mail address. */
function missingAddresses(rows: AgreementRow[], contacts: Contacts): Missing[] {
  const out: Missing[] = [];
  for (const a of rows) {
    const input = JSON.parse(a.input_json) as { signatories?: { partner?: { name: string; role: string }[] } };
    for (const s of input.signatories?.partner ?? []) if (!emailFor(contacts, a.partner_id, s.name)) out.push({ agreement: a, name: s.name, role: s.role });
  }
  return out;
}

function sendFile(res: Response, store: Store, fileId: number, name: string, type: string, disposition: 'inline' | 'attachment') {
  sendDownload(res, readStoredFile(store.dataDir, fileById(store.db, fileId)), { name, type, disposition });
}

/** The draft PDF or DOCX of one agreement version (shared by the page and the API route). */
function sendDraft(res: Response, store: Store, id: number, format: 'pdf' | 'docx', disposition: 'inline' | 'attachment') {
  const a = agreementOr404(store, id);
  if (format === 'pdf') return sendFile(res, store, a.pdf_file_id, `${a.file_base}-v${a.version}.pdf`, 'application/pdf', disposition);
  if (!a.docx_file_id) throw notFound('Zu dieser Version gibt es kein DOCX.');
  sendFile(res, store, a.docx_file_id, `${a.file_base}-v${a.version}.docx`, 'application/vnd.openxmlformats-officedocument.wordprocessingml.document', disposition);
}

// ───────────────────────────── year data ─────────────────────────────

interface Cell {
  agreement: AgreementRow;
  paper: boolean;
  /** Legally concluded: signed on paper, or electronically with the written form met (every signature qualified). */
  concluded: boolean;
}

/** Agreements whose completed envelope met the written form electronically (§ 3a Abs. 2 VwVfG). */
function writtenFormIds(db: Store['db']): Set<number> {
  return new Set((db.prepare("SELECT agreement_id FROM envelopes WHERE status = 'completed' AND written_form = 1").all() as { agreement_id: number }[]).map((r) => r.agreement_id));
}

function yearData(store: Store, year: number, type?: Type) {
  const db = store.db;
  const rows = currentAgreements(store, { year, type });
  const paperIds = paperSignedIds(db);
  const electronic = writtenFormIds(db);
  const concluded = (a: AgreementRow) => a.status === 'signed' && (paperIds.has(a.id) || electronic.has(a.id));
  const byKey = new Map(rows.map((r) => [`${r.type}:${r.partner_id}`, r]));
  const types = type ? [type] : [...TYPES];
  const partners = listPartners().map((p) => ({
    id: p.id,
    name: p.name,
    cells: Object.fromEntries(
      types.map((t) => {
        const a = byKey.get(`${t}:${p.id}`);
        return [t, a ? ({ agreement: a, paper: paperIds.has(a.id), concluded: concluded(a) } as Cell) : null];
      }),
    ) as Partial<Record<Type, Cell | null>>,
  }));
  // Agreements with partners outside the registry are listed too.
  const known = new Set(listPartners().map((p) => p.id));
  const others = rows.filter((r) => !known.has(r.partner_id));
  const counts: Record<string, number> = {};
  for (const r of rows) {
    const key = paperIds.has(r.id) ? 'paper' : r.status;
    counts[key] = (counts[key] ?? 0) + 1;
    if (concluded(r)) counts.concluded = (counts.concluded ?? 0) + 1;
  }
  const aqbSum = rows.filter((r) => r.type === 'aqb').reduce((s, r) => s + (r.amount_cents ?? 0), 0);
  const budget = budgetOf(db, year);
  return {
    year,
    types,
    partners,
    others,
    rows,
    counts,
    missing: types.reduce((n, t) => n + partners.filter((p) => !p.cells[t]).length, 0),
    aqbSumCents: aqbSum,
    aqbBudgetCents: budget,
    differenceCents: budget === null ? null : budget - aqbSum,
  };
}

// ───────────────────────────── the agreement form ─────────────────────────────

interface Row2 {
  name: string;
  role: string;
}
interface FormState {
  type: string;
  year: string;
  partner: string;
  amount: string;
  measures: { category: string; projects: string[] }[];
  steering: string;
  date: string;
  signingOrder: string;
  ministry: Row2[];
  partnerSigs: Row2[];
  /** Kept from a stored input the form does not edit: edition, ministry override, a partner object. */
  edition: string;
  extra: string;
}

const str = (v: unknown): string => (typeof v === 'string' ? v.trim() : Array.isArray(v) ? str(v[v.length - 1]) : '');
/** A list from the form: an array, an object with numeric keys (qs beyond its array limit), or one value. */
function list(v: unknown): unknown[] {
  if (Array.isArray(v)) return v;
  if (v && typeof v === 'object')
    return Object.entries(v as Record<string, unknown>)
      .filter(([k]) => /^\d+$/.test(k))
      .sort(([a], [b]) => Number(a) - Number(b))
      .map(([, x]) => x);
  if (typeof v === 'string') return [v];
  return [];
}
const obj = (v: unknown) => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {});
const rows2 = (v: unknown): Row2[] => list(v).map((r) => ({ name: str(obj(r).name), role: str(obj(r).role) }));

function stateFromBody(body: Record<string, unknown>): FormState {
  const sig = obj(body.signatories);
  return {
    type: str(body.type),
    year: str(body.year),
    partner: str(body.partner),
    amount: str(body.amount),
    measures: list(body.measures).map((m) => ({ category: str(obj(m).category), projects: list(obj(m).projects).map(str) })),
    steering: str(body.steering),
    date: str(body.date),
    signingOrder: str(body.signingOrder),
    ministry: rows2(sig.ministry),
    partnerSigs: rows2(sig.partner),
    edition: str(body.edition),
    extra: str(body.extra),
  };
}

function stateFromInput(input: AgreementInput): FormState {
  const extra: Record<string, unknown> = {};
  if (input.ministry) extra.ministry = input.ministry;
  if (typeof input.partner !== 'string') extra.partner = input.partner;
  return {
    type: input.type,
    year: String(input.year),
    partner: typeof input.partner === 'string' ? input.partner : input.partner.id,
    amount: amountText(input.amount),
    measures: (input.measures ?? []).map((m) => ({ category: m.category, projects: [...m.projects] })),
    steering: input.steering ?? '',
    date: input.date ?? '',
    signingOrder: input.signingOrder ?? '',
    ministry: input.signatories.ministry ?? [],
    partnerSigs: input.signatories.partner,
    edition: input.edition ?? '',
    extra: Object.keys(extra).length ? JSON.stringify(extra) : '',
  };
}

function emptyState(q: { year?: string; type?: string; partner?: string }): FormState {
  return {
    type: q.type === 'sgb2' ? 'sgb2' : 'aqb',
    year: q.year && /^\d{4}$/.test(q.year) ? q.year : String(thisYear()),
    partner: q.partner && findPartner(q.partner) ? q.partner : '',
    amount: '',
    measures: [],
    steering: '',
    date: '',
    signingOrder: '',
    ministry: [],
    partnerSigs: [],
    edition: '',
    extra: '',
  };
}

const blank2 = (r: Row2) => !r.name && !r.role;

/** The form as an agreement input (blank rows dropped) plus problems the form itself finds (amount, category). */
function inputFromState(s: FormState): { input: Record<string, unknown>; pre: Problem[] } {
  const pre: Problem[] = [];
  const input: Record<string, unknown> = {};
  if (s.type) input.type = s.type;
  if (s.year) {
    if (/^\d{1,4}$/.test(s.year)) input.year = Number(s.year);
    else {
      input.year = s.year;
      pre.push({ path: 'year', message: 'bitte als Jahreszahl angeben, z. B. 2023' });
    }
  }
  if (s.edition) input.edition = s.edition;
  let extra: Record<string, unknown> = {};
  try {
    extra = s.extra ? obj(JSON.parse(s.extra)) : {};
  } catch {
    /* a tampered hidden field: ignored */
  }
  const custom = obj(extra.partner);
  if (s.partner) input.partner = custom.id === s.partner ? custom : s.partner;
  if (s.type !== 'sgb2') {
    const amount = parseGermanAmount(s.amount);
    if (amount === null) {
      input.amount = s.amount;
      pre.push({ path: 'amount', message: 'bitte als Betrag in Euro angeben, z. B. 444.000 oder 444000,50' });
    } else if (amount !== undefined) input.amount = amount;
    const measures = s.measures
      .map((m) => ({ category: m.category, projects: m.projects.filter((p) => p !== '') }))
      .filter((m) => m.category || m.projects.length);
    measures.forEach((m, i) => {
      if (!m.category) pre.push({ path: `measures[${i}].category`, message: 'bitte eine Maßnahmenart auswählen' });
    });
    input.measures = measures;
    if (s.steering) input.steering = s.steering;
  }
  if (s.date) input.date = s.date;
  if (s.signingOrder) input.signingOrder = s.signingOrder;
  if (extra.ministry) input.ministry = extra.ministry;
  const ministry = s.ministry.filter((r) => !blank2(r));
  const partner = s.partnerSigs.filter((r) => !blank2(r));
  input.signatories = { ...(ministry.length ? { ministry } : {}), partner };
  return { input, pre };
}

/** The form's state with blank rows dropped (so error indices match the rows shown). */
function compact(s: FormState): FormState {
  return {
    ...s,
    measures: s.measures.map((m) => ({ category: m.category, projects: m.projects.filter((p) => p !== '') })).filter((m) => m.category || m.projects.length),
    ministry: s.ministry.filter((r) => !blank2(r)),
    partnerSigs: s.partnerSigs.filter((r) => !blank2(r)),
  };
}

/** Validates the form: the model's problems (with the form's own for amount and category taking precedence), then resolution. */
function validateForm(s: FormState): { ok: true; input: AgreementInput; resolved: ResolvedAgreement } | { ok: false; problems: Problem[] } {
  const { input, pre } = inputFromState(s);
  const parsed = AgreementInput.safeParse(input);
  let problems: Problem[] = parsed.success ? [] : problemsFrom(parsed.error);
  const prePaths = new Set(pre.map((p) => p.path));
  problems = [...pre, ...problems.filter((p) => !prePaths.has(p.path))];
  if (problems.length || !parsed.success) return { ok: false, problems };
  try {
    return { ok: true, input: parsed.data, resolved: resolveAgreement(parsed.data) };
  } catch (e) {
    if (e instanceof ValidationError) return { ok: false, problems: e.problems };
    throw e;
  }
}

/** Model path → form field name: measures[1].projects[0] → measures[1][projects][0]. */
export const pathToName = (path: string) => path.replace(/\.([A-Za-z_][A-Za-z0-9_]*)/g, '[$1]');
const idOf = (name: string) => `f-${name.replace(/[^a-zA-Z0-9]+/g, '-')}`;

const SEGMENT_LABELS: Record<string, string> = {
  type: 'Art',
  year: 'Jahr',
  edition: 'Fassung',
  partner: 'Partner',
  amount: 'Betrag',
  measures: 'Maßnahmen',
  category: 'Maßnahmenart',
  projects: 'Projekte',
  steering: '§ 6 Steuerung',
  date: 'Datum',
  signingOrder: 'Reihenfolge der Unterschriften',
  ministry: 'Ministerium',
  signatories: 'Unterzeichnende',
  name: 'Name',
  role: 'Funktion',
  agreements: 'Vereinbarungen (ganze Datei)',
  total: 'Gesamtbetrag',
  complete: 'Vollständigkeit',
};

/** A model path in German: measures[1].projects[0] → „Maßnahme 2, Projekt 1“. */
export function germanLabel(path: string): string {
  if (path === '(root)' || path === '(body)') return 'Eingabe';
  const parts: string[] = [];
  const tokens = path.match(/[A-Za-z_][A-Za-z0-9_]*|\[\d+\]/g) ?? [path];
  tokens.forEach((t, i) => {
    const idx = /^\[(\d+)\]$/.exec(t);
    const prev = tokens[i - 1];
    if (idx) {
      const n = Number(idx[1]) + 1;
      if (prev === 'measures') parts[parts.length - 1] = `Maßnahme ${n}`;
      else if (prev === 'projects') parts[parts.length - 1] = `Projekt ${n}`;
      else if (prev === 'agreements') parts[parts.length - 1] = `Eintrag ${n}`;
      else parts.push(`Nr. ${n}`);
      return;
    }
    if (prev === 'signatories' && t === 'partner') parts[parts.length - 1] = 'Unterzeichnende (Partner)';
    else if (prev === 'signatories' && t === 'ministry') parts[parts.length - 1] = 'Unterzeichnende (Ministerium)';
    else parts.push(SEGMENT_LABELS[t] ?? t);
  });
  return parts.join(', ');
}

const MESSAGES: Record<string, string> = {
  'is required': 'ist erforderlich',
  'must not be empty': 'darf nicht leer sein',
  'must list at least one project': 'mindestens ein Projekt angeben',
  'is required for an AQB agreement': 'ist bei AQB erforderlich',
  'must list at least one measure category': 'mindestens eine Maßnahme angeben',
  'must name at least one signatory': 'mindestens eine unterzeichnende Person angeben (Name und Funktion)',
  'must be greater than 0': 'muss größer als 0 sein',
  'must have at most 2 decimal places (whole cents)': 'höchstens zwei Nachkommastellen (ganze Cent)',
};
const germanMessage = (m: string) => MESSAGES[m] ?? m;
const problemText = (p: Problem) => `${germanLabel(p.path)}: ${germanMessage(p.message)}`;

interface FormView {
  mode: 'new' | 'edit';
  agreement?: AgreementRow;
  state: FormState;
  problems: Problem[];
  /** Extra empty rows per group (after "Zeile hinzufügen"). */
  notice?: string;
}

function errorMap(problems: Problem[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of problems) {
    const name = pathToName(p.path);
    out[name] = out[name] ? `${out[name]}; ${germanMessage(p.message)}` : problemText(p);
  }
  return out;
}

function selectField(opts: { name: string; label: string; value: string; options: [string, string][]; errors: Record<string, string>; required?: boolean; hint?: string; disabled?: boolean }): Html {
  const id = idOf(opts.name);
  const error = opts.errors[opts.name];
  const describedBy = [opts.hint ? `${id}-hint` : '', error ? `${id}-error` : ''].filter(Boolean).join(' ');
  return html`<div class="field${error ? ' invalid' : ''}">
  <label for="${id}">${opts.label}${opts.required ? html` <span aria-hidden="true">*</span>` : ''}</label>
  <select id="${id}" name="${opts.name}"${opts.required ? html` required` : ''}${error ? html` aria-invalid="true"` : ''}${describedBy ? html` aria-describedby="${describedBy}"` : ''}${opts.disabled ? html` disabled` : ''}>
    ${opts.options.map(([v, l]) => html`<option value="${v}"${v === opts.value ? html` selected` : ''}>${l}</option>`)}
  </select>
  ${opts.hint ? html`<p class="hint" id="${id}-hint">${opts.hint}</p>` : ''}
  ${error ? html`<p class="error" id="${id}-error">${error}</p>` : ''}
</div>`;
}

/** A compact input inside a row (label visible, error below). */
function rowInput(name: string, label: string, value: string, errors: Record<string, string>, attrs?: Html): Html {
  const id = idOf(name);
  const error = errors[name];
  return html`<div class="field${error ? ' invalid' : ''}">
  <label for="${id}">${label}</label>
  <input id="${id}" name="${name}" type="text" value="${value}"${error ? html` aria-invalid="true" aria-describedby="${id}-error"` : ''} ${attrs ?? ''}>
  ${error ? html`<p class="error" id="${id}-error">${error}</p>` : ''}
</div>`;
}

const groupError = (name: string, errors: Record<string, string>) => (errors[name] ? html`<p class="error" id="${idOf(name)}-error">${errors[name]}</p>` : '');

function signatoryGroup(party: 'ministry' | 'partner', rows: Row2[], errors: Record<string, string>, extra: number): Html {
  const prefix = `signatories[${party}]`;
  const shown = [...rows, ...Array.from({ length: extra }, () => ({ name: '', role: '' }))];
  return html`<fieldset class="group">
  <legend>${party === 'ministry' ? 'Unterzeichnende des Ministeriums' : 'Unterzeichnende des Partners'}</legend>
  ${party === 'ministry' ? html`<p class="hint">Leer lassen: die am Datum amtierende Ministerin bzw. der amtierende Minister unterzeichnet.</p>` : html`<p class="hint">Name und Funktion, in der Reihenfolge der Unterschriften (höchstens 6).</p>`}
  ${groupError(prefix, errors)}
  <div class="rows" id="${idOf(prefix)}" data-prefix="${prefix}">
    ${shown.map(
      (r, i) => html`<div class="row" data-index="${i}">
      ${rowInput(`${prefix}[${i}][name]`, `Name ${i + 1}`, r.name, errors, html`autocomplete="off"`)}
      ${rowInput(`${prefix}[${i}][role]`, `Funktion ${i + 1}`, r.role, errors, html`autocomplete="off"`)}
      ${groupError(`${prefix}[${i}]`, errors)}
    </div>`,
    )}
  </div>
  <button type="submit" name="action" value="add:${prefix}" class="add-row" data-add="${idOf(prefix)}" formnovalidate>Zeile hinzufügen</button>
</fieldset>`;
}

function measureBlock(i: number, m: { category: string; projects: string[] }, errors: Record<string, string>, extraProjects: number): Html {
  const prefix = `measures[${i}]`;
  const projects = [...m.projects, ...Array.from({ length: extraProjects }, () => '')];
  if (projects.length === 0) projects.push('');
  const pprefix = `${prefix}[projects]`;
  return html`<div class="row measure" data-index="${i}">
  ${selectField({
    name: `${prefix}[category]`,
    label: `Maßnahmenart ${i + 1}`,
    value: m.category,
    options: [['', '— bitte wählen —'], ...MEASURE_CATEGORIES.map((c) => [c.id, c.title] as [string, string])],
    errors,
  })}
  ${groupError(prefix, errors)}
  <fieldset class="group">
    <legend>Projekte zu Maßnahme ${i + 1}</legend>
    ${groupError(pprefix, errors)}
    <div class="rows" id="${idOf(pprefix)}" data-prefix="${pprefix}">
      ${projects.map((p, j) => html`<div class="row" data-index="${j}">${rowInput(`${pprefix}[${j}]`, `Projekt ${j + 1}`, p, errors)}</div>`)}
    </div>
    <button type="submit" name="action" value="add:${pprefix}" class="add-row" data-add="${idOf(pprefix)}" formnovalidate>Zeile hinzufügen</button>
  </fieldset>
</div>`;
}

function agreementForm(v: FormView, csrf: string, user: User | null): Html {
  const s = v.state;
  const errors = errorMap(v.problems);
  const edit = v.mode === 'edit' && v.agreement;
  const action = edit ? `/vereinbarungen/${v.agreement!.id}` : '/vereinbarungen';
  const title = edit ? `Neue Fassung: ${v.agreement!.title}` : 'Neue Vereinbarung';
  const partnerOptions: [string, string][] = [['', '— bitte wählen —'], ...listPartners().map((p) => [p.id, p.name] as [string, string])];
  if (s.partner && !findPartner(s.partner)) partnerOptions.push([s.partner, `${s.partner} (nicht im Verzeichnis)`]);
  const measures = s.measures.length ? s.measures : [];
  return page(
    { title, user, csrf, active: 'clerk', scripts: ['agreement-form.js'], notice: v.notice ? { kind: 'info', text: v.notice } : null },
    html`<p><a href="${edit ? `/vereinbarungen/${v.agreement!.id}` : '/jahre'}">← ${edit ? 'zurück zur Vereinbarung' : 'zur Jahresübersicht'}</a></p>
<h1>${title}</h1>
${v.problems.length
  ? html`<div class="error-summary" role="alert" tabindex="-1" id="fehler">
  <h2>Bitte korrigieren Sie ${v.problems.length === 1 ? 'eine Angabe' : `${v.problems.length} Angaben`}</h2>
  <ul class="problems">${v.problems.map((p) => html`<li><a href="#${idOf(pathToName(p.path))}">${problemText(p)}</a></li>`)}</ul>
  <p>Es wurde nichts gespeichert.</p>
</div>`
  : ''}
<form method="post" action="${action}" class="agreement-form" novalidate>
  ${csrfField(csrf)}
  <button type="submit" name="action" value="save" class="visually-hidden" tabindex="-1" aria-hidden="true">Speichern</button>
  <input type="hidden" name="edition" value="${s.edition}">
  <input type="hidden" name="extra" value="${s.extra}">
  <fieldset>
    <legend>Vereinbarung</legend>
    <div class="grid2">
      ${edit
        ? html`<div class="field"><span class="label">Art, Jahr, Partner</span><p>${TYPE_LABELS[v.agreement!.type]} ${v.agreement!.year} – ${v.agreement!.partner_name} (neue Version ${versionHint(v.agreement!)})</p>
        <input type="hidden" name="type" value="${s.type}"><input type="hidden" name="year" value="${s.year}"><input type="hidden" name="partner" value="${s.partner}">
        ${['type', 'year', 'partner'].map((k) => (errors[k] ? html`<p class="error" id="${idOf(k)}">${errors[k]}</p>` : ''))}</div>`
        : html`${selectField({ name: 'type', label: 'Art', value: s.type, options: [['aqb', 'AQB (Ausbildungs- und Qualifizierungsbudget)'], ['sgb2', 'SGB II (§§ 16a, 24, 28)']], errors, required: true })}
      ${field({ name: 'year', label: 'Jahr', value: s.year, type: 'number', errors, required: true, attrs: html`min="2014" max="2100" step="1" inputmode="numeric"` })}
      ${selectField({ name: 'partner', label: 'Partner (Landkreis oder kreisfreie Stadt)', value: s.partner, options: partnerOptions, errors, required: true })}`}
      ${field({ name: 'date', label: 'Datum der Vereinbarung', value: s.date, type: 'date', errors, hint: 'Leer lassen: heute, wenn das Jahr das laufende ist, sonst der 1. Juli des Jahres.' })}
    </div>
  </fieldset>
  ${edit && s.type === 'sgb2' ? '' : html`<fieldset class="aqb-only" id="aqb-teil">
    <legend>Nur AQB</legend>
    ${field({ name: 'amount', label: 'Betrag in Euro', value: s.amount, errors, hint: 'z. B. 444.000 oder 444000,50', attrs: html`inputmode="decimal" autocomplete="off"` })}
    ${selectField({
      name: 'steering',
      label: '§ 6 Steuerung',
      value: s.steering,
      options: [['', 'Standard der Fassung'], ['dialog', STEERING_LABELS.dialog!], ['exchange', STEERING_LABELS.exchange!]],
      errors,
    })}
    <fieldset class="group">
      <legend>Maßnahmen und Projekte</legend>
      <p class="hint">Je Maßnahmenart ein Block, je Projekt eine Zeile. Leere Zeilen werden ignoriert; zum Entfernen das Feld leeren.</p>
      ${groupError('measures', errors)}
      <div class="rows" id="${idOf('measures')}" data-prefix="measures">
        ${[...measures.map((m, i) => measureBlock(i, m, errors, 1)), ...(measures.length < MEASURE_CATEGORIES.length ? [measureBlock(measures.length, { category: '', projects: [] }, errors, 0)] : [])]}
      </div>
      <button type="submit" name="action" value="add:measures" class="add-row" data-add="${idOf('measures')}" formnovalidate>Maßnahme hinzufügen</button>
    </fieldset>
  </fieldset>`}
  <fieldset>
    <legend>Unterschriften</legend>
    ${selectField({ name: 'signingOrder', label: 'Reihenfolge der Unterschriften', value: s.signingOrder, options: [['', 'Standard (Ministerium zuerst)'], ['ministry-first', ORDER_LABELS['ministry-first']!], ['partner-first', ORDER_LABELS['partner-first']!]], errors })}
    ${signatoryGroup('ministry', s.ministry, errors, s.ministry.length ? 0 : 1)}
    ${signatoryGroup('partner', s.partnerSigs, errors, 1)}
  </fieldset>
  <div class="actions">
    <button type="submit" name="action" value="save" class="primary">${edit ? 'Neue Fassung erzeugen' : 'Vereinbarung erzeugen'}</button>
    <button type="submit" name="action" value="preview" formaction="/vereinbarungen/vorschau" formtarget="_blank">Vorschau (PDF)</button>
  </div>
</form>`,
  );
}

const versionHint = (a: AgreementRow) => `nach v${a.version}`;

/** Applies an "add row" button (the form without JavaScript): one more empty row in that group. */
function addRow(s: FormState, action: string): FormState {
  const target = action.slice(4);
  const c = compact(s);
  // compact() drops blank rows; the renderer adds one empty row per group, plus one more here.
  const m = /^measures\[(\d+)\]\[projects\]$/.exec(target);
  if (target === 'measures') c.measures.push({ category: '', projects: [] });
  else if (m) {
    const i = Number(m[1]);
    if (c.measures[i]) c.measures[i]!.projects.push('');
  } else if (target === 'signatories[ministry]') c.ministry.push({ name: '', role: '' });
  else if (target === 'signatories[partner]') c.partnerSigs.push({ name: '', role: '' });
  return c;
}

// ───────────────────────────── pages: helpers ─────────────────────────────

const NOTICES: Record<string, string> = {
  created: 'Die Vereinbarung wurde als Entwurf erzeugt.',
  version: 'Die neue Fassung wurde als Entwurf erzeugt.',
  resent: 'Der Link wurde erneut gesendet; frühere Links der Person sind ungültig.',
  cancelled: 'Der Umschlag wurde storniert; alle offenen Links sind ungültig.',
  paper: 'Der Scan wurde archiviert; die Vereinbarung gilt als auf Papier unterzeichnet.',
  budget: 'Das Budget wurde gespeichert.',
  contact: 'Die E-Mail-Adresse wurde gespeichert.',
};
const noticeOf = (key: unknown) => (typeof key === 'string' && NOTICES[key] ? { kind: 'ok' as const, text: NOTICES[key]! } : null);

function errorPage(title: string, text: string | Html, user: User | null, csrf: string, back?: [string, string]): Html {
  return page({ title, user, csrf, active: 'clerk' }, html`<h1>${title}</h1><div class="notice error" role="alert">${text}</div>${back ? html`<p><a href="${back[0]}">${back[1]}</a></p>` : ''}`);
}

// ───────────────────────────── import ─────────────────────────────

type UploadKindSheet = 'xlsx' | 'csv' | 'json';

/** Reads an uploaded batch (or single agreement) via a private temporary file, which is always removed. */
async function readUpload(buffer: Buffer, kind: UploadKindSheet): Promise<ResolvedAgreement[]> {
  const dir = mkdtempSync(join(tmpdir(), 'zv-import-'));
  try {
    const path = join(dir, `upload.${kind}`);
    writeFileSync(path, buffer, { mode: 0o600 });
    return await readAgreementInputs(path);
  } catch (e) {
    // The problems without the temporary path in the message.
    if (e instanceof BatchError || e instanceof ValidationError) throw invalid(e.problems, 'Die Datei enthält Fehler; es wurde nichts erzeugt.');
    throw e;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Problems of an upload in the file's terms: "Eintrag 4 (Landkreis Kassel): Betrag" for JSON, the table's "Zeile 14, Spalte Betrag" otherwise. */
function readableProblems(problems: Problem[], buffer: Buffer, kind: UploadKindSheet): { where: string; message: string }[] {
  let entries: unknown[] = [];
  if (kind === 'json') {
    try {
      const data = JSON.parse(buffer.toString('utf8').replace(/^\uFEFF/, '')) as { agreements?: unknown[] };
      entries = Array.isArray(data?.agreements) ? data.agreements : [];
    } catch {
      /* unreadable JSON: problems say so */
    }
  }
  return problems.map((p) => {
    const m = /^agreements\[(\d+)\]\.?(.*)$/.exec(p.path);
    if (m) {
      const i = Number(m[1]);
      const partner = obj(entries[i]).partner;
      const name = typeof partner === 'string' ? (findPartner(partner)?.name ?? partner) : typeof obj(partner).name === 'string' ? String(obj(partner).name) : '';
      return { where: `Eintrag ${i + 1}${name ? ` (${name})` : ''}${m[2] ? `: ${germanLabel(m[2])} (${m[2]})` : ''}`, message: germanMessage(p.message) };
    }
    return { where: /^[A-Za-z_(]/.test(p.path) && !/^(Zeile|Kopfzeile|Tabelle|#|\()/.test(p.path) ? `${germanLabel(p.path)} (${p.path})` : p.path, message: germanMessage(p.message) };
  });
}

/** In-signing versions that would block generating these agreements. */
function blocked(db: Db, agreements: ResolvedAgreement[]): Problem[] {
  const q = db.prepare("SELECT version FROM agreements WHERE type = ? AND year = ? AND partner_id = ? AND status = 'in_signing'");
  return agreements.flatMap((r) => {
    const row = q.get(r.type, r.year, r.partner.id) as { version: number } | undefined;
    return row ? [{ path: r.fileBase, message: `Version ${row.version} ist in Unterzeichnung – bitte zuerst den Umschlag stornieren` }] : [];
  });
}

function importPage(user: User | null, csrf: string, body: Html, status?: { kind: 'ok' | 'error' | 'info'; text: string }) {
  return page(
    { title: 'Jahrestabelle hochladen', user, csrf, active: 'clerk', notice: status ?? null },
    html`<p><a href="/jahre">← Jahresübersicht</a></p>
<h1>Jahrestabelle hochladen</h1>
<p>Eine Tabelle (Excel oder CSV, Vorlage: <code>examples/vorlage-zielvereinbarungen.xlsx</code>) oder eine JSON-Datei mit allen Vereinbarungen eines Jahres. Alles wird zuerst geprüft: enthält die Datei einen Fehler, wird <strong>nichts</strong> erzeugt.</p>
<form method="post" action="/import" enctype="multipart/form-data" class="narrow">
  ${csrfField(csrf)}
  <div class="field">
    <label for="f-file">Datei (.xlsx, .csv oder .json, höchstens 5 MB)</label>
    <input id="f-file" name="file" type="file" accept=".xlsx,.csv,.json,application/json,text/csv,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" required>
  </div>
  <div class="field checkbox"><input id="f-dryRun" name="dryRun" type="checkbox" value="1"> <label for="f-dryRun">nur prüfen, nichts erzeugen</label></div>
  <button type="submit" class="primary">Hochladen</button>
</form>
${body}`,
  );
}

function agreementList(rows: { id?: number; type: string; year: number; partner: string; amount: number | null | undefined; version?: number; status?: string }[]): Html {
  return html`<table>
<thead><tr><th>Partner</th><th>Art</th><th>Jahr</th><th class="num">Betrag</th>${rows.some((r) => r.version) ? html`<th>Version</th><th>Status</th>` : ''}</tr></thead>
<tbody>${rows.map(
    (r) => html`<tr><td>${r.id ? html`<a href="/vereinbarungen/${r.id}">${r.partner}</a>` : r.partner}</td><td>${TYPE_LABELS[r.type as Type] ?? r.type}</td><td>${r.year}</td><td class="num">${euro(r.amount ?? null)}</td>${r.version ? html`<td>v${r.version}</td><td>${r.status}</td>` : ''}</tr>`,
  )}</tbody>
</table>`;
}

// ───────────────────────────── JSON shapes ─────────────────────────────

const StatusEnum = z.enum(['draft', 'in_signing', 'signed', 'declined', 'cancelled', 'superseded']);
const AgreementSummary = z.object({
  id: z.number().int(),
  type: AgreementType,
  year: z.number().int(),
  partnerId: z.string(),
  partnerName: z.string(),
  version: z.number().int(),
  title: z.string(),
  amount: z.number().nullable().describe('Euro (AQB)'),
  status: StatusEnum,
  statusLabel: z.string(),
  paperSigned: z.boolean(),
  createdAt: z.string(),
  createdBy: z.string(),
});
const PaperInfo = z.object({ fileId: z.number().int(), sha256: z.string(), size: z.number().int(), uploadedBy: z.string(), uploadedAt: z.string(), note: z.string() });
const SignatoryInfo = z.object({
  position: z.number().int(),
  party: z.enum(['ministry', 'partner']),
  name: z.string(),
  role: z.string(),
  email: z.string().nullable(),
  status: z.enum(['pending', 'signed', 'declined']),
  signedAt: z.string().nullable(),
  declinedAt: z.string().nullable(),
  declineReason: z.string().nullable(),
});
const EnvelopeInfo = z.object({
  id: z.number().int(),
  agreementId: z.number().int(),
  status: z.enum(['open', 'completed', 'declined', 'cancelled']),
  statusLabel: z.string(),
  createdAt: z.string(),
  closedAt: z.string().nullable(),
  signatories: z.array(SignatoryInfo),
});
const AgreementDetail = AgreementSummary.extend({
  input: z.unknown().describe('Die Eingabe (AgreementInput) dieser Version'),
  current: z.boolean(),
  versions: z.array(z.object({ id: z.number().int(), version: z.number().int(), status: StatusEnum, createdAt: z.string() })),
  envelope: EnvelopeInfo.nullable(),
  paper: PaperInfo.nullable(),
});
const ContactInfo = z.object({ party: z.string().describe('"ministry" oder die Partner-ID'), name: z.string(), email: z.string(), updatedAt: z.string().optional(), updatedBy: z.string().optional() });
const ContactEntry = z.object({
  party: z.string().trim().refine((p) => p === 'ministry' || !!findPartner(p), { message: 'must be "ministry" or a partner id from the registry' }),
  name: z.string().trim().min(1, { message: 'must not be empty' }).max(120),
  email: z.email({ message: 'must be an e-mail address (name@example.org)' }),
});
const YearData = z.object({
  year: z.number().int(),
  partners: z.array(z.object({ id: z.string(), name: z.string(), agreements: z.record(z.string(), AgreementSummary.nullable()) })),
  totals: z.object({
    aqbSum: z.number().describe('Euro, Summe der aktuellen AQB-Fassungen'),
    aqbBudget: z.number().nullable(),
    difference: z.number().nullable().describe('Budget minus Summe (negativ: überschritten)'),
    counts: z.record(z.string(), z.number().int()),
    withoutAgreement: z.number().int(),
  }),
});
const DryRunFlag = z
  .union([z.boolean(), z.enum(['true', 'false', '1', '0', 'on', ''])])
  .optional()
  .transform((v) => v === true || v === 'true' || v === '1' || v === 'on');

function summary(a: AgreementRow, paper: boolean): z.infer<typeof AgreementSummary> {
  return {
    id: a.id,
    type: a.type,
    year: a.year,
    partnerId: a.partner_id,
    partnerName: a.partner_name,
    version: a.version,
    title: a.title,
    amount: a.amount_cents === null ? null : a.amount_cents / 100,
    status: a.status,
    statusLabel: statusLabel(a, paper),
    paperSigned: paper,
    createdAt: a.created_at,
    createdBy: a.created_by,
  };
}

function envelopeInfo(s: Snapshot): z.infer<typeof EnvelopeInfo> {
  return {
    id: s.envelope.id,
    agreementId: s.envelope.agreement_id,
    status: s.envelope.status,
    statusLabel: ENVELOPE_STATUS_LABELS[s.envelope.status],
    createdAt: s.envelope.created_at,
    closedAt: s.envelope.closed_at,
    signatories: s.signatories.map((x) => ({
      position: x.position,
      party: x.party,
      name: x.name,
      role: x.role,
      email: x.email,
      status: x.status,
      signedAt: x.signed_at,
      declinedAt: x.declined_at,
      declineReason: x.decline_reason,
    })),
  };
}

const paperInfo = (p: PaperScan | undefined) => (p ? { fileId: p.fileId, sha256: p.sha256, size: p.size, uploadedBy: p.uploadedBy, uploadedAt: p.uploadedAt, note: p.note } : null);

function detailJson(ctx: AppContext, a: AgreementRow): z.infer<typeof AgreementDetail> {
  const db = ctx.svc.store.db;
  const paper = paperScanOf(db, a.id);
  const env = envelopesOf(ctx.svc, a.id)[0];
  return {
    ...summary(a, !!paper),
    input: JSON.parse(a.input_json),
    current: isCurrent(db, a),
    versions: versionsOf(db, a).map((v) => ({ id: v.id, version: v.version, status: v.status, createdAt: v.created_at })),
    envelope: env ? envelopeInfo(env) : null,
    paper: paperInfo(paper),
  };
}

function yearJson(store: Store, year: number): z.infer<typeof YearData> {
  const d = yearData(store, year);
  const paperIds = paperSignedIds(store.db);
  return {
    year,
    partners: d.partners.map((p) => ({
      id: p.id,
      name: p.name,
      agreements: Object.fromEntries(TYPES.map((t) => [t, p.cells[t] ? summary(p.cells[t]!.agreement, p.cells[t]!.paper) : null])),
    })).concat(d.others.map((a) => ({ id: a.partner_id, name: a.partner_name, agreements: { [a.type]: summary(a, paperIds.has(a.id)) } }))),
    totals: {
      aqbSum: d.aqbSumCents / 100,
      aqbBudget: d.aqbBudgetCents === null ? null : d.aqbBudgetCents / 100,
      difference: d.differenceCents === null ? null : d.differenceCents / 100,
      counts: d.counts,
      withoutAgreement: d.missing,
    },
  };
}

/** Stores a validated agreement as a new version (page and API); refuses while its current version is in signing. */
async function generateOne(ctx: AppContext, resolved: ResolvedAgreement, user: User | null): Promise<AgreementRow> {
  const busy = blocked(ctx.svc.store.db, [resolved]);
  if (busy.length) throw new HttpError(409, 'Nicht möglich', `${resolved.partner.name} ${TYPE_LABELS[resolved.type]} ${resolved.year}: ${busy[0]!.message}; es wurde nichts erzeugt.`, busy);
  try {
    const [row] = await generateIntoStore(ctx.svc.store, [resolved], actorOf(user));
    return row!;
  } catch (e) {
    // Another process opened an envelope meanwhile.
    if (e instanceof AgreementError) throw new HttpError(409, 'Nicht möglich', e.message.split('\n')[0]!, e.problems);
    throw e;
  }
}

function resolveOr422(input: AgreementInput): ResolvedAgreement {
  return resolveAgreement(input); // ValidationError → 422 with paths
}

/** Opens envelopes after checking the clerk's address and the signatories' addresses. */
async function openEnvelopes(ctx: AppContext, ids: number[], user: User) {
  const store = ctx.svc.store;
  const problems: FieldProblem[] = [];
  if (!user.email) problems.push({ path: 'clerk.email', message: 'Ihr Konto hat keine E-Mail-Adresse; Benachrichtigungen (z. B. bei Ablehnung) gehen an Sie. Bitte unter „Konto“ bzw. von der Verwaltung eintragen lassen.' });
  const rows: AgreementRow[] = [];
  ids.forEach((id, i) => {
    try {
      const a = getAgreement(store, id);
      if (!OPENABLE.includes(a.status)) problems.push({ path: `agreementIds[${i}]`, message: `${a.partner_name} ${TYPE_LABELS[a.type]} ${a.year} v${a.version} ist „${STATUS_LABELS[a.status]}“; nur Entwürfe sowie abgelehnte oder stornierte Vereinbarungen können versendet werden.` });
      else if (!isCurrent(store.db, a)) problems.push({ path: `agreementIds[${i}]`, message: `${a.partner_name} v${a.version} ist nicht die aktuelle Fassung.` });
      else rows.push(a);
    } catch {
      problems.push({ path: `agreementIds[${i}]`, message: `Die Vereinbarung #${id} gibt es nicht.` });
    }
  });
  const contacts = contactsFor(store.db, user);
  const missing = missingAddresses(rows, contacts);
  for (const m of missing) problems.push({ path: `contacts.${m.agreement.partner_id}`, message: `Keine E-Mail-Adresse für ${m.name} (${m.role}, ${m.agreement.partner_name}).` });
  if (problems.length) return { ok: false as const, problems, missing };
  const opened = await ctx.svc.openEnvelopes(rows.map((r) => r.id), contacts, actorOf(user));
  return { ok: true as const, opened };
}

const idsFrom = (v: unknown): number[] => [...new Set(list(v).map((x) => Number(x)).filter((n) => Number.isInteger(n) && n > 0))];

// ───────────────────────────── routes ─────────────────────────────

export function clerkRoutes(): AnyRoute[] {
  return [
    // ── years ──
    route({
      method: 'get',
      path: '/jahre',
      kind: 'page',
      access: CLERK,
      summary: 'Jahre mit Vereinbarungen',
      handler: ({ ctx, user, csrf, query }) => {
        const rows = currentAgreements(ctx.svc.store);
        const paperIds = paperSignedIds(ctx.svc.store.db);
        const years = new Map<number, Record<string, number>>();
        years.set(thisYear(), {});
        for (const r of rows) {
          const c = years.get(r.year) ?? {};
          const k = paperIds.has(r.id) ? 'paper' : r.status;
          c[k] = (c[k] ?? 0) + 1;
          years.set(r.year, c);
        }
        const keys: [string, string][] = [...(['draft', 'in_signing', 'signed', 'declined', 'cancelled'] as const).map((k) => [k, STATUS_LABELS[k]] as [string, string]), ['paper', PAPER_LABEL]];
        return page(
          { title: 'Vereinbarungen nach Jahren', user, csrf, active: 'clerk', notice: noticeOf((query as Record<string, unknown>).ok) },
          html`<h1>Vereinbarungen nach Jahren</h1>
<div class="actions">
  <a class="button primary" href="/vereinbarungen/neu">Neue Vereinbarung</a>
  <a class="button" href="/import">Jahrestabelle hochladen</a>
  <a class="button" href="/kontakte">E-Mail-Adressen</a>
</div>
<table>
<thead><tr><th>Jahr</th><th class="num">Vereinbarungen</th>${keys.map(([, l]) => html`<th class="num">${l}</th>`)}</tr></thead>
<tbody>${[...years.entries()]
            .sort(([a], [b]) => b - a)
            .map(
              ([y, c]) =>
                html`<tr><td><a href="/jahre/${y}">${y}</a></td><td class="num">${Object.values(c).reduce((s, n) => s + n, 0)}</td>${keys.map(([k]) => html`<td class="num">${c[k] ?? 0}</td>`)}</tr>`,
            )}</tbody>
</table>`,
        );
      },
    }),
    route({
      method: 'get',
      path: '/jahre/:year',
      kind: 'page',
      access: CLERK,
      summary: 'Jahresübersicht: alle Partner, Status, Beträge und Budget',
      params: z.object({ year: z.coerce.number().int().min(2014).max(2100) }),
      query: z.object({ type: z.enum(TYPES).optional().catch(undefined), ok: z.string().optional() }),
      handler: ({ ctx, user, csrf, params, query }) => {
        const d = yearData(ctx.svc.store, params.year, query.type);
        const over = d.differenceCents !== null && d.differenceCents < 0;
        const countKeys: [string, string][] = [...(['draft', 'in_signing', 'signed', 'declined', 'cancelled'] as const).map((k) => [k, STATUS_LABELS[k]] as [string, string]), ['paper', PAPER_LABEL]];
        const cell = (p: (typeof d.partners)[number], t: Type) => {
          const c = p.cells[t];
          if (!c) return html`<td>${badge(undefined)} <a href="/vereinbarungen/neu?year=${params.year}&amp;type=${t}&amp;partner=${p.id}" class="small">anlegen</a></td>${t === 'aqb' ? html`<td class="num">—</td>` : ''}`;
          const a = c.agreement;
          const selectable = OPENABLE.includes(a.status) && !c.paper;
          const legal = a.status === 'signed' ? (c.concluded ? html` <span class="badge concluded" title="Schriftform gewahrt">rechtswirksam</span>` : html` <span class="hint" title="Schriftform nicht gewahrt — qualifizierte Signatur oder Papierausfertigung erforderlich">Schriftform fehlt</span>`) : '';
          return html`<td>${selectable ? html`<input type="checkbox" name="agreementIds" value="${a.id}" id="sel-${a.id}" aria-label="${a.partner_name} ${TYPE_LABELS[t]} auswählen"> ` : ''}<a href="/vereinbarungen/${a.id}">${badge(a, c.paper)}</a>${legal} <span class="muted">v${a.version}</span></td>${t === 'aqb' ? html`<td class="num">${euro(a.amount_cents)}</td>` : ''}`;
        };
        return page(
          { title: `Vereinbarungen ${params.year}`, user, csrf, active: 'clerk', notice: noticeOf(query.ok) },
          html`<p><a href="/jahre">← alle Jahre</a></p>
<h1>Vereinbarungen ${params.year}</h1>
<div class="actions">
  <a class="button" href="/vereinbarungen/neu?year=${params.year}">Neue Vereinbarung</a>
  <a class="button" href="/import">Jahrestabelle hochladen</a>
  <a class="button" href="/kontakte">E-Mail-Adressen</a>
  <span>Filter:</span>
  <a href="/jahre/${params.year}"${!query.type ? html` aria-current="true"` : ''}>alle</a>
  <a href="/jahre/${params.year}?type=aqb"${query.type === 'aqb' ? html` aria-current="true"` : ''}>AQB</a>
  <a href="/jahre/${params.year}?type=sgb2"${query.type === 'sgb2' ? html` aria-current="true"` : ''}>SGB II</a>
</div>
<div class="totals">
  <div>Summe AQB (aktuelle Fassungen)<strong id="aqb-sum">${euro(d.aqbSumCents)}</strong></div>
  <div>Budget AQB ${params.year}<strong>${d.aqbBudgetCents === null ? 'nicht festgelegt' : euro(d.aqbBudgetCents)}</strong></div>
  <div>Differenz<strong class="${over ? 'over' : ''}">${d.differenceCents === null ? '—' : over ? html`${euro(-d.differenceCents)} über Budget` : html`${euro(d.differenceCents)} verfügbar`}</strong></div>
  <div>Ohne Vereinbarung<strong>${d.missing}</strong></div>
</div>
<p class="counts">${countKeys.filter(([k]) => d.counts[k]).map(([k, l]) => html`<span class="badge ${k === 'paper' ? 'signed paper' : k}">${l}: ${d.counts[k]}</span> `)}</p>
<p class="counts"><strong>Rechtswirksam geschlossen: <span id="concluded">${d.counts.concluded ?? 0}</span></strong> von ${(d.counts.signed ?? 0) + (d.counts.paper ?? 0)} unterzeichneten <span class="hint">(Schriftform: auf Papier, oder elektronisch mit qualifizierten Signaturen aller Unterzeichnenden, § 3a Abs. 2 VwVfG)</span></p>
<form method="post" action="/jahre/${params.year}/budget" class="inline-form">
  ${csrfField(csrf)}
  ${field({ name: 'budget', label: `AQB-Budget ${params.year} in Euro`, value: d.aqbBudgetCents === null ? '' : amountText(d.aqbBudgetCents / 100), hint: 'z. B. 27.700.000; leer lassen, um das Budget zu entfernen', attrs: html`inputmode="decimal"` })}
  <button type="submit">Budget speichern</button>
</form>
<form method="post" action="/umschlaege">
  ${csrfField(csrf)}
  <table class="dashboard">
    <thead><tr><th>Partner</th>${d.types.map((t) => html`<th>${TYPE_LABELS[t]}</th>${t === 'aqb' ? html`<th class="num">Betrag AQB</th>` : ''}`)}</tr></thead>
    <tbody>${d.partners.map((p) => html`<tr><th scope="row">${p.name}</th>${d.types.map((t) => cell(p, t))}</tr>`)}
    ${d.others.map((a) => html`<tr><th scope="row">${a.partner_name}</th><td colspan="${d.types.length + (d.types.includes('aqb') ? 1 : 0)}"><a href="/vereinbarungen/${a.id}">${TYPE_LABELS[a.type]} ${badge(a)}</a></td></tr>`)}</tbody>
    ${d.types.includes('aqb') ? html`<tfoot><tr><td>Summe (${d.partners.length} Partner)</td>${d.types.map((t) => html`<td></td>${t === 'aqb' ? html`<td class="num">${euro(d.aqbSumCents)}</td>` : ''}`)}</tr></tfoot>` : ''}
  </table>
  <p class="hint">Auswählbar sind Entwürfe sowie abgelehnte und stornierte Vereinbarungen. Die Unterzeichnenden der Partner erhalten ihren persönlichen Link per E-Mail.</p>
  <button type="submit" class="primary">Umschläge öffnen</button>
</form>`,
        );
      },
    }),
    route({
      method: 'post',
      path: '/jahre/:year/budget',
      kind: 'page',
      access: CLERK,
      summary: 'AQB-Budget eines Jahres festlegen',
      params: z.object({ year: z.coerce.number().int().min(2014).max(2100) }),
      handler: ({ ctx, user, csrf, params, req, res }) => {
        const text = str((req.body as Record<string, unknown>).budget);
        const euros = parseGermanAmount(text);
        if (euros === null || (euros !== undefined && euros <= 0)) {
          res.status(422);
          return errorPage('Ungültiges Budget', `„${text}“ ist kein Betrag in Euro (z. B. 27.700.000).`, user, csrf, [`/jahre/${params.year}`, 'zurück zur Jahresübersicht']);
        }
        setBudget(ctx.svc.store, params.year, euros === undefined ? null : Math.round(euros * 100));
        res.redirect(303, `/jahre/${params.year}?ok=budget`);
      },
    }),

    // ── the agreement form ──
    route({
      method: 'get',
      path: '/vereinbarungen/neu',
      kind: 'page',
      access: CLERK,
      summary: 'Formular: neue Vereinbarung',
      query: z.object({ year: z.string().optional(), type: z.string().optional(), partner: z.string().optional() }),
      handler: ({ user, csrf, query }) => agreementForm({ mode: 'new', state: emptyState(query), problems: [] }, csrf, user),
    }),
    route({
      method: 'post',
      path: '/vereinbarungen/vorschau',
      kind: 'page',
      access: CLERK,
      summary: 'Vorschau des Formulars als PDF (nichts wird gespeichert)',
      handler: async ({ user, csrf, req, res }) => {
        const state = stateFromBody(req.body as Record<string, unknown>);
        const v = validateForm(state);
        if (!v.ok) {
          res.status(422);
          return agreementForm({ mode: 'new', state: compact(state), problems: v.problems, notice: 'Die Vorschau ist erst möglich, wenn alle Angaben gültig sind.' }, csrf, user);
        }
        const composed = composeResolved(v.resolved);
        const { pdf } = await renderFormats(composed.tree, ['pdf']);
        res.setHeader('Content-Type', 'application/pdf');
        res.setHeader('Content-Disposition', `inline; filename="${v.resolved.fileBase}-vorschau.pdf"`);
        res.setHeader('Cache-Control', 'private, no-store');
        res.end(Buffer.from(pdf!));
      },
    }),
    route({
      method: 'post',
      path: '/vereinbarungen',
      kind: 'page',
      access: CLERK,
      summary: 'Neue Vereinbarung erzeugen',
      handler: async ({ ctx, user, csrf, req, res }) => {
        const body = req.body as Record<string, unknown>;
        const state = stateFromBody(body);
        const action = str(body.action);
        if (action.startsWith('add:')) return agreementForm({ mode: 'new', state: addRow(state, action), problems: [] }, csrf, user);
        const v = validateForm(state);
        if (!v.ok) {
          res.status(422);
          return agreementForm({ mode: 'new', state: compact(state), problems: v.problems }, csrf, user);
        }
        try {
          const row = await generateOne(ctx, v.resolved, user);
          res.redirect(303, `/vereinbarungen/${row.id}?ok=created`);
        } catch (e) {
          if (!(e instanceof HttpError) || e.status !== 409) throw e;
          res.status(409);
          return agreementForm({ mode: 'new', state: compact(state), problems: [{ path: 'partner', message: e.message }] }, csrf, user);
        }
      },
    }),
    route({
      method: 'get',
      path: '/vereinbarungen/:id/bearbeiten',
      kind: 'page',
      access: CLERK,
      summary: 'Formular: neue Fassung einer Vereinbarung',
      params: IdParam,
      handler: ({ ctx, user, csrf, params, res }) => {
        const a = agreementOr404(ctx.svc.store, params.id);
        const refusal = editRefusal(ctx.svc.store.db, a);
        if (refusal) {
          res.status(409);
          return errorPage('Keine neue Fassung möglich', refusal, user, csrf, [`/vereinbarungen/${a.id}`, 'zurück zur Vereinbarung']);
        }
        return agreementForm({ mode: 'edit', agreement: a, state: stateFromInput(JSON.parse(a.input_json) as AgreementInput), problems: [] }, csrf, user);
      },
    }),
    route({
      method: 'post',
      path: '/vereinbarungen/:id',
      kind: 'page',
      access: CLERK,
      summary: 'Neue Fassung einer Vereinbarung erzeugen',
      params: IdParam,
      handler: async ({ ctx, user, csrf, params, req, res }) => {
        const a = agreementOr404(ctx.svc.store, params.id);
        const refusal = editRefusal(ctx.svc.store.db, a);
        if (refusal) {
          res.status(409);
          return errorPage('Keine neue Fassung möglich', refusal, user, csrf, [`/vereinbarungen/${a.id}`, 'zurück zur Vereinbarung']);
        }
        const body = req.body as Record<string, unknown>;
        // Type, year and partner stay those of the agreement: a new version, not a new agreement.
        const state: FormState = { ...stateFromBody(body), type: a.type, year: String(a.year), partner: a.partner_id };
        const action = str(body.action);
        if (action.startsWith('add:')) return agreementForm({ mode: 'edit', agreement: a, state: addRow(state, action), problems: [] }, csrf, user);
        const v = validateForm(state);
        if (!v.ok) {
          res.status(422);
          return agreementForm({ mode: 'edit', agreement: a, state: compact(state), problems: v.problems }, csrf, user);
        }
        const row = await generateOne(ctx, v.resolved, user);
        res.redirect(303, `/vereinbarungen/${row.id}?ok=version`);
      },
    }),

    // ── detail and downloads ──
    route({
      method: 'get',
      path: '/vereinbarungen/:id',
      kind: 'page',
      access: CLERK,
      summary: 'Vereinbarung: Details, Vorschau, Umschlag, Papier-Unterschrift',
      params: IdParam,
      query: z.object({ ok: z.string().optional() }),
      handler: ({ ctx, user, csrf, params, query }) => detailPage(ctx, params.id, user, csrf, noticeOf(query.ok)),
    }),
    route({
      method: 'get',
      path: '/vereinbarungen/:id/dokument.pdf',
      kind: 'page',
      access: CLERK,
      summary: 'Entwurf als PDF (inline)',
      params: IdParam,
      handler: ({ ctx, params, res }) => {
        sendDraft(res, ctx.svc.store, params.id, 'pdf', 'inline');
      },
    }),
    route({
      method: 'get',
      path: '/vereinbarungen/:id/dokument.docx',
      kind: 'page',
      access: CLERK,
      summary: 'Entwurf als DOCX (Download)',
      params: IdParam,
      handler: ({ ctx, params, res }) => {
        sendDraft(res, ctx.svc.store, params.id, 'docx', 'attachment');
      },
    }),
    route({
      method: 'get',
      path: '/vereinbarungen/:id/papier.pdf',
      kind: 'page',
      access: CLERK,
      summary: 'Scan der Papier-Unterschrift (inline)',
      params: IdParam,
      handler: ({ ctx, params, res }) => {
        const a = agreementOr404(ctx.svc.store, params.id);
        const p = paperScanOf(ctx.svc.store.db, a.id);
        if (!p) throw notFound('Zu dieser Vereinbarung ist kein Papier-Scan archiviert.');
        sendFile(res, ctx.svc.store, p.fileId, `${a.file_base}-v${a.version}-papier.pdf`, 'application/pdf', 'inline');
      },
    }),
    route({
      method: 'post',
      path: '/vereinbarungen/:id/papier',
      kind: 'page',
      access: CLERK,
      summary: 'Auf Papier unterzeichnet: Scan archivieren',
      params: IdParam,
      upload: { field: 'file', kinds: ['pdf'], required: true },
      handler: async ({ ctx, user, params, file, req, res }) => {
        agreementOr404(ctx.svc.store, params.id);
        await paperOr409(ctx, params.id, file!.buffer, user, str((req.body as Record<string, unknown>).note));
        res.redirect(303, `/vereinbarungen/${params.id}?ok=paper`);
      },
    }),

    // ── import ──
    route({
      method: 'get',
      path: '/import',
      kind: 'page',
      access: CLERK,
      summary: 'Jahrestabelle hochladen (Formular)',
      handler: ({ user, csrf }) => importPage(user, csrf, html``),
    }),
    route({
      method: 'post',
      path: '/import',
      kind: 'page',
      access: CLERK,
      summary: 'Jahrestabelle hochladen: prüfen und erzeugen',
      upload: { field: 'file', kinds: ['xlsx', 'csv', 'json'], required: true },
      handler: async ({ ctx, user, csrf, file, req, res }) => {
        const kind = file!.kind as UploadKindSheet;
        const dryRun = !!str((req.body as Record<string, unknown>).dryRun);
        let resolved: ResolvedAgreement[];
        try {
          resolved = await readUpload(file!.buffer, kind);
        } catch (e) {
          if (!(e instanceof HttpError && e.status === 422)) throw e;
          res.status(422);
          const rows = readableProblems(e.problems, file!.buffer, kind);
          return importPage(
            user,
            csrf,
            html`<h2>${rows.length === 1 ? '1 Fehler' : `${rows.length} Fehler`} in „${file!.originalname}“</h2>
<table class="problems-table"><thead><tr><th>Stelle</th><th>Problem</th></tr></thead>
<tbody>${rows.map((r) => html`<tr><td>${r.where}</td><td>${r.message}</td></tr>`)}</tbody></table>`,
            { kind: 'error', text: 'Die Datei enthält Fehler. Es wurde nichts erzeugt.' },
          );
        }
        const block = blocked(ctx.svc.store.db, resolved);
        if (block.length) {
          res.status(409);
          return importPage(user, csrf, html`<ul class="problems">${block.map((p) => html`<li><code>${p.path}</code>: ${p.message}</li>`)}</ul>`, { kind: 'error', text: 'Einige Vereinbarungen sind in Unterzeichnung. Es wurde nichts erzeugt.' });
        }
        const years = [...new Set(resolved.map((r) => r.year))];
        if (dryRun) {
          return importPage(
            user,
            csrf,
            html`<h2>Prüfung: ${resolved.length} Vereinbarungen</h2>${agreementList(resolved.map((r) => ({ type: r.type, year: r.year, partner: r.partner.name, amount: r.amount === undefined ? null : Math.round(r.amount * 100) })))}`,
            { kind: 'ok', text: `„${file!.originalname}“ ist gültig: ${resolved.length} Vereinbarungen. Es wurde nichts erzeugt (nur geprüft).` },
          );
        }
        const rows = await generateIntoStore(ctx.svc.store, resolved, actorOf(user));
        return importPage(
          user,
          csrf,
          html`<h2>${rows.length} Vereinbarungen erzeugt</h2>
<p>${years.map((y) => html`<a class="button" href="/jahre/${y}">Jahresübersicht ${y}</a> `)}</p>
${agreementList(rows.map((r) => ({ id: r.id, type: r.type, year: r.year, partner: r.partner_name, amount: r.amount_cents, version: r.version, status: STATUS_LABELS[r.status] })))}`,
          { kind: 'ok', text: `${rows.length} Vereinbarungen wurden als Entwurf erzeugt.` },
        );
      },
    }),

    // ── envelopes ──
    route({
      method: 'post',
      path: '/umschlaege',
      kind: 'page',
      access: CLERK,
      summary: 'Umschläge für die ausgewählten Vereinbarungen öffnen',
      handler: async ({ ctx, user, csrf, req, res }) => {
        const ids = idsFrom((req.body as Record<string, unknown>).agreementIds);
        if (!ids.length) {
          res.status(422);
          return errorPage('Keine Vereinbarung ausgewählt', 'Bitte wählen Sie in der Jahresübersicht mindestens eine Vereinbarung aus.', user, csrf, ['/jahre', 'zur Jahresübersicht']);
        }
        const result = await openEnvelopes(ctx, ids, user!);
        if (!result.ok) {
          res.status(422);
          return page(
            { title: 'Umschläge nicht geöffnet', user, csrf, active: 'clerk' },
            html`<h1>Umschläge nicht geöffnet</h1>
<div class="notice error" role="alert">Es wurde kein Umschlag geöffnet. Bitte beheben Sie zuerst:</div>
<ul class="problems">${result.problems.filter((p) => !p.path.startsWith('contacts.')).map((p) => html`<li>${p.message}</li>`)}</ul>
${result.missing.length
  ? html`<h2>Fehlende E-Mail-Adressen</h2>
<table><thead><tr><th>Partner</th><th>Name</th><th>Funktion</th></tr></thead>
<tbody>${result.missing.map((m) => html`<tr><td>${m.agreement.partner_name}</td><td>${m.name}</td><td>${m.role}</td></tr>`)}</tbody></table>
<p><a class="button primary" href="/kontakte">E-Mail-Adressen eintragen</a></p>`
  : ''}
<p><a href="/jahre">zur Jahresübersicht</a></p>`,
          );
        }
        const invited = result.opened.flatMap((s) => s.signatories.filter((x) => x.party === 'partner' && x.email).map((x) => ({ s, x })));
        const years = [...new Set(result.opened.map((s) => s.agreement.year))];
        return page(
          { title: 'Umschläge geöffnet', user, csrf, active: 'clerk', notice: { kind: 'ok', text: `${result.opened.length} ${result.opened.length === 1 ? 'Umschlag' : 'Umschläge'} geöffnet.` } },
          html`<h1>Umschläge geöffnet</h1>
<table><thead><tr><th>Vereinbarung</th><th>Reihenfolge</th></tr></thead>
<tbody>${result.opened.map((s) => html`<tr><td><a href="/vereinbarungen/${s.agreement.id}">${s.agreement.title}</a></td><td>${s.signatories.map((x) => html`${x.position}. ${x.name} (${x.role}) `)}</td></tr>`)}</tbody></table>
<h2>Einladungen per E-Mail</h2>
<ul>${invited.map(({ s, x }) => html`<li>${x.name} (${x.role}, ${s.agreement.partner_name}) – ${x.email}</li>`)}</ul>
<p>${years.map((y) => html`<a class="button" href="/jahre/${y}">Jahresübersicht ${y}</a> `)}</p>`,
        );
      },
    }),
    route({
      method: 'post',
      path: '/umschlaege/:id/erneut-senden',
      kind: 'page',
      access: CLERK,
      summary: 'Link an die aktuelle unterzeichnende Person erneut senden',
      params: IdParam,
      handler: async ({ ctx, user, params, res }) => {
        const snap = await ctx.svc.resend(params.id, actorOf(user));
        res.redirect(303, `/vereinbarungen/${snap.agreement.id}?ok=resent`);
      },
    }),
    route({
      method: 'post',
      path: '/umschlaege/:id/stornieren',
      kind: 'page',
      access: CLERK,
      summary: 'Umschlag stornieren',
      params: IdParam,
      handler: async ({ ctx, user, csrf, params, req, res }) => {
        const reason = str((req.body as Record<string, unknown>).reason);
        if (!reason || reason.length > 2000) {
          res.status(422);
          return errorPage('Begründung fehlt', 'Bitte geben Sie eine Begründung für die Stornierung an (höchstens 2000 Zeichen); sie wird den Unterzeichnenden mitgeteilt.', user, csrf, ['/jahre', 'zur Jahresübersicht']);
        }
        const snap = await ctx.svc.cancel(params.id, reason, actorOf(user));
        res.redirect(303, `/vereinbarungen/${snap.agreement.id}?ok=cancelled`);
      },
    }),

    // ── contacts ──
    route({
      method: 'get',
      path: '/kontakte',
      kind: 'page',
      access: CLERK,
      summary: 'E-Mail-Adressen der Unterzeichnenden',
      query: z.object({ ok: z.string().optional() }),
      handler: ({ ctx, user, csrf, query }) => contactsPage(ctx, user, csrf, { notice: noticeOf(query.ok) }),
    }),
    route({
      method: 'post',
      path: '/kontakte',
      kind: 'page',
      access: CLERK,
      summary: 'Eine E-Mail-Adresse eintragen oder ändern',
      handler: ({ ctx, user, csrf, req, res }) => {
        const body = req.body as Record<string, unknown>;
        const entry = { party: str(body.party), name: str(body.name), email: str(body.email) };
        const r = ContactEntry.safeParse(entry);
        if (!r.success) {
          res.status(422);
          const errors: Record<string, string> = {};
          for (const i of r.error.issues) errors[String(i.path[0])] = `${{ party: 'Partei', name: 'Name', email: 'E-Mail' }[String(i.path[0])] ?? String(i.path[0])}: ${germanMessage(i.message)}`;
          return contactsPage(ctx, user, csrf, { entry, errors });
        }
        saveContacts(ctx.svc.store, [r.data], actorOf(user));
        res.redirect(303, '/kontakte?ok=contact');
      },
    }),
    route({
      method: 'post',
      path: '/kontakte/import',
      kind: 'page',
      access: CLERK,
      summary: 'E-Mail-Adressen aus einer JSON-Datei übernehmen',
      upload: { field: 'file', kinds: ['json'], required: true },
      handler: ({ ctx, user, csrf, file, res }) => {
        const parsed = parseContactsUpload(file!.buffer);
        if (!parsed.ok) {
          res.status(422);
          return contactsPage(ctx, user, csrf, { importProblems: parsed.problems });
        }
        const changed = saveContacts(ctx.svc.store, parsed.list, actorOf(user));
        return contactsPage(ctx, user, csrf, { notice: { kind: 'ok', text: `${parsed.list.length} Adressen gelesen, ${changed} neu oder geändert.` } });
      },
    }),

    // ─────────────── API ───────────────
    route({
      method: 'get',
      path: '/api/v1/agreements',
      kind: 'api',
      access: READERS,
      tag: TAG,
      summary: 'Vereinbarungen (aktuelle Fassungen) auflisten',
      query: z.object({
        year: z.coerce.number().int().min(2014).max(2100).optional(),
        type: z.enum(TYPES).optional(),
        status: z.enum(['draft', 'in_signing', 'signed', 'declined', 'cancelled', 'superseded', 'paper']).optional().describe('"paper": auf Papier unterzeichnet'),
        partner: z.string().optional().describe('Partner-ID, z. B. landkreis-kassel'),
      }),
      response: { description: 'Liste', schema: z.object({ agreements: z.array(AgreementSummary) }) },
      handler: ({ ctx, query }) => {
        const db = ctx.svc.store.db;
        const paperIds = paperSignedIds(db);
        const rows = currentAgreements(ctx.svc.store, { year: query.year, type: query.type, partner: query.partner });
        const filtered = rows.filter((r) => !query.status || (query.status === 'paper' ? paperIds.has(r.id) : r.status === query.status));
        return { agreements: filtered.map((r) => summary(r, paperIds.has(r.id))) };
      },
    }),
    route({
      method: 'post',
      path: '/api/v1/agreements/import',
      kind: 'api',
      access: CLERK,
      tag: TAG,
      summary: 'Jahrestabelle (xlsx, csv, json) prüfen und erzeugen – alles oder nichts',
      upload: { field: 'file', kinds: ['xlsx', 'csv', 'json'], required: true },
      body: z.object({ dryRun: DryRunFlag.describe('true: nur prüfen, nichts erzeugen') }),
      response: { status: 201, description: 'Erzeugt (bei dryRun: geprüft)', schema: z.object({ dryRun: z.boolean(), count: z.number().int(), agreements: z.array(z.object({ id: z.number().int().nullable(), fileBase: z.string(), partnerName: z.string(), amount: z.number().nullable(), version: z.number().int().nullable() })) }) },
      handler: async ({ ctx, user, file, body, res }) => {
        const resolved = await readUpload(file!.buffer, file!.kind as UploadKindSheet);
        const block = blocked(ctx.svc.store.db, resolved);
        if (block.length) throw new HttpError(409, 'Nicht möglich', 'Einige Vereinbarungen sind in Unterzeichnung; es wurde nichts erzeugt.', block);
        if (body.dryRun) {
          // Nothing created: 200, not the route's 201.
          res.status(200).json({ dryRun: true, count: resolved.length, agreements: resolved.map((r) => ({ id: null, fileBase: r.fileBase, partnerName: r.partner.name, amount: r.amount ?? null, version: null })) });
          return;
        }
        const rows = await generateIntoStore(ctx.svc.store, resolved, actorOf(user));
        return { dryRun: false, count: rows.length, agreements: rows.map((r) => ({ id: r.id, fileBase: r.file_base, partnerName: r.partner_name, amount: r.amount_cents === null ? null : r.amount_cents / 100, version: r.version })) };
      },
    }),
    route({
      method: 'get',
      path: '/api/v1/agreements/:id',
      kind: 'api',
      access: READERS,
      tag: TAG,
      summary: 'Eine Vereinbarung mit Umschlag, Unterzeichnenden und Papier-Unterschrift',
      params: IdParam,
      response: { description: 'Vereinbarung', schema: AgreementDetail },
      handler: ({ ctx, params }) => detailJson(ctx, agreementOr404(ctx.svc.store, params.id)),
    }),
    route({
      method: 'post',
      path: '/api/v1/agreements',
      kind: 'api',
      access: CLERK,
      tag: TAG,
      summary: 'Vereinbarung erzeugen (neue Version, falls es sie schon gibt)',
      body: AgreementInput,
      response: { status: 201, description: 'Erzeugt', schema: AgreementSummary },
      handler: async ({ ctx, user, body }) => summary(await generateOne(ctx, resolveOr422(body), user), false),
    }),
    route({
      method: 'post',
      path: '/api/v1/agreements/:id/versions',
      kind: 'api',
      access: CLERK,
      tag: TAG,
      summary: 'Neue Fassung einer Vereinbarung (gleiche Art, gleiches Jahr, gleicher Partner)',
      params: IdParam,
      body: AgreementInput,
      response: { status: 201, description: 'Erzeugt', schema: AgreementSummary },
      handler: async ({ ctx, user, params, body }) => {
        const a = agreementOr404(ctx.svc.store, params.id);
        const partnerId = typeof body.partner === 'string' ? body.partner : body.partner.id;
        const problems: FieldProblem[] = [];
        if (body.type !== a.type) problems.push({ path: 'type', message: `must be "${a.type}" (the agreement's type)` });
        if (body.year !== a.year) problems.push({ path: 'year', message: `must be ${a.year} (the agreement's year)` });
        if (partnerId !== a.partner_id) problems.push({ path: 'partner', message: `must be "${a.partner_id}" (the agreement's partner)` });
        if (problems.length) throw invalid(problems, 'Eine neue Fassung muss dieselbe Art, dasselbe Jahr und denselben Partner haben.');
        const refusal = editRefusal(ctx.svc.store.db, a);
        if (refusal) throw conflict(refusal);
        return summary(await generateOne(ctx, resolveOr422(body), user), false);
      },
    }),
    route({
      method: 'get',
      path: '/api/v1/agreements/:id/pdf',
      kind: 'api',
      access: CLERK,
      tag: TAG,
      summary: 'Entwurf als PDF',
      params: IdParam,
      response: { description: 'PDF', mediaType: 'application/pdf' },
      handler: ({ ctx, params, res }) => {
        sendDraft(res, ctx.svc.store, params.id, 'pdf', 'attachment');
      },
    }),
    route({
      method: 'get',
      path: '/api/v1/agreements/:id/docx',
      kind: 'api',
      access: CLERK,
      tag: TAG,
      summary: 'Entwurf als DOCX',
      params: IdParam,
      response: { description: 'DOCX', mediaType: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document' },
      handler: ({ ctx, params, res }) => {
        sendDraft(res, ctx.svc.store, params.id, 'docx', 'attachment');
      },
    }),
    route({
      method: 'post',
      path: '/api/v1/agreements/:id/paper',
      kind: 'api',
      access: CLERK,
      tag: TAG,
      summary: 'Auf Papier unterzeichnet: Scan (PDF) archivieren; ein offener Umschlag wird storniert',
      params: IdParam,
      upload: { field: 'file', kinds: ['pdf'], required: true },
      body: z.object({ note: z.string().max(2000).optional() }),
      response: { status: 201, description: 'Archiviert', schema: PaperInfo },
      handler: async ({ ctx, user, params, file, body }) => {
        agreementOr404(ctx.svc.store, params.id);
        return paperInfo(await paperOr409(ctx, params.id, file!.buffer, user, body.note ?? ''));
      },
    }),
    route({
      method: 'post',
      path: '/api/v1/envelopes',
      kind: 'api',
      access: CLERK,
      tag: TAG,
      summary: 'Umschläge öffnen (je Vereinbarung einer; alles oder nichts)',
      body: z.object({ agreementIds: z.array(z.number().int().positive()).min(1).max(500) }),
      response: { status: 201, description: 'Geöffnet', schema: z.object({ envelopes: z.array(EnvelopeInfo) }) },
      handler: async ({ ctx, user, body }) => {
        const result = await openEnvelopes(ctx, [...new Set(body.agreementIds)], user!);
        if (!result.ok) throw invalid(result.problems, 'Es wurde kein Umschlag geöffnet.');
        return { envelopes: result.opened.map(envelopeInfo) };
      },
    }),
    route({
      method: 'post',
      path: '/api/v1/envelopes/:id/resend',
      kind: 'api',
      access: CLERK,
      tag: TAG,
      summary: 'Link erneut senden (frühere Links der Person werden ungültig)',
      params: IdParam,
      response: { description: 'Umschlag', schema: EnvelopeInfo },
      handler: async ({ ctx, user, params }) => envelopeInfo(await ctx.svc.resend(params.id, actorOf(user))),
    }),
    route({
      method: 'post',
      path: '/api/v1/envelopes/:id/cancel',
      kind: 'api',
      access: CLERK,
      tag: TAG,
      summary: 'Umschlag stornieren',
      params: IdParam,
      body: z.object({ reason: z.string().trim().min(1, { message: 'a reason is required' }).max(2000) }),
      response: { description: 'Umschlag', schema: EnvelopeInfo },
      handler: async ({ ctx, user, params, body }) => envelopeInfo(await ctx.svc.cancel(params.id, body.reason, actorOf(user))),
    }),
    route({
      method: 'get',
      path: '/api/v1/contacts',
      kind: 'api',
      access: CLERK,
      tag: TAG,
      summary: 'Gespeicherte E-Mail-Adressen der Unterzeichnenden',
      response: { description: 'Adressen', schema: z.object({ contacts: z.array(ContactInfo) }) },
      handler: ({ ctx }) => ({ contacts: storedContacts(ctx.svc.store.db).map((c) => ({ party: c.party, name: c.name, email: c.email, updatedAt: c.updated_at, updatedBy: c.updated_by })) }),
    }),
    route({
      method: 'put',
      path: '/api/v1/contacts',
      kind: 'api',
      access: CLERK,
      tag: TAG,
      summary: 'E-Mail-Adressen eintragen oder ändern (je Partei und Name; nicht genannte bleiben)',
      body: z.array(ContactEntry).max(2000),
      response: { description: 'Ergebnis', schema: z.object({ received: z.number().int(), changed: z.number().int() }) },
      handler: ({ ctx, user, body }) => ({ received: body.length, changed: saveContacts(ctx.svc.store, body, actorOf(user)) }),
    }),
    route({
      method: 'get',
      path: '/api/v1/years/:year',
      kind: 'api',
      access: CLERK,
      tag: TAG,
      summary: 'Jahresübersicht: alle Partner, aktuelle Fassungen, Summen und Budget',
      params: z.object({ year: z.coerce.number().int().min(2014).max(2100) }),
      response: { description: 'Jahr', schema: YearData },
      handler: ({ ctx, params }) => yearJson(ctx.svc.store, params.year),
    }),
    route({
      method: 'put',
      path: '/api/v1/years/:year/budget',
      kind: 'api',
      access: CLERK,
      tag: TAG,
      summary: 'AQB-Budget eines Jahres festlegen (Euro; null entfernt es)',
      params: z.object({ year: z.coerce.number().int().min(2014).max(2100) }),
      body: z.object({ aqbBudget: z.number().positive().max(1e11).nullable() }),
      response: { description: 'Jahr', schema: YearData },
      handler: ({ ctx, params, body }) => {
        setBudget(ctx.svc.store, params.year, body.aqbBudget === null ? null : Math.round(body.aqbBudget * 100));
        return yearJson(ctx.svc.store, params.year);
      },
    }),
  ];
}

// ───────────────────────────── paper ─────────────────────────────

async function paperOr409(ctx: AppContext, id: number, bytes: Buffer, user: User | null, note: string): Promise<PaperScan> {
  try {
    return await archivePaperScan(ctx.svc, id, { bytes: new Uint8Array(bytes), uploadedBy: actorOf(user), note });
  } catch (e) {
    if (!(e instanceof PaperError)) throw e;
    if (e.kind === 'file') throw new HttpError(415, 'Dateityp nicht unterstützt', `${e.message} Es wurde nichts gespeichert.`);
    if (e.kind === 'input') throw invalid([{ path: 'note', message: e.message }]);
    throw new HttpError(409, 'Nicht möglich', e.message);
  }
}

// ───────────────────────────── detail page ─────────────────────────────

function detailPage(ctx: AppContext, id: number, user: User | null, csrf: string, notice: ReturnType<typeof noticeOf>): Html {
  const store = ctx.svc.store;
  const db = store.db;
  const a = agreementOr404(store, id);
  const input = JSON.parse(a.input_json) as AgreementInput;
  const paper = paperScanOf(db, a.id);
  const current = isCurrent(db, a);
  const envelopes = envelopesOf(ctx.svc, a.id);
  const env = envelopes[0];
  const versions = versionsOf(db, a);
  const canEdit = !editRefusal(db, a);
  const canPaper = !paperRefusal(db, a);
  const sigs = (list?: { name: string; role: string }[]) => (list?.length ? html`<ul>${list.map((s) => html`<li>${s.name}, ${s.role}</li>`)}</ul>` : html`<p class="hint">die am Datum amtierende Ministerin bzw. der amtierende Minister</p>`);
  const openEnv = env && env.envelope.status === 'open' ? env : undefined;
  const cur = openEnv ? SigningService.current(openEnv) : undefined;
  return page(
    { title: a.title, user, csrf, active: 'clerk', notice },
    html`<p><a href="/jahre/${a.year}">← Jahresübersicht ${a.year}</a></p>
<h1>${a.title}</h1>
${!current ? html`<p class="notice info">Dies ist eine ältere Fassung (v${a.version}); <a href="/vereinbarungen/${versions[0]!.id}">zur aktuellen Fassung v${versions[0]!.version}</a>.</p>` : ''}
<div class="grid2">
<dl class="facts">
  <dt>Partner</dt><dd>${a.partner_name}</dd>
  <dt>Art</dt><dd>${TYPE_LABELS[a.type]}</dd>
  <dt>Jahr</dt><dd>${a.year}</dd>
  <dt>Version</dt><dd>v${a.version} (Fassung ${a.edition}), erstellt ${dateTime(a.created_at)} von ${a.created_by}</dd>
  <dt>Status</dt><dd>${badge(a, !!paper)}</dd>
  ${a.type === 'aqb' ? html`<dt>Betrag</dt><dd>${euro(a.amount_cents)}</dd>` : ''}
  ${input.date ? html`<dt>Datum</dt><dd>${input.date}</dd>` : ''}
  ${input.steering ? html`<dt>§ 6 Steuerung</dt><dd>${STEERING_LABELS[input.steering] ?? input.steering}</dd>` : ''}
  <dt>Reihenfolge</dt><dd>${ORDER_LABELS[input.signingOrder ?? 'ministry-first']}</dd>
</dl>
<div>
  <h2>Unterzeichnende</h2>
  <h3>Ministerium</h3>${sigs(input.signatories.ministry)}
  <h3>${a.partner_name}</h3>${sigs(input.signatories.partner)}
</div>
</div>
${input.measures?.length ? html`<h2>Maßnahmen</h2><ul>${input.measures.map((m) => html`<li>${MEASURE_CATEGORIES.find((c) => c.id === m.category)?.title ?? m.category}<ul>${m.projects.map((p) => html`<li>${p}</li>`)}</ul></li>`)}</ul>` : ''}
<div class="actions">
  <a class="button" href="/vereinbarungen/${a.id}/dokument.pdf" target="_blank" rel="noopener">PDF öffnen</a>
  <a class="button" href="/vereinbarungen/${a.id}/dokument.docx" download>DOCX herunterladen</a>
  ${canEdit ? html`<a class="button" href="/vereinbarungen/${a.id}/bearbeiten">Neue Fassung bearbeiten</a>` : ''}
</div>
${paper
  ? html`<h2>Auf Papier unterzeichnet</h2>
<dl class="facts">
  <dt>Scan</dt><dd><a href="/vereinbarungen/${a.id}/papier.pdf" target="_blank" rel="noopener">Scan öffnen</a> (${(paper.size / 1024).toLocaleString('de-DE', { maximumFractionDigits: 0 })} KB)</dd>
  <dt>Hochgeladen von</dt><dd>${paper.uploadedBy}</dd>
  <dt>Zeitpunkt</dt><dd>${dateTime(paper.uploadedAt)}</dd>
  <dt>SHA-256</dt><dd><code class="sha256">${paper.sha256}</code></dd>
  ${paper.note ? html`<dt>Notiz</dt><dd>${paper.note}</dd>` : ''}
</dl>`
  : ''}
${env
  ? html`<h2>Umschlag #${env.envelope.id}: ${ENVELOPE_STATUS_LABELS[env.envelope.status]}</h2>
<p>Geöffnet ${dateTime(env.envelope.created_at)}${env.envelope.closed_at ? html`, beendet ${dateTime(env.envelope.closed_at)}` : ''}.</p>
${env.envelope.status === 'completed' && env.envelope.written_form !== null && env.envelope.written_form !== undefined
  ? html`<p class="notice ${env.envelope.written_form ? 'ok' : 'info'}" role="status"><strong>${env.envelope.written_form ? 'Schriftform elektronisch gewahrt (§ 3a Abs. 2 VwVfG)' : 'Schriftform nicht gewahrt — qualifizierte Signatur oder Papierausfertigung erforderlich'}</strong>${env.envelope.written_form ? '' : html`: ${(JSON.parse(env.envelope.written_form_reasons ?? '[]') as string[]).join('; ')}`}.</p>`
  : ''}
<table><thead><tr><th>#</th><th>Name</th><th>Funktion</th><th>Organisation</th><th>Status</th><th>Signaturniveau</th><th>Zeit</th></tr></thead>
<tbody>${env.signatories.map(
      (s) => html`<tr${cur?.id === s.id ? html` class="current"` : ''}><td>${s.position}</td><td>${s.name}${s.email ? html`<br><span class="hint">${s.email}</span>` : ''}</td><td>${s.role}</td><td>${s.organisation}</td>
<td>${s.status === 'signed' ? 'unterzeichnet' : s.status === 'declined' ? html`abgelehnt${s.decline_reason ? html`: „${s.decline_reason}“` : ''}` : cur?.id === s.id ? 'ist an der Reihe' : 'wartet'}</td>
<td>${s.level ? LEVEL_LABELS[s.level] : '—'}</td>
<td>${dateTime(s.signed_at ?? s.declined_at)}</td></tr>`,
    )}</tbody></table>
${openEnv
  ? html`<div class="actions">
  ${cur?.party === 'partner' && cur.email
    ? html`<form method="post" action="/umschlaege/${openEnv.envelope.id}/erneut-senden" class="inline">${csrfField(csrf)}<button type="submit">Link erneut senden</button></form>`
    : ''}
</div>
<form method="post" action="/umschlaege/${openEnv.envelope.id}/stornieren" class="narrow">
  ${csrfField(csrf)}
  ${field({ name: 'reason', label: 'Begründung der Stornierung', required: true, hint: 'Wird den Unterzeichnenden mitgeteilt; alle offenen Links werden ungültig.' })}
  <button type="submit" class="danger">Stornieren</button>
</form>`
  : ''}
${envelopes.length > 1 ? html`<p class="hint">Frühere Umschläge dieser Version: ${envelopes.slice(1).map((e) => html`#${e.envelope.id} (${ENVELOPE_STATUS_LABELS[e.envelope.status as EnvelopeStatus]}) `)}</p>` : ''}`
  : ''}
${canPaper
  ? html`<h2>Auf Papier unterzeichnet – Scan hochladen</h2>
<p>Wurde die Vereinbarung außerhalb von Zielwerk auf Papier unterschrieben, archivieren Sie hier den Scan (PDF, höchstens 20 MB). ${openEnv ? html`<strong>Der offene Umschlag wird dabei storniert.</strong>` : ''}</p>
<form method="post" action="/vereinbarungen/${a.id}/papier" enctype="multipart/form-data" class="narrow">
  ${csrfField(csrf)}
  <div class="field"><label for="f-paper-file">Scan (PDF)</label><input id="f-paper-file" name="file" type="file" accept=".pdf,application/pdf" required></div>
  <div class="field"><label for="f-note">Notiz (optional)</label><textarea id="f-note" name="note" maxlength="2000"></textarea></div>
  <button type="submit">Scan archivieren</button>
</form>`
  : ''}
<h2>Vorschau</h2>
<iframe class="preview" src="/vereinbarungen/${a.id}/dokument.pdf" title="Vorschau: ${a.title}"></iframe>
<h2>Versionen</h2>
<table><thead><tr><th>Version</th><th>Status</th><th>Erstellt</th><th>von</th></tr></thead>
<tbody>${versions.map((v) => html`<tr><td>${v.id === a.id ? html`<strong>v${v.version}</strong>` : html`<a href="/vereinbarungen/${v.id}">v${v.version}</a>`}</td><td>${badge(v, !!paperScanOf(db, v.id))}</td><td>${dateTime(v.created_at)}</td><td>${v.created_by}</td></tr>`)}</tbody></table>`,
  );
}

// ───────────────────────────── contacts page ─────────────────────────────

function parseContactsUpload(buffer: Buffer): { ok: true; list: z.infer<typeof ContactEntry>[] } | { ok: false; problems: FieldProblem[] } {
  let data: unknown;
  try {
    data = JSON.parse(buffer.toString('utf8').replace(/^\uFEFF/, ''));
  } catch {
    return { ok: false, problems: [{ path: '(Datei)', message: 'kein gültiges JSON' }] };
  }
  // The contacts file of the CLI ({clerk, signatories}); the clerk part is ignored here. A plain list is accepted too.
  const list = Array.isArray(data) ? data : obj(data).signatories;
  const r = z.array(ContactEntry, { error: 'erwartet: {"signatories": [{"party", "name", "email"}, …]}' }).safeParse(list);
  if (!r.success) return { ok: false, problems: r.error.issues.map((i) => ({ path: `signatories${i.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('')}`, message: i.message })) };
  return { ok: true, list: r.data };
}

function contactsPage(
  ctx: AppContext,
  user: User | null,
  csrf: string,
  opts: { notice?: ReturnType<typeof noticeOf> | { kind: 'ok' | 'error' | 'info'; text: string }; entry?: { party: string; name: string; email: string }; errors?: Record<string, string>; importProblems?: FieldProblem[] },
): Html {
  const store = ctx.svc.store;
  const contacts = storedContacts(store.db);
  const partyName = (p: string) => (p === 'ministry' ? 'Ministerium' : (findPartner(p)?.name ?? p));
  const rows = currentAgreements(store).filter((a) => a.status !== 'signed' && a.status !== 'superseded');
  const missing = missingAddresses(rows, { clerk: { name: '', email: '' }, signatories: contacts });
  const seen = new Set<string>();
  const uniqueMissing = missing.filter((m) => {
    const k = `${m.agreement.partner_id}|${m.name}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
  const errors = opts.errors ?? {};
  const e = opts.entry ?? { party: '', name: '', email: '' };
  return page(
    { title: 'E-Mail-Adressen', user, csrf, active: 'clerk', notice: opts.notice ?? (opts.importProblems ? { kind: 'error', text: 'Die Datei enthält Fehler; es wurde nichts übernommen.' } : null) },
    html`<p><a href="/jahre">← Jahresübersicht</a></p>
<h1>E-Mail-Adressen der Unterzeichnenden</h1>
<p>Die Unterzeichnenden der Partner erhalten ihren persönlichen Signaturlink an diese Adressen. Die Adressen gehören nicht zum archivierten Dokument.</p>
${opts.importProblems ? html`<ul class="problems">${opts.importProblems.map((p) => html`<li><code>${p.path}</code>: ${p.message}</li>`)}</ul>` : ''}
${uniqueMissing.length
  ? html`<h2>Ohne Adresse (${uniqueMissing.length})</h2>
<p>Diese Unterzeichnenden aktueller, noch nicht unterzeichneter Vereinbarungen haben noch keine Adresse:</p>
<table class="missing"><thead><tr><th>Partner</th><th>Name</th><th>Funktion</th></tr></thead>
<tbody>${uniqueMissing.map((m) => html`<tr><td>${m.agreement.partner_name}</td><td>${m.name}</td><td>${m.role}</td></tr>`)}</tbody></table>`
  : html`<p class="notice ok">Für alle Unterzeichnenden aktueller Vereinbarungen ist eine Adresse hinterlegt.</p>`}
<h2>Adresse eintragen oder ändern</h2>
<form method="post" action="/kontakte" class="narrow">
  ${csrfField(csrf)}
  ${selectField({ name: 'party', label: 'Partei', value: e.party || (uniqueMissing[0]?.agreement.partner_id ?? ''), options: [['', '— bitte wählen —'], ['ministry', 'Ministerium'], ...listPartners().map((p) => [p.id, p.name] as [string, string])], errors, required: true })}
  ${field({ name: 'name', label: 'Name (wie in der Vereinbarung)', value: e.name, errors, required: true })}
  ${field({ name: 'email', label: 'E-Mail', type: 'email', value: e.email, errors, required: true })}
  <button type="submit" class="primary">Speichern</button>
</form>
<h2>Adressen aus Datei übernehmen</h2>
<form method="post" action="/kontakte/import" enctype="multipart/form-data" class="narrow">
  ${csrfField(csrf)}
  <div class="field"><label for="f-contacts-file">Kontaktdatei (JSON wie <code>examples/aqb-2023-kontakte.json</code>; der Teil „clerk“ wird ignoriert)</label>
  <input id="f-contacts-file" name="file" type="file" accept=".json,application/json" required></div>
  <button type="submit">Übernehmen</button>
</form>
<h2>Gespeicherte Adressen (${contacts.length})</h2>
<table><thead><tr><th>Partei</th><th>Name</th><th>E-Mail</th><th>Geändert</th></tr></thead>
<tbody>${contacts.map((c) => html`<tr><td>${partyName(c.party)}</td><td>${c.name}</td><td>${c.email}</td><td>${dateTime(c.updated_at)} (${c.updated_by})</td></tr>`)}</tbody></table>`,
  );
}

