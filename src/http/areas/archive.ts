/**
 * The archive area: search the archive, one agreement's files, signatories, audit trail and chain
 * state, downloads by id (each re-hashed on the way out and recorded as a 'downloaded' event), the
 * year export as a ZIP, and the "Prüfen" page that verifies any uploaded PDF and tells whether it
 * is byte-identical to an archived document. Nothing uploaded for verification is stored.
 */
import { createReadStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Response } from 'express';
import { z } from 'zod';
import { html, page, csrfField, euro, dateTime, type Html } from '../html.ts';
import { route, IdParam, type AnyRoute } from '../routes.ts';
import { notFound, invalid } from '../problem.ts';
import type { AppContext } from '../context.ts';
import type { User } from '../accounts.ts';
import { search, retrieve, exportYear, ArchiveError, type ArchiveEntry, type RetrievedFile, type SearchFilter } from '../../archive/archive.ts';
import { LEVEL_LABELS, verifyAgreement, type VerifyReport, type SignatureReport, type Status } from '../../sign/verify.ts';
import { formatReport } from '../../sign/report.ts';
import { EVENT_LABELS, readEvents, type AuditEvent } from '../../envelope/audit.ts';
import { describeDetails, ENVELOPE_STATUS_LABELS, type EnvelopeRow, type SignatoryRow } from '../../envelope/service.ts';
import { STATUS_LABELS, type AgreementRow, type AgreementStatus } from '../../store/agreements.ts';
import { fileById, readStoredFile, sha256Hex, FileIntegrityError, type StoredFile, type FileKind } from '../../store/files.ts';
import { sendDownload } from '../download.ts';

// ───────────────────────────── shared bits ─────────────────────────────

const TYPE_LABELS: Record<'aqb' | 'sgb2', string> = { aqb: 'AQB', sgb2: 'SGB II' };
const PAPER_LABEL = 'auf Papier unterzeichnet';
const STATUSES = ['draft', 'in_signing', 'signed', 'declined', 'cancelled', 'superseded'] as const;

const VERDICT_LABELS: Record<Status, string> = { valid: 'gültig', invalid: 'ungültig', indeterminate: 'unbestimmt' };
const VERDICT_TEXT: Record<Status, string> = {
  valid: 'alle Signaturen sind unversehrt, vertrauenswürdig und das Dokument wurde danach nicht verändert',
  invalid: 'mindestens eine Prüfung ist fehlgeschlagen (siehe Befunde)',
  indeterminate: 'die Signaturen sind unversehrt, das Vertrauen in den Aussteller lässt sich aber nicht nachweisen',
};

const FILE_KIND_LABELS: Record<FileKind, string> = {
  'draft-pdf': 'Entwurf (PDF)',
  'draft-docx': 'Entwurf (DOCX)',
  'signed-step': 'Zwischenstand der Unterzeichnung (PDF)',
  'signed-pdf': 'unterzeichnetes PDF',
  'audit-report': 'Signaturprotokoll',
  'outbox-eml': 'Benachrichtigung (E-Mail)',
  'paper-scan': 'Scan der Papierunterschrift',
};

const optText = z
  .string()
  .trim()
  .max(200, { message: 'höchstens 200 Zeichen' })
  .optional()
  .transform((s) => s || undefined);
const optYear = z.preprocess(
  (v) => (v === '' || v === undefined ? undefined : v),
  z.coerce.number({ message: 'Jahr als Zahl, z. B. 2023' }).int({ message: 'Jahr als Zahl, z. B. 2023' }).min(2000, { message: 'Jahr ab 2000' }).max(2100, { message: 'Jahr bis 2100' }).optional(),
);
const optType = z.preprocess((v) => (v === '' || v === 'alle' ? undefined : v), z.enum(['aqb', 'sgb2'], { message: 'Art: aqb oder sgb2' }).optional());
const optStatus = z.preprocess((v) => (v === '' || v === 'alle' ? undefined : v), z.enum(STATUSES, { message: `Status: ${STATUSES.join(', ')}` }).optional());

const SearchQuery = z.object({
  year: optYear.describe('Jahr, z. B. 2023 (Seite: ohne Angabe das neueste Jahr)'),
  partner: optText.describe('Partner-Kennung oder Teil des Namens'),
  type: optType.describe('aqb oder sgb2'),
  status: optStatus.describe('Status der Vereinbarung'),
  signatory: optText.describe('Teil des Namens einer unterzeichnenden Person'),
  project: optText.describe('Teil eines Projektnamens'),
});
type SearchQuery = z.output<typeof SearchQuery>;

const ExportQuery = z.object({
  year: z.coerce.number({ message: 'Jahr als Zahl, z. B. 2023' }).int().min(2000).max(2100).describe('Jahr'),
  type: optType.describe('aqb oder sgb2 (ohne Angabe: alle Arten)'),
});

const actorOf = (user: User | null) => (user ? `${user.displayName} (${user.username})` : 'unbekannt');


function sendBytes(res: Response, name: string, type: string, bytes: Uint8Array, sha256: string): void {
  sendDownload(res, bytes, { name, type, sha256 });
}

function agreementRow(ctx: AppContext, id: number): AgreementRow {
  const a = ctx.svc.store.db.prepare('SELECT * FROM agreements WHERE id = ?').get(id) as AgreementRow | undefined;
  if (!a) throw notFound(`Die Vereinbarung #${id} gibt es nicht im Archiv.`);
  return a;
}

/** The envelope that speaks for an agreement: the completed one, else the newest (as the archive does). */
function envelopeOf(ctx: AppContext, agreementId: number): EnvelopeRow | undefined {
  return ctx.svc.store.db
    .prepare("SELECT * FROM envelopes WHERE agreement_id = ? ORDER BY (status = 'completed') DESC, id DESC LIMIT 1")
    .get(agreementId) as EnvelopeRow | undefined;
}

interface PaperScan {
  agreement_id: number;
  file_id: number;
  uploaded_by: string;
  uploaded_at: string;
  note: string;
  file: StoredFile;
}

/** The paper signature of an agreement (its scan), if it was signed on paper. */
function paperScanOf(ctx: AppContext, agreementId: number): PaperScan | undefined {
  const row = ctx.svc.store.db.prepare('SELECT agreement_id, file_id, uploaded_by, uploaded_at, note FROM paper_signatures WHERE agreement_id = ?').get(agreementId) as
    | Omit<PaperScan, 'file'>
    | undefined;
  return row && { ...row, file: fileById(ctx.svc.store.db, row.file_id) };
}

function paperIds(ctx: AppContext): Set<number> {
  return new Set((ctx.svc.store.db.prepare('SELECT agreement_id FROM paper_signatures').all() as { agreement_id: number }[]).map((r) => r.agreement_id));
}

function newestYear(ctx: AppContext): number | undefined {
  return (ctx.svc.store.db.prepare('SELECT MAX(year) AS y FROM agreements').get() as { y: number | null }).y ?? undefined;
}

function statusBadge(status: AgreementStatus, paper: boolean): Html {
  return paper && status === 'signed' ? html`<span class="badge signed paper">${PAPER_LABEL}</span>` : html`<span class="badge ${status}">${STATUS_LABELS[status]}</span>`;
}

const searchFilter = (q: SearchQuery): SearchFilter => ({ year: q.year, partner: q.partner, type: q.type, status: q.status, signatory: q.signatory, project: q.project });

// ───────────────────────────── retrieval with audit ─────────────────────────────

type Which = 'signed' | 'report' | 'input';

/** One of an agreement's archival files, re-hashed on the way out, and the download recorded. */
async function fetchFile(ctx: AppContext, agreementId: number, which: Which, user: User | null): Promise<RetrievedFile> {
  agreementRow(ctx, agreementId);
  const { envelope, files } = retrieve(ctx.svc, agreementId);
  let file: RetrievedFile | undefined;
  if (which === 'signed') {
    if (envelope?.status !== 'completed') throw notFound(`Die Vereinbarung #${agreementId} ist nicht elektronisch unterzeichnet; es gibt kein unterzeichnetes PDF.`);
    file = files[0];
  } else if (which === 'report') {
    file = files.find((f) => f.name.endsWith('-signaturprotokoll.pdf'));
    if (!file) throw notFound(`Zur Vereinbarung #${agreementId} gibt es (noch) kein Signaturprotokoll: es entsteht, wenn die Unterzeichnung abgeschlossen, abgelehnt oder storniert ist.`);
  } else {
    file = files[files.length - 1];
  }
  if (envelope) {
    await ctx.svc.record(envelope.id, { type: 'downloaded', actor: actorOf(user), details: { files: [{ name: file!.name, sha256: file!.sha256 }], via: 'web' } });
  }
  return file!;
}

async function fetchPaper(ctx: AppContext, agreementId: number, user: User | null): Promise<RetrievedFile> {
  const a = agreementRow(ctx, agreementId);
  const paper = paperScanOf(ctx, agreementId);
  if (!paper) throw notFound(`Die Vereinbarung #${agreementId} wurde nicht auf Papier unterzeichnet; es gibt keinen Scan.`);
  const bytes = readStoredFile(ctx.svc.store.dataDir, paper.file);
  const name = `${a.file_base}-papier.pdf`;
  const env = envelopeOf(ctx, agreementId);
  if (env) await ctx.svc.record(env.id, { type: 'downloaded', actor: actorOf(user), details: { files: [{ name, sha256: paper.file.sha256 }], via: 'web' } });
  return { name, bytes, sha256: sha256Hex(bytes) };
}

// ───────────────────────────── detail data ─────────────────────────────

interface DetailFile {
  key: 'signed' | 'report' | 'input' | 'paper' | 'draft' | 'draft-docx' | 'current';
  label: string;
  name: string;
  size: number;
  sha256: string;
  href: string | null;
  api: string | null;
}

function detailOf(ctx: AppContext, id: number) {
  const db = ctx.svc.store.db;
  const a = agreementRow(ctx, id);
  const env = envelopeOf(ctx, id);
  const envelopes = db.prepare('SELECT * FROM envelopes WHERE agreement_id = ? ORDER BY id').all(id) as EnvelopeRow[];
  const signatories = env ? (db.prepare('SELECT * FROM signatories WHERE envelope_id = ? ORDER BY position').all(env.id) as SignatoryRow[]) : [];
  const paper = paperScanOf(ctx, id);
  const files: DetailFile[] = [];
  const add = (key: DetailFile['key'], label: string, f: StoredFile, href: string | null, api: string | null, name?: string) =>
    files.push({ key, label, name: name ?? f.path.split('/').pop()!, size: f.size, sha256: f.sha256, href, api });
  if (env?.status === 'completed') add('signed', 'Unterzeichnetes PDF', fileById(db, env.current_file_id), `/archiv/${id}/signiert.pdf`, `/api/v1/archive/${id}/signed.pdf`);
  else if (env && env.current_file_id !== a.pdf_file_id) add('current', `Aktueller Stand (${ENVELOPE_STATUS_LABELS[env.status]})`, fileById(db, env.current_file_id), null, null);
  if (env?.report_file_id) add('report', 'Signaturprotokoll', fileById(db, env.report_file_id), `/archiv/${id}/protokoll.pdf`, `/api/v1/archive/${id}/report.pdf`, `${a.file_base}-signaturprotokoll.pdf`);
  if (paper) add('paper', 'Scan der Papierunterschrift', paper.file, `/archiv/${id}/papier.pdf`, null, `${a.file_base}-papier.pdf`);
  add('draft', 'Entwurf (PDF, ohne Unterschriften)', fileById(db, a.pdf_file_id), null, null);
  if (a.docx_file_id) add('draft-docx', 'Entwurf (DOCX)', fileById(db, a.docx_file_id), null, null);
  const input = new TextEncoder().encode(JSON.stringify(JSON.parse(a.input_json), null, 2) + '\n');
  files.push({ key: 'input', label: 'Eingabedaten (JSON)', name: `${a.file_base}.json`, size: input.length, sha256: sha256Hex(input), href: `/archiv/${id}/eingabe.json`, api: null });
  const events = env ? readEvents(db, env.id) : [];
  const chain = env ? ctx.svc.checkChain(env.id) : null;
  return { agreement: a, envelope: env, envelopes, signatories, paper, files, events, chain };
}

function detailJson(ctx: AppContext, id: number) {
  const d = detailOf(ctx, id);
  const a = d.agreement;
  return {
    agreementId: a.id,
    type: a.type,
    year: a.year,
    partnerId: a.partner_id,
    partner: a.partner_name,
    version: a.version,
    edition: a.edition,
    title: a.title,
    amount: a.amount_cents === null ? null : a.amount_cents / 100,
    status: a.status,
    statusLabel: d.paper && a.status === 'signed' ? PAPER_LABEL : STATUS_LABELS[a.status],
    paper: d.paper ? { uploadedBy: d.paper.uploaded_by, uploadedAt: d.paper.uploaded_at, note: d.paper.note, sha256: d.paper.file.sha256 } : null,
    envelope: d.envelope ? { id: d.envelope.id, status: d.envelope.status, createdAt: d.envelope.created_at, closedAt: d.envelope.closed_at } : null,
    files: d.files.map((f) => ({ kind: f.key, label: f.label, name: f.name, size: f.size, sha256: f.sha256, download: f.api })),
    signatories: d.signatories.map((s) => ({
      position: s.position,
      name: s.name,
      role: s.role,
      party: s.party,
      organisation: s.organisation,
      status: s.status,
      signedAt: s.signed_at,
      place: s.place,
      certificate: s.certificate_sha256 ? { subject: s.certificate_subject, issuer: s.certificate_issuer, serial: s.certificate_serial, sha256: s.certificate_sha256 } : null,
      declinedAt: s.declined_at,
      declineReason: s.decline_reason,
    })),
    events: d.events.map((e) => ({ seq: e.seq, at: e.at, type: e.type, label: EVENT_LABELS[e.type], actor: e.actor, description: describeDetails(e), docBefore: e.docBefore, docAfter: e.docAfter, hash: e.hash })),
    chain: d.chain,
  };
}

// ───────────────────────────── verification ─────────────────────────────

interface ArchiveMatch {
  agreementId: number;
  partner: string;
  type: 'aqb' | 'sgb2';
  year: number;
  version: number;
  kind: FileKind;
  kindLabel: string;
  fileName: string;
}

/** Which archived documents have exactly these bytes (by SHA-256 of the files table). */
function archivedMatches(ctx: AppContext, sha256: string): ArchiveMatch[] {
  const db = ctx.svc.store.db;
  const files = db.prepare("SELECT * FROM files WHERE sha256 = ? AND kind <> 'outbox-eml'").all(sha256) as StoredFile[];
  const out: ArchiveMatch[] = [];
  for (const f of files) {
    let agreementId: number | undefined;
    const q = (sql: string, ...args: unknown[]) => (db.prepare(sql).get(...args) as { id: number } | undefined)?.id;
    if (f.kind === 'draft-pdf' || f.kind === 'draft-docx') agreementId = q('SELECT id FROM agreements WHERE pdf_file_id = ? OR docx_file_id = ?', f.id, f.id);
    else if (f.kind === 'paper-scan') agreementId = q('SELECT agreement_id AS id FROM paper_signatures WHERE file_id = ?', f.id);
    else if (f.kind === 'audit-report') agreementId = q('SELECT agreement_id AS id FROM envelopes WHERE report_file_id = ?', f.id);
    else {
      agreementId =
        q('SELECT agreement_id AS id FROM envelopes WHERE current_file_id = ?', f.id) ??
        q('SELECT e.agreement_id AS id FROM audit_events v JOIN envelopes e ON e.id = v.envelope_id WHERE v.doc_after = ? LIMIT 1', f.sha256);
    }
    if (!agreementId) continue;
    const a = db.prepare('SELECT * FROM agreements WHERE id = ?').get(agreementId) as AgreementRow;
    out.push({ agreementId, partner: a.partner_name, type: a.type, year: a.year, version: a.version, kind: f.kind, kindLabel: FILE_KIND_LABELS[f.kind], fileName: f.path.split('/').pop()! });
  }
  return out;
}

/** A document Zielwerk did not make: the reader found no signatory plan in it. */
const notZielwerk = (r: VerifyReport) => r.signatures.length === 0 && r.pending.length === 0;

async function verifyUpload(ctx: AppContext, bytes: Uint8Array) {
  const sha256 = sha256Hex(bytes);
  let report: VerifyReport;
  try {
    report = await verifyAgreement(bytes, { ...ctx.svc.verifyTrust(), requireComplete: false });
  } catch (err) {
    // A PDF the reader chokes on is a finding about the file, not a server error.
    ctx.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'verification failed');
    const detail = `Die Datei ließ sich nicht als PDF lesen: ${err instanceof Error ? err.message : String(err)}`;
    report = { title: '', sha256, signatures: [], pending: [], reproduction: { status: 'unavailable', detail }, problems: [detail], verdict: 'invalid', writtenForm: false, writtenFormReasons: [detail], documentTimestamps: [], verifiedAt: new Date().toISOString() };
  }
  return { report, archived: archivedMatches(ctx, sha256), zielwerkDocument: !notZielwerk(report) };
}

const yesNo = (v: boolean | null) => (v === null ? '–' : v ? 'ja' : 'nein');
const CHAIN_LABELS: Record<SignatureReport['checks']['chain'], string> = { trusted: 'ja', untrusted: 'nein (kein vertrauenswürdiger Aussteller)', broken: 'nein (Kette ungültig)' };
const LEVEL_BADGES: Record<SignatureReport['level'], string> = { qualified: 'signed', advanced: 'in_signing', simple: 'draft' };
const PROOF_SOURCES: Record<SignatureReport['timeOfProof']['source'], string> = {
  timestamp: 'nachgewiesen durch Signaturzeitstempel (RFC 3161)',
  'document-timestamp': 'nachgewiesen durch Dokumentzeitstempel',
  verification: 'kein Zeitnachweis: Zeitpunkt der Prüfung',
};
const REVOCATION_LABELS: Record<string, string> = { good: 'nicht gesperrt', unknown: 'Sperrstatus unbekannt', 'not-checkable': 'Sperrstatus nicht prüfbar' };

function timestampRows(r: VerifyReport): Html {
  return html`<h3>Dokumentzeitstempel (Archivzeitstempel)</h3>
<table>
  <caption class="visually-hidden">Dokumentzeitstempel</caption>
  <thead><tr><th scope="col">Feld</th><th scope="col">Zeit</th><th scope="col">Zeitstempeldienst</th><th scope="col">nachgewiesen</th><th scope="col">Ergebnis</th></tr></thead>
  <tbody>${r.documentTimestamps.map(
    (d) => html`<tr><td class="mono">${d.field}</td><td>${d.time ? dateTime(d.time) : '?'}</td><td>${d.tsa ?? '?'}</td><td>${dateTime(d.proofAt)}</td><td><span class="badge ${d.status === 'valid' ? 'signed' : d.status === 'invalid' ? 'declined' : 'in_signing'}">${VERDICT_LABELS[d.status]}</span>${d.problems.map((p) => html`<br><span class="hint">${p}</span>`)}</td></tr>`,
  )}</tbody>
</table>`;
}

function signatureRows(r: VerifyReport): Html {
  return html`<table>
  <caption class="visually-hidden">Signaturen</caption>
  <thead><tr><th scope="col">Nr.</th><th scope="col">Unterzeichner</th><th scope="col">Signaturniveau</th><th scope="col">Maßgeblicher Zeitpunkt, Sperrstatus</th><th scope="col">Unversehrt</th><th scope="col">Zertifikat vertrauenswürdig</th><th scope="col">Umfasst ganzes Dokument</th><th scope="col">Spätere Änderungen</th><th scope="col">Ergebnis</th></tr></thead>
  <tbody>${r.signatures.map(
    (s, i) => html`<tr>
    <td>${i + 1}</td>
    <td>${s.name}${s.role ? html`<br><span class="hint">${s.role}</span>` : ''}${s.signer ? html`<br><span class="hint">laut Zertifikat: ${s.signer.name ?? '?'}${s.signer.organisation ? ` (${s.signer.organisation})` : ''}</span>${s.signer.matchesPlanned ? '' : html`<br><strong class="over">nicht die vorgesehene Person</strong>`}` : ''}</td>
    <td><span class="badge ${LEVEL_BADGES[s.level]}">${LEVEL_LABELS[s.level]}</span><br><span class="hint">${s.levelReason}</span></td>
    <td>${dateTime(s.timeOfProof.at)}<br><span class="hint">${PROOF_SOURCES[s.timeOfProof.source]}; PAdES ${s.pades}</span>${s.revocation.map((x) => html`<br><span class="hint">${x.status === 'revoked' ? html`<strong class="over">gesperrt${x.revokedAt ? ` am ${dateTime(x.revokedAt)}` : ''}</strong>` : REVOCATION_LABELS[x.status]}${x.source ? ` (${x.source.toUpperCase()})` : ''}</span>`)}</td>
    <td>${yesNo(s.checks.integrity && s.checks.signature)}</td>
    <td>${CHAIN_LABELS[s.checks.chain]}</td>
    <td>${yesNo(s.checks.coversWholeDocument)}</td>
    <td>${s.changesAfter.length === 0 ? 'keine' : s.checks.unchangedSince ? `${s.allowedChangesAfter} erlaubte (weitere Signaturen)` : html`<strong class="over">unzulässige Änderungen</strong>`}</td>
    <td><span class="badge ${s.status === 'valid' ? 'signed' : s.status === 'invalid' ? 'declined' : 'in_signing'}">${VERDICT_LABELS[s.status]}</span><br><span class="hint mono">${s.indication}${s.subIndication ? ` / ${s.subIndication}` : ''}</span></td>
  </tr>`,
  )}</tbody>
</table>`;
}

function reportView(r: VerifyReport, archived: ArchiveMatch[], opts: { showLinks: boolean; fileName?: string }): Html {
  const zw = !notZielwerk(r);
  return html`<section aria-labelledby="verdict-h">
  <h2 id="verdict-h">Ergebnis${opts.fileName ? html` für „${opts.fileName}“` : ''}</h2>
  ${
    zw
      ? html`<p class="notice ${r.verdict === 'valid' ? 'ok' : r.verdict === 'invalid' ? 'error' : 'info'}" role="status"><strong>Ergebnis: ${VERDICT_LABELS[r.verdict]}</strong> – ${VERDICT_TEXT[r.verdict]}</p>`
      : html`<p class="notice error" role="alert"><strong>Kein Zielwerk-Dokument:</strong> Diese Datei enthält keine von Zielwerk erzeugte Vereinbarung (keine Signaturfelder nach Zielwerk-Plan), daher lassen sich keine Signaturen prüfen. Ergebnis: ${VERDICT_LABELS[r.verdict]}.</p>`
  }
  ${zw ? html`<p class="notice ${r.writtenForm ? 'ok' : 'info'}" role="status"><strong>${r.writtenForm ? 'Schriftform elektronisch gewahrt (§ 3a Abs. 2 VwVfG)' : 'Schriftform nicht gewahrt — qualifizierte Signatur oder Papierausfertigung erforderlich'}</strong>${r.writtenForm ? '' : html`: ${r.writtenFormReasons.join('; ')}`}.</p>` : ''}
  <p>${
    archived.length
      ? html`Die Datei ist <strong>byte-identisch mit einem Dokument im Archiv</strong>: ${archived.map(
          (m, i) =>
            html`${i ? '; ' : ''}${m.kindLabel} der Vereinbarung ${opts.showLinks ? html`<a href="/archiv/${m.agreementId}">#${m.agreementId}</a>` : html`#${m.agreementId}`} (${m.partner}, ${TYPE_LABELS[m.type]} ${m.year}, Version ${m.version}, Datei ${m.fileName})`,
        )}.`
      : 'Die Datei stimmt mit keinem Dokument im Archiv byteweise überein (das allein sagt nichts über die Gültigkeit der Signaturen).'
  }</p>
  <dl>
    <dt>SHA-256 der Datei</dt><dd class="mono">${r.sha256}</dd>
    ${r.title ? html`<dt>Titel</dt><dd>${r.title}</dd>` : ''}
    ${zw ? html`<dt>Signaturen</dt><dd>${r.signatures.length}${r.pending.length ? html` – noch nicht unterzeichnet: ${r.pending.map((p) => `${p.name} (${p.role})`).join('; ')}` : ''}</dd>
    <dt>Inhalt entspricht den eingebetteten Daten <span class="hint">(informativ, keine Bedingung der Gültigkeit)</span></dt><dd>${r.reproduction.status === 'match' ? 'ja' : r.reproduction.status === 'mismatch' ? html`<strong class="over">nein</strong>` : 'nicht prüfbar'} – ${r.reproduction.summary ?? r.reproduction.detail}</dd>` : ''}
  </dl>
  ${r.signatures.length ? signatureRows(r) : ''}
  ${r.documentTimestamps.length ? timestampRows(r) : ''}
  ${r.problems.length || r.signatures.some((s) => s.problems.length) ? html`<h3>Befunde</h3><ul class="problems">${[...r.problems, ...r.signatures.flatMap((s) => s.problems.map((p) => `${s.name}: ${p}`))].map((p) => html`<li>${p}</li>`)}</ul>` : ''}
  <details><summary>Vollständiger Prüfbericht</summary><pre class="report">${formatReport(r, 'de')}</pre></details>
</section>`;
}

function verifyForm(csrf: string, error?: string): Html {
  return html`<form method="post" action="/pruefen" enctype="multipart/form-data" class="narrow">
  ${csrfField(csrf)}
  <div class="field${error ? ' invalid' : ''}">
    <label for="f-file">PDF-Datei</label>
    <input id="f-file" name="file" type="file" accept="application/pdf,.pdf" required${error ? html` aria-invalid="true" aria-describedby="f-file-error"` : ''}>
    <p class="hint">Eine unterzeichnete Zielvereinbarung (oder ein anderes PDF), höchstens 20 MB. Die Datei wird nur geprüft und nicht gespeichert.</p>
    ${error ? html`<p class="error" id="f-file-error">${error}</p>` : ''}
  </div>
  <button type="submit" class="primary">Prüfen</button>
</form>`;
}

// ───────────────────────────── pages ─────────────────────────────

function searchForm(q: SearchQuery): Html {
  const opt = (value: string, label: string, cur: string | undefined) => html`<option value="${value}"${(cur ?? '') === value ? html` selected` : ''}>${label}</option>`;
  return html`<form method="get" action="/archiv" class="search" role="search" aria-label="Archiv durchsuchen">
  <div class="grid2">
    <div class="field"><label for="s-year">Jahr</label><input id="s-year" name="year" type="number" min="2000" max="2100" value="${q.year ?? ''}"></div>
    <div class="field"><label for="s-partner">Partner</label><input id="s-partner" name="partner" type="search" value="${q.partner ?? ''}" aria-describedby="s-partner-hint"><p class="hint" id="s-partner-hint">Kennung oder Teil des Namens, z. B. „Kassel“</p></div>
    <div class="field"><label for="s-type">Art</label><select id="s-type" name="type">${opt('', 'alle', q.type)}${opt('aqb', 'AQB', q.type)}${opt('sgb2', 'SGB II', q.type)}</select></div>
    <div class="field"><label for="s-status">Status</label><select id="s-status" name="status">${opt('', 'alle (ohne ersetzte Entwürfe)', q.status)}${STATUSES.map((s) => opt(s, STATUS_LABELS[s], q.status))}</select></div>
    <div class="field"><label for="s-signatory">Unterzeichnende Person</label><input id="s-signatory" name="signatory" type="search" value="${q.signatory ?? ''}"></div>
    <div class="field"><label for="s-project">Projekt</label><input id="s-project" name="project" type="search" value="${q.project ?? ''}"></div>
  </div>
  <div class="actions"><button type="submit" class="primary">Suchen</button><a class="button" href="/archiv?year=">Alle Jahre</a></div>
</form>`;
}

function resultsTable(entries: ArchiveEntry[], paper: Set<number>): Html {
  if (!entries.length) return html`<p class="notice info" role="status">Keine Vereinbarungen gefunden.</p>`;
  return html`<table>
  <caption class="visually-hidden">Suchergebnis</caption>
  <thead><tr><th scope="col">Partner</th><th scope="col">Art</th><th scope="col">Jahr</th><th scope="col">Version</th><th scope="col" class="num">Betrag</th><th scope="col">Status</th><th scope="col">Unterzeichnende</th><th scope="col">Dateien</th></tr></thead>
  <tbody>${entries.map(
    (e) => html`<tr>
    <td><a href="/archiv/${e.agreementId}">${e.partner}</a></td>
    <td>${TYPE_LABELS[e.type]}</td>
    <td>${e.year}</td>
    <td>${e.version}</td>
    <td class="num">${e.amount === null ? '—' : euro(Math.round(e.amount * 100))}</td>
    <td>${statusBadge(e.status, paper.has(e.agreementId))}</td>
    <td>${e.signatories.length ? html`<ul class="plain">${e.signatories.map((s) => html`<li>${s.name} <span class="hint">(${s.role})</span>: ${s.signedAt ? dateTime(s.signedAt) : s.status === 'declined' ? 'abgelehnt' : 'ausstehend'}</li>`)}</ul>` : '—'}</td>
    <td><a href="/archiv/${e.agreementId}">Details</a>${e.signedFile ? html` · <a href="/archiv/${e.agreementId}/signiert.pdf">PDF</a>` : ''}${e.reportFile ? html` · <a href="/archiv/${e.agreementId}/protokoll.pdf">Protokoll</a>` : ''}${paper.has(e.agreementId) ? html` · <a href="/archiv/${e.agreementId}/papier.pdf">Scan</a>` : ''}</td>
  </tr>`,
  )}</tbody>
</table>`;
}

function exportForm(year: number | undefined): Html {
  return html`<form method="get" action="/archiv/export" class="narrow">
  <div class="field"><label for="x-year">Jahr</label><input id="x-year" name="year" type="number" min="2000" max="2100" required value="${year ?? ''}"></div>
  <div class="field"><label for="x-type">Art</label><select id="x-type" name="type"><option value="">alle</option><option value="aqb">AQB</option><option value="sgb2">SGB II</option></select></div>
  <p class="hint">Alle elektronisch unterzeichneten Vereinbarungen des Jahres als ZIP: unterzeichnete PDFs, Signaturprotokolle, Eingabedaten, Vertrauensanker und ein Manifest mit SHA-256 und Prüfergebnissen.</p>
  <button type="submit">ZIP herunterladen</button>
</form>`;
}

function detailPage(ctx: AppContext, id: number, user: User, csrf: string, verification?: { report: VerifyReport | null; fileProblems: { label: string; ok: boolean; detail: string }[] }) {
  const d = detailOf(ctx, id);
  const a = d.agreement;
  const paper = !!d.paper;
  return page(
    { title: `${a.partner_name} ${TYPE_LABELS[a.type]} ${a.year}`, user, csrf, active: 'archive' },
    html`<p><a href="/archiv?year=${a.year}">← Archiv ${a.year}</a></p>
<h1>${a.title || `Zielvereinbarung ${TYPE_LABELS[a.type]} ${a.year}`}: ${a.partner_name}</h1>
<dl class="facts">
  <dt>Vereinbarung</dt><dd>#${a.id}, ${TYPE_LABELS[a.type]} ${a.year}, Version ${a.version} (Ausgabe ${a.edition})</dd>
  <dt>Betrag</dt><dd>${euro(a.amount_cents)}</dd>
  <dt>Status</dt><dd>${statusBadge(a.status, paper)}</dd>
  ${d.envelope ? html`<dt>Umschlag</dt><dd>#${d.envelope.id}, ${ENVELOPE_STATUS_LABELS[d.envelope.status]}, eröffnet ${dateTime(d.envelope.created_at)}${d.envelope.closed_at ? html`, abgeschlossen ${dateTime(d.envelope.closed_at)}` : ''}${d.envelopes.length > 1 ? html` (insgesamt ${d.envelopes.length} Umschläge)` : ''}</dd>` : ''}
  ${d.paper ? html`<dt>Papierunterschrift</dt><dd>hochgeladen von ${d.paper.uploaded_by} am ${dateTime(d.paper.uploaded_at)}${d.paper.note ? html` – ${d.paper.note}` : ''}</dd>` : ''}
</dl>

<div class="actions">
  <form method="get" action="/archiv/${a.id}/pruefung" class="inline"><button type="submit" class="primary">Jetzt prüfen</button></form>
</div>

${verification ? verificationSection(verification) : ''}

<h2>Dateien</h2>
<table>
  <thead><tr><th scope="col">Datei</th><th scope="col">Name</th><th scope="col" class="num">Größe</th><th scope="col">SHA-256</th><th scope="col">Herunterladen</th></tr></thead>
  <tbody>${d.files.map(
    (f) => html`<tr><td>${f.label}</td><td>${f.name}</td><td class="num">${f.size.toLocaleString('de-DE')} Bytes</td><td class="mono">${f.sha256}</td><td>${f.href ? html`<a href="${f.href}">herunterladen</a>` : '—'}</td></tr>`,
  )}</tbody>
</table>

<h2>Unterzeichnende</h2>
${d.envelope?.status === 'completed' && d.envelope.written_form !== null && d.envelope.written_form !== undefined
  ? html`<p class="notice ${d.envelope.written_form ? 'ok' : 'info'}" role="status"><strong>${d.envelope.written_form ? 'Schriftform elektronisch gewahrt (§ 3a Abs. 2 VwVfG)' : 'Schriftform nicht gewahrt — qualifizierte Signatur oder Papierausfertigung erforderlich'}</strong>${d.envelope.written_form ? '' : html`: ${(JSON.parse(d.envelope.written_form_reasons ?? '[]') as string[]).join('; ')}`}. <span class="hint">(beim Abschluss geprüft; „Jetzt prüfen“ prüft erneut)</span></p>`
  : ''}
${
  d.signatories.length
    ? html`<table>
  <thead><tr><th scope="col">Nr.</th><th scope="col">Name</th><th scope="col">Für</th><th scope="col">Status</th><th scope="col">Signaturniveau</th><th scope="col">Unterzeichnet</th><th scope="col">Zertifikat</th></tr></thead>
  <tbody>${d.signatories.map(
    (s) => html`<tr>
    <td>${s.position}</td>
    <td>${s.name}<br><span class="hint">${s.role}</span></td>
    <td>${s.party === 'ministry' ? 'Ministerium' : s.organisation}</td>
    <td>${s.status === 'signed' ? 'unterzeichnet' : s.status === 'declined' ? html`abgelehnt${s.decline_reason ? html`: „${s.decline_reason}“` : ''}` : 'ausstehend'}</td>
    <td>${s.level ? LEVEL_LABELS[s.level] : '—'}</td>
    <td>${s.signed_at ? html`${dateTime(s.signed_at)}${s.place ? html`<br><span class="hint">${s.place}${s.stamp_date ? `, ${s.stamp_date}` : ''}</span>` : ''}` : '—'}</td>
    <td>${s.certificate_sha256 ? html`<span class="hint">Inhaber:</span> ${s.certificate_subject}<br><span class="hint">Aussteller:</span> ${s.certificate_issuer}<br><span class="hint">Seriennummer:</span> <span class="mono">${s.certificate_serial}</span>` : '—'}</td>
  </tr>`,
  )}</tbody>
</table>`
    : html`<p>${paper ? 'Auf Papier unterzeichnet; elektronische Unterschriften gibt es nicht.' : 'Noch nicht zur Unterzeichnung versandt.'}</p>`
}

<h2>Protokoll (Audit-Trail)</h2>
${
  d.chain
    ? html`<p class="notice ${d.chain.ok ? 'ok' : 'error'}" role="status">${d.chain.ok ? `Hash-Kette vollständig und unverändert (${d.chain.count} Ereignisse, letzter Hash ${d.chain.head.slice(0, 16)}…).` : html`Hash-Kette fehlerhaft: ${d.chain.problems.join('; ')}`}</p>
<table>
  <thead><tr><th scope="col">Nr.</th><th scope="col">Zeit</th><th scope="col">Ereignis</th><th scope="col">Wer</th><th scope="col">Einzelheiten</th></tr></thead>
  <tbody>${d.events.map((e: AuditEvent) => html`<tr><td>${e.seq}</td><td>${dateTime(e.at)}</td><td>${EVENT_LABELS[e.type] ?? e.type}</td><td>${e.actor}</td><td>${describeDetails(e)}</td></tr>`)}</tbody>
</table>`
    : html`<p>Kein Umschlag, daher kein Protokoll.</p>`
}`,
  );
}

function verificationSection(v: { report: VerifyReport | null; fileProblems: { label: string; ok: boolean; detail: string }[] }): Html {
  return html`<section aria-labelledby="check-h" class="check">
  <h2 id="check-h">Prüfung</h2>
  <h3>Prüfsummen der gespeicherten Dateien</h3>
  <ul class="problems">${v.fileProblems.map((f) => html`<li>${f.ok ? '✓' : '✗'} ${f.label}: ${f.detail}</li>`)}</ul>
  ${v.report ? reportView(v.report, [], { showLinks: false }) : html`<p>Es gibt kein elektronisch signiertes PDF, dessen Signaturen geprüft werden könnten.</p>`}
</section>`;
}

async function runCheck(ctx: AppContext, id: number, user: User) {
  const d = detailOf(ctx, id);
  const db = ctx.svc.store.db;
  const fileProblems: { label: string; ok: boolean; detail: string }[] = [];
  let pdf: Uint8Array | undefined;
  const check = (label: string, f: StoredFile) => {
    try {
      const bytes = readStoredFile(ctx.svc.store.dataDir, f);
      fileProblems.push({ label, ok: true, detail: `unverändert (SHA-256 ${f.sha256.slice(0, 16)}…)` });
      return bytes;
    } catch (err) {
      if (!(err instanceof FileIntegrityError)) throw err;
      fileProblems.push({ label, ok: false, detail: `beschädigt oder fehlt: ${err.message}` });
      return undefined;
    }
  };
  const env = d.envelope;
  if (env) {
    const bytes = check(env.status === 'completed' ? 'Unterzeichnetes PDF' : 'Aktueller Stand', fileById(db, env.current_file_id));
    if (env.status === 'completed' || env.current_file_id !== d.agreement.pdf_file_id) pdf = bytes;
    if (env.report_file_id) check('Signaturprotokoll', fileById(db, env.report_file_id));
  }
  if (d.paper) check('Scan der Papierunterschrift', d.paper.file);
  check('Entwurf', fileById(db, d.agreement.pdf_file_id));
  if (d.chain) fileProblems.push({ label: 'Hash-Kette des Protokolls', ok: d.chain.ok, detail: d.chain.ok ? `vollständig (${d.chain.count} Ereignisse)` : d.chain.problems.join('; ') });
  const report = pdf ? await verifyAgreement(pdf, { ...ctx.svc.verifyTrust(), requireComplete: env?.status === 'completed' }) : null;
  if (env) {
    await ctx.svc.record(env.id, {
      type: 'verified',
      actor: actorOf(user),
      details: { verdict: report?.verdict ?? null, files: fileProblems.filter((f) => !f.ok).length ? 'problems' : 'ok', via: 'web' },
    });
  }
  return { report, fileProblems };
}

// ───────────────────────────── routes ─────────────────────────────

const Entry = z.object({
  agreementId: z.number().int(),
  type: z.enum(['aqb', 'sgb2']),
  year: z.number().int(),
  partnerId: z.string(),
  partner: z.string(),
  version: z.number().int(),
  amount: z.number().nullable(),
  status: z.enum(STATUSES),
  statusLabel: z.string(),
  paper: z.boolean(),
  envelopeId: z.number().int().nullable(),
  signatories: z.array(z.object({ name: z.string(), role: z.string(), status: z.string(), signedAt: z.string().nullable() })),
  links: z.object({ detail: z.string(), signedPdf: z.string().nullable(), reportPdf: z.string().nullable() }),
});

const VerifyResult = z.object({
  verdict: z.enum(['valid', 'invalid', 'indeterminate']),
  zielwerkDocument: z.boolean(),
  sha256: z.string(),
  report: z.unknown().describe('VerifyReport: signatures (checks per signature), pending, reproduction, problems'),
  text: z.string().describe('Der Prüfbericht als deutscher Text'),
  archived: z.array(z.object({ agreementId: z.number(), partner: z.string(), type: z.string(), year: z.number(), version: z.number(), kind: z.string(), kindLabel: z.string(), fileName: z.string() })),
});

async function streamExport(ctx: AppContext, res: Response, user: User | null, year: number, type: 'aqb' | 'sgb2' | undefined): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'zv-export-'));
  try {
    const name = `zielwerk-archiv-${type ? `${type}-` : ''}${year}.zip`;
    const out = join(dir, name);
    try {
      await exportYear(ctx.svc, { year, type, out, actor: actorOf(user) });
    } catch (err) {
      if (err instanceof ArchiveError) throw notFound(`Für ${type ? `${TYPE_LABELS[type]} ` : ''}${year} gibt es keine elektronisch unterzeichneten Vereinbarungen im Archiv; es wurde nichts exportiert.`);
      throw err;
    }
    res.attachment(name);
    res.type('application/zip');
    res.set('Cache-Control', 'no-store');
    await pipeline(createReadStream(out), res);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function archiveRoutes(): AnyRoute[] {
  const ARCHIVIST = ['archivist'] as const;
  const VERIFIERS = ['archivist', 'clerk'] as const;
  const fileRoute = (path: string, which: Which, type: string, kind: 'api' | 'page', summary: string) =>
    route({
      method: 'get',
      path,
      kind,
      access: ARCHIVIST,
      tag: kind === 'api' ? 'Archiv' : undefined,
      summary,
      params: IdParam,
      response: { description: summary, mediaType: type },
      handler: async ({ params, user, res, ctx }) => {
        const f = await fetchFile(ctx, params.id, which, user);
        sendBytes(res, f.name, type, f.bytes, f.sha256);
      },
    });

  return [
    // ── pages ──
    route({
      method: 'get',
      path: '/archiv',
      kind: 'page',
      access: ARCHIVIST,
      summary: 'Archiv: Suche und Jahresexport',
      query: SearchQuery,
      handler: ({ query, req, user, csrf, ctx }) => {
        const anyFilter = ['year', 'partner', 'type', 'status', 'signatory', 'project'].some((k) => k in req.query);
        const q: SearchQuery = anyFilter ? query : { ...query, year: newestYear(ctx) };
        const entries = search(ctx.svc, searchFilter(q));
        const paper = paperIds(ctx);
        const signed = entries.filter((e) => e.status === 'signed').length;
        return page(
          { title: 'Archiv', user, csrf, active: 'archive' },
          html`<h1>Archiv</h1>
${searchForm(q)}
<h2>${entries.length === 1 ? '1 Vereinbarung' : `${entries.length} Vereinbarungen`}${q.year ? ` (${q.year})` : ''}${entries.length ? `, davon ${signed} unterzeichnet` : ''}</h2>
${resultsTable(entries, paper)}
<h2>Jahresexport</h2>
${exportForm(q.year ?? newestYear(ctx))}`,
        );
      },
    }),
    route({
      method: 'get',
      path: '/archiv/export',
      kind: 'page',
      access: ARCHIVIST,
      summary: 'Jahresexport als ZIP herunterladen',
      query: ExportQuery,
      handler: ({ query, user, res, ctx }) => streamExport(ctx, res, user, query.year, query.type),
    }),
    route({
      method: 'get',
      path: '/archiv/:id',
      kind: 'page',
      access: ARCHIVIST,
      summary: 'Archiv: eine Vereinbarung mit Dateien, Unterzeichnenden und Protokoll',
      params: IdParam,
      handler: ({ params, user, csrf, ctx }) => detailPage(ctx, params.id, user!, csrf),
    }),
    route({
      method: 'get',
      path: '/archiv/:id/pruefung',
      kind: 'page',
      access: ARCHIVIST,
      summary: 'Archiv: gespeicherte Dateien und Signaturen jetzt prüfen',
      params: IdParam,
      handler: async ({ params, user, csrf, ctx }) => {
        agreementRow(ctx, params.id);
        const v = await runCheck(ctx, params.id, user!);
        return detailPage(ctx, params.id, user!, csrf, v);
      },
    }),
    fileRoute('/archiv/:id/signiert.pdf', 'signed', 'application/pdf', 'page', 'Unterzeichnetes PDF herunterladen'),
    fileRoute('/archiv/:id/protokoll.pdf', 'report', 'application/pdf', 'page', 'Signaturprotokoll herunterladen'),
    fileRoute('/archiv/:id/eingabe.json', 'input', 'application/json', 'page', 'Eingabedaten (JSON) herunterladen'),
    route({
      method: 'get',
      path: '/archiv/:id/papier.pdf',
      kind: 'page',
      access: ARCHIVIST,
      summary: 'Scan der Papierunterschrift herunterladen',
      params: IdParam,
      handler: async ({ params, user, res, ctx }) => {
        const f = await fetchPaper(ctx, params.id, user);
        sendBytes(res, f.name, 'application/pdf', f.bytes, f.sha256);
      },
    }),
    route({
      method: 'get',
      path: '/pruefen',
      kind: 'page',
      access: VERIFIERS,
      summary: 'Prüfen: ein PDF hochladen und seine Signaturen prüfen',
      handler: ({ user, csrf }) =>
        page(
          { title: 'Prüfen', user, csrf, active: 'verify' },
          html`<h1>Dokument prüfen</h1>
<p>Laden Sie eine unterzeichnete Zielvereinbarung hoch: Zielwerk prüft jede Signatur (Unversehrtheit, Zertifikat, Umfang, spätere Änderungen), ob der Inhalt den eingebetteten Daten entspricht und ob die Datei byteweise mit einem Dokument im Archiv übereinstimmt.</p>
${verifyForm(csrf)}`,
        ),
    }),
    route({
      method: 'post',
      path: '/pruefen',
      kind: 'page',
      access: VERIFIERS,
      summary: 'Prüfen: hochgeladenes PDF prüfen (wird nicht gespeichert)',
      upload: { field: 'file', kinds: ['pdf'] },
      handler: async ({ file, user, csrf, res, ctx }) => {
        if (!file) {
          res.status(422);
          return page({ title: 'Prüfen', user, csrf, active: 'verify' }, html`<h1>Dokument prüfen</h1>${verifyForm(csrf, 'Bitte eine PDF-Datei auswählen.')}`);
        }
        const v = await verifyUpload(ctx, new Uint8Array(file.buffer.buffer, file.buffer.byteOffset, file.buffer.byteLength));
        if (!v.zielwerkDocument && !v.archived.length) res.status(422);
        return page(
          { title: 'Prüfergebnis', user, csrf, active: 'verify' },
          html`<h1>Prüfergebnis</h1>
${reportView(v.report, v.archived, { showLinks: !!user?.roles.includes('archivist'), fileName: file.originalname })}
<h2>Weitere Datei prüfen</h2>
${verifyForm(csrf)}`,
        );
      },
    }),

    // ── API ──
    route({
      method: 'get',
      path: '/api/v1/archive',
      kind: 'api',
      access: ARCHIVIST,
      tag: 'Archiv',
      summary: 'Archiv durchsuchen',
      query: SearchQuery,
      response: { description: 'Gefundene Vereinbarungen', schema: z.object({ entries: z.array(Entry) }) },
      handler: ({ query, ctx }) => {
        const paper = paperIds(ctx);
        return {
          entries: search(ctx.svc, searchFilter(query)).map((e) => ({
            agreementId: e.agreementId,
            type: e.type,
            year: e.year,
            partnerId: e.partnerId,
            partner: e.partner,
            version: e.version,
            amount: e.amount,
            status: e.status,
            statusLabel: paper.has(e.agreementId) && e.status === 'signed' ? PAPER_LABEL : e.statusLabel,
            paper: paper.has(e.agreementId),
            envelopeId: e.envelopeId,
            signatories: e.signatories,
            links: {
              detail: `/api/v1/archive/${e.agreementId}`,
              signedPdf: e.signedFile ? `/api/v1/archive/${e.agreementId}/signed.pdf` : null,
              reportPdf: e.reportFile ? `/api/v1/archive/${e.agreementId}/report.pdf` : null,
            },
          })),
        };
      },
    }),
    route({
      method: 'get',
      path: '/api/v1/archive/export',
      kind: 'api',
      access: ARCHIVIST,
      tag: 'Archiv',
      summary: 'Jahresexport (ZIP mit PDFs, Signaturprotokollen, Eingabedaten, Vertrauensanker und Manifest)',
      query: ExportQuery,
      response: { description: 'ZIP-Archiv', mediaType: 'application/zip' },
      handler: ({ query, user, res, ctx }) => streamExport(ctx, res, user, query.year, query.type),
    }),
    route({
      method: 'get',
      path: '/api/v1/archive/:id',
      kind: 'api',
      access: ARCHIVIST,
      tag: 'Archiv',
      summary: 'Eine Vereinbarung: Dateien mit SHA-256, Unterzeichnende, Protokoll, Zustand der Hash-Kette',
      params: IdParam,
      response: { description: 'Archiveintrag' },
      handler: ({ params, ctx }) => detailJson(ctx, params.id),
    }),
    fileRoute('/api/v1/archive/:id/signed.pdf', 'signed', 'application/pdf', 'api', 'Unterzeichnetes PDF'),
    fileRoute('/api/v1/archive/:id/report.pdf', 'report', 'application/pdf', 'api', 'Signaturprotokoll (PDF)'),
    route({
      method: 'post',
      path: '/api/v1/verify',
      kind: 'api',
      access: VERIFIERS,
      tag: 'Archiv',
      summary: 'Ein PDF prüfen (wird nicht gespeichert)',
      upload: { field: 'file', kinds: ['pdf'], required: true },
      response: { description: 'Prüfergebnis', schema: VerifyResult },
      handler: async ({ file, ctx }) => {
        if (!file) throw invalid([{ path: 'file', message: 'Bitte eine Datei auswählen.' }]);
        const v = await verifyUpload(ctx, new Uint8Array(file.buffer.buffer, file.buffer.byteOffset, file.buffer.byteLength));
        return { verdict: v.report.verdict, zielwerkDocument: v.zielwerkDocument, sha256: v.report.sha256, report: v.report, text: formatReport(v.report, 'de'), archived: v.archived };
      },
    }),
  ];
}
