/**
 * The paper fallback: an agreement that was signed on paper (outside Zielwerk) is archived as a
 * scan. The scan, its registration row and the agreement's new status are written in ONE store
 * transaction; an envelope still open for the agreement is cancelled first (its links are revoked).
 */
import { PDFDocument } from 'pdf-lib';
import type { SigningService } from '../envelope/service.ts';
import { getAgreement, STATUS_LABELS, type AgreementRow, type AgreementStatus } from '../store/agreements.ts';
import type { Db } from '../store/db.ts';

/** Statuses from which an agreement may be recorded as signed on paper. */
export const PAPER_ALLOWED: readonly AgreementStatus[] = ['draft', 'in_signing', 'declined', 'cancelled'];

export const PAPER_CANCEL_REASON = 'Auf Papier unterzeichnet';

/** Why a scan was refused: the agreement's state does not allow it, or the file is no readable PDF. */
export class PaperError extends Error {
  constructor(
    message: string,
    readonly kind: 'state' | 'file' | 'input' = 'state',
  ) {
    super(message);
    this.name = 'PaperError';
  }
}

export interface PaperScan {
  agreementId: number;
  fileId: number;
  path: string;
  size: number;
  sha256: string;
  uploadedBy: string;
  uploadedAt: string;
  note: string;
}

const MAX_NOTE = 2000;

/** Is `a` the newest version of its (type, year, partner)? */
function isCurrent(db: Db, a: AgreementRow): boolean {
  const { v } = db.prepare('SELECT MAX(version) AS v FROM agreements WHERE type = ? AND year = ? AND partner_id = ?').get(a.type, a.year, a.partner_id) as { v: number };
  return v === a.version;
}

/** The reason archiving a scan is not possible now, or null when it is. */
export function paperRefusal(db: Db, a: AgreementRow): string | null {
  if (!isCurrent(db, a)) return `Version ${a.version} ist nicht die aktuelle Fassung; nur die aktuelle Fassung kann auf Papier unterzeichnet werden.`;
  if (paperScanOf(db, a.id)) return 'Für diese Fassung ist bereits ein Scan der Papierunterschrift archiviert.';
  if (!PAPER_ALLOWED.includes(a.status)) return `Die Vereinbarung ist „${STATUS_LABELS[a.status]}“; ein Papier-Scan ist nur für Entwürfe und Vereinbarungen in Unterzeichnung, abgelehnte oder stornierte möglich.`;
  return null;
}

/**
 * Archives the scan of a paper-signed agreement: cancels an open envelope (actor = uploader),
 * then writes the scan (kind 'paper-scan'), the paper_signatures row and status 'signed' in one
 * transaction. Throws PaperError when the state or file does not allow it.
 */
export async function archivePaperScan(
  svc: SigningService,
  agreementId: number,
  opts: { bytes: Uint8Array; uploadedBy: string; note?: string },
): Promise<PaperScan> {
  const store = svc.store;
  const db = store.db;
  const note = (opts.note ?? '').trim();
  if (note.length > MAX_NOTE) throw new PaperError(`Die Notiz darf höchstens ${MAX_NOTE} Zeichen lang sein.`, 'input');
  const bytes = opts.bytes;
  if (bytes.length < 8 || Buffer.from(bytes.subarray(0, 5)).toString('latin1') !== '%PDF-') throw new PaperError('Die Datei ist kein PDF-Dokument.', 'file');
  try {
    await PDFDocument.load(bytes, { ignoreEncryption: true, updateMetadata: false, throwOnInvalidObject: false });
  } catch {
    throw new PaperError('Das PDF lässt sich nicht lesen (beschädigt oder unvollständig).', 'file');
  }

  let a: AgreementRow;
  try {
    a = getAgreement(store, agreementId);
  } catch {
    throw new PaperError(`Die Vereinbarung #${agreementId} gibt es nicht.`, 'input');
  }
  const refusal = paperRefusal(db, a);
  if (refusal) throw new PaperError(refusal);

  if (a.status === 'in_signing') {
    const open = db.prepare("SELECT id FROM envelopes WHERE agreement_id = ? AND status = 'open'").get(a.id) as { id: number } | undefined;
    if (open) await svc.cancel(open.id, PAPER_CANCEL_REASON, opts.uploadedBy);
  }

  const path = `signatures/${a.year}/${a.file_base}/v${a.version}/${a.file_base}-papier.pdf`;
  store.write((files, now) => {
    const fresh = getAgreement(store, a.id);
    if (!['draft', 'declined', 'cancelled'].includes(fresh.status) || !isCurrent(db, fresh)) {
      throw new PaperError('Die Vereinbarung wurde inzwischen geändert (neue Fassung oder erneut versendet); bitte die Seite neu laden.');
    }
    if (db.prepare('SELECT 1 FROM paper_signatures WHERE agreement_id = ?').get(a.id)) throw new PaperError('Für diese Fassung ist bereits ein Scan archiviert.');
    const file = files.write({ path, kind: 'paper-scan', bytes }, now);
    db.prepare('INSERT INTO paper_signatures (agreement_id, file_id, uploaded_by, uploaded_at, note) VALUES (?, ?, ?, ?, ?)').run(a.id, file.id, opts.uploadedBy, now, note);
    db.prepare("UPDATE agreements SET status = 'signed' WHERE id = ?").run(a.id);
  });
  return paperScanOf(db, a.id)!;
}

/** The archived paper scan of an agreement version, if it was signed on paper. */
export function paperScanOf(db: Db, agreementId: number): PaperScan | undefined {
  const row = db
    .prepare(
      `SELECT p.agreement_id, p.file_id, p.uploaded_by, p.uploaded_at, p.note, f.path, f.size, f.sha256
       FROM paper_signatures p JOIN files f ON f.id = p.file_id WHERE p.agreement_id = ?`,
    )
    .get(agreementId) as
    | { agreement_id: number; file_id: number; uploaded_by: string; uploaded_at: string; note: string; path: string; size: number; sha256: string }
    | undefined;
  if (!row) return undefined;
  return {
    agreementId: row.agreement_id,
    fileId: row.file_id,
    path: row.path,
    size: row.size,
    sha256: row.sha256,
    uploadedBy: row.uploaded_by,
    uploadedAt: row.uploaded_at,
    note: row.note,
  };
}

/** Ids of all agreements signed on paper (for lists). */
export function paperSignedIds(db: Db): Set<number> {
  return new Set((db.prepare('SELECT agreement_id FROM paper_signatures').all() as { agreement_id: number }[]).map((r) => r.agreement_id));
}
