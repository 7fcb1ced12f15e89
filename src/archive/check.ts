/**
 * `zv archive check`: re-hashes every registered file, verifies every signed PDF (all signatures,
 * trust, changes after signing, complete) and every envelope's audit chain, and cross-checks the
 * chain against the files (the last signature's document hash is the archived PDF's), and every
 * anchor: its time-stamp token, the anchored head still in the chain, the archived PDF the anchored
 * document or an anchored renewal of it; a completed envelope without an anchor is a problem.
 * Read-only.
 */
import { existsSync, readFileSync } from 'node:fs';
import { verifyAgreement } from '../sign/verify.ts';
import { absolutePath, sha256Hex, type StoredFile } from '../store/files.ts';
import { listManagedFiles } from '../store/sweep.ts';
import { readEvents } from '../envelope/audit.ts';
import { checkAnchors, type AnchoredEnvelope } from '../envelope/anchors.ts';
import type { EnvelopeRow, SigningService } from '../envelope/service.ts';

export interface CheckReport {
  files: number;
  signedPdfs: number;
  envelopes: number;
  events: number;
  /** Time-stamped anchors checked (envelope heads and renewal runs). */
  anchors: number;
  problems: string[];
  warnings: string[];
  ok: boolean;
}

export async function checkArchive(svc: SigningService, progress?: (done: number, total: number) => void): Promise<CheckReport> {
  const db = svc.store.db;
  const dataDir = svc.store.dataDir;
  const problems: string[] = [];
  const warnings: string[] = [];
  const files = db.prepare('SELECT * FROM files ORDER BY id').all() as StoredFile[];
  const intact = new Set<number>();
  for (const f of files) {
    const abs = absolutePath(dataDir, f.path);
    if (!existsSync(abs)) {
      problems.push(`${f.path}: file is missing`);
      continue;
    }
    const bytes = readFileSync(abs);
    const sha = sha256Hex(bytes);
    if (bytes.length !== f.size || sha !== f.sha256) problems.push(`${f.path}: content changed on disk (SHA-256 ${sha}, recorded ${f.sha256})`);
    else intact.add(f.id);
  }
  const registered = new Set(files.map((f) => f.path));
  for (const rel of listManagedFiles(dataDir)) if (!registered.has(rel)) warnings.push(`${rel}: not registered in the database (left by an interrupted write? run any zv command to sweep it)`);

  const trust = svc.verifyTrust();
  const envelopes = db.prepare('SELECT e.*, a.file_base, a.version FROM envelopes e JOIN agreements a ON a.id = e.agreement_id ORDER BY e.id').all() as (EnvelopeRow & { file_base: string; version: number })[];
  let events = 0;
  let signedPdfs = 0;
  let done = 0;
  const anchored: AnchoredEnvelope[] = [];
  for (const e of envelopes) {
    const label = `envelope ${e.id} (${e.file_base} v${e.version})`;
    const trail = readEvents(db, e.id);
    events += trail.length;
    const chain = svc.checkChain(e.id);
    for (const p of chain.problems) problems.push(`${label}: audit trail: ${p}`);

    const current = files.find((f) => f.id === e.current_file_id);
    const lastDoc = [...trail].reverse().find((ev) => ev.docAfter)?.docAfter;
    if (current && lastDoc && current.sha256 !== lastDoc) problems.push(`${label}: the current document (${current.path}) is not the one the audit trail names last`);
    if (e.status === 'completed') {
      anchored.push({ id: e.id, label, events: trail, file: { path: current?.path ?? '?', sha256: current?.sha256 ?? '', bytes: current && intact.has(current.id) ? new Uint8Array(readFileSync(absolutePath(dataDir, current.path))) : null } });
      if (!e.report_file_id) problems.push(`${label}: completed without a Signaturprotokoll`);
      if (current && intact.has(current.id)) {
        signedPdfs++;
        const report = await verifyAgreement(new Uint8Array(readFileSync(absolutePath(dataDir, current.path))), { ...trust, requireComplete: true });
        if (report.verdict !== 'valid') {
          const reasons = [...report.problems, ...report.signatures.flatMap((s) => s.problems.map((p) => `${s.name}: ${p}`))];
          problems.push(`${label}: ${current.path} does not verify (${report.verdict}): ${reasons.join('; ') || 'see zv verify'}`);
        }
      }
    }
    progress?.(++done, envelopes.length);
  }
  const anchors = await checkAnchors(db, [...trust.trust, ...trust.qualifiedTrust], anchored, { uploadGraceMs: svc.linkDays * 86_400_000 });
  problems.push(...anchors.problems);
  warnings.push(...anchors.warnings);
  return { files: files.length, signedPdfs, envelopes: envelopes.length, events, anchors: anchors.anchors, problems, warnings, ok: problems.length === 0 };
}
