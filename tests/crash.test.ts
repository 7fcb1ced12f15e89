/**
 * Crashes while signing: `zv envelope sign` killed (SIGKILL, no clean-up) at each commit fault
 * point (ZV_FAULT), after random delays, and at random moments inside the commit (triggered by its
 * first file appearing). After every crash the service is opened again — which
 * runs the startup sweep — and the envelope must be exactly as before or exactly as after the
 * signature: no half-written state, no orphan file outside lost+found/, an intact audit chain, a
 * clean archive check. A signature that was reported as done is never lost.
 *
 * Each group has its own small data directory, prepared in-process (generate, open envelopes,
 * ministry signature, partner certificates); only the county signatures run as child processes.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, watch } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LinkRefusedError, NEUTRAL_REFUSAL, SigningService, type SignatoryRow } from '../src/envelope/service.ts';
import { listManagedFiles } from '../src/store/sweep.ts';
import { readEvents } from '../src/envelope/audit.ts';
import { readContactsFile } from '../src/envelope/contacts.ts';
import { parseEml } from '../src/envelope/notify.ts';
import { checkArchive } from '../src/archive/check.ts';
import { trustAnchorsOf } from '../src/archive/archive.ts';
import { verifyAgreement } from '../src/sign/verify.ts';
import { generateIntoStore, readAgreementInputs } from '../src/store/agreements.ts';
import { absolutePath, fileById, sha256Hex } from '../src/store/files.ts';
import { Store } from '../src/store/store.ts';
import type { ResolvedAgreement } from '../src/compose/resolve.ts';
import { PASSPHRASE } from './helpers/signing.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const AQB_BATCH = join(ROOT, 'examples', 'aqb-2023-hessen.json');
const CONTACTS = readContactsFile(join(ROOT, 'examples', 'aqb-2023-kontakte.json'));
const ACTOR = 'Sachbearbeitung AQB (Test)';
const KASSEL = 'landkreis-kassel';
const WERRA = 'werra-meissner-kreis';
const RANDOM_ITERATIONS = 8;

// ───────────────────────────── helpers ─────────────────────────────

interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
  /** True when the test killed it (as opposed to the process ending by itself or by a fault point). */
  killedByTest: boolean;
}

/**
 * `zv envelope sign - --data <dir>` with the link on standard input; optionally SIGKILLed by the
 * test `killAfterMs` after the start, or `killOn.jitterMs` after the first change in `killOn.dir`
 * (the commit creating its first file there).
 */
function signInChild(dataDir: string, link: string, opts: { fault?: string; killAfterMs?: number; killOn?: { dir: string; jitterMs: number } } = {}): Promise<ChildResult> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && (k === 'ZV_KEY_KDF_ITERATIONS' || !/^(ZV_|NODE_ENV$|NODE_TEST_CONTEXT$)/.test(k))) env[k] = v;
  env.ZV_KEY_PASSPHRASE = PASSPHRASE;
  if (opts.fault) env.ZV_FAULT = opts.fault;
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/zv.js', 'envelope', 'sign', '-', '--data', dataDir], { cwd: ROOT, env, timeout: 120_000, killSignal: 'SIGKILL' });
    let stdout = '';
    let stderr = '';
    let killedByTest = false;
    let exited = false;
    const timer =
      opts.killAfterMs === undefined
        ? undefined
        : setTimeout(() => {
            if (!exited) killedByTest = child.kill('SIGKILL');
          }, opts.killAfterMs);
    let trigger: NodeJS.Timeout | undefined;
    const watcher = opts.killOn
      ? watch(opts.killOn.dir, () => {
          if (trigger || exited) return;
          trigger = setTimeout(() => {
            if (!exited) killedByTest = child.kill('SIGKILL');
          }, opts.killOn!.jitterMs);
        })
      : undefined;
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdin.on('error', () => {}); // killed before it read the link
    child.on('error', reject);
    child.on('exit', () => (exited = true));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      clearTimeout(trigger);
      watcher?.close();
      resolve({ code, signal, stdout, stderr, ms: Math.round(performance.now() - started), killedByTest });
    });
    child.stdin.end(`${link}\n`);
  });
}

function openService(dataDir: string): SigningService {
  return SigningService.open({ dataDir, passphrase: PASSPHRASE, transport: null, warn: () => {} });
}

/** Every file under the managed folders, temporaries (dot files) included, as store paths — the sweep's own listing. */
const filesOnDisk = listManagedFiles;

/** Files on disk that no row registers, and registered files missing on disk — read without the sweep. */
function unregisteredFiles(dataDir: string): { unregistered: string[]; missing: string[] } {
  const store = Store.open({ dataDir, skipSweep: true });
  try {
    const rows = new Set((store.db.prepare('SELECT path FROM files').all() as { path: string }[]).map((r) => r.path));
    const disk = filesOnDisk(dataDir);
    const onDisk = new Set(disk);
    return { unregistered: disk.filter((p) => !rows.has(p)), missing: [...rows].filter((p) => !onDisk.has(p)) };
  } finally {
    store.close();
  }
}

/** Everything a signature changes about an envelope, for "exactly as before" comparisons. */
function stateOf(svc: SigningService, envelopeId: number) {
  const snap = svc.snapshot(envelopeId);
  const e = snap.envelope;
  const db = svc.store.db;
  return {
    envelope: { status: e.status, rev: e.rev, event_count: e.event_count, head_hash: e.head_hash, current_file_id: e.current_file_id, report_file_id: e.report_file_id, closed_at: e.closed_at },
    agreementStatus: snap.agreement.status,
    signatories: snap.signatories.map((s) => ({ id: s.id, status: s.status, signed_at: s.signed_at, certificate_sha256: s.certificate_sha256 })),
    tokens: db
      .prepare('SELECT t.id, t.used_at, t.revoked_at FROM link_tokens t JOIN signatories s ON s.id = t.signatory_id WHERE s.envelope_id = ? ORDER BY t.id')
      .all(envelopeId) as { id: number; used_at: string | null; revoked_at: string | null }[],
    notifications: (db.prepare('SELECT COUNT(*) AS n FROM notifications WHERE envelope_id = ?').get(envelopeId) as { n: number }).n,
    events: readEvents(db, envelopeId).map((ev) => ev.hash),
  };
}
type State = ReturnType<typeof stateOf>;

function signedEvents(svc: SigningService, envelopeId: number, ref: string): number {
  return readEvents(svc.store.db, envelopeId).filter((e) => e.type === 'signed' && e.details.signatory === ref).length;
}

function assertChainOk(svc: SigningService, envelopeId: number): void {
  const chain = svc.checkChain(envelopeId);
  assert.ok(chain.ok, `envelope ${envelopeId}: ${chain.problems.join('; ')}`);
}

async function assertArchiveClean(svc: SigningService): Promise<void> {
  const report = await checkArchive(svc);
  assert.deepEqual(report.problems, [], 'archive check problems');
  assert.deepEqual(report.warnings, [], 'archive check warnings');
}

/** Exactly one signature more than `before`: the signatory signed, one signed event, one commit, one more used link. */
function assertSigned(svc: SigningService, envelopeId: number, signatory: SignatoryRow, before: State): void {
  const now = stateOf(svc, envelopeId);
  const s = now.signatories.find((x) => x.id === signatory.id)!;
  assert.equal(s.status, 'signed');
  assert.ok(s.signed_at && s.certificate_sha256);
  assert.equal(signedEvents(svc, envelopeId, signatory.ref), 1, 'exactly one signed event');
  assert.equal(now.envelope.rev, before.envelope.rev + 1, 'exactly one commit');
  assert.notEqual(now.envelope.current_file_id, before.envelope.current_file_id);
  assert.deepEqual(now.events.slice(0, before.events.length), before.events, 'the earlier events are unchanged');
  const used = (st: State) => st.tokens.filter((t) => t.used_at).length;
  assert.equal(used(now), used(before) + 1, 'exactly one more used link');
}

/** The signed file of an envelope: registered, intact on disk, and verifying against the data directory's CA. */
async function assertSignedFileVerifies(svc: SigningService, envelopeId: number, requireComplete: boolean): Promise<void> {
  const snap = svc.snapshot(envelopeId);
  const file = fileById(svc.store.db, snap.envelope.current_file_id);
  assert.ok(file.kind === 'signed-pdf' || file.kind === 'signed-step', `current file ${file.path} is ${file.kind}`);
  const bytes = new Uint8Array(readFileSync(absolutePath(svc.store.dataDir, file.path)));
  assert.equal(bytes.length, file.size);
  assert.equal(sha256Hex(bytes), file.sha256);
  const lastSigned = readEvents(svc.store.db, envelopeId).filter((e) => e.type === 'signed').at(-1)!;
  assert.equal(lastSigned.docAfter, file.sha256, 'the audit trail names this file as the result of the last signature');
  const trust = trustAnchorsOf(svc);
  assert.equal(trust.length, 2, 'the data directory has its Demo-CA and its demo TSA root');
  const report = await verifyAgreement(bytes, { trust, requireComplete });
  assert.equal(report.verdict, 'valid', `${file.path}: ${[...report.problems, ...report.signatures.flatMap((s) => s.problems)].join('; ')}`);
  assert.equal(report.signatures.length, snap.signatories.filter((s) => s.status === 'signed').length);
  if (requireComplete) {
    assert.equal(snap.envelope.status, 'completed');
    const protocol = fileById(svc.store.db, snap.envelope.report_file_id!);
    const pb = readFileSync(absolutePath(svc.store.dataDir, protocol.path));
    assert.equal(sha256Hex(pb), protocol.sha256, 'the Signaturprotokoll is intact');
  }
}

interface Prepared {
  dir: string;
  /** Per partner id: the envelope, its current (partner) signatory and their newest link from the outbox. */
  targets: Map<string, { envelopeId: number; signatory: SignatoryRow; link: string }>;
}

let allInputs: ResolvedAgreement[] = [];
const dirs: string[] = [];

/** A data directory with the given counties' AQB agreements, envelopes open and signed by the ministry, partner certificates issued. */
async function prepare(partnerIds: string[]): Promise<Prepared> {
  const dir = mkdtempSync(join(tmpdir(), 'zv-crash-'));
  dirs.push(dir);
  const inputs = allInputs.filter((r) => partnerIds.includes(r.partner.id));
  assert.equal(inputs.length, partnerIds.length);
  const svc = openService(dir);
  try {
    const rows = await generateIntoStore(svc.store, inputs, ACTOR);
    await svc.openEnvelopes(rows.map((r) => r.id), CONTACTS, ACTOR);
    const waiting = svc.awaitingMinistry();
    assert.equal(waiting.length, partnerIds.length);
    for (const name of new Set(waiting.map((s) => SigningService.current(s)!.name))) {
      const ids = waiting.filter((s) => SigningService.current(s)!.name === name).map((s) => s.envelope.id);
      const results = await svc.signAsMinistry(ids, { name });
      assert.deepEqual(results.filter((r) => r.error), []);
    }
    const targets: Prepared['targets'] = new Map();
    for (const snap of svc.listEnvelopes({ status: 'open' })) {
      const cur = SigningService.current(snap)!;
      assert.equal(cur.party, 'partner');
      await svc.keys.identityFor({ name: cur.name, role: cur.role, organisation: cur.organisation }, { at: new Date() });
      const row = svc.store.db
        .prepare(
          `SELECT f.path FROM notifications n JOIN files f ON f.id = n.eml_file_id
           WHERE n.signatory_id = ? AND n.kind IN ('invite','turn','reminder') ORDER BY n.id DESC LIMIT 1`,
        )
        .get(cur.id) as { path: string };
      const link = parseEml(readFileSync(absolutePath(dir, row.path))).link;
      assert.ok(link);
      targets.set(snap.agreement.partner_id, { envelopeId: snap.envelope.id, signatory: cur, link });
    }
    assert.equal(targets.size, partnerIds.length);
    return { dir, targets };
  } finally {
    svc.close();
  }
}

before(async () => {
  allInputs = await readAgreementInputs(AQB_BATCH);
});

after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

// ───────────────────────────── fault points ─────────────────────────────

describe('killed at a commit fault point', () => {
  for (const point of ['commit:files-written', 'commit:before-commit', 'commit:after-commit'] as const) {
    test(point, async () => {
      const { dir, targets } = await prepare([WERRA, KASSEL]);
      // Werra-Meißner: one county signatory, so the signature completes the envelope and writes the
      // most at once (signed PDF, Signaturprotokoll, completion mails). Kassel is the bystander.
      const t = targets.get(WERRA)!;
      const other = targets.get(KASSEL)!;
      let before: State;
      let otherBefore: State;
      let filesBefore: string[];
      let rowsBefore: number;
      {
        const svc = openService(dir);
        try {
          before = stateOf(svc, t.envelopeId);
          otherBefore = stateOf(svc, other.envelopeId);
          rowsBefore = (svc.store.db.prepare('SELECT COUNT(*) AS n FROM files').get() as { n: number }).n;
        } finally {
          svc.close();
        }
        filesBefore = filesOnDisk(dir);
      }

      const r = await signInChild(dir, t.link, { fault: point });
      assert.equal(r.signal, 'SIGKILL', `the child should die at ${point}; exit ${r.code}: ${r.stderr}`);
      assert.equal(r.code, null);
      assert.doesNotMatch(r.stdout, /signed by/, 'it died before reporting success');

      const left = unregisteredFiles(dir);
      assert.deepEqual(left.missing, [], 'no registered file may be missing after the crash');

      const svc = openService(dir);
      try {
        const sweep = svc.store.sweepReport!;
        assert.deepEqual(sweep.missing, []);
        const swept = [...sweep.quarantined.map((q) => q.path), ...sweep.removedTemporaries].sort();
        assert.deepEqual(swept, left.unregistered, 'the sweep handled exactly the files the crash left unregistered');
        for (const q of sweep.quarantined) {
          assert.match(q.movedTo, /^lost\+found\//);
          assert.ok(existsSync(absolutePath(dir, q.movedTo)), `${q.movedTo} exists`);
        }
        assert.deepEqual(unregisteredFiles(dir).unregistered, [], 'no unregistered file remains under output/ signatures/ outbox/');
        assert.deepEqual(stateOf(svc, other.envelopeId), otherBefore, 'the other envelope is untouched');

        const a = svc.snapshot(t.envelopeId).agreement;
        const signedPath = `signatures/${a.year}/${a.file_base}/v${a.version}/${a.file_base}.pdf`;
        const reportPath = `signatures/${a.year}/${a.file_base}/v${a.version}/${a.file_base}-signaturprotokoll.pdf`;

        if (point === 'commit:after-commit') {
          // Committed: the signature is there, nothing was left over, the link is spent.
          assert.deepEqual(left.unregistered, []);
          assert.deepEqual(sweep, { removedTemporaries: [], quarantined: [], missing: [] });
          assertSigned(svc, t.envelopeId, t.signatory, before);
          assert.equal(stateOf(svc, t.envelopeId).envelope.status, 'completed');
          assert.equal(fileById(svc.store.db, svc.snapshot(t.envelopeId).envelope.current_file_id).path, signedPath);
          await assertSignedFileVerifies(svc, t.envelopeId, true);
          const signedState = stateOf(svc, t.envelopeId);
          await assert.rejects(svc.signWithLink(t.link), (err: Error) => err instanceof LinkRefusedError && err.message === NEUTRAL_REFUSAL);
          assert.deepEqual(stateOf(svc, t.envelopeId), signedState, 'the refused second attempt changed nothing');
        } else {
          // Not committed: exactly as before, the files it had written are swept, the link still works.
          assert.ok(left.unregistered.includes(signedPath), `the signed PDF was written before the crash: ${left.unregistered.join(', ')}`);
          assert.ok(left.unregistered.includes(reportPath), 'the Signaturprotokoll was written before the crash');
          const mails = left.unregistered.filter((p) => p.startsWith('outbox/'));
          if (point === 'commit:before-commit') assert.ok(mails.length >= 2, `the completion mails were written before the crash: ${left.unregistered.join(', ')}`);
          else assert.deepEqual(mails, [], 'at files-written no mail is written yet');
          assert.deepEqual(stateOf(svc, t.envelopeId), before, 'the envelope is exactly as before');
          assert.equal((svc.store.db.prepare('SELECT COUNT(*) AS n FROM files').get() as { n: number }).n, rowsBefore);
          assert.deepEqual(filesOnDisk(dir), filesBefore, 'the managed folders are exactly as before');

          const outcome = await svc.signWithLink(t.link);
          assert.equal(outcome.completed, true);
          assert.equal(outcome.signedPath, signedPath);
          assertSigned(svc, t.envelopeId, t.signatory, before);
          await assertSignedFileVerifies(svc, t.envelopeId, true);
          assert.deepEqual(unregisteredFiles(dir), { unregistered: [], missing: [] });
        }
        for (const id of [t.envelopeId, other.envelopeId]) assertChainOk(svc, id);
        await assertArchiveClean(svc);
      } finally {
        svc.close();
      }
    });
  }
});

// ───────────────────────────── random kills ─────────────────────────────

describe('killed at a random moment', () => {
  const IN_COMMIT_ITERATIONS = 3;
  let prepared: Prepared;
  /** Counties with one signatory each: their signature completes the envelope (the largest commit). */
  let partners: string[];
  /** The envelope signed by an uninterrupted child (the timing run), and the envelopes the kills left signed. */
  const signedByChildren: number[] = [];
  let normalMs = 0;

  interface Tally {
    before: number;
    after: number;
    killed: number;
    finishedFirst: number;
    swept: number;
  }

  /**
   * Signs `partner`'s envelope in a child that the test kills, then opens the service again (the
   * sweep) and checks: exactly before or exactly after, every other envelope untouched, no orphan
   * outside lost+found/, chains intact, archive clean.
   */
  async function killAndCheck(partner: string, kill: { killAfterMs?: number; killOn?: { dir: string; jitterMs: number } }, tally: Tally, label: string): Promise<ChildResult> {
    const t = prepared.targets.get(partner)!;
    const everyone = [...prepared.targets.values()].map((x) => x.envelopeId);
    let before: Map<number, State>;
    {
      const svc = openService(prepared.dir);
      try {
        before = new Map(everyone.map((id) => [id, stateOf(svc, id)]));
      } finally {
        svc.close();
      }
    }
    const r = await signInChild(prepared.dir, t.link, kill);
    // A kill that races the child's own exit may find it already done: what counts is how it ended.
    const killed = r.signal === 'SIGKILL';
    if (killed) {
      tally.killed++;
      assert.ok(r.killedByTest, `${partner}: SIGKILLed, but not by the test (time limit?)`);
    } else {
      tally.finishedFirst++;
      assert.equal(r.code, 0, `${partner}: finished before the kill but failed: ${r.signal ?? r.code} ${r.stderr}`);
    }

    const left = unregisteredFiles(prepared.dir);
    assert.deepEqual(left.missing, [], `${partner}: registered files missing after the kill`);
    const svc = openService(prepared.dir);
    try {
      const sweep = svc.store.sweepReport!;
      assert.deepEqual([...sweep.quarantined.map((q) => q.path), ...sweep.removedTemporaries].sort(), left.unregistered, 'the sweep handled exactly the unregistered files');
      assert.deepEqual(sweep.missing, []);
      assert.deepEqual(unregisteredFiles(prepared.dir), { unregistered: [], missing: [] }, `${partner}: orphan files outside lost+found/`);
      if (left.unregistered.length) tally.swept++;

      const now = stateOf(svc, t.envelopeId);
      const was = before.get(t.envelopeId)!;
      const isBefore = now.envelope.rev === was.envelope.rev;
      if (isBefore) {
        tally.before++;
        assert.ok(killed, `${partner}: the child exited 0 but the signature is not there`);
        assert.deepEqual(now, was, `${partner}: not committed, so exactly as before`);
        assert.equal(signedEvents(svc, t.envelopeId, t.signatory.ref), 0);
      } else {
        tally.after++;
        assertSigned(svc, t.envelopeId, t.signatory, was);
        assert.equal(now.envelope.status, 'completed');
        // Committed: nothing of it may have been swept away.
        assert.deepEqual(left.unregistered, [], `${partner}: committed, yet files were left unregistered`);
        signedByChildren.push(t.envelopeId);
      }
      for (const id of everyone) {
        if (id !== t.envelopeId) assert.deepEqual(stateOf(svc, id), before.get(id), `envelope ${id} is untouched`);
        assertChainOk(svc, id);
      }
      await assertArchiveClean(svc);
      const swept = [...sweep.quarantined.map((q) => `${q.path} → lost+found`), ...sweep.removedTemporaries.map((p) => `${p} removed`)];
      console.log(`${label} → ${killed ? 'killed' : 'had finished'} after ${r.ms} ms, envelope ${isBefore ? 'BEFORE' : 'AFTER'}${swept.length ? `; swept: ${swept.map((x) => x.replace(/^.*\//, '')).join(', ')}` : ''}`);
      return r;
    } finally {
      svc.close();
    }
  }

  before(async () => {
    partners = allInputs.filter((r) => r.signatories.partner.length === 1).slice(0, 1 + RANDOM_ITERATIONS + IN_COMMIT_ITERATIONS).map((r) => r.partner.id);
    assert.equal(partners.length, 1 + RANDOM_ITERATIONS + IN_COMMIT_ITERATIONS);
    prepared = await prepare(partners);
    // How long a normal signature takes, start to exit; the kills are spread over that range.
    const timing = prepared.targets.get(partners[0]!)!;
    const r = await signInChild(prepared.dir, timing.link);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /the agreement is now completely signed/);
    normalMs = r.ms;
    signedByChildren.push(timing.envelopeId);
    console.log(`a normal \`zv envelope sign\` took ${normalMs} ms`);
  });

  test(`${RANDOM_ITERATIONS} signatures killed after a random delay end exactly before or exactly after`, async () => {
    const tally: Tally = { before: 0, after: 0, killed: 0, finishedFirst: 0, swept: 0 };
    for (let i = 0; i < RANDOM_ITERATIONS; i++) {
      // Stratified over [0, normalMs], denser towards the end where the signature is made and
      // committed (most of a run is start-up): iteration i lands in [1 - ((n-i)/n)², 1 - ((n-i-1)/n)²].
      const n = RANDOM_ITERATIONS;
      const x = (n - i - Math.random()) / n;
      const delay = Math.round((1 - x * x) * normalMs);
      const r = await killAndCheck(partners[1 + i]!, { killAfterMs: delay }, tally, `kill ${i + 1}/${n} at ${delay} ms`);
      // Run times vary with the machine's load: a run that beat its kill narrows the range for the rest.
      if (r.signal === null) normalMs = Math.min(normalMs, r.ms);
    }
    console.log(`random kills: ${tally.before} before, ${tally.after} after the signature (${tally.killed} killed, ${tally.finishedFirst} finished before the kill, ${tally.swept} left files for the sweep)`);
    assert.equal(tally.before + tally.after, RANDOM_ITERATIONS);
  });

  test(`${IN_COMMIT_ITERATIONS} signatures killed inside the commit (when its first file appears, plus random jitter) end exactly before or after`, async () => {
    const tally: Tally = { before: 0, after: 0, killed: 0, finishedFirst: 0, swept: 0 };
    for (let i = 0; i < IN_COMMIT_ITERATIONS; i++) {
      const partner = partners[1 + RANDOM_ITERATIONS + i]!;
      const svc = openService(prepared.dir);
      let dir: string;
      try {
        const a = svc.snapshot(prepared.targets.get(partner)!.envelopeId).agreement;
        // Holds the ministry's step (in envelope-<id>/); the completing signature writes the signed PDF and the report here.
        dir = absolutePath(prepared.dir, `signatures/${a.year}/${a.file_base}/v${a.version}`);
        assert.ok(existsSync(dir));
      } finally {
        svc.close();
      }
      // The commit takes some 15–40 ms from its first temporary file to COMMIT: spread over 0–45 ms.
      const jitterMs = Math.floor((i + Math.random()) * 15);
      await killAndCheck(partner, { killOn: { dir, jitterMs } }, tally, `in-commit kill ${i + 1}/${IN_COMMIT_ITERATIONS}, ${jitterMs} ms after the first file`);
    }
    console.log(`in-commit kills: ${tally.before} before, ${tally.after} after the signature (${tally.killed} killed, ${tally.finishedFirst} finished before the kill, ${tally.swept} left files for the sweep)`);
    assert.equal(tally.before + tally.after, IN_COMMIT_ITERATIONS);
  });

  test('nothing signed is ever lost: every signature a child completed is registered, intact and verifies', async () => {
    assert.ok(signedByChildren.length >= 1);
    const svc = openService(prepared.dir);
    try {
      assert.deepEqual(svc.store.sweepReport!.missing, []);
      for (const id of signedByChildren) {
        assert.equal(svc.snapshot(id).envelope.status, 'completed');
        await assertSignedFileVerifies(svc, id, true);
        assertChainOk(svc, id);
      }
    } finally {
      svc.close();
    }
  });
});
