/**
 * Concurrency across processes: the 26 AQB envelopes of 2023 in one data directory, every county's
 * signatory signing through `zv envelope sign` in their own process at the same moment, and one
 * personal link used by two processes at once.
 *
 * The set-up (generate, open, ministry batch signature, partner certificates) runs in-process; the
 * signatures run as child processes so that the SQLite write lock, the optimistic revision check
 * and the startup sweep are exercised between real processes. Links are taken from the outbox
 * mails the way a signatory would get them.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NEUTRAL_REFUSAL, SigningService, type SignatoryRow } from '../src/envelope/service.ts';
import { listManagedFiles } from '../src/store/sweep.ts';
import { readEvents } from '../src/envelope/audit.ts';
import { readContactsFile } from '../src/envelope/contacts.ts';
import { parseEml } from '../src/envelope/notify.ts';
import { checkArchive } from '../src/archive/check.ts';
import { generateIntoStore, readAgreementInputs } from '../src/store/agreements.ts';
import { absolutePath, sha256Hex } from '../src/store/files.ts';
import { Store } from '../src/store/store.ts';
import { PASSPHRASE, zv } from './helpers/signing.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const AQB_BATCH = join(ROOT, 'examples', 'aqb-2023-hessen.json');
const CONTACTS = readContactsFile(join(ROOT, 'examples', 'aqb-2023-kontakte.json'));
const ACTOR = 'Sachbearbeitung AQB (Test)';
const KASSEL = 'landkreis-kassel';

// ───────────────────────────── helpers ─────────────────────────────

/** `zv envelope sign - --data <dir>` with the link on standard input, as a signatory's own process. */
const signInChild = (dataDir: string, link: string) => zv(['envelope', 'sign', '-', '--data', dataDir], {}, 400_000, `${link}\n`);

/** Every file under the managed folders, temporaries (dot files) included, as store paths — the sweep's own listing. */
const filesOnDisk = listManagedFiles;

/** Files on disk against `files` rows, read without the startup sweep (which would tidy up orphans before we see them). */
function assertDiskMatchesRows(dataDir: string): number {
  const store = Store.open({ dataDir, skipSweep: true });
  try {
    const rows = (store.db.prepare('SELECT path FROM files ORDER BY path').all() as { path: string }[]).map((r) => r.path);
    const disk = filesOnDisk(dataDir);
    const registered = new Set(rows);
    const onDisk = new Set(disk);
    assert.deepEqual(disk.filter((p) => !registered.has(p)), [], 'files on disk that no row registers (orphans or temporaries)');
    assert.deepEqual(rows.filter((p) => !onDisk.has(p)), [], 'registered files missing on disk');
    assert.equal(disk.length, rows.length);
    assert.ok(!existsSync(join(dataDir, 'lost+found')), 'nothing may have been moved to lost+found/');
    return rows.length;
  } finally {
    store.close();
  }
}

function openService(dataDir: string): SigningService {
  return SigningService.open({ dataDir, passphrase: PASSPHRASE, transport: null, warn: () => {} });
}

/** The link in the newest mail with a link (invitation, turn notice, reminder) to this signatory, read from the .eml in outbox/. */
function newestLink(svc: SigningService, s: SignatoryRow): string {
  const row = svc.store.db
    .prepare(
      `SELECT f.path FROM notifications n JOIN files f ON f.id = n.eml_file_id
       WHERE n.signatory_id = ? AND n.kind IN ('invite','turn','reminder') ORDER BY n.id DESC LIMIT 1`,
    )
    .get(s.id) as { path: string } | undefined;
  assert.ok(row, `no mail with a link for ${s.name} in the outbox`);
  const mail = parseEml(readFileSync(absolutePath(svc.store.dataDir, row.path)));
  assert.ok(mail.to.includes(`<${s.email}>`), `the mail ${row.path} is addressed to ${mail.to}, not ${s.email}`);
  assert.ok(mail.link, `the mail ${row.path} carries no link`);
  return mail.link;
}

/** Signed events per signatory ref of one envelope. */
function signedEventsByRef(svc: SigningService, envelopeId: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (const e of readEvents(svc.store.db, envelopeId)) {
    if (e.type !== 'signed') continue;
    const ref = String(e.details.signatory);
    counts.set(ref, (counts.get(ref) ?? 0) + 1);
  }
  return counts;
}

/** Exactly one signed event per signed signatory, none for the others. */
function assertOneSignedEventPerSignature(svc: SigningService, envelopeId: number): void {
  const snap = svc.snapshot(envelopeId);
  const counts = signedEventsByRef(svc, envelopeId);
  for (const s of snap.signatories) {
    assert.equal(counts.get(s.ref) ?? 0, s.status === 'signed' ? 1 : 0, `envelope ${envelopeId} (${snap.agreement.partner_id}): signed events of ${s.name} (${s.ref}, ${s.status})`);
  }
  const refs = new Set(snap.signatories.map((s) => s.ref));
  assert.deepEqual([...counts.keys()].filter((r) => !refs.has(r)), [], 'signed events for unknown signatories');
}

async function assertArchiveClean(svc: SigningService): Promise<void> {
  const report = await checkArchive(svc);
  assert.deepEqual(report.problems, [], 'archive check problems');
  assert.deepEqual(report.warnings, [], 'archive check warnings');
  assert.ok(report.ok);
}

// ───────────────────────────── set-up ─────────────────────────────

interface Target {
  envelopeId: number;
  partnerId: string;
  signatory: SignatoryRow;
  link: string;
  certSha256: string;
  before: { rev: number; eventCount: number };
}

let dataDir = '';
const targets: Target[] = [];
let envelopeCount = 0;

before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'zv-concurrency-'));
  const svc = openService(dataDir);
  try {
    const agreements = await generateIntoStore(svc.store, await readAgreementInputs(AQB_BATCH), ACTOR);
    assert.equal(agreements.length, 26);
    const opened = await svc.openEnvelopes(agreements.map((a) => a.id), CONTACTS, ACTOR);
    envelopeCount = opened.length;
    assert.equal(envelopeCount, 26);

    // The minister batch-signs everything waiting for them (one batch per minister name, in practice one).
    const waiting = svc.awaitingMinistry();
    assert.equal(waiting.length, 26);
    const byName = new Map<string, number[]>();
    for (const s of waiting) {
      const name = SigningService.current(s)!.name;
      byName.set(name, [...(byName.get(name) ?? []), s.envelope.id]);
    }
    for (const [name, ids] of byName) {
      const results = await svc.signAsMinistry(ids, { name });
      assert.deepEqual(results.filter((r) => r.error), [], 'ministry batch signature');
    }

    // Each county's first signatory: certificate issued here (not 26 RSA key generations in parallel), link from the mail.
    for (const snap of svc.listEnvelopes({ status: 'open' })) {
      const cur = SigningService.current(snap)!;
      assert.equal(cur.party, 'partner');
      const identity = await svc.keys.identityFor({ name: cur.name, role: cur.role, organisation: cur.organisation }, { at: new Date() });
      targets.push({
        envelopeId: snap.envelope.id,
        partnerId: snap.agreement.partner_id,
        signatory: cur,
        link: newestLink(svc, cur),
        certSha256: sha256Hex(identity.certificate),
        before: { rev: snap.envelope.rev, eventCount: snap.envelope.event_count },
      });
      assert.equal(signedEventsByRef(svc, snap.envelope.id).get(cur.ref) ?? 0, 0);
    }
    assert.equal(targets.length, 26);
    assert.equal(new Set(targets.map((t) => t.link)).size, 26, 'every signatory has a link of their own');
  } finally {
    svc.close();
  }
});

after(() => {
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

// ───────────────────────────── tests ─────────────────────────────

describe('signing from many processes at once', () => {
  test('26 county signatories sign at the same moment, each in their own process', async () => {
    const started = performance.now();
    const results = await Promise.all(targets.map((t) => signInChild(dataDir, t.link)));
    const wall = performance.now() - started;
    const slowest = Math.max(...results.map((r) => r.ms));
    console.log(`26 parallel signatures (separate processes): ${(wall / 1000).toFixed(1)} s wall, slowest process ${(slowest / 1000).toFixed(1)} s`);

    results.forEach((r, i) => {
      const t = targets[i]!;
      assert.equal(r.signal, null, `${t.partnerId}: killed by ${r.signal}`);
      assert.equal(r.code, 0, `${t.partnerId}: exit ${r.code}\n${r.stderr}`);
      assert.match(r.stdout, new RegExp(`signed by ${t.signatory.name} `), `${t.partnerId}: ${r.stdout}`);
      assert.doesNotMatch(r.stderr, /refused|error|recovery/i, `${t.partnerId}: ${r.stderr}`);
    });

    // No orphans and no temporaries, before any sweep could hide them.
    assertDiskMatchesRows(dataDir);

    const svc = openService(dataDir);
    try {
      assert.deepEqual(svc.store.sweepReport, { removedTemporaries: [], quarantined: [], missing: [] });
      for (const t of targets) {
        const snap = svc.snapshot(t.envelopeId);
        const s = snap.signatories.find((x) => x.id === t.signatory.id)!;
        assert.equal(s.status, 'signed', `${t.partnerId}: ${s.name} is ${s.status}`);
        assert.equal(s.certificate_sha256, t.certSha256, `${t.partnerId}: signed with the certificate issued in the set-up`);
        assert.equal(signedEventsByRef(svc, t.envelopeId).get(t.signatory.ref), 1, `${t.partnerId}: exactly one new signed event for ${s.name}`);
        assertOneSignedEventPerSignature(svc, t.envelopeId);
        // One commit per envelope: the revision moved by exactly one.
        assert.equal(snap.envelope.rev, t.before.rev + 1, `${t.partnerId}: rev ${t.before.rev} → ${snap.envelope.rev}`);
        assert.ok(snap.envelope.event_count > t.before.eventCount);
        const chain = svc.checkChain(t.envelopeId);
        assert.ok(chain.ok, `${t.partnerId}: ${chain.problems.join('; ')}`);
        const used = svc.store.db.prepare('SELECT used_at, revoked_at FROM link_tokens WHERE signatory_id = ? AND used_at IS NOT NULL').all(s.id);
        assert.equal(used.length, 1, `${t.partnerId}: exactly one used token`);

        if (t.partnerId === KASSEL) {
          assert.equal(snap.envelope.status, 'open');
          const next = SigningService.current(snap)!;
          assert.equal(next.party, 'partner');
          assert.ok(next.position > s.position);
          const turn = svc.store.db.prepare("SELECT COUNT(*) AS n FROM notifications WHERE signatory_id = ? AND kind = 'turn'").get(next.id) as { n: number };
          assert.equal(turn.n, 1, 'the second Kassel signatory got exactly one turn notice');
        } else {
          assert.equal(snap.envelope.status, 'completed', `${t.partnerId}: ${snap.envelope.status}`);
          assert.ok(snap.envelope.report_file_id, `${t.partnerId}: Signaturprotokoll`);
          assert.equal(snap.agreement.status, 'signed');
        }
      }
      const statuses = svc.store.db.prepare('SELECT status, COUNT(*) AS n FROM envelopes GROUP BY status ORDER BY status').all();
      assert.deepEqual(statuses, [
        { status: 'completed', n: 25 },
        { status: 'open', n: 1 },
      ]);
      await assertArchiveClean(svc);
    } finally {
      svc.close();
    }
  });

  test('one link used by two processes at the same moment signs exactly once', async () => {
    const kassel = targets.find((t) => t.partnerId === KASSEL)!;
    let second: SignatoryRow;
    let link: string;
    let rev: number;
    {
      const svc = openService(dataDir);
      try {
        const snap = svc.snapshot(kassel.envelopeId);
        assert.equal(snap.envelope.status, 'open', 'the Kassel envelope waits for its second signatory (needs the previous test)');
        second = SigningService.current(snap)!;
        assert.equal(second.party, 'partner');
        assert.notEqual(second.id, kassel.signatory.id);
        link = newestLink(svc, second);
        rev = snap.envelope.rev;
      } finally {
        svc.close();
      }
    }

    const results = await Promise.all([signInChild(dataDir, link), signInChild(dataDir, link)]);
    const codes = results.map((r) => r.code).sort();
    assert.deepEqual(codes, [0, 1], `exit codes ${results.map((r) => `${r.code}/${r.signal}: ${r.stderr.trim()}`).join(' | ')}`);
    const winner = results.find((r) => r.code === 0)!;
    const loser = results.find((r) => r.code === 1)!;
    assert.match(winner.stdout, /the agreement is now completely signed/);
    assert.ok(loser.stderr.includes(`refused: ${NEUTRAL_REFUSAL}`), `the other process gets the neutral refusal, not: ${loser.stderr}`);
    assert.equal(loser.stdout, '');
    console.log(`same link twice: winner ${(winner.ms / 1000).toFixed(1)} s, refused ${(loser.ms / 1000).toFixed(1)} s`);

    assertDiskMatchesRows(dataDir);
    const svc = openService(dataDir);
    try {
      assert.deepEqual(svc.store.sweepReport, { removedTemporaries: [], quarantined: [], missing: [] });
      const snap = svc.snapshot(kassel.envelopeId);
      assert.equal(snap.envelope.status, 'completed');
      assert.equal(snap.envelope.rev, rev + 1, 'exactly one commit');
      assert.equal(snap.signatories.find((s) => s.id === second.id)!.status, 'signed');
      assert.equal(signedEventsByRef(svc, kassel.envelopeId).get(second.ref), 1, 'exactly one signed event for the second signatory');
      assertOneSignedEventPerSignature(svc, kassel.envelopeId);
      const chain = svc.checkChain(kassel.envelopeId);
      assert.ok(chain.ok, chain.problems.join('; '));
      const completedEvents = readEvents(svc.store.db, kassel.envelopeId).filter((e) => e.type === 'completed');
      assert.equal(completedEvents.length, 1);
      // The certificate in the signature row is the one in the signed event (one identity, even if both processes issued one).
      const signed = readEvents(svc.store.db, kassel.envelopeId).find((e) => e.type === 'signed' && e.details.signatory === second.ref)!;
      const row = snap.signatories.find((s) => s.id === second.id)!;
      assert.equal((signed.details.certificate as { sha256: string }).sha256, row.certificate_sha256);
      assert.deepEqual(svc.store.db.prepare('SELECT status, COUNT(*) AS n FROM envelopes GROUP BY status').all(), [{ status: 'completed', n: 26 }]);
      await assertArchiveClean(svc);
    } finally {
      svc.close();
    }
  });
});
