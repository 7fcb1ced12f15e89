/**
 * Agreements in the store: generating one (or a year's batch) creates a new version with its
 * draft PDF and DOCX under output/<year>/<file base>/v<n>/. Earlier drafts become "superseded";
 * a version that is in signing or signed is never touched.
 */
import { readJsonFile } from '../input.ts';
import { ValidationError, parseAgreementInput, type Problem } from '../model/agreement.ts';
import { composeResolved, type ComposedAgreement } from '../compose/index.ts';
import { resolveAgreement, type ResolvedAgreement } from '../compose/resolve.ts';
import { renderFormats } from '../generate.ts';
import type { Store } from './store.ts';

export type AgreementStatus = 'draft' | 'in_signing' | 'signed' | 'declined' | 'cancelled' | 'superseded';

export const STATUS_LABELS: Record<AgreementStatus, string> = {
  draft: 'Entwurf',
  in_signing: 'in Unterzeichnung',
  signed: 'unterzeichnet',
  declined: 'abgelehnt',
  cancelled: 'storniert',
  superseded: 'ersetzt',
};

export interface AgreementRow {
  id: number;
  type: 'aqb' | 'sgb2';
  year: number;
  partner_id: string;
  partner_name: string;
  version: number;
  edition: string;
  title: string;
  amount_cents: number | null;
  file_base: string;
  input_json: string;
  status: AgreementStatus;
  pdf_file_id: number;
  docx_file_id: number | null;
  created_at: string;
  created_by: string;
}

export class AgreementError extends Error {
  constructor(
    message: string,
    readonly problems: Problem[] = [],
  ) {
    super(problems.length ? `${message}\n${problems.map((p) => `  ${p.path}: ${p.message}`).join('\n')}` : message);
    this.name = 'AgreementError';
  }
}

/** Reads agreement inputs from a batch file (.json with "agreements", .csv, .xlsx) or a single agreement JSON. */
export async function readAgreementInputs(path: string, options: { today?: string } = {}): Promise<ResolvedAgreement[]> {
  if (/\.json$/i.test(path)) {
    const source = readJsonFile(path);
    const data = source.data as { agreements?: unknown };
    if (!(data && typeof data === 'object' && Array.isArray(data.agreements))) {
      return [resolveAgreement(parseAgreementInput(source.data, source.path), options)];
    }
  }
  const { loadBatch } = await import('../batch/load.ts');
  const loaded = await loadBatch(path, options);
  return loaded.agreements.map((a) => a.resolved);
}

export function getAgreement(store: Store, id: number): AgreementRow {
  const row = store.db.prepare('SELECT * FROM agreements WHERE id = ?').get(id) as AgreementRow | undefined;
  if (!row) throw new AgreementError(`agreement ${id} does not exist`);
  return row;
}

/** The newest version of each (type, year, partner), optionally filtered. */
export function currentAgreements(store: Store, filter: { year?: number; type?: string; partner?: string } = {}): AgreementRow[] {
  return store.db
    .prepare(
      `SELECT a.* FROM agreements a
       WHERE a.version = (SELECT MAX(version) FROM agreements b WHERE b.type = a.type AND b.year = a.year AND b.partner_id = a.partner_id)
         AND (@year IS NULL OR a.year = @year) AND (@type IS NULL OR a.type = @type) AND (@partner IS NULL OR a.partner_id = @partner)
       ORDER BY a.year, a.type, a.partner_name`,
    )
    .all({ year: filter.year ?? null, type: filter.type ?? null, partner: filter.partner ?? null }) as AgreementRow[];
}

function blockingVersion(store: Store, r: ResolvedAgreement): AgreementRow | undefined {
  return store.db
    .prepare("SELECT * FROM agreements WHERE type = ? AND year = ? AND partner_id = ? AND status = 'in_signing'")
    .get(r.type, r.year, r.partner.id) as AgreementRow | undefined;
}

/**
 * Composes, renders and stores each agreement as a new version. All are checked and rendered
 * before anything is written, then all are stored in ONE transaction: an import of a year's sheet
 * lands whole or not at all.
 */
export async function generateIntoStore(store: Store, agreements: ResolvedAgreement[], actor: string): Promise<AgreementRow[]> {
  const problems: Problem[] = [];
  for (const r of agreements) {
    const busy = blockingVersion(store, r);
    if (busy) problems.push({ path: r.fileBase, message: `version ${busy.version} is in signing; cancel its envelope before generating a new version` });
  }
  if (problems.length) throw new AgreementError('nothing was generated:', problems);

  const prepared: { r: ResolvedAgreement; title: string; pdf: Uint8Array; docx: Uint8Array }[] = [];
  for (const r of agreements) {
    const composed: ComposedAgreement = composeResolved(r);
    const rendered = await renderFormats(composed.tree, ['pdf', 'docx']);
    prepared.push({ r, title: composed.tree.meta.title, pdf: rendered.pdf!, docx: rendered.docx! });
  }
  const ids = store.write((files, now) =>
    prepared.map(({ r, title, pdf, docx }) => {
      if (blockingVersion(store, r)) throw new AgreementError(`${r.fileBase}: another process opened an envelope for it meanwhile; nothing was generated`);
      const { v } = store.db.prepare('SELECT COALESCE(MAX(version), 0) + 1 AS v FROM agreements WHERE type = ? AND year = ? AND partner_id = ?').get(r.type, r.year, r.partner.id) as { v: number };
      const dir = `output/${r.year}/${r.fileBase}/v${v}`;
      const pdfFile = files.write({ path: `${dir}/${r.fileBase}.pdf`, kind: 'draft-pdf', bytes: pdf }, now);
      const docxFile = files.write({ path: `${dir}/${r.fileBase}.docx`, kind: 'draft-docx', bytes: docx }, now);
      store.db.prepare("UPDATE agreements SET status = 'superseded' WHERE type = ? AND year = ? AND partner_id = ? AND status = 'draft'").run(r.type, r.year, r.partner.id);
      return Number(
        store.db
          .prepare(
            `INSERT INTO agreements (type, year, partner_id, partner_name, version, edition, title, amount_cents, file_base, input_json, status, pdf_file_id, docx_file_id, created_at, created_by)
             VALUES (?,?,?,?,?,?,?,?,?,?, 'draft', ?,?,?,?)`,
          )
          .run(
            r.type,
            r.year,
            r.partner.id,
            r.partner.name,
            v,
            r.edition.edition,
            title,
            r.amount === undefined ? null : Math.round(r.amount * 100),
            r.fileBase,
            JSON.stringify(r.input),
            pdfFile.id,
            docxFile.id,
            now,
            actor,
          ).lastInsertRowid,
      );
    }),
  );
  return ids.map((id) => getAgreement(store, id));
}

export { ValidationError };
