/**
 * Certificates this instance trusts as anchors for signatures besides its own demo CA (which the
 * key store provides): the CA of a county's signature cards, a trust service provider's root.
 * Kept in the database, so backups carry them and every process sees the same set.
 */
import { X509Certificate } from 'node:crypto';
import type { Store } from './store.ts';

export class TrustError extends Error {}

export interface TrustAnchor {
  sha256: string;
  subject: string;
  notAfter: string;
  qualified: boolean;
  source: string;
  addedAt: string;
  addedBy: string;
  der: Uint8Array;
}

interface Row {
  sha256: string;
  der: Buffer;
  subject: string;
  not_after: string;
  qualified: number;
  source: string;
  added_at: string;
  added_by: string;
}

const toAnchor = (r: Row): TrustAnchor => ({ sha256: r.sha256, subject: r.subject, notAfter: r.not_after, qualified: r.qualified === 1, source: r.source, addedAt: r.added_at, addedBy: r.added_by, der: new Uint8Array(r.der) });

/** Adds (or, if present, keeps) a CA certificate as a trust anchor. Only CA certificates are accepted. */
export function addTrustAnchor(store: Store, der: Uint8Array, opts: { addedBy: string; source?: string; qualified?: boolean }): { anchor: TrustAnchor; added: boolean } {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(der);
  } catch (e) {
    throw new TrustError(`not an X.509 certificate: ${(e as Error).message}`);
  }
  if (!cert.ca) throw new TrustError(`${cert.subject.split('\n').join(', ')} is not a CA certificate (basicConstraints cA is not set): trust the CA that issued it instead`);
  const sha256 = cert.fingerprint256.replace(/:/g, '').toLowerCase();
  return store.write((_files, now) => {
    const existing = store.db.prepare('SELECT * FROM trust_anchors WHERE sha256 = ?').get(sha256) as Row | undefined;
    if (existing) {
      // Adding again may change how far it is trusted (marking it qualified, or no longer).
      if (opts.qualified !== undefined && (existing.qualified === 1) !== opts.qualified) {
        store.db.prepare('UPDATE trust_anchors SET qualified = ?, source = ?, added_at = ?, added_by = ? WHERE sha256 = ?').run(opts.qualified ? 1 : 0, opts.source ?? 'cli', now, opts.addedBy, sha256);
        return { anchor: toAnchor(store.db.prepare('SELECT * FROM trust_anchors WHERE sha256 = ?').get(sha256) as Row), added: false };
      }
      return { anchor: toAnchor(existing), added: false };
    }
    store.db
      .prepare('INSERT INTO trust_anchors (sha256, der, subject, not_after, qualified, source, added_at, added_by) VALUES (?,?,?,?,?,?,?,?)')
      .run(sha256, Buffer.from(der), cert.subject.split('\n').join(', '), new Date(cert.validTo).toISOString(), opts.qualified ? 1 : 0, opts.source ?? 'cli', now, opts.addedBy);
    return { anchor: toAnchor(store.db.prepare('SELECT * FROM trust_anchors WHERE sha256 = ?').get(sha256) as Row), added: true };
  });
}

export function listTrustAnchors(store: Store): TrustAnchor[] {
  return (store.db.prepare('SELECT * FROM trust_anchors ORDER BY added_at, sha256').all() as Row[]).map(toAnchor);
}

/** Removes the anchor whose SHA-256 fingerprint is `fingerprint` (hex, colons and case ignored; a unique prefix of ≥ 8 digits is enough). */
export function removeTrustAnchor(store: Store, fingerprint: string): TrustAnchor {
  const wanted = fingerprint.replace(/:/g, '').toLowerCase();
  if (!/^[0-9a-f]{8,64}$/.test(wanted)) throw new TrustError('a fingerprint is the certificate\'s SHA-256 in hex (at least 8 digits), as `zv trust list` shows it');
  return store.write(() => {
    const rows = store.db.prepare("SELECT * FROM trust_anchors WHERE sha256 LIKE ? || '%'").all(wanted) as Row[];
    if (rows.length === 0) throw new TrustError(`no trust anchor with fingerprint ${wanted}`);
    if (rows.length > 1) throw new TrustError(`${rows.length} trust anchors start with ${wanted}: give more digits`);
    store.db.prepare('DELETE FROM trust_anchors WHERE sha256 = ?').run(rows[0]!.sha256);
    return toAnchor(rows[0]!);
  });
}

/** The DER certificates of all configured anchors. */
export function trustAnchorCertificates(store: Store): Uint8Array[] {
  return (store.db.prepare('SELECT der FROM trust_anchors').all() as { der: Buffer }[]).map((r) => new Uint8Array(r.der));
}
