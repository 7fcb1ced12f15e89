/**
 * The ministry signatory's area: the queue, the PDFs (only of their own envelopes), the batch
 * signature after re-entering the password, and the same over the API. A second ministry account
 * with another name sees and signs nothing of Kai Klose's.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import request from 'supertest';
import { PASSWORD, webFixture, type WebFixture } from './helpers/web.ts';
import { readContactsFile } from '../src/envelope/contacts.ts';
import { generateIntoStore, readAgreementInputs } from '../src/store/agreements.ts';
import { fileById, sha256Hex } from '../src/store/files.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const CONTACTS = readContactsFile(join(ROOT, 'examples', 'aqb-2023-kontakte.json'));
const PARTNERS = ['werra-meissner-kreis', 'landkreis-fulda', 'landkreis-kassel'];

let fx: WebFixture;
const env: Record<string, number> = {};
let minister: { agent: ReturnType<typeof request.agent>; csrf: string };
let other: { agent: ReturnType<typeof request.agent>; csrf: string };

const status = (id: number) => fx.ctx.svc.snapshot(id).signatories.find((s) => s.party === 'ministry')!.status;
const rev = (id: number) => fx.ctx.svc.snapshot(id).envelope.rev;
const today = () => new Intl.DateTimeFormat('sv-SE', { timeZone: 'Europe/Berlin' }).format(new Date());

before(async () => {
  fx = await webFixture();
  const svc = fx.ctx.svc;
  const inputs = (await readAgreementInputs(join(ROOT, 'examples', 'aqb-2023-hessen.json'))).filter((r) => PARTNERS.includes(r.partner.id));
  const rows = await generateIntoStore(svc.store, inputs, 'Test');
  for (const s of await svc.openEnvelopes(rows.map((r) => r.id), CONTACTS, 'Test')) env[s.agreement.partner_id] = s.envelope.id;
  await fx.ctx.accounts.create({ username: 'staatssekretaerin', displayName: 'Dr. Erika Muster', email: 'st@hmsi.example', roles: ['ministry'], password: PASSWORD });
  minister = await fx.login('ministry');
  const agent = request.agent(fx.app);
  const csrf0 = await fx.csrfOf(agent);
  const res = await agent.post('/login').type('form').send({ username: 'staatssekretaerin', password: PASSWORD, _csrf: csrf0 });
  assert.equal(res.status, 303);
  other = { agent, csrf: await fx.csrfOf(agent, '/konto') };
});

after(() => fx?.close());

describe('ministry area', () => {
  test('the queue lists the envelopes with PDF links, checkboxes, place, date and password', async () => {
    const res = await minister.agent.get('/ministerium');
    assert.equal(res.status, 200);
    for (const name of ['Werra-Meißner-Kreis', 'Landkreis Fulda', 'Landkreis Kassel']) assert.ok(res.text.includes(name), name);
    for (const id of Object.values(env)) {
      assert.ok(res.text.includes(`href="/ministerium/umschlaege/${id}/dokument.pdf"`));
      assert.match(res.text, new RegExp(`<input type="checkbox" id="sel-${id}" name="envelopeIds" value="${id}"`));
      assert.match(res.text, new RegExp(`<label for="sel-${id}"`));
    }
    assert.match(res.text, /<label for="f-password">Passwort zur Bestätigung/);
    assert.match(res.text, /name="place" type="text" value="Wiesbaden"/);
    assert.match(res.text, />Ausgewählte unterzeichnen</);
    assert.match(res.text, /<script src="\/static\/ministry\.js" defer>/);
    const filtered = await minister.agent.get('/ministerium?year=2022');
    assert.match(filtered.text, /keine Vereinbarung auf Ihre Unterschrift/);
    const api = await minister.agent.get('/api/v1/ministry/queue');
    assert.equal(api.status, 200);
    assert.deepEqual(api.body.items.map((i: { envelopeId: number }) => i.envelopeId).sort(), Object.values(env).sort());
  });

  test('the PDF of an own envelope opens; another ministry user gets 404 (page and API) and an empty queue', async () => {
    const id = env['landkreis-fulda']!;
    const pdf = await minister.agent.get(`/ministerium/umschlaege/${id}/dokument.pdf`).buffer(true);
    assert.equal(pdf.status, 200);
    assert.equal(pdf.type, 'application/pdf');
    assert.equal(sha256Hex(pdf.body), fileById(fx.ctx.svc.store.db, fx.ctx.svc.snapshot(id).envelope.current_file_id).sha256);
    assert.equal((await other.agent.get(`/ministerium/umschlaege/${id}/dokument.pdf`)).status, 404);
    assert.equal((await other.agent.get(`/api/v1/ministry/envelopes/${id}/document`)).status, 404);
    assert.equal((await minister.agent.get('/ministerium/umschlaege/99999/dokument.pdf')).status, 404);
    const queue = await other.agent.get('/ministerium');
    assert.doesNotMatch(queue.text, /Landkreis Fulda/);
    // Other roles never get in.
    const clerk = await fx.login('clerk');
    assert.equal((await clerk.agent.get('/ministerium')).status, 403);
    assert.equal((await request(fx.app).get(`/api/v1/ministry/envelopes/${id}/document`)).status, 401);
  });

  test('wrong password → 422 with the error at the field, nothing signed', async () => {
    const ids = Object.values(env);
    const revs = ids.map(rev);
    const res = await minister.agent.post('/ministerium/unterzeichnen').type('form').send({ _csrf: minister.csrf, envelopeIds: ids.map(String), password: 'falsch', place: 'Wiesbaden', date: today() });
    assert.equal(res.status, 422);
    assert.match(res.text, /id="f-password"[^>]*aria-invalid="true"[^>]*aria-describedby="[^"]*e-password/);
    assert.match(res.text, /<p class="error" id="e-password">Das Passwort ist falsch/);
    assert.match(res.text, /role="alert"/);
    assert.deepEqual(ids.map(rev), revs);
    assert.ok(ids.every((id) => status(id) === 'pending'));
    // Nothing selected → 422 as well.
    const none = await minister.agent.post('/ministerium/unterzeichnen').type('form').send({ _csrf: minister.csrf, password: PASSWORD, place: 'Wiesbaden', date: today() });
    assert.equal(none.status, 422);
    assert.match(none.text, /mindestens eine Vereinbarung/);
    // Without CSRF → 403.
    const forged = await minister.agent.post('/ministerium/unterzeichnen').type('form').send({ envelopeIds: String(ids[0]), password: PASSWORD, place: 'Wiesbaden', date: today() });
    assert.equal(forged.status, 403);
    assert.deepEqual(ids.map(rev), revs);
  });

  test('another ministry user cannot sign Kai Klose’s envelope', async () => {
    const id = env['werra-meissner-kreis']!;
    const before = rev(id);
    const res = await other.agent.post('/ministerium/unterzeichnen').type('form').send({ _csrf: other.csrf, envelopeIds: String(id), password: PASSWORD, place: 'Wiesbaden', date: today() });
    assert.equal(res.status, 200);
    assert.match(res.text, /0 von 1 Vereinbarung unterzeichnet/);
    assert.match(res.text, /wartet nicht auf Ihre Unterschrift/);
    assert.doesNotMatch(res.text, /Werra-Meißner-Kreis/, 'nothing about a foreign envelope is revealed');
    const api = await other.agent.post('/api/v1/ministry/sign').set('X-CSRF-Token', other.csrf).send({ envelopeIds: [id], password: PASSWORD });
    assert.equal(api.status, 200, api.text);
    assert.equal(api.body.results[0].ok, false);
    assert.equal(rev(id), before);
    assert.equal(status(id), 'pending');
  });

  test('right password → one envelope signed, then a batch of two; an already signed one fails per row', async () => {
    const werra = env['werra-meissner-kreis']!;
    const one = await minister.agent.post('/ministerium/unterzeichnen').type('form').send({ _csrf: minister.csrf, envelopeIds: String(werra), password: PASSWORD, place: 'Wiesbaden', date: today() });
    assert.equal(one.status, 200, one.text.slice(0, 500));
    assert.match(one.text, /1 von 1 Vereinbarung unterzeichnet/);
    assert.equal(status(werra), 'signed');
    const events = fx.ctx.svc.store.db.prepare("SELECT actor FROM audit_events WHERE envelope_id = ? AND type = 'signed'").all(werra) as { actor: string }[];
    assert.deepEqual(events.map((e) => e.actor), ['Kai Klose (Konto minister, Passwort bestätigt)']);

    const two = [env['landkreis-fulda']!, env['landkreis-kassel']!];
    const batch = await minister.agent.post('/ministerium/unterzeichnen').type('form').send({ _csrf: minister.csrf, envelopeIds: [...two, werra].map(String), password: PASSWORD, place: 'Wiesbaden', date: today() });
    assert.equal(batch.status, 200);
    assert.match(batch.text, /2 von 3 Vereinbarungen unterzeichnet, 1 nicht/);
    assert.ok(two.every((id) => status(id) === 'signed'));
    const queue = await minister.agent.get('/ministerium');
    assert.match(queue.text, /keine Vereinbarung auf Ihre Unterschrift/);
    assert.match(queue.text, /Zuletzt von Ihnen unterzeichnet[\s\S]*Landkreis Kassel/);
    // A signed envelope's PDF stays readable for its signatory.
    assert.equal((await minister.agent.get(`/ministerium/umschlaege/${werra}/dokument.pdf`)).status, 200);
  });

  test('API: wrong password → 422 problem, validation of the body', async () => {
    const res = await minister.agent.post('/api/v1/ministry/sign').set('X-CSRF-Token', minister.csrf).send({ envelopeIds: [env['landkreis-fulda']], password: 'falsch' });
    assert.equal(res.status, 422);
    assert.match(res.type, /problem\+json/);
    assert.equal(res.body.errors[0].path, 'password');
    const empty = await minister.agent.post('/api/v1/ministry/sign').set('X-CSRF-Token', minister.csrf).send({ envelopeIds: [], password: PASSWORD });
    assert.equal(empty.status, 422);
  });
});
