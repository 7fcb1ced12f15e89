import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import ExcelJS from 'exceljs';
import {
  batchToCsv,
  batchToXlsx,
  csvTemplate,
  readBatchTable,
  readCsv,
  readXlsx,
  resolveCategory,
  resolvePartner,
  xlsxTemplate,
  type TableSource,
} from '../src/batch/table.ts';
import { formatGermanNumber, isoFromSerial, parseDateText, parseGermanNumber, parseYesNo } from '../src/batch/numbers.ts';
import { validateBatchShape } from '../src/model/batch.ts';
import { tempDir } from './helpers/tools.ts';

const example = (name: string) => new URL(`../examples/${name}`, import.meta.url);
const hessen = () => JSON.parse(readFileSync(example('aqb-2023-hessen.json'), 'utf8'));
const enc = (s: string) => new TextEncoder().encode(s);
/** A CSV from lines joined with LF. */
const csv = (...lines: string[]) => readCsv(enc(lines.join('\n') + '\n'), 'test.csv');
const HEADER = 'Partner;Betrag;Maßnahmenart;Projekt;Unterzeichner;Funktion';
const agreementsOf = (s: TableSource) => (s.data as { agreements: any[] }).agreements;
const problemText = (s: TableSource) => s.problems.map((p) => `${p.path}: ${p.message}`).join('\n');

/** An XLSX read back: `rows` go to the first sheet (raw exceljs values), `settings` to "Einstellungen". */
async function xlsx(rows: ExcelJS.CellValue[][], settings?: [string, ExcelJS.CellValue][], edit?: (wb: ExcelJS.Workbook) => void) {
  const wb = new ExcelJS.Workbook();
  const ws = wb.addWorksheet('Zielvereinbarungen');
  rows.forEach((r, i) => r.forEach((v, j) => (ws.getCell(i + 1, j + 1).value = v)));
  if (settings) {
    const st = wb.addWorksheet('Einstellungen');
    st.addRow(['Schlüssel', 'Wert']);
    for (const s of settings) st.addRow(s);
  }
  edit?.(wb);
  return readXlsx(new Uint8Array(await wb.xlsx.writeBuffer()), 'test.xlsx');
}

// ───────────── numbers ─────────────

test('German amounts: accepted forms and rejected ones', () => {
  const cases: [string, number | undefined][] = [
    ['444000', 444000],
    ['1.341.400', 1341400],
    ['444.000,00 €', 444000],
    ['444.000,5', 444000.5],
    ['444000,50', 444000.5],
    ['1 341 400', 1341400],
    ['1\u00a0341\u00a0400', 1341400],
    ['1\u202f341\u202f400,25', 1341400.25],
    ['€ 1.000', 1000],
    ['EUR 1.000', 1000],
    ['1.000 Euro', 1000],
    ['444.000,-', 444000],
    ['  27.700.000  ', 27700000],
    ['0,5', 0.5],
    ['-5', -5],
    ['444.000', 444000], // a single point groups thousands in German
    ['27,7 Mio.', undefined],
    ['1.34.400', undefined],
    ['1.3414', undefined],
    ['444000.5', undefined], // English decimal point: not German
    ['1,341,400.00', undefined],
    ['44,000', undefined], // three decimals: an English "44,000" must not become 44 euros
    ['1.341 400', undefined], // mixed separators
    ['', undefined],
    ['abc', undefined],
    ['12a', undefined],
    ['1.000.000,5.5', undefined],
  ];
  for (const [text, expected] of cases) assert.equal(parseGermanNumber(text), expected, JSON.stringify(text));
  assert.equal(formatGermanNumber(1341400), '1.341.400');
  assert.equal(formatGermanNumber(444000.5), '444.000,50');
  assert.equal(formatGermanNumber(999), '999');
});

test('dates and yes/no', () => {
  assert.equal(parseDateText('30.05.2023'), '2023-05-30');
  assert.equal(parseDateText('1.7.2023'), '2023-07-01');
  assert.equal(parseDateText('2023-05-30'), '2023-05-30');
  assert.equal(parseDateText('30.05.23'), undefined);
  assert.equal(parseDateText('Mai 2023'), undefined);
  assert.equal(isoFromSerial(45076), '2023-05-30');
  assert.equal(parseYesNo('Ja'), true);
  assert.equal(parseYesNo('nein'), false);
  assert.equal(parseYesNo('WAHR'), true);
  assert.equal(parseYesNo('vielleicht'), undefined);
});

// ───────────── vocabulary ─────────────

test('partner names and ids → ids; short names only when unambiguous', () => {
  const cases: [string, string][] = [
    ['werra-meissner-kreis', 'werra-meissner-kreis'],
    ['Werra-Meißner-Kreis', 'werra-meissner-kreis'],
    ['werra-meissner-KREIS', 'werra-meissner-kreis'],
    ['Werra-Meissner-Kreis', 'werra-meissner-kreis'],
    ['Landkreis Offenbach', 'landkreis-offenbach'],
    ['Kreis Offenbach', 'landkreis-offenbach'],
    ['Stadt Offenbach am Main', 'stadt-offenbach-am-main'],
    ['Offenbach am Main', 'stadt-offenbach-am-main'],
    ['Stadt Kassel', 'stadt-kassel'],
    ['Landkreis Kassel', 'landkreis-kassel'],
    ['Kreis Groß-Gerau', 'landkreis-gross-gerau'],
    ['Groß-Gerau', 'landkreis-gross-gerau'],
    ['Frankfurt am Main', 'stadt-frankfurt-am-main'],
    ['Frankfurt', 'stadt-frankfurt-am-main'],
    ['Darmstadt', 'wissenschaftsstadt-darmstadt'],
    ['Stadt Darmstadt', 'wissenschaftsstadt-darmstadt'],
    ['Wiesbaden', 'landeshauptstadt-wiesbaden'],
    ['Fulda', 'landkreis-fulda'],
    ['  Hochtaunuskreis ', 'hochtaunuskreis'],
    ['Werra-Meisner-Kreis', 'Werra-Meisner-Kreis'], // unknown: as written (the validator suggests)
  ];
  for (const [text, id] of cases) assert.equal(resolvePartner(text).id, id, text);
  for (const short of ['Kassel', 'Offenbach']) {
    const r = resolvePartner(short);
    assert.equal(r.id, short);
    assert.equal(r.ambiguous?.length, 2, short);
  }
});

test('category ids, short labels and canonical titles → ids; unknown text unchanged', () => {
  assert.equal(resolveCategory('Ausbildung'), 'ausbildung');
  assert.equal(resolveCategory('AUSBILDUNGSVORBEREITUNG'), 'ausbildungsvorbereitung');
  assert.equal(resolveCategory('qualifizierung'), 'qualifizierung');
  assert.equal(resolveCategory('Ausbildung und Ausbildungscoaching in anerkannten Ausbildungsberufen'), 'ausbildung');
  assert.equal(resolveCategory(' weiterbildung '), 'weiterbildung');
  assert.equal(resolveCategory('Qualifizierungs'), 'Qualifizierungs');
});

// ───────────── CSV layout ─────────────

test('CSV: settings lines, continuation rows, names → ids, labels → ids, signatories across rows', () => {
  const s = csv(
    '# Art: aqb',
    '# Jahr: 2023',
    '# Fassung: 2023',
    '# Steuerung: dialog',
    '# Datum: 30.05.2023',
    '# Gesamtbudget: 27.700.000',
    '# Vollständig: nein',
    '# Hinweis: Probe: mit Doppelpunkt',
    '# Ministerium Unterzeichner: Kai Klose',
    '# Ministerium Funktion: Staatsminister',
    '# Ministerium Kürzel: HMSI',
    '',
    HEADER,
    'Werra-Meißner-Kreis;444.000;Ausbildung;Ausbildungsbegleitende Unterstützung;Nicole Rathgeber;Landrätin',
    ';;Qualifizierung;DREIplus;Erika Muster;Erste Kreisbeigeordnete',
    ';;;Aktiv in den Job;;',
    'Stadt Kassel;1.000.000,50 €;Ausbildungsvorbereitung;Jugend Flex;;',
    ';;;Berufscamp;;',
    ';;;;Sven Schoeller;Oberbürgermeister',
  );
  assert.equal(s.problems.length, 0, problemText(s));
  assert.equal(s.format, 'csv');
  assert.equal(s.fatal, false);
  assert.deepEqual(s.data, {
    type: 'aqb',
    year: 2023,
    edition: '2023',
    steering: 'dialog',
    date: '2023-05-30',
    total: 27700000,
    complete: false,
    note: 'Probe: mit Doppelpunkt',
    ministry: { abbreviation: 'HMSI' },
    signatories: { ministry: [{ name: 'Kai Klose', role: 'Staatsminister' }] },
    agreements: [
      {
        partner: 'werra-meissner-kreis',
        amount: 444000,
        measures: [
          { category: 'ausbildung', projects: ['Ausbildungsbegleitende Unterstützung'] },
          { category: 'qualifizierung', projects: ['DREIplus', 'Aktiv in den Job'] },
        ],
        signatories: {
          partner: [
            { name: 'Nicole Rathgeber', role: 'Landrätin' },
            { name: 'Erika Muster', role: 'Erste Kreisbeigeordnete' },
          ],
        },
      },
      {
        partner: 'stadt-kassel',
        amount: 1000000.5,
        measures: [{ category: 'ausbildungsvorbereitung', projects: ['Jugend Flex', 'Berufscamp'] }],
        signatories: { partner: [{ name: 'Sven Schoeller', role: 'Oberbürgermeister' }] },
      },
    ],
  });
  // The data is a valid batch.
  assert.deepEqual(validateBatchShape(s.data).problems, []);
});

test('CSV: header aliases, case and spaces; the repeated partner and same amount on every row; trimmed cells; empty rows skipped', () => {
  const s = csv(
    '# Art: AQB',
    '# Jahr: 2023',
    ' partner ; Betrag (Euro) ;KATEGORIE;  Projekt;Unterzeichnende;Rolle;datum',
    'Landkreis Fulda ; 500.000 ;  qualifizierung ; Projekt A ;  Bernd Woide ; Landrat ; 1.7.2023',
    'Landkreis Fulda;500000;;Projekt B;;;',
    ';;;;;;',
    '',
    'Landkreis Fulda;500.000,00;Weiterbildung;Projekt C;;;2023-07-01',
  );
  assert.equal(s.problems.length, 0, problemText(s));
  assert.deepEqual(agreementsOf(s), [
    {
      partner: 'landkreis-fulda',
      amount: 500000,
      date: '2023-07-01',
      measures: [
        { category: 'qualifizierung', projects: ['Projekt A', 'Projekt B'] },
        { category: 'weiterbildung', projects: ['Projekt C'] },
      ],
      signatories: { partner: [{ name: 'Bernd Woide', role: 'Landrat' }] },
    },
  ]);
  assert.equal(s.locate('agreements[0].measures[1].projects[0]'), 'Zeile 8, Spalte Projekt', 'physical line numbers, empty lines counted');
  assert.equal(s.locate('agreements[0].amount'), 'Zeile 4, Spalte Betrag (Euro)', 'the column named as in the file');
});

test('CSV: "," and tab delimiters, BOM or not, CRLF — the same data as with ";"', () => {
  const rows = [
    ['# Art: aqb'],
    ['# Jahr: 2023'],
    ['Partner', 'Betrag', 'Maßnahmenart', 'Projekt', 'Unterzeichner', 'Funktion'],
    ['Odenwaldkreis', '600.000', 'Ausbildung', 'Projekt, mit Komma', 'Frank Matiaske', 'Landrat'],
    ['', '', '', 'Projekt; mit Semikolon', '', ''],
  ];
  const build = (d: string, eol: string, bom: boolean) =>
    (bom ? '\uFEFF' : '') +
    rows.map((r) => (r.length === 1 ? r[0] : r.map((c) => (c.includes(d) ? `"${c}"` : c)).join(d))).join(eol) +
    eol;
  const reference = readCsv(enc(build(';', '\n', false)), 'x.csv');
  assert.equal(reference.problems.length, 0, problemText(reference));
  assert.deepEqual(agreementsOf(reference)[0].measures[0].projects, ['Projekt, mit Komma', 'Projekt; mit Semikolon']);
  for (const d of [';', ',', '\t']) {
    for (const eol of ['\n', '\r\n']) {
      for (const bom of [false, true]) {
        const s = readCsv(enc(build(d, eol, bom)), 'x.csv');
        assert.equal(s.problems.length, 0, `${JSON.stringify(d)} ${JSON.stringify(eol)} ${bom}: ${problemText(s)}`);
        assert.deepEqual(s.data, reference.data, `${JSON.stringify(d)} ${JSON.stringify(eol)} bom=${bom}`);
        assert.equal(s.locate('agreements[0].measures[0].projects[1]'), 'Zeile 5, Spalte Projekt');
      }
    }
  }
  // A "," CSV whose amounts carry decimal commas must quote them (RFC 4180), and then reads right.
  const comma = csv('# Art: aqb', 'Partner,Betrag,Maßnahmenart,Projekt,Unterzeichner,Funktion', 'Odenwaldkreis,"600.000,50",Ausbildung,P,N,R');
  assert.equal(agreementsOf(comma)[0].amount, 600000.5);
});

test('CSV: a quoted field with a line break; line numbers stay physical', () => {
  const s = csv(
    '# Art: aqb',
    HEADER,
    'Landkreis Gießen;700.000;Ausbildung;"Projekt mit',
    'Zeilenumbruch";Anita Schneider;Landrätin',
    ';;;"Zweites ""Projekt""";;',
  );
  assert.equal(s.problems.length, 0, problemText(s));
  assert.deepEqual(agreementsOf(s)[0].measures[0].projects, ['Projekt mit\nZeilenumbruch', 'Zweites "Projekt"']);
  assert.equal(s.locate('agreements[0].measures[0].projects[1]'), 'Zeile 5, Spalte Projekt');
  // The validator then names the line break, at the cell.
  const v = validateBatchShape({ ...(s.data as object), year: 2023 });
  const p = v.problems.find((x) => x.path === 'agreements[0].measures[0].projects[0]');
  assert.match(p?.message ?? '', /line breaks/);
  assert.equal(s.locate(p!.path), 'Zeile 3, Spalte Projekt');
});

test('CSV: settings lines as Excel saves them (trailing delimiters, quoted cell)', () => {
  const s = csv('# Art: aqb;;;;;', '"# Hinweis: vorläufig; Stand ""Mai""";;;;;', '#Jahr:2023', HEADER, 'Vogelsbergkreis;300.000;Ausbildung;P;Manfred Görig;Landrat');
  assert.equal(s.problems.length, 0, problemText(s));
  const d = s.data as Record<string, unknown>;
  assert.equal(d.type, 'aqb');
  assert.equal(d.year, 2023);
  assert.equal(d.note, 'vorläufig; Stand "Mai"');
  assert.equal(s.locate('note'), '# Hinweis (Zeile 2)');
});

test('CSV: a file that is not UTF-8 is rejected with the byte offset', () => {
  const latin1 = Buffer.from(`# Art: aqb\n${HEADER}\nWerra-Meißner-Kreis;444.000;Ausbildung;P;N;Landrätin\n`, 'latin1');
  const s = readCsv(latin1, 'x.csv');
  assert.equal(s.fatal, true);
  assert.equal(s.problems.length, 1);
  const offset = latin1.indexOf(0xdf); // ß
  assert.equal(s.problems[0].path, '(Datei)');
  assert.match(s.problems[0].message, new RegExp(`kein gültiger UTF-8-Text \\(erstes ungültiges Byte bei Offset ${offset}\\)`));
  // With a BOM the offset still counts from the start of the file.
  const withBom = readCsv(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), latin1]), 'x.csv');
  assert.match(withBom.problems[0].message, new RegExp(`Offset ${offset + 3}\\)`));
  // A truncated sequence at the very end, an overlong form, a lone continuation byte.
  for (const [bytes, at] of [[[0x41, 0x42, 0xe2, 0x82], 2], [[0x41, 0xc0, 0xaf], 1], [[0x41, 0x80], 1], [[0xed, 0xa0, 0x80], 0]] as const) {
    assert.match(readCsv(new Uint8Array(bytes), 'x.csv').problems[0].message, new RegExp(`Offset ${at}\\)`), JSON.stringify(bytes));
  }
});

// ───────────── problems ─────────────

test('a different amount on a later row of the same partner is an error at that cell; the same amount is fine', () => {
  const s = csv(
    '# Art: aqb',
    HEADER,
    'Werra-Meißner-Kreis;444.000;Ausbildung;P1;N;R',
    ';444000;;P2;;',
    ';450.000;;P3;;',
  );
  assert.equal(s.problems.length, 1, problemText(s));
  assert.equal(s.problems[0].path, 'Zeile 5, Spalte Betrag');
  assert.match(s.problems[0].message, /Betrag 450\.000 weicht von 444\.000 in Zeile 3 ab/);
  assert.equal(agreementsOf(s)[0].amount, 444000);
});

test('unknown columns (a typo) and missing required columns are reported from the header', () => {
  const s = csv('# Art: aqb', 'Partner;Betarg;Maßnahmenart;Unterzeichner;Funktion;Bemerkung', 'Odenwaldkreis;1;Ausbildung;N;R;x');
  const text = problemText(s);
  assert.match(text, /Kopfzeile \(Zeile 2\): unbekannte Spalte "Betarg" \(Spalte 2\) — meinten Sie "Betrag"\?/);
  assert.match(text, /unbekannte Spalte "Bemerkung"/);
  assert.match(text, /Kopfzeile \(Zeile 2\): Spalte "Betrag" fehlt \(gefunden: "Partner", "Betarg", "Maßnahmenart", "Unterzeichner", "Funktion", "Bemerkung"\)/);
  assert.match(text, /Spalte "Projekt" fehlt/);
  // Projekt and Maßnahmenart are only required for AQB.
  const sgb2 = csv('# Art: sgb2', 'Partner;Unterzeichner;Funktion', 'Odenwaldkreis;Frank Matiaske;Landrat');
  assert.equal(sgb2.problems.length, 0, problemText(sgb2));
  assert.deepEqual(agreementsOf(sgb2), [{ partner: 'odenwaldkreis', signatories: { partner: [{ name: 'Frank Matiaske', role: 'Landrat' }] } }]);
  // A value in a column without a heading is not silently dropped.
  const headless = csv('# Art: sgb2', 'Partner;Unterzeichner;Funktion', 'Odenwaldkreis;Frank Matiaske;Landrat;vergessen');
  assert.match(problemText(headless), /Zeile 3, Spalte 4: Wert "vergessen" in einer Spalte ohne Überschrift/);
});

test('other reading problems: ambiguous partner, partner split over non-adjacent rows, project without category, no partner, settings', () => {
  const s = csv(
    '# Art: aqb',
    '# Jahrr: 2023',
    '# Art: sgb2',
    HEADER,
    ';1;Ausbildung;P;N;R',
    'Kassel;1;Ausbildung;P;N;R',
    'Odenwaldkreis;1;;P;N;R',
    'Kassel;1;Ausbildung;Q;;',
    '# Jahr: 2023',
  );
  const text = problemText(s);
  assert.match(text, /# Jahrr \(Zeile 2\): unbekannter Schlüssel "Jahrr" \(meinten Sie "Jahr"\?\)/);
  assert.match(text, /# Art \(Zeile 3\): "Art" steht schon in Zeile 1/);
  assert.match(text, /Zeile 5, Spalte Partner: kein Partner angegeben/);
  assert.match(text, /Zeile 6, Spalte Partner: "Kassel" ist mehrdeutig: "Landkreis Kassel" oder "Stadt Kassel"/);
  assert.match(text, /Zeile 7, Spalte Maßnahmenart: keine Maßnahmenart für das Projekt "P"/);
  assert.match(text, /Zeile 8, Spalte Partner: "Kassel" stand schon in Zeile 6; die Zeilen eines Partners müssen direkt untereinander stehen/);
  assert.match(text, /Zeile 9: Einstellungszeilen .* müssen vor der Kopfzeile stehen/);
});

test('validation problems are located in the file: text amount, unknown category and partner, missing signatory role', () => {
  const s = csv(
    '# Art: aqb',
    '# Jahr: 2023',
    HEADER,
    'Werra-Meißner-Kreis;27,7 Mio.;Qualifizierungs;P;Nicole Rathgeber;',
    'Werra-Meisner-Kreis;1;Ausbildung;Q;N;R',
  );
  assert.equal(s.problems.length, 0, problemText(s));
  const located = validateBatchShape(s.data).problems.map((p) => `${s.locate(p.path) ?? p.path}: ${p.message}`);
  const expect = [
    /^Zeile 4, Spalte Betrag: must be a number of euros .* got the text "27,7 Mio\."$/,
    /^Zeile 4, Spalte Maßnahmenart: unknown category "Qualifizierungs" \(did you mean "qualifizierung"\?\)$/,
    /^Zeile 4, Spalte Funktion: is required$/,
    /^Zeile 5, Spalte Partner: unknown partner "Werra-Meisner-Kreis" \(did you mean "werra-meissner-kreis"\?\)$/,
  ];
  for (const re of expect) assert.ok(located.some((l) => re.test(l)), `${re}\n in\n${located.join('\n')}`);
  // A bad batch-level value is located at its settings line.
  const total = csv('# Art: aqb', '# Jahr: 2023', '# Gesamtbudget: 27,7 Mio.', HEADER, 'Odenwaldkreis;1;Ausbildung;P;N;R');
  const totalProblems = validateBatchShape(total.data).problems.map((p) => `${total.locate(p.path) ?? p.path}: ${p.message}`);
  assert.deepEqual(totalProblems, ['# Gesamtbudget (Zeile 3): must be a number of euros (e.g. 444000 or 444000.5), got the text "27,7 Mio."']);
});

// ───────────── locate ─────────────

test('locate: the most specific known prefix, in the file\'s terms (CSV and XLSX)', async () => {
  const json = hessen();
  const c = readCsv(enc(batchToCsv(json)), 'x.csv');
  const x = await readXlsx(await batchToXlsx(json), 'x.xlsx');
  // Rows of agreements[3] and its pieces, computed from the JSON: settings lines (CSV only) + header + rows per agreement.
  const rowsOf = (a: any) => Math.max(a.measures.reduce((n: number, m: any) => n + m.projects.length, 0), a.signatories.partner.length, 1);
  const first = (i: number) => 2 + json.agreements.slice(0, i).reduce((n: number, a: any) => n + rowsOf(a), 0);
  const a1 = json.agreements[1]; // two measures
  assert.ok(a1.measures.length >= 2);
  const csvOffset = 10; // ten "# …" lines before the header
  for (const [s, off] of [[c, csvOffset], [x, 0]] as const) {
    const r3 = first(3) + off;
    const r1 = first(1) + off;
    const m1 = r1 + a1.measures[0].projects.length;
    assert.equal(s.locate('agreements[3]'), `Zeile ${r3}`);
    assert.equal(s.locate('agreements[3].amount'), `Zeile ${r3}, Spalte Betrag`);
    assert.equal(s.locate('agreements[3].partner'), `Zeile ${r3}, Spalte Partner`);
    assert.equal(s.locate('agreements[1].measures[1]'), `Zeile ${m1}`);
    assert.equal(s.locate('agreements[1].measures[1].category'), `Zeile ${m1}, Spalte Maßnahmenart`);
    assert.equal(s.locate('agreements[1].measures[1].projects[0]'), `Zeile ${m1}, Spalte Projekt`);
    assert.equal(s.locate('agreements[1].measures[1].projects[1]'), `Zeile ${m1 + 1}, Spalte Projekt`);
    assert.equal(s.locate('agreements[1].measures'), `Zeile ${r1}, Spalte Maßnahmenart`);
    assert.equal(s.locate('agreements[3].signatories.partner[0].role'), `Zeile ${r3}, Spalte Funktion`);
    assert.equal(s.locate('agreements[3].signatories.partner[0].name'), `Zeile ${r3}, Spalte Unterzeichner`);
    assert.equal(s.locate('agreements[3].signatories.partner[0].email'), `Zeile ${r3}`, 'unknown field → its nearest known prefix');
    assert.equal(s.locate('agreements[3].edition'), `Zeile ${r3}`);
    assert.equal(s.locate('(root)'), undefined);
  }
  assert.equal(c.locate('total'), '# Gesamtbudget (Zeile 6)');
  assert.equal(x.locate('total'), 'Einstellungen, Zeile 7 (Gesamtbudget)');
  assert.equal(c.locate('type'), '# Art (Zeile 1)');
  assert.equal(x.locate('signatories.ministry[0].role'), 'Einstellungen, Zeile 11 (Ministerium Funktion)');
  assert.equal(x.locate('signatories.ministry'), 'Einstellungen, Zeile 10 (Ministerium Unterzeichner)');
  assert.equal(c.locate('ministry.abbreviation'), '# Ministerium Kürzel', 'a setting that is not in the file');
  assert.equal(x.locate('ministry.name'), 'Einstellungen (Ministerium Kürzel)');
  assert.equal(x.locate('agreements'), 'Blatt „Zielvereinbarungen“');
  assert.equal(c.locate('agreements'), 'Tabelle (ab Zeile 11)');

  // A second signatory on the partner's second row.
  const two = csv('# Art: aqb', HEADER, 'Landkreis Kassel;1;Ausbildung;P;Andreas Siebert;Landrat', ';;;Q;Silke Engler;');
  assert.equal(two.locate('agreements[0].signatories.partner[1].role'), 'Zeile 4, Spalte Funktion');
  assert.equal(two.locate('agreements[0].signatories.partner[1]'), 'Zeile 4');
});

// ───────────── XLSX ─────────────

test('XLSX: number, text, formula, shared formula, rich text, hyperlink and date cells; settings sheet', async () => {
  const s = await xlsx(
    [
      ['Partner', 'Betrag (Euro)', 'Maßnahmenart', 'Projekt', 'Unterzeichner', 'Funktion', 'Datum'],
      ['Werra-Meißner-Kreis', 444000, 'Ausbildung', 'Text-Projekt', 'Nicole Rathgeber', 'Landrätin', new Date(Date.UTC(2023, 4, 30))],
      [null, null, null, { richText: [{ text: 'Rich ', font: { bold: true } }, { text: 'Text' }] }, null, null, null],
      ['Stadt Kassel', '1.000.000,50 €', 'Qualifizierung', { text: 'Link-Projekt', hyperlink: 'https://example.org' }, null, null, '30.05.2023'],
      ['Landkreis Kassel', { formula: '400000+44000', result: 444000 }, { formula: '"Weiterbildung"', result: 'Weiterbildung' }, 2024, 'Andreas Siebert', 'Landrat', 45076],
      ['Landkreis Fulda', 0.1 + 0.2, 'ausbildung', '  Leerzeichen  ', 'B', 'L', null],
    ],
    [
      ['Art', 'aqb'],
      ['Jahr', '2023'],
      ['Fassung', 2023],
      ['Datum', new Date(Date.UTC(2023, 4, 30))],
      ['Gesamtbudget', { formula: 'SUM(1,2)', result: 27700000 }],
      ['Vollständig', true],
      ['Ministerium Unterzeichner', 'Kai Klose'],
      ['Ministerium Funktion', 'Staatsminister'],
      ['Ministerium Unterzeichner 2', 'Barbara Tiemann'],
      ['Ministerium Funktion 2', 'Abteilungsleiterin'],
    ],
  );
  assert.equal(s.problems.length, 0, problemText(s));
  assert.equal(s.format, 'xlsx');
  assert.deepEqual(s.data, {
    type: 'aqb',
    year: 2023,
    edition: '2023',
    date: '2023-05-30',
    total: 27700000,
    complete: true,
    signatories: {
      ministry: [
        { name: 'Kai Klose', role: 'Staatsminister' },
        { name: 'Barbara Tiemann', role: 'Abteilungsleiterin' },
      ],
    },
    agreements: [
      {
        partner: 'werra-meissner-kreis',
        amount: 444000,
        date: '2023-05-30',
        measures: [{ category: 'ausbildung', projects: ['Text-Projekt', 'Rich Text'] }],
        signatories: { partner: [{ name: 'Nicole Rathgeber', role: 'Landrätin' }] },
      },
      { partner: 'stadt-kassel', amount: 1000000.5, date: '2023-05-30', measures: [{ category: 'qualifizierung', projects: ['Link-Projekt'] }] },
      {
        partner: 'landkreis-kassel',
        amount: 444000,
        date: '2023-05-30',
        measures: [{ category: 'weiterbildung', projects: ['2024'] }],
        signatories: { partner: [{ name: 'Andreas Siebert', role: 'Landrat' }] },
      },
      {
        partner: 'landkreis-fulda',
        amount: 0.3,
        measures: [{ category: 'ausbildung', projects: ['Leerzeichen'] }],
        signatories: { partner: [{ name: 'B', role: 'L' }] },
      },
    ],
  });
  assert.equal(s.locate('signatories.ministry[1].role'), 'Einstellungen, Zeile 11 (Ministerium Funktion 2)');
  assert.equal(s.locate('agreements[2].amount'), 'Zeile 5, Spalte Betrag (Euro)');
});

test('XLSX: shared strings and vertically merged cells (the "merged cells" style) as LibreOffice and Excel save them', async () => {
  const s = await xlsx(
    [
      ['Partner', 'Betrag', 'Maßnahmenart', 'Projekt', 'Unterzeichner', 'Funktion'],
      ['Main-Kinzig-Kreis', 1608300, 'Ausbildung', 'A', 'Thorsten Stolz', 'Landrat'],
      [null, null, null, 'B', null, null],
      [null, null, 'Qualifizierung', 'C', null, null],
    ],
    [['Art', 'aqb']],
    (wb) => {
      const ws = wb.getWorksheet('Zielvereinbarungen')!;
      ws.mergeCells('A2:A4');
      ws.mergeCells('B2:B4');
      ws.mergeCells('C2:C3');
    },
  );
  assert.equal(s.problems.length, 0, problemText(s));
  assert.deepEqual(agreementsOf(s), [
    {
      partner: 'main-kinzig-kreis',
      amount: 1608300,
      measures: [
        { category: 'ausbildung', projects: ['A', 'B'] },
        { category: 'qualifizierung', projects: ['C'] },
      ],
      signatories: { partner: [{ name: 'Thorsten Stolz', role: 'Landrat' }] },
    },
  ]);
});

test('XLSX: error values and formulas without a stored result are reported at their cell', async () => {
  const s = await xlsx(
    [
      ['Partner', 'Betrag', 'Maßnahmenart', 'Projekt', 'Unterzeichner', 'Funktion'],
      ['Odenwaldkreis', { formula: '1/0', result: { error: '#DIV/0!' } }, 'Ausbildung', 'P', 'N', 'R'],
      ['Wetteraukreis', { formula: 'A1*2' }, 'Ausbildung', 'P', 'N', 'R'],
      ['Lahn-Dill-Kreis', { error: '#N/A' }, 'Ausbildung', 'P', 'N', 'R'],
    ],
    [['Art', 'aqb'], ['Jahr', { formula: '2020+3' }]],
  );
  const text = problemText(s);
  assert.match(text, /Zeile 2, Spalte Betrag: Zelle enthält den Fehlerwert #DIV\/0!/);
  assert.match(text, /Zeile 3, Spalte Betrag: Zelle enthält eine Formel ohne gespeichertes Ergebnis/);
  assert.match(text, /Zeile 4, Spalte Betrag: Zelle enthält den Fehlerwert #N\/A/);
  assert.match(text, /Einstellungen, Zeile 3 \(Jahr\): Wert enthält eine Formel ohne gespeichertes Ergebnis/);
});

test('XLSX: data sheet by name or position, unknown columns and settings, a non-XLSX file', async () => {
  // "Einstellungen" first, data sheet second and differently named: still found.
  const wb = new ExcelJS.Workbook();
  const st = wb.addWorksheet('Einstellungen');
  st.addRow(['Schlüssel', 'Wert']);
  st.addRow(['Art', 'sgb2']);
  st.addRow(['Steuerung', 'Zielsteuerung']);
  st.addRow(['Gesamtbudgett', 5]);
  st.addRow([null, 'verwaist']);
  const ws = wb.addWorksheet('Tabelle1');
  ws.addRow(['Partner', 'Unterzeichner', 'Funktion', 'Betarg']);
  ws.addRow(['Hochtaunuskreis', 'Ulrich Krebs', 'Landrat', 5]);
  const s = await readXlsx(new Uint8Array(await wb.xlsx.writeBuffer()), 'x.xlsx');
  const text = problemText(s);
  assert.match(text, /Kopfzeile \(Zeile 1\): unbekannte Spalte "Betarg" \(Spalte D\) — meinten Sie "Betrag"\?/);
  assert.match(text, /Einstellungen, Zeile 4 \(Gesamtbudgett\): unbekannter Schlüssel "Gesamtbudgett" \(meinten Sie "Gesamtbudget"\?\)/);
  assert.match(text, /Einstellungen, Zeile 5: Wert ohne Schlüssel/);
  assert.equal((s.data as any).steering, 'exchange');
  assert.deepEqual(agreementsOf(s), [{ partner: 'hochtaunuskreis', signatories: { partner: [{ name: 'Ulrich Krebs', role: 'Landrat' }] } }]);
  assert.equal(s.locate('agreements'), 'Blatt „Tabelle1“');

  const bad = await readXlsx(enc('Partner;Betrag\n'), 'x.xlsx');
  assert.equal(bad.fatal, true);
  assert.match(problemText(bad), /^\(Datei\): ist keine lesbare XLSX-Datei/);
});

test('XLSX: a dropdown over a whole column (C2:C1048576) does not make reading slow', async () => {
  const start = performance.now();
  const s = await xlsx(
    [
      ['Partner', 'Betrag', 'Maßnahmenart', 'Projekt', 'Unterzeichner', 'Funktion'],
      ['Odenwaldkreis', 1, 'Ausbildung', 'P', 'N', 'R'],
    ],
    [['Art', 'aqb']],
    (wb) => {
      const ws = wb.getWorksheet('Zielvereinbarungen') as unknown as { dataValidations: { add(r: string, v: unknown): void } };
      ws.dataValidations.add('C2:C1048576', { type: 'list', allowBlank: true, formulae: ['"Ausbildung,Qualifizierung"'] });
    },
  );
  const ms = performance.now() - start;
  assert.equal(s.problems.length, 0, problemText(s));
  assert.ok(ms < 1000, `took ${Math.round(ms)} ms (exceljs alone needs seconds for this)`);
});

// ───────────── round trip, examples, template ─────────────

test('round trip: the 26-partner example JSON → CSV / XLSX → the same data; the files in examples/ are current', async () => {
  const json = hessen();
  assert.equal(json.agreements.length, 26);
  const csvText = batchToCsv(json);
  assert.match(csvText, /^\uFEFF# Art: aqb\r\n/);
  assert.match(csvText, /\r\nWerra-Meißner-Kreis;444\.000;Ausbildung;Ausbildungsbegleitende Unterstützung;Nicole Rathgeber;Landrätin\r\n/, 'partner names, short labels, German amounts');
  const c = readCsv(enc(csvText), 'x.csv');
  assert.deepEqual(c.problems, []);
  assert.deepEqual(c.data, json);
  const bytes = await batchToXlsx(json);
  const x = await readXlsx(bytes, 'x.xlsx');
  assert.deepEqual(x.problems, []);
  assert.deepEqual(x.data, json);
  assert.deepEqual(Buffer.from(await batchToXlsx(json)), Buffer.from(bytes), 'deterministic XLSX');

  assert.equal(readFileSync(example('aqb-2023-hessen.csv'), 'utf8'), csvText, 'examples/aqb-2023-hessen.csv is out of date: run scripts/make-batch-examples.ts');
  assert.ok(Buffer.from(readFileSync(example('aqb-2023-hessen.xlsx'))).equals(Buffer.from(bytes)), 'examples/aqb-2023-hessen.xlsx is out of date');
  assert.ok(Buffer.from(readFileSync(example('vorlage-zielvereinbarungen.xlsx'))).equals(Buffer.from(await xlsxTemplate())), 'the template is out of date');

  // Reading the files from disk (by extension) gives the same.
  assert.deepEqual((await readBatchTable(example('aqb-2023-hessen.csv').pathname)).data, json);
  assert.deepEqual((await readBatchTable(example('aqb-2023-hessen.xlsx').pathname)).data, json);
  const missing = await readBatchTable('/nonexistent/x.csv');
  assert.equal(missing.fatal, true);
  assert.match(problemText(missing), /Datei nicht gefunden/);
});

test('round trip of the SGB II example (no amounts, no measures)', async () => {
  const json = JSON.parse(readFileSync(example('sgb2-2023-hessen.json'), 'utf8'));
  const c = readCsv(enc(batchToCsv(json)), 'x.csv');
  assert.deepEqual(c.problems, []);
  assert.deepEqual(c.data, json);
  const x = await readXlsx(await batchToXlsx(json), 'x.xlsx');
  assert.deepEqual(x.problems, []);
  assert.deepEqual(x.data, json);
});

test('the template: two sheets, bold frozen header, dropdowns, every settings key; it reads back like the CSV template', async () => {
  const bytes = await xlsxTemplate();
  const wb = new ExcelJS.Workbook();
  await wb.xlsx.load(Buffer.from(bytes) as any);
  const visible = wb.worksheets.filter((w) => w.state !== 'hidden').map((w) => w.name);
  assert.deepEqual(visible, ['Zielvereinbarungen', 'Einstellungen']);
  const ws = wb.getWorksheet('Zielvereinbarungen')!;
  assert.deepEqual((ws.getRow(1).values as unknown[]).slice(1), ['Partner', 'Betrag', 'Maßnahmenart', 'Projekt', 'Unterzeichner', 'Funktion', 'Datum']);
  assert.equal(ws.getCell('A1').font?.bold, true);
  assert.equal(ws.views[0].state, 'frozen');
  assert.ok((ws.getColumn(4).width ?? 0) >= 40);
  assert.equal(ws.getCell('C2').dataValidation?.type, 'list');
  assert.match(String(ws.getCell('C50').dataValidation?.formulae?.[0]), /Ausbildungsvorbereitung,Ausbildung,Qualifizierung,Weiterbildung/);
  assert.match(String(ws.getCell('A2').dataValidation?.formulae?.[0]), /^Listen!\$A\$2:\$A\$27$/);
  const keys = wb.getWorksheet('Einstellungen')!.getColumn(1).values.slice(2);
  assert.deepEqual(keys, [
    'Art', 'Jahr', 'Fassung', 'Steuerung', 'Datum', 'Gesamtbudget', 'Vollständig', 'Hinweis',
    'Ministerium Unterzeichner', 'Ministerium Funktion', 'Ministerium Unterzeichner 2', 'Ministerium Funktion 2', 'Ministerium Kürzel',
  ]);

  const x = await readXlsx(bytes, 'vorlage.xlsx');
  assert.deepEqual(x.problems, []);
  const c = readCsv(enc(csvTemplate()), 'vorlage.csv');
  assert.deepEqual(c.problems, []);
  assert.deepEqual(x.data, c.data);
  assert.equal((x.data as any).type, 'aqb');
  assert.equal((x.data as any).year, 2023);
  assert.equal(agreementsOf(x)[0].partner, 'werra-meissner-kreis');
  assert.deepEqual(validateBatchShape(x.data).problems, []);
});

// LibreOffice Calc, when installed (apt-get install libreoffice-calc-nogui): it opens the example and what it
// saves — its own shared strings, styles and number formats — reads back the same.
const calc = spawnSync('sh', ['-c', 'ls /usr/lib/libreoffice/program/libsclo.so'], { encoding: 'utf8' }).status === 0;
test('XLSX saved again by LibreOffice Calc reads back as the example', { skip: calc ? false : 'LibreOffice Calc not installed' }, async () => {
  const { dir, cleanup } = tempDir();
  try {
    const input = join(dir, 'in.xlsx');
    writeFileSync(input, await batchToXlsx(hessen()));
    const r = spawnSync('soffice', [`-env:UserInstallation=file://${dir}/profile`, '--headless', '--convert-to', 'xlsx:Calc MS Excel 2007 XML', '--outdir', join(dir, 'out'), input], {
      encoding: 'utf8',
      timeout: 180_000,
    });
    assert.equal(r.status, 0, r.stderr);
    const s = await readBatchTable(join(dir, 'out', 'in.xlsx'));
    assert.deepEqual(s.problems, []);
    assert.deepEqual(s.data, hessen());
  } finally {
    cleanup();
  }
});
