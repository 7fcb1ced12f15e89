/**
 * Characters the embedded fonts lack (issue 15): refused at validation on every path — model,
 * `zv generate`, `zv batch` (CSV and JSON), the JSON API, the web form and the web import — with
 * the character, its code point and the field, and nothing stored or written. Characters the
 * fonts have, and the spaces and invisible characters the renderer normalises, stay accepted and
 * reach the PDF (checked with pdftotext). The coverage data is checked against fontconfig's
 * fc-query, which reads the fonts' cmaps independently of fontkit.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { run, tempDir } from './helpers/tools.ts';
import { kasselForm, webFixture, type WebFixture } from './helpers/web.ts';
import { parseAgreementInput, ValidationError, type Problem } from '../src/model/agreement.ts';
import { validateBatchShape } from '../src/model/batch.ts';
import { fontHasGlyph, missingCharacters } from '../src/model/charset.ts';
import { composeFromData } from '../src/compose/index.ts';
import { renderPdf } from '../src/render/pdf/index.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const EXAMPLES = join(ROOT, 'examples');
const ZV = join(ROOT, 'bin/zv.js');
const werra = JSON.parse(readFileSync(join(EXAMPLES, 'aqb-2023-werra-meissner-kreis.json'), 'utf8'));

const CHECK = 'Zeichen „✓“ (U+2713) ist in der Schrift nicht enthalten';
const CHINESE = 'Zeichen „中“ (U+4E2D) ist in der Schrift nicht enthalten';
const EMOJI = 'Zeichen „😀“ (U+1F600) ist in der Schrift nicht enthalten';
/** German text with everything the fonts have or the renderer normalises: NBSP, narrow NBSP, thin space, soft hyphen, ZWSP, U+2011. */
const GERMAN = 'Ältere „Brücke“ – § 16\u00a0SGB II, 5\u202f€ Straße Über\u00adgang Jugend\u200bhilfe Kfz\u2011Werkstatt 1\u2009000 Öl ü ö ä ß';

const withChanges = (change: (d: any) => void) => {
  const d = structuredClone(werra);
  change(d);
  return d;
};

function problemsOf(fn: () => unknown): Problem[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof ValidationError) return e.problems;
    throw e;
  }
  assert.fail('expected a ValidationError');
}

function zv(args: string[]) {
  const r = spawnSync(process.execPath, [ZV, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('model', () => {
  test('a project with „✓“: the field, the character and its code point', () => {
    const problems = problemsOf(() => parseAgreementInput(withChanges((d) => (d.measures[1].projects[2] = 'Let’s work ✓'))));
    assert.deepEqual(problems, [{ path: 'measures[1].projects[2]', message: CHECK }]);
  });

  test('Chinese in a signatory name, an emoji in a role (one astral code point, not two surrogates)', () => {
    const problems = problemsOf(() =>
      parseAgreementInput(
        withChanges((d) => {
          d.signatories.partner[0].name = 'Nicole 中 Rathgeber';
          d.signatories.ministry[0].role = 'Staatsminister 😀';
        }),
      ),
    );
    assert.deepEqual([...problems].sort((a, b) => a.path.localeCompare(b.path)), [
      { path: 'signatories.ministry[0].role', message: EMOJI },
      { path: 'signatories.partner[0].name', message: CHINESE },
    ]);
    assert.doesNotMatch(problems.map((p) => p.message).join('\n'), /U\+D83D|U\+DE00/);
    assert.deepEqual(missingCharacters('a😀b😀'), [{ char: '😀', codePoint: 0x1f600 }]);
  });

  test('several characters in one field are listed once each, in order', () => {
    const problems = problemsOf(() => parseAgreementInput(withChanges((d) => (d.measures[0].projects[0] = '✓ 中 ✓ 😀'))));
    assert.deepEqual(problems, [
      { path: 'measures[0].projects[0]', message: 'Zeichen „✓“ (U+2713), „中“ (U+4E2D), „😀“ (U+1F600) sind in der Schrift nicht enthalten' },
    ]);
  });

  test('every free-text field is checked: partner object, ministry override', () => {
    const partner = {
      id: 'stadt-musterstadt', name: 'Stadt Musterstadt', gender: 'f', nominative: 'die Stadt Musterstadt', accusative: 'die Stadt Musterstadt',
      dative: 'der Stadt Musterstadt', genitive: 'der Stadt Musterstadt', locative: 'in der Stadt Musterstadt', seat: 'Musterstadt ✓',
      headTitle: { m: 'Oberbürgermeister', f: 'Oberbürgermeisterin 😀' },
    };
    const problems = problemsOf(() =>
      parseAgreementInput(
        withChanges((d) => {
          d.partner = partner;
          d.ministry = { name: 'Ministerium für 中', signatureLines: ['Für das Land ✓'] };
        }),
      ),
    );
    const byPath = Object.fromEntries(problems.map((p) => [p.path, p.message]));
    assert.equal(byPath['partner.seat'], CHECK);
    assert.equal(byPath['partner.headTitle.f'], EMOJI);
    assert.equal(byPath['ministry.name'], CHINESE);
    assert.equal(byPath['ministry.signatureLines[0]'], CHECK);
  });

  test('German text with umlauts, ß, „“, –, §, €, NBSP and the normalised invisibles is accepted', () => {
    const input = parseAgreementInput(withChanges((d) => {
      d.measures[0].projects[0] = GERMAN;
      d.signatories.partner[0] = { name: 'Jürgen Weiß-Müller', role: 'Landrat des Werra-Meißner-Kreises' };
    }));
    assert.equal(input.measures![0]!.projects[0], GERMAN);
    for (const ch of 'äöüÄÖÜß„“‚‘–—§€…»«') assert.ok(fontHasGlyph(ch.codePointAt(0)!), ch);
  });

  test('a batch entry and the batch header are checked the same way', () => {
    const batch = JSON.parse(readFileSync(join(EXAMPLES, 'aqb-2023-hessen.json'), 'utf8'));
    batch.agreements[2].measures[0].projects[0] = 'Projekt ✓';
    assert.deepEqual(validateBatchShape(batch).problems, [{ path: 'agreements[2].measures[0].projects[0]', message: CHECK }]);
    // A header's problem is reported once, at the header's path (an invalid header stops the entries' checks, as before).
    batch.signatories.ministry[0].role = 'Staatsminister 中';
    assert.deepEqual(validateBatchShape(batch).problems, [{ path: 'signatories.ministry[0].role', message: CHINESE }]);
  });
});

describe('coverage data', () => {
  test('font-coverage.json is current and equals the intersection of the four fonts’ charsets per fc-query', () => {
    const check = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts/font-coverage.ts'), '--check'], { encoding: 'utf8', cwd: ROOT });
    assert.equal(check.status, 0, check.stderr);
    const charset = (style: string) => {
      const set = new Set<number>();
      for (const token of run('fc-query', ['--format=%{charset}', join(ROOT, `templates/fonts/LiberationSans-${style}.ttf`)]).trim().split(/\s+/)) {
        const [a, b] = token.split('-').map((x) => parseInt(x, 16));
        for (let cp = a!; cp <= (b ?? a!); cp++) set.add(cp);
      }
      return set;
    };
    const sets = ['Regular', 'Bold', 'Italic', 'BoldItalic'].map(charset);
    const common = [...sets[0]!].filter((cp) => sets.every((s) => s.has(cp)));
    const data = JSON.parse(readFileSync(join(ROOT, 'src/model/data/font-coverage.json'), 'utf8')) as { ranges: [number, number][] };
    const ours: number[] = data.ranges.flatMap(([a, b]) => Array.from({ length: b - a + 1 }, (_, i) => a + i));
    assert.deepEqual(ours, common.sort((x, y) => x - y));
    assert.ok(common.length > 2000, `${common.length} code points`);
    for (const cp of common) assert.ok(fontHasGlyph(cp));
    for (const cp of [0x2713, 0x4e2d, 0x1f600, 0xfffd]) assert.equal(fontHasGlyph(cp), false, cp.toString(16));
  });

  test('accepted text reaches the PDF: pdftotext finds every visible character, no “?”', async () => {
    const composed = composeFromData(withChanges((d) => (d.measures[0].projects[0] = GERMAN)), { today: '2023-05-01' });
    const pdf = await renderPdf(composed.tree);
    const { dir, cleanup } = tempDir();
    try {
      const file = join(dir, 'a.pdf');
      writeFileSync(file, pdf);
      const text = run('pdftotext', ['-enc', 'UTF-8', file, '-']).replace(/\s+/g, ' ');
      // Invisible characters vanish, U+2011 is drawn as "-", spaces of any kind extract as spaces.
      const visible = GERMAN.replace(/[\u00ad\u200b]/g, '').replace(/\u2011/g, '-').replace(/\s+/g, ' ');
      assert.ok(text.includes(visible), `not found: ${visible}\nin: ${text.slice(0, 1500)}`);
      assert.doesNotMatch(text, /\?/);
    } finally {
      cleanup();
    }
  });
});

describe('CLI', () => {
  test('zv generate: „✓“ in a project → exit 1, the JSON path and the German text, no file written', () => {
    const { dir, cleanup } = tempDir();
    try {
      const file = join(dir, 'check.json');
      writeFileSync(file, JSON.stringify(withChanges((d) => (d.measures[1].projects[2] = 'Let’s work ✓')), null, 2));
      const emoji = join(dir, 'emoji.json');
      writeFileSync(emoji, JSON.stringify(withChanges((d) => (d.signatories.partner[0].role = 'Landrätin 😀'))));
      const out = join(dir, 'out');
      const r = zv(['generate', file, emoji, '--out', out]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`check\\.json: invalid input — nothing was written\\n  measures\\[1\\]\\.projects\\[2\\]: ${CHECK.replace(/[()+]/g, '\\$&')}\\n`));
      assert.ok(r.stderr.includes(`  signatories.partner[0].role: ${EMOJI}\n`), r.stderr);
      assert.equal(existsSync(out), false, 'no output directory may be created');
    } finally {
      cleanup();
    }
  });

  test('zv batch with a CSV: the row and column, the character; nothing written', () => {
    const { dir, cleanup } = tempDir();
    try {
      const csv = readFileSync(join(EXAMPLES, 'aqb-2023-hessen.csv'), 'utf8').replace('Landkreis Bergstraße;1.058.100;Ausbildungsvorbereitung;Jugend Flex;', 'Landkreis Bergstraße;1.058.100;Ausbildungsvorbereitung;Jugend Flex 中;');
      const lineNo = csv.split(/\r?\n/).findIndex((l) => l.includes('Jugend Flex 中')) + 1;
      const file = join(dir, 'jahr.csv');
      writeFileSync(file, csv);
      const out = join(dir, 'out');
      const r = zv(['batch', file, '--out', out, '--quiet']);
      assert.equal(r.code, 1, r.stderr);
      assert.ok(r.stderr.includes(`invalid batch — nothing was written`), r.stderr);
      assert.ok(r.stderr.includes(`  Zeile ${lineNo}, Spalte Projekt: ${CHINESE}\n`), r.stderr);
      assert.equal(existsSync(out), false);
    } finally {
      cleanup();
    }
  });

  test('zv batch with a JSON batch: the JSON path; nothing written', () => {
    const { dir, cleanup } = tempDir();
    try {
      const batch = JSON.parse(readFileSync(join(EXAMPLES, 'aqb-2023-hessen.json'), 'utf8'));
      batch.agreements[4].signatories.partner[0].name = 'Name 😀';
      const file = join(dir, 'jahr.json');
      writeFileSync(file, JSON.stringify(batch));
      const out = join(dir, 'out');
      const r = zv(['batch', file, '--out', out, '--quiet']);
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stderr, `${file}: invalid batch — nothing was written\n  agreements[4].signatories.partner[0].name: ${EMOJI}\n`);
      assert.equal(existsSync(out), false);
    } finally {
      cleanup();
    }
  });
});

describe('web', () => {
  let fx: WebFixture;
  let clerk: Awaited<ReturnType<WebFixture['login']>>['agent'];
  let csrf: string;
  const count = (table: 'agreements' | 'files') => (fx.ctx.svc.store.db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
  const snapshot = () => ({ agreements: count('agreements'), files: count('files') });

  before(async () => {
    fx = await webFixture();
    ({ agent: clerk, csrf } = await fx.login('clerk'));
  });
  after(() => fx.close());

  const form = (projects: string[], overrides: Record<string, string> = {}) => kasselForm(csrf, overrides, projects);

  test('form: „Projekt 3: Zeichen „✓“ (U+2713) …“ at the field, nothing stored', async () => {
    const was = snapshot();
    const res = await clerk.post('/vereinbarungen').type('form').send(form(['Begleitete Ausbildung', 'Jugend Flex', 'Let’s work ✓'], { 'signatories[partner][0][name]': 'Andreas 中 Siebert' }));
    assert.equal(res.status, 422, res.text.slice(0, 300));
    const error = /id="f-measures-0-projects-2--error"[^>]*>([^<]*)</.exec(res.text)?.[1];
    assert.equal(error, `Maßnahme 1, Projekt 3: ${CHECK}`);
    const nameError = /id="f-signatories-partner-0-name--error"[^>]*>([^<]*)</.exec(res.text)?.[1];
    assert.equal(nameError, `Unterzeichnende (Partner), Nr. 1, Name: ${CHINESE}`);
    assert.deepEqual(snapshot(), was);
  });

  test('form: German text is accepted and stored', async () => {
    const was = snapshot();
    const res = await clerk.post('/vereinbarungen').type('form').send(form([GERMAN]));
    assert.equal(res.status, 303, res.text.slice(0, 500));
    assert.equal(count('agreements'), was.agreements + 1);
    const row = fx.ctx.svc.store.db.prepare('SELECT input_json FROM agreements ORDER BY id DESC LIMIT 1').get() as { input_json: string };
    assert.equal(JSON.parse(row.input_json).measures[0].projects[0], GERMAN);
  });

  test('JSON API: 422 problem+json with the path and the German text, nothing stored', async () => {
    const was = snapshot();
    const res = await clerk.post('/api/v1/agreements').set('X-CSRF-Token', csrf).send(withChanges((d) => (d.measures[1].projects[2] = 'Let’s work ✓')));
    assert.equal(res.status, 422, JSON.stringify(res.body));
    assert.match(res.headers['content-type'], /application\/problem\+json/);
    assert.deepEqual(res.body.errors, [{ path: 'measures[1].projects[2]', message: CHECK }]);
    assert.deepEqual(snapshot(), was);
  });

  test('API and page import: the table’s row, the character; nothing stored', async () => {
    const was = snapshot();
    const batch = JSON.parse(readFileSync(join(EXAMPLES, 'aqb-2023-hessen.json'), 'utf8'));
    batch.agreements[1].measures[0].projects[0] = 'Projekt 😀';
    const api = await clerk.post('/api/v1/agreements/import').set('X-CSRF-Token', csrf).attach('file', Buffer.from(JSON.stringify(batch)), { filename: 'jahr.json' });
    assert.equal(api.status, 422, JSON.stringify(api.body));
    assert.deepEqual(api.body.errors, [{ path: 'agreements[1].measures[0].projects[0]', message: EMOJI }]);

    const csv = readFileSync(join(EXAMPLES, 'aqb-2023-hessen.csv'), 'utf8')
      .replace('# Art: aqb', '# Art: aqb;') // makes the upload check recognise the CSV (see web-clerk.test.ts)
      .replace('Landkreis Bergstraße;1.058.100;Ausbildungsvorbereitung;Jugend Flex;', 'Landkreis Bergstraße;1.058.100;Ausbildungsvorbereitung;Jugend Flex ✓;');
    const lineNo = csv.split(/\r?\n/).findIndex((l) => l.includes('Jugend Flex ✓')) + 1;
    const page = await clerk.post('/import').field('_csrf', csrf).attach('file', Buffer.from(csv), { filename: 'jahr.csv', contentType: 'text/csv' });
    assert.equal(page.status, 422, page.text.slice(0, 500));
    assert.match(page.text, /Es wurde nichts erzeugt/);
    assert.ok(page.text.includes(`<td>Zeile ${lineNo}, Spalte Projekt</td><td>${CHECK}</td>`), page.text.match(/<table class="problems-table">[\s\S]*?<\/table>/)?.[0]);
    assert.deepEqual(snapshot(), was);
  });
});

describe('text from outside the validated input (stamps)', () => {
  test('a stamp writes characters the fonts lack as their code point', async () => {
    const { layoutStamp } = await import('../src/sign/stamp.ts');
    const runs = await layoutStamp({ rect: [70, 100, 300, 180], slot: [70, 110, 300, 170], placeDateLine: 'Wiesbaden, den 1. Juli 2024', name: '李明 Müller', footer: 'Elektronisch signiert: ✓ 李明' });
    const text = runs.map((r) => r.text).join(' | ');
    assert.match(text, /\[U\+674E\]\[U\+660E\] Müller/);
    assert.match(text, /\[U\+2713\] \[U\+674E\]\[U\+660E\]/);
    assert.ok(!/[?\uFFFD]/.test(text), text);
  });
});
