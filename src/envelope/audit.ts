/**
 * The audit trail: one hash chain per envelope. Each event's hash covers its content and the
 * previous event's hash; the envelope row keeps the count and the head, so an edited, removed or
 * re-ordered event — including the last one — is detected.
 */
import type { Db } from '../store/db.ts';
import { sha256Hex } from '../digest.ts';

export const EVENT_TYPES = [
  'created',
  'sent',
  'opened',
  'signed',
  'declined',
  'cancelled',
  'completed',
  'downloaded',
  'exported',
  'verified',
  'renewed',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export const EVENT_LABELS: Record<EventType, string> = {
  created: 'Umschlag erstellt',
  sent: 'Benachrichtigung versandt',
  opened: 'Dokument geöffnet',
  signed: 'Unterzeichnet',
  declined: 'Abgelehnt',
  cancelled: 'Storniert',
  completed: 'Vollständig unterzeichnet',
  downloaded: 'Heruntergeladen',
  exported: 'Exportiert',
  verified: 'Geprüft',
  renewed: 'Archivzeitstempel erneuert',
};

/** An event before it is chained. */
export interface EventDraft {
  type: EventType;
  actor: string;
  at: string;
  docBefore?: string | null;
  docAfter?: string | null;
  details?: Record<string, unknown>;
}

export interface AuditEvent {
  envelopeId: number;
  seq: number;
  type: EventType;
  actor: string;
  at: string;
  docBefore: string | null;
  docAfter: string | null;
  details: Record<string, unknown>;
  prevHash: string;
  hash: string;
}

export const GENESIS_HASH = '0'.repeat(64);

/** Stable JSON: object keys sorted, so the hash does not depend on insertion order. */
export const canonicalJson = (value: unknown): string => stable(value);

function stable(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stable).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value as object)
      .sort()
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${stable((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

export function eventHash(e: Omit<AuditEvent, 'hash'>): string {
  const content = stable({
    envelopeId: e.envelopeId,
    seq: e.seq,
    type: e.type,
    actor: e.actor,
    at: e.at,
    docBefore: e.docBefore,
    docAfter: e.docAfter,
    details: e.details,
    prevHash: e.prevHash,
  });
  return sha256Hex(content);
}

/** Chains drafts onto a head (seq of the last event, its hash). */
export function chainEvents(envelopeId: number, head: { count: number; hash: string }, drafts: EventDraft[]): AuditEvent[] {
  const out: AuditEvent[] = [];
  let prev = head.hash || GENESIS_HASH;
  let seq = head.count;
  for (const d of drafts) {
    seq += 1;
    const base = {
      envelopeId,
      seq,
      type: d.type,
      actor: d.actor,
      at: d.at,
      docBefore: d.docBefore ?? null,
      docAfter: d.docAfter ?? null,
      details: d.details ?? {},
      prevHash: prev,
    };
    const hash = eventHash(base);
    out.push({ ...base, hash });
    prev = hash;
  }
  return out;
}

/** Inserts chained events and moves the envelope's head; inside the caller's transaction. */
export function insertEvents(db: Db, events: AuditEvent[]): void {
  if (events.length === 0) return;
  const insert = db.prepare(
    'INSERT INTO audit_events (envelope_id, seq, type, actor, at, doc_before, doc_after, details, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?)',
  );
  for (const e of events) insert.run(e.envelopeId, e.seq, e.type, e.actor, e.at, e.docBefore, e.docAfter, JSON.stringify(e.details), e.prevHash, e.hash);
  const last = events[events.length - 1]!;
  db.prepare('UPDATE envelopes SET event_count = ?, head_hash = ? WHERE id = ?').run(last.seq, last.hash, last.envelopeId);
}

interface EventRow {
  envelope_id: number;
  seq: number;
  type: EventType;
  actor: string;
  at: string;
  doc_before: string | null;
  doc_after: string | null;
  details: string;
  prev_hash: string;
  hash: string;
}

export function readEvents(db: Db, envelopeId: number): AuditEvent[] {
  const rows = db.prepare('SELECT * FROM audit_events WHERE envelope_id = ? ORDER BY seq').all(envelopeId) as EventRow[];
  return rows.map((r) => {
    let details: Record<string, unknown>;
    try {
      details = JSON.parse(r.details);
    } catch {
      details = { unparseable: r.details };
    }
    return {
      envelopeId: r.envelope_id,
      seq: r.seq,
      type: r.type,
      actor: r.actor,
      at: r.at,
      docBefore: r.doc_before,
      docAfter: r.doc_after,
      details,
      prevHash: r.prev_hash,
      hash: r.hash,
    };
  });
}

export interface ChainCheck {
  ok: boolean;
  count: number;
  head: string;
  problems: string[];
}

/** Recomputes every hash and link of an envelope's chain and compares the end with the envelope's head. */
export function checkChain(events: AuditEvent[], expected: { count: number; head: string }): ChainCheck {
  const problems: string[] = [];
  let prev = GENESIS_HASH;
  let lastSeq = 0;
  events.forEach((e) => {
    if (e.seq !== lastSeq + 1) problems.push(`event${e.seq - lastSeq > 2 ? 's' : ''} #${lastSeq + 1}${e.seq - lastSeq > 2 ? `–#${e.seq - 1}` : ''} missing before #${e.seq}`);
    lastSeq = e.seq;
    if (e.prevHash !== prev) problems.push(`event #${e.seq} (${e.type}) does not follow its predecessor (previous hash differs)`);
    const { hash, ...rest } = e;
    if (eventHash(rest) !== hash) problems.push(`event #${e.seq} (${e.type}) was altered (its hash does not match its content)`);
    prev = hash;
  });
  if (events.length !== expected.count) problems.push(`the envelope records ${expected.count} events, the trail has ${events.length}`);
  else if (prev !== (expected.head || GENESIS_HASH) && events.length > 0) problems.push('the last event is not the recorded head of the chain');
  return { ok: problems.length === 0, count: events.length, head: prev, problems };
}
