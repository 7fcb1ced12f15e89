/**
 * The archive over a real year: `runDemo` builds one data directory (26 signed AQB agreements) in
 * `before`; every case that writes or tampers works on its own copy of it. Search (library and
 * CLI), get (files and their hashes, the 'downloaded' event), check (catches changed and missing
 * files, edited, removed and truncated audit trails, a forged signature with a re-registered hash),
 * online backup while another process keeps writing, restore, and the yearly export.
 */
import { before, after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { unzipSync } from 'fflate';
import { runDemo, type DemoResult } from '../src/demo.ts';
import { SigningService } from '../src/envelope/service.ts';
import { readEvents } from '../src/envelope/audit.ts';
import { search, type ArchiveEntry, type ExportManifest } from '../src/archive/archive.ts';
import { tempDir } from './helpers/tools.ts';
import { PASSPHRASE, flipByte, sha256, signWith, testStore, zv, type CliResult } from './helpers/signing.ts';

const tmp = tempDir('zv-archive-');
const base = join(tmp.dir, 'base');
let demo: DemoResult;

before(async () => {
  demo = await runDemo({ dataDir: base, passphrase: PASSPHRASE });
  assert.ok(demo.check.ok, demo.check.problems.join('\n'));
  assert.equal(demo.manifest.totals.valid, 26);
  assert.ok(!existsSync(join(base, 'zielwerk.db-wal')) || statSync(join(base, 'zielwerk.db-wal')).size === 0, 'the demo closed its database');
});
after(() => tmp.cleanup());

/** A private copy of the demo's data directory. */
function copyOf(name: string): string {
  const dir = join(tmp.dir, name);
  cpSync(base, dir, { recursive: true });
  return dir;
}

function withService<T>(dir: string, fn: (svc: SigningService) => T): T {
  const svc = SigningService.open({ dataDir: dir, passphrase: PASSPHRASE, transport: null });
  try {
    return fn(svc);
  } finally {
    svc.close();
  }
}

function withDb<T>(dir: string, fn: (db: Database.Database) => T): T {
  const db = new Database(join(dir, 'zielwerk.db'));
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

interface EnvelopeInfo {
  envelopeId: number;
  agreementId: number;
  fileBase: string;
  eventCount: number;
  currentPath: string;
  currentFileId: number;
  reportPath: string;
}
function envelopeOf(dir: string, partnerId: string): EnvelopeInfo {
  return withDb(dir, (db) =>
    db
      .prepare(
        `SELECT e.id AS envelopeId, a.id AS agreementId, a.file_base AS fileBase, e.event_count AS eventCount,
                f.path AS currentPath, f.id AS currentFileId, r.path AS reportPath
         FROM envelopes e JOIN agreements a ON a.id = e.agreement_id
         JOIN files f ON f.id = e.current_file_id JOIN files r ON r.id = e.report_file_id
         WHERE a.partner_id = ? AND e.status = 'completed'`,
      )
      .get(partnerId) as EnvelopeInfo,
  );
}

const totalEvents = (dir: string) => withDb(dir, (db) => (db.prepare('SELECT count(*) AS n FROM audit_events').get() as { n: number }).n);
const problemLines = (r: CliResult) => r.stdout.split('\n').filter((l) => l.startsWith('PROBLEM: ')).map((l) => l.slice('PROBLEM: '.length));

/** Every file under `dir` with size and SHA-256. */
function listing(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return (readdirSync(dir, { recursive: true }) as string[])
    .map((rel) => join(dir, rel))
    .filter((p) => statSync(p).isFile())
    .map((p) => `${relative(dir, p)} ${statSync(p).size} ${sha256(readFileSync(p))}`)
    .sort();
}

// ─────────────────────────────────────── 1. search ───────────────────────────────────────

test('search: by year, partner id and name part, type, status, signatory; the CLI --json agrees', async () => {
  const dir = copyOf('search');
  const names = (hits: ArchiveEntry[]) => hits.map((h) => h.partner).sort();
  let byLib: { kassel: ArchiveEntry[]; engler: ArchiveEntry[] } = { kassel: [], engler: [] };
  withService(dir, (svc) => {
    assert.equal(search(svc, { year: 2023 }).length, 26);
    assert.equal(search(svc, {}).length, 26);
    assert.equal(search(svc, { year: 2024 }).length, 0);
    assert.equal(search(svc, { year: 2022 }).length, 0);

    const byId = search(svc, { partner: 'landkreis-kassel' });
    assert.deepEqual(names(byId), ['Landkreis Kassel']);
    byLib.kassel = search(svc, { partner: 'kassel' });
    assert.deepEqual(names(byLib.kassel), ['Landkreis Kassel', 'Stadt Kassel']);
    assert.deepEqual(names(search(svc, { partner: 'KASSEL' })), ['Landkreis Kassel', 'Stadt Kassel'], 'case-insensitive');
    assert.deepEqual(names(search(svc, { partner: 'offenbach' })), ['Landkreis Offenbach', 'Stadt Offenbach am Main']);
    assert.deepEqual(names(search(svc, { partner: 'Meißner' })), ['Werra-Meißner-Kreis']);
    assert.deepEqual(search(svc, { partner: 'nirgendwo' }), []);

    assert.equal(search(svc, { type: 'aqb' }).length, 26);
    assert.equal(search(svc, { type: 'sgb2' }).length, 0);
    assert.equal(search(svc, { status: 'signed' }).length, 26);
    assert.equal(search(svc, { status: 'draft' }).length, 0);
    assert.equal(search(svc, { status: 'in_signing' }).length, 0);

    byLib.engler = search(svc, { signatory: 'Engler' });
    assert.deepEqual(names(byLib.engler), ['Landkreis Kassel']);
    assert.deepEqual(names(search(svc, { signatory: 'engler' })), ['Landkreis Kassel']);
    assert.equal(search(svc, { signatory: 'Kai Klose' }).length, 26, 'the minister signed all');
    assert.deepEqual(names(search(svc, { signatory: 'Rathgeber' })), ['Werra-Meißner-Kreis']);
    assert.deepEqual(names(search(svc, { year: 2023, type: 'aqb', partner: 'kassel', signatory: 'Siebert', status: 'signed' })), ['Landkreis Kassel']);
    assert.deepEqual(search(svc, { partner: 'stadt-kassel', signatory: 'Engler' }), []);

    const lk = byLib.engler[0]!;
    assert.equal(lk.amount, 846500);
    assert.equal(lk.status, 'signed');
    assert.equal(lk.type, 'aqb');
    assert.equal(lk.year, 2023);
    assert.deepEqual(lk.signatories.map((s) => [s.name, s.status]), [['Kai Klose', 'signed'], ['Andreas Siebert', 'signed'], ['Silke Engler', 'signed']]);
    assert.equal(lk.signedFile, 'signatures/2023/aqb-2023-landkreis-kassel/v1/aqb-2023-landkreis-kassel.pdf');
    assert.equal(lk.reportFile, 'signatures/2023/aqb-2023-landkreis-kassel/v1/aqb-2023-landkreis-kassel-signaturprotokoll.pdf');
  });

  const [kassel, engler, table] = await Promise.all([
    zv(['archive', 'search', '--partner', 'kassel', '--json', '--data', dir]),
    zv(['archive', 'search', '--signatory', 'Engler', '--status', 'signed', '--year', '2023', '--json', '--data', dir]),
    zv(['archive', 'search', '--partner', 'kassel', '--data', dir]),
  ]);
  assert.equal(kassel.code, 0, kassel.stderr);
  assert.deepEqual(JSON.parse(kassel.stdout), JSON.parse(JSON.stringify(byLib.kassel)));
  assert.equal(engler.code, 0, engler.stderr);
  assert.deepEqual(JSON.parse(engler.stdout), JSON.parse(JSON.stringify(byLib.engler)));
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /Landkreis Kassel .*846\.500 Euro .*Silke Engler ✓/);
  assert.match(table.stdout, /^2 agreement\(s\)$/m);
});

// ─────────────────────────────────────── 2. get ───────────────────────────────────────

test('get: writes the signed PDF, Signaturprotokoll and input JSON with the registered hashes, records a download', async () => {
  const dir = copyOf('get');
  const out = join(tmp.dir, 'got');
  const env = envelopeOf(dir, 'werra-meissner-kreis');
  const before = totalEvents(dir);
  const r = await zv(['archive', 'get', String(env.agreementId), '--out', out, '--data', dir, '--actor', 'Prüferin Test']);
  assert.equal(r.code, 0, r.stderr);

  const base = env.fileBase;
  assert.deepEqual(readdirSync(out).sort(), [`${base}-signaturprotokoll.pdf`, `${base}.json`, `${base}.pdf`].sort());
  const registered = withDb(dir, (db) => {
    const sha = (path: string) => (db.prepare('SELECT sha256 FROM files WHERE path = ?').get(path) as { sha256: string }).sha256;
    const a = db.prepare('SELECT input_json FROM agreements WHERE id = ?').get(env.agreementId) as { input_json: string };
    return { pdf: sha(env.currentPath), report: sha(env.reportPath), input: JSON.parse(a.input_json) };
  });
  const got = (name: string) => new Uint8Array(readFileSync(join(out, name)));
  assert.equal(sha256(got(`${base}.pdf`)), registered.pdf, 'signed PDF');
  assert.equal(sha256(got(`${base}-signaturprotokoll.pdf`)), registered.report, 'Signaturprotokoll');
  assert.deepEqual(JSON.parse(Buffer.from(got(`${base}.json`)).toString('utf8')), registered.input, 'input JSON');
  assert.equal(registered.input.partner, 'werra-meissner-kreis');
  assert.equal(registered.input.amount, 444000);
  // Printed: one line per file with its SHA-256.
  for (const name of [`${base}.pdf`, `${base}-signaturprotokoll.pdf`, `${base}.json`]) {
    assert.ok(r.stdout.includes(`${join(out, name)}  sha256:${sha256(got(name))}`), `${name} not printed with its hash:\n${r.stdout}`);
  }

  assert.equal(totalEvents(dir), before + 1, 'exactly one event appended');
  withService(dir, (svc) => {
    const events = readEvents(svc.store.db, env.envelopeId);
    assert.equal(events.length, env.eventCount + 1);
    const last = events.at(-1)!;
    assert.equal(last.type, 'downloaded');
    assert.equal(last.actor, 'Prüferin Test');
    assert.deepEqual(
      (last.details.files as { name: string; sha256: string }[]).map((f) => `${f.name} ${f.sha256}`).sort(),
      readdirSync(out).map((n) => `${n} ${sha256(got(n))}`).sort(),
    );
    const chain = svc.checkChain(env.envelopeId);
    assert.ok(chain.ok, chain.problems.join('; '));
    assert.equal(chain.count, env.eventCount + 1);
  });

  // Unknown id: exit 1, clear message, nothing written, no event.
  const missingOut = join(tmp.dir, 'got-missing');
  const bad = await zv(['archive', 'get', '999', '--out', missingOut, '--data', dir]);
  assert.equal(bad.code, 1, bad.stdout + bad.stderr);
  assert.match(bad.stderr, /refused: .*999/);
  assert.ok(!existsSync(missingOut), 'no output directory for an unknown id');
  assert.equal(totalEvents(dir), before + 1);
});

// ─────────────────────────────────────── 3. check ───────────────────────────────────────

describe('check catches tampering (each case on its own copy)', () => {
  const results: Record<string, CliResult> = {};
  const expect: Record<string, string[]> = {};
  const label = (e: EnvelopeInfo) => `envelope ${e.envelopeId} (${e.fileBase} v1)`;

  before(async () => {
    const cases: Record<string, (dir: string) => void | Promise<void>> = {
      untouched: () => {
        expect.untouched = [];
      },
      // (a) one byte in the middle of a signed PDF
      changed: (dir) => {
        const e = envelopeOf(dir, 'landkreis-kassel');
        const path = join(dir, e.currentPath);
        const bytes = new Uint8Array(readFileSync(path));
        writeFileSync(path, flipByte(bytes, bytes.length >> 1));
        expect.changed = [`${e.currentPath}: content changed on disk`];
      },
      // (b) a Signaturprotokoll deleted
      missing: (dir) => {
        const e = envelopeOf(dir, 'stadt-kassel');
        rmSync(join(dir, e.reportPath));
        expect.missing = [`${e.reportPath}: file is missing`];
      },
      // (c) an audit event edited in the database
      edited: (dir) => {
        const e = envelopeOf(dir, 'landkreis-fulda');
        const seq = withDb(dir, (db) => {
          const ev = db.prepare("SELECT seq FROM audit_events WHERE envelope_id = ? AND type = 'signed' ORDER BY seq DESC LIMIT 1").get(e.envelopeId) as { seq: number };
          const res = db.prepare("UPDATE audit_events SET details = json_set(details, '$.place', 'Berlin') WHERE envelope_id = ? AND seq = ?").run(e.envelopeId, ev.seq);
          assert.equal(res.changes, 1);
          return ev.seq;
        });
        expect.edited = [`${label(e)}: audit trail: event #${seq} (signed) was altered`];
      },
      // (d) an audit event in the middle deleted
      gap: (dir) => {
        const e = envelopeOf(dir, 'vogelsbergkreis');
        const next = withDb(dir, (db) => {
          assert.equal(db.prepare('DELETE FROM audit_events WHERE envelope_id = ? AND seq = 5').run(e.envelopeId).changes, 1);
          return (db.prepare('SELECT type FROM audit_events WHERE envelope_id = ? AND seq = 6').get(e.envelopeId) as { type: string }).type;
        });
        expect.gap = [
          `${label(e)}: audit trail: event #5 missing before #6`,
          `${label(e)}: audit trail: event #6 (${next}) does not follow its predecessor`,
          `${label(e)}: audit trail: the envelope records ${e.eventCount} events, the trail has ${e.eventCount - 1}`,
        ];
      },
      // (e) the last audit event deleted
      truncated: (dir) => {
        const e = envelopeOf(dir, 'odenwaldkreis');
        withDb(dir, (db) => assert.equal(db.prepare('DELETE FROM audit_events WHERE envelope_id = ? AND seq = ?').run(e.envelopeId, e.eventCount).changes, 1));
        expect.truncated = [`${label(e)}: audit trail: the envelope records ${e.eventCount} events, the trail has ${e.eventCount - 1}`];
      },
      // (f) the final PDF replaced by the ministry-signed state plus a partner signature from a
      // foreign key store (a CA of the same name), its registered hash and size updated to match.
      forged: async (dir) => {
        const e = envelopeOf(dir, 'werra-meissner-kreis');
        const step = withDb(dir, (db) => db.prepare("SELECT path FROM files WHERE kind = 'signed-step' AND path LIKE ?").all(`signatures/2023/${e.fileBase}/%`) as { path: string }[]);
        assert.equal(step.length, 1, 'one intermediate state (after the minister)');
        const foreign = await testStore(join(tmp.dir, 'foreign-keys'), 'foreign-passphrase-1');
        const forged = (await signWith(foreign.store, new Uint8Array(readFileSync(join(dir, step[0]!.path))), 'partner:1')).bytes;
        writeFileSync(join(dir, e.currentPath), forged);
        withDb(dir, (db) => db.prepare('UPDATE files SET sha256 = ?, size = ? WHERE id = ?').run(sha256(forged), forged.length, e.currentFileId));
        expect.forged = [
          `${label(e)}: the current document (${e.currentPath}) is not the one the audit trail names last`,
          `${label(e)}: ${e.currentPath} does not verify`,
          // The time-stamped anchor of its completion names another document.
          `${label(e)}: anchored head `,
        ];
      },
    };
    const dirs: Record<string, string> = {};
    for (const [name, tamper] of Object.entries(cases)) {
      dirs[name] = copyOf(`check-${name}`);
      await tamper(dirs[name]);
    }
    // Run the checks three at a time (each is a full CLI start plus 26 verifications).
    const names = Object.keys(cases);
    for (let i = 0; i < names.length; i += 3) {
      const batch = names.slice(i, i + 3);
      const rs = await Promise.all(batch.map((n) => zv(['archive', 'check', '--data', dirs[n]!], {}, 180_000)));
      batch.forEach((n, j) => (results[n] = rs[j]!));
    }
  });

  test('the untouched copy: exit 0, "no discrepancy"', () => {
    const r = results.untouched!;
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(problemLines(r), []);
    assert.match(r.stdout, /\d+ files re-hashed, 26 signed PDFs verified, 26 audit chains \(\d+ events\) checked: no discrepancy/);
  });

  const cases: [string, string][] = [
    ['changed', '(a) a signed PDF with one byte flipped → "content changed on disk"'],
    ['missing', '(b) a deleted Signaturprotokoll → "file is missing"'],
    ['edited', '(c) an audit event edited in the database → "was altered"'],
    ['gap', '(d) an audit event deleted in the middle → missing, does not follow, count'],
    ['truncated', '(e) the last audit event deleted → "records N events, the trail has N-1"'],
    ['forged', '(f) a forged partner signature with a re-registered hash → not the document the trail names, does not verify'],
  ];
  for (const [name, title] of cases) {
    test(title, () => {
      const r = results[name]!;
      assert.equal(r.code, 1, r.stdout + r.stderr);
      const problems = problemLines(r);
      assert.equal(problems.length, expect[name]!.length, `expected ${expect[name]!.length} problem(s):\n${r.stdout}`);
      expect[name]!.forEach((want, i) => assert.ok(problems[i]!.startsWith(want), `problem ${i + 1}: expected "${want}…", got "${problems[i]}"`));
      assert.match(r.stdout, new RegExp(`checked: ${expect[name]!.length} discrepanc`));
    });
  }

  test('(f) names why the forged signature fails: no trusted issuer', () => {
    assert.match(problemLines(results.forged!)[1] ?? '', /\((indeterminate|invalid)\)/);
    assert.match(problemLines(results.forged!)[1] ?? '', /Nicole Rathgeber/);
  });
});

// ─────────────────────────────────────── 4. backup ───────────────────────────────────────

/** A second process that keeps downloading agreements (one 'downloaded' event each) until told to stop. */
function startWriter(dir: string, ids: number[], stopFile: string) {
  const src = (p: string) => pathToFileURL(new URL(`../src/${p}`, import.meta.url).pathname).href;
  const code = `
    import { existsSync } from 'node:fs';
    import { SigningService } from ${JSON.stringify(src('envelope/service.ts'))};
    import { download } from ${JSON.stringify(src('archive/archive.ts'))};
    const svc = SigningService.open({ dataDir: process.env.W_DATA, passphrase: process.env.W_PASS, transport: null });
    const ids = JSON.parse(process.env.W_IDS);
    const until = Date.now() + 60000;
    let n = 0;
    while (!existsSync(process.env.W_STOP) && Date.now() < until) {
      await download(svc, ids[n % ids.length], process.env.W_OUT + '/' + (n % 4), 'Writer');
      n++;
      console.log('wrote ' + n);
    }
    svc.close();
    console.log('done ' + n);
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    env: { ...process.env, W_DATA: dir, W_PASS: PASSPHRASE, W_IDS: JSON.stringify(ids), W_STOP: stopFile, W_OUT: join(tmp.dir, 'writer-out') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let written = 0;
  let stderr = '';
  const waiters: { n: number; resolve: () => void }[] = [];
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    for (const m of d.matchAll(/wrote (\d+)/g)) written = Number(m[1]);
    for (const w of waiters.filter((w) => written >= w.n)) w.resolve();
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  return {
    get written() {
      return written;
    },
    get stderr() {
      return stderr;
    },
    reached: (n: number) => new Promise<void>((resolve) => (written >= n ? resolve() : waiters.push({ n, resolve }))),
    stop: async () => {
      writeFileSync(stopFile, '');
      return exited;
    },
    kill: () => child.kill('SIGKILL'),
  };
}

test('backup while another process keeps writing; restore into a new directory checks clean; restore into a non-empty one refuses', async () => {
  const dir = copyOf('live');
  const zip = join(tmp.dir, 'backup', 'zielwerk-backup.zip');
  const ids = withDb(dir, (db) => (db.prepare('SELECT id FROM agreements ORDER BY id').all() as { id: number }[]).map((r) => r.id));
  const writer = startWriter(dir, ids, join(tmp.dir, 'writer.stop'));
  let atStart: number;
  let atEnd: number;
  let b: CliResult;
  try {
    await Promise.race([writer.reached(3), new Promise((_, rej) => setTimeout(() => rej(new Error(`writer did not start: ${writer.stderr}`)), 60_000))]);
    atStart = writer.written;
    b = await zv(['archive', 'backup', zip, '--data', dir]);
    atEnd = writer.written;
  } finally {
    const code = await Promise.race([writer.stop(), new Promise<number | null>((r) => setTimeout(() => r(-1), 30_000))]);
    if (code === -1) writer.kill();
  }
  assert.equal(b.code, 0, b.stdout + b.stderr);
  assert.match(b.stdout, /^\d+ files, [\d.]+ MB → /);
  assert.ok(atEnd > atStart, `the writer kept writing during the backup (${atStart} → ${atEnd})`);
  const total = writer.written;
  assert.equal(writer.stderr.trim(), '', 'the writer ran without errors');

  const restored = join(tmp.dir, 'restored');
  const r = await zv(['archive', 'restore', zip, '--data', restored]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.ok(existsSync(join(restored, 'keys', 'ca.cert.pem')), 'the CA certificate came along');
  // The snapshot holds a consistent prefix of the writer's events: at least those before the backup started.
  const snapshotWrites = withDb(restored, (db) => (db.prepare("SELECT count(*) AS n FROM audit_events WHERE type = 'downloaded' AND actor = 'Writer'").get() as { n: number }).n);
  assert.ok(snapshotWrites >= atStart && snapshotWrites <= total, `snapshot has ${snapshotWrites} writer events (started ${atStart}, ended ${total})`);

  // 26 PDFs verified with their time-stamps, revocation data and anchors: minutes on a loaded 2-core machine.
  const c = await zv(['archive', 'check', '--data', restored], {}, 180_000);
  assert.equal(c.code, 0, c.stdout + c.stderr);
  assert.match(c.stdout, /26 signed PDFs verified, 26 audit chains .* no discrepancy/);
  assert.equal(c.stderr.trim(), '', 'no sweep findings after restore');

  const before = listing(restored);
  const again = await zv(['archive', 'restore', zip, '--data', restored]);
  assert.equal(again.code, 1, again.stdout + again.stderr);
  assert.match(again.stderr, /is not empty; restore into a new directory/);
  assert.deepEqual(listing(restored), before, 'the non-empty directory is unchanged');
});

test('backup refuses a data directory whose signed PDF is missing; restoring a file that is no ZIP fails without a crash', async () => {
  const dir = copyOf('lossy');
  const e = envelopeOf(dir, 'stadt-kassel');
  rmSync(join(dir, e.currentPath));
  const zip = join(tmp.dir, 'lossy-backup.zip');
  const notZip = join(tmp.dir, 'not-a-backup.zip');
  writeFileSync(notZip, 'this is not a ZIP file\n');
  const target = join(tmp.dir, 'from-not-a-zip');
  const [b, r] = await Promise.all([zv(['archive', 'backup', zip, '--data', dir]), zv(['archive', 'restore', notZip, '--data', target])]);
  // A lost signed PDF is not a "delivered outbox message": the backup must not succeed without it.
  assert.equal(b.code, 1, b.stdout + b.stderr);
  assert.ok(b.stderr.includes(`refused: ${e.currentPath} is missing`), b.stderr);
  assert.ok(!existsSync(zip), 'no backup written');
  assert.notEqual(r.code, 0, r.stdout + r.stderr);
  assert.doesNotMatch(r.stderr, /TypeError/, 'the CLI error handler must not crash on a non-string error code');
  assert.ok(!existsSync(target) || readdirSync(target).length === 0, 'nothing restored');
});

// ─────────────────────────────────────── 5. export ───────────────────────────────────────

test('export: 26 agreements, 78 files, 26 valid; every envelope records the export; an empty year writes nothing', async () => {
  const dir = copyOf('export');
  const out = join(tmp.dir, 'exports', 'x.zip');
  const r = await zv(['archive', 'export', '--year', '2023', '--out', out, '--data', dir, '--actor', 'Archivtest'], {}, 180_000);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^26 agreements, 78 files, 26 verified valid → /m);
  const zipBytes = new Uint8Array(readFileSync(out));
  const zip = unzipSync(zipBytes);
  const m = JSON.parse(Buffer.from(zip['manifest.json']!).toString('utf8')) as ExportManifest;
  assert.deepEqual(m.totals, { agreements: 26, files: 78, valid: 26, paper: 0, concluded: 0 });
  assert.equal(m.agreements.length, 26);
  for (const a of m.agreements) {
    assert.equal(a.verification.verdict, 'valid', a.partnerId);
    assert.ok(a.auditChain!.ok, a.partnerId);
    for (const f of a.files) assert.equal(sha256(zip[f.name]!), f.sha256, f.name);
  }
  assert.equal(Object.keys(zip).filter((n) => /\.(pdf|json)$/.test(n) && n !== 'manifest.json').length, 78);

  const events = withService(dir, (svc) => {
    const envs = svc.store.db.prepare("SELECT id FROM envelopes WHERE status = 'completed'").all() as { id: number }[];
    assert.equal(envs.length, 26);
    return envs.map((e) => {
      const chain = svc.checkChain(e.id);
      assert.ok(chain.ok, `envelope ${e.id}: ${chain.problems}`);
      return readEvents(svc.store.db, e.id).at(-1)!;
    });
  });
  for (const ev of events) {
    assert.equal(ev.type, 'exported', `envelope ${ev.envelopeId}`);
    assert.equal(ev.actor, 'Archivtest');
    assert.equal(ev.details.archive, 'x.zip');
    assert.equal(ev.details.archiveSha256, sha256(zipBytes), 'the event names the ZIP written');
    assert.equal(ev.details.verdict, 'valid');
  }

  const before = totalEvents(dir);
  const empty = join(tmp.dir, 'exports', 'y-2024.zip');
  const sgb2 = join(tmp.dir, 'exports', 'sgb2-2023.zip');
  const [r2024, rSgb2] = await Promise.all([
    zv(['archive', 'export', '--year', '2024', '--out', empty, '--data', dir]),
    zv(['archive', 'export', '--year', '2023', '--type', 'sgb2', '--out', sgb2, '--data', dir]),
  ]);
  assert.equal(r2024.code, 1, r2024.stdout + r2024.stderr);
  assert.match(r2024.stderr, /refused: no signed agreements for 2024/);
  assert.ok(!existsSync(empty), 'no ZIP for an empty year');
  assert.equal(rSgb2.code, 1, rSgb2.stdout + rSgb2.stderr);
  assert.match(rSgb2.stderr, /refused: no signed agreements for SGB2 2023/);
  assert.ok(!existsSync(sgb2));
  assert.deepEqual(readdirSync(join(tmp.dir, 'exports')), ['x.zip'], 'no temporary left behind');
  assert.equal(totalEvents(dir), before, 'a refused export records nothing');
});
