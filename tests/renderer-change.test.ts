/**
 * Signature validity is not tied to Zielwerk's renderer: an agreement signed today must still
 * verify when a later Zielwerk lays text out differently. The later renderer is simulated by
 * turning hyphenation off; the re-rendering then no longer reproduces the pages, which verify
 * reports — as an informational finding, while every signature stays TOTAL_PASSED.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { renderPdf } from '../src/render/pdf/index.ts';
import { recompose } from '../src/sign/reproduce.ts';
import { pageContents, verifyAgreement } from '../src/sign/verify.ts';
import { RevocationFetcher } from '../src/sign/revocation.ts';
import { PDF } from '@libpdf/core';
import { agreementPdf, signInOrder, testStore } from './helpers/signing.ts';
import { tempDir } from './helpers/tools.ts';

const OFFENBACH = new URL('../examples/aqb-2024-landkreis-offenbach.json', import.meta.url).pathname;
const tmp = tempDir('zv-renderer-');
let signed: Uint8Array;
let caDer: Uint8Array;
/** The demo certificates name a CRL and an OCSP responder: the key store answers them in-process. */
let revocation: RevocationFetcher;

before(async () => {
  const made = await testStore(join(tmp.dir, 'keys'));
  caDer = made.caDer;
  revocation = new RevocationFetcher({ local: made.store.localRevocation() });
  const states = await signInOrder(made.store, await agreementPdf(OFFENBACH, '2024-03-12'), ['ministry:1', 'partner:1']);
  signed = states.at(-1)!;
});
after(() => tmp.cleanup());

test('the current renderer reproduces the pages: "Inhalt entspricht den eingebetteten Daten (Fassung 2024, Zielwerk …)"', async () => {
  const r = await verifyAgreement(signed, { trust: [caDer], revocation });
  assert.equal(r.reproduction.status, 'match', r.reproduction.detail);
  assert.match(r.reproduction.detail, /\(Fassung 2024, erzeugt von Zielwerk \d+\.\d+\.\d+, neu gesetzt mit Zielwerk \d+\.\d+\.\d+\)/);
  assert.deepEqual([r.reproduction.edition, r.reproduction.generator], ['2024', r.reproduction.renderer]);
  assert.match(r.reproduction.summary!, /^Inhalt entspricht den eingebetteten Daten \(Fassung 2024, erzeugt von Zielwerk \d+\.\d+\.\d+/);
  assert.deepEqual(r.signatures.map((s) => s.indication), ['TOTAL_PASSED', 'TOTAL_PASSED']);
});

test('a renderer without hyphenation lays the pages out differently; the signatures still pass and the verdict stays valid', async () => {
  const later = (doc: Parameters<typeof recompose>[0]) => renderPdf(recompose(doc).tree, { hyphenation: false });
  // The change is real: the later renderer gives other page content for the same data.
  const doc = await (await import('../src/sign/agreement-pdf.ts')).readAgreementPdf(signed);
  const before = pageContents(doc.pdf);
  const after = pageContents(await PDF.load(await later(doc)));
  assert.ok(before.some((p, i) => p !== after[i]), 'hyphenation off changes at least one page');

  const r = await verifyAgreement(signed, { trust: [caDer], render: later, revocation });
  assert.equal(r.reproduction.status, 'mismatch');
  // Without hyphens the total-fit breaker may need other lines or even another page count: either is named.
  assert.match(r.reproduction.detail, /page content differs from the embedded data on page|the embedded data renders to \d+ pages, the document has \d+/);
  assert.match(r.reproduction.summary!, /Inhalt weicht von der Neusetzung der eingebetteten Daten ab(?: auf Seite .*|: \d+ statt \d+ Seiten) \(.*\) – informativ: die Signaturen hängen nicht davon ab/);
  assert.deepEqual(r.signatures.map((s) => [s.signatory, s.indication, s.subIndication]), [['ministry:1', 'TOTAL_PASSED', null], ['partner:1', 'TOTAL_PASSED', null]]);
  assert.equal(r.verdict, 'valid');
  assert.deepEqual(r.problems, [], 'the reproduction finding is not a problem of the document');
});
