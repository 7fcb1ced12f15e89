import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import type ExcelJS from 'exceljs';
import { parse as parseCsvRecords } from 'csv-parse/sync';
import { closest, distance } from 'fastest-levenshtein';
import { strFromU8, strToU8, unzipSync, zipSync, type Zippable } from 'fflate';
import { findPartner, listPartners, type Partner } from '../registry/partners.ts';
import { decodeUtf8 } from '../input.ts';
import { MEASURE_CATEGORIES, isMeasureCategory, type MeasureCategoryId } from '../registry/categories.ts';
import {
  formatGermanDate,
  formatGermanNumber,
  isoFromDate,
  isoFromSerial,
  parseDateText,
  parseGermanNumber,
  parseWholeNumber,
  parseYesNo,
  tidyCents,
} from './numbers.ts';

/**
 * The yearly allocation table as a clerk keeps it — CSV or XLSX, one row per project — read into the
 * batch JSON shape (`BatchInput`, not yet validated), with a way to name any JSON path in the file's own
 * terms ("Zeile 14, Spalte Betrag"). The inverse (batch → CSV/XLSX) writes the examples and the template.
 *
 * Layout (see README "Batch tables"):
 *   Partner | Betrag | Maßnahmenart | Projekt | Unterzeichner | Funktion | Datum
 * Empty Partner / Maßnahmenart cells continue the row above; the amount and date sit on the partner's
 * first row; the n-th row of a partner with a signatory holds the n-th signatory. Batch settings come from
 * the worksheet "Einstellungen" (Schlüssel | Wert) or, in CSV, from "# Schlüssel: Wert" lines before the header.
 */

export interface TableProblem {
  /** Where, in the file's terms: "Zeile 14, Spalte Betrag", "Kopfzeile (Zeile 1)", "(Datei)". */
  path: string;
  message: string;
}

export interface TableSource {
  format: 'csv' | 'xlsx';
  /** BatchInput-shaped plain JSON (not yet validated). */
  data: unknown;
  /** Problems found while reading (header, cells, settings); `path` is already in file terms. */
  problems: TableProblem[];
  /** True when the file could not be read as a table at all (not UTF-8, not an XLSX, broken CSV quoting, no data sheet). */
  fatal: boolean;
  /** JSON path of a validation problem → location in the file ('agreements[3].amount' → 'Zeile 14, Spalte Betrag'). */
  locate(jsonPath: string): string | undefined;
}

// ───────────────────────────── vocabulary ─────────────────────────────

/** Case-, space- and umlaut-insensitive key for header and settings names. */
export function normKey(s: string): string {
  return s
    .trim()
    .toLowerCase()
    .replace(/\s+/g, ' ')
    .replace(/ä/g, 'ae')
    .replace(/ö/g, 'oe')
    .replace(/ü/g, 'ue')
    .replace(/ß/g, 'ss')
    .replace(/\s*:$/, '');
}

type ColumnKey = 'partner' | 'amount' | 'category' | 'project' | 'name' | 'role' | 'date';

/** The data columns, in the order the writer uses, with accepted header spellings. */
export const COLUMNS: readonly { key: ColumnKey; label: string; aliases: readonly string[] }[] = [
  { key: 'partner', label: 'Partner', aliases: ['Gebietskörperschaft', 'Kreis/Stadt', 'Landkreis/Stadt'] },
  { key: 'amount', label: 'Betrag', aliases: ['Betrag (Euro)', 'Betrag (€)', 'Betrag in Euro', 'Betrag in €', 'Summe'] },
  { key: 'category', label: 'Maßnahmenart', aliases: ['Massnahmenart', 'Kategorie'] },
  { key: 'project', label: 'Projekt', aliases: ['Projekte', 'Projektname'] },
  { key: 'name', label: 'Unterzeichner', aliases: ['Unterzeichnende', 'Unterzeichnerin', 'Unterzeichner/in', 'Unterzeichner*in', 'Name'] },
  { key: 'role', label: 'Funktion', aliases: ['Rolle'] },
  { key: 'date', label: 'Datum', aliases: [] },
];
const COLUMN_BY_NAME = new Map<string, (typeof COLUMNS)[number]>();
for (const c of COLUMNS) for (const n of [c.label, ...c.aliases]) COLUMN_BY_NAME.set(normKey(n), c);
const columnLabel = (key: ColumnKey) => COLUMNS.find((c) => c.key === key)!.label;

/** Short German labels of the measure categories (what the clerk writes; the titles are accepted too). */
export const CATEGORY_LABELS: Record<MeasureCategoryId, string> = {
  ausbildungsvorbereitung: 'Ausbildungsvorbereitung',
  ausbildung: 'Ausbildung',
  qualifizierung: 'Qualifizierung',
  weiterbildung: 'Weiterbildung',
};
const CATEGORY_BY_NAME = new Map<string, MeasureCategoryId>();
for (const c of MEASURE_CATEGORIES) for (const n of [c.id, c.title, CATEGORY_LABELS[c.id]]) CATEGORY_BY_NAME.set(normKey(n), c.id);

/** Category id from an id, a canonical title or a short label; unknown text comes back unchanged (the validator names it). */
export function resolveCategory(text: string): string {
  return CATEGORY_BY_NAME.get(normKey(text)) ?? text;
}

const KIND_PREFIX = /^(landkreis|kreis|stadt|wissenschaftsstadt|landeshauptstadt) /;
const PARTNER_FULL = new Map<string, string>();
const PARTNER_SHORT = new Map<string, Partner[]>();
for (const p of listPartners()) {
  PARTNER_FULL.set(normKey(p.id), p.id);
  PARTNER_FULL.set(normKey(p.name), p.id);
  const stripped = normKey(p.name).replace(KIND_PREFIX, '');
  for (const short of new Set([stripped, stripped.replace(/ am main$/, '')])) {
    PARTNER_SHORT.set(short, [...(PARTNER_SHORT.get(short) ?? []), p]);
  }
}

/**
 * Partner id from an id or a registry name ("Werra-Meißner-Kreis", "Landkreis Offenbach", "Stadt Kassel",
 * "Kreis Groß-Gerau", "Darmstadt", "Frankfurt am Main"). A short name that fits two partners ("Kassel",
 * "Offenbach") is ambiguous; unknown text comes back as written (the validator names it with a suggestion).
 */
export function resolvePartner(text: string): { id: string; ambiguous?: Partner[] } {
  const key = normKey(text);
  const full = PARTNER_FULL.get(key);
  if (full) return { id: full };
  const prefix = KIND_PREFIX.exec(key)?.[1];
  const kind = prefix === undefined ? undefined : prefix === 'landkreis' || prefix === 'kreis' ? 'Landkreis' : 'kreisfreie Stadt';
  const candidates = (PARTNER_SHORT.get(key.replace(KIND_PREFIX, '')) ?? []).filter((p) => kind === undefined || p.kind === kind);
  if (candidates.length === 1) return { id: candidates[0].id };
  if (candidates.length > 1) return { id: text, ambiguous: candidates };
  return { id: text };
}

type SettingField = 'type' | 'year' | 'edition' | 'steering' | 'date' | 'total' | 'complete' | 'note' | 'abbreviation';
const SETTINGS: readonly { field: SettingField; label: string; aliases: readonly string[]; path: string; help: string }[] = [
  { field: 'type', label: 'Art', aliases: ['Typ'], path: 'type', help: 'aqb (Ausbildungs- und Qualifizierungsbudget) oder sgb2' },
  { field: 'year', label: 'Jahr', aliases: [], path: 'year', help: 'Jahr der Vereinbarungen, z. B. 2023' },
  { field: 'edition', label: 'Fassung', aliases: ['Vorlage'], path: 'edition', help: 'Fassung der Vorlage; leer = neueste Fassung bis zum Jahr' },
  { field: 'steering', label: 'Steuerung', aliases: [], path: 'steering', help: 'dialog (Zielsteuerungsdialoge) oder exchange (Zielsteuerung); leer = wie in der Fassung' },
  { field: 'date', label: 'Datum', aliases: [], path: 'date', help: 'Datum der Vereinbarungen (TT.MM.JJJJ); je Partner abweichend in der Spalte „Datum“' },
  { field: 'total', label: 'Gesamtbudget', aliases: ['Gesamtbetrag', 'Budget'], path: 'total', help: 'Summe aller Beträge in Euro; wird nachgerechnet' },
  { field: 'complete', label: 'Vollständig', aliases: [], path: 'complete', help: 'ja = alle 26 Landkreise und kreisfreien Städte müssen enthalten sein' },
  { field: 'note', label: 'Hinweis', aliases: ['Bemerkung'], path: 'note', help: 'freier Text; erscheint in keinem Dokument' },
  { field: 'abbreviation', label: 'Ministerium Kürzel', aliases: [], path: 'ministry.abbreviation', help: 'nur wenn abweichend vom Ministerium, das am Datum zuständig ist' },
];
const SETTING_BY_NAME = new Map<string, (typeof SETTINGS)[number]>();
for (const s of SETTINGS) for (const n of [s.label, ...s.aliases]) SETTING_BY_NAME.set(normKey(n), s);
const MINISTRY_SIGNATORY = /^ministerium (unterzeichner|unterzeichnerin|unterzeichnende|name|funktion|rolle)(?: ([1-6]))?$/;
const MINISTRY_HELP = {
  name: 'leer = die Ministerin / der Minister im Amt am Datum',
  role: 'z. B. Staatsminister',
  name2: 'optional: zweite Unterschrift für das Ministerium',
  role2: 'Funktion der zweiten Unterschrift',
};

const DATA_SHEET = 'Zielvereinbarungen';
const SETTINGS_SHEET = 'Einstellungen';
const LISTS_SHEET = 'Listen';

// ───────────────────────────── cells ─────────────────────────────

type Scalar = string | number | boolean | Date;
/** A normalised cell: its value (strings trimmed, '' → null), or the reason it has none. */
interface Cell {
  value: Scalar | null;
  error?: string;
}
interface Row {
  row: number;
  cells: Cell[];
}
interface SettingLine {
  key: string;
  value: Cell;
  row: number;
  where: string;
}
/** The format-neutral table both readers produce. */
interface RawTable {
  format: 'csv' | 'xlsx';
  /** Non-empty rows of the data sheet/section; the first is the header. */
  rows: Row[];
  settings: SettingLine[];
  /** Location of a setting that is not in the file. */
  settingAbsent(label: string): string;
  /** Location of the table as a whole. */
  tableWhere: string;
  columnRef(index: number): string;
  problems: TableProblem[];
}

const EMPTY: Cell = { value: null };
const textCell = (s: string): Cell => {
  const t = s.trim();
  return t === '' ? EMPTY : { value: t };
};
const isEmpty = (c: Cell | undefined) => !c || (c.value === null && c.error === undefined);

function excelCell(v: ExcelJS.CellValue): Cell {
  if (v === null || v === undefined) return EMPTY;
  if (typeof v === 'string') return textCell(v);
  if (typeof v === 'number' || typeof v === 'boolean') return { value: v };
  if (v instanceof Date) return { value: v };
  if (typeof v === 'object') {
    if ('richText' in v && Array.isArray(v.richText)) return textCell(v.richText.map((r) => r.text ?? '').join(''));
    if ('error' in v) return { value: null, error: `enthält den Fehlerwert ${v.error}` };
    if ('formula' in v || 'sharedFormula' in v) {
      const result = (v as ExcelJS.CellFormulaValue).result;
      if (result === undefined || result === null) {
        return { value: null, error: 'enthält eine Formel ohne gespeichertes Ergebnis (Datei in Excel oder LibreOffice öffnen und speichern)' };
      }
      return excelCell(result as ExcelJS.CellValue);
    }
    if ('hyperlink' in v) return excelCell((v as ExcelJS.CellHyperlinkValue).text as ExcelJS.CellValue);
  }
  return { value: null, error: 'hat einen unbekannten Zellinhalt' };
}

/** Text of a cell for names, projects and keys; numbers as written by JS (2024 → "2024"), dates as ISO. */
function asText(c: Cell): string | undefined {
  const v = c.value;
  if (v === null) return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(tidyCents(v));
  if (typeof v === 'boolean') return v ? 'WAHR' : 'FALSCH';
  return isoFromDate(v) ?? String(v);
}
/** An amount: numbers as they are, German number text parsed; other text stays text (the validator names it). */
function asAmount(c: Cell): unknown {
  const v = c.value;
  if (typeof v === 'number') return tidyCents(v);
  if (typeof v === 'string') {
    const n = parseGermanNumber(v);
    return n === undefined ? v : tidyCents(n);
  }
  return asText(c);
}
function asDate(c: Cell): unknown {
  const v = c.value;
  if (v instanceof Date) return isoFromDate(v) ?? String(v);
  if (typeof v === 'number') return isoFromSerial(v) ?? String(v);
  if (typeof v === 'string') return parseDateText(v) ?? v;
  return asText(c);
}
function asYear(c: Cell): unknown {
  const v = c.value;
  if (typeof v === 'number') return v;
  if (typeof v === 'string') return parseWholeNumber(v) ?? v;
  return asText(c);
}
function asType(c: Cell): unknown {
  const t = asText(c);
  if (t === undefined) return undefined;
  const k = t.toLowerCase().replace(/[\s.§-]/g, '');
  return k === 'aqb' ? 'aqb' : k === 'sgb2' || k === 'sgbii' ? 'sgb2' : t;
}
function asSteering(c: Cell): unknown {
  const t = asText(c);
  if (t === undefined) return undefined;
  const k = normKey(t);
  if (k === 'dialog' || k === 'zielsteuerungsdialog' || k === 'zielsteuerungsdialoge') return 'dialog';
  if (k === 'exchange' || k === 'zielsteuerung') return 'exchange';
  return t;
}
function asYesNo(c: Cell): unknown {
  const v = c.value;
  if (typeof v === 'boolean') return v;
  if (v === 1 || v === 0) return v === 1;
  const t = asText(c);
  return t === undefined ? undefined : (parseYesNo(t) ?? t);
}

function show(value: unknown, column: ColumnKey): string {
  if (typeof value === 'number' && column === 'amount') return formatGermanNumber(value);
  if (typeof value === 'string' && column === 'date' && /^\d{4}-\d{2}-\d{2}$/.test(value)) return formatGermanDate(value);
  return JSON.stringify(value);
}

// ───────────────────────────── table → batch ─────────────────────────────

interface MeasureAcc {
  category: string;
  row: number;
  projects: { name: string; row: number }[];
}
interface AgreementAcc {
  partner: string;
  partnerText: string;
  row: number;
  amount?: { value: unknown; row: number };
  date?: { value: unknown; row: number };
  measures: MeasureAcc[];
  signatories: { name?: string; role?: string; row: number }[];
}

function suggestion(text: string, candidates: string[]): string | undefined {
  const best = closest(normKey(text), candidates.map(normKey));
  const original = candidates.find((c) => normKey(c) === best)!;
  return distance(normKey(text), best) <= Math.max(2, Math.floor(best.length / 3)) ? original : undefined;
}

function buildSource(raw: RawTable): TableSource {
  const problems: TableProblem[] = [...raw.problems];
  const locations = new Map<string, string>();
  const at = (path: string, where: string) => {
    if (!locations.has(path)) locations.set(path, where);
  };
  const data: Record<string, unknown> = {};

  // Settings.
  const seen = new Map<string, SettingLine>();
  const emptySigWhere = new Map<string, string>(); // "2-role" → where an empty "Ministerium Funktion 2" line is
  const ministrySigs = new Map<number, { name?: { text: string; line: SettingLine }; role?: { text: string; line: SettingLine } }>();
  for (const line of raw.settings) {
    const key = normKey(line.key);
    const spec = SETTING_BY_NAME.get(key);
    const sig = MINISTRY_SIGNATORY.exec(key);
    const id = spec ? spec.field : sig ? `${sig[1] === 'funktion' || sig[1] === 'rolle' ? 'role' : 'name'}${sig[2] ?? '1'}` : undefined;
    if (id === undefined) {
      const known = [...SETTINGS.map((s) => s.label), 'Ministerium Unterzeichner', 'Ministerium Funktion', 'Ministerium Unterzeichner 2', 'Ministerium Funktion 2'];
      const hint = suggestion(line.key, known);
      problems.push({
        path: line.where,
        message: `unbekannter Schlüssel "${line.key}"${hint ? ` (meinten Sie "${hint}"?)` : ''} — bekannt sind: ${known.join(', ')}`,
      });
      continue;
    }
    const before = seen.get(id);
    if (before) {
      problems.push({ path: line.where, message: `"${line.key}" steht schon in Zeile ${before.row}; jeder Schlüssel nur einmal` });
      continue;
    }
    seen.set(id, line);
    if (line.value.error !== undefined) {
      problems.push({ path: line.where, message: `Wert ${line.value.error}` });
      continue;
    }
    if (spec) {
      at(spec.path, line.where);
      if (spec.field === 'abbreviation') at('ministry', line.where);
      if (line.value.value === null) continue;
      switch (spec.field) {
        case 'type': data.type = asType(line.value); break;
        case 'year': data.year = asYear(line.value); break;
        case 'edition': data.edition = asText(line.value); break;
        case 'steering': data.steering = asSteering(line.value); break;
        case 'date': data.date = asDate(line.value); break;
        case 'total': data.total = asAmount(line.value); break;
        case 'complete': data.complete = asYesNo(line.value); break;
        case 'note': data.note = asText(line.value); break;
        case 'abbreviation': data.ministry = { abbreviation: asText(line.value) }; break;
      }
    } else if (sig) {
      const n = Number(sig[2] ?? '1');
      const entry = ministrySigs.get(n) ?? {};
      const text = asText(line.value);
      if (text !== undefined) entry[id.startsWith('role') ? 'role' : 'name'] = { text, line };
      else emptySigWhere.set(`${n}-${id.startsWith('role') ? 'role' : 'name'}`, line.where);
      ministrySigs.set(n, entry);
    }
  }
  const sigNumbers = [...ministrySigs.keys()].filter((n) => ministrySigs.get(n)!.name || ministrySigs.get(n)!.role).sort((a, b) => a - b);
  if (sigNumbers.length > 0) {
    const list: Record<string, string>[] = [];
    sigNumbers.forEach((n, k) => {
      const e = ministrySigs.get(n)!;
      const s: Record<string, string> = {};
      const base = `signatories.ministry[${k}]`;
      const nameWhere = e.name?.line.where ?? emptySigWhere.get(`${n}-name`) ?? raw.settingAbsent(n === 1 ? 'Ministerium Unterzeichner' : `Ministerium Unterzeichner ${n}`);
      const roleWhere = e.role?.line.where ?? emptySigWhere.get(`${n}-role`) ?? raw.settingAbsent(n === 1 ? 'Ministerium Funktion' : `Ministerium Funktion ${n}`);
      if (e.name) s.name = e.name.text;
      if (e.role) s.role = e.role.text;
      at(`${base}.name`, nameWhere);
      at(`${base}.role`, roleWhere);
      at(base, e.name ? nameWhere : roleWhere);
      if (k === 0) {
        at('signatories.ministry', e.name ? nameWhere : roleWhere);
        at('signatories', e.name ? nameWhere : roleWhere);
      }
      list.push(s);
    });
    data.signatories = { ministry: list };
  }
  for (const spec of SETTINGS) at(spec.path, raw.settingAbsent(spec.label));
  at('ministry', raw.settingAbsent('Ministerium Kürzel'));
  at('signatories.ministry', raw.settingAbsent('Ministerium Unterzeichner'));
  at('signatories', raw.settingAbsent('Ministerium Unterzeichner'));
  at('agreements', raw.tableWhere);

  // Header.
  const agreements: AgreementAcc[] = [];
  const header = raw.rows[0];
  const columns = new Map<ColumnKey, { index: number; label: string }>();
  const ignored = new Set<number>();
  if (!header) {
    problems.push({ path: raw.tableWhere, message: 'enthält keine Kopfzeile und keine Daten' });
  } else {
    const headerWhere = `Kopfzeile (Zeile ${header.row})`;
    const found: string[] = [];
    header.cells.forEach((cell, index) => {
      const text = asText(cell);
      if (text === undefined) {
        ignored.add(index);
        const firstUse = raw.rows.slice(1).find((r) => !isEmpty(r.cells[index]));
        if (firstUse) {
          problems.push({ path: `Zeile ${firstUse.row}, Spalte ${raw.columnRef(index)}`, message: `Wert ${JSON.stringify(asText(firstUse.cells[index]) ?? '')} in einer Spalte ohne Überschrift` });
        }
        return;
      }
      found.push(text);
      const column = COLUMN_BY_NAME.get(normKey(text));
      if (!column) {
        ignored.add(index);
        const hint = suggestion(text, COLUMNS.flatMap((c) => [c.label, ...c.aliases]));
        problems.push({
          path: headerWhere,
          message: `unbekannte Spalte "${text}" (Spalte ${raw.columnRef(index)})${hint ? ` — meinten Sie "${hint}"?` : ''}; bekannte Spalten: ${COLUMNS.map((c) => c.label).join(', ')}`,
        });
        return;
      }
      const before = columns.get(column.key);
      if (before) {
        ignored.add(index);
        problems.push({ path: headerWhere, message: `Spalte "${column.label}" kommt doppelt vor (Spalten ${raw.columnRef(before.index)} und ${raw.columnRef(index)})` });
        return;
      }
      columns.set(column.key, { index, label: text });
    });
    // Cells beyond the header (CSV rows longer than the header).
    const width = header.cells.length;
    const beyond = raw.rows.slice(1).find((r) => r.cells.slice(width).some((c) => !isEmpty(c)));
    if (beyond) {
      const index = beyond.cells.findIndex((c, i) => i >= width && !isEmpty(c));
      problems.push({ path: `Zeile ${beyond.row}, Spalte ${raw.columnRef(index)}`, message: `Wert ${JSON.stringify(asText(beyond.cells[index]) ?? '')} in einer Spalte ohne Überschrift` });
    }
    const aqb = data.type === 'aqb';
    const required: ColumnKey[] = aqb ? ['partner', 'amount', 'category', 'project', 'name', 'role'] : ['partner', 'name', 'role'];
    for (const key of required) {
      if (!columns.has(key)) {
        problems.push({
          path: headerWhere,
          message: `Spalte "${columnLabel(key)}" fehlt (gefunden: ${found.length ? found.map((f) => `"${f}"`).join(', ') : 'keine'})`,
        });
      }
    }
  }

  const where = (row: number, key: ColumnKey) => (columns.has(key) ? `Zeile ${row}, Spalte ${columns.get(key)!.label}` : `Zeile ${row}`);
  const cellOf = (r: Row, key: ColumnKey): Cell => {
    const col = columns.get(key);
    if (!col) return EMPTY;
    const cell = r.cells[col.index] ?? EMPTY;
    if (cell.error !== undefined) {
      problems.push({ path: where(r.row, key), message: `Zelle ${cell.error}` });
      return EMPTY;
    }
    return cell;
  };

  if (header && columns.has('partner')) {
    let current: AgreementAcc | undefined;
    let currentCategory: MeasureAcc | undefined;
    const firstRowOf = new Map<string, number>();
    for (const r of raw.rows.slice(1)) {
      const partnerText = asText(cellOf(r, 'partner'));
      if (partnerText !== undefined) {
        const resolved = resolvePartner(partnerText);
        if (resolved.ambiguous) {
          problems.push({
            path: where(r.row, 'partner'),
            message: `"${partnerText}" ist mehrdeutig: ${resolved.ambiguous.map((p) => `"${p.name}"`).join(' oder ')}`,
          });
        }
        if (!current || current.partner !== resolved.id) {
          const earlier = firstRowOf.get(resolved.id);
          if (earlier !== undefined) {
            problems.push({
              path: where(r.row, 'partner'),
              message: `"${partnerText}" stand schon in Zeile ${earlier}; die Zeilen eines Partners müssen direkt untereinander stehen`,
            });
          } else firstRowOf.set(resolved.id, r.row);
          current = { partner: resolved.id, partnerText, row: r.row, measures: [], signatories: [] };
          currentCategory = undefined;
          agreements.push(current);
        }
      } else if (!current) {
        problems.push({ path: where(r.row, 'partner'), message: 'kein Partner angegeben (die erste Datenzeile braucht einen Partner)' });
        continue;
      }
      const agreement = current;

      for (const key of ['amount', 'date'] as const) {
        const cell = cellOf(r, key);
        if (cell.value === null) continue;
        const value = key === 'amount' ? asAmount(cell) : asDate(cell);
        const before = agreement[key];
        if (!before) agreement[key] = { value, row: r.row };
        else if (before.value !== value) {
          const what = key === 'amount' ? 'Betrag' : 'Datum';
          problems.push({
            path: where(r.row, key),
            message: `${what} ${show(value, key)} weicht von ${show(before.value, key)} in Zeile ${before.row} ab (je Partner ein ${what}; in den Folgezeilen leer lassen)`,
          });
        }
      }

      const categoryText = asText(cellOf(r, 'category'));
      if (categoryText !== undefined) {
        const category = resolveCategory(categoryText);
        currentCategory = agreement.measures.find((m) => m.category === category);
        if (!currentCategory) {
          currentCategory = { category, row: r.row, projects: [] };
          agreement.measures.push(currentCategory);
        }
      }
      const project = asText(cellOf(r, 'project'));
      if (project !== undefined) {
        if (!currentCategory) {
          problems.push({
            path: where(r.row, 'category'),
            message: `keine Maßnahmenart für das Projekt "${project}" (weder in dieser Zeile noch darüber beim selben Partner)`,
          });
        } else currentCategory.projects.push({ name: project, row: r.row });
      }

      const name = asText(cellOf(r, 'name'));
      const role = asText(cellOf(r, 'role'));
      if (name !== undefined || role !== undefined) agreement.signatories.push({ name, role, row: r.row });
    }
  }

  // Batch JSON and locations.
  data.agreements = agreements.map((a, i) => {
    const base = `agreements[${i}]`;
    at(base, `Zeile ${a.row}`);
    at(`${base}.partner`, where(a.row, 'partner'));
    at(`${base}.amount`, where(a.amount?.row ?? a.row, 'amount'));
    at(`${base}.date`, where(a.date?.row ?? a.row, 'date'));
    at(`${base}.measures`, where(a.row, 'category'));
    at(`${base}.signatories`, where(a.row, 'name'));
    at(`${base}.signatories.partner`, where(a.signatories[0]?.row ?? a.row, 'name'));
    const entry: Record<string, unknown> = { partner: a.partner };
    if (a.amount) entry.amount = a.amount.value;
    if (a.measures.length > 0) {
      entry.measures = a.measures.map((m, j) => {
        const mb = `${base}.measures[${j}]`;
        at(mb, `Zeile ${m.row}`);
        at(`${mb}.category`, where(m.row, 'category'));
        at(`${mb}.projects`, where(m.projects[0]?.row ?? m.row, 'project'));
        m.projects.forEach((p, k) => at(`${mb}.projects[${k}]`, where(p.row, 'project')));
        return { category: m.category, projects: m.projects.map((p) => p.name) };
      });
    }
    if (a.date) entry.date = a.date.value;
    if (a.signatories.length > 0) {
      entry.signatories = {
        partner: a.signatories.map((s, k) => {
          const sb = `${base}.signatories.partner[${k}]`;
          at(sb, `Zeile ${s.row}`);
          at(`${sb}.name`, where(s.row, 'name'));
          at(`${sb}.role`, where(s.row, 'role'));
          const out: Record<string, string> = {};
          if (s.name !== undefined) out.name = s.name;
          if (s.role !== undefined) out.role = s.role;
          return out;
        }),
      };
    }
    return entry;
  });

  return {
    format: raw.format,
    data,
    problems,
    fatal: false,
    locate(jsonPath: string): string | undefined {
      let path = jsonPath;
      for (;;) {
        const found = locations.get(path);
        if (found !== undefined) return found;
        const shorter = path.replace(/(\.[^.[\]]+|\[\d+\])$/, '');
        if (shorter === path || shorter === '') return undefined;
        path = shorter;
      }
    },
  };
}

function fatalSource(format: 'csv' | 'xlsx', message: string): TableSource {
  return { format, data: undefined, problems: [{ path: '(Datei)', message }], fatal: true, locate: () => undefined };
}

// ───────────────────────────── CSV ─────────────────────────────

/** Decodes strict UTF-8 (no BOM handling); otherwise the offset of the byte that starts the first invalid sequence. */
/** `;` (German Excel), `,` or tab: whichever occurs most outside quotes in the header line; `;` on a tie. */
function detectDelimiter(line: string): string {
  const counts = new Map<string, number>([[';', 0], [',', 0], ['\t', 0]]);
  let quoted = false;
  for (const ch of line) {
    if (ch === '"') quoted = !quoted;
    else if (!quoted && counts.has(ch)) counts.set(ch, counts.get(ch)! + 1);
  }
  let best = ';';
  for (const [d, n] of counts) if (n > counts.get(best)!) best = d;
  return best;
}

/** A "# Schlüssel: Wert" line as typed, or as Excel saves it (`# Art: aqb;;;;`, `"# Hinweis: a; b";;`). */
function settingText(line: string): string | undefined {
  let s = line.trim();
  if (s.startsWith('"#')) {
    let out = '';
    let i = 1;
    for (; i < s.length; i++) {
      if (s[i] === '"') {
        if (s[i + 1] === '"') {
          out += '"';
          i++;
        } else break;
      } else out += s[i];
    }
    return out.slice(1);
  }
  if (!s.startsWith('#')) return undefined;
  s = s.replace(/[;,\t\s]+$/, '');
  return s.slice(1);
}

export function readCsv(bytes: Uint8Array, name: string): TableSource {
  void name;
  const bom = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  const body = bytes.subarray(bom);
  const decoded = decodeUtf8(body);
  if ('badOffset' in decoded) {
    return fatalSource(
      'csv',
      `ist kein gültiger UTF-8-Text (erstes ungültiges Byte bei Offset ${decoded.badOffset + bom}); in Excel als „CSV UTF-8 (durch Trennzeichen getrennt)“ speichern`,
    );
  }
  // Byte offsets of the physical lines (LF, CRLF or CR), for line numbers of records.
  const lineStarts = [0];
  for (let i = 0; i < body.length; i++) {
    if (body[i] === 0x0a || (body[i] === 0x0d && body[i + 1] !== 0x0a)) lineStarts.push(i + 1);
  }
  const lineOf = (offset: number) => {
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (lineStarts[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  };
  const lineText = (i: number) => strFromU8(body.subarray(lineStarts[i], i + 1 < lineStarts.length ? lineStarts[i + 1] : body.length)).replace(/\r?\n$|\r$/, '');

  const problems: TableProblem[] = [];
  const settings: SettingLine[] = [];
  let headerLine = -1;
  for (let i = 0; i < lineStarts.length; i++) {
    if (lineStarts[i] >= body.length) break;
    const text = lineText(i);
    if (/^[\s;,]*$/.test(text)) continue;
    const setting = settingText(text);
    if (setting === undefined) {
      headerLine = i;
      break;
    }
    if (setting.trim() === '') continue;
    const colon = setting.indexOf(':');
    const where = (key: string) => `# ${key} (Zeile ${i + 1})`;
    if (colon < 0) {
      problems.push({ path: `Zeile ${i + 1}`, message: `Einstellungszeile ohne Doppelpunkt: "#${setting}" (erwartet „# Schlüssel: Wert“)` });
      continue;
    }
    const key = setting.slice(0, colon).trim();
    settings.push({ key, value: textCell(setting.slice(colon + 1)), row: i + 1, where: where(key) });
  }

  const rows: Row[] = [];
  let fatal = false;
  if (headerLine >= 0) {
    const start = lineStarts[headerLine];
    const delimiter = detectDelimiter(lineText(headerLine));
    try {
      const records = parseCsvRecords(Buffer.from(body.buffer, body.byteOffset + start, body.length - start), {
        delimiter,
        relax_column_count: true,
        relax_quotes: true,
        skip_empty_lines: false,
        info: true,
        bom: false,
      }) as unknown as { record: string[]; info: { bytes: number } }[];
      let offset = start;
      for (const { record, info } of records) {
        const row = lineOf(offset);
        offset = start + info.bytes;
        const cells = record.map(textCell);
        if (cells.every(isEmpty)) continue;
        if (rows.length > 0 && typeof cells[0].value === 'string' && cells[0].value.startsWith('#')) {
          problems.push({ path: `Zeile ${row}`, message: 'Einstellungszeilen („# Schlüssel: Wert“) müssen vor der Kopfzeile stehen' });
          continue;
        }
        rows.push({ row, cells });
      }
    } catch (err) {
      const e = err as Error & { code?: string; bytes?: number; lines?: number };
      const line = typeof e.bytes === 'number' ? lineOf(start + e.bytes) : e.lines;
      problems.push({ path: line ? `Zeile ${line}` : '(Datei)', message: `CSV nicht lesbar: ${e.message}` });
      fatal = true;
    }
  }
  const source = buildSource({
    format: 'csv',
    rows,
    settings,
    settingAbsent: (label) => `# ${label}`,
    tableWhere: headerLine >= 0 ? `Tabelle (ab Zeile ${headerLine + 1})` : 'Tabelle',
    columnRef: (i) => String(i + 1),
    problems,
  });
  return { ...source, fatal };
}

// ───────────────────────────── XLSX ─────────────────────────────

/**
 * exceljs expands every data-validation range into one entry per cell; a dropdown on a whole column
 * (C2:C1048576) would cost seconds and hundreds of MB. Reading needs no validations: drop them first.
 */
function withoutDataValidations(bytes: Uint8Array): Uint8Array {
  let entries: Record<string, Uint8Array>;
  try {
    entries = unzipSync(bytes);
  } catch {
    return bytes; // let exceljs report what is wrong with the file
  }
  let changed = false;
  const out: Zippable = {};
  for (const [path, content] of Object.entries(entries)) {
    if (/^xl\/worksheets\/[^/]+\.xml$/.test(path)) {
      const xml = strFromU8(content);
      const stripped = xml.replace(/<dataValidations\b[^>]*\/>|<dataValidations\b[\s\S]*?<\/dataValidations>/g, '');
      if (stripped !== xml) {
        changed = true;
        out[path] = [strToU8(stripped), { level: 0 }];
        continue;
      }
    }
    out[path] = [content, { level: 0 }];
  }
  return changed ? zipSync(out) : bytes;
}

export async function readXlsx(bytes: Uint8Array, name: string): Promise<TableSource> {
  void name;
  const workbook = new (await loadExcelJS()).Workbook();
  try {
    await workbook.xlsx.load(Buffer.from(withoutDataValidations(bytes)) as unknown as ExcelJS.Buffer);
  } catch (err) {
    return fatalSource('xlsx', `ist keine lesbare XLSX-Datei (${(err as Error).message}); in Excel oder LibreOffice als „Excel-Arbeitsmappe (.xlsx)“ speichern`);
  }
  const sheets = workbook.worksheets;
  const visible = sheets.filter((ws) => ws.state !== 'hidden' && ws.state !== 'veryHidden');
  const special = new Set([normKey(SETTINGS_SHEET), normKey(LISTS_SHEET)]);
  const dataSheet = sheets.find((ws) => normKey(ws.name) === normKey(DATA_SHEET)) ?? visible.find((ws) => !special.has(normKey(ws.name)));
  if (!dataSheet) return fatalSource('xlsx', `enthält kein Arbeitsblatt mit Daten (erwartet „${DATA_SHEET}“ als erstes Blatt)`);
  const settingsSheet = sheets.find((ws) => normKey(ws.name) === normKey(SETTINGS_SHEET));

  const readRows = (ws: ExcelJS.Worksheet): Row[] => {
    const rows: Row[] = [];
    for (let r = 1; r <= ws.rowCount; r++) {
      const row = ws.getRow(r);
      const cells: Cell[] = [];
      for (let c = 1; c <= row.cellCount; c++) cells.push(excelCell(row.getCell(c).value));
      while (cells.length > 0 && isEmpty(cells[cells.length - 1])) cells.pop();
      if (cells.length > 0) rows.push({ row: r, cells });
    }
    return rows;
  };

  const problems: TableProblem[] = [];
  const settings: SettingLine[] = [];
  if (settingsSheet) {
    const rows = readRows(settingsSheet);
    let explanationColumn = -1;
    const first = rows[0];
    const firstKey = first ? asText(first.cells[0]) : undefined;
    if (first && firstKey !== undefined && ['schluessel', 'key'].includes(normKey(firstKey))) {
      const third = first.cells[2] ? asText(first.cells[2]) : undefined;
      if (third !== undefined && ['erlaeuterung', 'beschreibung', 'kommentar'].includes(normKey(third))) explanationColumn = 2;
      rows.shift();
    }
    for (const r of rows) {
      const key = asText(r.cells[0] ?? EMPTY);
      const value = r.cells[1] ?? EMPTY;
      if (key === undefined) {
        if (!isEmpty(value)) problems.push({ path: `${SETTINGS_SHEET}, Zeile ${r.row}`, message: `Wert ohne Schlüssel in Spalte A` });
        continue;
      }
      const extra = r.cells.findIndex((c, i) => i >= 2 && i !== explanationColumn && !isEmpty(c));
      if (extra >= 0) {
        problems.push({ path: `${SETTINGS_SHEET}, Zeile ${r.row}`, message: `Zelle ${columnLetter(extra)} wird nicht gelesen (nur Schlüssel in A und Wert in B)` });
      }
      settings.push({ key, value, row: r.row, where: `${SETTINGS_SHEET}, Zeile ${r.row} (${key})` });
    }
  }

  return buildSource({
    format: 'xlsx',
    rows: readRows(dataSheet),
    settings,
    settingAbsent: (label) => `${SETTINGS_SHEET} (${label})`,
    tableWhere: `Blatt „${dataSheet.name}“`,
    columnRef: columnLetter,
    problems,
  });
}

function columnLetter(index: number): string {
  let n = index + 1;
  let s = '';
  while (n > 0) {
    const m = (n - 1) % 26;
    s = String.fromCharCode(65 + m) + s;
    n = Math.floor((n - 1) / 26);
  }
  return s;
}

/** Reads a batch table by extension (.csv or .xlsx). I/O and content problems come back as problems, never as exceptions. */
export async function readBatchTable(path: string): Promise<TableSource> {
  const ext = extname(path).toLowerCase();
  if (ext !== '.csv' && ext !== '.xlsx') throw new Error(`readBatchTable: unsupported file type "${ext}" (expected .csv or .xlsx)`);
  const format = ext === '.csv' ? 'csv' : 'xlsx';
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return fatalSource(format, code === 'ENOENT' ? 'Datei nicht gefunden' : code === 'EISDIR' ? 'ist ein Verzeichnis, keine Datei' : (err as Error).message);
  }
  return format === 'csv' ? readCsv(bytes, path) : readXlsx(bytes, path);
}

// ───────────────────────────── batch → table ─────────────────────────────

interface OutRow {
  first: boolean;
  partner?: string;
  amount?: number;
  category?: string;
  project?: string;
  name?: string;
  role?: string;
  date?: string;
}
interface OutSetting {
  key: string;
  value: string | number | Date | undefined;
  text: string;
  help: string;
}

/** exceljs takes ~0.4 s to load: only the XLSX paths pay for it. */
async function loadExcelJS(): Promise<typeof ExcelJS> {
  return (await import('exceljs')).default;
}

/** A plain batch object (BatchInput JSON). Only what a table can express is accepted. */
type BatchLike = Record<string, any>;

function unsupported(what: string): never {
  throw new Error(`cannot be written as a table: ${what}`);
}

function tableRows(batch: BatchLike): { columns: ColumnKey[]; rows: OutRow[] } {
  const agreements: BatchLike[] = batch.agreements ?? [];
  const aqb = batch.type !== 'sgb2';
  const anyDate = agreements.some((a) => a.date !== undefined);
  const columns: ColumnKey[] = aqb ? ['partner', 'amount', 'category', 'project', 'name', 'role'] : ['partner', 'name', 'role'];
  if (anyDate) columns.push('date');
  const rows: OutRow[] = [];
  for (const a of agreements) {
    for (const key of Object.keys(a)) {
      if (!['partner', 'amount', 'measures', 'date', 'signatories'].includes(key)) unsupported(`field "${key}" of an agreement`);
    }
    if (typeof a.partner !== 'string') unsupported('an unlisted partner given as an object');
    if (a.signatories && Object.keys(a.signatories).some((k) => k !== 'partner')) unsupported('per-agreement ministry signatories');
    const partner = findPartner(a.partner)?.name ?? a.partner;
    const projects: { category?: string; project?: string }[] = [];
    for (const m of (a.measures ?? []) as { category: string; projects: string[] }[]) {
      const label = isMeasureCategory(m.category) ? CATEGORY_LABELS[m.category] : m.category;
      if (m.projects.length === 0) projects.push({ category: label });
      m.projects.forEach((p, k) => projects.push({ category: k === 0 ? label : undefined, project: p }));
    }
    const sigs: { name?: string; role?: string }[] = a.signatories?.partner ?? [];
    const n = Math.max(projects.length, sigs.length, 1);
    for (let k = 0; k < n; k++) {
      const row: OutRow = { first: k === 0, ...projects[k], name: sigs[k]?.name, role: sigs[k]?.role };
      if (k === 0) {
        row.partner = partner;
        row.amount = a.amount;
        row.date = a.date;
      }
      rows.push(row);
    }
  }
  return { columns, rows };
}

function tableSettings(batch: BatchLike, all: boolean): OutSetting[] {
  for (const key of Object.keys(batch)) {
    if (!['type', 'year', 'edition', 'steering', 'date', 'ministry', 'signatories', 'total', 'complete', 'note', 'agreements'].includes(key)) {
      unsupported(`batch field "${key}"`);
    }
  }
  if (batch.ministry && Object.keys(batch.ministry).some((k) => k !== 'abbreviation')) unsupported('ministry overrides other than the abbreviation');
  const out: OutSetting[] = [];
  const add = (key: string, value: string | number | Date | undefined, text: string | undefined, help: string) => {
    if (value !== undefined || all) out.push({ key, value, text: text ?? '', help });
  };
  const help = (field: SettingField) => SETTINGS.find((s) => s.field === field)!.help;
  const isoDate = (s: string | undefined) => (s && /^\d{4}-\d{2}-\d{2}$/.test(s) ? new Date(`${s}T00:00:00Z`) : s);
  add('Art', batch.type, batch.type, help('type'));
  add('Jahr', batch.year, batch.year === undefined ? undefined : String(batch.year), help('year'));
  add('Fassung', batch.edition, batch.edition, help('edition'));
  add('Steuerung', batch.steering, batch.steering, help('steering'));
  add('Datum', isoDate(batch.date), batch.date && formatGermanDate(batch.date), help('date'));
  add('Gesamtbudget', batch.total, batch.total === undefined ? undefined : formatGermanNumber(batch.total), help('total'));
  add('Vollständig', batch.complete === undefined ? undefined : batch.complete ? 'ja' : 'nein', batch.complete === undefined ? undefined : batch.complete ? 'ja' : 'nein', help('complete'));
  add('Hinweis', batch.note, batch.note, help('note'));
  const ministry: { name: string; role: string }[] = batch.signatories?.ministry ?? [];
  const sigCount = Math.max(ministry.length, all ? 2 : 0);
  for (let k = 0; k < sigCount; k++) {
    const suffix = k === 0 ? '' : ` ${k + 1}`;
    add(`Ministerium Unterzeichner${suffix}`, ministry[k]?.name, ministry[k]?.name, k === 0 ? MINISTRY_HELP.name : MINISTRY_HELP.name2);
    add(`Ministerium Funktion${suffix}`, ministry[k]?.role, ministry[k]?.role, k === 0 ? MINISTRY_HELP.role : MINISTRY_HELP.role2);
  }
  add('Ministerium Kürzel', batch.ministry?.abbreviation, batch.ministry?.abbreviation, help('abbreviation'));
  return out;
}

function csvField(s: string, delimiter: string): string {
  return /["\r\n]/.test(s) || s.includes(delimiter) || s !== s.trim() ? `"${s.replace(/"/g, '""')}"` : s;
}

export interface TableWriteOptions {
  /** List every settings key, also those without a value (the template). */
  allSettings?: boolean;
  /** Always include the optional Datum column. */
  dateColumn?: boolean;
}

/**
 * A batch as CSV the way German Excel writes it: UTF-8 with BOM, `;`, CRLF, settings as "# Schlüssel: Wert"
 * lines, partner names, short category labels, German amounts (1.341.400) and dates (30.05.2023).
 */
export function batchToCsv(batch: BatchLike, options: TableWriteOptions = {}): string {
  const d = ';';
  const { columns, rows } = tableRows(batch);
  if (options.dateColumn && !columns.includes('date')) columns.push('date');
  const lines: string[] = [];
  for (const s of tableSettings(batch, options.allSettings ?? false)) {
    const line = `# ${s.key}: ${s.text}`.trimEnd();
    lines.push(/["\r\n;]/.test(line) ? csvField(line, d) : line);
  }
  lines.push(columns.map(columnLabel).join(d));
  for (const r of rows) {
    lines.push(
      columns
        .map((c) => {
          const v = r[c];
          if (v === undefined) return '';
          if (c === 'amount') return typeof v === 'number' ? formatGermanNumber(v) : csvField(String(v), d);
          if (c === 'date') return csvField(formatGermanDate(String(v)), d);
          return csvField(String(v), d);
        })
        .join(d),
    );
  }
  return '\uFEFF' + lines.join('\r\n') + '\r\n';
}

const WIDTHS: Record<ColumnKey, number> = { partner: 30, amount: 15, category: 26, project: 50, name: 28, role: 24, date: 12 };
const FIXED_TIME = new Date('2000-01-01T00:00:00Z');
const HEADER_FONT: Partial<ExcelJS.Font> = { name: 'Calibri', size: 11, bold: true };

/**
 * A batch as an XLSX workbook: sheet "Zielvereinbarungen" (bold frozen header, widths, dropdowns for
 * Partner and Maßnahmenart), sheet "Einstellungen" (Schlüssel | Wert | Erläuterung) and a hidden sheet
 * "Listen" feeding the dropdowns. Deterministic: fixed document dates and zip timestamps.
 */
export async function batchToXlsx(batch: BatchLike, options: TableWriteOptions = {}): Promise<Uint8Array> {
  const { columns, rows } = tableRows(batch);
  if (options.dateColumn && !columns.includes('date')) columns.push('date');
  const wb = new (await loadExcelJS()).Workbook();
  wb.creator = 'Zielwerk';
  wb.lastModifiedBy = 'Zielwerk';
  wb.created = FIXED_TIME;
  wb.modified = FIXED_TIME;

  const ws = wb.addWorksheet(DATA_SHEET, { views: [{ state: 'frozen', ySplit: 1 }] });
  ws.columns = columns.map((c) => ({ header: columnLabel(c), key: c, width: WIDTHS[c] }));
  ws.getRow(1).font = HEADER_FONT;
  ws.getRow(1).fill = { type: 'pattern', pattern: 'solid', fgColor: { argb: 'FFDDE6F0' } };
  for (const r of rows) {
    const values: Record<string, unknown> = {};
    for (const c of columns) {
      const v = r[c];
      if (v === undefined) continue;
      values[c] = c === 'date' && /^\d{4}-\d{2}-\d{2}$/.test(String(v)) ? new Date(`${v}T00:00:00Z`) : v;
    }
    const row = ws.addRow(values);
    for (const c of columns) {
      const cell = row.getCell(c);
      if (c === 'amount' && typeof r.amount === 'number') cell.numFmt = Number.isInteger(r.amount) ? '#,##0 "€"' : '#,##0.00 "€"';
      if (c === 'date') cell.numFmt = 'dd.mm.yyyy';
      if (c === 'project' || c === 'role' || c === 'name') cell.alignment = { wrapText: true, vertical: 'top' };
      else cell.alignment = { vertical: 'top' };
      if (r.first && row.number > 2) cell.border = { top: { style: 'thin', color: { argb: 'FF9AA8B8' } } };
    }
  }
  const lastRow = Math.max(1000, rows.length + 200);
  const validations = (sheet: ExcelJS.Worksheet) => (sheet as unknown as { dataValidations: { add(range: string, v: ExcelJS.DataValidation): void } }).dataValidations;
  const colOf = (key: ColumnKey) => columnLetter(columns.indexOf(key));
  validations(ws).add(`${colOf('partner')}2:${colOf('partner')}${lastRow}`, {
    type: 'list',
    allowBlank: true,
    formulae: [`${LISTS_SHEET}!$A$2:$A$${listPartners().length + 1}`],
    showErrorMessage: true,
    errorStyle: 'warning',
    errorTitle: 'Partner',
    error: 'Kein Name aus der Liste der 26 Partner. Trotzdem übernehmen?',
  });
  if (columns.includes('category')) {
    validations(ws).add(`${colOf('category')}2:${colOf('category')}${lastRow}`, {
      type: 'list',
      allowBlank: true,
      formulae: [`"${Object.values(CATEGORY_LABELS).join(',')}"`],
      showErrorMessage: true,
      errorStyle: 'warning',
      errorTitle: 'Maßnahmenart',
      error: 'Keine der vier Maßnahmenarten. Trotzdem übernehmen?',
    });
  }

  const st = wb.addWorksheet(SETTINGS_SHEET, { views: [{ state: 'frozen', ySplit: 1 }] });
  st.columns = [
    { header: 'Schlüssel', key: 'key', width: 30 },
    { header: 'Wert', key: 'value', width: 40 },
    { header: 'Erläuterung', key: 'help', width: 80 },
  ];
  st.getRow(1).font = HEADER_FONT;
  st.getRow(1).fill = { type: 'pattern', pattern: 'solid', fgColor: { argb: 'FFDDE6F0' } };
  for (const s of tableSettings(batch, options.allSettings ?? false)) {
    const row = st.addRow({ key: s.key, value: s.value, help: s.help });
    const cell = row.getCell('value');
    cell.alignment = { horizontal: 'left', wrapText: s.key === 'Hinweis' };
    if (s.key === 'Gesamtbudget') cell.numFmt = '#,##0 "€"';
    if (s.value instanceof Date) cell.numFmt = 'dd.mm.yyyy';
    row.getCell('help').font = { name: 'Calibri', size: 11, italic: true, color: { argb: 'FF555555' } };
    const list = s.key === 'Art' ? 'aqb,sgb2' : s.key === 'Steuerung' ? 'dialog,exchange' : s.key === 'Vollständig' ? 'ja,nein' : undefined;
    if (list) validations(st).add(`B${row.number}`, { type: 'list', allowBlank: true, formulae: [`"${list}"`], showErrorMessage: true, errorStyle: 'stop', error: `Erlaubt: ${list.replace(',', ' oder ')}` });
  }

  const lists = wb.addWorksheet(LISTS_SHEET);
  lists.state = 'hidden';
  lists.getCell('A1').value = 'Partner';
  lists.getCell('B1').value = 'Maßnahmenart';
  listPartners().forEach((p, i) => (lists.getCell(`A${i + 2}`).value = p.name));
  Object.values(CATEGORY_LABELS).forEach((label, i) => (lists.getCell(`B${i + 2}`).value = label));

  const buffer = new Uint8Array(await wb.xlsx.writeBuffer());
  // Re-zip with fixed timestamps so the same batch gives the same bytes.
  const entries = unzipSync(buffer);
  const zippable: Zippable = {};
  for (const [path, content] of Object.entries(entries)) zippable[path] = [content, { level: 6, mtime: new Date('1980-01-01T00:00:00') }];
  return zipSync(zippable);
}

/** The example partner of the template (Werra-Meißner-Kreis, AQB 2023). */
const TEMPLATE_BATCH: BatchLike = {
  type: 'aqb',
  year: 2023,
  edition: '2023',
  steering: 'dialog',
  date: '2023-05-30',
  total: 27700000,
  complete: true,
  signatories: { ministry: [{ name: 'Kai Klose', role: 'Staatsminister' }] },
  agreements: [
    {
      partner: 'werra-meissner-kreis',
      amount: 444000,
      measures: [
        { category: 'ausbildung', projects: ['Ausbildungsbegleitende Unterstützung'] },
        { category: 'qualifizierung', projects: ['DREIplus', 'Aktiv in den Job', "Let's work", 'HOGA', 'ZAK', '(Re-)Start - Neue Wege - neue Chancen'] },
        { category: 'weiterbildung', projects: ['Strategieentwicklung'] },
      ],
      signatories: { partner: [{ name: 'Nicole Rathgeber', role: 'Landrätin' }] },
    },
  ],
};

/** A ready-to-fill workbook: both sheets, every settings key (AQB 2023 values as example), one partner filled in. */
export async function xlsxTemplate(): Promise<Uint8Array> {
  return batchToXlsx(TEMPLATE_BATCH, { allSettings: true, dateColumn: true });
}

/** The same as CSV. */
export function csvTemplate(): string {
  return batchToCsv(TEMPLATE_BATCH, { allSettings: true, dateColumn: true });
}
