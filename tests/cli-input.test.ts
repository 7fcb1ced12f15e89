import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { run, tempDir } from './helpers/tools.ts';

const ZV = new URL('../bin/zv.js', import.meta.url).pathname;
const base = JSON.parse(readFileSync(new URL('../examples/aqb-2023-werra-meissner-kreis.json', import.meta.url), 'utf8'));

function zv(args: string[]) {
  const r = spawnSync(process.execPath, [ZV, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const withChanges = (change: (d: any) => void) => {
  const d = structuredClone(base);
  change(d);
  return JSON.stringify(d, null, 2);
};

/** Each bad input with the message (path and problem) the clerk must see. */
const BAD: { name: string; content: string | Buffer; expect: RegExp }[] = [
  { name: 'unknown-partner', content: withChanges((d) => (d.partner = 'werra-meisner-kreis')), expect: /partner: unknown partner "werra-meisner-kreis" \(did you mean "werra-meissner-kreis"\?\)/ },
  { name: 'negative-amount', content: withChanges((d) => (d.amount = -444000)), expect: /amount: must be greater than 0/ },
  { name: 'text-amount', content: withChanges((d) => (d.amount = '444.000 €')), expect: /amount: must be a number of euros .* got the text "444.000 €"/ },
  { name: 'three-decimals', content: withChanges((d) => (d.amount = 444000.125)), expect: /amount: must have at most 2 decimal places/ },
  { name: 'empty-projects', content: withChanges((d) => (d.measures[1].projects = [])), expect: /measures\[1\]\.projects: must list at least one project/ },
  { name: 'unknown-category', content: withChanges((d) => (d.measures[1].category = 'qualifizierungs')), expect: /measures\[1\]\.category: unknown category "qualifizierungs" \(did you mean "qualifizierung"\?\)/ },
  { name: 'duplicate-category', content: withChanges((d) => (d.measures[2].category = 'ausbildung')), expect: /measures\[2\]\.category: duplicate category "ausbildung" \(already given at measures\[0\]\)/ },
  { name: 'year-too-early', content: withChanges((d) => { d.year = 2013; delete d.date; }), expect: /year: must be between 2014 and 2100/ },
  { name: 'year-too-late', content: withChanges((d) => { d.year = 2101; delete d.date; }), expect: /year: must be between 2014 and 2100/ },
  { name: 'missing-signatories', content: withChanges((d) => delete d.signatories), expect: /signatories: is required/ },
  { name: 'no-partner-signatory', content: withChanges((d) => (d.signatories.partner = [])), expect: /signatories\.partner: must name at least one signatory/ },
  { name: 'unknown-type', content: withChanges((d) => (d.type = 'abq')), expect: /type: unknown type the text "abq" \(expected "aqb" or "sgb2"\)/ },
  { name: 'extra-field', content: withChanges((d) => { d.betrag = 5; d.signatories.partner[0].email = 'x@y'; }), expect: /^(?=[\s\S]*\n  betrag: unknown field)(?=[\s\S]*\n  signatories\.partner\[0\]\.email: unknown field)/ },
  { name: 'newline-in-project', content: withChanges((d) => (d.measures[0].projects[0] = 'Zeile 1\nZeile 2')), expect: /measures\[0\]\.projects\[0\]: must not contain line breaks/ },
  { name: 'impossible-date', content: withChanges((d) => (d.date = '2023-02-30')), expect: /date: must be a real calendar date/ },
  { name: 'sgb2-with-amount', content: withChanges((d) => (d.type = 'sgb2')), expect: /amount: is only allowed for type "aqb"/ },
  { name: 'latin1', content: Buffer.from(withChanges((d) => (d.signatories.partner[0].role = 'Landrätin')), 'latin1'), expect: /\(file\): is not valid UTF-8 text \(first bad byte at offset \d+\)/ },
  { name: 'invalid-json', content: '{\n  "type": "aqb",\n  "year": 2023,\n}\n', expect: /\(file\): is not valid JSON at line 4, column 1/ },
  { name: 'empty-file', content: '', expect: /\(file\): is not valid JSON/ },
  { name: 'not-an-object', content: '[1, 2]', expect: /\(root\): must be a JSON object/ },
];

test(`${BAD.length} kinds of bad input: each problem named with its JSON path, exit code 1, nothing written`, () => {
  const { dir, cleanup } = tempDir();
  try {
    const files = BAD.map((b) => {
      const file = join(dir, `${b.name}.json`);
      writeFileSync(file, b.content);
      return file;
    });
    const out = join(dir, 'out');
    const r = zv(['generate', ...files, '--out', out]);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(existsSync(out), false, 'no output directory may be created');
    // Split the report per file and check each file's own section.
    for (const [i, b] of BAD.entries()) {
      const start = r.stderr.indexOf(`${files[i]}: invalid input — nothing was written`);
      assert.ok(start >= 0, `${b.name}: no report in\n${r.stderr}`);
      const next = r.stderr.indexOf(': invalid input — nothing was written', start + files[i].length + 40);
      const section = r.stderr.slice(start, next < 0 ? undefined : r.stderr.lastIndexOf('\n', next));
      assert.match(section, b.expect, `${b.name}:\n${section}`);
    }
  } finally {
    cleanup();
  }
});

test('one bad file among good ones: nothing is written at all; a good run writes both formats, --format restricts', () => {
  const { dir, cleanup } = tempDir();
  try {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, withChanges((d) => (d.amount = 0)));
    const good = new URL('../examples/aqb-2024-landkreis-offenbach.json', import.meta.url).pathname;
    const out = join(dir, 'out');
    const r1 = zv(['generate', good, bad, '--out', out]);
    assert.equal(r1.code, 1);
    assert.match(r1.stderr, /amount: must be greater than 0/);
    assert.equal(existsSync(out), false);

    const r2 = zv(['generate', good, '--out', out, '--format', 'pdf']);
    assert.equal(r2.code, 0, r2.stderr);
    assert.deepEqual(readdirSync(out), ['aqb-2024-landkreis-offenbach.pdf']);
    const r3 = zv(['generate', good, '--out', out]);
    assert.equal(r3.code, 0, r3.stderr);
    assert.deepEqual(readdirSync(out).sort(), ['aqb-2024-landkreis-offenbach.docx', 'aqb-2024-landkreis-offenbach.pdf']);

    const r4 = zv(['generate', good, '--out', out, '--format', 'odt']);
    assert.equal(r4.code, 2);
    assert.match(r4.stderr, /odt.*(docx|pdf)/);
  } finally {
    cleanup();
  }
});

test('legal but extreme input gives a correct document: markup characters print literally, 300-character names wrap, 200 projects paginate', () => {
  const { dir, cleanup } = tempDir();
  try {
    const literal = '**Neu** # 1 <b>&amp;</b> {{x}} [Link](x)';
    const long = ('Qualifizierung für langzeitarbeitslose Menschen mit besonderem Unterstützungsbedarf im ländlichen Raum ').repeat(3).trim().slice(0, 300);
    const longWord = 'Donaudampfschifffahrtsgesellschaftskapitänswitwenrentenversicherungsanstaltsangestelltenausweisverlängerungsantragsformular';
    const many = Array.from({ length: 200 }, (_, i) => `Projekt Nummer ${i + 1}`);
    const file = join(dir, 'extreme.json');
    writeFileSync(file, withChanges((d) => {
      d.measures = [
        { category: 'ausbildung', projects: [literal, long, longWord] },
        { category: 'qualifizierung', projects: many },
      ];
    }));
    const out = join(dir, 'out');
    const r = zv(['generate', file, '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    const pdf = join(out, 'aqb-2023-werra-meissner-kreis.pdf');
    const text = run('pdftotext', ['-enc', 'UTF-8', pdf, '-']);
    assert.ok(text.includes(literal), 'literal markup in the PDF');
    for (const n of [1, 100, 200]) assert.ok(text.includes(`Projekt Nummer ${n}\n`), `project ${n}`);
    const pages = Number(/Pages:\s+(\d+)/.exec(run('pdfinfo', [pdf]))![1]);
    assert.ok(pages >= 6, `200 projects need several pages, got ${pages}`);
    assert.ok(text.includes(`Seite ${pages} von ${pages}`));
    // Every word box lies inside the page's text area (A4 = 595.28 pt wide; margins ≥ 50 pt).
    const bbox = run('pdftotext', ['-bbox', pdf, '-']);
    const xMax = Math.max(...[...bbox.matchAll(/xMax="([\d.]+)"/g)].map((m) => Number(m[1])));
    const xMin = Math.min(...[...bbox.matchAll(/xMin="([\d.]+)"/g)].map((m) => Number(m[1])));
    assert.ok(xMax <= 595.28 - 50, `text reaches x=${xMax}`);
    assert.ok(xMin >= 50, `text starts at x=${xMin}`);
    run('qpdf', ['--check', pdf]);
  } finally {
    cleanup();
  }
});

test('zv partners lists the 26 partners with their case forms', () => {
  const r = zv(['partners']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /stadt-kassel\s+die Stadt Kassel\s+der Stadt Kassel\s+der Stadt Kassel\s+Kassel\s+Oberbürgermeister\/Oberbürgermeisterin/);
  assert.match(r.stdout, /26 partners/);
  const json = JSON.parse(zv(['partners', '--json']).stdout);
  assert.equal(json.length, 26);
  const wmk = json.find((p: any) => p.id === 'werra-meissner-kreis');
  assert.equal(wmk.accusative, 'den Werra-Meißner-Kreis');
  assert.equal(wmk.von, 'vom Werra-Meißner-Kreis');
  assert.equal(wmk.locative, 'im Werra-Meißner-Kreis');
  assert.equal(wmk.seat, 'Eschwege');
});
