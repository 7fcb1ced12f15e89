/**
 * Who gets the notifications: the clerk responsible for the envelopes and an e-mail address for
 * every partner signatory (the ministry signs inside Zielwerk and needs none). Kept apart from the
 * agreement input on purpose: addresses are not part of the archived document.
 */
import { z } from 'zod';
import { readJsonFile } from '../input.ts';
import { ValidationError } from '../model/agreement.ts';
import type { Db } from '../store/db.ts';
import type { Store } from '../store/store.ts';

const Email = z.email({ message: 'must be an e-mail address (name@example.org)' });
const Name = z.string().trim().min(1, { message: 'must not be empty' }).max(120, { message: 'must be at most 120 characters' });

export const Contacts = z.strictObject({
  clerk: z.strictObject({ name: Name, email: Email }),
  signatories: z.array(
    z.strictObject({
      /** "ministry" or the partner's id (e.g. "werra-meissner-kreis"). */
      party: z.string().min(1),
      name: Name,
      email: Email,
    }),
  ),
});
export type Contacts = z.infer<typeof Contacts>;

export function parseContacts(data: unknown, source = 'contacts'): Contacts {
  const r = Contacts.safeParse(data);
  if (!r.success) {
    throw new ValidationError(
      r.error.issues.map((i) => ({ path: i.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '') || '(root)', message: i.message })),
      source,
    );
  }
  return r.data;
}

export function readContactsFile(path: string): Contacts {
  const src = readJsonFile(path);
  return parseContacts(src.data, src.path);
}

/** The address of a signatory of `party` ("ministry" or a partner id), matched by name (case and spacing ignored). */
export function emailFor(contacts: Contacts, party: string, name: string): string | undefined {
  const norm = (s: string) => s.normalize('NFC').replace(/\s+/g, ' ').trim().toLowerCase();
  return contacts.signatories.find((c) => c.party === party && norm(c.name) === norm(name))?.email;
}

/** A stored e-mail address of a signatory (the web app's contact list). */
export interface StoredContact {
  /** "ministry" or the partner's id. */
  party: string;
  name: string;
  email: string;
  updated_at: string;
  updated_by: string;
}

export function storedContacts(db: Db): StoredContact[] {
  return db.prepare('SELECT party, name, email, updated_at, updated_by FROM contacts ORDER BY party, name').all() as StoredContact[];
}

/** Adds or updates addresses (by party and name) in one transaction; returns how many rows changed. */
export function saveContacts(store: Store, list: { party: string; name: string; email: string }[], actor: string): number {
  return store.write((_f, now) => {
    const upsert = store.db.prepare(
      'INSERT INTO contacts (party, name, email, updated_at, updated_by) VALUES (?, ?, ?, ?, ?) ON CONFLICT (party, name) DO UPDATE SET email = excluded.email, updated_at = excluded.updated_at, updated_by = excluded.updated_by WHERE contacts.email <> excluded.email',
    );
    let changed = 0;
    for (const c of list) changed += upsert.run(c.party, c.name, c.email, now, actor).changes;
    return changed;
  });
}
