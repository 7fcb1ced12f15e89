/**
 * `zv demo`: one whole AQB year through the real services on the embedded default — generate the
 * 26 agreements, open envelopes, the minister batch-signs, every county signatory signs through the
 * personal link from their (outbox) mail, the year is exported and the archive checked.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from './paths.ts';
import { readAgreementInputs, generateIntoStore } from './store/agreements.ts';
import { readContactsFile } from './envelope/contacts.ts';
import { parseEml } from './envelope/notify.ts';
import { SigningService } from './envelope/service.ts';
import { absolutePath } from './store/files.ts';
import { exportYear, search, type ExportManifest } from './archive/archive.ts';
import { checkArchive, type CheckReport } from './archive/check.ts';

export const DEMO_BATCH = join(projectRoot, 'examples', 'aqb-2023-hessen.json');
export const DEMO_CONTACTS = join(projectRoot, 'examples', 'aqb-2023-kontakte.json');
const CLERK = 'Sachbearbeitung AQB (Demo)';
const MINISTER = 'Kai Klose';

export class DemoError extends Error {}

export interface DemoRow {
  partner: string;
  amount: number | null;
  signatories: string[];
  status: string;
  verification: string;
  signedFile: string | null;
}

export interface DemoResult {
  rows: DemoRow[];
  manifest: ExportManifest;
  exportPath: string;
  check: CheckReport;
  seconds: Record<string, number>;
}

export async function runDemo(opts: { dataDir: string; log?: (line: string) => void; passphrase?: string }): Promise<DemoResult> {
  const log = opts.log ?? (() => {});
  if (existsSync(opts.dataDir) && readdirSync(opts.dataDir).length > 0) {
    throw new DemoError(`${opts.dataDir} is not empty: the demo runs a whole year from scratch; give it a new directory (--data <dir>)`);
  }
  const seconds: Record<string, number> = {};
  let t = performance.now();
  const lap = (name: string) => {
    const now = performance.now();
    seconds[name] = (now - t) / 1000;
    t = now;
  };
  const svc = SigningService.open({ dataDir: opts.dataDir, passphrase: opts.passphrase, warn: log });
  try {
    log('1/6 Vereinbarungen erzeugen (AQB 2023, 26 Partner) …');
    const agreements = await generateIntoStore(svc.store, await readAgreementInputs(DEMO_BATCH), CLERK);
    lap('generate');

    log('2/6 Umschläge öffnen, Einladungen in den Postausgang …');
    await svc.openEnvelopes(agreements.map((a) => a.id), readContactsFile(DEMO_CONTACTS), CLERK);
    lap('open');

    const waiting = svc.awaitingMinistry({ year: 2023, type: 'aqb', name: MINISTER });
    log(`3/6 Stapelsignatur: ${MINISTER} bestätigt einmal und unterzeichnet ${waiting.length} Vereinbarungen …`);
    const batch = await svc.signAsMinistry(
      waiting.map((s) => s.envelope.id),
      { name: MINISTER, actor: `${MINISTER} (Ministerium, Stapelsignatur bestätigt)` },
    );
    const failed = batch.filter((b) => b.error);
    if (failed.length) throw new DemoError(`ministry batch signing failed for ${failed.length} envelope(s): ${failed.map((f) => f.error).join('; ')}`);
    lap('ministry');

    log('4/6 Die Kreise und Städte unterzeichnen über ihre persönlichen Links …');
    let partnerSignatures = 0;
    for (let round = 0; round < 6; round++) {
      const open = svc.listEnvelopes({ year: 2023, type: 'aqb', status: 'open' });
      if (open.length === 0) break;
      for (const snap of open) {
        const current = SigningService.current(snap);
        if (!current?.email) continue;
        await svc.signWithLink(newestLink(svc, current.email));
        partnerSignatures++;
      }
    }
    const stillOpen = svc.listEnvelopes({ year: 2023, type: 'aqb', status: 'open' });
    if (stillOpen.length) throw new DemoError(`${stillOpen.length} envelope(s) are still open after all signatories signed`);
    lap('partners');
    log(`   ${partnerSignatures} Unterschriften der Partner`);

    log('5/6 Jahresexport …');
    const exportPath = join(opts.dataDir, 'export', 'aqb-2023.zip');
    const manifest = await exportYear(svc, { year: 2023, type: 'aqb', out: exportPath, actor: 'Archiv (Demo)' });
    lap('export');

    log('6/6 Archivprüfung …');
    const check = await checkArchive(svc);
    lap('check');

    const byId = new Map(manifest.agreements.map((m) => [m.agreementId, m]));
    const rows: DemoRow[] = search(svc, { year: 2023, type: 'aqb' })
      .sort((a, b) => a.partner.localeCompare(b.partner, 'de'))
      .map((e) => {
        const m = byId.get(e.agreementId);
        return {
          partner: e.partner,
          amount: e.amount,
          signatories: e.signatories.map((s) => `${s.name} (${s.role})`),
          status: e.statusLabel,
          verification: m ? `${m.verification.verdict === 'valid' ? 'gültig' : m.verification.verdict} (${m.verification.signatures} Sig.)` : '—',
          signedFile: e.signedFile,
        };
      });
    return { rows, manifest, exportPath, check, seconds };
  } finally {
    svc.close();
  }
}

/** The link in the newest invitation or turn notice delivered to this address, read from the .eml as a mail client would. */
export function newestLink(svc: SigningService, email: string): string {
  const row = svc.store.db
    .prepare(
      `SELECT f.path FROM notifications n JOIN files f ON f.id = n.eml_file_id
       WHERE n.recipient LIKE ? AND n.kind IN ('invite','turn','reminder') ORDER BY n.id DESC LIMIT 1`,
    )
    .get(`%<${email}>`) as { path: string } | undefined;
  if (!row) throw new DemoError(`no mail with a link for ${email} in the outbox`);
  const link = parseEml(readFileSync(absolutePath(svc.store.dataDir, row.path))).link;
  if (!link) throw new DemoError(`the mail ${row.path} carries no link`);
  return link;
}
