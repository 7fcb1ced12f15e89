/**
 * Audit chains anchored by time-stamps. The hash chain of an envelope finds every edit — except
 * one made by someone who can write the database: they can rewrite events, recompute the chain
 * and re-sign the PDF consistently. An anchor is an RFC 3161 token, obtained when the envelope
 * completes, over the chain's head and the final document; from then on a rewritten chain or a
 * replaced document no longer matches a token that nobody can make again for an earlier time.
 *
 * - 'envelope' anchors: { envelopeId, count, head, document } when an envelope completes (inserted
 *   in the completing transaction; see SigningService.commit).
 * - 'renewal' anchors: what one `zv archive renew` run changed — per file path, old SHA-256 and
 *   size, new SHA-256 — so a renewed document can be followed back to the anchored one.
 *
 * `checkAnchors` (part of `zv archive check`) verifies every token and every completed envelope.
 */
import { X509Certificate } from 'node:crypto';
import * as pkijs from 'pkijs';
import { parseTimeStampToken, OID } from '../sign/cms.ts';
import { validatePath } from '../sign/certs.ts';
import type { TimestampAuthority } from '../sign/identity.ts';
import { sha256Hex } from '../store/files.ts';
import type { Db } from '../store/db.ts';
import { canonicalJson, type AuditEvent } from './audit.ts';

export type AnchorKind = 'envelope' | 'renewal';

/** What an envelope anchor time-stamps: the chain's state right after completion and the final PDF. */
export interface EnvelopeAnchorSubject {
  kind: 'envelope';
  envelopeId: number;
  /** Number of events up to and including the completing change. */
  count: number;
  /** Hash of event #count. */
  head: string;
  /** SHA-256 of the completed, archived PDF. */
  document: string;
  /**
   * When the completion was stored (the service clock as the anchor is requested). Events carry
   * the signature's time, which for an upload is the signer's own, up to the link's validity earlier.
   */
  recordedAt?: string;
}

export interface RenewalEntry {
  envelopeId: number;
  path: string;
  oldSha256: string;
  oldSize: number;
  newSha256: string;
  newSize: number;
  /** Time of the 'renewed' audit event. */
  renewedAt: string;
  /** Anchored by a later run (after a crash between the renewal and its run's anchor). */
  late?: boolean;
}

export interface RenewalAnchorSubject {
  kind: 'renewal';
  at: string;
  renewals: RenewalEntry[];
}

export type AnchorSubject = EnvelopeAnchorSubject | RenewalAnchorSubject;

/** An anchor ready to be inserted: the token is obtained before the transaction that stores it. */
export interface AnchorDraft {
  kind: AnchorKind;
  envelopeId: number | null;
  subject: string;
  digest: string;
  token: Uint8Array;
  genTime: string;
}

export interface AnchorRow {
  id: number;
  kind: AnchorKind;
  envelope_id: number | null;
  subject: string;
  digest: string;
  token: Buffer;
  gen_time: string;
  created_at: string;
}

/** Time-stamps the canonical JSON of `subject` (SHA-256) and checks the token answers exactly that. */
export async function prepareAnchor(tsa: TimestampAuthority, subject: AnchorSubject): Promise<AnchorDraft> {
  const text = canonicalJson(subject);
  const digest = sha256Hex(Buffer.from(text, 'utf8'));
  const token = await tsa.timestamp(Buffer.from(digest, 'hex'), 'SHA-256');
  const parsed = parseTimeStampToken(token);
  if (parsed.imprintAlgorithm !== OID.sha256 || Buffer.from(parsed.imprint).toString('hex') !== digest) {
    throw new Error('the time-stamp authority answered the anchor with a token over a different imprint');
  }
  return { kind: subject.kind, envelopeId: subject.kind === 'envelope' ? subject.envelopeId : null, subject: text, digest, token, genTime: parsed.genTime.toISOString() };
}

/** The anchor for a completing change: `chained` are the events that change appends. */
export function envelopeAnchorSubject(envelopeId: number, chained: AuditEvent[], document: string, recordedAt: string): EnvelopeAnchorSubject {
  const last = chained.at(-1);
  if (!last) throw new Error(`envelope ${envelopeId}: nothing to anchor`);
  return { kind: 'envelope', envelopeId, count: last.seq, head: last.hash, document, recordedAt };
}

/** Inserts an anchor; inside the caller's transaction. */
export function insertAnchor(db: Db, a: AnchorDraft, now: string): number {
  return Number(
    db
      .prepare('INSERT INTO anchors (kind, envelope_id, subject, digest, token, gen_time, created_at) VALUES (?,?,?,?,?,?,?)')
      .run(a.kind, a.envelopeId, a.subject, a.digest, Buffer.from(a.token), a.genTime, now).lastInsertRowid,
  );
}

export function readAnchors(db: Db, kind?: AnchorKind): AnchorRow[] {
  return (kind ? db.prepare('SELECT * FROM anchors WHERE kind = ? ORDER BY id').all(kind) : db.prepare('SELECT * FROM anchors ORDER BY id').all()) as AnchorRow[];
}

/** The certificates a token carries (for the TSA's path), as encoded. */
export function tokenCertificates(token: Uint8Array): Uint8Array[] {
  try {
    const ci = pkijs.ContentInfo.fromBER(Uint8Array.from(token));
    const sd = new pkijs.SignedData({ schema: ci.content });
    return (sd.certificates ?? []).filter((c): c is pkijs.Certificate => c instanceof pkijs.Certificate).map((c) => new Uint8Array(c.toSchema().toBER()));
  } catch {
    return [];
  }
}

export const ONE_HOUR_MS = 3_600_000;

export interface TokenCheck {
  ok: boolean;
  genTime: Date | null;
  tsa: string | null;
  problems: string[];
}

/**
 * An anchor's token: it parses, its imprint is the SHA-256 of the stored subject (and the stored
 * digest), its signature verifies, and its TSA — certified for time-stamping — chains to one of
 * `anchors` at the token's time.
 */
export async function checkAnchorToken(row: AnchorRow, anchors: Uint8Array[]): Promise<TokenCheck> {
  const problems: string[] = [];
  const digest = sha256Hex(Buffer.from(row.subject, 'utf8'));
  if (digest !== row.digest) problems.push(`its stored digest ${row.digest} is not the SHA-256 of its subject (${digest})`);
  let parsed;
  try {
    parsed = parseTimeStampToken(new Uint8Array(row.token));
  } catch (e) {
    return { ok: false, genTime: null, tsa: null, problems: [...problems, `its time-stamp token does not parse (${(e as Error).message})`] };
  }
  if (parsed.imprintAlgorithm !== OID.sha256 || Buffer.from(parsed.imprint).toString('hex') !== digest) problems.push('its time-stamp token is not over the SHA-256 of the stored subject');
  if (!parsed.signatureValid) problems.push("its time-stamp token's signature does not verify");
  if (parsed.genTime.toISOString() !== new Date(row.gen_time).toISOString()) problems.push(`its recorded time ${row.gen_time} is not the token's ${parsed.genTime.toISOString()}`);
  let tsa: string | null = null;
  if (!parsed.tsaCertificate) problems.push('its time-stamp token carries no TSA certificate');
  else {
    const cert = new X509Certificate(parsed.tsaCertificate);
    tsa = cert.subject.split('\n').find((l) => l.startsWith('CN='))?.slice(3) ?? cert.subject.split('\n').join(', ');
    if (!(cert.keyUsage ?? []).includes(OID.kpTimeStamping)) problems.push(`its TSA certificate (${tsa}) is not certified for time-stamping`);
    const path = await validatePath(parsed.tsaCertificate, tokenCertificates(new Uint8Array(row.token)), anchors, parsed.genTime);
    if (path.result !== 'trusted') problems.push(`its TSA (${tsa}) does not chain to this instance's trust at ${parsed.genTime.toISOString()}: ${path.detail ?? path.subIndication ?? path.result}`);
  }
  return { ok: problems.length === 0, genTime: parsed.genTime, tsa, problems };
}

export interface AnchoredEnvelope {
  id: number;
  label: string;
  events: AuditEvent[];
  /** The archived (current) file. */
  file: { path: string; sha256: string; bytes: Uint8Array | null };
}

export interface AnchorCheck {
  anchors: number;
  problems: string[];
  warnings: string[];
}

const late = (genTime: Date, at: string) => genTime.getTime() - Date.parse(at) > ONE_HOUR_MS;
const early = (genTime: Date, at: string) => Date.parse(at) - genTime.getTime() > ONE_HOUR_MS;

/**
 * Every anchor's token, every completed envelope's anchor (its chain still has the anchored head at
 * the anchored position, the anchor was made within an hour of that event), and every archived PDF
 * is the anchored document or an anchored renewal of it (each renewal appends: the current file's
 * first oldSize bytes hash to oldSha256, back to the anchored document).
 */
export async function checkAnchors(db: Db, trust: Uint8Array[], completed: AnchoredEnvelope[], opts: { /** How long after its signature's time a completion may be recorded (the link validity). */ uploadGraceMs?: number } = {}): Promise<AnchorCheck> {
  const uploadGraceMs = opts.uploadGraceMs ?? 30 * 86_400_000;
  const problems: string[] = [];
  const warnings: string[] = [];
  const rows = readAnchors(db);
  const tokens = new Map<number, TokenCheck>();
  for (const row of rows) {
    const t = await checkAnchorToken(row, trust);
    tokens.set(row.id, t);
    for (const p of t.problems) problems.push(`anchor #${row.id} (${row.kind}${row.envelope_id ? `, envelope ${row.envelope_id}` : ''}): ${p}`);
  }
  const subjectOf = (row: AnchorRow): AnchorSubject | null => {
    try {
      return JSON.parse(row.subject) as AnchorSubject;
    } catch {
      problems.push(`anchor #${row.id}: its subject is not JSON`);
      return null;
    }
  };

  // Renewals, from the anchors whose tokens hold; each checked against the audit trail it names.
  const byEnvelope = new Map(completed.map((e) => [e.id, e]));
  const renewals = new Map<string, RenewalEntry>(); // `${envelopeId}:${newSha256}`
  for (const row of rows.filter((r) => r.kind === 'renewal')) {
    const t = tokens.get(row.id)!;
    const subject = subjectOf(row);
    if (!subject || subject.kind !== 'renewal' || !Array.isArray(subject.renewals)) {
      if (subject) problems.push(`anchor #${row.id}: not a renewal subject`);
      continue;
    }
    if (!t.ok || !t.genTime) continue;
    for (const r of subject.renewals) {
      const env = byEnvelope.get(r.envelopeId);
      const event = env?.events.find((e) => e.type === 'renewed' && e.docBefore === r.oldSha256 && e.docAfter === r.newSha256);
      const what = `renewal anchor #${row.id}: ${r.path} (${r.oldSha256.slice(0, 16)}… → ${r.newSha256.slice(0, 16)}…)`;
      if (!event) {
        problems.push(`${what}: the audit trail of envelope ${r.envelopeId} does not record this renewal`);
        continue;
      }
      if (late(t.genTime, event.at)) {
        const text = `${what}: anchored ${t.genTime.toISOString()}, more than an hour after the renewal (${event.at})`;
        if (r.late) warnings.push(`${text} — anchored by a later run (a run interrupted before its anchor)`);
        else problems.push(text);
      }
      if (early(t.genTime, event.at)) problems.push(`${what}: anchored ${t.genTime.toISOString()}, before the renewal it anchors (${event.at})`);
      renewals.set(`${r.envelopeId}:${r.newSha256}`, r);
    }
  }

  const envelopeAnchors = new Map<number, AnchorRow[]>();
  for (const row of rows.filter((r) => r.kind === 'envelope')) {
    const list = envelopeAnchors.get(row.envelope_id ?? -1) ?? [];
    list.push(row);
    envelopeAnchors.set(row.envelope_id ?? -1, list);
  }
  for (const env of completed) {
    const head = env.events.at(-1)?.hash ?? '';
    const mine = envelopeAnchors.get(env.id) ?? [];
    if (!mine.length) {
      problems.push(`${env.label}: nicht verankert / not anchored — no time-stamped anchor of its audit chain (current head ${head}, ${env.events.length} events)`);
      continue;
    }
    for (const row of mine) {
      const t = tokens.get(row.id)!;
      const subject = subjectOf(row);
      if (!subject) continue;
      if (subject.kind !== 'envelope' || subject.envelopeId !== env.id || typeof subject.count !== 'number' || typeof subject.head !== 'string') {
        problems.push(`${env.label}: anchor #${row.id} is not an anchor of this envelope`);
        continue;
      }
      const named = `${env.label}: anchored head ${subject.head} (event #${subject.count}, anchor #${row.id}${t.genTime ? ` of ${t.genTime.toISOString()}` : ''})`;
      if (!t.ok) {
        problems.push(`${named}: the anchor does not hold (${t.problems.join('; ')})`);
        continue;
      }
      const event = env.events.find((e) => e.seq === subject.count);
      if (!event || event.hash !== subject.head) {
        problems.push(`${named}: the audit trail no longer has it — event #${subject.count} is ${event ? `${event.hash}` : 'missing'}; the trail was rewritten after it was anchored`);
        continue;
      }
      // The token within an hour of the completion it anchors. Events carry the signature's time, which for an
      // upload (or a remote signature) is the signer's, up to the link's validity before the completion was
      // recorded: then the hour counts from the recording, which must lie within that span after the event.
      const recorded = typeof subject.recordedAt === 'string' ? subject.recordedAt : event.at;
      const lag = Date.parse(recorded) - Date.parse(event.at);
      const via = [...env.events].slice(0, subject.count).reverse().find((e) => e.type === 'signed')?.details.via;
      const grace = via === 'upload' || via === 'remote' ? uploadGraceMs : 0;
      if (late(t.genTime!, recorded) || lag > grace + ONE_HOUR_MS) problems.push(`${named}: anchored ${t.genTime!.toISOString()}, more than an hour after the event it anchors (${event.at}${recorded !== event.at ? `, recorded ${recorded}` : ''})`);
      if (early(t.genTime!, recorded) || lag < -ONE_HOUR_MS) problems.push(`${named}: anchored ${t.genTime!.toISOString()}, before the event it anchors (${event.at})`);
      // The archived PDF: the anchored document, or renewals of it back to it.
      let sha = env.file.sha256;
      const steps: string[] = [];
      let broken: string | null = null;
      for (let guard = 0; sha !== subject.document; guard++) {
        const r = renewals.get(`${env.id}:${sha}`);
        if (!r || guard > 10_000) {
          broken = `the archived PDF ${env.file.path} (SHA-256 ${sha}${steps.length ? `, reached through ${steps.length} anchored renewal(s)` : ''}) is neither the anchored document ${subject.document} nor an anchored renewal of it`;
          break;
        }
        if (!env.file.bytes || env.file.bytes.length < r.oldSize || sha256Hex(env.file.bytes.subarray(0, r.oldSize)) !== r.oldSha256) {
          broken = `the archived PDF ${env.file.path} does not begin with the ${r.oldSize} bytes (SHA-256 ${r.oldSha256}) the renewal to ${sha} was made from`;
          break;
        }
        steps.push(sha);
        sha = r.oldSha256;
      }
      if (broken) problems.push(`${named}: ${broken}`);
    }
  }
  return { anchors: rows.length, problems, warnings };
}
