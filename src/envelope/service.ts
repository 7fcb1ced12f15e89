/**
 * The signing service: envelopes with ordered signatories, personal links, PAdES signatures,
 * decline and cancel, notifications and the audit trail — one transaction per state change.
 *
 * Every change follows one pattern: read a snapshot of the envelope, prepare everything that is
 * slow or asynchronous (signing, rendering the report, composing messages) outside the write lock,
 * then commit in one IMMEDIATE transaction that first checks the envelope's revision. If another
 * process changed the envelope meanwhile, nothing is written and the change is prepared again from
 * a fresh snapshot — so two processes using the same link produce exactly one signature.
 */
import { randomBytes, X509Certificate } from 'node:crypto';
import { linkValidityDays, mailFrom, publicBaseUrl, reminderDays, tsaUrl } from '../config.ts';
import { timestampAuthorityFor } from '../sign/demo-tsa.ts';
import { addArchivalTimestamp } from '../sign/ltv.ts';
import { RevocationFetcher } from '../sign/revocation.ts';
import { formatEuro, joinGerman } from '../compose/format.ts';
import { readAgreementPdf, parseSignatoryRef } from '../sign/agreement-pdf.ts';
import { recompose } from '../sign/reproduce.ts';
import { completeSignature, prepareSignature, type PreparedSignature, type SignResult } from '../sign/sign.ts';
import type { TimestampAuthority } from '../sign/identity.ts';
import { SignerError, type Signer, type SignerKind, type SigningSession } from '../sign/signer.ts';
import { choosePassphrase, KeyStore, KeyStoreError } from '../sign/keys.ts';
import { trustAnchorCertificates } from '../store/trust.ts';
import { demoTsaRoot, localFirst, trustConfig, type TrustConfig } from '../sign/trust-config.ts';
import { checkExternalSignature } from '../sign/external.ts';
import { expectedLevel, LEVEL_LABELS, verifyAgreement, writtenFormText, type Level } from '../sign/verify.ts';
import { getAgreement, STATUS_LABELS, type AgreementRow } from '../store/agreements.ts';
import { absolutePath, fileById, readStoredFile, sha256Hex, slug, type NewFile, type StoredFile } from '../store/files.ts';
import { ConflictError, faultPoint, Store } from '../store/store.ts';
import type { Clock } from '../store/db.ts';
import { chainEvents, checkChain, EVENT_LABELS, insertEvents, readEvents, type AuditEvent, type EventDraft } from './audit.ts';
import { envelopeAnchorSubject, insertAnchor, prepareAnchor, type AnchorDraft } from './anchors.ts';
import { emailFor, type Contacts } from './contacts.ts';
import { composeMessage, redact, toEml, transportFromEnv, type NotificationKind, type Transport } from './notify.ts';
import { renderAuditReport, type AuditReportData } from './report-pdf.ts';
import { hashToken, linkFor, mintToken, tokenFromLink } from './tokens.ts';
import { existsSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** The one answer for an unknown, used, expired, revoked or foreign link: it tells an attacker nothing. */
export const NEUTRAL_REFUSAL = 'Dieser Link ist ungültig oder nicht mehr gültig.';

export class LinkRefusedError extends Error {
  constructor() {
    super(NEUTRAL_REFUSAL);
    this.name = 'LinkRefusedError';
  }
}
/** A valid link whose holder has to wait for earlier signatories. */
export class NotYourTurnError extends Error {}
/** A request the envelope's state does not allow (cancel a signed envelope, …), or bad input. */
export class EnvelopeError extends Error {}

export type EnvelopeStatus = 'open' | 'completed' | 'declined' | 'cancelled';
export const ENVELOPE_STATUS_LABELS: Record<EnvelopeStatus, string> = {
  open: 'in Unterzeichnung',
  completed: 'unterzeichnet',
  declined: 'abgelehnt',
  cancelled: 'storniert',
};

export interface EnvelopeRow {
  id: number;
  agreement_id: number;
  status: EnvelopeStatus;
  current_file_id: number;
  report_file_id: number | null;
  clerk_name: string;
  clerk_email: string;
  created_at: string;
  closed_at: string | null;
  rev: number;
  event_count: number;
  head_hash: string;
  /** 1 / 0 when the envelope completed: the written form (§ 3a Abs. 2 VwVfG) met electronically. */
  written_form?: number | null;
  written_form_reasons?: string | null;
}

export interface SignatoryRow {
  id: number;
  envelope_id: number;
  position: number;
  ref: string;
  party: 'ministry' | 'partner';
  name: string;
  role: string;
  organisation: string;
  email: string | null;
  status: 'pending' | 'signed' | 'declined';
  signed_at: string | null;
  place: string | null;
  stamp_date: string | null;
  certificate_subject: string | null;
  certificate_issuer: string | null;
  certificate_serial: string | null;
  certificate_sha256: string | null;
  declined_at: string | null;
  decline_reason: string | null;
  signer_kind?: SignerKind | 'upload' | null;
  /** simple / advanced / qualified, as verified when the signature was stored. */
  level?: Level | null;
}

export interface Snapshot {
  envelope: EnvelopeRow;
  agreement: AgreementRow;
  signatories: SignatoryRow[];
}

export interface ServiceOptions {
  dataDir: string;
  clock?: Clock;
  /** Key store passphrase; defaults to ZV_KEY_PASSPHRASE (or the development default, with a warning). */
  passphrase?: string;
  /** The Demo-CA key's passphrase; defaults to ZV_CA_PASSPHRASE with ZV_KEY_PASSPHRASE, else the development default. */
  caPassphrase?: string;
  /** The TSA of every signature (PAdES B-T) and of the archive time-stamps (B-LTA); default: ZV_TSA_URL, else the data directory's demo TSA (refused in production). */
  tsa?: TimestampAuthority;
  /** Revocation data for B-LT and verification (default: CRL/OCSP over HTTP with a cache in the data directory; the own demo CA answered in-process). */
  revocation?: RevocationFetcher;
  /** SMTP transport; null = notifications are written as .eml files to outbox/ (the default without ZV_SMTP_URL). */
  transport?: Transport | null;
  baseUrl?: string;
  linkDays?: number;
  remindDays?: number;
  mailFrom?: string;
  /** Receives the key store's passphrase warning (development default) once. */
  warn?: (message: string) => void;
}

export interface SignOptions {
  place?: string;
  date?: string;
  image?: Uint8Array;
  /** The signatory's own key (PKCS#11, CSC); absent = the key store (embedded default, a simple signature). */
  signer?: Signer;
  /** Why the stamped date is not the signing day (required then). */
  backdateReason?: string;
}

/** How a signature reached the service, for the audit trail. */
interface How {
  actor: string;
  tokenId?: number;
  via: 'link' | 'ministry-batch' | 'upload' | 'remote';
  batch?: string;
  batchSize?: number;
}

interface PreparedStep {
  snap: Snapshot;
  signatory: SignatoryRow;
  currentFile: StoredFile;
  prepared: PreparedSignature;
}

/** A signed revision ready to be stored, however it was made (in the app or uploaded). */
export interface SignedBytes {
  /** The stamped date is not the signing day: confirmed with this reason. */
  backdated?: { signingDay: string; reason: string } | null;
  bytes: Uint8Array;
  certificate: Uint8Array;
  signingTime: Date;
  place: string;
  date: string;
  signerKind: SignerKind | 'upload';
  signerDescription: string;
}

function signedBytesOf(result: SignResult, signer: Signer): SignedBytes {
  return { backdated: result.backdated, bytes: result.bytes, certificate: signer.certificate, signingTime: result.signingTime, place: result.place, date: result.date, signerKind: signer.kind, signerDescription: signer.description };
}

/** A link signature waiting for its key's authorisation (see prepareLinkSignature). */
export interface PendingLinkSignature {
  link: string;
  /** What the provider must authorise and sign. */
  digest: Uint8Array;
  step: PreparedStep;
}

/** One envelope's result in a ministry batch. */
export interface BatchResult {
  envelopeId: number;
  outcome?: SignOutcome;
  error?: string;
  /** true when the envelope was not touched because the batch stopped before it (retry signs it). */
  untouched?: boolean;
  /** The error text is already German (a signing device's or service's refusal). */
  german?: boolean;
}

export interface SignOutcome {
  envelopeId: number;
  agreementId: number;
  signatory: { name: string; role: string; ref: string };
  sha256: string;
  /** The next signatory, or null when the envelope is complete. */
  next: { name: string; role: string } | null;
  completed: boolean;
  signedPath: string;
  /** How the signature was made: the key store (the embedded default), a card/HSM, remote signing, or an upload. */
  signer: { kind: SignerKind | 'upload'; description: string };
}

interface PreparedMessage {
  kind: NotificationKind;
  /** The recipient's position in the envelope (null: the clerk); ids may not exist yet when a message is prepared. */
  signatoryPosition: number | null;
  to: { name: string; email: string };
  subject: string;
  body: string;
  messageId: string;
  eml: Buffer;
  path: string;
  token?: { hash: string; expiresAt: string };
}

interface Plan {
  files?: Record<string, NewFile>;
  messages?: PreparedMessage[];
  events: EventDraft[];
  /** SQL changes; receives the stored files by key. Runs inside the transaction. */
  apply(files: Record<string, StoredFile>, now: string): void;
  /** Renders the audit report from the chained events, when the change ends the envelope. */
  report?: (events: AuditEvent[]) => Promise<NewFile>;
  /** Time-stamps the chain's new head (before the transaction); the anchor is stored with the events. */
  anchor?: (events: AuditEvent[]) => Promise<AnchorDraft>;
}

const MAX_ATTEMPTS = 8;
/** A delivery claim older than this belongs to a crashed process and may be taken over. */
const CLAIM_STALE_MS = 5 * 60_000;
const DAY_MS = 86_400_000;

export class SigningService {
  readonly store: Store;
  readonly keys: KeyStore;
  readonly transport: Transport | null;
  readonly baseUrl: string;
  readonly linkDays: number;
  readonly remindDays: number;
  readonly from: string;
  private readonly configuredTsa?: TimestampAuthority;
  private defaultTsa?: TimestampAuthority;
  readonly revocation: RevocationFetcher;
  private readonly dataDir: string;
  private readonly passphrase: string;

  private constructor(opts: ServiceOptions) {
    this.store = Store.open({ dataDir: opts.dataDir, clock: opts.clock });
    let passphrase = opts.passphrase;
    let caPassphrase = opts.caPassphrase;
    if (passphrase === undefined) {
      const choice = choosePassphrase();
      if (choice.warning) opts.warn?.(choice.warning);
      passphrase = choice.passphrase;
      caPassphrase ??= choice.caPassphrase;
    }
    this.baseUrl = opts.baseUrl ?? publicBaseUrl();
    // Certificates name their CRL and OCSP service under the address the instance serves (/pki/…).
    this.keys = KeyStore.open(opts.dataDir, passphrase, caPassphrase, { notice: opts.warn, baseUrl: this.baseUrl });
    this.transport = opts.transport === undefined ? transportFromEnv() : opts.transport;
    this.linkDays = opts.linkDays ?? linkValidityDays();
    this.remindDays = opts.remindDays ?? reminderDays();
    this.from = opts.mailFrom ?? mailFrom();
    this.configuredTsa = opts.tsa;
    this.dataDir = opts.dataDir;
    this.passphrase = passphrase;
    this.revocation = opts.revocation ?? new RevocationFetcher({ cacheDir: join(opts.dataDir, 'cache', 'revocation'), local: this.keys.localRevocation() });
  }

  /**
   * The TSA every signature is time-stamped by: the configured one, else ZV_TSA_URL, else (not in
   * production: refused there) the data directory's demo TSA. Asked before anything is signed.
   */
  get tsa(): TimestampAuthority {
    if (this.configuredTsa) return this.configuredTsa;
    this.defaultTsa ??= timestampAuthorityFor({ dataDir: this.dataDir, url: tsaUrl(), passphrase: this.passphrase, clock: () => this.store.clock() });
    return this.defaultTsa;
  }

  static open(opts: ServiceOptions): SigningService {
    return new SigningService(opts);
  }

  close(): void {
    this.store.close();
  }

  private get db() {
    return this.store.db;
  }

  // ───────────────────────────── trust ─────────────────────────────

  /** The demo CA's certificate, or null before the key store is initialised. */
  demoCaDer(): Uint8Array | null {
    try {
      return this.keys.caCertificateDer();
    } catch (err) {
      if (err instanceof KeyStoreError) return null;
      throw err;
    }
  }

  /** Trust anchors for verification: the demo CA (if any) and every anchor added with `zv trust add`. */
  trustAnchors(): Uint8Array[] {
    const ca = this.demoCaDer();
    const tsaRoot = demoTsaRoot(this.dataDir);
    return [...(ca ? [ca] : []), ...(tsaRoot ? [tsaRoot] : []), ...trustAnchorCertificates(this.store)];
  }

  /** Everything a verification needs to know about trust: anchors (qualified or not) and the keys this server holds. */
  verifyTrust(): TrustConfig {
    return { ...trustConfig(this.keys, this.store), revocation: localFirst(this.keys, this.revocation) };
  }

  // ───────────────────────────── reading ─────────────────────────────

  snapshot(envelopeId: number): Snapshot {
    const envelope = this.db.prepare('SELECT * FROM envelopes WHERE id = ?').get(envelopeId) as EnvelopeRow | undefined;
    if (!envelope) throw new EnvelopeError(`envelope ${envelopeId} does not exist`);
    return {
      envelope,
      agreement: getAgreement(this.store, envelope.agreement_id),
      signatories: this.db.prepare('SELECT * FROM signatories WHERE envelope_id = ? ORDER BY position').all(envelopeId) as SignatoryRow[],
    };
  }

  listEnvelopes(filter: { year?: number; type?: string; status?: EnvelopeStatus } = {}): Snapshot[] {
    const ids = this.db
      .prepare(
        `SELECT e.id FROM envelopes e JOIN agreements a ON a.id = e.agreement_id
         WHERE (@year IS NULL OR a.year = @year) AND (@type IS NULL OR a.type = @type) AND (@status IS NULL OR e.status = @status)
         ORDER BY a.year, a.type, a.partner_name, e.id`,
      )
      .all({ year: filter.year ?? null, type: filter.type ?? null, status: filter.status ?? null }) as { id: number }[];
    return ids.map((r) => this.snapshot(r.id));
  }

  /** The signatory whose turn it is, or undefined when nobody is pending. */
  static current(s: Snapshot): SignatoryRow | undefined {
    return s.signatories.find((x) => x.status === 'pending');
  }

  /** Open envelopes waiting for a ministry signature (optionally of one person), for the batch signing. */
  awaitingMinistry(filter: { year?: number; type?: string; name?: string } = {}): Snapshot[] {
    return this.listEnvelopes({ ...filter, status: 'open' }).filter((s) => {
      const cur = SigningService.current(s);
      return cur?.party === 'ministry' && (!filter.name || cur.name === filter.name);
    });
  }

  // ───────────────────────────── opening ─────────────────────────────

  /**
   * Opens one envelope per agreement. Everything is checked first (status, addresses); if anything
   * is wrong, nothing is opened. Each envelope is then opened in its own transaction.
   */
  async openEnvelopes(agreementIds: number[], contacts: Contacts, actor: string): Promise<Snapshot[]> {
    const problems: string[] = [];
    const plans: { agreement: AgreementRow; bytes: Uint8Array; people: Omit<SignatoryRow, 'id' | 'envelope_id'>[] }[] = [];
    for (const id of agreementIds) {
      let a: AgreementRow;
      try {
        a = getAgreement(this.store, id);
      } catch (e) {
        problems.push((e as Error).message);
        continue;
      }
      const label = `${a.file_base} v${a.version} (#${a.id})`;
      if (!['draft', 'declined', 'cancelled'].includes(a.status)) {
        problems.push(`${label}: is ${STATUS_LABELS[a.status]}; only drafts and declined or cancelled agreements can be sent for signing`);
        continue;
      }
      const bytes = readStoredFile(this.store.dataDir, fileById(this.db, a.pdf_file_id));
      const doc = await readAgreementPdf(bytes);
      const composed = recompose(doc);
      const organisation = { ministry: composed.resolved.ministry.name, partner: composed.resolved.partner.name };
      const people = [...doc.metadata.signatories]
        .sort((x, y) => x.order - y.order)
        .map((entry, i) => {
          const email = entry.party === 'ministry' ? (emailFor(contacts, 'ministry', entry.name) ?? null) : emailFor(contacts, a.partner_id, entry.name);
          if (entry.party === 'partner' && !email) problems.push(`${label}: no e-mail address for ${entry.name} (${entry.role}) — add { "party": "${a.partner_id}", "name": "${entry.name}", "email": … } to the contacts`);
          return {
            position: i + 1,
            ref: `${entry.party}:${entry.index}`,
            party: entry.party,
            name: entry.name,
            role: entry.role,
            organisation: organisation[entry.party],
            email: email ?? null,
            status: 'pending' as const,
            signed_at: null,
            place: null,
            stamp_date: null,
            certificate_subject: null,
            certificate_issuer: null,
            certificate_serial: null,
            certificate_sha256: null,
            declined_at: null,
            decline_reason: null,
          };
        });
      plans.push({ agreement: a, bytes, people });
    }
    if (problems.length) throw new EnvelopeError(`no envelope was opened:\n${problems.map((p) => `  ${p}`).join('\n')}`);
    // The CA exists before signers in parallel processes need it (creating it twice would split the trust);
    // an instance without ZV_CA_PASSPHRASE signs with own keys or certificates issued before.
    if (this.keys.canIssue) await this.keys.init();

    const opened: Snapshot[] = [];
    for (const p of plans) opened.push(await this.openOne(p.agreement, p.bytes, p.people, contacts.clerk, actor));
    return opened;
  }

  private async openOne(a: AgreementRow, bytes: Uint8Array, people: Omit<SignatoryRow, 'id' | 'envelope_id'>[], clerk: Contacts['clerk'], actor: string): Promise<Snapshot> {
    const at = this.store.now();
    const expiresAt = new Date(Date.parse(at) + this.linkDays * DAY_MS).toISOString();
    const docSha = sha256Hex(bytes);
    // Ids are assigned in the transaction; messages refer to signatories by position until then.
    const draftRows: SignatoryRow[] = people.map((p) => ({ ...p, id: 0, envelope_id: 0 }));
    const snap: Snapshot = {
      envelope: { id: 0, agreement_id: a.id, status: 'open', current_file_id: a.pdf_file_id, report_file_id: null, clerk_name: clerk.name, clerk_email: clerk.email, created_at: at, closed_at: null, rev: 0, event_count: 0, head_hash: '' },
      agreement: a,
      signatories: draftRows,
    };
    const messages: PreparedMessage[] = [];
    for (const s of draftRows) {
      if (s.party !== 'partner' || !s.email) continue;
      messages.push(await this.prepareMessage(snap, 'invite', s, { expiresAt }));
    }
    const drafts: EventDraft[] = [
      { type: 'created', actor, at, docAfter: docSha, details: { agreementId: a.id, version: a.version, signatories: draftRows.map((s) => `${s.position}. ${s.name} (${s.role})`) } },
      ...messages.map((m) => this.sentEvent(m, at, draftRows)),
    ];
    const envelopeId = this.store.write((files, now) => {
      const cur = this.db.prepare('SELECT status FROM agreements WHERE id = ?').get(a.id) as { status: string };
      if (!['draft', 'declined', 'cancelled'].includes(cur.status)) throw new EnvelopeError(`${a.file_base} v${a.version}: another process sent it for signing meanwhile`);
      const id = Number(
        this.db
          .prepare("INSERT INTO envelopes (agreement_id, status, current_file_id, clerk_name, clerk_email, created_at) VALUES (?, 'open', ?, ?, ?, ?)")
          .run(a.id, a.pdf_file_id, clerk.name, clerk.email, now).lastInsertRowid,
      );
      const insert = this.db.prepare(
        "INSERT INTO signatories (envelope_id, position, ref, party, name, role, organisation, email, status) VALUES (?,?,?,?,?,?,?,?, 'pending')",
      );
      for (const s of draftRows) insert.run(id, s.position, s.ref, s.party, s.name, s.role, s.organisation, s.email);
      this.writeMessages(files, id, messages, now);
      this.db.prepare("UPDATE agreements SET status = 'in_signing' WHERE id = ?").run(a.id);
      insertEvents(this.db, chainEvents(id, { count: 0, hash: '' }, drafts));
      this.db.prepare('UPDATE envelopes SET rev = rev + 1 WHERE id = ?').run(id);
      return id;
    });
    await this.afterCommit();
    return this.snapshot(envelopeId);
  }

  // ───────────────────────────── links ─────────────────────────────

  /** Resolves a link to its signatory; every kind of invalid link gets the same neutral refusal. */
  private resolveLink(link: string): { tokenId: number; signatoryId: number; envelopeId: number; openedSha256: string | null } {
    const token = tokenFromLink(link);
    if (!token) throw new LinkRefusedError();
    const row = this.db
      .prepare(
        `SELECT t.id AS tokenId, t.expires_at, t.revoked_at, t.used_at, t.opened_sha256, s.id AS signatoryId, s.status AS sstatus, e.id AS envelopeId, e.status AS estatus
         FROM link_tokens t JOIN signatories s ON s.id = t.signatory_id JOIN envelopes e ON e.id = s.envelope_id
         WHERE t.token_hash = ?`,
      )
      .get(hashToken(token)) as
      | { tokenId: number; expires_at: string; revoked_at: string | null; used_at: string | null; opened_sha256: string | null; signatoryId: number; sstatus: string; envelopeId: number; estatus: string }
      | undefined;
    if (!row || row.revoked_at || row.used_at || row.expires_at <= this.store.now() || row.sstatus !== 'pending' || row.estatus !== 'open') {
      throw new LinkRefusedError();
    }
    return { tokenId: row.tokenId, signatoryId: row.signatoryId, envelopeId: row.envelopeId, openedSha256: row.opened_sha256 };
  }

  /**
   * What a link's holder sees: the agreement, their place in the order, and the current PDF.
   * Logged as "opened" the first time this link shows this document; reloading the same state is a
   * pure read (no event, no write), so a busy signing page does not queue on the database.
   */
  async openLink(link: string): Promise<{ snapshot: Snapshot; signatory: SignatoryRow; canSign: boolean; waitingFor: SignatoryRow[]; pdf: Uint8Array }> {
    return this.withRetries(async () => {
      const { tokenId, signatoryId, envelopeId, openedSha256 } = this.resolveLink(link);
      const snap = this.snapshot(envelopeId);
      const signatory = snap.signatories.find((s) => s.id === signatoryId)!;
      const pdf = readStoredFile(this.store.dataDir, fileById(this.db, snap.envelope.current_file_id));
      const docSha = sha256Hex(pdf);
      if (openedSha256 !== docSha) {
        const at = this.store.now();
        await this.commit(snap, {
          events: [{ type: 'opened', actor: `${signatory.name} (persönlicher Link)`, at, docBefore: docSha, details: { signatory: signatory.ref } }],
          apply: () => this.db.prepare('UPDATE link_tokens SET opened_sha256 = ? WHERE id = ?').run(docSha, tokenId),
        });
      }
      const waitingFor = snap.signatories.filter((s) => s.position < signatory.position && s.status === 'pending');
      return { snapshot: openedSha256 === docSha ? snap : this.snapshot(envelopeId), signatory, canSign: waitingFor.length === 0, waitingFor, pdf };
    });
  }

  /**
   * The envelope's current PDF for a link's holder: for a valid link (no event: opening the page
   * logs "opened"), and for a link that was used to sign within the last `linkDays` days, so the
   * signatory can fetch the signed document afterwards (logged as "downloaded"). Revoked, expired
   * unused, declined-with, unknown links and links of cancelled or declined envelopes get the
   * neutral refusal. A link only ever reaches its own envelope. `allowUsed: false` refuses used
   * links too (a form re-rendered after an input error must not outlive the signature).
   */
  async documentForLink(link: string, opts: { allowUsed?: boolean } = {}): Promise<{ snapshot: Snapshot; signatory: SignatoryRow; pdf: Uint8Array; used: boolean }> {
    const token = tokenFromLink(link);
    if (!token) throw new LinkRefusedError();
    const row = this.db
      .prepare(
        `SELECT t.expires_at, t.revoked_at, t.used_at, s.id AS signatoryId, s.status AS sstatus, e.id AS envelopeId, e.status AS estatus
         FROM link_tokens t JOIN signatories s ON s.id = t.signatory_id JOIN envelopes e ON e.id = s.envelope_id
         WHERE t.token_hash = ?`,
      )
      .get(hashToken(token)) as
      | { expires_at: string; revoked_at: string | null; used_at: string | null; signatoryId: number; sstatus: string; envelopeId: number; estatus: string }
      | undefined;
    if (!row || row.revoked_at) throw new LinkRefusedError();
    const now = this.store.now();
    let used: boolean;
    if (!row.used_at) {
      if (row.expires_at <= now || row.sstatus !== 'pending' || row.estatus !== 'open') throw new LinkRefusedError();
      used = false;
    } else {
      const since = new Date(Date.parse(now) - this.linkDays * DAY_MS).toISOString();
      if (opts.allowUsed === false || row.sstatus !== 'signed' || row.used_at < since || !['open', 'completed'].includes(row.estatus)) throw new LinkRefusedError();
      used = true;
    }
    const snap = this.snapshot(row.envelopeId);
    const signatory = snap.signatories.find((s) => s.id === row.signatoryId)!;
    const file = fileById(this.db, snap.envelope.current_file_id);
    const pdf = readStoredFile(this.store.dataDir, file);
    if (used) {
      await this.record(row.envelopeId, {
        type: 'downloaded',
        actor: `${signatory.name} (persönlicher Link)`,
        docBefore: file.sha256,
        details: { signatory: signatory.ref, file: file.path.split('/').pop() },
      });
    }
    return { snapshot: this.snapshot(row.envelopeId), signatory, pdf, used };
  }

  private assertTurn(snap: Snapshot, signatory: SignatoryRow): void {
    const current = SigningService.current(snap)!;
    if (current.id !== signatory.id) {
      const before = snap.signatories.filter((s) => s.position < signatory.position && s.status === 'pending');
      throw new NotYourTurnError(`Sie können erst unterzeichnen, wenn ${joinGerman(before.map((s) => `${s.name} (${s.role})`))} unterzeichnet ${before.length > 1 ? 'haben' : 'hat'}; Sie werden dann benachrichtigt.`);
    }
  }

  /** A county signatory signs through their personal link. */
  async signWithLink(link: string, opts: SignOptions = {}): Promise<SignOutcome> {
    return this.withRetries(async () => {
      const { tokenId, signatoryId, envelopeId } = this.resolveLink(link);
      const snap = this.snapshot(envelopeId);
      const signatory = snap.signatories.find((s) => s.id === signatoryId)!;
      this.assertTurn(snap, signatory);
      return this.applySignature(snap, signatory, opts, { actor: `${signatory.name} (persönlicher Link)`, tokenId, via: 'link' });
    });
  }

  /**
   * A county signatory uploads the PDF they signed in their own tool. It is checked as exactly the
   * current document plus their one signature in their field (see sign/external.ts); then the
   * envelope advances as after an in-app signature. A refusal stores nothing and leaves the link usable.
   */
  async signWithUpload(link: string, upload: Uint8Array): Promise<SignOutcome> {
    return this.withRetries(async () => {
      const { tokenId, signatoryId, envelopeId } = this.resolveLink(link);
      const snap = this.snapshot(envelopeId);
      const signatory = snap.signatories.find((s) => s.id === signatoryId)!;
      this.assertTurn(snap, signatory);
      const currentFile = fileById(this.db, snap.envelope.current_file_id);
      const sent = readStoredFile(this.store.dataDir, currentFile);
      // The signature cannot be older than the revision it signs was sent (envelope opened, or the previous signature stored).
      const sentAt = new Date(Math.max(Date.parse(currentFile.created_at), Date.parse(snap.envelope.created_at)));
      const accepted = await checkExternalSignature(sent, upload, { signatory: parseSignatoryRef(signatory.ref), trust: this.verifyTrust(), now: this.store.clock(), sentAt });
      return this.commitStep(
        { snap, signatory, currentFile },
        {
          bytes: upload,
          certificate: accepted.certificate,
          signingTime: accepted.signingTime,
          place: accepted.place,
          date: accepted.date,
          signerKind: 'upload',
          signerDescription: `extern signiert und hochgeladen (/${accepted.subFilter}${accepted.timestamp ? ', mit Zeitstempel' : ''})`,
        },
        { actor: `${signatory.name} (persönlicher Link, Upload)`, tokenId, via: 'upload' },
      );
    });
  }

  /**
   * The first half of a link signature whose key is authorised later, at the provider (CSC
   * oauth2code: the signatory leaves for the provider's login with this digest). Nothing is
   * stored; the result is held by the caller until `completeLinkSignature`.
   */
  async prepareLinkSignature(link: string, opts: SignOptions & { signer: Signer }): Promise<PendingLinkSignature> {
    const { signatoryId, envelopeId } = this.resolveLink(link);
    const snap = this.snapshot(envelopeId);
    const signatory = snap.signatories.find((s) => s.id === signatoryId)!;
    this.assertTurn(snap, signatory);
    const step = await this.prepareStep(snap, signatory, opts, opts.signer);
    return { link, digest: step.prepared.digest, step };
  }

  /**
   * The second half: signs the prepared digest with the now authorised session and commits —
   * if the link is still valid and the envelope unchanged since the preparation.
   */
  async completeLinkSignature(pending: PendingLinkSignature, session: SigningSession): Promise<SignOutcome> {
    const { tokenId, signatoryId, envelopeId } = this.resolveLink(pending.link);
    const { snap, signatory } = pending.step;
    if (envelopeId !== snap.envelope.id || signatoryId !== signatory.id) throw new LinkRefusedError();
    if (this.snapshot(envelopeId).envelope.rev !== snap.envelope.rev) {
      throw new EnvelopeError('Der Vorgang hat sich seit dem Start der Fernsignatur geändert; bitte starten Sie die Unterschrift noch einmal.');
    }
    const signed = await completeSignature(pending.step.prepared, session, this.tsa);
    try {
      return await this.commitStep(pending.step, signedBytesOf(signed, pending.step.prepared.signer), { actor: `${signatory.name} (persönlicher Link, Fernsignatur)`, tokenId, via: 'remote' });
    } catch (err) {
      if (err instanceof ConflictError) throw new EnvelopeError('Der Vorgang hat sich seit dem Start der Fernsignatur geändert; bitte starten Sie die Unterschrift noch einmal.');
      throw err;
    }
  }

  /** A signatory declines through their link, with a reason; the envelope stops and the clerk is notified. */
  async declineWithLink(link: string, reason: string): Promise<Snapshot> {
    const text = reason.trim();
    if (!text) throw new EnvelopeError('reason: a reason is required to decline');
    if (text.length > 2000) throw new EnvelopeError('reason: at most 2000 characters');
    return this.withRetries(async () => {
      const { tokenId, signatoryId, envelopeId } = this.resolveLink(link);
      const snap = this.snapshot(envelopeId);
      const signatory = snap.signatories.find((s) => s.id === signatoryId)!;
      const at = this.store.now();
      const clerkMsg = await this.prepareMessage(snap, 'declined', null, { declinedBy: { name: signatory.name, role: signatory.role, reason: text } });
      await this.commit(snap, {
        messages: [clerkMsg],
        events: [
          { type: 'declined', actor: `${signatory.name} (persönlicher Link)`, at, details: { signatory: signatory.ref, role: signatory.role, reason: text } },
          this.sentEvent(clerkMsg, at, snap.signatories),
        ],
        apply: (_f, now) => {
          this.db.prepare("UPDATE signatories SET status = 'declined', declined_at = ?, decline_reason = ? WHERE id = ?").run(now, text, signatory.id);
          this.db.prepare('UPDATE link_tokens SET used_at = ? WHERE id = ?').run(now, tokenId);
          this.closeEnvelope(snap, 'declined', now);
        },
        report: (events) => this.renderReport(snap, events, 'declined'),
      });
      return this.snapshot(envelopeId);
    });
  }

  // ───────────────────────────── ministry ─────────────────────────────

  /**
   * The minister signs every listed envelope that is waiting for them — one confirmation by the
   * caller, one signature and audit event per envelope, each in its own transaction. A failure on
   * one envelope is reported and does not stop the others.
   */
  async signAsMinistry(envelopeIds: number[], signer: { name: string; actor?: string } & SignOptions): Promise<BatchResult[]> {
    const batch = randomBytes(8).toString('hex');
    const how = { actor: signer.actor ?? `${signer.name} (Ministerium)`, via: 'ministry-batch' as const, batch, batchSize: envelopeIds.length };
    const turnOf = (envelopeId: number) => {
      const snap = this.snapshot(envelopeId);
      if (snap.envelope.status !== 'open') throw new EnvelopeError(`envelope ${envelopeId} is ${ENVELOPE_STATUS_LABELS[snap.envelope.status]}`);
      const current = SigningService.current(snap)!;
      if (current.party !== 'ministry' || current.name !== signer.name) {
        throw new NotYourTurnError(`envelope ${envelopeId}: it is ${current.name}'s (${current.role}) turn, not ${signer.name}'s`);
      }
      return { snap, current };
    };
    const failure = (envelopeId: number, err: unknown): BatchResult => {
      if (!(err instanceof Error) || err instanceof TypeError || err instanceof RangeError) throw err;
      return { envelopeId, error: err instanceof ConflictError ? `envelope ${envelopeId} was changed by someone else meanwhile; sign it again` : err.message, german: err instanceof SignerError };
    };
    if (!signer.signer) {
      const results: BatchResult[] = [];
      for (const envelopeId of envelopeIds) {
        try {
          const outcome = await this.withRetries(async () => {
            const { snap, current } = turnOf(envelopeId);
            return this.applySignature(snap, current, signer, how);
          });
          results.push({ envelopeId, outcome });
        } catch (err) {
          results.push(failure(envelopeId, err));
        }
      }
      return results;
    }
    return this.signBatchWithOwnKey(envelopeIds, signer.signer, signer, how, turnOf, failure);
  }

  /**
   * The signatory's own key (card, HSM, remote): every document is prepared first, then the key is
   * authorised once for all their digests (one PIN entry; one CSC credentials/authorize), then each
   * is signed and committed in turn. When the key fails at document k, 1…k-1 stay signed and
   * k…n are left untouched (reported), so running the batch again completes it.
   */
  private async signBatchWithOwnKey(
    envelopeIds: number[],
    key: Signer,
    opts: SignOptions,
    how: How,
    turnOf: (id: number) => { snap: Snapshot; current: SignatoryRow },
    failure: (id: number, err: unknown) => BatchResult,
  ): Promise<BatchResult[]> {
    const results = new Map<number, BatchResult>();
    const steps: PreparedStep[] = [];
    for (const envelopeId of envelopeIds) {
      try {
        const { snap, current } = turnOf(envelopeId);
        steps.push(await this.prepareStep(snap, current, opts, key));
      } catch (err) {
        results.set(envelopeId, failure(envelopeId, err));
      }
    }
    if (steps.length) {
      // A refused authorisation (wrong PIN, locked card, service down) signs nothing: the caller reports it.
      const session = await key.authorize(steps.map((s) => s.prepared.digest));
      try {
        for (let k = 0; k < steps.length; k++) {
          const step = steps[k]!;
          const id = step.snap.envelope.id;
          let signed: SignResult;
          try {
            signed = await completeSignature(step.prepared, session, this.tsa);
          } catch (err) {
            if (!(err instanceof Error) || err instanceof TypeError || err instanceof RangeError) throw err;
            const german = err instanceof SignerError;
            results.set(id, { envelopeId: id, error: err.message, untouched: true, german });
            for (const rest of steps.slice(k + 1)) {
              results.set(rest.snap.envelope.id, german
                ? { envelopeId: rest.snap.envelope.id, error: `Der Stapel wurde bei Umschlag #${id} angehalten: ${err.message}`, untouched: true, german }
                : { envelopeId: rest.snap.envelope.id, error: `not signed: the batch stopped at envelope ${id} (${err.message})`, untouched: true });
            }
            break;
          }
          try {
            results.set(id, { envelopeId: id, outcome: await this.commitStep(step, signedBytesOf(signed, key), how) });
          } catch (err) {
            results.set(id, failure(id, err));
          }
        }
      } finally {
        await session.close();
      }
    }
    return envelopeIds.map((id) => results.get(id)!);
  }

  // ───────────────────────────── signing ─────────────────────────────

  /** Key-store signing (prepare, sign, commit) as one retried unit: a conflict simply prepares again. */
  private async applySignature(snap: Snapshot, signatory: SignatoryRow, opts: SignOptions, how: How): Promise<SignOutcome> {
    const step = await this.prepareStep(snap, signatory, opts, opts.signer);
    const session = await step.prepared.signer.authorize([step.prepared.digest]);
    try {
      return await this.commitStep(step, signedBytesOf(await completeSignature(step.prepared, session, this.tsa), step.prepared.signer), how);
    } finally {
      await session.close();
    }
  }

  /** Everything up to the signature value: checks, stamp, byte range, the digest the signer signs. */
  private async prepareStep(snap: Snapshot, signatory: SignatoryRow, opts: SignOptions, signer?: Signer): Promise<PreparedStep> {
    const currentFile = fileById(this.db, snap.envelope.current_file_id);
    const before = readStoredFile(this.store.dataDir, currentFile);
    // The draft as generated and registered: the document's first revision must be exactly it.
    const draft = currentFile.id === snap.agreement.pdf_file_id ? before : readStoredFile(this.store.dataDir, fileById(this.db, snap.agreement.pdf_file_id));
    const signingTime = this.store.clock();
    const prepared = await prepareSignature(before, {
      draft,
      signatory: parseSignatoryRef(signatory.ref),
      signer: signer ?? ((person, at) => this.keys.signerFor(person, { at })),
      place: opts.place,
      date: opts.date,
      backdateReason: opts.backdateReason,
      image: opts.image,
      tsa: this.tsa,
      signingTime,
      // The stamp says what the signature will be: the key store's are simple; a card's or a provider's as its certificate and our trust say.
      stampLevel: signer ? await expectedLevel(signer, this.verifyTrust(), signingTime) : 'simple',
    });
    return { snap, signatory, currentFile, prepared };
  }

  /** Stores a signed step (or the final document) with its events and messages, if the envelope is unchanged since `step.snap`. */
  private async commitStep(step: { snap: Snapshot; signatory: SignatoryRow; currentFile: StoredFile }, result: SignedBytes, how: How): Promise<SignOutcome> {
    const { snap, signatory, currentFile } = step;
    const cert = new X509Certificate(result.certificate);
    const at = result.signingTime.toISOString();
    const remaining = snap.signatories.filter((s) => s.status === 'pending' && s.id !== signatory.id);
    const next = remaining[0];
    const completed = !next;
    let archival: { warnings: string[] } | null = null;
    if (completed) {
      // The last signature completes the agreement: its validation material (B-LT) and an archive time-stamp (B-LTA).
      const sealed = await addArchivalTimestamp(result.bytes, { tsa: this.tsa, revocation: this.revocation.provider({ after: result.signingTime }) });
      result = { ...result, bytes: sealed.bytes };
      archival = { warnings: sealed.warnings };
    }
    const shaBefore = currentFile.sha256;
    const shaAfter = sha256Hex(result.bytes);
    const a = snap.agreement;
    const dir = `signatures/${a.year}/${a.file_base}/v${a.version}`;
    const path = completed ? `${dir}/${a.file_base}.pdf` : `${dir}/envelope-${snap.envelope.id}/${signatory.position}-${slug(signatory.ref)}.pdf`;

    const after: Snapshot = { ...snap, signatories: snap.signatories.map((s) => (s.id === signatory.id ? { ...s, status: 'signed' as const, signed_at: at } : s)) };
    const messages: PreparedMessage[] = [];
    if (next && next.party === 'partner' && next.email) {
      // A fresh link with the turn notice: the invitation's link stays valid too.
      messages.push(await this.prepareMessage(after, 'turn', next, { expiresAt: new Date(Date.parse(at) + this.linkDays * DAY_MS).toISOString() }));
    }
    if (completed) {
      const names = [`${a.file_base}.pdf`, `${a.file_base}-signaturprotokoll.pdf`];
      for (const s of snap.signatories) if (s.email) messages.push(await this.prepareMessage(after, 'completed', s, { completedFiles: names }));
      messages.push(await this.prepareMessage(after, 'completed', null, { completedFiles: names }));
    }
    const subject = cert.subject.split('\n').join(', ');
    // What the stored document proves, as verified now: this signature's level, and for a completed one the written form.
    const verified = await verifyAgreement(result.bytes, { ...this.verifyTrust(), skipReproduction: true });
    const mine = verified.signatures.find((s) => s.signatory === signatory.ref);
    const level: Level = mine?.level ?? 'simple';
    const events: EventDraft[] = [
      {
        type: 'signed',
        actor: how.actor,
        at,
        docBefore: shaBefore,
        docAfter: shaAfter,
        details: {
          signatory: signatory.ref,
          name: signatory.name,
          role: signatory.role,
          place: result.place,
          date: result.date,
          via: how.via,
          signer: { kind: result.signerKind, description: result.signerDescription },
          level,
          ...(result.backdated ? { backdated: true, signingDay: result.backdated.signingDay, backdateReason: result.backdated.reason } : {}),
          certificate: { subject, issuer: cert.issuer.split('\n').join(', '), serial: cert.serialNumber, sha256: sha256Hex(result.certificate) },
          ...(how.batch ? { batch: how.batch, batchSize: how.batchSize } : {}),
        },
      },
    ];
    if (completed) {
      const stamp = verified.documentTimestamps.at(-1);
      events.push({
        type: 'completed',
        actor: 'Zielwerk',
        at,
        docAfter: shaAfter,
        details: {
          signatures: snap.signatories.length,
          writtenForm: verified.writtenForm,
          writtenFormReasons: verified.writtenFormReasons,
          archiveTimestamp: stamp ? { time: stamp.time, tsa: stamp.tsa, status: stamp.status } : null,
          ...(archival?.warnings.length ? { archiveWarnings: archival.warnings } : {}),
        },
      });
    }
    for (const m of messages) events.push(this.sentEvent(m, at, after.signatories));

    let signedPath = path;
    await this.commit(snap, {
      files: { signed: { path, kind: completed ? 'signed-pdf' : 'signed-step', bytes: result.bytes } },
      messages,
      events,
      apply: (files, now) => {
        if (how.tokenId !== undefined) {
          const t = this.db.prepare('SELECT used_at, revoked_at FROM link_tokens WHERE id = ?').get(how.tokenId) as { used_at: string | null; revoked_at: string | null };
          if (t.used_at || t.revoked_at) throw new LinkRefusedError();
          this.db.prepare('UPDATE link_tokens SET used_at = ? WHERE id = ?').run(now, how.tokenId);
        }
        // The signatory's other links are spent with the signature.
        this.db.prepare('UPDATE link_tokens SET revoked_at = ? WHERE signatory_id = ? AND used_at IS NULL AND revoked_at IS NULL').run(now, signatory.id);
        const updated = this.db
          .prepare(
            `UPDATE signatories SET status = 'signed', signed_at = ?, place = ?, stamp_date = ?, certificate_subject = ?, certificate_issuer = ?, certificate_serial = ?, certificate_sha256 = ?, signer_kind = ?, level = ?
             WHERE id = ? AND status = 'pending'`,
          )
          .run(at, result.place, result.date, subject, cert.issuer.split('\n').join(', '), cert.serialNumber, sha256Hex(result.certificate), result.signerKind, level, signatory.id);
        if (updated.changes !== 1) throw new ConflictError('the signatory');
        this.db.prepare('UPDATE envelopes SET current_file_id = ? WHERE id = ?').run(files.signed!.id, snap.envelope.id);
        if (completed) {
          this.db.prepare('UPDATE envelopes SET written_form = ?, written_form_reasons = ? WHERE id = ?').run(verified.writtenForm ? 1 : 0, JSON.stringify(verified.writtenFormReasons), snap.envelope.id);
          this.closeEnvelope(snap, 'completed', now);
        }
        signedPath = files.signed!.path;
      },
      report: completed ? (chained) => this.renderReport(after, chained, 'completed', { path, bytes: result.bytes }) : undefined,
      // The completed chain's head and the final PDF, time-stamped: a later rewrite of either no longer matches.
      anchor: completed ? (chained) => prepareAnchor(this.tsa, envelopeAnchorSubject(snap.envelope.id, chained, shaAfter, this.store.now())) : undefined,
    });
    return {
      envelopeId: snap.envelope.id,
      agreementId: a.id,
      signatory: { name: signatory.name, role: signatory.role, ref: signatory.ref },
      sha256: shaAfter,
      next: next ? { name: next.name, role: next.role } : null,
      completed,
      signedPath,
      signer: { kind: result.signerKind, description: result.signerDescription },
    };
  }

  // ───────────────────────────── clerk ─────────────────────────────

  /** The clerk cancels an open envelope: all open links are revoked, the signatories notified. */
  async cancel(envelopeId: number, reason: string, actor: string): Promise<Snapshot> {
    return this.withRetries(async () => {
      const snap = this.snapshot(envelopeId);
      if (snap.envelope.status !== 'open') throw new EnvelopeError(`envelope ${envelopeId} is ${ENVELOPE_STATUS_LABELS[snap.envelope.status]} and cannot be cancelled`);
      const at = this.store.now();
      const messages: PreparedMessage[] = [];
      for (const s of snap.signatories) if (s.status === 'pending' && s.email && this.hasLink(s.id)) messages.push(await this.prepareMessage(snap, 'cancelled', s, { cancelledReason: reason.trim() || undefined }));
      await this.commit(snap, {
        messages,
        events: [{ type: 'cancelled', actor, at, details: { reason: reason.trim() } }, ...messages.map((m) => this.sentEvent(m, at, snap.signatories))],
        apply: (_f, now) => this.closeEnvelope(snap, 'cancelled', now),
        report: (events) => this.renderReport(snap, events, 'cancelled'),
      });
      return this.snapshot(envelopeId);
    });
  }

  /** Sends the current signatory a new link (the old ones are revoked), e.g. when the mail was lost. */
  async resend(envelopeId: number, actor: string): Promise<Snapshot> {
    return this.withRetries(async () => {
      const snap = this.snapshot(envelopeId);
      if (snap.envelope.status !== 'open') throw new EnvelopeError(`envelope ${envelopeId} is ${ENVELOPE_STATUS_LABELS[snap.envelope.status]}`);
      const cur = SigningService.current(snap)!;
      if (cur.party !== 'partner' || !cur.email) throw new EnvelopeError(`envelope ${envelopeId}: it is ${cur.name}'s turn, who signs in Zielwerk and gets no link`);
      const at = this.store.now();
      const anySigned = snap.signatories.some((s) => s.status === 'signed');
      const msg = await this.prepareMessage(snap, anySigned ? 'turn' : 'invite', cur, { expiresAt: new Date(Date.parse(at) + this.linkDays * DAY_MS).toISOString() });
      await this.commit(snap, {
        messages: [msg],
        events: [resentBy(this.sentEvent(msg, at, snap.signatories), actor)],
        apply: (_f, now) => {
          this.db.prepare('UPDATE link_tokens SET revoked_at = ? WHERE signatory_id = ? AND used_at IS NULL AND revoked_at IS NULL AND token_hash <> ?').run(now, cur.id, msg.token!.hash);
        },
      });
      return this.snapshot(envelopeId);
    });
  }

  /** Reminders for current signatories whose newest link expires within the reminder window. */
  async sendReminders(): Promise<{ envelopeId: number; to: string }[]> {
    if (this.remindDays <= 0) return [];
    const sent: { envelopeId: number; to: string }[] = [];
    const now = this.store.now();
    const horizon = new Date(Date.parse(now) + this.remindDays * DAY_MS).toISOString();
    for (const snap of this.listEnvelopes({ status: 'open' })) {
      const cur = SigningService.current(snap);
      if (!cur || cur.party !== 'partner' || !cur.email) continue;
      const token = this.db
        .prepare('SELECT id, expires_at FROM link_tokens WHERE signatory_id = ? AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ? ORDER BY expires_at DESC LIMIT 1')
        .get(cur.id, now) as { id: number; expires_at: string } | undefined;
      if (!token || token.expires_at > horizon) continue;
      const reminded = this.db.prepare('SELECT 1 FROM link_tokens WHERE signatory_id = ? AND reminded_at IS NOT NULL AND expires_at = ?').get(cur.id, token.expires_at);
      if (reminded) continue;
      await this.withRetries(async () => {
        const fresh = this.snapshot(snap.envelope.id);
        // The reminder's link expires with the one it reminds of: a reminder does not extend the deadline.
        const msg = await this.prepareMessage(fresh, 'reminder', cur, { expiresAt: token.expires_at });
        await this.commit(fresh, {
          messages: [msg],
          events: [this.sentEvent(msg, now, fresh.signatories)],
          apply: (_f, at) => {
            this.db.prepare('UPDATE link_tokens SET reminded_at = ? WHERE signatory_id = ? AND expires_at = ?').run(at, cur.id, token.expires_at);
          },
        });
      });
      sent.push({ envelopeId: snap.envelope.id, to: cur.email });
    }
    return sent;
  }

  /** Appends an audit event that does not change the envelope (downloaded, exported, verified). */
  async record(envelopeId: number, draft: Omit<EventDraft, 'at'> & { at?: string }): Promise<void> {
    await this.withRetries(async () => {
      const snap = this.snapshot(envelopeId);
      await this.commit(snap, { events: [{ ...draft, at: draft.at ?? this.store.now() }], apply: () => {} });
    });
  }

  /** Verifies the audit chain of one envelope against its recorded head. */
  checkChain(envelopeId: number) {
    const snap = this.snapshot(envelopeId);
    return checkChain(readEvents(this.db, envelopeId), { count: snap.envelope.event_count, head: snap.envelope.head_hash });
  }

  // ───────────────────────────── machinery ─────────────────────────────

  private hasLink(signatoryId: number): boolean {
    return !!this.db.prepare('SELECT 1 FROM link_tokens WHERE signatory_id = ? AND used_at IS NULL AND revoked_at IS NULL').get(signatoryId);
  }

  private closeEnvelope(snap: Snapshot, status: Exclude<EnvelopeStatus, 'open'>, now: string): void {
    this.db.prepare('UPDATE envelopes SET status = ?, closed_at = ? WHERE id = ?').run(status, now, snap.envelope.id);
    const agreementStatus = status === 'completed' ? 'signed' : status;
    this.db.prepare('UPDATE agreements SET status = ? WHERE id = ?').run(agreementStatus, snap.agreement.id);
    if (status !== 'completed') {
      this.db
        .prepare('UPDATE link_tokens SET revoked_at = ? WHERE used_at IS NULL AND revoked_at IS NULL AND signatory_id IN (SELECT id FROM signatories WHERE envelope_id = ?)')
        .run(now, snap.envelope.id);
    }
  }

  private async withRetries<T>(fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        if (!(err instanceof ConflictError) || attempt >= MAX_ATTEMPTS) throw err;
        await new Promise((r) => setTimeout(r, Math.random() * 20 * attempt));
      }
    }
  }

  private async commit(snap: Snapshot, plan: Plan): Promise<void> {
    const events = chainEvents(snap.envelope.id, { count: snap.envelope.event_count, hash: snap.envelope.head_hash }, plan.events);
    const files: Record<string, NewFile> = { ...(plan.files ?? {}) };
    if (plan.report) files.report = await plan.report(events);
    const anchor = plan.anchor ? await plan.anchor(events) : undefined;
    this.store.write((writer, now) => {
      const cur = this.db.prepare('SELECT rev FROM envelopes WHERE id = ?').get(snap.envelope.id) as { rev: number } | undefined;
      if (!cur || cur.rev !== snap.envelope.rev) throw new ConflictError(`envelope ${snap.envelope.id}`);
      const stored: Record<string, StoredFile> = {};
      for (const [key, f] of Object.entries(files)) stored[key] = writer.write(f, now);
      faultPoint('commit:files-written');
      this.writeMessages(writer, snap.envelope.id, plan.messages ?? [], now);
      plan.apply(stored, now);
      if (stored.report) this.db.prepare('UPDATE envelopes SET report_file_id = ? WHERE id = ?').run(stored.report.id, snap.envelope.id);
      insertEvents(this.db, events);
      if (anchor) insertAnchor(this.db, anchor, now);
      this.db.prepare('UPDATE envelopes SET rev = rev + 1 WHERE id = ?').run(snap.envelope.id);
      faultPoint('commit:before-commit');
    });
    faultPoint('commit:after-commit');
    await this.afterCommit();
  }

  private writeMessages(writer: import('../store/files.ts').FileWriter, envelopeId: number, messages: PreparedMessage[], now: string): void {
    const insertToken = this.db.prepare('INSERT INTO link_tokens (signatory_id, token_hash, created_at, expires_at) VALUES (?,?,?,?)');
    const insertNote = this.db.prepare(
      `INSERT INTO notifications (envelope_id, signatory_id, kind, recipient, subject, body, message_id, transport, status, eml_file_id, created_at)
       VALUES (?,?,?,?,?,?,?,?,?,?,?)`,
    );
    const signatoryAt = this.db.prepare('SELECT id FROM signatories WHERE envelope_id = ? AND position = ?');
    for (const m of messages) {
      const signatoryId = m.signatoryPosition === null ? null : (signatoryAt.get(envelopeId, m.signatoryPosition) as { id: number }).id;
      if (m.token) insertToken.run(signatoryId, m.token.hash, now, m.token.expiresAt);
      const eml = writer.write({ path: m.path, kind: 'outbox-eml', bytes: m.eml }, now);
      insertNote.run(envelopeId, signatoryId, m.kind, `${m.to.name} <${m.to.email}>`, m.subject, m.body, m.messageId, this.transport ? 'smtp' : 'outbox', this.transport ? 'queued' : 'written', eml.id, now);
    }
  }

  /** With SMTP, committed messages go out right away; a failure stays queued (zv envelope deliver retries). */
  private async afterCommit(): Promise<void> {
    if (this.transport) await this.deliverQueued();
  }

  /**
   * Sends queued messages over SMTP. A sent message's .eml (which holds the personal link) is
   * deleted; the notification row keeps subject, recipient and the redacted text. Failures stay
   * queued for the next run (zv envelope deliver).
   */
  async deliverQueued(): Promise<{ sent: number; failed: number }> {
    if (!this.transport) return { sent: 0, failed: 0 };
    const rows = this.db.prepare("SELECT n.id, n.eml_file_id FROM notifications n WHERE n.status = 'queued' AND n.eml_file_id IS NOT NULL ORDER BY n.id").all() as { id: number; eml_file_id: number }[];
    let sent = 0;
    let failed = 0;
    const { parseEml } = await import('./notify.ts');
    for (const r of rows) {
      // Claim first: a message another process is sending (claimed less than CLAIM_STALE_MS ago) is skipped.
      const claimed = this.store.write((_w, now) =>
        this.db
          .prepare("UPDATE notifications SET claimed_at = ? WHERE id = ? AND status = 'queued' AND (claimed_at IS NULL OR claimed_at < ?)")
          .run(now, r.id, new Date(Date.parse(now) - CLAIM_STALE_MS).toISOString()).changes === 1,
      );
      if (!claimed) continue;
      const file = fileById(this.db, r.eml_file_id);
      const abs = absolutePath(this.store.dataDir, file.path);
      try {
        const eml = Buffer.from(readStoredFile(this.store.dataDir, file));
        const parsed = parseEml(eml);
        const note = this.db.prepare('SELECT * FROM notifications WHERE id = ?').get(r.id) as { message_id: string; recipient: string };
        await this.transport.send({ to: note.recipient, from: this.from, subject: parsed.subject, text: parsed.text, date: new Date(), messageId: note.message_id }, eml);
      } catch (err) {
        this.store.write(() => this.db.prepare('UPDATE notifications SET error = ?, claimed_at = NULL WHERE id = ?').run(String((err as Error).message).slice(0, 500), r.id));
        failed++;
        continue;
      }
      // The sent .eml holds a live link: inside the transaction it gets a temporary's name, so a crash
      // or another process's sweep deletes it rather than keeping it in lost+found/.
      const doomed = join(dirname(abs), `.${basename(abs)}.${randomBytes(6).toString('hex')}.tmp`);
      try {
        this.store.write((_w, now) => {
          this.db.prepare("UPDATE notifications SET status = 'sent', sent_at = ?, eml_file_id = NULL, error = NULL WHERE id = ?").run(now, r.id);
          this.db.prepare('DELETE FROM files WHERE id = ?').run(file.id);
          renameSync(abs, doomed);
        });
      } catch (err) {
        if (existsSync(doomed)) renameSync(doomed, abs); // rolled back: the row still registers the file
        throw err;
      }
      rmSync(doomed, { force: true });
      sent++;
    }
    return { sent, failed };
  }


  private sentEvent(m: PreparedMessage, at: string, signatories: SignatoryRow[]): EventDraft {
    const s = signatories.find((x) => x.position === m.signatoryPosition);
    return {
      type: 'sent',
      actor: 'Zielwerk',
      at,
      details: { kind: m.kind, to: m.to.email, recipient: m.to.name, ...(s ? { signatory: s.ref } : { role: 'Sachbearbeitung' }), messageId: m.messageId, withLink: !!m.token },
    };
  }

  /** Composes a message (and, where it carries a link, mints the link's token). */
  private async prepareMessage(
    snap: Snapshot,
    kind: NotificationKind,
    to: SignatoryRow | null,
    extra: { expiresAt?: string; declinedBy?: { name: string; role: string; reason: string }; cancelledReason?: string; completedFiles?: string[] },
  ): Promise<PreparedMessage> {
    const recipient = to ? { name: to.name, email: to.email! } : { name: snap.envelope.clerk_name, email: snap.envelope.clerk_email };
    const withLink = kind === 'invite' || kind === 'turn' || kind === 'reminder';
    const minted = withLink ? mintToken() : null;
    const link = minted ? linkFor(this.baseUrl, minted.token) : undefined;
    const waitingFor = to ? snap.signatories.filter((s) => s.position < to.position && s.status === 'pending').map((s) => s.name) : [];
    const msg = composeMessage({
      kind,
      to: recipient,
      agreementTitle: snap.agreement.title,
      partnerName: snap.agreement.partner_name,
      signatoryRole: to?.role,
      position: to ? { index: to.position, total: snap.signatories.length, waitingFor } : undefined,
      link,
      expiresAt: extra.expiresAt,
      declinedBy: extra.declinedBy,
      cancelledReason: extra.cancelledReason,
      completedFiles: extra.completedFiles,
      from: this.from,
      sentAt: this.store.clock(),
    });
    const eml = await toEml(msg);
    const day = this.store.now().slice(0, 10);
    return {
      kind,
      signatoryPosition: to?.position ?? null,
      to: recipient,
      subject: msg.subject,
      body: link ? redact(msg.text, link) : msg.text,
      messageId: msg.messageId,
      eml,
      path: `outbox/${day}/${snap.agreement.file_base}-${kind}-${slug(recipient.name)}-${randomBytes(4).toString('hex')}.eml`,
      token: minted && to ? { hash: minted.hash, expiresAt: extra.expiresAt! } : undefined,
    };
  }

  private async renderReport(snap: Snapshot, newEvents: AuditEvent[], outcome: Exclude<EnvelopeStatus, 'open'>, signed?: { path: string; bytes: Uint8Array }): Promise<NewFile> {
    const a = snap.agreement;
    const events = [...readEvents(this.db, snap.envelope.id), ...newEvents];
    const draft = fileById(this.db, a.pdf_file_id);
    const documents: AuditReportData['documents'] = [{ label: 'Ausgangsdokument (Entwurf)', fileName: draft.path.split('/').pop()!, sha256: draft.sha256, size: draft.size }];
    if (signed) documents.push({ label: 'Signiertes Dokument', fileName: signed.path.split('/').pop()!, sha256: sha256Hex(signed.bytes), size: signed.bytes.length });
    const chain = checkChain(events, { count: events.length, head: events[events.length - 1]?.hash ?? '' });
    const completedEvent = events.find((e) => e.type === 'completed' && e.details.writtenForm !== undefined);
    const data: AuditReportData = {
      envelopeId: String(snap.envelope.id),
      agreement: {
        title: a.title,
        type: a.type,
        year: a.year,
        partnerName: a.partner_name,
        amountText: a.amount_cents === null ? '–' : formatEuro(a.amount_cents / 100),
        version: a.version,
        edition: a.edition,
        agreementId: String(a.id),
      },
      status: ENVELOPE_STATUS_LABELS[outcome],
      generatedAt: events[events.length - 1]?.at ?? this.store.now(),
      documents,
      signatories: snap.signatories.map((s) => {
        const signedEvent = [...events].reverse().find((e) => e.type === 'signed' && e.details.signatory === s.ref);
        const d = signedEvent?.details as { place?: string; date?: string; certificate?: { subject: string; serial: string; sha256: string }; level?: Level; signer?: { description?: string } } | undefined;
        return {
          position: s.position,
          name: s.name,
          role: s.role,
          party: s.party === 'ministry' ? 'Ministerium' : a.partner_name,
          email: s.email,
          status: s.status === 'signed' ? 'unterzeichnet' : s.status === 'declined' ? 'abgelehnt' : 'ausstehend',
          signedAt: s.signed_at,
          place: s.place ?? d?.place ?? null,
          date: s.stamp_date ?? d?.date ?? null,
          certificate: s.certificate_sha256
            ? { subject: s.certificate_subject!, issuer: s.certificate_issuer!, serial: s.certificate_serial!, sha256: s.certificate_sha256 }
            : d?.certificate
              ? { subject: d.certificate.subject, issuer: 'Zielwerk Demo-CA', serial: d.certificate.serial, sha256: d.certificate.sha256 }
              : null,
          declineReason: s.decline_reason ?? (newEvents.find((e) => e.type === 'declined' && e.details.signatory === s.ref)?.details.reason as string | undefined) ?? null,
          level: (s.level ?? d?.level) ? LEVEL_LABELS[(s.level ?? d?.level)!] : null,
          signer: d?.signer?.description ?? null,
        };
      }),
      events: events.map((e) => ({
        seq: e.seq,
        at: e.at,
        type: e.type,
        typeLabel: EVENT_LABELS[e.type],
        actor: e.actor,
        details: describeDetails(e),
        docBefore: e.docBefore,
        docAfter: e.docAfter,
        prevHash: e.prevHash,
        hash: e.hash,
      })),
      chain: { ok: chain.ok, head: chain.head, text: chain.ok ? `Hash-Kette vollständig und unverändert (${events.length} Ereignisse)` : `Hash-Kette fehlerhaft: ${chain.problems.join('; ')}` },
      archiveTimestamp: (completedEvent?.details.archiveTimestamp as { time: string | null; tsa: string | null } | null | undefined) ?? null,
      writtenForm: completedEvent ? { met: !!completedEvent.details.writtenForm, text: writtenFormText({ writtenForm: !!completedEvent.details.writtenForm, writtenFormReasons: (completedEvent.details.writtenFormReasons as string[] | undefined) ?? [] }) } : null,
    };
    const bytes = await renderAuditReport(data);
    const dir = `signatures/${a.year}/${a.file_base}/v${a.version}`;
    const path = outcome === 'completed' ? `${dir}/${a.file_base}-signaturprotokoll.pdf` : `${dir}/envelope-${snap.envelope.id}/signaturprotokoll-${outcome}.pdf`;
    return { path, kind: 'audit-report', bytes };
  }
}

/** A "sent" event for a link the clerk asked to resend: their name as actor, marked as resent. */
function resentBy(event: EventDraft, actor: string): EventDraft {
  return { ...event, actor, details: { ...event.details, resent: true } };
}

/** One German line per event for the report. */
export function describeDetails(e: AuditEvent): string {
  const d = e.details as Record<string, any>;
  switch (e.type) {
    case 'created':
      return `Vereinbarung #${d.agreementId}, Version ${d.version}; Reihenfolge: ${(d.signatories ?? []).join('; ')}`;
    case 'sent':
      return `${({ invite: 'Einladung', turn: 'Aufforderung (an der Reihe)', reminder: 'Erinnerung', declined: 'Ablehnung an Sachbearbeitung', cancelled: 'Stornierung', completed: 'Abschlussmitteilung' } as Record<string, string>)[d.kind] ?? d.kind} an ${d.recipient} <${d.to}>${d.withLink ? ' mit persönlichem Link' : ''}${d.resent ? ' (erneut gesendet)' : ''}`;
    case 'opened':
      return `Signaturlink von ${d.signatory} geöffnet`;
    case 'signed':
      return `${d.name} (${d.role}), ${d.place}, den ${d.date}; Zertifikat ${d.certificate?.serial ?? '?'}${d.level ? `; ${LEVEL_LABELS[d.level as Level]}` : ''}${d.signer?.description ? `; ${d.signer.description}` : ''}${d.batch ? `; Stapelsignatur ${d.batch} (${d.batchSize} Vereinbarungen)` : ''}${d.backdated ? `; Datum ${d.date} statt des Signiertags ${d.signingDay}, Begründung: „${d.backdateReason}“` : ''}`;
    case 'declined':
      return `${d.role}: „${d.reason}“`;
    case 'cancelled':
      return d.reason ? `Grund: „${d.reason}“` : 'ohne Angabe eines Grundes';
    case 'completed':
      return `alle ${d.signatures} Unterschriften geleistet${d.writtenForm === undefined ? '' : d.writtenForm ? '; Schriftform elektronisch gewahrt' : '; Schriftform nicht gewahrt'}`;
    case 'renewed': {
      const t = d.timestamp as { time?: string; tsa?: string | null } | undefined;
      const kb = (n: unknown) => `${(Number(n) / 1024).toFixed(1)} KB`;
      return `neuer Archivzeitstempel${t?.time ? ` vom ${new Date(t.time).toLocaleString('de-DE', { timeZone: 'Europe/Berlin' })}` : ''}${t?.tsa ? ` (${t.tsa.replace(/^CN=([^,]+).*$/, '$1')})` : ''}; ${d.reason ?? ''}; ${kb(d.oldSize)} → ${kb(d.newSize)}`;
    }
    default:
      return Object.keys(d).length ? JSON.stringify(d) : '';
  }
}
