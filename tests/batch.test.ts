import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { tempDir } from './helpers/tools.ts';

const ZV = new URL('../bin/zv.js', import.meta.url).pathname;
const example = (name: string) => new URL(`../examples/${name}`, import.meta.url).pathname;
const hessen = () => JSON.parse(readFileSync(example('aqb-2023-hessen.json'), 'utf8'));
const EPOCH = { SOURCE_DATE_EPOCH: '1685404800' }; // fixed manifest time for reproducible manifests

function zv(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [ZV, ...args], { encoding: 'utf8', timeout: 300_000, env: { ...process.env, ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

test('a yearly batch: 26 AQB agreements, DOCX + PDF each, a manifest whose hashes match the files, a summary', () => {
  const { dir, cleanup } = tempDir();
  try {
    const out = join(dir, '2023');
    const r = zv(['batch', example('aqb-2023-hessen.json'), '--out', out], EPOCH);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /26 agreements \(AQB 2023\), 27\.700\.000 Euro in total \(budget 27\.700\.000 Euro\): 52 files/);
    assert.match(r.stderr, /\[1\/26\] Landkreis Bergstraße\n/, 'plain progress lines when not a terminal');
    assert.match(r.stderr, /\[26\/26\] Landeshauptstadt Wiesbaden\n/);
    const files = readdirSync(out).sort();
    assert.equal(files.length, 53);
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
    assert.equal(manifest.createdAt, '2023-05-30T00:00:00.000Z');
    assert.equal(manifest.totals.agreements, 26);
    assert.equal(manifest.totals.amount, 27700000);
    assert.deepEqual(manifest.editions, ['2023']);
    assert.equal(manifest.source.sha256, sha256(example('aqb-2023-hessen.json')));
    let bytes = 0;
    for (const a of manifest.agreements) {
      assert.equal(a.files.length, 2);
      for (const f of a.files) {
        assert.equal(f.sha256, sha256(join(out, f.name)), `${f.name}: hash`);
        assert.equal(f.bytes, readFileSync(join(out, f.name)).length, `${f.name}: size`);
        bytes += f.bytes;
      }
    }
    assert.equal(manifest.totals.bytes, bytes);
    const wmk = manifest.agreements.find((a: any) => a.partner.id === 'werra-meissner-kreis');
    assert.equal(wmk.amount, 444000);
    assert.deepEqual(wmk.signatories.map((s: any) => s.name), ['Kai Klose', 'Nicole Rathgeber']);

    // Same input again → byte-identical documents and an identical manifest.
    const again = join(dir, 'again');
    assert.equal(zv(['batch', example('aqb-2023-hessen.json'), '--out', again, '--quiet'], EPOCH).code, 0);
    for (const f of files) assert.ok(readFileSync(join(out, f)).equals(readFileSync(join(again, f))), `${f} differs between runs`);

    // The output directory is never overwritten silently.
    const refused = zv(['batch', example('aqb-2023-hessen.json'), '--out', out, '-q']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /already exists; use --force/);
    const forced = zv(['batch', example('sgb2-2023-hessen.json'), '--out', out, '-q', '--format', 'pdf', '--force']);
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal(forced.stdout, '', '--quiet prints nothing');
    assert.equal(readdirSync(out).length, 27);
    assert.ok(readdirSync(out).every((f) => f === 'manifest.json' || f.startsWith('sgb2-2023-')));
    assert.deepEqual(readdirSync(dir).sort(), ['2023', 'again'], 'no staging or old directories left behind');
  } finally {
    cleanup();
  }
});

test('every problem of a batch is reported at once, and nothing is written', () => {
  const { dir, cleanup } = tempDir();
  try {
    const batch = hessen();
    batch.agreements[1].partner = 'landkreis-darmstadt-diebrug'; // unknown
    batch.agreements[2].partner = 'werra-meissner-kreis'; // duplicate of [20]; and Groß-Gerau goes missing
    batch.agreements[3].amount = -5;
    batch.agreements[4].amount = 1000.555;
    batch.agreements[5].measures = [];
    batch.agreements[6].measures[0].category = 'weiterbildungen';
    batch.agreements[7].measures[0].projects = [];
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify(batch));
    const out = join(dir, 'out');
    const r = zv(['batch', file, '--out', out]);
    assert.equal(r.code, 1);
    assert.equal(existsSync(out), false);
    assert.deepEqual(readdirSync(dir), ['bad.json'], 'not even a staging directory');
    const expected = [
      /agreements\[1\]\.partner: unknown partner "landkreis-darmstadt-diebrug" \(did you mean "landkreis-darmstadt-dieburg"\?\)/,
      /agreements\[20\]\.partner: duplicate partner "werra-meissner-kreis" \(already at agreements\[2\]\)/,
      /agreements: the batch claims to be complete but 2 of 26 partners are missing: landkreis-darmstadt-dieburg, landkreis-gross-gerau/,
      /agreements\[3\]\.amount: must be greater than 0/,
      /agreements\[4\]\.amount: must have at most 2 decimal places/,
      /agreements\[5\]\.measures: must list at least one measure category/,
      /agreements\[6\]\.measures\[0\]\.category: unknown category "weiterbildungen" \(did you mean "weiterbildung"\?\)/,
      /agreements\[7\]\.measures\[0\]\.projects: must list at least one project/,
    ];
    for (const e of expected) assert.match(r.stderr, e);
  } finally {
    cleanup();
  }
});

test('the sum of amounts must equal the budget: the difference is shown in euros', () => {
  const { dir, cleanup } = tempDir();
  try {
    const batch = hessen();
    batch.agreements[0].amount += 1234.5;
    const file = join(dir, 'sum.json');
    writeFileSync(file, JSON.stringify(batch));
    const r = zv(['batch', file, '--check']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /total: the amounts add up to 27\.701\.234,50 Euro, which is 1\.234,50 Euro more than the total of 27\.700\.000 Euro/);
  } finally {
    cleanup();
  }
});

test('warnings (not fatal): amounts changed by more than 50 % against last year, a project listed twice', () => {
  const { dir, cleanup } = tempDir();
  try {
    const last = hessen();
    last.year = 2022;
    last.agreements[0].amount = 500000; // Bergstraße: 1.058.100 this year → +112 %
    last.agreements[25].amount = 5000000; // Wiesbaden: drop of more than half
    const lastFile = join(dir, 'last-year.json');
    writeFileSync(lastFile, JSON.stringify(last));
    const now = hessen();
    now.agreements[1].measures[0].projects.push(now.agreements[1].measures[0].projects[0]);
    const nowFile = join(dir, 'now.json');
    writeFileSync(nowFile, JSON.stringify(now));
    const r = zv(['batch', nowFile, '--check', '--compare', lastFile]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /warning: Landkreis Bergstraße: amount 1\.058\.100 Euro is \+112 % compared with 500\.000 Euro/);
    assert.match(r.stderr, /warning: Landeshauptstadt Wiesbaden: amount [\d.]+ Euro is −\d+ % compared with 5\.000\.000 Euro/);
    assert.match(r.stderr, /warning: agreements\[1\] \(landkreis-darmstadt-dieburg\): project "Ausbildungsbegleitende Unterstützung" is listed twice/);
    assert.equal((r.stderr.match(/warning: /g) ?? []).length, 3);
  } finally {
    cleanup();
  }
});

async function interruptAfterFirstAgreement(signal: NodeJS.Signals, dir: string): Promise<void> {
  const child = spawn(process.execPath, [ZV, 'batch', example('aqb-2023-hessen.json'), '--out', join(dir, 'out')], { stdio: ['ignore', 'ignore', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let seen = '';
    child.stderr.on('data', (chunk) => {
      seen += chunk;
      if (seen.includes('[2/26]')) child.kill(signal);
    });
    child.on('exit', () => resolve());
    child.on('error', reject);
  });
}

test('an interrupted batch (SIGTERM, SIGKILL) leaves no output; the next run cleans up and completes', async () => {
  const { dir, cleanup } = tempDir();
  try {
    await interruptAfterFirstAgreement('SIGTERM', dir);
    assert.deepEqual(readdirSync(dir), [], 'SIGTERM: staging removed, no output');
    await interruptAfterFirstAgreement('SIGKILL', dir);
    assert.equal(existsSync(join(dir, 'out')), false, 'SIGKILL: no output directory');
    const leftovers = readdirSync(dir);
    assert.equal(leftovers.length, 1);
    assert.match(leftovers[0], /^\.out\.partial-/, 'only a hidden staging directory');
    const r = zv(['batch', example('aqb-2023-hessen.json'), '--out', join(dir, 'out'), '-q', '--format', 'pdf']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(readdirSync(dir), ['out']);
    assert.equal(readdirSync(join(dir, 'out')).length, 27);
  } finally {
    cleanup();
  }
});

test('JSON, CSV and XLSX of the same year give identical manifests (apart from the source file)', () => {
  const { dir, cleanup } = tempDir();
  try {
    const manifests = ['json', 'csv', 'xlsx'].map((ext) => {
      const out = join(dir, ext);
      const r = zv(['batch', example(`aqb-2023-hessen.${ext}`), '--out', out, '-q', '--format', 'pdf'], EPOCH);
      assert.equal(r.code, 0, `${ext}: ${r.stderr}`);
      const m = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
      assert.equal(m.source.format, ext);
      delete m.source;
      return m;
    });
    assert.deepEqual(manifests[1], manifests[0], 'CSV manifest = JSON manifest');
    assert.deepEqual(manifests[2], manifests[0], 'XLSX manifest = JSON manifest');
    assert.equal(manifests[0].agreements.length, 26);
  } finally {
    cleanup();
  }
});

test('problems in a CSV are reported in the file\'s own terms (line and column), nothing written', () => {
  const { dir, cleanup } = tempDir();
  try {
    const lines = readFileSync(example('aqb-2023-hessen.csv'), 'utf8').split('\n');
    const header = lines.findIndex((l) => l.startsWith('Partner'));
    const row = (n: number) => header + 1 + n; // 0-based index of the n-th data line
    const cells = (i: number) => lines[i].split(';');
    const a = cells(row(0));
    a[1] = '1.058.100,123';
    lines[row(0)] = a.join(';');
    const b = cells(row(1));
    b[2] = 'Qualifizierungs';
    lines[row(1)] = b.join(';');
    const file = join(dir, 'bad.csv');
    writeFileSync(file, lines.join('\n'));
    const r = zv(['batch', file, '--out', join(dir, 'out')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`Zeile ${row(0) + 1}, Spalte Betrag: `));
    assert.match(r.stderr, new RegExp(`Zeile ${row(1) + 1}, Spalte Maßnahmenart: unknown category "Qualifizierungs"`));
    assert.equal((r.stderr.match(/\n  /g) ?? []).length, 2, 'exactly the two problems (the budget check waits for valid amounts)');
    assert.deepEqual(readdirSync(dir), ['bad.csv']);
  } finally {
    cleanup();
  }
});

test('zv batch --template xlsx writes a fillable sheet that reads back as a batch', () => {
  const { dir, cleanup } = tempDir();
  try {
    const r = spawnSync(process.execPath, [ZV, 'batch', '--template', 'xlsx'], { timeout: 60_000 });
    assert.equal(r.status, 0, String(r.stderr));
    assert.equal(r.stdout.subarray(0, 2).toString('latin1'), 'PK', 'an XLSX (zip) file');
    const file = join(dir, 'vorlage.xlsx');
    writeFileSync(file, r.stdout);
    // The sheet is structurally valid: the only problems are the ones filling it in will solve —
    // the other 25 partners and amounts that add up to the budget.
    const check = zv(['batch', file, '--check']);
    assert.equal(check.code, 1);
    const problems = check.stderr.trim().split('\n').slice(1);
    assert.equal(problems.length, 2, check.stderr);
    assert.match(problems[0], /claims to be complete but 25 of 26 partners are missing/);
    assert.match(problems[1], /Einstellungen, Zeile \d+ \(Gesamtbudget\): the amounts add up to 444\.000 Euro/);
  } finally {
    cleanup();
  }
});
