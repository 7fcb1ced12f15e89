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
