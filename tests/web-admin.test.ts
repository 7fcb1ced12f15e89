/**
 * Administration and the own account over HTTP: creating users (errors at the fields, duplicate
 * names), logging in as them, role changes taking effect, disabling ending sessions, the last
 * admin keeping the role, unlocking, personal API tokens (shown once, Bearer works, revoke → 401,
 * foreign token → 404), own password change (wrong current → 422; success keeps this browser
 * signed in and ends the others), and the user/token API.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import request from 'supertest';
import { webFixture, PASSWORD, TEST_USERS, type WebFixture } from './helpers/web.ts';

let fx: WebFixture;
before(async () => {
  fx = await webFixture();
});
after(() => fx?.close());

/** Logs in with any credentials; returns the agent (or the failed response). */
async function loginAs(username: string, password: string) {
  const agent = request.agent(fx.app);
  const csrf0 = await fx.csrfOf(agent);
  const res = await agent.post('/login').type('form').send({ username, password, _csrf: csrf0 });
  return { agent, res };
}

const errorAt = (text: string, id: string) => new RegExp(`id="${id}-error">([^<]+)<`).exec(text)?.[1];

describe('administration', () => {
  test('only admins see /verwaltung; anonymous goes to the login', async () => {
    assert.equal((await request(fx.app).get('/verwaltung')).status, 303);
    const { agent } = await fx.login('clerk');
    assert.equal((await agent.get('/verwaltung')).status, 403);
    assert.equal((await agent.get('/api/v1/users')).status, 403);
    const admin = await fx.login('admin');
    const res = await admin.agent.get('/verwaltung');
    assert.equal(res.status, 200);
    for (const u of Object.values(TEST_USERS)) assert.ok(res.text.includes(u.username));
    assert.match(res.text, /Kai Klose/);
  });

  test('create: errors at the fields, duplicate username, then success and login as the new user', async () => {
    const { agent, csrf } = await fx.login('admin');
    const bad = await agent.post('/verwaltung/benutzer').type('form').send({ _csrf: csrf, username: 'x y', displayName: 'K', email: 'nope', password: 'kurz' });
    assert.equal(bad.status, 422);
    assert.match(errorAt(bad.text, 'f-username')!, /nur Buchstaben/);
    assert.match(errorAt(bad.text, 'f-displayName')!, /mindestens 2 Zeichen/);
    assert.match(errorAt(bad.text, 'f-email')!, /keine gültige E-Mail/);
    assert.match(errorAt(bad.text, 'f-password')!, /mindestens 12 Zeichen/);
    assert.match(errorAt(bad.text, 'new-roles')!, /mindestens eine Rolle/);
    assert.match(bad.text, /value="nope"/, 'input is kept');

    const dup = await agent.post('/verwaltung/benutzer').type('form').send({ _csrf: csrf, username: 'clerk', displayName: 'Noch jemand', roles: 'clerk', password: PASSWORD });
    assert.equal(dup.status, 422);
    assert.match(errorAt(dup.text, 'f-username')!, /bereits vergeben/);

    const ok = await agent
      .post('/verwaltung/benutzer')
      .type('form')
      .send(`_csrf=${encodeURIComponent(csrf)}&username=staatssekretaerin&displayName=Anne+Janz&email=anne.janz%40hmsi.example&roles=ministry&roles=archivist&password=${PASSWORD}`);
    assert.equal(ok.status, 303, ok.text.slice(0, 400));
    assert.match(ok.headers.location!, /^\/verwaltung\/benutzer\/\d+\?ok=created$/);
    const created = fx.ctx.accounts.byUsername('staatssekretaerin')!;
    assert.deepEqual(created.roles, ['ministry', 'archivist']);
    const detail = await agent.get(ok.headers.location!);
    assert.match(detail.text, /Das Konto wurde angelegt/);

    const login = await loginAs('staatssekretaerin', PASSWORD);
    assert.equal(login.res.status, 303);
    const konto = await login.agent.get('/konto');
    assert.equal(konto.status, 200);
    assert.match(konto.text, /Anne Janz/);
    assert.match(konto.text, /Unterzeichnung Ministerium, Archiv/);
    assert.equal((await login.agent.get('/archiv')).status, 200);
  });

  test('a role change takes effect on the next request; disabling ends the sessions; unlock', async () => {
    const admin = await fx.login('admin');
    const archivist = await fx.login('archivist');
    const id = fx.ctx.accounts.byUsername('archiv')!.id;
    assert.equal((await archivist.agent.get('/archiv')).status, 200);
    assert.equal((await archivist.agent.get('/jahre')).status, 403);

    let res = await admin.agent.post(`/verwaltung/benutzer/${id}`).type('form').send({ _csrf: admin.csrf, displayName: 'Archiv HMSI', email: 'archiv@hmsi.example', roles: 'clerk' });
    assert.equal(res.status, 303);
    assert.equal((await archivist.agent.get('/archiv')).status, 403, 'archive role removed');
    assert.equal((await archivist.agent.get('/pruefen')).status, 200, 'clerk may verify');

    res = await admin.agent.post(`/verwaltung/benutzer/${id}`).type('form').send({ _csrf: admin.csrf, displayName: 'Archiv HMSI', email: 'archiv@hmsi.example', roles: ['archivist'], disabled: '1' });
    assert.equal(res.status, 303);
    assert.equal(fx.ctx.accounts.byId(id)!.disabled, true);
    const after = await archivist.agent.get('/archiv');
    assert.equal(after.status, 303, 'the session is gone');
    assert.equal((await loginAs('archiv', PASSWORD)).res.status, 401, 'a disabled account cannot log in');
    const list = await admin.agent.get('/verwaltung');
    assert.match(list.text, /deaktiviert/);

    res = await admin.agent.post(`/verwaltung/benutzer/${id}`).type('form').send({ _csrf: admin.csrf, displayName: 'Archiv HMSI', email: 'archiv@hmsi.example', roles: ['archivist'] });
    assert.equal(res.status, 303);
    assert.equal(fx.ctx.accounts.byId(id)!.disabled, false);

    // Lock it with wrong passwords, then unlock.
    for (let i = 0; i < 5; i++) await fx.ctx.accounts.login('archiv', 'falsch-falsch-falsch');
    assert.ok(fx.ctx.accounts.byId(id)!.lockedUntil);
    const page = await admin.agent.get(`/verwaltung/benutzer/${id}`);
    assert.match(page.text, /gesperrt bis/);
    res = await admin.agent.post(`/verwaltung/benutzer/${id}/entsperren`).type('form').send({ _csrf: admin.csrf });
    assert.equal(res.status, 303);
    assert.equal(fx.ctx.accounts.byId(id)!.lockedUntil, null);
    assert.equal((await loginAs('archiv', PASSWORD)).res.status, 303);
  });

  test('a second ministry account with the minister\'s display name is refused (it could sign in his name)', async () => {
    const { agent, csrf } = await fx.login('admin');
    const res = await agent
      .post('/verwaltung/benutzer')
      .type('form')
      .send({ _csrf: csrf, username: 'klose2', displayName: 'kai  klose', email: '', roles: 'ministry', password: PASSWORD });
    assert.equal(res.status, 422);
    assert.match(res.text, /unterzeichnet bereits als „Kai Klose“/);
    assert.equal(fx.ctx.accounts.byUsername('klose2'), undefined);
    // A clerk may share the name; promoting them to the ministry role is refused too.
    const clerk = await fx.ctx.accounts.create({ username: 'kk-clerk', displayName: 'Kai Klose', roles: ['clerk'], password: PASSWORD });
    assert.throws(() => fx.ctx.accounts.update(clerk.id, { roles: ['clerk', 'ministry'] }), /unterzeichnet bereits/);
  });

  test('the last admin keeps the admin role and cannot be disabled', async () => {
    const { agent, csrf } = await fx.login('admin');
    const id = fx.ctx.accounts.byUsername('admin')!.id;
    let res = await agent.post(`/verwaltung/benutzer/${id}`).type('form').send({ _csrf: csrf, displayName: 'Administration', roles: 'clerk' });
    assert.equal(res.status, 422);
    assert.match(errorAt(res.text, 'edit-roles')!, /letzte aktive Administrationskonto/);
    res = await agent.post(`/verwaltung/benutzer/${id}`).type('form').send({ _csrf: csrf, displayName: 'Administration', roles: 'admin', disabled: '1' });
    assert.equal(res.status, 422);
    assert.match(res.text, /kann nicht deaktiviert werden/);
    assert.deepEqual(fx.ctx.accounts.byId(id)!.roles, ['admin']);
    assert.equal((await agent.get('/verwaltung')).status, 200);
  });

  test('admin sets a new password: errors at the field, then it works and old sessions end', async () => {
    const admin = await fx.login('admin');
    const minister = await fx.login('ministry');
    const id = fx.ctx.accounts.byUsername('minister')!.id;
    let res = await admin.agent.post(`/verwaltung/benutzer/${id}/passwort`).type('form').send({ _csrf: admin.csrf, password: 'kurz', password2: 'kurz' });
    assert.equal(res.status, 422);
    assert.match(errorAt(res.text, 'f-password')!, /mindestens 12/);
    res = await admin.agent.post(`/verwaltung/benutzer/${id}/passwort`).type('form').send({ _csrf: admin.csrf, password: 'ganz-neues-passwort', password2: 'anderes-passwort' });
    assert.equal(res.status, 422);
    assert.match(errorAt(res.text, 'f-password2')!, /stimmen nicht überein/);
    res = await admin.agent.post(`/verwaltung/benutzer/${id}/passwort`).type('form').send({ _csrf: admin.csrf, password: 'ganz-neues-passwort', password2: 'ganz-neues-passwort' });
    assert.equal(res.status, 303);
    assert.equal((await minister.agent.get('/konto')).status, 303, 'old session ended');
    assert.equal((await loginAs('minister', 'ganz-neues-passwort')).res.status, 303);
    await fx.ctx.accounts.setPassword(id, PASSWORD);
  });

  test('user API: list, create (201), patch; errors as problem+json', async () => {
    const adminId = fx.ctx.accounts.byUsername('admin')!.id;
    const auth = { Authorization: `Bearer ${fx.ctx.accounts.createToken(adminId, 'api', 30).token}` };
    const list = await request(fx.app).get('/api/v1/users').set(auth);
    assert.equal(list.status, 200);
    assert.ok(list.body.users.some((u: { username: string }) => u.username === 'minister'));
    assert.ok(!JSON.stringify(list.body).includes('scrypt'), 'no password hashes');

    const bad = await request(fx.app).post('/api/v1/users').set(auth).send({ username: 'neu', displayName: 'Neu', roles: ['clerk'], password: 'kurz' });
    assert.equal(bad.status, 422);
    assert.ok(bad.body.errors.some((e: { path: string }) => e.path === 'password'));
    const created = await request(fx.app).post('/api/v1/users').set(auth).send({ username: 'api.nutzer', displayName: 'API Nutzer', roles: ['clerk'], password: PASSWORD });
    assert.equal(created.status, 201);
    assert.deepEqual(created.body.roles, ['clerk']);
    const dup = await request(fx.app).post('/api/v1/users').set(auth).send({ username: 'api.nutzer', displayName: 'API Nutzer', roles: ['clerk'], password: PASSWORD });
    assert.equal(dup.status, 422);

    const patched = await request(fx.app).patch(`/api/v1/users/${created.body.id}`).set(auth).send({ roles: ['archivist'], disabled: true });
    assert.equal(patched.status, 200);
    assert.deepEqual(patched.body.roles, ['archivist']);
    assert.equal(patched.body.disabled, true);
    const last = await request(fx.app).patch(`/api/v1/users/${adminId}`).set(auth).send({ roles: ['clerk'] });
    assert.equal(last.status, 422);
    assert.match(last.headers['content-type']!, /problem\+json/);
    assert.equal((await request(fx.app).patch('/api/v1/users/9999').set(auth).send({ disabled: true })).status, 404);
  });
});

describe('own account', () => {
  test('/konto renders a CSRF form for every role', async () => {
    for (const role of ['admin', 'clerk', 'ministry', 'archivist'] as const) {
      const { agent } = await fx.login(role);
      const res = await agent.get('/konto');
      assert.equal(res.status, 200, role);
      assert.match(res.text, /name="_csrf"/);
      assert.match(res.text, /Passwort ändern/);
    }
  });

  test('tokens: created via the page and shown once, Bearer works, revoke → 401; foreign token → 404', async () => {
    const { agent, csrf } = await fx.login('clerk');
    const bad = await agent.post('/konto/tokens').type('form').send({ _csrf: csrf, name: '', days: '7' });
    assert.equal(bad.status, 422);
    assert.match(errorAt(bad.text, 'f-name')!, /Namen/);

    const res = await agent.post('/konto/tokens').type('form').send({ _csrf: csrf, name: 'Skript', days: '30' });
    assert.equal(res.status, 200);
    assert.equal(res.headers['cache-control'], 'no-store');
    const token = /value="(zvt_[A-Za-z0-9_-]+)"/.exec(res.text)![1]!;
    assert.ok(res.text.includes(`<pre class="report">curl -H "Authorization: Bearer ${token}" http://localhost:3000/api/v1/me</pre>`), 'the ready-to-use curl line');
    const konto = await agent.get('/konto');
    assert.ok(!konto.text.includes(token), 'never shown again');
    assert.ok(konto.text.includes(token.slice(0, 10)), 'the prefix is listed');

    const me = await request(fx.app).get('/api/v1/me').set('Authorization', `Bearer ${token}`);
    assert.equal(me.status, 200);
    assert.equal(me.body.username, 'clerk');

    const tokenId = fx.ctx.accounts.listTokens(fx.ctx.accounts.byUsername('clerk')!.id)[0]!.id;
    // Another user cannot revoke it.
    const other = await fx.login('archivist');
    const foreign = await other.agent.post(`/konto/tokens/${tokenId}/widerrufen`).type('form').send({ _csrf: other.csrf });
    assert.equal(foreign.status, 404);
    const foreignApi = await other.agent.delete(`/api/v1/tokens/${tokenId}`).set('X-CSRF-Token', other.csrf);
    assert.equal(foreignApi.status, 404);
    assert.equal((await request(fx.app).get('/api/v1/me').set('Authorization', `Bearer ${token}`)).status, 200);

    const revoke = await agent.post(`/konto/tokens/${tokenId}/widerrufen`).type('form').send({ _csrf: csrf });
    assert.equal(revoke.status, 303);
    assert.equal((await request(fx.app).get('/api/v1/me').set('Authorization', `Bearer ${token}`)).status, 401);
    assert.match((await agent.get('/konto')).text, /widerrufen/);
  });

  test('token API: create 201, list without secrets, delete 204', async () => {
    const { agent, csrf } = await fx.login('ministry');
    const created = await agent.post('/api/v1/tokens').set('X-CSRF-Token', csrf).send({ name: 'API', days: 90 });
    assert.equal(created.status, 201);
    assert.match(created.body.token, /^zvt_/);
    const auth = { Authorization: `Bearer ${created.body.token}` };
    const list = await request(fx.app).get('/api/v1/tokens').set(auth);
    assert.equal(list.status, 200);
    assert.ok(list.body.tokens.some((t: { id: number }) => t.id === created.body.id));
    assert.ok(!JSON.stringify(list.body).includes(created.body.token));
    assert.equal((await request(fx.app).post('/api/v1/tokens').set(auth).send({ name: 'x', days: 7 })).status, 422);
    assert.equal((await request(fx.app).delete(`/api/v1/tokens/${created.body.id}`).set(auth)).status, 204);
    assert.equal((await request(fx.app).get('/api/v1/tokens').set(auth)).status, 401);
  });

  test('own password: wrong current → 422 at the field; success keeps this browser and ends the others', async () => {
    const a = await fx.login('archivist');
    const b = await fx.login('archivist');
    let res = await a.agent.post('/konto/passwort').type('form').send({ _csrf: a.csrf, current: 'falsches-passwort', password: 'neues-langes-passwort', password2: 'neues-langes-passwort' });
    assert.equal(res.status, 422);
    assert.match(errorAt(res.text, 'f-current')!, /aktuelle Passwort ist falsch/);
    res = await a.agent.post('/konto/passwort').type('form').send({ _csrf: a.csrf, current: PASSWORD, password: 'neues-langes-passwort', password2: 'anders' });
    assert.equal(res.status, 422);
    assert.match(errorAt(res.text, 'f-password2')!, /Die beiden Eingaben stimmen nicht überein/);
    assert.equal(errorAt(res.text, 'f-password'), undefined, 'the new password itself is fine');

    res = await a.agent.post('/konto/passwort').type('form').send({ _csrf: a.csrf, current: PASSWORD, password: 'neues-langes-passwort', password2: 'neues-langes-passwort' });
    assert.equal(res.status, 303);
    const here = await a.agent.get(res.headers.location!);
    assert.equal(here.status, 200, 'this browser stays signed in');
    assert.match(here.text, /Passwort wurde geändert/);
    assert.equal((await b.agent.get('/konto')).status, 303, 'the other session ended');
    assert.equal((await loginAs('archiv', 'neues-langes-passwort')).res.status, 303);
    assert.equal((await loginAs('archiv', PASSWORD)).res.status, 401);
  });
});
