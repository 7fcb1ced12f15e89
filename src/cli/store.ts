/**
 * CLI over the store, the signing service and the archive: `zv agreements …`, `zv envelope …`,
 * `zv archive …`, `zv demo`. Thin shells: all logic lives in the services.
 */
import { readFileSync, statSync } from 'node:fs';
import { userInfo } from 'node:os';
import { createInterface } from 'node:readline/promises';
import { Command, InvalidArgumentError, Option } from 'commander';
import { dataDir, tsaUrl } from '../config.ts';
import { formatEuro } from '../compose/format.ts';
import { isValidIsoDate } from '../model/agreement.ts';
import { HttpTimestampAuthority } from '../sign/tsa.ts';
import { SigningService, ENVELOPE_STATUS_LABELS, type EnvelopeStatus } from '../envelope/service.ts';
import { readContactsFile } from '../envelope/contacts.ts';
import { currentAgreements, generateIntoStore, readAgreementInputs, STATUS_LABELS, type AgreementStatus } from '../store/agreements.ts';
import { describeSweep } from '../store/sweep.ts';
import { download, exportYear, search } from '../archive/archive.ts';
import { checkArchive } from '../archive/check.ts';
import { describeItem, describeSummary, renewArchive } from '../archive/renew.ts';
import { backup, restore } from '../archive/backup.ts';
import { writeFilesAtomically } from '../store/atomic.ts';
import { addKeyOptions, withKey, type KeyFlags } from './signing.ts';
import { MAX_UPLOAD_BYTES, UploadRefusedError } from '../sign/external.ts';

const out = (s: string) => process.stdout.write(s + '\n');
const err = (s: string) => process.stderr.write(s + '\n');

const actorOf = (opt?: string) => opt ?? process.env.ZV_ACTOR ?? safeUser();
function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unbekannt';
  }
}

function year(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 2000 || n > 2100) throw new InvalidArgumentError('expected a year like 2023');
  return n;
}
function isoDate(v: string): string {
  if (!isValidIsoDate(v)) throw new InvalidArgumentError('expected a date YYYY-MM-DD');
  return v;
}
/** --before: a date (YYYY-MM-DD, the start of that day in UTC) or an ISO instant. */
function beforeDate(v: string): Date {
  const d = isValidIsoDate(v) ? new Date(`${v}T00:00:00Z`) : /^\d{4}-\d{2}-\d{2}T/.test(v) ? new Date(v) : new Date(NaN);
  if (Number.isNaN(d.getTime())) throw new InvalidArgumentError('expected a date YYYY-MM-DD (or an ISO time)');
  return d;
}
function positiveId(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a numeric id');
  return n;
}

function openService(opts: { data?: string; tsa?: string }): SigningService {
  const tsa = tsaUrl(opts.tsa);
  const svc = SigningService.open({ dataDir: dataDir(opts.data), tsa: tsa ? new HttpTimestampAuthority(tsa) : undefined, warn: err });
  if (svc.store.sweepReport) for (const line of describeSweep(svc.store.sweepReport)) err(line);
  return svc;
}

async function withService<T>(opts: { data?: string; tsa?: string }, fn: (svc: SigningService) => Promise<T>): Promise<T> {
  const svc = openService(opts);
  try {
    return await fn(svc);
  } finally {
    svc.close();
  }
}

/** An uploaded signed PDF: at most 20 MB, read whole (the check compares its prefix with the sent document). */
function readUpload(path: string): Uint8Array {
  let size: number;
  try {
    size = statSync(path).size;
  } catch (e) {
    throw new UploadRefusedError(`${path} lässt sich nicht lesen (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}).`, 'not-pdf');
  }
  if (size > MAX_UPLOAD_BYTES) throw new UploadRefusedError(`Die Datei ist größer als ${MAX_UPLOAD_BYTES / 1024 / 1024} MB.`, 'too-large');
  return new Uint8Array(readFileSync(path));
}

/** A personal link (or bare token) from the argument, or from standard input with "-" (keeps it out of the process list). */
async function readLink(arg: string): Promise<string> {
  if (arg !== '-') return arg;
  return readFileSync(0, 'utf8').trim();
}

function table(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (c ?? '').padEnd(widths[i]!)).join('  ').trimEnd();
  out(line(header));
  out(line(widths.map((w) => '-'.repeat(w))));
  for (const r of rows) out(line(r));
}

const typeOption = () => new Option('--type <type>', 'agreement type').choices(['aqb', 'sgb2']);
const dataOption = () => new Option('--data <dir>', 'data directory (default: ZV_DATA_DIR or ./data)');

export function addStoreCommands(program: Command, setExit: (code: number) => void): void {
  // ── agreements ──
  const agreements = program.command('agreements').description('agreements in the store (drafts, versions, status)');
  agreements
    .command('generate')
    .description('generate agreements into the store as new versions (batch .json/.csv/.xlsx or one agreement .json)')
    .argument('<input>', 'batch file or agreement JSON')
    .addOption(dataOption())
    .option('--today <date>', 'treat this ISO date as today', isoDate)
    .option('--actor <name>', 'who does this (audit; default: ZV_ACTOR or the login name)')
    .action(async (input: string, o: { data?: string; today?: string; actor?: string }) =>
      withService(o, async (svc) => {
        const rows = await generateIntoStore(svc.store, await readAgreementInputs(input, { today: o.today }), actorOf(o.actor));
        for (const r of rows) out(`#${r.id}  ${r.file_base}  v${r.version}  ${r.amount_cents === null ? '' : formatEuro(r.amount_cents / 100)}`);
        out(`${rows.length} agreement(s) generated into ${svc.store.dataDir}`);
      }),
    );
  agreements
    .command('list')
    .description('the current version of each agreement')
    .addOption(dataOption())
    .option('--year <year>', 'year', year)
    .addOption(typeOption())
    .option('--json', 'JSON output')
    .action(async (o: { data?: string; year?: number; type?: string; json?: boolean }) =>
      withService(o, async (svc) => {
        const rows = currentAgreements(svc.store, o);
        if (o.json) { out(JSON.stringify(rows.map(({ input_json, ...r }) => r), null, 2)); return; }
        table(['id', 'type', 'year', 'partner', 'v', 'amount', 'status'], rows.map((r) => [String(r.id), r.type, String(r.year), r.partner_name, String(r.version), r.amount_cents === null ? '' : formatEuro(r.amount_cents / 100), STATUS_LABELS[r.status]]));
      }),
    );

  // ── envelopes ──
  const envelope = program.command('envelope').description('signing envelopes: open, sign, decline, cancel, resend, remind');
  envelope
    .command('open')
    .description('open one signing envelope per current draft agreement of a year (ministry first, then the partner signatories)')
    .requiredOption('--year <year>', 'year', year)
    .addOption(typeOption().makeOptionMandatory())
    .option('--partner <id>', 'only this partner')
    .requiredOption('--contacts <file>', 'contacts JSON: the clerk and an e-mail address per partner signatory')
    .addOption(dataOption())
    .option('--actor <name>', 'who does this (audit)')
    .action(async (o: { year: number; type: string; partner?: string; contacts: string; data?: string; actor?: string }) =>
      withService(o, async (svc) => {
        const contacts = readContactsFile(o.contacts);
        const drafts = currentAgreements(svc.store, o).filter((a) => a.status === 'draft' || a.status === 'declined' || a.status === 'cancelled');
        if (drafts.length === 0) throw new InvalidArgumentError(`no draft agreements for ${o.type.toUpperCase()} ${o.year}${o.partner ? ` (${o.partner})` : ''}`);
        const opened = await svc.openEnvelopes(drafts.map((a) => a.id), contacts, actorOf(o.actor));
        for (const s of opened) out(`envelope ${s.envelope.id}: ${s.agreement.file_base} v${s.agreement.version} → ${s.signatories.map((x) => x.name).join(' → ')}`);
        out(`${opened.length} envelope(s) opened; notifications: ${svc.transport ? `SMTP (${svc.transport.describe})` : `${svc.store.dataDir}/outbox/`}`);
      }),
    );
  envelope
    .command('list')
    .description('envelopes with their signatories and whose turn it is')
    .addOption(dataOption())
    .option('--year <year>', 'year', year)
    .addOption(typeOption())
    .addOption(new Option('--status <status>').choices(['open', 'completed', 'declined', 'cancelled']))
    .action(async (o: { data?: string; year?: number; type?: string; status?: EnvelopeStatus }) =>
      withService(o, async (svc) => {
        const rows = svc.listEnvelopes(o).map((s) => {
          const cur = SigningService.current(s);
          return [String(s.envelope.id), s.agreement.file_base, `v${s.agreement.version}`, ENVELOPE_STATUS_LABELS[s.envelope.status], `${s.signatories.filter((x) => x.status === 'signed').length}/${s.signatories.length}`, s.envelope.status === 'open' && cur ? `${cur.name} (${cur.role})` : ''];
        });
        table(['id', 'agreement', 'v', 'status', 'signed', 'waiting for'], rows);
      }),
    );
  const signMinistry = envelope
    .command('sign-ministry')
    .description('batch signing: the ministry signatory signs every envelope of a year that waits for them (one confirmation)')
    .requiredOption('--signatory <name>', 'the ministry signatory as printed (e.g. "Kai Klose")')
    .option('--year <year>', 'year', year)
    .addOption(typeOption())
    .option('--place <place>', 'place stamped after "<Ort>, den" (default: the printed seat)')
    .option('--date <date>', 'date stamped (default: today)', isoDate)
    .option('--image <file>', 'signature image (PNG/JPEG, at most 2 MB)')
    .option('--backdate-reason <text>', 'with --date other than today: why the agreements carry that date (recorded)')
    .option('--yes', 'confirm without asking')
    .addOption(dataOption())
    .option('--tsa <url>', 'RFC 3161 time-stamp authority');
  addKeyOptions(signMinistry).action(async (o: { signatory: string; year?: number; type?: string; place?: string; date?: string; backdateReason?: string; image?: string; yes?: boolean; data?: string; tsa?: string } & KeyFlags) =>
      withService(o, async (svc) => {
        const waiting = svc.awaitingMinistry({ year: o.year, type: o.type, name: o.signatory });
        if (waiting.length === 0) { out(`nothing waits for ${o.signatory}`); return; }
        for (const s of waiting) out(`  ${s.agreement.title} (v${s.agreement.version})`);
        if (!o.yes) {
          if (!process.stdin.isTTY) throw new InvalidArgumentError('confirmation needed: run in a terminal or pass --yes');
          const rl = createInterface({ input: process.stdin, output: process.stdout });
          const answer = await rl.question(`${waiting.length} Vereinbarungen als ${o.signatory} unterzeichnen? [j/N] `);
          rl.close();
          if (!/^(j|ja|y|yes)$/i.test(answer.trim())) { out("nichts unterzeichnet"); return; }
        }
        const image = o.image ? new Uint8Array(readFileSync(o.image)) : undefined;
        // One PIN entry / one service login for the whole batch; the key is closed again afterwards.
        const results = await withKey(o, async (key) => {
          if (key.signer) err(`Schlüssel: ${key.signer.description}`);
          return svc.signAsMinistry(waiting.map((s) => s.envelope.id), { name: o.signatory, place: o.place, date: o.date, backdateReason: o.backdateReason, image, signer: key.signer, actor: `${o.signatory} (Stapelsignatur bestätigt)` });
        });
        for (const r of results) out(r.outcome ? `signed envelope ${r.envelopeId}${r.outcome.next ? ` → next: ${r.outcome.next.name}` : ' (complete)'}` : `${r.untouched ? 'NOT SIGNED' : 'FAILED'} envelope ${r.envelopeId}: ${r.error}`);
        const failed = results.filter((r) => r.error).length;
        const untouched = results.filter((r) => r.untouched).length;
        out(`${results.length - failed} of ${results.length} signed${untouched ? `; ${untouched} untouched — run the command again to sign them` : ''}`);
        if (failed) setExit(1);
      }),
    );
  envelope
    .command('view')
    .description('open a personal link: show the agreement and save its current PDF')
    .argument('<link>', 'the personal link or token ("-" reads it from standard input)')
    .requiredOption('--out <pdf>', 'where to save the PDF')
    .addOption(dataOption())
    .action(async (link: string, o: { out: string; data?: string }) =>
      withService(o, async (svc) => {
        const v = await svc.openLink(await readLink(link));
        writeFilesAtomically([{ path: o.out, bytes: v.pdf }]);
        out(`${v.snapshot.agreement.title} — ${v.signatory.name} (${v.signatory.role})`);
        out(v.canSign ? 'Sie können jetzt unterzeichnen.' : `Noch nicht an der Reihe: es fehlt die Unterschrift von ${v.waitingFor.map((s) => s.name).join(', ')}.`);
        out(`PDF: ${o.out}`);
      }),
    );
  const signLink = envelope
    .command('sign')
    .description('sign through a personal link (with the key store, your own key, or by uploading the PDF you signed elsewhere)')
    .argument('<link>', 'the personal link or token ("-" reads it from standard input)')
    .option('--place <place>', 'place stamped after "<Ort>, den" (default: the printed seat)')
    .option('--date <date>', 'date stamped (default: today)', isoDate)
    .option('--image <file>', 'signature image (PNG/JPEG, at most 2 MB)')
    .option('--backdate-reason <text>', 'with --date other than today: why the agreement carries that date (recorded)')
    .addOption(dataOption())
    .option('--tsa <url>', 'RFC 3161 time-stamp authority')
    .option('--upload <signed.pdf>', 'the PDF from this link, signed in your field with your own tool (Acrobat, pdfsig …): accepted only as exactly the sent document plus your one signature');
  addKeyOptions(signLink).action(async (link: string, o: { place?: string; date?: string; backdateReason?: string; image?: string; data?: string; tsa?: string; upload?: string } & KeyFlags) =>
      withService(o, async (svc) => {
        if (o.upload && (o.key || o.place || o.date || o.image)) throw new InvalidArgumentError('--upload takes the signature as it is in the file: no --key, --place, --date or --image');
        if (o.upload) {
          const bytes = readUpload(o.upload);
          const r = await svc.signWithUpload(await readLink(link), bytes);
          out(`accepted the signature of ${r.signatory.name} (${r.signatory.role}): ${r.signedPath}`);
          out(r.completed ? 'the agreement is now completely signed' : `next: ${r.next!.name} (${r.next!.role}) has been notified`);
          return;
        }
        const image = o.image ? new Uint8Array(readFileSync(o.image)) : undefined;
        const r = await withKey(o, async (key) => svc.signWithLink(await readLink(link), { place: o.place, date: o.date, backdateReason: o.backdateReason, image, signer: key.signer }));
        out(`signed by ${r.signatory.name} (${r.signatory.role}): ${r.signedPath}`);
        out(`key: ${r.signer.description}${r.signer.kind === 'keystore' ? ' — a simple electronic signature (key held by this server)' : ''}`);
        out(r.completed ? 'the agreement is now completely signed' : `next: ${r.next!.name} (${r.next!.role}) has been notified`);
      }),
    );
  envelope
    .command('decline')
    .description('decline through a personal link (stops the envelope, notifies the clerk)')
    .argument('<link>', 'the personal link or token ("-" reads it from standard input)')
    .requiredOption('--reason <text>', 'why (sent to the clerk, kept in the audit trail)')
    .addOption(dataOption())
    .action(async (link: string, o: { reason: string; data?: string }) =>
      withService(o, async (svc) => {
        const s = await svc.declineWithLink(await readLink(link), o.reason);
        out(`declined: envelope ${s.envelope.id} (${s.agreement.file_base}) is stopped; the clerk has been notified`);
      }),
    );
  envelope
    .command('cancel')
    .description('cancel an open envelope (revokes all open links, notifies the signatories)')
    .argument('<id>', 'envelope id', positiveId)
    .option('--reason <text>', 'reason told to the signatories', '')
    .addOption(dataOption())
    .option('--actor <name>', 'who does this (audit)')
    .action(async (id: number, o: { reason: string; data?: string; actor?: string }) =>
      withService(o, async (svc) => {
        await svc.cancel(id, o.reason, actorOf(o.actor));
        out(`envelope ${id} cancelled`);
      }),
    );
  envelope
    .command('resend')
    .description('send the current signatory a new link (earlier links are revoked)')
    .argument('<id>', 'envelope id', positiveId)
    .addOption(dataOption())
    .option('--actor <name>', 'who does this (audit)')
    .action(async (id: number, o: { data?: string; actor?: string }) =>
      withService(o, async (svc) => {
        const s = await svc.resend(id, actorOf(o.actor));
        out(`new link sent to ${SigningService.current(s)?.name}`);
      }),
    );
  envelope
    .command('remind')
    .description('send reminders for links that expire within ZV_REMIND_DAYS (run daily)')
    .addOption(dataOption())
    .action(async (o: { data?: string }) =>
      withService(o, async (svc) => {
        const sent = await svc.sendReminders();
        out(`${sent.length} reminder(s) sent`);
      }),
    );
  envelope
    .command('deliver')
    .description('retry SMTP delivery of queued notifications (ZV_SMTP_URL)')
    .addOption(dataOption())
    .action(async (o: { data?: string }) =>
      withService(o, async (svc) => {
        const r = await svc.deliverQueued();
        out(`${r.sent} sent, ${r.failed} failed`);
        if (r.failed) setExit(1);
      }),
    );

  // ── archive ──
  const archive = program.command('archive').description('find, download, export, check and back up signed agreements');
  archive
    .command('search')
    .description('find agreements by year, partner, type, status or signatory')
    .option('--year <year>', 'year', year)
    .option('--partner <text>', 'partner id or part of its name')
    .addOption(typeOption())
    .addOption(new Option('--status <status>').choices(Object.keys(STATUS_LABELS)))
    .option('--signatory <text>', 'part of a signatory name')
    .option('--all-versions', 'include superseded drafts')
    .option('--json', 'JSON output')
    .addOption(dataOption())
    .action(async (o: { year?: number; partner?: string; type?: 'aqb' | 'sgb2'; status?: AgreementStatus; signatory?: string; allVersions?: boolean; json?: boolean; data?: string }) =>
      withService(o, async (svc) => {
        const hits = search(svc, o);
        if (o.json) { out(JSON.stringify(hits, null, 2)); return; }
        table(
          ['id', 'type', 'year', 'partner', 'v', 'amount', 'status', 'signatories'],
          hits.map((h) => [String(h.agreementId), h.type, String(h.year), h.partner, String(h.version), h.amount === null ? '' : formatEuro(h.amount), h.statusLabel, h.signatories.map((s) => `${s.name}${s.status === 'signed' ? ' ✓' : s.status === 'declined' ? ' ✗' : ''}`).join(', ')]),
        );
        out(`${hits.length} agreement(s)`);
      }),
    );
  archive
    .command('get')
    .description('download an agreement: signed PDF, Signaturprotokoll and input JSON')
    .argument('<id>', 'agreement id (see zv archive search)', positiveId)
    .requiredOption('--out <dir>', 'directory to write into')
    .addOption(dataOption())
    .option('--actor <name>', 'who does this (audit)')
    .action(async (id: number, o: { out: string; data?: string; actor?: string }) =>
      withService(o, async (svc) => {
        for (const f of await download(svc, id, o.out, actorOf(o.actor))) out(`${f.path}  sha256:${f.sha256}`);
      }),
    );
  archive
    .command('export')
    .description("export a year's signed agreements as a ZIP with manifest (SHA-256, verification verdicts)")
    .requiredOption('--year <year>', 'year', year)
    .addOption(typeOption())
    .requiredOption('--out <zip>', 'the ZIP file to write')
    .addOption(dataOption())
    .option('--actor <name>', 'who does this (audit)')
    .action(async (o: { year: number; type?: 'aqb' | 'sgb2'; out: string; data?: string; actor?: string }) =>
      withService(o, async (svc) => {
        const m = await exportYear(svc, { year: o.year, type: o.type, out: o.out, actor: actorOf(o.actor) });
        out(`${m.totals.agreements} agreements, ${m.totals.files} files, ${m.totals.valid} verified valid → ${o.out}`);
        if (m.totals.valid !== m.totals.agreements) setExit(1);
      }),
    );
  archive
    .command('check')
    .description('re-hash every file, verify every signed PDF and every audit chain (exit 1 on any discrepancy)')
    .option('--json', 'JSON output')
    .addOption(dataOption())
    .action(async (o: { json?: boolean; data?: string }) =>
      withService(o, async (svc) => {
        const r = await checkArchive(svc);
        if (o.json) out(JSON.stringify(r, null, 2));
        else {
          for (const w of r.warnings) err(`warning: ${w}`);
          for (const p of r.problems) out(`PROBLEM: ${p}`);
          out(`${r.files} files re-hashed, ${r.signedPdfs} signed PDFs verified, ${r.envelopes} audit chains (${r.events} events) checked: ${r.ok ? 'no discrepancy' : `${r.problems.length} discrepancies`} (with ${r.anchors} time-stamped anchors)`);
        }
        if (!r.ok) setExit(1);
      }),
    );
  archive
    .command('renew')
    .description("renew the archive time-stamps: every signed PDF whose newest time-stamp's proof ends before --before gets fresh validation data and a new document time-stamp (an incremental update; audited and anchored); exit 1 if any failed")
    .option('--before <date>', 'renew when a time-stamp\'s TSA certificate (or its algorithms) ends before this date (default: today + 2 years)', beforeDate)
    .option('--dry-run', 'only report what is due; change nothing')
    .option('--json', 'JSON output')
    .addOption(dataOption())
    .option('--tsa <url>', 'RFC 3161 time-stamp authority (default: ZV_TSA_URL, else the demo TSA)')
    .option('--actor <name>', 'who does this (audit)')
    .action(async (o: { before?: Date; dryRun?: boolean; json?: boolean; data?: string; tsa?: string; actor?: string }) =>
      withService(o, async (svc) => {
        const r = await renewArchive(svc, { before: o.before, dryRun: o.dryRun, actor: actorOf(o.actor), onItem: o.json ? undefined : (i) => out(describeItem(i)) });
        if (o.json) out(JSON.stringify(r, null, 2));
        else out(describeSummary(r));
        if (r.failed || r.anchorError) setExit(1);
      }),
    );
  archive
    .command('backup')
    .description('consistent online backup of database, files and keys into one ZIP (safe while Zielwerk runs); the Demo-CA key only with --include-ca-key')
    .argument('<file>', 'the ZIP to write')
    .option('--include-ca-key', "also back up the Demo-CA's private key (encrypted under ZV_CA_PASSPHRASE); without it a restored instance signs with the certificates issued so far but issues no new ones")
    .addOption(dataOption())
    .action(async (file: string, o: { data?: string; includeCaKey?: boolean }) =>
      withService(o, async (svc) => {
        const r = await backup(svc, file, { includeCaKey: !!o.includeCaKey });
        out(`${r.files} files, ${(r.bytes / 1024 / 1024).toFixed(1)} MB → ${r.path}${r.skipped.length ? ` (${r.skipped.length} delivered outbox messages skipped)` : ''}`);
        if (r.caKeyLeftOut) out('  the Demo-CA key (keys/ca.key.pem) is not in the backup: add --include-ca-key to keep it');
      }),
    );
  archive
    .command('restore')
    .description('restore a backup ZIP into a new data directory')
    .argument('<file>', 'the backup ZIP')
    .requiredOption('--data <dir>', 'the new (empty) data directory')
    .action(async (file: string, o: { data: string }) => {
      const r = restore(file, dataDir(o.data));
      out(`${r.files} files restored into ${dataDir(o.data)}; run zv archive check --data ${o.data}`);
    });

  // ── demo ──
  program
    .command('demo')
    .description('the whole 2023 AQB year end to end on the embedded default: generate 26, open envelopes, minister batch-signs, partners sign, export, check')
    .addOption(dataOption())
    .action(async (o: { data?: string }) => {
      const { runDemo } = await import('../demo.ts');
      const dir = dataDir(o.data);
      const t0 = performance.now();
      const r = await runDemo({ dataDir: dir, log: out });
      out('');
      table(
        ['Partner', 'Betrag', 'Unterzeichnende', 'Status', 'Prüfung'],
        r.rows.map((x) => [x.partner, x.amount === null ? '' : formatEuro(x.amount), x.signatories.join('; '), x.status, x.verification]),
      );
      out('');
      out(`${r.rows.length} Vereinbarungen, ${formatEuro(r.rows.reduce((s, x) => s + (x.amount ?? 0), 0))}; signierte PDFs unter ${dir}/signatures/`);
      out(`Export: ${r.exportPath} (${r.manifest.totals.files} Dateien, ${r.manifest.totals.valid}/${r.manifest.totals.agreements} gültig)`);
      out(`Archivprüfung: ${r.check.files} Dateien, ${r.check.signedPdfs} signierte PDFs, ${r.check.envelopes} Prüfketten (${r.check.events} Ereignisse): ${r.check.ok ? 'keine Abweichung' : r.check.problems.join('; ')}`);
      out(`Dauer: ${((performance.now() - t0) / 1000).toFixed(1)} s (${Object.entries(r.seconds).map(([k, v]) => `${k} ${v.toFixed(1)} s`).join(', ')}), Spitzenspeicher ${Math.round(process.resourceUsage().maxRSS / 1024)} MB`);
      if (!r.check.ok || r.manifest.totals.valid !== r.manifest.totals.agreements) setExit(1);
    });
}
