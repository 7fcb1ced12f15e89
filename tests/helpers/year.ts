/**
 * A data directory with a year's envelopes open (AQB 2023, all 26 or some partners), made through
 * the real services; and the personal link a signatory finds in their outbox mail.
 */
import { join } from 'node:path';
import { SigningService } from '../../src/envelope/service.ts';
import { readContactsFile } from '../../src/envelope/contacts.ts';
import { generateIntoStore, readAgreementInputs } from '../../src/store/agreements.ts';
import { newestLink } from '../../src/demo.ts';
import { PASSPHRASE } from './signing.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
export const AQB_BATCH = join(ROOT, 'examples', 'aqb-2023-hessen.json');
export const CONTACTS_FILE = join(ROOT, 'examples', 'aqb-2023-kontakte.json');
export const CONTACTS = readContactsFile(CONTACTS_FILE);

/** `baseUrl` also goes into the certificates' CRL and OCSP addresses (/pki/…). */
export const openService = (dataDir: string, baseUrl = 'https://zielwerk.test') => SigningService.open({ dataDir, passphrase: PASSPHRASE, transport: null, baseUrl });

/** Generates the AQB 2023 agreements (of `partners`, default all 26) and opens their envelopes. */
export async function openYear(dataDir: string, partners?: string[], baseUrl?: string): Promise<number[]> {
  const svc = openService(dataDir, baseUrl);
  try {
    const inputs = (await readAgreementInputs(AQB_BATCH)).filter((r) => !partners || partners.includes(r.partner.id));
    const rows = await generateIntoStore(svc.store, inputs, 'Sachbearbeitung (Test)');
    const snaps = await svc.openEnvelopes(rows.map((r) => r.id), CONTACTS, 'Sachbearbeitung (Test)');
    return snaps.map((s) => s.envelope.id);
  } finally {
    svc.close();
  }
}

/** The newest personal link mailed to `email` (from the .eml in outbox/). */
export function linkOf(dataDir: string, email: string): string {
  const svc = openService(dataDir);
  try {
    return newestLink(svc, email);
  } finally {
    svc.close();
  }
}

/** Envelope states by status. */
export function envelopeCounts(dataDir: string): { open: number; completed: number; ministryPending: number; ministrySigned: number } {
  const svc = openService(dataDir);
  try {
    const all = svc.listEnvelopes({});
    const ministry = all.flatMap((s) => s.signatories.filter((x) => x.party === 'ministry'));
    return {
      open: all.filter((s) => s.envelope.status === 'open').length,
      completed: all.filter((s) => s.envelope.status === 'completed').length,
      ministryPending: ministry.filter((x) => x.status === 'pending').length,
      ministrySigned: ministry.filter((x) => x.status === 'signed').length,
    };
  } finally {
    svc.close();
  }
}
