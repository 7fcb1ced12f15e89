/**
 * The stamp's text always fits its slot: for every partner's agreement (its seat printed before
 * "den"), every signatory's field, and a date in every month (the longest day, the longest
 * label), each text run of the stamp lies inside the widget's rectangle — no clipping. And a
 * rendered page of the longest case, to look at (tests/artifacts/stamps/).
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { composeFromData } from '../src/compose/index.ts';
import { formatDate } from '../src/compose/format.ts';
import { renderPdf } from '../src/render/pdf/index.ts';
import { BODY_SIZE } from '../src/render/pdf/index.ts';
import { readAgreementInputs } from '../src/store/agreements.ts';
import { readAgreementPdf } from '../src/sign/agreement-pdf.ts';
import { signAgreement, stampGeometry, STAMP_LABELS } from '../src/sign/sign.ts';
import { layoutStamp } from '../src/sign/stamp.ts';
import { KeyStore } from '../src/sign/keys.ts';
import { run, tempDir } from './helpers/tools.ts';
import { PASSPHRASE } from './helpers/signing.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const ARTIFACTS = join(ROOT, 'tests', 'artifacts', 'stamps');
const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
let pdfs: { partner: string; bytes: Uint8Array }[];

before(async () => {
  const inputs = await readAgreementInputs(join(ROOT, 'examples', 'aqb-2023-hessen.json'));
  pdfs = [];
  for (const r of inputs) pdfs.push({ partner: r.partner.id, bytes: await renderPdf(composeFromData(r.input, { today: '2023-05-30' }).tree) });
  assert.equal(pdfs.length, 26);
});

test('every partner × every signatory × every month: every text run of the stamp lies inside the widget', async () => {
  let checked = 0;
  const outside: string[] = [];
  for (const { partner, bytes } of pdfs) {
    const doc = await readAgreementPdf(bytes);
    for (const field of doc.fields) {
      const { slot, dateSlot, rect } = stampGeometry(doc, field);
      for (let month = 1; month <= 12; month++) {
        const iso = `2026-${String(month).padStart(2, '0')}-${DAYS[month - 1]}`;
        const dateText = formatDate(iso, doc.metadata.dateStyle === 'numeric' ? 'numeric' : 'long');
        const runs = await layoutStamp({
          rect,
          slot,
          dateAfterPlace: dateSlot ? { x: dateSlot.rect[0]!, baseline: dateSlot.baseline, size: BODY_SIZE, text: dateText } : undefined,
          placeDateLine: dateSlot ? undefined : `${partnerSeat(doc)}, den ${dateText}`,
          name: field.entry.name,
          footer: `${STAMP_LABELS.qualified}: ${field.entry.name}, ${field.entry.role}, ${DAYS[month - 1]}.${month}.2026, 23:59 MESZ`,
        });
        for (const r of runs) {
          const inside = r.x >= rect[0] - 0.5 && r.x + r.width <= rect[2] + 0.5 && r.baseline >= rect[1] - 0.5 && r.baseline + r.size * 0.75 <= rect[3] + 0.5;
          if (!inside) outside.push(`${partner} ${field.entry.fieldName} ${iso}: "${r.text}" at ${r.x.toFixed(1)}+${r.width.toFixed(1)} / ${r.baseline.toFixed(1)} outside [${rect.map((n) => n.toFixed(1)).join(' ')}]`);
          assert.ok(r.size >= 4, `${partner} ${iso}: "${r.text}" shrunk to ${r.size.toFixed(1)} pt`);
        }
        checked++;
      }
    }
  }
  assert.deepEqual(outside, []);
  assert.ok(checked >= 26 * 2 * 12, `${checked} stamps checked`);
});

test('the longest seats keep their date readable: on the printed line when it fits, on its own line when not', async () => {
  const keys = KeyStore.open(tempDir('zv-stamp-').dir, PASSPHRASE);
  await keys.init();
  mkdirSync(ARTIFACTS, { recursive: true });
  for (const [partner, date] of [['hochtaunuskreis', '2026-09-30'], ['landkreis-limburg-weilburg', '2026-11-30']] as const) {
    const { bytes } = pdfs.find((p) => p.partner === partner)!;
    const doc = await readAgreementPdf(bytes);
    const field = doc.fields.find((f) => f.entry.party === 'partner')!;
    const { slot, dateSlot, rect } = stampGeometry(doc, field);
    const runs = await layoutStamp({ rect, slot, dateAfterPlace: { x: dateSlot!.rect[0]!, baseline: dateSlot!.baseline, size: BODY_SIZE, text: formatDate(date, 'long') }, name: field.entry.name, footer: STAMP_LABELS.simple });
    const dateRun = runs.find((r) => /2026/.test(r.text))!;
    assert.ok(dateRun.size >= BODY_SIZE * 0.8, `${partner}: the date stays at a readable size (${dateRun.size.toFixed(1)} pt)`);
    // Sign for real and render the page to look at.
    let signed = (await signAgreement(bytes, { signatory: { party: 'ministry', index: 1 }, signer: (p, at) => keys.signerFor(p, { at }), date: '2026-09-30', backdateReason: 'Datum der Vereinbarung (Test)' })).bytes;
    signed = (await signAgreement(signed, { signatory: { party: 'partner', index: 1 }, signer: (p, at) => keys.signerFor(p, { at }), date, backdateReason: 'Datum der Vereinbarung (Test)' })).bytes;
    const file = join(ARTIFACTS, `${partner}.pdf`);
    writeFileSync(file, signed);
    const pages = Number(/Pages:\s+(\d+)/.exec(run('pdfinfo', [file]))![1]);
    run('pdftoppm', ['-r', '110', '-f', String(pages), '-l', String(pages), '-png', '-singlefile', file, join(ARTIFACTS, partner)]);
  }
});

/** The seat printed before "den" in the partner's column (second signatories repeat it). */
function partnerSeat(doc: Awaited<ReturnType<typeof readAgreementPdf>>): string {
  const input = JSON.parse(new TextDecoder().decode(doc.input!.bytes));
  return input.place?.partner ?? 'Ort';
}
