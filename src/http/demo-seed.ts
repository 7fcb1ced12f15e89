/**
 * `zv serve --demo`: seeds the 2023 example year into an empty data directory — the 26 AQB
 * agreements as drafts, the signatories' (fictional) e-mail addresses, and one account per role,
 * so the whole flow can be clicked through: open envelopes, sign as minister, sign by link, archive.
 */
import { readAgreementInputs, generateIntoStore } from '../store/agreements.ts';
import { readContactsFile, saveContacts } from '../envelope/contacts.ts';
import { DEMO_BATCH, DEMO_CONTACTS } from '../demo.ts';
import { randomToken } from './accounts.ts';
import type { AppContext } from './context.ts';
import type { Role } from './roles.ts';

export const DEMO_USERS: { username: string; displayName: string; roles: Role[]; email: string }[] = [
  { username: 'sachbearbeitung', displayName: 'Sachbearbeitung AQB', roles: ['clerk'], email: 'aqb@hmsi.example' },
  { username: 'minister', displayName: 'Kai Klose', roles: ['ministry'], email: 'minister@hmsi.example' },
  { username: 'archiv', displayName: 'Archiv HMSI', roles: ['archivist'], email: 'archiv@hmsi.example' },
];

export async function seedDemo(ctx: AppContext, opts: { print: (line: string) => void; env: NodeJS.ProcessEnv }): Promise<void> {
  const db = ctx.svc.store.db;
  const agreements = (db.prepare('SELECT count(*) AS n FROM agreements').get() as { n: number }).n;
  if (agreements > 0) {
    opts.print('Demo: das Datenverzeichnis enthält bereits Vereinbarungen – es wird nichts hinzugefügt.');
    return;
  }
  const contacts = readContactsFile(DEMO_CONTACTS);
  saveContacts(ctx.svc.store, contacts.signatories, 'Demo');
  const generated = await generateIntoStore(ctx.svc.store, await readAgreementInputs(DEMO_BATCH), 'Demo');
  opts.print(`Demo: ${generated.length} AQB-Vereinbarungen 2023 als Entwurf angelegt, ${contacts.signatories.length} E-Mail-Adressen hinterlegt.`);
  const password = opts.env.ZV_DEMO_PASSWORD || randomToken(12);
  for (const u of DEMO_USERS) {
    if (ctx.accounts.byUsername(u.username)) continue;
    await ctx.accounts.create({ ...u, password });
  }
  opts.print(`Demo-Konten: ${DEMO_USERS.map((u) => u.username).join(', ')} – Passwort ${opts.env.ZV_DEMO_PASSWORD ? 'aus ZV_DEMO_PASSWORD' : `(nur jetzt angezeigt): ${password}`}`);
}
