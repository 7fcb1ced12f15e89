/**
 * The signing service end to end, through its API only (no mocks of our parts): a real data
 * directory per group, agreements generated from the examples, personal links taken from the
 * .eml files in outbox/ the way a signatory would get them, a mutable clock for expiry and
 * reminders.
 *
 * Groups: the full cycle of Landkreis Kassel (ministry + two partner signatories), neutral
 * refusals of bad links, decline, cancel, the ministry's batch signature of all 26 AQB
 * agreements, reminders, versions, and bad generator input.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EnvelopeError, LinkRefusedError, NEUTRAL_REFUSAL, NotYourTurnError, SigningService, type ServiceOptions, type Snapshot } from '../src/envelope/service.ts';
import { EVENT_LABELS, readEvents } from '../src/envelope/audit.ts';
import { readContactsFile } from '../src/envelope/contacts.ts';
import { parseEml, type NotificationKind } from '../src/envelope/notify.ts';
import { linkFor } from '../src/envelope/tokens.ts';
import { verifyAgreement } from '../src/sign/verify.ts';
import { AgreementError, generateIntoStore, readAgreementInputs, ValidationError, type AgreementRow } from '../src/store/agreements.ts';
import type { ResolvedAgreement } from '../src/compose/resolve.ts';
import { sha256Hex } from '../src/store/files.ts';
import { PASSPHRASE, pemToDer } from './helpers/signing.ts';
import { run } from './helpers/tools.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const AQB_BATCH = join(ROOT, 'examples', 'aqb-2023-hessen.json');
const CONTACTS = readContactsFile(join(ROOT, 'examples', 'aqb-2023-kontakte.json'));
const BASE_URL = 'https://zielwerk.test';
const DAY = 86_400_000;
const MINUTE = 60_000;
const ACTOR = 'Sachbearbeitung AQB (Test)';

const KASSEL = 'landkreis-kassel';
const WERRA = 'werra-meissner-kreis';
const FULDA = 'landkreis-fulda';
const KLOSE = { name: 'Kai Klose', email: 'kai.klose@hmsi.example' };
const SIEBERT = { name: 'Andreas Siebert', email: 'andreas.siebert@landkreis-kassel.example' };
const ENGLER = { name: 'Silke Engler', email: 'silke.engler@landkreis-kassel.example' };
const RATHGEBER = { name: 'Nicole Rathgeber', email: 'nicole.rathgeber@werra-meissner-kreis.example' };
const KRAUSE = { name: 'Markus Krause', email: 'markus.krause@landkreis-fulda.example' };
const CLERK = CONTACTS.clerk;

const KASSEL_DIR = 'signatures/2023/aqb-2023-landkreis-kassel/v1';
const KASSEL_FINAL = `${KASSEL_DIR}/aqb-2023-landkreis-kassel.pdf`;
const KASSEL_REPORT = `${KASSEL_DIR}/aqb-2023-landkreis-kassel-signaturprotokoll.pdf`;

// ───────────────────────────── set-up ─────────────────────────────

/** A clock the tests move by hand; it starts at the real time (the demo CA is valid from now on). */
class TestClock {
  readonly start = Date.now();
  t = this.start;
  readonly now = (): Date => new Date(this.t);
  /** Sets the clock to `ms` after the start. */
  at(ms: number): void {
    this.t = this.start + ms;
  }
}

/** The service of each data dir, so that `mails` can order the outbox files by their registration. */
const services = new Map<string, SigningService>();

interface Env {
  dir: string;
  svc: SigningService;
  clock: TestClock;
}

function setup(opts: Partial<ServiceOptions> = {}): Env {
  const dir = mkdtempSync(join(tmpdir(), 'zv-env-'));
  const clock = new TestClock();
  const svc = SigningService.open({ dataDir: dir, passphrase: PASSPHRASE, clock: clock.now, transport: null, baseUrl: BASE_URL, linkDays: 30, remindDays: 7, ...opts });
  services.set(dir, svc);
  return { dir, svc, clock };
}

function teardown(env: Env | undefined): void {
  if (!env) return;
  services.delete(env.dir);
  env.svc.close();
  rmSync(env.dir, { recursive: true, force: true });
}

let allInputs: Promise<ResolvedAgreement[]> | undefined;
/** The 26 resolved AQB 2023 agreements of the example batch (read once). */
const inputs = () => (allInputs ??= readAgreementInputs(AQB_BATCH));

/** Generates only the agreements of the given partners. */
async function generate(env: Env, partners: string[]): Promise<AgreementRow[]> {
  const chosen = (await inputs()).filter((r) => partners.includes(r.partner.id));
  assert.equal(chosen.length, partners.length, `example batch lacks one of ${partners.join(', ')}`);
  return generateIntoStore(env.svc.store, chosen, ACTOR);
}

async function openFor(env: Env, rows: AgreementRow[]): Promise<Snapshot[]> {
  return env.svc.openEnvelopes(
    rows.map((r) => r.id),
    CONTACTS,
    ACTOR,
  );
}

// ───────────────────────────── the signatory's view: outbox mails ─────────────────────────────

const SUBJECT_KINDS: [RegExp, NotificationKind][] = [
  [/^Zielvereinbarung zur Unterzeichnung: /, 'invite'],
  [/^Sie sind an der Reihe: /, 'turn'],
  [/^Erinnerung: /, 'reminder'],
  [/^Abgelehnt: /, 'declined'],
  [/^Zurückgezogen: /, 'cancelled'],
  [/^Vollständig unterzeichnet: /, 'completed'],
];

interface Mail {
  file: string;
  fileBase: string;
  kind: NotificationKind;
  email: string;
  subject: string;
  text: string;
  link: string | null;
}

/**
 * Every .eml in <dataDir>/outbox/**, parsed, oldest first. The kind comes from the file name
 * `<file_base>-<kind>-<name>-<rand>.eml` and must agree with the subject. Order: the order in
 * which the store registered the files (mtime can tie within a clock tick).
 */
function mails(dataDir: string, filter: { email?: string; kind?: NotificationKind; fileBase?: string } = {}): Mail[] {
  const outbox = join(dataDir, 'outbox');
  if (!existsSync(outbox)) return [];
  const svc = services.get(dataDir);
  assert.ok(svc, `no service for ${dataDir}`);
  const registered = new Map<string, number>();
  for (const r of svc.store.db.prepare("SELECT id, path FROM files WHERE kind = 'outbox-eml'").all() as { id: number; path: string }[]) registered.set(r.path, r.id);
  const out: (Mail & { order: number })[] = [];
  for (const rel of readdirSync(outbox, { recursive: true }).map(String)) {
    if (!rel.endsWith('.eml')) continue;
    const name = rel.split(/[\\/]/).pop()!;
    const m = /^(.+?)-(invite|turn|reminder|declined|cancelled|completed)-(.+)-([0-9a-f]{8})\.eml$/.exec(name);
    assert.ok(m, `outbox file with an unexpected name: ${rel}`);
    const storePath = `outbox/${rel.split(/[\\/]/).join('/')}`;
    const order = registered.get(storePath);
    assert.ok(order !== undefined, `${storePath} is in the outbox but not registered in the store`);
    const parsed = parseEml(readFileSync(join(outbox, rel)));
    const subjectKind = SUBJECT_KINDS.find(([re]) => re.test(parsed.subject))?.[1];
    assert.equal(subjectKind, m[2], `${rel}: the subject "${parsed.subject}" does not match the kind in the file name`);
    const email = /<([^<>]+)>\s*$/.exec(parsed.to)?.[1] ?? parsed.to;
    out.push({ file: storePath, fileBase: m[1]!, kind: m[2] as NotificationKind, email, subject: parsed.subject, text: parsed.text, link: parsed.link, order });
  }
  return out
    .filter((x) => (!filter.email || x.email === filter.email) && (!filter.kind || x.kind === filter.kind) && (!filter.fileBase || x.fileBase === filter.fileBase))
    .sort((a, b) => a.order - b.order);
}

/** The personal links sent to `email` (optionally of one kind), newest last. */
function linksFor(dataDir: string, email: string, kind?: NotificationKind): string[] {
  return mails(dataDir, { email, kind })
    .filter((m) => kind !== undefined || m.link !== null)
    .map((m) => {
      assert.ok(m.link, `${m.file} (${m.kind}) carries no personal link`);
      return m.link;
    });
}

function newestLink(dataDir: string, email: string, kind?: NotificationKind): string {
  const links = linksFor(dataDir, email, kind);
  assert.ok(links.length > 0, `no ${kind ?? 'link'} mail to ${email}`);
  return links[links.length - 1]!;
}

// ───────────────────────────── state and checks ─────────────────────────────

function listTree(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true })
    .map(String)
    .filter((rel) => !/^zielwerk\.db/.test(rel) && statSync(join(dir, rel)).isFile())
    .map((rel) => `${rel.split(/[\\/]/).join('/')} ${statSync(join(dir, rel)).size}`)
    .sort();
}

/** Everything a state change could touch: envelopes (rev, event count, head), signatories, tokens, agreements, files (DB and disk). */
function state(env: Env) {
  const db = env.svc.store.db;
  return {
    envelopes: env.svc.listEnvelopes().map((s) => ({ envelope: s.envelope, agreement: s.agreement.status, signatories: s.signatories })),
    agreements: db.prepare('SELECT id, version, status, pdf_file_id FROM agreements ORDER BY id').all(),
    tokens: db.prepare('SELECT * FROM link_tokens ORDER BY id').all(),
    events: db.prepare('SELECT COUNT(*) AS n, MAX(id) AS last FROM audit_events').get(),
    notifications: db.prepare('SELECT COUNT(*) AS n FROM notifications').get(),
    files: db.prepare('SELECT id, path, sha256 FROM files ORDER BY id').all(),
    disk: listTree(env.dir),
  };
}

/** The link is refused by every entry point with the one neutral message, and nothing changes. */
async function assertRefused(env: Env, link: string, what: string): Promise<void> {
  const before = state(env);
  const calls: [string, () => Promise<unknown>][] = [
    ['openLink', () => env.svc.openLink(link)],
    ['signWithLink', () => env.svc.signWithLink(link, { place: 'Kassel' })],
    ['declineWithLink', () => env.svc.declineWithLink(link, 'Wir lehnen ab.')],
  ];
  for (const [name, call] of calls) {
    await assert.rejects(call, (err: unknown) => {
      assert.ok(err instanceof LinkRefusedError, `${what} → ${name}: expected LinkRefusedError, got ${(err as Error)?.constructor?.name}: ${(err as Error)?.message}`);
      assert.equal(err.message, NEUTRAL_REFUSAL, `${what} → ${name}`);
      return true;
    });
  }
  assert.deepEqual(state(env), before, `${what}: a refused link changed the store`);
}

function fileRow(env: Env, path: string): { id: number; kind: string; sha256: string; size: number } | undefined {
  return env.svc.store.db.prepare('SELECT id, kind, sha256, size FROM files WHERE path = ?').get(path) as { id: number; kind: string; sha256: string; size: number } | undefined;
}

/** The file is registered with the kind given, and its recorded size and SHA-256 are those of the bytes on disk. */
function assertRegistered(env: Env, path: string, kind: string): { id: number; bytes: Buffer } {
  const row = fileRow(env, path);
  assert.ok(row, `${path} is not registered`);
  assert.equal(row.kind, kind, `${path}: kind`);
  const abs = join(env.dir, ...path.split('/'));
  assert.ok(existsSync(abs), `${path} is registered but missing on disk`);
  const bytes = readFileSync(abs);
  assert.equal(row.sha256, sha256Hex(bytes), `${path}: recorded SHA-256 differs from the file`);
  assert.equal(row.size, bytes.length, `${path}: recorded size differs from the file`);
  return { id: row.id, bytes };
}

/** pdftotext of a stored file, whitespace collapsed. */
function pdfText(env: Env, path: string): string {
  return run('pdftotext', ['-enc', 'UTF-8', join(env.dir, ...path.split('/')), '-']).replace(/\s+/g, ' ');
}

/** Open link tokens (neither used nor revoked) of an envelope's signatories. */
function openTokens(env: Env, envelopeId: number): number {
  return (
    env.svc.store.db
      .prepare('SELECT COUNT(*) AS n FROM link_tokens t JOIN signatories s ON s.id = t.signatory_id WHERE s.envelope_id = ? AND t.used_at IS NULL AND t.revoked_at IS NULL')
      .get(envelopeId) as { n: number }
  ).n;
}

const eventTypes = (env: Env, envelopeId: number) => readEvents(env.svc.store.db, envelopeId).map((e) => e.type);

const germanDate = (ms: number) => new Intl.DateTimeFormat('de-DE', { timeZone: 'Europe/Berlin', day: '2-digit', month: '2-digit', year: 'numeric' }).format(new Date(ms));

// ───────────────────────────── 1. the full cycle ─────────────────────────────

describe('full cycle: Landkreis Kassel (ministry, then two partner signatories)', () => {
  let env: Env;
  let agreement: AgreementRow;
  let envelopeId: number;

  before(async () => {
    env = setup();
    [agreement] = await generate(env, [KASSEL]);
  });
  after(() => teardown(env));

  test('opening the envelope invites both partner signatories; the second is told she is number 3 of 3 and must wait', async () => {
    assert.equal(agreement.status, 'draft');
    const [snap] = await openFor(env, [agreement]);
    envelopeId = snap!.envelope.id;
    assert.equal(snap!.envelope.status, 'open');
    assert.equal(snap!.agreement.status, 'in_signing');
    assert.deepEqual(
      snap!.signatories.map((s) => [s.position, s.party, s.name]),
      [
        [1, 'ministry', KLOSE.name],
        [2, 'partner', SIEBERT.name],
        [3, 'partner', ENGLER.name],
      ],
    );
    const invites = mails(env.dir, { kind: 'invite' });
    assert.deepEqual(invites.map((m) => m.email).sort(), [SIEBERT.email, ENGLER.email]);
    assert.equal(mails(env.dir, { email: KLOSE.email }).length, 0, 'the ministry signs in Zielwerk and gets no link');

    const [siebert] = mails(env.dir, { email: SIEBERT.email, kind: 'invite' });
    assert.match(siebert!.text, /Ihre Unterschrift ist die 2\. von 3\. Sie können unterzeichnen, sobald Kai Klose unterschrieben hat/);
    const [engler] = mails(env.dir, { email: ENGLER.email, kind: 'invite' });
    assert.match(engler!.text, /Ihre Unterschrift ist die 3\. von 3\. Sie können unterzeichnen, sobald Kai Klose und Andreas Siebert unterschrieben haben/);
    for (const m of [siebert!, engler!]) {
      assert.ok(m.link?.startsWith(`${BASE_URL}/sign/`), `${m.file}: link ${m.link}`);
      assert.match(m.text, new RegExp(`gilt bis zum ${germanDate(env.clock.t + 30 * DAY).replace(/\./g, '\\.')}`));
    }
    assert.notEqual(siebert!.link, engler!.link);
    assert.deepEqual(
      env.svc.awaitingMinistry({ name: KLOSE.name }).map((s) => s.envelope.id),
      [envelopeId],
    );
  });

  test('the ministry signs in Zielwerk; only partner 1 is told it is their turn', async () => {
    const [r] = await env.svc.signAsMinistry([envelopeId], { name: KLOSE.name, place: 'Wiesbaden' });
    assert.equal(r!.error, undefined);
    assert.equal(r!.outcome!.completed, false);
    assert.deepEqual(r!.outcome!.next, { name: SIEBERT.name, role: 'Landrat' });
    assert.equal(mails(env.dir, { email: SIEBERT.email, kind: 'turn' }).length, 1);
    assert.equal(mails(env.dir, { email: ENGLER.email, kind: 'turn' }).length, 0);
    const snap = env.svc.snapshot(envelopeId);
    assert.equal(snap.signatories[0]!.status, 'signed');
    assert.equal(snap.signatories[0]!.place, 'Wiesbaden');
    assert.equal(SigningService.current(snap)?.name, SIEBERT.name);
    assert.equal(env.svc.awaitingMinistry({ name: KLOSE.name }).length, 0);
  });

  test('partner 1 opens the document and signs through the personal link; partner 2 is next', async () => {
    const link = newestLink(env.dir, SIEBERT.email, 'turn');
    const opened = await env.svc.openLink(link);
    assert.equal(opened.signatory.name, SIEBERT.name);
    assert.equal(opened.canSign, true);
    assert.deepEqual(opened.waitingFor, []);
    assert.equal(sha256Hex(opened.pdf), fileRow(env, `${KASSEL_DIR}/envelope-${envelopeId}/1-ministry-1.pdf`)!.sha256, 'the holder sees the document with the ministry signature');
    const reloaded = env.svc.snapshot(envelopeId).envelope;
    await env.svc.openLink(link);
    const afterReload = env.svc.snapshot(envelopeId).envelope;
    assert.equal(afterReload.event_count, reloaded.event_count, 'reloading the same document logs nothing and writes nothing');
    assert.equal(afterReload.rev, reloaded.rev);
    // Partner 2 looks at the document now (invitation link) and again after partner 1 signed: two "opened" events.
    const englerInvite = newestLink(env.dir, ENGLER.email, 'invite');
    await env.svc.openLink(englerInvite);
    await env.svc.openLink(englerInvite);

    const outcome = await env.svc.signWithLink(link, { place: 'Kassel' });
    await env.svc.openLink(englerInvite);
    const englerOpened = readEvents(env.svc.store.db, envelopeId).filter((e) => e.type === 'opened' && e.actor.startsWith(ENGLER.name));
    assert.equal(englerOpened.length, 2, 'one "opened" per document state seen');
    assert.notEqual(englerOpened[0]!.docBefore, englerOpened[1]!.docBefore);
    assert.equal(outcome.envelopeId, envelopeId);
    assert.equal(outcome.signatory.name, SIEBERT.name);
    assert.deepEqual(outcome.next, { name: ENGLER.name, role: 'Erste Kreisbeigeordnete' });
    assert.equal(outcome.completed, false);
    const turn = mails(env.dir, { email: ENGLER.email, kind: 'turn' });
    assert.equal(turn.length, 1);
    assert.match(turn[0]!.text, /Sie können jetzt als Erste Kreisbeigeordnete für den Vertragspartner Landkreis Kassel unterzeichnen/);
  });

  test('partner 2 signs: the envelope is completed, the agreement signed, final PDF and report registered', async () => {
    const outcome = await env.svc.signWithLink(newestLink(env.dir, ENGLER.email, 'turn'), { place: 'Kassel' });
    assert.equal(outcome.completed, true);
    assert.equal(outcome.next, null);
    assert.equal(outcome.signedPath, KASSEL_FINAL);

    const snap = env.svc.snapshot(envelopeId);
    assert.equal(snap.envelope.status, 'completed');
    assert.ok(snap.envelope.closed_at);
    assert.equal(snap.agreement.status, 'signed');
    assert.deepEqual(
      snap.signatories.map((s) => s.status),
      ['signed', 'signed', 'signed'],
    );
    for (const s of snap.signatories) assert.match(s.certificate_sha256 ?? '', /^[0-9a-f]{64}$/, `${s.name}: certificate recorded`);

    const final = assertRegistered(env, KASSEL_FINAL, 'signed-pdf');
    const report = assertRegistered(env, KASSEL_REPORT, 'audit-report');
    assert.equal(snap.envelope.current_file_id, final.id);
    assert.equal(snap.envelope.report_file_id, report.id);
    assert.equal(outcome.sha256, sha256Hex(final.bytes));
    assert.equal(openTokens(env, envelopeId), 0, 'no usable link is left after completion');
  });

  test('the final PDF verifies: three valid signatures, nothing pending', async () => {
    const bytes = new Uint8Array(readFileSync(join(env.dir, KASSEL_FINAL)));
    const trust = [pemToDer(env.svc.keys.caCertificatePem())];
    const report = await verifyAgreement(bytes, { trust, requireComplete: true });
    assert.equal(report.verdict, 'valid', report.problems.join('; ') + report.signatures.flatMap((s) => s.problems).join('; '));
    assert.deepEqual(
      report.signatures.map((s) => [s.name, s.status]),
      [
        [KLOSE.name, 'valid'],
        [SIEBERT.name, 'valid'],
        [ENGLER.name, 'valid'],
      ],
    );
    assert.deepEqual(report.pending, []);
    // Control: the verdict depends on the trust anchor (without the data dir's CA it is not valid).
    const untrusted = await verifyAgreement(bytes, { trust: [], requireComplete: true, skipReproduction: true });
    assert.notEqual(untrusted.verdict, 'valid');
  });

  test('the Signaturprotokoll names the signatories and the events', () => {
    const text = pdfText(env, KASSEL_REPORT);
    assert.match(text, /Signaturprotokoll/);
    for (const name of [KLOSE.name, SIEBERT.name, ENGLER.name]) assert.ok(text.includes(name), `report lacks ${name}`);
    for (const type of ['created', 'sent', 'opened', 'signed', 'completed'] as const) assert.ok(text.includes(EVENT_LABELS[type]), `report lacks the event label "${EVENT_LABELS[type]}"`);
    assert.ok(!text.includes(EVENT_LABELS.declined), 'a completed envelope has no "declined" event');
  });

  test('the audit chain is intact and records the cycle in order', () => {
    const check = env.svc.checkChain(envelopeId);
    assert.ok(check.ok, check.problems.join('; '));
    const events = readEvents(env.svc.store.db, envelopeId);
    assert.equal(check.count, events.length);
    assert.deepEqual(
      events.map((e) => (e.type === 'sent' ? `sent:${e.details.kind}` : e.type)),
      ['created', 'sent:invite', 'sent:invite', 'signed', 'sent:turn', 'opened', 'opened', 'signed', 'sent:turn', 'opened', 'signed', 'completed', 'sent:completed', 'sent:completed', 'sent:completed', 'sent:completed'],
    );
    // The document hashes form a chain from the draft to the final file.
    const signed = events.filter((e) => e.type === 'signed');
    assert.equal(events[0]!.docAfter, fileRow(env, agreementPdfPath())!.sha256);
    assert.equal(signed[0]!.docBefore, events[0]!.docAfter);
    assert.equal(signed[1]!.docBefore, signed[0]!.docAfter);
    assert.equal(signed[2]!.docBefore, signed[1]!.docAfter);
    assert.equal(signed[2]!.docAfter, fileRow(env, KASSEL_FINAL)!.sha256);
    assert.deepEqual(
      signed.map((e) => [e.details.name, e.details.via]),
      [
        [KLOSE.name, 'ministry-batch'],
        [SIEBERT.name, 'link'],
        [ENGLER.name, 'link'],
      ],
    );
  });

  test("'completed' goes to every signatory with an address and to the clerk; all links are spent", async () => {
    const done = mails(env.dir, { kind: 'completed' });
    assert.deepEqual(done.map((m) => m.email).sort(), [CLERK.email, KLOSE.email, SIEBERT.email, ENGLER.email].sort());
    for (const m of done) {
      assert.equal(m.link, null, `${m.file} must not carry a link`);
      assert.ok(m.text.includes('aqb-2023-landkreis-kassel.pdf') && m.text.includes('aqb-2023-landkreis-kassel-signaturprotokoll.pdf'), `${m.file} lists the archived files`);
    }
    for (const email of [SIEBERT.email, ENGLER.email]) for (const link of linksFor(env.dir, email)) await assertRefused(env, link, `${email}'s link after completion`);
  });

  function agreementPdfPath(): string {
    return 'output/2023/aqb-2023-landkreis-kassel/v1/aqb-2023-landkreis-kassel.pdf';
  }
});

// ───────────────────────────── 2. refusals ─────────────────────────────

describe('refusals: every bad link gets the same neutral answer and changes nothing', () => {
  let env: Env;
  const ids: Record<string, number> = {};

  before(async () => {
    env = setup();
    const rows = await generate(env, [KASSEL, WERRA, FULDA]);
    for (const s of await openFor(env, rows)) ids[s.agreement.partner_id] = s.envelope.id;
  });
  after(() => teardown(env));

  test('the neutral message tells nothing about the cause', () => {
    assert.equal(NEUTRAL_REFUSAL, 'Dieser Link ist ungültig oder nicht mehr gültig.');
    assert.equal(new LinkRefusedError().message, NEUTRAL_REFUSAL);
  });

  test('an unknown, well-formed token', async () => {
    const token = randomBytes(32).toString('base64url');
    await assertRefused(env, linkFor(BASE_URL, token), 'unknown link');
    await assertRefused(env, token, 'unknown bare token');
  });

  test('malformed strings, including mangled real links', async () => {
    const real = newestLink(env.dir, SIEBERT.email, 'invite');
    const token = real.slice(real.lastIndexOf('/') + 1);
    const flipped = token[0] === 'A' ? `B${token.slice(1)}` : `A${token.slice(1)}`;
    for (const bad of ['', '   ', 'kein Link', `${BASE_URL}/sign/`, real.slice(0, -1), `${real}x`, `${real.slice(0, -1)}=`, `${real.slice(0, -1)}+`, linkFor(BASE_URL, flipped), `${BASE_URL}/sign/${token.slice(0, 20)}' OR '1'='1`, 'x'.repeat(5000)]) {
      await assertRefused(env, bad, `malformed ${JSON.stringify(bad.slice(0, 60))}`);
    }
    // Control: the real link itself is accepted (its holder may read, but not yet sign).
    const opened = await env.svc.openLink(real);
    assert.equal(opened.signatory.name, SIEBERT.name);
    assert.equal(opened.canSign, false);
    assert.deepEqual(
      opened.waitingFor.map((s) => s.name),
      [KLOSE.name],
    );
  });

  test('out of order: the link names who has to sign first, and changes nothing', async () => {
    const siebert = newestLink(env.dir, SIEBERT.email, 'invite');
    const engler = newestLink(env.dir, ENGLER.email, 'invite');
    let before = state(env);
    await assert.rejects(env.svc.signWithLink(siebert), (err: unknown) => err instanceof NotYourTurnError && /Kai Klose/.test(err.message));
    assert.deepEqual(state(env), before);

    const [r] = await env.svc.signAsMinistry([ids[KASSEL]!], { name: KLOSE.name });
    assert.equal(r!.error, undefined);

    before = state(env);
    await assert.rejects(env.svc.signWithLink(engler), (err: unknown) => {
      assert.ok(err instanceof NotYourTurnError, String(err));
      assert.ok(!(err instanceof LinkRefusedError));
      assert.match(err.message, /Andreas Siebert/);
      assert.doesNotMatch(err.message, /Kai Klose/, 'the ministry has signed already');
      return true;
    });
    assert.deepEqual(state(env), before);
  });

  test('the ministry batch reports an error for an envelope that is not waiting for the ministry and signs the others', async () => {
    const kasselBefore = env.svc.snapshot(ids[KASSEL]!);
    const kasselFiles = state(env).files.filter((f) => (f as { path: string }).path.includes('landkreis-kassel'));
    const results = await env.svc.signAsMinistry([ids[KASSEL]!, ids[WERRA]!], { name: KLOSE.name });
    assert.equal(results.length, 2);
    assert.equal(results[0]!.envelopeId, ids[KASSEL]);
    assert.equal(results[0]!.outcome, undefined);
    assert.match(results[0]!.error ?? '', /Andreas Siebert/);
    assert.equal(results[1]!.error, undefined);
    assert.equal(results[1]!.outcome?.signatory.name, KLOSE.name);
    assert.deepEqual(env.svc.snapshot(ids[KASSEL]!), kasselBefore, 'the refused envelope is unchanged (rev, event count, head)');
    assert.deepEqual(
      state(env).files.filter((f) => (f as { path: string }).path.includes('landkreis-kassel')),
      kasselFiles,
    );

    // Someone else than the ministry signatory of the plan: refused too.
    const fuldaBefore = env.svc.snapshot(ids[FULDA]!);
    const [other] = await env.svc.signAsMinistry([ids[FULDA]!], { name: 'Jemand Anderes' });
    assert.match(other!.error ?? '', /Kai Klose/);
    assert.deepEqual(env.svc.snapshot(ids[FULDA]!), fuldaBefore);
  });

  test("a token acts only on its own envelope; once used (or spent by the signature) it is refused", async () => {
    const werraBefore = env.svc.snapshot(ids[WERRA]!);
    const werraEvents = readEvents(env.svc.store.db, ids[WERRA]!);
    const invite = newestLink(env.dir, SIEBERT.email, 'invite');
    const link = newestLink(env.dir, SIEBERT.email, 'turn');
    const outcome = await env.svc.signWithLink(link, { place: 'Kassel' });
    assert.equal(outcome.envelopeId, ids[KASSEL]);
    assert.equal(outcome.signatory.name, SIEBERT.name);
    assert.deepEqual(env.svc.snapshot(ids[WERRA]!), werraBefore, 'envelope B is unchanged');
    assert.deepEqual(readEvents(env.svc.store.db, ids[WERRA]!), werraEvents);

    await assertRefused(env, link, 'used link');
    await assertRefused(env, invite, "the signatory's other (unused) link after the signature");
  });

  test('after resend, the old links are refused and the new one works', async () => {
    const old = linksFor(env.dir, ENGLER.email);
    assert.deepEqual(
      mails(env.dir, { email: ENGLER.email }).map((m) => m.kind),
      ['invite', 'turn'],
    );
    const snap = await env.svc.resend(ids[KASSEL]!, ACTOR);
    const last = readEvents(env.svc.store.db, snap.envelope.id).at(-1)!;
    assert.equal(last.type, 'sent');
    assert.equal(last.details.resent, true);
    assert.equal(last.actor, ACTOR);
    const fresh = linksFor(env.dir, ENGLER.email);
    assert.equal(fresh.length, old.length + 1);
    const newLink = fresh.at(-1)!;
    assert.ok(!old.includes(newLink));
    for (const l of old) await assertRefused(env, l, 'link revoked by resend');
    const opened = await env.svc.openLink(newLink);
    assert.equal(opened.signatory.name, ENGLER.name);
    assert.equal(opened.canSign, true);
  });

  test('a link of a cancelled envelope', async () => {
    const link = newestLink(env.dir, KRAUSE.email, 'invite');
    assert.equal((await env.svc.openLink(link)).signatory.name, KRAUSE.name, 'control: valid before the cancel');
    await env.svc.cancel(ids[FULDA]!, 'Test', ACTOR);
    await assertRefused(env, link, 'link of a cancelled envelope');
  });

  test('an expired link: valid until its 30th day ends, refused after', async () => {
    const link = newestLink(env.dir, RATHGEBER.email, 'turn'); // sent when the ministry signed at t = 0
    env.clock.at(30 * DAY - MINUTE);
    assert.equal((await env.svc.openLink(link)).signatory.name, RATHGEBER.name);
    env.clock.at(30 * DAY + MINUTE);
    await assertRefused(env, link, 'expired link');
    await assertRefused(env, newestLink(env.dir, ENGLER.email), 'expired link (resent)');
  });

  test('the audit chains stay intact through all of it', () => {
    for (const id of Object.values(ids)) {
      const c = env.svc.checkChain(id);
      assert.ok(c.ok, `envelope ${id}: ${c.problems.join('; ')}`);
    }
  });
});

// ───────────────────────────── 3. decline ─────────────────────────────

describe('decline', () => {
  let env: Env;
  let agreement: AgreementRow;
  let envelopeId: number;
  const REASON = 'Die Maßnahme „Aktiv in den Job“ ist noch nicht mit dem Jobcenter abgestimmt.';

  before(async () => {
    env = setup();
    [agreement] = await generate(env, [KASSEL]);
    [{ envelope: { id: envelopeId } }] = (await openFor(env, [agreement])) as [Snapshot];
    const [r] = await env.svc.signAsMinistry([envelopeId], { name: KLOSE.name });
    assert.equal(r!.error, undefined);
  });
  after(() => teardown(env));

  test('an empty reason is refused and changes nothing', async () => {
    const link = newestLink(env.dir, SIEBERT.email, 'turn');
    for (const reason of ['', '   \n\t ']) {
      const before = state(env);
      await assert.rejects(env.svc.declineWithLink(link, reason), (err: unknown) => err instanceof EnvelopeError && /reason/.test(err.message));
      assert.deepEqual(state(env), before);
    }
  });

  test('declining stops the envelope, revokes every open link and tells the clerk why', async () => {
    const link = newestLink(env.dir, SIEBERT.email, 'turn');
    const snap = await env.svc.declineWithLink(link, `  ${REASON}  `);
    assert.equal(snap.envelope.status, 'declined');
    assert.ok(snap.envelope.closed_at);
    assert.equal(snap.agreement.status, 'declined');
    assert.deepEqual(
      snap.signatories.map((s) => s.status),
      ['signed', 'declined', 'pending'],
    );
    assert.equal(snap.signatories[1]!.decline_reason, REASON);
    assert.equal(openTokens(env, envelopeId), 0);

    await assertRefused(env, newestLink(env.dir, ENGLER.email, 'invite'), "the other signatory's link after the decline");
    await assertRefused(env, link, 'the declining link itself');
    await assertRefused(env, newestLink(env.dir, SIEBERT.email, 'invite'), "the decliner's other link");

    const declined = mails(env.dir, { kind: 'declined' });
    assert.deepEqual(
      declined.map((m) => m.email),
      [CLERK.email],
    );
    assert.ok(declined[0]!.text.includes(`„${REASON}“`), declined[0]!.text);
    assert.match(declined[0]!.text, /Andreas Siebert \(Landrat\) hat die Unterzeichnung/);

    const path = `${KASSEL_DIR}/envelope-${envelopeId}/signaturprotokoll-declined.pdf`;
    const report = assertRegistered(env, path, 'audit-report');
    assert.equal(snap.envelope.report_file_id, report.id);
    const text = pdfText(env, path);
    assert.match(text, /Signaturprotokoll/);
    assert.ok(text.includes('Jobcenter'), 'the report carries the reason');
    assert.ok(text.includes(EVENT_LABELS.declined));

    assert.deepEqual(eventTypes(env, envelopeId).slice(-2), ['declined', 'sent']);
    assert.ok(env.svc.checkChain(envelopeId).ok);
    const [r] = await env.svc.signAsMinistry([envelopeId], { name: KLOSE.name });
    assert.match(r!.error ?? '', /abgelehnt/);
  });

  test('after a decline, a new envelope can be opened for the same agreement', async () => {
    const oldLink = newestLink(env.dir, ENGLER.email, 'invite');
    const [snap] = await openFor(env, [agreement]);
    assert.notEqual(snap!.envelope.id, envelopeId);
    assert.equal(snap!.envelope.status, 'open');
    assert.equal(snap!.agreement.status, 'in_signing');
    assert.equal(snap!.envelope.current_file_id, agreement.pdf_file_id, 'the new envelope starts from the unsigned draft');
    assert.ok(snap!.signatories.every((s) => s.status === 'pending'));
    assert.equal(mails(env.dir, { email: ENGLER.email, kind: 'invite' }).length, 2);
    const opened = await env.svc.openLink(newestLink(env.dir, ENGLER.email, 'invite'));
    assert.equal(opened.snapshot.envelope.id, snap!.envelope.id);
    await assertRefused(env, oldLink, 'a link of the declined envelope');
    assert.equal(env.svc.snapshot(envelopeId).envelope.status, 'declined');
  });
});

// ───────────────────────────── 4. cancel ─────────────────────────────

describe('cancel by the clerk', () => {
  let env: Env;
  let envelopeId: number;

  before(async () => {
    env = setup();
    const [row] = await generate(env, [KASSEL]);
    [{ envelope: { id: envelopeId } }] = (await openFor(env, [row!])) as [Snapshot];
  });
  after(() => teardown(env));

  test('cancelling revokes the open links and tells the partner signatories who had one', async () => {
    const links = [newestLink(env.dir, SIEBERT.email), newestLink(env.dir, ENGLER.email)];
    assert.equal(openTokens(env, envelopeId), 2);
    const snap = await env.svc.cancel(envelopeId, 'Der Betrag wird neu berechnet.', ACTOR);
    assert.equal(snap.envelope.status, 'cancelled');
    assert.ok(snap.envelope.closed_at);
    assert.equal(snap.agreement.status, 'cancelled');
    assert.equal(openTokens(env, envelopeId), 0);
    for (const l of links) await assertRefused(env, l, 'link of the cancelled envelope');

    // The minister is pending and has an address, but had no link: no mail. Nor the clerk, who cancelled.
    const cancelled = mails(env.dir, { kind: 'cancelled' });
    assert.deepEqual(cancelled.map((m) => m.email).sort(), [SIEBERT.email, ENGLER.email]);
    for (const m of cancelled) {
      assert.equal(m.link, null);
      assert.ok(m.text.includes('„Der Betrag wird neu berechnet.“'), m.text);
      assert.match(m.text, /Ihr persönlicher Link ist nicht mehr gültig/);
    }

    const path = `${KASSEL_DIR}/envelope-${envelopeId}/signaturprotokoll-cancelled.pdf`;
    const report = assertRegistered(env, path, 'audit-report');
    assert.equal(snap.envelope.report_file_id, report.id);
    assert.match(pdfText(env, path), /Signaturprotokoll/);

    const events = readEvents(env.svc.store.db, envelopeId);
    assert.deepEqual(
      events.map((e) => e.type),
      ['created', 'sent', 'sent', 'cancelled', 'sent', 'sent'],
    );
    assert.deepEqual(events[3]!.details, { reason: 'Der Betrag wird neu berechnet.' });
    assert.equal(events[3]!.actor, ACTOR);
    assert.ok(env.svc.checkChain(envelopeId).ok);
  });

  test('cancelling again (or resending) is refused and changes nothing', async () => {
    const before = state(env);
    await assert.rejects(env.svc.cancel(envelopeId, 'nochmal', ACTOR), (err: unknown) => err instanceof EnvelopeError && /storniert/.test(err.message));
    await assert.rejects(env.svc.resend(envelopeId, ACTOR), EnvelopeError);
    const [r] = await env.svc.signAsMinistry([envelopeId], { name: KLOSE.name });
    assert.match(r!.error ?? '', /storniert/);
    assert.deepEqual(state(env), before);
  });
});

// ───────────────────────────── 5. batch ─────────────────────────────

describe('the minister signs all 26 AQB agreements in one call', () => {
  let env: Env;
  let snaps: Snapshot[];

  before(async () => {
    env = setup();
    const rows = await generateIntoStore(env.svc.store, await inputs(), ACTOR);
    assert.equal(rows.length, 26);
    snaps = await openFor(env, rows);
  });
  after(() => teardown(env));

  test('26 envelopes wait for the minister', () => {
    assert.equal(snaps.length, 26);
    assert.equal(env.svc.awaitingMinistry({ year: 2023, type: 'aqb', name: KLOSE.name }).length, 26);
    assert.equal(mails(env.dir, { kind: 'invite' }).length, 27, 'one invitation per partner signatory (Kassel has two)');
  });

  test('one call: 26 signatures, one batch id, 26 intact chains, 26 turn mails', async () => {
    const ids = snaps.map((s) => s.envelope.id);
    const results = await env.svc.signAsMinistry(ids, { name: KLOSE.name });
    assert.deepEqual(
      results.map((r) => r.envelopeId),
      ids,
    );
    for (const r of results) {
      assert.equal(r.error, undefined, `envelope ${r.envelopeId}: ${r.error}`);
      assert.equal(r.outcome?.signatory.name, KLOSE.name);
    }

    const batches = new Set<unknown>();
    for (const id of ids) {
      const signed = readEvents(env.svc.store.db, id).filter((e) => e.type === 'signed');
      assert.equal(signed.length, 1, `envelope ${id}`);
      assert.equal(signed[0]!.details.batchSize, 26);
      assert.equal(signed[0]!.details.name, KLOSE.name);
      batches.add(signed[0]!.details.batch);
      const c = env.svc.checkChain(id);
      assert.ok(c.ok, `envelope ${id}: ${c.problems.join('; ')}`);
    }
    assert.equal(batches.size, 1);
    assert.match(String([...batches][0]), /^[0-9a-f]{16}$/);

    const turns = mails(env.dir, { kind: 'turn' });
    const firstPartners = snaps.map((s) => s.signatories.find((x) => x.party === 'partner')!.email);
    assert.deepEqual(turns.map((m) => m.email).sort(), [...firstPartners].sort());
    assert.equal(new Set(firstPartners).size, 26);
    assert.equal(env.svc.awaitingMinistry({ name: KLOSE.name }).length, 0);
  });

  test('a second call signs nothing twice', async () => {
    const before = state(env);
    const results = await env.svc.signAsMinistry(
      snaps.map((s) => s.envelope.id),
      { name: KLOSE.name },
    );
    assert.equal(results.filter((r) => r.outcome).length, 0);
    assert.equal(results.filter((r) => r.error).length, 26);
    assert.deepEqual(state(env), before);
  });
});

// ───────────────────────────── 6. reminders ─────────────────────────────

describe('reminders (7 days before a link expires)', () => {
  let env: Env;
  const ids: Record<string, number> = {};

  before(async () => {
    env = setup({ remindDays: 7 });
    const rows = await generate(env, [KASSEL, WERRA]);
    for (const s of await openFor(env, rows)) ids[s.agreement.partner_id] = s.envelope.id;
    const results = await env.svc.signAsMinistry(Object.values(ids), { name: KLOSE.name });
    assert.ok(results.every((r) => r.outcome));
  });
  after(() => teardown(env));

  test('none while the links have more than 7 days left', async () => {
    env.clock.at(22 * DAY);
    assert.deepEqual(await env.svc.sendReminders(), []);
    assert.equal(mails(env.dir, { kind: 'reminder' }).length, 0);
  });

  test('on day 24: one reminder per current partner signatory, none twice', async () => {
    env.clock.at(24 * DAY);
    const sent = await env.svc.sendReminders();
    assert.deepEqual(
      sent.map((s) => `${s.envelopeId} ${s.to}`).sort(),
      [`${ids[KASSEL]} ${SIEBERT.email}`, `${ids[WERRA]} ${RATHGEBER.email}`].sort(),
    );
    const reminders = mails(env.dir, { kind: 'reminder' });
    assert.deepEqual(reminders.map((m) => m.email).sort(), [SIEBERT.email, RATHGEBER.email].sort(), 'not to Silke Engler, whose turn has not come');
    const expiry = germanDate(env.clock.start + 30 * DAY);
    for (const m of reminders) assert.ok(m.text.includes(`Ihr persönlicher Link läuft am ${expiry} ab`), m.text);

    assert.deepEqual(await env.svc.sendReminders(), []);
    env.clock.at(25 * DAY);
    assert.deepEqual(await env.svc.sendReminders(), [], 'not again on the next day either');
    assert.equal(mails(env.dir, { kind: 'reminder' }).length, 2);
    const sentEvents = readEvents(env.svc.store.db, ids[KASSEL]!).filter((e) => e.type === 'sent' && e.details.kind === 'reminder');
    assert.equal(sentEvents.length, 1);
  });

  test("the reminder's link works", async () => {
    const link = newestLink(env.dir, SIEBERT.email, 'reminder');
    assert.notEqual(link, newestLink(env.dir, SIEBERT.email, 'turn'), 'the reminder carries a fresh link');
    const outcome = await env.svc.signWithLink(link, { place: 'Kassel' });
    assert.equal(outcome.signatory.name, SIEBERT.name);
    assert.equal(outcome.next?.name, ENGLER.name);
    assert.deepEqual(await env.svc.sendReminders(), [], "Silke Engler's turn link is new");
  });

  test('the reminder link expires with the original: valid until day 30, refused after', async () => {
    const reminder = newestLink(env.dir, RATHGEBER.email, 'reminder');
    const original = newestLink(env.dir, RATHGEBER.email, 'turn');
    env.clock.at(30 * DAY - MINUTE);
    assert.equal((await env.svc.openLink(reminder)).signatory.name, RATHGEBER.name);
    env.clock.at(30 * DAY + MINUTE);
    await assertRefused(env, reminder, 'reminder link after the original expiry');
    await assertRefused(env, original, 'original link after its expiry');
    assert.deepEqual(await env.svc.sendReminders(), [], 'no reminder for a link that has expired');
  });
});

// ───────────────────────────── 7. versions ─────────────────────────────

describe('versions', () => {
  let env: Env;
  let v1: AgreementRow;
  let envelopeId: number;

  before(async () => {
    env = setup();
    [v1] = await generate(env, [KASSEL]);
    [{ envelope: { id: envelopeId } }] = (await openFor(env, [v1!])) as [Snapshot];
  });
  after(() => teardown(env));

  test('generating again while the envelope is open is refused and writes nothing', async () => {
    const before = state(env);
    await assert.rejects(generate(env, [KASSEL]), (err: unknown) => err instanceof AgreementError && /version 1 is in signing/.test(err.message));
    assert.deepEqual(state(env), before);
  });

  test('after completion, generating again creates version 2; the signed version 1 stays byte-identical', async () => {
    await env.svc.signAsMinistry([envelopeId], { name: KLOSE.name });
    await env.svc.signWithLink(newestLink(env.dir, SIEBERT.email, 'turn'));
    const done = await env.svc.signWithLink(newestLink(env.dir, ENGLER.email, 'turn'));
    assert.equal(done.completed, true);

    const v1Files = (env.svc.store.db.prepare("SELECT path, sha256 FROM files WHERE path LIKE '%/v1/%' ORDER BY path").all() as { path: string; sha256: string }[]).map((f) => ({
      ...f,
      bytes: readFileSync(join(env.dir, ...f.path.split('/'))),
    }));
    assert.ok(v1Files.some((f) => f.path === KASSEL_FINAL) && v1Files.some((f) => f.path === KASSEL_REPORT));

    const [v2] = await generate(env, [KASSEL]);
    assert.equal(v2!.version, 2);
    assert.equal(v2!.status, 'draft');
    assert.notEqual(v2!.pdf_file_id, v1.pdf_file_id);
    assertRegistered(env, 'output/2023/aqb-2023-landkreis-kassel/v2/aqb-2023-landkreis-kassel.pdf', 'draft-pdf');

    const [v3] = await generate(env, [KASSEL]);
    assert.equal(v3!.version, 3);
    const statuses = env.svc.store.db.prepare('SELECT version, status FROM agreements ORDER BY version').all();
    assert.deepEqual(statuses, [
      { version: 1, status: 'signed' },
      { version: 2, status: 'superseded' },
      { version: 3, status: 'draft' },
    ]);

    for (const f of v1Files) {
      const now = readFileSync(join(env.dir, ...f.path.split('/')));
      assert.ok(now.equals(f.bytes), `${f.path} changed on disk`);
      assert.equal(fileRow(env, f.path)?.sha256, f.sha256, `${f.path}: registration changed`);
    }
    assert.equal(env.svc.snapshot(envelopeId).envelope.status, 'completed');
  });
});

// ───────────────────────────── 8. bad generator input ─────────────────────────────

describe('generation of bad input writes nothing', () => {
  let env: Env;
  let inDir: string;

  before(() => {
    env = setup();
    inDir = mkdtempSync(join(tmpdir(), 'zv-env-in-'));
  });
  after(() => {
    teardown(env);
    rmSync(inDir, { recursive: true, force: true });
  });

  /** What `zv generate` does: read the input, then store it. */
  async function generateFile(path: string): Promise<AgreementRow[]> {
    return generateIntoStore(env.svc.store, await readAgreementInputs(path), ACTOR);
  }

  const kasselInput = (amount: number) => {
    const batch = JSON.parse(readFileSync(AQB_BATCH, 'utf8'));
    const a = batch.agreements.find((x: { partner: string }) => x.partner === KASSEL);
    return { type: 'aqb', year: 2023, edition: batch.edition, steering: batch.steering, date: batch.date, ...a, amount, signatories: { ministry: batch.signatories.ministry, partner: a.signatories.partner } };
  };

  test('an agreement with amount -1 is refused naming the field; no agreement row, nothing under output/', async () => {
    const path = join(inDir, 'kassel-negative.json');
    writeFileSync(path, JSON.stringify(kasselInput(-1)));
    await assert.rejects(generateFile(path), (err: unknown) => {
      assert.ok(err instanceof ValidationError, String(err));
      assert.ok(
        err.problems.some((p) => p.path === 'amount'),
        JSON.stringify(err.problems),
      );
      assert.match(err.message, /amount/);
      return true;
    });
    assert.deepEqual(env.svc.store.db.prepare('SELECT COUNT(*) AS n FROM agreements').get(), { n: 0 });
    assert.deepEqual(env.svc.store.db.prepare('SELECT COUNT(*) AS n FROM files').get(), { n: 0 });
    assert.deepEqual(listTree(join(env.dir, 'output')), []);
  });

  test('a batch with one bad agreement stores none of them', async () => {
    const batch = JSON.parse(readFileSync(AQB_BATCH, 'utf8'));
    batch.agreements = batch.agreements.filter((a: { partner: string }) => [KASSEL, FULDA].includes(a.partner));
    batch.agreements[1].amount = -1;
    batch.complete = false;
    delete batch.total;
    const path = join(inDir, 'batch-negative.json');
    writeFileSync(path, JSON.stringify(batch));
    await assert.rejects(generateFile(path), (err: unknown) => {
      assert.match((err as Error).message, /agreements\[1\]\.amount/);
      return true;
    });
    assert.deepEqual(env.svc.store.db.prepare('SELECT COUNT(*) AS n FROM agreements').get(), { n: 0 });
    assert.deepEqual(listTree(join(env.dir, 'output')), []);
  });

  test('bad input for an agreement that has a draft leaves the draft as it is', async () => {
    const good = join(inDir, 'kassel.json');
    writeFileSync(good, JSON.stringify(kasselInput(846500)));
    const [v1] = await generateFile(good);
    assert.equal(v1!.version, 1);
    const before = state(env);
    const bad = join(inDir, 'kassel-negative.json');
    await assert.rejects(generateFile(bad), ValidationError);
    assert.deepEqual(state(env), before);
    assert.deepEqual(env.svc.store.db.prepare('SELECT version, status FROM agreements').all(), [{ version: 1, status: 'draft' }]);
  });
});
