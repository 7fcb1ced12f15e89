/**
 * The archive: find agreements, hand out their signed PDF and Signaturprotokoll, export a year,
 * check everything, back up. Reads through the same store as the signing service; downloads and
 * exports are audit events of the envelopes concerned.
 */
import { mkdirSync } from 'node:fs';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { paperScanOf } from './paper.ts';
import { zipSync } from 'fflate';
import { toolVersion } from '../paths.ts';
import { formatEuro } from '../compose/format.ts';
import { verifyAgreement, type VerifyReport } from '../sign/verify.ts';
import { demoTsaRoot } from '../sign/trust-config.ts';
import { STATUS_LABELS, getAgreement, type AgreementRow, type AgreementStatus } from '../store/agreements.ts';
import { fileById, MANAGED_DIRS, readStoredFile, sha256Hex } from '../store/files.ts';
import { writeFilesAtomically } from '../store/atomic.ts';
import { SigningService, type EnvelopeRow, type SignatoryRow } from '../envelope/service.ts';

export interface SearchFilter {
  year?: number;
  /** Partner id, or part of its name (case-insensitive). */
  partner?: string;
  type?: 'aqb' | 'sgb2';
  status?: AgreementStatus;
  /** Part of a signatory's name (case-insensitive). */
  signatory?: string;
  /** Part of a project name in the agreement's measures (case-insensitive). */
  project?: string;
  /** Include superseded draft versions. */
  allVersions?: boolean;
}

export interface ArchiveEntry {
  agreementId: number;
  type: 'aqb' | 'sgb2';
  year: number;
  partnerId: string;
  partner: string;
  version: number;
  amount: number | null;
  status: AgreementStatus;
  statusLabel: string;
  envelopeId: number | null;
  signatories: { name: string; role: string; status: string; signedAt: string | null }[];
  signedFile: string | null;
  reportFile: string | null;
}

export class ArchiveError extends Error {}

/** The envelope that speaks for an agreement: the completed one, else the newest. */
function envelopeOf(svc: SigningService, agreementId: number): EnvelopeRow | undefined {
  return svc.store.db
    .prepare("SELECT * FROM envelopes WHERE agreement_id = ? ORDER BY (status = 'completed') DESC, id DESC LIMIT 1")
    .get(agreementId) as EnvelopeRow | undefined;
}

export function search(svc: SigningService, f: SearchFilter = {}): ArchiveEntry[] {
  // LIKE with the user's text taken literally; Unicode-aware lower case (SQLite's lower() is ASCII-only).
  const like = (s?: string) => (s ? `%${s.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%` : null);
  svc.store.db.function('zv_lower', { deterministic: true }, (v: unknown) => (typeof v === 'string' ? v.toLowerCase() : v) as string);
  const rows = svc.store.db
    .prepare(
      `SELECT a.* FROM agreements a
       WHERE (@year IS NULL OR a.year = @year)
         AND (@type IS NULL OR a.type = @type)
         AND (@status IS NULL OR a.status = @status)
         AND (@partner IS NULL OR a.partner_id = @partnerExact OR zv_lower(a.partner_name) LIKE @partner ESCAPE '\\')
         AND (@all = 1 OR @status IS NOT NULL OR a.status <> 'superseded')
         AND (@signatory IS NULL OR EXISTS (
               SELECT 1 FROM envelopes e JOIN signatories s ON s.envelope_id = e.id
               WHERE e.agreement_id = a.id AND zv_lower(s.name) LIKE @signatory ESCAPE '\\')
             OR EXISTS (SELECT 1 FROM json_each(a.input_json, '$.signatories.partner') j WHERE zv_lower(json_extract(j.value, '$.name')) LIKE @signatory ESCAPE '\\')
             OR EXISTS (SELECT 1 FROM json_each(a.input_json, '$.signatories.ministry') j WHERE zv_lower(json_extract(j.value, '$.name')) LIKE @signatory ESCAPE '\\'))
         AND (@project IS NULL OR EXISTS (
               SELECT 1 FROM json_each(a.input_json, '$.measures') m, json_each(m.value, '$.projects') p
               WHERE zv_lower(p.value) LIKE @project ESCAPE '\\'))
       ORDER BY a.year DESC, a.type, a.partner_name, a.version DESC`,
    )
    .all({
      year: f.year ?? null,
      type: f.type ?? null,
      status: f.status ?? null,
      partner: like(f.partner),
      partnerExact: f.partner ?? null,
      signatory: like(f.signatory),
      project: like(f.project),
      all: f.allVersions ? 1 : 0,
    }) as AgreementRow[];
  return rows.map((a) => entryFor(svc, a));
}

function entryFor(svc: SigningService, a: AgreementRow): ArchiveEntry {
  const env = envelopeOf(svc, a.id);
  const signatories = env ? (svc.store.db.prepare('SELECT * FROM signatories WHERE envelope_id = ? ORDER BY position').all(env.id) as SignatoryRow[]) : [];
  const signed = env?.status === 'completed' ? fileById(svc.store.db, env.current_file_id).path : null;
  return {
    agreementId: a.id,
    type: a.type,
    year: a.year,
    partnerId: a.partner_id,
    partner: a.partner_name,
    version: a.version,
    amount: a.amount_cents === null ? null : a.amount_cents / 100,
    status: a.status,
    statusLabel: STATUS_LABELS[a.status],
    envelopeId: env?.id ?? null,
    signatories: signatories.map((s) => ({ name: s.name, role: s.role, status: s.status, signedAt: s.signed_at })),
    signedFile: signed,
    reportFile: env?.report_file_id ? fileById(svc.store.db, env.report_file_id).path : null,
  };
}

/** The demo CA (when there is one) and the anchors added with `zv trust add`. */
export function trustAnchorsOf(svc: SigningService): Uint8Array[] {
  return svc.trustAnchors();
}

export interface RetrievedFile {
  name: string;
  bytes: Uint8Array;
  sha256: string;
}

/**
 * An agreement's archival files: the signed PDF (or, before completion, the current state), the
 * Signaturprotokoll when there is one, and the input JSON. Each file is checked against its
 * recorded hash on the way out.
 */
export function retrieve(svc: SigningService, agreementId: number): { agreement: AgreementRow; envelope: EnvelopeRow | undefined; files: RetrievedFile[] } {
  const a = getAgreement(svc.store, agreementId);
  const env = envelopeOf(svc, a.id);
  const files: RetrievedFile[] = [];
  const add = (name: string, fileId: number) => {
    const bytes = readStoredFile(svc.store.dataDir, fileById(svc.store.db, fileId));
    files.push({ name, bytes, sha256: sha256Hex(bytes) });
  };
  const paper = paperScanOf(svc.store.db, a.id);
  if (paper) add(`${a.file_base}-papier.pdf`, paper.fileId);
  else if (env?.status === 'completed') add(`${a.file_base}.pdf`, env.current_file_id);
  else if (env) add(`${a.file_base}-v${a.version}-${env.status === 'open' ? 'in-unterzeichnung' : env.status}.pdf`, env.current_file_id);
  else {
    add(`${a.file_base}-v${a.version}-entwurf.pdf`, a.pdf_file_id);
    if (a.docx_file_id) add(`${a.file_base}-v${a.version}-entwurf.docx`, a.docx_file_id);
  }
  // A paper-signed agreement's cancelled envelope keeps its protocol, named as what it is.
  if (env?.report_file_id) add(`${a.file_base}-signaturprotokoll${paper && env.status !== 'completed' ? `-${env.status}` : ''}.pdf`, env.report_file_id);
  const input = new TextEncoder().encode(JSON.stringify(JSON.parse(a.input_json), null, 2) + '\n');
  files.push({ name: `${a.file_base}.json`, bytes: input, sha256: sha256Hex(input) });
  return { agreement: a, envelope: env, files };
}

/** Writes an agreement's files into `outDir` (atomically) and records the download. */
export async function download(svc: SigningService, agreementId: number, outDir: string, actor: string): Promise<{ path: string; sha256: string }[]> {
  const { envelope, files } = retrieve(svc, agreementId);
  const inside = relative(svc.store.dataDir, resolve(outDir));
  if (!inside.startsWith('..') && !isAbsolute(inside) && MANAGED_DIRS.some((d) => inside === d || inside.startsWith(d + sep))) {
    throw new ArchiveError(`--out ${outDir} lies inside the store's own folders; choose a directory outside ${svc.store.dataDir}/{${MANAGED_DIRS.join(',')}}`);
  }
  mkdirSync(outDir, { recursive: true });
  const written = files.map((f) => ({ path: join(outDir, f.name), bytes: f.bytes, sha256: f.sha256 }));
  writeFilesAtomically(written);
  if (envelope) await svc.record(envelope.id, { type: 'downloaded', actor, details: { files: files.map((f) => ({ name: f.name, sha256: f.sha256 })) } });
  return written.map((w) => ({ path: w.path, sha256: w.sha256 }));
}

export interface ExportManifest {
  format: 'zielwerk-archive-export';
  formatVersion: 1;
  tool: string;
  year: number;
  type: string | null;
  exportedAt: string;
  agreements: {
    agreementId: number;
    type: string;
    partner: string;
    partnerId: string;
    version: number;
    amount: string | null;
    signatories: string[];
    files: { name: string; size: number; sha256: string }[];
    /** 'paper': signed on paper; the scan is archived and carries no electronic signature to verify. */
    verification: {
      verdict: VerifyReport['verdict'] | 'paper';
      signatures: number;
      problems: string[];
      /** Per signature: who, the ETSI indication and the level. */
      levels?: { signatory: string; name: string; indication: string; subIndication: string | null; level: string; pades?: string; timeOfProof?: { at: string; source: string } }[];
      /** The archive time-stamps (B-LTA) and their verdict at the time of the export. */
      documentTimestamps?: { field: string; time: string | null; tsa: string | null; status: string }[];
      verifiedAt?: string;
      /** § 3a Abs. 2 VwVfG met electronically (paper: the written form is the paper original). */
      writtenForm: boolean;
      writtenFormReasons: string[];
    };
    paper?: { uploadedBy: string; uploadedAt: string; sha256: string; note: string };
    /** null: no envelope was ever opened (signed on paper straight from the draft). */
    auditChain: { ok: boolean; events: number; head: string } | null;
  }[];
  trust: { name: string; sha256: string }[];
  totals: { agreements: number; files: number; valid: number; paper: number; /** Legally concluded: the written form met (qualified signatures of all, or paper). */ concluded: number };
}

/**
 * All signed agreements of a year (optionally one type) as one ZIP: per agreement the signed PDF,
 * the Signaturprotokoll and the input JSON; the trust anchor; a manifest with SHA-256 and
 * verification verdicts. Written atomically; each exported envelope records the export.
 */
export async function exportYear(svc: SigningService, opts: { year: number; type?: 'aqb' | 'sgb2'; out: string; actor: string }): Promise<ExportManifest> {
  const entries = search(svc, { year: opts.year, type: opts.type, status: 'signed' });
  if (entries.length === 0) throw new ArchiveError(`no signed agreements for ${opts.type ? opts.type.toUpperCase() + ' ' : ''}${opts.year}`);
  const trust = trustAnchorsOf(svc);
  const verifyTrust = svc.verifyTrust();
  const zip: Record<string, Uint8Array> = {};
  const manifest: ExportManifest = {
    format: 'zielwerk-archive-export',
    formatVersion: 1,
    tool: `zielwerk ${toolVersion}`,
    year: opts.year,
    type: opts.type ?? null,
    exportedAt: svc.store.now(),
    agreements: [],
    trust: [],
    totals: { agreements: 0, files: 0, valid: 0, paper: 0, concluded: 0 },
  };
  for (const e of entries) {
    const { files, envelope } = retrieve(svc, e.agreementId);
    const paper = paperScanOf(svc.store.db, e.agreementId);
    const pdf = files[0]!;
    const report = paper ? null : await verifyAgreement(pdf.bytes, { ...verifyTrust, requireComplete: true });
    const chain = envelope ? svc.checkChain(envelope.id) : null;
    const folder = `${opts.year}/${e.type}/${e.partnerId}`;
    for (const f of files) zip[`${folder}/${f.name}`] = f.bytes;
    manifest.agreements.push({
      agreementId: e.agreementId,
      type: e.type,
      partner: e.partner,
      partnerId: e.partnerId,
      version: e.version,
      amount: e.amount === null ? null : formatEuro(e.amount),
      signatories: e.signatories.map((s) => `${s.name} (${s.role})`),
      files: files.map((f) => ({ name: `${folder}/${f.name}`, size: f.bytes.length, sha256: f.sha256 })),
      verification: report
        ? {
            verdict: report.verdict,
            signatures: report.signatures.length,
            problems: [...report.problems, ...report.signatures.flatMap((s) => s.problems)],
            levels: report.signatures.map((s) => ({ signatory: s.signatory, name: s.name, indication: s.indication, subIndication: s.subIndication, level: s.level, pades: s.pades, timeOfProof: s.timeOfProof })),
            documentTimestamps: report.documentTimestamps.map((d) => ({ field: d.field, time: d.time, tsa: d.tsa, status: d.status })),
            verifiedAt: report.verifiedAt,
            writtenForm: report.writtenForm,
            writtenFormReasons: report.writtenFormReasons,
          }
        : { verdict: 'paper', signatures: 0, problems: [], writtenForm: true, writtenFormReasons: ['auf Papier unterzeichnet (Originalurkunde)'] },
      ...(paper ? { paper: { uploadedBy: paper.uploadedBy, uploadedAt: paper.uploadedAt, sha256: paper.sha256, note: paper.note } } : {}),
      auditChain: chain ? { ok: chain.ok, events: chain.count, head: chain.head } : null,
    });
    manifest.totals.files += files.length;
    if (manifest.agreements.at(-1)!.verification.writtenForm) manifest.totals.concluded++;
    if (paper) manifest.totals.paper++;
    else if (report!.verdict === 'valid' && chain?.ok) manifest.totals.valid++;
  }
  const demoCa = svc.demoCaDer();
  trust.forEach((der) => {
    const tsaRoot = demoTsaRoot(svc.store.dataDir);
    const name =
      demoCa && sha256Hex(der) === sha256Hex(demoCa) ? 'trust/zielwerk-demo-ca.cer' : tsaRoot && sha256Hex(der) === sha256Hex(tsaRoot) ? 'trust/zielwerk-demo-tsa.cer' : `trust/anchor-${sha256Hex(der).slice(0, 16)}.cer`;
    zip[name] = der;
    manifest.trust.push({ name, sha256: sha256Hex(der) });
  });
  manifest.totals.agreements = manifest.agreements.length;
  zip['manifest.json'] = new TextEncoder().encode(JSON.stringify(manifest, null, 2) + '\n');
  // PDFs are compressed already: store them, deflate only the small text files.
  const bytes = zipSync(
    Object.fromEntries(Object.entries(zip).map(([k, v]) => [k, [v, { level: k.endsWith('.pdf') || k.endsWith('.cer') ? 0 : 6, mtime: new Date(manifest.exportedAt) }]])) as never,
  );
  mkdirSync(join(opts.out, '..'), { recursive: true });
  writeFilesAtomically([{ path: opts.out, bytes }]);
  const zipSha = sha256Hex(bytes);
  for (const [i, a] of manifest.agreements.entries()) {
    if (entries[i]!.envelopeId === null) continue;
    await svc.record(entries[i]!.envelopeId!, { type: 'exported', actor: opts.actor, details: { archive: opts.out.split(/[\\/]/).pop(), archiveSha256: zipSha, verdict: a.verification.verdict } });
  }
  return manifest;
}
