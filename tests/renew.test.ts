/**
 * Verifiable in thirty years, the archive's side: `zv archive renew` and audit chains anchored by
 * time-stamps. Two agreements of 2023 are signed end to end once (`before`); every case works on
 * its own copy of that data directory.
 *
 * (i)   an insider who rewrites an envelope's audit trail consistently (chain recomputed, head
 *       moved) and swaps its PDF for a re-signed copy passes every other check — the anchor names
 *       the head it time-stamped;
 * (ii)  renew with --before far in the future: each archived PDF renewed once, as an incremental
 *       update (qpdf --check, openssl ts -verify of the new document time-stamp), audited,
 *       anchored, `archive check` clean; a second run renews nothing;
 * (iii) the shape of `zv archive renew --dry-run --json`, which changes nothing;
 * (iv)  a renewal killed between the file's rename and the commit: the next start restores the
 *       registered file, the next run renews it;
 * (v)   the server's schedule runs once when the last run is older than a month, and stops.
 */
import { before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { PDF } from '@libpdf/core';
import { pino } from 'pino';
import { SigningService } from '../src/envelope/service.ts';
import { chainEvents, EVENT_LABELS, insertEvents, readEvents, type EventDraft } from '../src/envelope/audit.ts';
import { prepareAnchor, readAnchors, type EnvelopeAnchorSubject, type RenewalAnchorSubject } from '../src/envelope/anchors.ts';
import { checkArchive } from '../src/archive/check.ts';
import { backup, restore } from '../src/archive/backup.ts';
import { lastRenewRun, renewArchive, LAST_RUN_KEY, type RenewReport } from '../src/archive/renew.ts';
import { scheduleRenewal } from '../src/archive/renew-schedule.ts';
import { addArchivalTimestamp, derElementLength, documentTimestamps } from '../src/sign/ltv.ts';
import { signAgreement } from '../src/sign/sign.ts';
import { absolutePath, fileById, readStoredFile, sha256Hex } from '../src/store/files.ts';
import { newestLink } from '../src/demo.ts';
import { openYear, openService } from './helpers/year.ts';
import { PASSPHRASE, ref, signaturesIn, zv } from './helpers/signing.ts';
import { run, tempDir } from './helpers/tools.ts';
import { toPem } from './helpers/pki.ts';

const tmp = tempDir('zv-renew-');
const base = join(tmp.dir, 'base');
const PARTNERS = ['werra-meissner-kreis', 'stadt-kassel'];

before(async () => {
  const ids = await openYear(base, PARTNERS);
  const svc = openService(base);
  try {
    const minister = svc.snapshot(ids[0]!).signatories.find((s) => s.party === 'ministry')!;
    for (const r of await svc.signAsMinistry(ids, { name: minister.name })) assert.ok(!r.error, r.error);
    for (const id of ids) {
      for (let cur = SigningService.current(svc.snapshot(id)); cur; cur = SigningService.current(svc.snapshot(id))) await svc.signWithLink(newestLink(svc, cur.email!));
      assert.equal(svc.snapshot(id).envelope.status, 'completed');
    }
    const check = await checkArchive(svc);
    assert.ok(check.ok, check.problems.join('\n'));
    assert.equal(check.anchors, ids.length, 'one anchor per completed envelope');
  } finally {
    svc.close();
  }
});
after(() => tmp.cleanup());

let copies = 0;
function copyOf(name: string): string {
  const dir = join(tmp.dir, `${name}-${++copies}`);
  cpSync(base, dir, { recursive: true });
  return dir;
}

async function withService<T>(dir: string, fn: (svc: SigningService) => Promise<T> | T): Promise<T> {
  const svc = openService(dir);
  try {
    return await fn(svc);
  } finally {
    svc.close();
  }
}

/** The archived (current) file of each completed envelope: id, path, bytes. */
function archived(svc: SigningService): { envelopeId: number; fileId: number; path: string; bytes: Uint8Array }[] {
  return svc.listEnvelopes({ status: 'completed' }).sort((a, b) => a.envelope.id - b.envelope.id).map((s) => {
    const f = fileById(svc.store.db, s.envelope.current_file_id);
    return { envelopeId: s.envelope.id, fileId: f.id, path: f.path, bytes: readStoredFile(svc.store.dataDir, f) };
  });
}

test('(i) an insider rewrites the audit trail consistently and re-signs the PDF: only the anchor finds it, naming the anchored head', async () => {
  const dir = copyOf('insider');
  const anchoredHead = await withService(dir, async (svc) => {
    const [target] = archived(svc);
    const snap = svc.snapshot(target!.envelopeId);
    const anchor = readAnchors(svc.store.db, 'envelope').find((a) => a.envelope_id === target!.envelopeId)!;
    const subject = JSON.parse(anchor.subject) as EnvelopeAnchorSubject;

    // A re-signed copy of the same draft, B-LTA like the original, by the same keys and TSA.
    const draft = readStoredFile(dir, fileById(svc.store.db, snap.agreement.pdf_file_id));
    let bytes = draft;
    for (const s of snap.signatories) bytes = (await signAgreement(bytes, { draft, signatory: ref(s.ref), signer: (p, at) => svc.keys.signerFor(p, { at }), tsa: svc.tsa, place: 'Berlin' })).bytes;
    bytes = (await addArchivalTimestamp(bytes, { tsa: svc.tsa, revocation: svc.revocation })).bytes;
    const forged = sha256Hex(bytes);

    // The trail rewritten to match: the signatures' place changed, the document hashes moved to the forgery, the chain recomputed.
    const drafts: EventDraft[] = readEvents(svc.store.db, target!.envelopeId).map((e) => ({
      type: e.type,
      actor: e.actor,
      at: e.at,
      docBefore: e.docBefore === sha256Hex(target!.bytes) ? forged : e.docBefore,
      docAfter: e.docAfter === sha256Hex(target!.bytes) ? forged : e.docAfter,
      details: e.type === 'signed' ? { ...e.details, place: 'Berlin' } : e.details,
    }));
    const chained = chainEvents(target!.envelopeId, { count: 0, hash: '' }, drafts);
    svc.store.write(() => {
      svc.store.db.prepare('DELETE FROM audit_events WHERE envelope_id = ?').run(target!.envelopeId);
      insertEvents(svc.store.db, chained);
      svc.store.db.prepare('UPDATE files SET sha256 = ?, size = ? WHERE id = ?').run(forged, bytes.length, target!.fileId);
    });
    writeFileSync(absolutePath(dir, target!.path), bytes);
    assert.ok(svc.checkChain(target!.envelopeId).ok, 'the rewritten chain is consistent in itself');
    assert.notEqual(chained[subject.count - 1]!.hash, subject.head);
    return subject.head;
  });

  const [report, cli] = await Promise.all([withService(dir, (svc) => checkArchive(svc)), zv(['archive', 'check', '--data', dir])]);
  assert.equal(report.ok, false);
  assert.ok(report.problems.length >= 1);
  // Everything else holds — the forgery is consistent — and what does not names the anchored head.
  for (const p of report.problems) assert.match(p, new RegExp(`anchored head ${anchoredHead}`), p);
  assert.ok(report.problems.some((p) => /envelope \d+ .*no longer has it/.test(p)), report.problems.join('\n'));
  assert.equal(cli.code, 1, cli.stdout + cli.stderr);
  assert.match(cli.stdout, new RegExp(`PROBLEM: envelope \\d+ .*anchored head ${anchoredHead}`));
});

test('(i) the insider also replaces the anchor with a fresh one, three hours later: found by its time', async () => {
  const dir = copyOf('fresh-anchor');
  const later = SigningService.open({ dataDir: dir, passphrase: PASSPHRASE, transport: null, clock: () => new Date(Date.now() + 3 * 3_600_000) });
  let head = '';
  try {
    const row = readAnchors(later.store.db, 'envelope')[0]!;
    const subject = JSON.parse(row.subject) as EnvelopeAnchorSubject;
    const drafts: EventDraft[] = readEvents(later.store.db, row.envelope_id!).map((e) => ({ ...e, details: e.type === 'signed' ? { ...e.details, place: 'Berlin' } : e.details }));
    const chained = chainEvents(row.envelope_id!, { count: 0, hash: '' }, drafts);
    head = chained[subject.count - 1]!.hash;
    // The recording time as it was: only the token's own time gives it away.
    const fresh = await prepareAnchor(later.tsa, { ...subject, head });
    later.store.write(() => {
      later.store.db.prepare('DELETE FROM audit_events WHERE envelope_id = ?').run(row.envelope_id);
      insertEvents(later.store.db, chained);
      later.store.db.prepare('UPDATE anchors SET subject = ?, digest = ?, token = ?, gen_time = ? WHERE id = ?').run(fresh.subject, fresh.digest, Buffer.from(fresh.token), fresh.genTime, row.id);
    });
  } finally {
    later.close();
  }
  const report = await withService(dir, (svc) => checkArchive(svc));
  assert.equal(report.problems.length, 1, report.problems.join('\n'));
  assert.match(report.problems[0]!, new RegExp(`anchored head ${head} .*more than an hour after the event it anchors`));
});

test('(i) a completed envelope without an anchor is "nicht verankert"', async () => {
  const dir = copyOf('unanchored');
  const db = new Database(join(dir, 'zielwerk.db'));
  const id = db.prepare("SELECT envelope_id FROM anchors WHERE kind = 'envelope' ORDER BY id LIMIT 1").pluck().get() as number;
  db.prepare('DELETE FROM anchors WHERE envelope_id = ?').run(id);
  db.close();
  const report = await withService(dir, (svc) => checkArchive(svc));
  assert.deepEqual(report.problems.length, 1, report.problems.join('\n'));
  assert.match(report.problems[0]!, new RegExp(`^envelope ${id} .*nicht verankert / not anchored.*current head [0-9a-f]{64}`));
});

test('(ii) renew --before 2100: each archived PDF renewed once (incremental, qpdf, openssl ts), audited, anchored, check clean; a second run renews nothing', async () => {
  const dir = copyOf('renew');
  const before = await withService(dir, (svc) => archived(svc));
  const r1 = await zv(['archive', 'renew', '--before', '2100-01-01', '--data', dir, '--json'], {}, 120_000);
  assert.equal(r1.code, 0, r1.stdout + r1.stderr);
  const report = JSON.parse(r1.stdout) as RenewReport;
  assert.equal(report.renewed, PARTNERS.length, JSON.stringify(report.items, null, 2));
  assert.equal(report.failed, 0);
  assert.ok(report.items.every((i) => i.status === 'renewed' && /before 2100-01-01/.test(i.reason)), JSON.stringify(report.items.map((i) => i.reason)));
  assert.equal(report.anchor?.renewals, PARTNERS.length);

  const tsaRoot = join(dir, 'tsa-root.pem');
  writeFileSync(tsaRoot, toPem(new Uint8Array(readFileSync(join(dir, 'pki', 'tsa', 'root.cer')))));
  const figures: string[] = [];
  await withService(dir, async (svc) => {
    for (const now of archived(svc)) {
      const old = before.find((b) => b.envelopeId === now.envelopeId)!;
      const item = report.items.find((i) => i.envelopeId === now.envelopeId)!;
      assert.ok(now.bytes.length > old.bytes.length);
      assert.ok(Buffer.from(now.bytes.subarray(0, old.bytes.length)).equals(Buffer.from(old.bytes)), 'the renewed file begins with every byte of the archived one');
      assert.equal(item.newSha256, sha256Hex(now.bytes));
      run('qpdf', ['--check', absolutePath(dir, now.path)]);
      // openssl ts -verify: the new (newest) document time-stamp over exactly its byte range, chained to the demo TSA root.
      const stamps = documentTimestamps(now.bytes, await PDF.load(now.bytes));
      assert.equal(stamps.length, documentTimestamps(old.bytes, await PDF.load(old.bytes)).length + 1);
      const newest = stamps.at(-1)!;
      assert.ok(newest.end > old.bytes.length, 'the new time-stamp covers the archived bytes and the renewal data');
      const sig = signaturesIn(now.bytes).find((s) => s.end === newest.end)!;
      const [, a, b, c] = sig.byteRange;
      const covered = join(dir, `covered-${now.envelopeId}.bin`);
      const token = join(dir, `token-${now.envelopeId}.der`);
      writeFileSync(covered, Buffer.concat([now.bytes.subarray(0, a), now.bytes.subarray(b, b + c)]));
      writeFileSync(token, sig.cms.subarray(0, derElementLength(sig.cms)));
      assert.match(run('openssl', ['ts', '-verify', '-data', covered, '-in', token, '-token_in', '-CAfile', tsaRoot]), /Verification: OK/);
      // The audit trail shows the renewal, with the old and new hashes.
      const last = readEvents(svc.store.db, now.envelopeId).at(-1)!;
      assert.equal(last.type, 'renewed');
      assert.equal(EVENT_LABELS[last.type], 'Archivzeitstempel erneuert');
      assert.equal(last.docBefore, sha256Hex(old.bytes));
      assert.equal(last.docAfter, sha256Hex(now.bytes));
      assert.deepEqual([last.details.oldSha256, last.details.newSha256, (last.details.timestamp as { time: string }).time], [sha256Hex(old.bytes), sha256Hex(now.bytes), newest.parsed!.genTime.toISOString()]);
      figures.push(`${now.path.split('/').pop()}: +${((now.bytes.length - old.bytes.length) / 1024).toFixed(1)} KB in ${item.seconds.toFixed(2)} s`);
    }
    const renewal = readAnchors(svc.store.db, 'renewal');
    assert.equal(renewal.length, 1);
    assert.deepEqual((JSON.parse(renewal[0]!.subject) as RenewalAnchorSubject).renewals.map((r) => r.newSha256).sort(), report.items.map((i) => i.newSha256).sort());
    const check = await checkArchive(svc);
    assert.ok(check.ok, check.problems.join('\n'));
    assert.deepEqual(check.warnings, []);
    assert.equal(lastRenewRun(svc)?.renewed, PARTNERS.length);
  });
  console.log(`# renewal: ${figures.join('; ')}`);

  // Right after: nothing is renewed again — not with the same --before (the TSA signs with the same certificate), not by default.
  const [again, byDefault] = await Promise.all([zv(['archive', 'renew', '--before', '2100-01-01', '--data', dir, '--json'], {}, 120_000), zv(['archive', 'renew', '--data', dir], {}, 120_000)]);
  assert.equal(again.code, 0, again.stderr);
  const second = JSON.parse(again.stdout) as RenewReport;
  assert.equal(second.renewed, 0, JSON.stringify(second.items, null, 2));
  assert.ok(second.items.every((i) => i.status === 'not-due' && /current certificate already/.test(i.reason)), JSON.stringify(second.items.map((i) => i.reason)));
  assert.equal(second.anchor, null);
  assert.equal(byDefault.code, 0, byDefault.stderr);
  assert.match(byDefault.stdout, /^not due {3}signatures\/2023\/.*proves it until \d{4}-\d{2}-\d{2}, after \d{4}/m);
  assert.match(byDefault.stdout, /0 renewed, 2 not due, 0 failed of 2 archived PDF\(s\)/);
  const files = await withService(dir, (svc) => archived(svc).map((f) => sha256Hex(f.bytes)));
  assert.deepEqual(files.sort(), report.items.map((i) => i.newSha256!).sort(), 'the second runs changed no file');
  // A backup carries the renewed files, their anchors and the TSA they chain to: the restored copy checks clean.
  const restored = join(tmp.dir, 'restored');
  await withService(dir, (svc) => backup(svc, join(tmp.dir, 'renewed-backup.zip')));
  restore(join(tmp.dir, 'renewed-backup.zip'), restored);
  const check = await withService(restored, (svc) => checkArchive(svc));
  assert.ok(check.ok, check.problems.join('\n'));
  assert.equal(check.anchors, PARTNERS.length + 1);
});

test('(iii) zv archive renew --dry-run --json: what is due and why, nothing changed', async () => {
  const dir = copyOf('dry');
  const state = () => withService(dir, (svc) => ({ files: archived(svc).map((f) => sha256Hex(f.bytes)), events: svc.store.db.prepare('SELECT count(*) FROM audit_events').pluck().get(), anchors: readAnchors(svc.store.db).length, lastRun: svc.store.db.prepare('SELECT value FROM settings WHERE key = ?').pluck().get(LAST_RUN_KEY) ?? null }));
  const was = await state();
  const [due, notDue] = await Promise.all([
    zv(['archive', 'renew', '--dry-run', '--json', '--before', '2100-01-01', '--data', dir], {}, 120_000),
    zv(['archive', 'renew', '--dry-run', '--json', '--data', dir], {}, 120_000),
  ]);
  assert.equal(due.code, 0, due.stderr);
  assert.equal(notDue.code, 0, notDue.stderr);
  const r = JSON.parse(due.stdout) as RenewReport;
  assert.deepEqual(Object.keys(r).sort(), ['anchor', 'at', 'before', 'due', 'dryRun', 'failed', 'items', 'notDue', 'renewed', 'seconds', 'stopped'].sort());
  assert.deepEqual([r.dryRun, r.before, r.renewed, r.due, r.notDue, r.failed, r.anchor, r.stopped], [true, '2100-01-01T00:00:00.000Z', 0, PARTNERS.length, 0, 0, null, false]);
  for (const i of r.items) {
    assert.deepEqual(Object.keys(i).sort(), ['agreement', 'agreementId', 'envelopeId', 'last', 'oldSha256', 'oldSize', 'path', 'reason', 'seconds', 'status'].sort());
    assert.equal(i.status, 'due');
    assert.match(i.path, /^signatures\/2023\/aqb-2023-.*\.pdf$/);
    assert.match(i.oldSha256, /^[0-9a-f]{64}$/);
    assert.equal(i.last?.kind, 'document');
    assert.match(i.last!.tsa!, /Zielwerk Demo-Zeitstempeldienst 1/);
    assert.match(i.reason, /^the document time-stamp of \d{4}-\d{2}-\d{2} \(TSA .*\): its TSA certificate ends \d{4}-\d{2}-\d{2}(, a certificate above it ends \d{4}-\d{2}-\d{2})? — before 2100-01-01$/);
    assert.ok(Date.parse(i.last!.tsaValidTo!) > Date.parse(i.last!.time));
  }
  const d = JSON.parse(notDue.stdout) as RenewReport;
  assert.deepEqual([d.due, d.notDue], [0, PARTNERS.length]);
  assert.ok(d.items.every((i) => i.status === 'not-due'));
  assert.deepEqual(await state(), was, 'a dry run changes nothing');
});

test('(iv) a renewal killed after the rename, before the commit: the next start restores the registered file; the next run renews it', async () => {
  const dir = copyOf('crash');
  const was = await withService(dir, (svc) => archived(svc));
  const killed = await zv(['archive', 'renew', '--before', '2100-01-01', '--data', dir], { ZV_FAULT: 'renew:after-rename' }, 120_000);
  assert.equal(killed.signal, 'SIGKILL', killed.stdout + killed.stderr);
  const first = absolutePath(dir, was[0]!.path);
  assert.ok(readFileSync(first).length > was[0]!.bytes.length, 'the renewed file was in place when the process died');
  await withService(dir, async (svc) => {
    assert.deepEqual(svc.store.sweepReport?.restored, [was[0]!.path]);
    assert.deepEqual(archived(svc).map((f) => sha256Hex(f.bytes)), was.map((f) => sha256Hex(f.bytes)));
    assert.ok((await checkArchive(svc)).ok);
    const r = await renewArchive(svc, { before: new Date('2100-01-01') });
    assert.equal(r.renewed, PARTNERS.length);
    const check = await checkArchive(svc);
    assert.ok(check.ok, check.problems.join('\n'));
  });
});

test('(v) zv serve schedules the monthly run: once when the last run is older than a month, not again right after; stops on close', async () => {
  const dir = copyOf('schedule');
  await withService(dir, async (svc) => {
    svc.store.write(() => svc.store.db.prepare('INSERT INTO settings (key, value) VALUES (?, ?)').run(LAST_RUN_KEY, JSON.stringify({ at: '2020-01-01T00:00:00.000Z', renewed: 0, notDue: 0, failed: 0, seconds: 0 })));
    const lines: string[] = [];
    const log = pino({ level: 'info' }, { write: (l: string) => void lines.push(l) });
    const s1 = scheduleRenewal(svc, log, { firstCheckMs: 5, checkEveryMs: 20 });
    const finished = () => lines.some((l) => /archive renew: \d+ renewed/.test(l));
    for (let i = 0; i < 400 && !finished(); i++) await new Promise((r) => setTimeout(r, 5));
    assert.ok(finished(), `a run started and ended: ${lines.join('')}`);
    await new Promise((r) => setTimeout(r, 100)); // several further checks: the run just made is recent
    await s1.stop();
    assert.equal(lines.filter((l) => /monthly run started/.test(l)).length, 1, lines.join(''));
    assert.match(lines.join(''), /0 renewed, 2 not due, 0 failed/);
    assert.ok(Date.parse(lastRenewRun(svc)!.at) > Date.parse('2020-01-01'));
  });
});
