/**
 * `zv archive renew`: keeps every archived agreement provable. A document's newest time-stamp
 * proves everything before it only while that time-stamp's TSA certificate is valid and its
 * algorithms are suitable (src/sign/proof.ts). Before that ends, a renewal adds fresh validation
 * data for everything so far (the previous time-stamp included) and a new document time-stamp —
 * an incremental update, so the renewed file begins with every byte of the one before.
 *
 * Per file all-or-nothing: the renewed bytes replace the file atomically inside the transaction
 * that updates its `files` row and appends a 'renewed' event to the envelope's audit chain. A crash
 * between the rename and the commit leaves a file that begins with the registered bytes; the
 * startup sweep cuts it back (src/store/sweep.ts). Each run's renewals are time-stamped as one
 * 'renewal' anchor (src/envelope/anchors.ts), which `zv archive check` follows from the archived
 * file back to the anchored document.
 *
 * "Now" is always the service clock (faketime moves it); nothing is computed at import.
 */
import { X509Certificate, randomBytes } from 'node:crypto';
import { existsSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { PDF, PdfArray, PdfDict } from '@libpdf/core';
import type { PdfObject } from '@libpdf/core';
import { deref } from '../sign/agreement-pdf.ts';
import { parseCades, parseTimeStampToken } from '../sign/cms.ts';
import { addArchivalTimestamp, derElementLength, documentTimestamps, readDss } from '../sign/ltv.ts';
import { earliestEnd } from '../sign/algorithms.ts';
import { absolutePath, readStoredFile, sha256Hex, type StoredFile } from '../store/files.ts';
import { fsyncDirectory, writeDurably, writeFilesAtomically } from '../store/atomic.ts';
import { ConflictError, faultPoint } from '../store/store.ts';
import { chainEvents, insertEvents, readEvents, type EventDraft } from '../envelope/audit.ts';
import { insertAnchor, prepareAnchor, readAnchors, tokenCertificates, type RenewalAnchorSubject, type RenewalEntry } from '../envelope/anchors.ts';
import type { SigningService } from '../envelope/service.ts';

export const LAST_RUN_KEY = 'archive-renew-last-run';
const MAX_ATTEMPTS = 8;

export type RenewStatus = 'renewed' | 'due' | 'not-due' | 'failed';

export interface LastTimestamp {
  kind: 'document' | 'signature';
  /** The signature field (document time-stamp, or the signature whose time-stamp it is). */
  field: string;
  time: string;
  tsa: string | null;
  tsaCertificateSha256: string | null;
  /** End of the TSA certificate's validity, ISO. */
  tsaValidTo: string | null;
  /** Earliest end of validity among the certificates of the TSA's path above it, ISO. */
  chainValidTo: string | null;
  /** Earliest end of suitability of the path's keys and SHA-256 (null: none set). */
  suitableUntil: string | null;
}

export interface RenewItem {
  envelopeId: number;
  agreementId: number;
  agreement: string;
  path: string;
  status: RenewStatus;
  /** Why it is (not) due, or what failed. */
  reason: string;
  last: LastTimestamp | null;
  oldSha256: string;
  oldSize: number;
  newSha256?: string;
  newSize?: number;
  newTimestamp?: { field: string; time: string; tsa: string | null };
  warnings?: string[];
  error?: string;
  seconds: number;
}

export interface RenewReport {
  /** When the run started (service clock). */
  at: string;
  /** Renew when the proof ends before this. */
  before: string;
  dryRun: boolean;
  items: RenewItem[];
  renewed: number;
  /** Dry run: would be renewed. */
  due: number;
  notDue: number;
  failed: number;
  /** The run was stopped before every file was looked at (server shutting down). */
  stopped: boolean;
  seconds: number;
  /** The run's renewal anchor (also covering renewals an interrupted run left unanchored). */
  anchor: { id: number; genTime: string; renewals: number } | null;
  anchorError?: string;
}

export interface RenewOptions {
  /** Renew when a time-stamp's proof ends before this (default: now + 2 years, by the service clock). */
  before?: Date;
  dryRun?: boolean;
  actor?: string;
  /** Asked before each file; true stops the run (the server is closing). */
  shouldStop?: () => boolean;
  /** Called with each file's result as soon as it is known. */
  onItem?: (item: RenewItem) => void;
}

export class RenewError extends Error {}

const addYears = (d: Date, n: number) => {
  const r = new Date(d);
  r.setUTCFullYear(r.getUTCFullYear() + n);
  return r;
};
const day = (d: Date | string) => new Date(d).toISOString().slice(0, 10);
const cnOf = (c: X509Certificate) => c.subject.split('\n').find((l) => l.startsWith('CN='))?.slice(3) ?? c.subject.split('\n').join(', ');

/** The issuer path of `leaf` through `pool` (leaf first), by name and signature. */
export function pathOf(leaf: Uint8Array, pool: Uint8Array[]): Uint8Array[] {
  const certs = pool.map((der) => ({ der, x: new X509Certificate(der) }));
  const out = [leaf];
  let cur = new X509Certificate(leaf);
  for (let i = 0; i < 10 && cur.subject !== cur.issuer; i++) {
    const next = certs.find((c) => c.x.subject === cur.issuer && c.x.fingerprint256 !== cur.fingerprint256 && cur.verify(c.x.publicKey));
    if (!next) break;
    out.push(next.der);
    cur = next.x;
  }
  return out;
}

/** Signature time-stamps (RFC 3161 tokens in the CMS of each signature), in no particular order. */
function signatureTimestamps(pdf: PDF): { field: string; genTime: Date; tsaCertificate: Uint8Array | null; pool: Uint8Array[] }[] {
  const acroForm = deref(pdf, pdf.getCatalog().get('AcroForm'));
  const fields = acroForm instanceof PdfDict ? deref(pdf, acroForm.get('Fields')) : undefined;
  if (!(fields instanceof PdfArray)) return [];
  const out: ReturnType<typeof signatureTimestamps> = [];
  for (const r of fields.toArray()) {
    const field = deref(pdf, r as PdfObject);
    if (!(field instanceof PdfDict) || field.getName('FT')?.value !== 'Sig') continue;
    const v = deref(pdf, field.get('V'));
    if (!(v instanceof PdfDict) || v.getName('Type')?.value === 'DocTimeStamp' || v.getName('SubFilter')?.value === 'ETSI.RFC3161') continue;
    const contents = v.getString('Contents')?.bytes;
    if (!contents) continue;
    try {
      const cades = parseCades(contents.subarray(0, derElementLength(contents)));
      if (cades.timestamp) out.push({ field: field.getString('T')?.asString() ?? '(ohne Namen)', genTime: cades.timestamp.genTime, tsaCertificate: cades.timestamp.tsaCertificate, pool: cades.certificates });
    } catch {
      /* an unreadable signature has no time-stamp to go by; verification reports it */
    }
  }
  return out;
}

/** The newest time-stamp of a document: its newest document time-stamp, else its newest signature time-stamp. */
export function lastTimestamp(bytes: Uint8Array, pdf: PDF, extraPool: Uint8Array[] = []): { last: LastTimestamp | null; damaged: string[]; documentTimestamps: number } {
  const dts = documentTimestamps(bytes, pdf);
  const dss = readDss(pdf).certificates;
  let found: { kind: 'document' | 'signature'; field: string; genTime: Date; tsaCertificate: Uint8Array | null; pool: Uint8Array[] } | null = null;
  const newestDts = dts.at(-1);
  if (newestDts) {
    if (!newestDts.parsed || newestDts.problems.length) return { last: null, damaged: newestDts.problems.length ? newestDts.problems : [`document time-stamp ${newestDts.field} cannot be read`], documentTimestamps: dts.length };
    found = { kind: 'document', field: newestDts.field, genTime: newestDts.parsed.genTime, tsaCertificate: newestDts.parsed.tsaCertificate, pool: tokenCertificates(newestDts.token) };
  } else {
    const sig = signatureTimestamps(pdf).sort((a, b) => a.genTime.getTime() - b.genTime.getTime()).at(-1);
    if (sig) found = { kind: 'signature', ...sig };
  }
  if (!found) return { last: null, damaged: [], documentTimestamps: dts.length };
  const last: LastTimestamp = { kind: found.kind, field: found.field, time: found.genTime.toISOString(), tsa: null, tsaCertificateSha256: null, tsaValidTo: null, chainValidTo: null, suitableUntil: null };
  if (found.tsaCertificate) {
    const x = new X509Certificate(found.tsaCertificate);
    const path = pathOf(found.tsaCertificate, [...found.pool, ...dss, ...extraPool]);
    const above = path.slice(1).map((d) => new Date(new X509Certificate(d).validTo).getTime());
    const suitable = earliestEnd(path, 'SHA-256');
    Object.assign(last, {
      tsa: cnOf(x),
      tsaCertificateSha256: sha256Hex(found.tsaCertificate),
      tsaValidTo: new Date(x.validTo).toISOString(),
      chainValidTo: above.length ? new Date(Math.min(...above)).toISOString() : null,
      suitableUntil: suitable ? suitable.toISOString() : null,
    });
  }
  return { last, damaged: [], documentTimestamps: dts.length };
}

/** Whether a document whose newest time-stamp is `last` needs a renewal before `before`, and why. */
export function dueness(last: LastTimestamp | null, before: Date): { due: boolean; reason: string } {
  if (!last) return { due: true, reason: 'no time-stamp: nothing proves when the document existed' };
  const what = `the ${last.kind === 'document' ? 'document' : 'signature'} time-stamp of ${day(last.time)}${last.tsa ? ` (TSA ${last.tsa})` : ''}`;
  if (!last.tsaValidTo) return { due: true, reason: `${what} carries no TSA certificate` };
  const ends: string[] = [];
  if (new Date(last.tsaValidTo) < before) ends.push(`its TSA certificate ends ${day(last.tsaValidTo)}`);
  if (last.chainValidTo && new Date(last.chainValidTo) < before) ends.push(`a certificate above it ends ${day(last.chainValidTo)}`);
  if (last.suitableUntil && new Date(last.suitableUntil) < before) ends.push(`its algorithms are suitable only until ${day(last.suitableUntil)}`);
  if (ends.length) return { due: true, reason: `${what}: ${ends.join(', ')} — before ${day(before)}` };
  const until = [last.tsaValidTo, last.chainValidTo, last.suitableUntil].filter((x): x is string => !!x).sort()[0]!;
  return { due: false, reason: `${what} proves it until ${day(until)}, after ${day(before)}` };
}

interface Candidate {
  envelopeId: number;
  agreementId: number;
  agreement: string;
  file: StoredFile;
}

function candidates(svc: SigningService): Candidate[] {
  const rows = svc.store.db
    .prepare(
      `SELECT e.id AS envelopeId, e.agreement_id AS agreementId, a.file_base || ' v' || a.version AS agreement, f.*
       FROM envelopes e JOIN agreements a ON a.id = e.agreement_id JOIN files f ON f.id = e.current_file_id
       WHERE e.status = 'completed' AND f.kind = 'signed-pdf'
         AND NOT EXISTS (SELECT 1 FROM paper_signatures p WHERE p.agreement_id = e.agreement_id)
       ORDER BY e.id`,
    )
    .all() as (StoredFile & { envelopeId: number; agreementId: number; agreement: string })[];
  return rows.map(({ envelopeId, agreementId, agreement, ...file }) => ({ envelopeId, agreementId, agreement, file }));
}

/** The envelope's current document was made by a renewal (its trail's last document change is one). */
function renewedProduct(svc: SigningService, envelopeId: number, sha: string): boolean {
  const lastDoc = [...readEvents(svc.store.db, envelopeId)].reverse().find((e) => e.docAfter);
  return lastDoc?.type === 'renewed' && lastDoc.docAfter === sha;
}

/** The run before: when, and what it did (null: never). */
export function lastRenewRun(svc: SigningService): { at: string; renewed: number; notDue: number; failed: number; seconds: number } | null {
  const row = svc.store.db.prepare('SELECT value FROM settings WHERE key = ?').get(LAST_RUN_KEY) as { value: string } | undefined;
  if (!row) return null;
  try {
    return JSON.parse(row.value);
  } catch {
    return null;
  }
}

/**
 * Stores one renewal: the file replaced atomically, its row's SHA-256 and size, and a 'renewed'
 * event, in one transaction — if the envelope and its file are still as they were read.
 * Returns false when another process renewed (or otherwise changed) the file meanwhile.
 */
export async function storeRenewal(svc: SigningService, c: Candidate, old: Uint8Array, bytes: Uint8Array, event: Omit<EventDraft, 'type' | 'at' | 'docBefore' | 'docAfter'>): Promise<boolean> {
  const db = svc.store.db;
  const abs = absolutePath(svc.store.dataDir, c.file.path);
  const newSha = sha256Hex(bytes);
  for (let attempt = 1; ; attempt++) {
    const snap = svc.snapshot(c.envelopeId);
    if (snap.envelope.current_file_id !== c.file.id) return false;
    const events = chainEvents(c.envelopeId, { count: snap.envelope.event_count, hash: snap.envelope.head_hash }, [
      { ...event, type: 'renewed', at: svc.store.now(), docBefore: c.file.sha256, docAfter: newSha },
    ]);
    const temp = join(dirname(abs), `.${basename(abs)}.${randomBytes(6).toString('hex')}.tmp`);
    let renamed = false;
    try {
      const stored = svc.store.write(() => {
        const cur = db.prepare('SELECT rev, current_file_id FROM envelopes WHERE id = ?').get(c.envelopeId) as { rev: number; current_file_id: number };
        const row = db.prepare('SELECT sha256, size FROM files WHERE id = ?').get(c.file.id) as { sha256: string; size: number };
        if (row.sha256 !== c.file.sha256 || cur.current_file_id !== c.file.id) return false;
        if (cur.rev !== snap.envelope.rev) throw new ConflictError(`envelope ${c.envelopeId}`);
        writeDurably(temp, bytes);
        db.prepare('UPDATE files SET sha256 = ?, size = ? WHERE id = ? AND sha256 = ?').run(newSha, bytes.length, c.file.id, c.file.sha256);
        insertEvents(db, events);
        db.prepare('UPDATE envelopes SET rev = rev + 1 WHERE id = ?').run(c.envelopeId);
        faultPoint('renew:before-rename');
        // Last inside the transaction: until here a rollback leaves the old file untouched.
        renameSync(temp, abs);
        renamed = true;
        fsyncDirectory(dirname(abs));
        faultPoint('renew:after-rename');
        return true;
      });
      return stored;
    } catch (err) {
      rmSync(temp, { force: true });
      // Renamed, then the commit failed: the registered bytes go back.
      if (renamed) writeFilesAtomically([{ path: abs, bytes: old }]);
      if (!(err instanceof ConflictError) || attempt >= MAX_ATTEMPTS) throw err;
      await new Promise((r) => setTimeout(r, Math.random() * 20 * attempt));
    } finally {
      if (existsSync(temp)) rmSync(temp, { force: true });
    }
  }
}

/** Renewals recorded in audit trails that no renewal anchor covers yet (a run interrupted before its anchor). */
function unanchoredRenewals(svc: SigningService): RenewalEntry[] {
  const anchored = new Set<string>();
  for (const row of readAnchors(svc.store.db, 'renewal')) {
    try {
      for (const r of (JSON.parse(row.subject) as RenewalAnchorSubject).renewals ?? []) anchored.add(`${r.envelopeId}:${r.oldSha256}:${r.newSha256}`);
    } catch {
      /* archive check reports it */
    }
  }
  const rows = svc.store.db.prepare("SELECT envelope_id, at, doc_before, doc_after, details FROM audit_events WHERE type = 'renewed' ORDER BY id").all() as { envelope_id: number; at: string; doc_before: string; doc_after: string; details: string }[];
  const out: RenewalEntry[] = [];
  for (const r of rows) {
    if (anchored.has(`${r.envelope_id}:${r.doc_before}:${r.doc_after}`)) continue;
    let d: { path?: string; oldSize?: number; newSize?: number } = {};
    try {
      d = JSON.parse(r.details);
    } catch {
      /* ditto */
    }
    out.push({ envelopeId: r.envelope_id, path: d.path ?? '', oldSha256: r.doc_before, oldSize: d.oldSize ?? 0, newSha256: r.doc_after, newSize: d.newSize ?? 0, renewedAt: r.at, late: true });
  }
  return out;
}

export async function renewArchive(svc: SigningService, opts: RenewOptions = {}): Promise<RenewReport> {
  const t0 = performance.now();
  const now = svc.store.clock();
  const before = opts.before ?? addYears(now, 2);
  const actor = opts.actor ?? 'Zielwerk (Archiv)';
  const report: RenewReport = { at: now.toISOString(), before: before.toISOString(), dryRun: !!opts.dryRun, items: [], renewed: 0, due: 0, notDue: 0, failed: 0, stopped: false, seconds: 0, anchor: null };
  const trust = svc.verifyTrust();
  const trustPool = [...trust.trust, ...trust.qualifiedTrust];
  // Which certificate the TSA signs with now: asked once, only if a renewed file's newest time-stamp might already be by it.
  let probe: Promise<string | null> | null = null;
  const currentTsaCertificate = () =>
    (probe ??= svc.tsa.timestamp(sha256Bytes(`zielwerk archive renew ${now.toISOString()}`), 'SHA-256').then((token) => {
      const c = parseTimeStampToken(token).tsaCertificate;
      return c ? sha256Hex(c) : null;
    }));
  const renewals: RenewalEntry[] = [];

  for (const c of candidates(svc)) {
    if (opts.shouldStop?.()) {
      report.stopped = true;
      break;
    }
    const t = performance.now();
    const item: RenewItem = { envelopeId: c.envelopeId, agreementId: c.agreementId, agreement: c.agreement, path: c.file.path, status: 'failed', reason: '', last: null, oldSha256: c.file.sha256, oldSize: c.file.size, seconds: 0 };
    try {
      const old = readStoredFile(svc.store.dataDir, c.file);
      const found = lastTimestamp(old, await PDF.load(old), trustPool);
      if (found.damaged.length) throw new RenewError(`its newest document time-stamp is damaged (${found.damaged.join('; ')}); not renewed — run zv archive check`);
      item.last = found.last;
      const due = dueness(found.last, before);
      item.reason = due.reason;
      const sameTsa = due.due && found.last?.kind === 'document' && found.last.tsaCertificateSha256 && renewedProduct(svc, c.envelopeId, c.file.sha256);
      if (!due.due) item.status = 'not-due';
      else if (opts.dryRun) {
        item.status = 'due';
        if (sameTsa) item.reason += '; skipped if the TSA still signs with the certificate of its last renewal';
      } else if (sameTsa && (await currentTsaCertificate()) === found.last!.tsaCertificateSha256) {
        item.status = 'not-due';
        item.reason = `${due.reason}; but it was renewed with the TSA's current certificate already — a new time-stamp by the same certificate would not prove it longer (renewed again once the TSA has a newer certificate)`;
      } else {
        const sealed = await addArchivalTimestamp(old, { tsa: svc.tsa, revocation: svc.revocation });
        const bytes = sealed.bytes;
        if (bytes.length <= old.length || !Buffer.from(bytes.buffer, bytes.byteOffset, old.length).equals(Buffer.from(old.buffer, old.byteOffset, old.length))) {
          throw new RenewError('the renewal is not an incremental update of the archived file (it does not begin with its bytes)');
        }
        const after = documentTimestamps(bytes, await PDF.load(bytes));
        const stamp = after.at(-1);
        if (after.length !== found.documentTimestamps + 1 || !stamp?.parsed || stamp.problems.length) {
          throw new RenewError(`the new document time-stamp does not check out (${stamp?.problems.join('; ') || `${after.length} document time-stamps after the renewal, ${found.documentTimestamps} before`})`);
        }
        const tsaCert = stamp.parsed.tsaCertificate ? new X509Certificate(stamp.parsed.tsaCertificate) : null;
        item.newTimestamp = { field: stamp.field, time: stamp.parsed.genTime.toISOString(), tsa: tsaCert ? cnOf(tsaCert) : null };
        item.newSha256 = sha256Hex(bytes);
        item.newSize = bytes.length;
        if (sealed.warnings.length) item.warnings = sealed.warnings;
        const stored = await storeRenewal(svc, c, old, bytes, {
          actor,
          details: {
            path: c.file.path,
            oldSha256: c.file.sha256,
            oldSize: c.file.size,
            newSha256: item.newSha256,
            newSize: bytes.length,
            reason: due.reason,
            previous: found.last ? { kind: found.last.kind, time: found.last.time, tsa: found.last.tsa } : null,
            timestamp: { field: stamp.field, time: item.newTimestamp.time, tsa: item.newTimestamp.tsa, tsaCertificateSha256: stamp.parsed.tsaCertificate ? sha256Hex(stamp.parsed.tsaCertificate) : null, tsaValidTo: tsaCert ? new Date(tsaCert.validTo).toISOString() : null },
            ...(sealed.warnings.length ? { warnings: sealed.warnings } : {}),
          },
        });
        if (stored) {
          item.status = 'renewed';
          const event = readEvents(svc.store.db, c.envelopeId).at(-1)!;
          renewals.push({ envelopeId: c.envelopeId, path: c.file.path, oldSha256: c.file.sha256, oldSize: c.file.size, newSha256: item.newSha256, newSize: bytes.length, renewedAt: event.at });
        } else {
          item.status = 'not-due';
          item.reason = 'renewed or changed by another process meanwhile';
          delete item.newSha256;
          delete item.newSize;
          delete item.newTimestamp;
        }
      }
    } catch (err) {
      item.status = 'failed';
      item.error = (err as Error).message;
      item.reason ||= 'renewal failed';
    }
    item.seconds = (performance.now() - t) / 1000;
    report.items.push(item);
    opts.onItem?.(item);
  }
  for (const i of report.items) {
    if (i.status === 'renewed') report.renewed++;
    else if (i.status === 'due') report.due++;
    else if (i.status === 'not-due') report.notDue++;
    else report.failed++;
  }

  if (!opts.dryRun) {
    // This run's renewals, plus any an interrupted run left without an anchor, time-stamped as one list.
    const ours = new Set(renewals.map((r) => `${r.envelopeId}:${r.oldSha256}:${r.newSha256}`));
    const entries = [...unanchoredRenewals(svc).filter((r) => !ours.has(`${r.envelopeId}:${r.oldSha256}:${r.newSha256}`)), ...renewals];
    if (entries.length) {
      try {
        const draft = await prepareAnchor(svc.tsa, { kind: 'renewal', at: svc.store.now(), renewals: entries });
        const id = svc.store.write((_w, at) => insertAnchor(svc.store.db, draft, at));
        report.anchor = { id, genTime: draft.genTime, renewals: entries.length };
      } catch (err) {
        report.anchorError = `the renewals could not be anchored (${(err as Error).message}); the next run anchors them`;
      }
    }
  }
  report.seconds = (performance.now() - t0) / 1000;
  if (!opts.dryRun && !report.stopped) {
    const value = JSON.stringify({ at: report.at, renewed: report.renewed, notDue: report.notDue, failed: report.failed + (report.anchorError ? 1 : 0), seconds: Math.round(report.seconds * 10) / 10 });
    svc.store.write(() => svc.store.db.prepare('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(LAST_RUN_KEY, value));
  }
  return report;
}

function sha256Bytes(text: string): Uint8Array {
  return Buffer.from(sha256Hex(Buffer.from(text, 'utf8')), 'hex');
}

/** One line per file, for the CLI and the server's log. */
export function describeItem(i: RenewItem): string {
  const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;
  switch (i.status) {
    case 'renewed':
      return `renewed   ${i.path}: ${i.reason} → new document time-stamp ${i.newTimestamp!.time}${i.newTimestamp!.tsa ? ` (${i.newTimestamp!.tsa})` : ''}, +${kb(i.newSize! - i.oldSize)}, ${i.seconds.toFixed(1)} s`;
    case 'due':
      return `due       ${i.path}: ${i.reason}`;
    case 'not-due':
      return `not due   ${i.path}: ${i.reason}`;
    default:
      return `FAILED    ${i.path}: ${i.error}`;
  }
}

export function describeSummary(r: RenewReport): string {
  const parts = r.dryRun ? [`${r.due} due`, `${r.notDue} not due`, `${r.failed} failed`] : [`${r.renewed} renewed`, `${r.notDue} not due`, `${r.failed} failed`];
  const anchor = r.anchor ? `; renewals anchored (anchor #${r.anchor.id}, time-stamp ${r.anchor.genTime})` : r.anchorError ? `; ${r.anchorError}` : '';
  return `${r.dryRun ? 'dry run: ' : ''}${parts.join(', ')} of ${r.items.length} archived PDF(s) in ${r.seconds.toFixed(1)} s (renewal when the proof ends before ${day(r.before)})${r.stopped ? '; stopped early' : ''}${anchor}`;
}
