/**
 * Benchmark: what long-term validation costs, printed as figures.
 * 1. Size: the draft, each signature (PAdES B-T, with its time-stamp), and the B-LTA finish
 *    (DSS with VRI + document time-stamp + the time-stamp's own validation data).
 * 2. `zv archive renew` over 52 archived agreements (AQB and SGB II 2023, all completed), in-process.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SigningService } from '../src/envelope/service.ts';
import { generateIntoStore, readAgreementInputs } from '../src/store/agreements.ts';
import { readContactsFile } from '../src/envelope/contacts.ts';
import { absolutePath, fileById } from '../src/store/files.ts';
import { newestLink } from '../src/demo.ts';
import { renewArchive } from '../src/archive/renew.ts';

const root = new URL('..', import.meta.url).pathname;
const passphrase = process.env.ZV_KEY_PASSPHRASE ?? 'bench-passphrase-123';
const work = mkdtempSync(join(tmpdir(), 'zv-bench-ltv-'));
const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;

try {
  const svc = SigningService.open({ dataDir: work, passphrase, warn: () => {}, transport: null });
  const inputs = [...(await readAgreementInputs(join(root, 'examples/aqb-2023-hessen.json'))), ...(await readAgreementInputs(join(root, 'examples/sgb2-2023-hessen.json')))];
  const rows = await generateIntoStore(svc.store, inputs, 'bench');
  // The SGB II signatories the AQB contacts lack get an address of the same shape.
  const raw = JSON.parse(readFileSync(join(root, 'examples/aqb-2023-kontakte.json'), 'utf8')) as { clerk: unknown; signatories: { party: string; name: string; email: string }[] };
  const known = new Set(raw.signatories.map((s) => `${s.party}|${s.name}`));
  const sgb2 = JSON.parse(readFileSync(join(root, 'examples/sgb2-2023-hessen.json'), 'utf8')) as { signatories: { ministry: { name: string }[]; partner?: { name: string }[] }; agreements: { partner: string; signatories?: { partner?: { name: string }[] } }[] };
  const add = (party: string, name: string) => {
    if (known.has(`${party}|${name}`)) return;
    known.add(`${party}|${name}`);
    raw.signatories.push({ party, name, email: `${name.toLowerCase().normalize('NFD').replace(/[^a-z ]/g, '').replace(/ +/g, '.')}@${party}.example` });
  };
  for (const m of sgb2.signatories.ministry) add('ministry', m.name);
  for (const a of sgb2.agreements) for (const p of a.signatories?.partner ?? sgb2.signatories.partner ?? []) add(a.partner, p.name);
  const contactsPath = join(work, 'kontakte.json');
  writeFileSync(contactsPath, JSON.stringify(raw));
  const contacts = readContactsFile(contactsPath);
  const sizes: { draft: number; steps: number[]; final: number; beforeLta: number }[] = [];
  const t0 = performance.now();
  // One type after the other: a county's Landrat signs both, and the newest mailed link is the one to use.
  for (const type of ['aqb', 'sgb2'] as const) {
    await svc.openEnvelopes(rows.filter((r) => r.type === type).map((r) => r.id), contacts, 'bench');
    for (const name of ['Kai Klose', ...sgb2.signatories.ministry.map((m) => m.name)]) {
      const waiting = svc.awaitingMinistry({ name, type });
      if (waiting.length) await svc.signAsMinistry(waiting.map((s) => s.envelope.id), { name });
    }
    for (let round = 0; round < 4; round++) {
      for (const snap of svc.listEnvelopes({ status: 'open', type })) {
        const cur = SigningService.current(snap);
        if (cur?.email) await svc.signWithLink(newestLink(svc, cur.email));
      }
    }
  }
  const signSeconds = (performance.now() - t0) / 1000;
  const completed = svc.listEnvelopes({ status: 'completed' });
  for (const snap of completed) {
    const draft = fileById(svc.store.db, snap.agreement.pdf_file_id).size;
    const steps = (svc.store.db.prepare("SELECT size FROM files WHERE kind IN ('signed-step', 'signed-pdf') AND path LIKE ? ORDER BY id").pluck().all(`signatures/${snap.agreement.year}/${snap.agreement.file_base}/v${snap.agreement.version}/%`) as number[]);
    const final = statSync(absolutePath(work, fileById(svc.store.db, snap.envelope.current_file_id!).path)).size;
    sizes.push({ draft, steps: steps.slice(0, -1), final, beforeLta: 0 });
  }
  const perSignature: number[] = [];
  for (const s of sizes) {
    let prev = s.draft;
    for (const step of s.steps) {
      perSignature.push(step - prev);
      prev = step;
    }
    s.beforeLta = prev;
  }
  const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  // The last signature and the B-LTA finish are one file: the last signature is as large as the others on average.
  const lastPlusLta = sizes.map((s) => s.final - s.beforeLta);
  console.log(`\nLong-term validation (${completed.length} completed agreements, AQB + SGB II 2023; signing took ${signSeconds.toFixed(1)} s)`);
  console.log(`  draft PDF: ${kb(avg(sizes.map((s) => s.draft)))} on average`);
  console.log(`  per signature (B-T, incl. its time-stamp): +${kb(avg(perSignature))} on average (${perSignature.length} signatures before the last of each envelope)`);
  console.log(`  last signature + B-LTA finish (DSS/VRI, document time-stamp, its validation data): +${kb(avg(lastPlusLta))} → B-LTA share ≈ +${kb(avg(lastPlusLta) - avg(perSignature))}`);
  console.log(`  final PDF: ${kb(avg(sizes.map((s) => s.final)))} on average`);

  const r0 = performance.now();
  const result = await renewArchive(svc, { before: new Date(Date.now() + 50 * 365 * 86_400_000), actor: 'bench' });
  const renewSeconds = (performance.now() - r0) / 1000;
  const done = result.items.filter((i) => i.status === 'renewed');
  const renewed = done.length;
  const growth = avg(done.map((r) => r.newSize! - r.oldSize));
  console.log(`  zv archive renew (every file due): ${renewed} renewed in ${renewSeconds.toFixed(1)} s → ${((renewSeconds / Math.max(1, renewed)) * 1000).toFixed(0)} ms per agreement, +${kb(growth)} per renewal`);
  svc.close();
} finally {
  rmSync(work, { recursive: true, force: true });
}
