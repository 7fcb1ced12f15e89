/**
 * Dates that can't be moved silently: a stamped date other than the signing day is refused unless
 * it is confirmed with a reason; the audit event then records both days and the reason. Through
 * the library, the signing service, the CLI and the signing page.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import { signAgreement, SignError } from '../src/sign/sign.ts';
import { KeyStore } from '../src/sign/keys.ts';
import { readEvents } from '../src/envelope/audit.ts';
import { newestLink } from '../src/demo.ts';
import { generateIntoStore, readAgreementInputs } from '../src/store/agreements.ts';
import { agreementPdf, AQB_EXAMPLE, PASSPHRASE, ref, zv } from './helpers/signing.ts';
import { tempDir } from './helpers/tools.ts';
import { AQB_BATCH, CONTACTS } from './helpers/year.ts';
import { webFixture, type WebFixture } from './helpers/web.ts';

const tmp = tempDir('zv-backdate-');
let fx: WebFixture;
after(() => {
  fx?.close();
  tmp.cleanup();
});

before(async () => {
  fx = await webFixture();
  const inputs = (await readAgreementInputs(AQB_BATCH)).filter((r) => r.partner.id === 'werra-meissner-kreis');
  const rows = await generateIntoStore(fx.ctx.svc.store, inputs, 'Sachbearbeitung (Test)');
  await fx.ctx.svc.openEnvelopes(rows.map((r) => r.id), CONTACTS, 'Sachbearbeitung (Test)');
});

test('library and CLI: another date without a reason is refused; with a reason it is stamped', async () => {
  const keys = KeyStore.open(tmp.dir, PASSPHRASE);
  await keys.init();
  const pdf = await agreementPdf(AQB_EXAMPLE);
  await assert.rejects(signAgreement(pdf, { signatory: ref('ministry:1'), signer: (p, at) => keys.signerFor(p, { at }), date: '2023-05-30' }), (e: Error) => e instanceof SignError && /the date 2023-05-30 is not the signing day \(\d{4}-\d\d-\d\d\); to stamp the agreement's date instead, confirm it with --backdate-reason/.test(e.message));
  const ok = await signAgreement(pdf, { signatory: ref('ministry:1'), signer: (p, at) => keys.signerFor(p, { at }), date: '2023-05-30', backdateReason: 'Tag der Kabinettsbefassung' });
  assert.deepEqual(ok.backdated, { signingDay: new Intl.DateTimeFormat('sv-SE', { timeZone: 'Europe/Berlin' }).format(ok.signingTime), reason: 'Tag der Kabinettsbefassung' });
  const input = join(tmp.dir, 'aqb.pdf');
  writeFileSync(input, pdf);
  const refused = await zv(['sign', input, '--signatory', 'ministry:1', '--date', '2023-05-30', '--out', join(tmp.dir, 'x.pdf'), '--data', tmp.dir]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /is not the signing day/);
});

test('the signing page asks for the reason, and the audit trail records both days', async () => {
  const minister = await fx.login('ministry');
  const today = new Intl.DateTimeFormat('sv-SE', { timeZone: 'Europe/Berlin' }).format(new Date());
  const id = fx.ctx.svc.awaitingMinistry({ name: 'Kai Klose' })[0]!.envelope.id;
  const noReason = await minister.agent.post('/ministerium/unterzeichnen').type('form').send({ _csrf: minister.csrf, envelopeIds: String(id), password: 'richtig-langes-passwort', place: 'Wiesbaden', date: '2023-05-30' });
  assert.equal(noReason.status, 422);
  assert.match(noReason.text, /Das Datum ist nicht heute: Bitte geben Sie an, warum die Vereinbarung dieses Datum tragen soll/);
  const withReason = await minister.agent.post('/ministerium/unterzeichnen').type('form').send({ _csrf: minister.csrf, envelopeIds: String(id), password: 'richtig-langes-passwort', place: 'Wiesbaden', date: '2023-05-30', backdateReason: 'Datum der Kabinettsvorlage' });
  assert.equal(withReason.status, 200);
  assert.match(withReason.text, /1 von 1 Vereinbarung unterzeichnet/);
  const signed = readEvents(fx.ctx.svc.store.db, id).find((e) => e.type === 'signed')!;
  assert.deepEqual({ date: signed.details.date, backdated: signed.details.backdated, signingDay: signed.details.signingDay, reason: signed.details.backdateReason }, { date: '2023-05-30', backdated: true, signingDay: today, reason: 'Datum der Kabinettsvorlage' });

  // The county signatory's page: another date without a reason is refused at the field.
  const path = new URL(newestLink(fx.ctx.svc, 'nicole.rathgeber@werra-meissner-kreis.example')).pathname;
  const agent = request.agent(fx.app);
  const csrf = /name="_csrf" value="([^"]+)"/.exec((await agent.get(path)).text)![1]!;
  const r = await agent.post(path).field('_csrf', csrf).field('place', 'Eschwege').field('date', '2023-06-28').field('confirm', 'ja');
  assert.equal(r.status, 422);
  assert.match(r.text, /id="e-f-backdate">Das Datum ist nicht heute/);
});
