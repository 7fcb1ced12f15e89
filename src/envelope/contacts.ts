/**
 * Who gets the notifications: the clerk responsible for the envelopes and an e-mail address for
 * every partner signatory (the ministry signs inside Zielwerk and needs none). Kept apart from the
 * agreement input on purpose: addresses are not part of the archived document.
 */
import { z } from 'zod';
import { readJsonFile } from '../input.ts';
import { ValidationError } from '../model/agreement.ts';

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
