/**
 * Cross-cutting security of the web app: sign-in (cookies, lockout, rate limit, open redirect),
 * sessions, CSRF, API tokens, security headers and CSP, problem+json, the OpenAPI document,
 * secrets kept out of the log, uploads judged by content, and the schema migration of issue 6.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import request from 'supertest';
import sharp from 'sharp';
import ExcelJS from 'exceljs';
import Database from 'better-sqlite3';
import { z } from 'zod';
import { webFixture, PASSWORD, TEST_USERS, type WebFixture } from './helpers/web.ts';
import { createApp } from '../src/http/app.ts';
import { openContext } from '../src/http/server.ts';
import { route, type AnyRoute } from '../src/http/routes.ts';
import { allRoutes } from '../src/http/areas/index.ts';
import { ROLES } from '../src/http/roles.ts';
import { sha256, LOCKOUT_MS, MAX_FAILED_LOGINS } from '../src/http/accounts.ts';
import { checkUpload, reencodeSignatureImage, sniff, LIMITS } from '../src/http/uploads.ts';
import { HttpError } from '../src/http/problem.ts';
import { toHttpError } from '../src/http/errors.ts';
import { EnvelopeError, NotYourTurnError } from '../src/envelope/service.ts';
import { ConflictError } from '../src/store/store.ts';
import { MIGRATIONS } from '../src/store/migrations.ts';
import { openDatabase, DB_FILE } from '../src/store/db.ts';

type Agent = ReturnType<typeof request.agent>;

/** The store's clock: pinned, moved by the lockout and token-expiry tests (and put back). */
let now = new Date('2026-03-02T09:00:00Z');
const clock = () => new Date(now.getTime());

let fx: WebFixture;
/** The real routes plus a few probes that exercise the framework independently of the areas. */
let app: ReturnType<typeof createApp>;
let echoCount = 0;

const probes: AnyRoute[] = [
  route({
    method: 'post',
    path: '/api/v1/_probe/echo',
    kind: 'api',
    access: ROLES,
    summary: 'probe',
    body: z.object({ n: z.number().int() }),
    handler: ({ body }) => {
      echoCount++;
      return { n: body.n };
    },
  }),
  route({
    method: 'post',
    path: '/api/v1/_probe/upload',
    kind: 'api',
    access: ROLES,
    summary: 'probe',
    upload: { field: 'file', kinds: ['pdf'], required: true },
    handler: ({ file }) => ({ kind: file!.kind }),
  }),
  route({
    method: 'post',
    path: '/api/v1/_probe/image',
    kind: 'api',
    access: ROLES,
    summary: 'probe',
    upload: { field: 'file', kinds: ['png', 'jpeg'], required: true },
    handler: ({ file }) => ({ kind: file!.kind }),
  }),
  route({ method: 'get', path: '/_probe/page', kind: 'page', access: ROLES, summary: 'probe', handler: ({ user }) => ({ user: user!.username }) }),
];

const cookiesOf = (res: request.Response): string[] => {
  const raw = res.headers['set-cookie'] as unknown;
  return Array.isArray(raw) ? (raw as string[]) : typeof raw === 'string' ? [raw] : [];
};
const cookie = (res: request.Response, name: string) => cookiesOf(res).find((c) => c.startsWith(`${name}=`));
const cookieValue = (c: string | undefined) => c?.split(';')[0]!.split('=')[1];
const noticeOf = (text: string) => /<p class="notice [^"]*"[^>]*>([^<]*)<\/p>/.exec(text)?.[1];
const csrfIn = (text: string) => /name="_csrf" value="([^"]+)"/.exec(text)?.[1];

/** A fresh browser with its CSRF cookie and token from the login page. */
async function browser(target = app): Promise<{ agent: Agent; csrf: string }> {
  const agent = request.agent(target);
  const res = await agent.get('/login');
  return { agent, csrf: csrfIn(res.text)! };
}

async function loginAs(username: string, password: string, extra: Record<string, string> = {}, target = app) {
  const { agent, csrf } = await browser(target);
  const res = await agent.post('/login').type('form').send({ username, password, _csrf: csrf, ...extra });
  return { agent, res };
}

async function loggedIn(role: (typeof ROLES)[number]): Promise<{ agent: Agent; csrf: string; session: string }> {
  const { agent, res } = await loginAs(TEST_USERS[role].username, PASSWORD);
  assert.equal(res.status, 303);
  const page = await agent.get('/_probe/nowhere');
  return { agent, csrf: csrfIn(page.text)!, session: cookieValue(cookie(res, 'zv_session'))! };
}

before(async () => {
  fx = await webFixture({ clock });
  app = createApp(fx.ctx, [...allRoutes(), ...probes]);
});
after(() => fx.close());

describe('sign-in', () => {
  test('a wrong password and an unknown user get the same neutral 401, and no session cookie', async () => {
    const wrong = (await loginAs('clerk', 'falsches-passwort-123')).res;
    const unknown = (await loginAs('niemand', 'falsches-passwort-123')).res;
    for (const res of [wrong, unknown]) {
      assert.equal(res.status, 401);
      assert.equal(cookie(res, 'zv_session'), undefined);
      assert.match(noticeOf(res.text)!, /^Anmeldung fehlgeschlagen\./);
    }
    assert.equal(noticeOf(wrong.text), noticeOf(unknown.text));
    // The username is kept in the form, the password never echoed.
    assert.match(wrong.text, /value="clerk"/);
    assert.doesNotMatch(wrong.text, /falsches-passwort/);
  });

  test('the right password: 303 and an HttpOnly, SameSite=Lax session cookie whose value is stored only as a hash', async () => {
    const { res } = await loginAs('clerk', PASSWORD);
    assert.equal(res.status, 303);
    const c = cookie(res, 'zv_session')!;
    assert.ok(c, 'session cookie set');
    assert.match(c, /; HttpOnly/i);
    assert.match(c, /; SameSite=Lax/i);
    assert.match(c, /; Path=\/(;|$)/);
    assert.doesNotMatch(c, /; Secure/i, 'no Secure flag when secureCookies is false');
    const value = cookieValue(c)!;
    assert.match(value, /^[A-Za-z0-9_-]{43}$/);
    const db = fx.ctx.svc.store.db;
    assert.equal((db.prepare('SELECT count(*) AS n FROM sessions WHERE id_hash = ?').get(value) as { n: number }).n, 0, 'cookie value itself is not stored');
    assert.equal((db.prepare('SELECT count(*) AS n FROM sessions WHERE id_hash = ?').get(sha256(value)) as { n: number }).n, 1, 'its SHA-256 is');
    // The CSRF cookie is renewed at login, HttpOnly and SameSite=Strict.
    const csrf = cookie(res, 'zv_csrf')!;
    assert.match(csrf, /; HttpOnly/i);
    assert.match(csrf, /; SameSite=Strict/i);
  });

  test('with secureCookies the session and CSRF cookies are Secure', async () => {
    const ctx = openContext({ dataDir: fx.dir, log: fx.ctx.log, secureCookies: true, svc: fx.ctx.svc });
    const secureApp = createApp(ctx);
    const page = await request(secureApp).get('/login');
    const csrfCookie = cookie(page, 'zv_csrf')!;
    assert.match(csrfCookie, /; Secure/i);
    const res = await request(secureApp)
      .post('/login')
      .set('Cookie', csrfCookie.split(';')[0]!)
      .type('form')
      .send({ username: 'archiv', password: PASSWORD, _csrf: csrfIn(page.text)! });
    assert.equal(res.status, 303);
    const session = cookie(res, 'zv_session')!;
    assert.match(session, /; Secure/i);
    assert.match(session, /; HttpOnly/i);
    assert.match(session, /; SameSite=Lax/i);
    // 'auto': Secure when a proxy on the same host says the request came over TLS.
    const autoApp = createApp(openContext({ dataDir: fx.dir, log: fx.ctx.log, secureCookies: 'auto', svc: fx.ctx.svc }));
    assert.match(cookie(await request(autoApp).get('/login').set('X-Forwarded-Proto', 'https'), 'zv_csrf')!, /; Secure/i);
    assert.doesNotMatch(cookie(await request(autoApp).get('/login'), 'zv_csrf')!, /; Secure/i);
  });

  test(`${MAX_FAILED_LOGINS} failed logins lock the account: even the right password is refused, with the same message, until the lock ends`, async () => {
    await fx.ctx.accounts.create({ username: 'sperrtest', displayName: 'Sperr Test', roles: ['clerk'], password: PASSWORD });
    let neutral: string | undefined;
    for (let i = 0; i < MAX_FAILED_LOGINS; i++) {
      const { res } = await loginAs('sperrtest', `falsch-${i}-xxxxxxxxxx`);
      assert.equal(res.status, 401);
      neutral ??= noticeOf(res.text);
      assert.equal(noticeOf(res.text), neutral);
    }
    assert.ok(fx.ctx.accounts.byUsername('sperrtest')!.lockedUntil, 'locked');
    const refused = (await loginAs('sperrtest', PASSWORD)).res;
    assert.equal(refused.status, 401);
    assert.equal(cookie(refused, 'zv_session'), undefined);
    assert.equal(noticeOf(refused.text), neutral, 'a locked account looks like a wrong password');
    const saved = now;
    try {
      now = new Date(saved.getTime() + LOCKOUT_MS - 60_000);
      assert.equal((await loginAs('sperrtest', PASSWORD)).res.status, 401, 'still locked a minute before the end');
      now = new Date(saved.getTime() + LOCKOUT_MS + 1000);
      const ok = (await loginAs('sperrtest', PASSWORD)).res;
      assert.equal(ok.status, 303, 'unlocked after the lock time');
      assert.ok(cookie(ok, 'zv_session'));
      assert.equal(fx.ctx.accounts.byUsername('sperrtest')!.failedLogins, 0);
    } finally {
      now = saved;
    }
  });

  test('a disabled account is refused with the same neutral message', async () => {
    const u = await fx.ctx.accounts.create({ username: 'weg', displayName: 'Deaktiviert', roles: ['archivist'], password: PASSWORD });
    fx.ctx.accounts.update(u.id, { disabled: true });
    const { res } = await loginAs('weg', PASSWORD);
    assert.equal(res.status, 401);
    assert.match(noticeOf(res.text)!, /^Anmeldung fehlgeschlagen\./);
  });

  test('more than 20 failed logins from one address within 15 minutes: 429, even for the right password; good logins do not count', async () => {
    const fresh = createApp(fx.ctx); // its own limiter
    const { agent, csrf } = await browser(fresh);
    const fail = (i: number) => agent.post('/login').type('form').send({ username: `unbekannt${i}`, password: 'falsches-passwort-123', _csrf: csrf });
    for (let i = 0; i < 10; i++) assert.equal((await fail(i)).status, 401, `attempt ${i + 1}`);
    // Colleagues behind the same address signing in successfully do not use up the budget.
    for (let i = 0; i < 3; i++) {
      const b = await browser(fresh);
      assert.equal((await b.agent.post('/login').type('form').send({ username: 'admin', password: PASSWORD, _csrf: b.csrf })).status, 303);
    }
    for (let i = 10; i < 20; i++) assert.equal((await fail(i)).status, 401, `attempt ${i + 1}`);
    const blocked = await fail(20);
    assert.equal(blocked.status, 429);
    assert.match(blocked.text, /Zu viele Anmeldeversuche/);
    const right = await agent.post('/login').type('form').send({ username: 'admin', password: PASSWORD, _csrf: csrf });
    assert.equal(right.status, 429);
    assert.equal(cookie(right, 'zv_session'), undefined);
  });

  test('no open redirect after login: next must be a local path', async () => {
    const cases: [string, string][] = [
      ['//evil.example', '/'],
      ['https://evil.example', '/'],
      ['/\\evil.example', '/'],
      ['\\\\evil.example', '/'],
      ['/\t/evil.example', '/'],
      ['javascript:alert(1)', '/'],
      ['/_probe/page?x=1', '/_probe/page?x=1'],
    ];
    for (const [next, expected] of cases) {
      const { res } = await loginAs('admin', PASSWORD, { next });
      assert.equal(res.status, 303, next);
      assert.equal(res.headers.location, expected, `next=${JSON.stringify(next)}`);
    }
    // The login page does not carry a foreign next either.
    const page = await request(app).get('/login?next=%2F%2Fevil.example');
    assert.match(page.text, /name="next" value="\/"/);
    // A page that needs a login sends there with next=the page.
    const redirect = await request(app).get('/_probe/page?a=1');
    assert.equal(redirect.status, 303);
    assert.equal(redirect.headers.location, `/login?next=${encodeURIComponent('/_probe/page?a=1')}`);
  });

  test('logout ends the session on the server: the old cookie no longer works', async () => {
    const { agent, csrf, session } = await loggedIn('ministry');
    assert.equal((await agent.get('/api/v1/me')).status, 200);
    const out = await agent.post('/logout').type('form').send({ _csrf: csrf });
    assert.equal(out.status, 303);
    assert.equal(out.headers.location, '/login');
    assert.equal((fx.ctx.svc.store.db.prepare('SELECT count(*) AS n FROM sessions WHERE id_hash = ?').get(sha256(session)) as { n: number }).n, 0);
    const replay = await request(app).get('/api/v1/me').set('Cookie', `zv_session=${session}`);
    assert.equal(replay.status, 401);
    const page = await request(app).get('/_probe/page').set('Cookie', `zv_session=${session}`);
    assert.equal(page.status, 303);
  });

  test('a session cookie from before the login is not kept (no session fixation)', async () => {
    const first = await loggedIn('archivist');
    const csrf = csrfIn((await first.agent.get('/login')).text)!;
    const again = await first.agent.post('/login').type('form').send({ username: 'archiv', password: PASSWORD, _csrf: csrf });
    assert.equal(again.status, 303);
    const second = cookieValue(cookie(again, 'zv_session'))!;
    assert.notEqual(second, first.session);
    assert.equal((await request(app).get('/api/v1/me').set('Cookie', `zv_session=${first.session}`)).status, 401);
  });
});

describe('CSRF', () => {
  test('a form post without _csrf, or with the token of another browser, is refused with 403 and changes nothing', async () => {
    const victim = await loggedIn('clerk');
    const other = await loggedIn('clerk');
    const none = await victim.agent.post('/logout').type('form').send({});
    assert.equal(none.status, 403);
    assert.match(none.text, /Sicherheitsprüfung fehlgeschlagen/);
    const foreign = await victim.agent.post('/logout').type('form').send({ _csrf: other.csrf });
    assert.equal(foreign.status, 403);
    const garbage = await victim.agent.post('/logout').type('form').send({ _csrf: 'x'.repeat(43) });
    assert.equal(garbage.status, 403);
    const asArray = await victim.agent.post('/logout').type('form').send(`_csrf=${victim.csrf}&_csrf=${victim.csrf}`);
    assert.equal(asArray.status, 403, 'a repeated field is not a token');
    // Still logged in: no state change.
    assert.equal((await victim.agent.get('/api/v1/me')).status, 200);
    // The login form is protected too (login CSRF).
    const login = await request(app).post('/login').type('form').send({ username: 'admin', password: PASSWORD });
    assert.equal(login.status, 403);
    assert.equal(cookie(login, 'zv_session'), undefined);
  });

  test('API calls riding on the session need X-CSRF-Token; API-token calls need none', async () => {
    const s = await loggedIn('clerk');
    const before = echoCount;
    const missing = await s.agent.post('/api/v1/_probe/echo').send({ n: 1 });
    assert.equal(missing.status, 403);
    assert.match(missing.headers['content-type']!, /application\/problem\+json/);
    const other = await loggedIn('admin');
    const foreign = await s.agent.post('/api/v1/_probe/echo').set('X-CSRF-Token', other.csrf).send({ n: 1 });
    assert.equal(foreign.status, 403);
    assert.equal(echoCount, before, 'the handler never ran');
    const ok = await s.agent.post('/api/v1/_probe/echo').set('X-CSRF-Token', s.csrf).send({ n: 2 });
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.body, { n: 2 });
    const user = fx.ctx.accounts.byUsername('clerk')!;
    const { token } = fx.ctx.accounts.createToken(user.id, 'csrf-test', 30);
    const bearer = await request(app).post('/api/v1/_probe/echo').set('Authorization', `Bearer ${token}`).send({ n: 3 });
    assert.equal(bearer.status, 200);
    assert.deepEqual(bearer.body, { n: 3 });
  });
});

describe('API tokens', () => {
  test('a Bearer token works on the API, only its hash is stored, and revoked or expired tokens get 401 problem+json', async () => {
    const admin = fx.ctx.accounts.byUsername('admin')!;
    const { id, token } = fx.ctx.accounts.createToken(admin.id, 'Skript', 30);
    const me = await request(app).get('/api/v1/me').set('Authorization', `Bearer ${token}`);
    assert.equal(me.status, 200);
    assert.equal(me.body.username, 'admin');
    const row = fx.ctx.svc.store.db.prepare('SELECT * FROM api_tokens WHERE id = ?').get(id) as Record<string, unknown>;
    assert.equal(row.token_hash, sha256(token));
    assert.ok(!Object.values(row).some((v) => typeof v === 'string' && v.includes(token.slice(12))), 'the token itself is not stored');
    assert.ok(fx.ctx.accounts.listTokens(admin.id).some((t) => t.id === id && t.last_used_at));

    assert.equal(fx.ctx.accounts.revokeToken(admin.id, id), true);
    const revoked = await request(app).get('/api/v1/me').set('Authorization', `Bearer ${token}`);
    assert.equal(revoked.status, 401);
    assert.match(revoked.headers['content-type']!, /^application\/problem\+json/);
    assert.equal(revoked.body.status, 401);

    const short = fx.ctx.accounts.createToken(admin.id, 'kurz', 1);
    assert.equal((await request(app).get('/api/v1/me').set('Authorization', `Bearer ${short.token}`)).status, 200);
    const saved = now;
    try {
      now = new Date(saved.getTime() + 2 * 86_400_000);
      const expired = await request(app).get('/api/v1/me').set('Authorization', `Bearer ${short.token}`);
      assert.equal(expired.status, 401);
      assert.match(expired.headers['content-type']!, /^application\/problem\+json/);
    } finally {
      now = saved;
    }
    const bogus = await request(app).get('/api/v1/me').set('Authorization', `Bearer zvt_${'A'.repeat(43)}`);
    assert.equal(bogus.status, 401);
    // Another user's token cannot be revoked by someone else.
    const clerk = fx.ctx.accounts.byUsername('clerk')!;
    const theirs = fx.ctx.accounts.createToken(clerk.id, 'fremd', null);
    assert.equal(fx.ctx.accounts.revokeToken(admin.id, theirs.id), false);
  });

  test('one user cannot revoke another user’s token through the API or the account page', async () => {
    const clerk = fx.ctx.accounts.byUsername('clerk')!;
    const { id, token } = fx.ctx.accounts.createToken(clerk.id, 'fremdes Token', 30);
    const other = await loggedIn('archivist');
    const routes = new Set(allRoutes().map((r) => `${r.method} ${r.path}`));
    if (routes.has('delete /api/v1/tokens/:id')) {
      const res = await other.agent.delete(`/api/v1/tokens/${id}`).set('X-CSRF-Token', other.csrf);
      assert.equal(res.status, 404);
    }
    if (routes.has('post /konto/tokens/:id/widerrufen')) {
      const res = await other.agent.post(`/konto/tokens/${id}/widerrufen`).type('form').send({ _csrf: other.csrf });
      assert.equal(res.status, 404);
    }
    assert.equal((await request(app).get('/api/v1/me').set('Authorization', `Bearer ${token}`)).status, 200, 'still valid');
    if (routes.has('get /api/v1/tokens')) {
      const list = await other.agent.get('/api/v1/tokens');
      assert.ok(!JSON.stringify(list.body).includes('fremdes Token'), 'only one’s own tokens are listed');
      assert.ok(!JSON.stringify(list.body).includes(token), 'a token is never listed');
    }
  });

  test('a Bearer token is ignored on page routes: pages need a session', async () => {
    const admin = fx.ctx.accounts.byUsername('admin')!;
    const { token } = fx.ctx.accounts.createToken(admin.id, 'seiten', 30);
    const res = await request(app).get('/_probe/page').set('Authorization', `Bearer ${token}`);
    assert.equal(res.status, 303);
    assert.match(res.headers.location!, /^\/login\?next=/);
    // Also every real page route with a role: never served to a token alone.
    for (const r of allRoutes().filter((r) => r.kind === 'page' && r.method === 'get' && Array.isArray(r.access))) {
      const path = r.path.replace(/:id\b/g, '1').replace(/:year\b/g, '2023').replace(/:[A-Za-z_]+/g, 'x');
      const page = await request(app).get(path).set('Authorization', `Bearer ${token}`);
      assert.equal(page.status, 303, `${r.path} with only a Bearer token`);
    }
  });
});

describe('headers and markup', () => {
  const cspOf = (res: request.Response) =>
    Object.fromEntries(
      String(res.headers['content-security-policy'] ?? '')
        .split(';')
        .map((d) => d.trim().split(/\s+/))
        .filter((d) => d[0])
        .map(([k, ...v]) => [k!, v]),
    ) as Record<string, string[]>;

  test('pages carry a strict CSP, nosniff, no-referrer and no X-Powered-By', async () => {
    const s = await loggedIn('admin');
    const paths = ['/login', '/gibt-es-nicht', '/gibt-es-nicht (angemeldet)', '/api/v1/me', '/api/docs'];
    const responses = [await request(app).get('/login'), await request(app).get('/gibt-es-nicht'), await s.agent.get('/gibt-es-nicht'), await request(app).get('/api/v1/me'), await request(app).get('/api/docs')];
    for (const [i, res] of responses.entries()) {
      const where = `${paths[i]} (${res.status})`;
      const csp = cspOf(res);
      assert.ok(csp['script-src'], `${where}: script-src`);
      assert.deepEqual(csp['script-src'], ["'self'"], `${where}: scripts only from self`);
      assert.ok(!JSON.stringify(csp).includes('unsafe-eval'), where);
      assert.deepEqual(csp['object-src'], ["'none'"], where);
      assert.ok(csp['frame-ancestors'], `${where}: frame-ancestors`);
      assert.ok(csp['base-uri'], `${where}: base-uri`);
      assert.equal(res.headers['x-content-type-options'], 'nosniff', where);
      assert.equal(res.headers['referrer-policy'], 'no-referrer', where);
      assert.equal(res.headers['x-powered-by'], undefined, where);
    }
    // Personal responses are not cached; the public login page may be.
    assert.equal(responses[3]!.headers['cache-control'], undefined);
    assert.equal((await s.agent.get('/api/v1/me')).headers['cache-control'], 'no-store');
    const login = cspOf(responses[0]!);
    assert.ok(!login['style-src']!.includes("'unsafe-inline'"), 'app pages allow no inline styles');
  });

  test('the HTML has no inline scripts or style attributes', async () => {
    const s = await loggedIn('admin');
    const paths = ['/login', '/api/docs', '/gibt-es-nicht', 'POST /login (falsch)'];
    const pages = [await request(app).get('/login'), await request(app).get('/api/docs'), await s.agent.get('/gibt-es-nicht'), (await loginAs('clerk', 'falsches-passwort-123')).res];
    for (const [i, res] of pages.entries()) {
      const where = `${paths[i]} (${res.status})`;
      assert.match(res.headers['content-type']!, /text\/html/, where);
      const scripts = [...res.text.matchAll(/<script\b([^>]*)>/gi)];
      for (const m of scripts) assert.match(m[1]!, /\bsrc="[^"]+"/, `${where}: inline <script>`);
      assert.doesNotMatch(res.text, /\sstyle\s*=/i, `${where}: style attribute`);
      assert.doesNotMatch(res.text, /<style\b/i, `${where}: <style> element`);
      assert.doesNotMatch(res.text, /\son[a-z]+\s*=\s*["']/i, `${where}: inline event handler`);
    }
  });

  test('static files and the Swagger assets are served with nosniff', async () => {
    for (const path of ['/static/app.css', '/static/swagger-init.js', '/api/docs/assets/swagger-ui-bundle.js']) {
      const res = await request(app).get(path);
      assert.equal(res.status, 200, path);
      assert.equal(res.headers['x-content-type-options'], 'nosniff', path);
    }
  });
});

describe('problem+json', () => {
  const isProblem = (res: request.Response, status: number) => {
    assert.equal(res.status, status);
    assert.match(res.headers['content-type']!, /^application\/problem\+json/);
    for (const k of ['type', 'title', 'status', 'detail']) assert.ok(k in res.body, `field ${k}`);
    assert.equal(res.body.status, status);
  };

  test('401 without credentials, 404 for an unknown API path, 400 for malformed JSON, 422 with field paths', async () => {
    isProblem(await request(app).get('/api/v1/me'), 401);
    isProblem(await request(app).get('/api/v1/gibt-es-nicht'), 404);
    isProblem(await request(app).delete('/api/v1/me'), 404);
    const admin = fx.ctx.accounts.byUsername('admin')!;
    const { token } = fx.ctx.accounts.createToken(admin.id, 'problem', 30);
    const bad = await request(app).post('/api/v1/_probe/echo').set('Authorization', `Bearer ${token}`).set('Content-Type', 'application/json').send('{"n": 1,');
    isProblem(bad, 400);
    const badAnon = await request(app).post('/api/v1/_probe/echo').set('Content-Type', 'application/json').send('{"n": ');
    assert.ok([400, 401].includes(badAnon.status));
    assert.match(badAnon.headers['content-type']!, /^application\/problem\+json/);
    const invalid = await request(app).post('/api/v1/_probe/echo').set('Authorization', `Bearer ${token}`).send({ n: 'eins' });
    isProblem(invalid, 422);
    assert.equal(invalid.body.errors[0].path, 'n');
    // A browser gets a German page instead.
    const page = await request(app).get('/gibt-es-nicht').set('Accept', 'text/html');
    assert.equal(page.status, 404);
    assert.match(page.headers['content-type']!, /text\/html/);
    assert.match(page.text, /Nicht gefunden/);
  });
});

describe('service errors', () => {
  test('are mapped to statuses with German messages', () => {
    const cases: [Error, number, RegExp][] = [
      [new EnvelopeError('envelope 7 does not exist'), 404, /Den Umschlag #7 gibt es nicht/],
      [new EnvelopeError('envelope 7 is unterzeichnet and cannot be cancelled'), 409, /ist unterzeichnet und kann nicht mehr storniert werden/],
      [new EnvelopeError('envelope 7 is abgelehnt'), 409, /ist abgelehnt/],
      [new EnvelopeError("envelope 7: it is Kai Klose's turn, who signs in Zielwerk and gets no link"), 409, /Kai Klose an der Reihe/],
      [new NotYourTurnError("envelope 7: it is Kai Klose's (Staatsminister) turn, not Anna Beispiel's"), 409, /Kai Klose \(Staatsminister\) an der Reihe, nicht Anna Beispiel/],
      [new NotYourTurnError('Sie können erst unterzeichnen, wenn X unterzeichnet hat.'), 409, /^Sie können erst/],
      [new EnvelopeError('reason: a reason is required to decline'), 422, /Begründung/],
      [new EnvelopeError('aqb-2023-x v1: another process sent it for signing meanwhile'), 409, /inzwischen an anderer Stelle/],
      [new ConflictError('envelope 7'), 409, /gleichzeitig an anderer Stelle/],
      [new Error('boom /secret/path'), 500, /unerwarteter Fehler/],
    ];
    for (const [err, status, message] of cases) {
      const e = toHttpError(err);
      assert.equal(e.status, status, err.message);
      assert.match(e.message, message, err.message);
    }
    const opened = toHttpError(new EnvelopeError('no envelope was opened:\n  aqb-2023-x v1: no e-mail address for A (B)'));
    assert.equal(opened.status, 422);
    assert.deepEqual(opened.problems, [{ path: 'aqb-2023-x v1', message: 'no e-mail address for A (B)' }]);
  });

  test('an envelope that does not exist is a 404 over the API', async () => {
    const clerk = fx.ctx.accounts.byUsername('clerk')!;
    const { token } = fx.ctx.accounts.createToken(clerk.id, 'envelopes', 1);
    for (const r of allRoutes().filter((r) => r.kind === 'api' && r.method === 'post' && /^\/api\/v1\/envelopes\/:id\/(resend|cancel)$/.test(r.path))) {
      const res = await request(app).post(r.path.replace(':id', '999999')).set('Authorization', `Bearer ${token}`).send({ reason: 'Test der Stornierung' });
      assert.equal(res.status, 404, `${r.path}: ${JSON.stringify(res.body)}`);
      assert.match(res.body.detail, /gibt es nicht/);
    }
  });
});

describe('OpenAPI and Swagger UI', () => {
  test('openapi.json is 3.1.0 and lists every registered /api/v1 route with every method', async () => {
    const res = await request(app).get('/api/openapi.json');
    assert.equal(res.status, 200);
    const doc = res.body as { openapi: string; paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: { properties?: Record<string, unknown> } }> } }>> };
    assert.equal(doc.openapi, '3.1.0');
    const api = allRoutes().filter((r) => r.kind === 'api' && r.path.startsWith('/api/v1/'));
    assert.ok(api.length >= 1);
    for (const r of api) {
      const p = r.path.replace(/:([A-Za-z_]+)/g, '{$1}');
      assert.ok(doc.paths[p], `path ${p} documented`);
      assert.ok(doc.paths[p]![r.method], `${r.method.toUpperCase()} ${p} documented`);
      if (r.body) assert.ok(doc.paths[p]![r.method]!.requestBody, `${r.method.toUpperCase()} ${p}: request body`);
    }
    // No undocumented extras (the probes are not in the app's own registry).
    const documented = Object.entries(doc.paths).flatMap(([p, ms]) => Object.keys(ms).map((m) => `${m} ${p}`));
    assert.equal(documented.length, api.length);
    const agreements = api.find((r) => r.method === 'post' && r.path === '/api/v1/agreements');
    if (agreements?.body) {
      const content = doc.paths['/api/v1/agreements']!.post!.requestBody!.content;
      const schema = Object.values(content)[0]!.schema as { properties?: Record<string, unknown>; items?: unknown; anyOf?: unknown };
      assert.ok(JSON.stringify(schema).includes('"partner"'), 'the zod schema of an agreement is in the request body');
    }
  });

  test('/api/docs loads Swagger UI from local, external scripts only', async () => {
    const res = await request(app).get('/api/docs');
    assert.equal(res.status, 200);
    assert.match(res.text, /<script src="\/api\/docs\/assets\/swagger-ui-bundle\.js"><\/script>/);
    assert.match(res.text, /<script src="\/static\/swagger-init\.js"><\/script>/);
    const bundle = await request(app).get('/api/docs/assets/swagger-ui-bundle.js');
    assert.equal(bundle.status, 200);
    assert.match(bundle.headers['content-type']!, /javascript/);
    const init = await request(app).get('/static/swagger-init.js');
    assert.match(init.text, /\/api\/openapi\.json/);
  });
});

describe('log hygiene', () => {
  test('no password, signing-link token or cookie value reaches the log', async () => {
    const from = fx.logLines.length;
    const good = await loginAs('minister', PASSWORD);
    const wrongPassword = 'ganz-falsches-passwort-42';
    await loginAs('minister', wrongPassword);
    const token = randomBytes(32).toString('base64url');
    assert.equal(token.length, 43);
    const { agent } = good;
    await agent.get(`/sign/${token}`);
    await agent.get(`/sign/${token}/dokument.pdf?token=${token}`);
    await request(app).post(`/sign/${token}`).type('form').send({ reason: 'x' });
    await request(app).get(`/api/v1/sign/${token}`);
    await request(app).get(`/login?next=/sign/${token}`);
    await request(app).get(`/login?next=%2Fsign%2F${token}%2Fdokument.pdf`);
    await request(app).get(`/gibt-es-nicht?next=%2Fapi%2Fv1%2Fsign%2F${token}`);
    await new Promise((r) => setImmediate(r));
    const lines = fx.logLines.slice(from).join('\n');
    assert.ok(lines.length > 0, 'requests were logged');
    const sessionValue = cookieValue(cookie(good.res, 'zv_session'))!;
    const csrfValue = cookieValue(cookie(good.res, 'zv_csrf'))!;
    for (const [what, secret] of [
      ['password', PASSWORD],
      ['wrong password', wrongPassword],
      ['token', token],
      ['session cookie', sessionValue],
      ['csrf cookie', csrfValue],
    ] as const) {
      assert.ok(!lines.includes(secret), `${what} in the log`);
    }
    assert.ok(!lines.includes(`/sign/${token}`));
    assert.match(lines, /\/sign\/\[redacted\]/);
    assert.doesNotMatch(lines, /authorization|cookie/i);
  });
});

describe('uploads', () => {
  let png: Buffer;
  let jpeg: Buffer;
  let xlsx: Buffer;
  const pdf = Buffer.from('%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n');
  const csv = Buffer.from('Partner;Betrag\nLandkreis Kassel;100\n');
  const json = Buffer.from('\uFEFF{"agreements": []}');

  before(async () => {
    png = await sharp({ create: { width: 40, height: 20, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 1 } } })
      .withMetadata({ exif: { IFD0: { Artist: 'GEHEIM-Metadaten', Copyright: 'GEHEIM-Metadaten' } } })
      .png()
      .toBuffer();
    jpeg = await sharp({ create: { width: 40, height: 20, channels: 3, background: { r: 10, g: 20, b: 30 } } })
      .withMetadata({ exif: { IFD0: { Artist: 'GEHEIM-Metadaten' } } })
      .jpeg()
      .toBuffer();
    const wb = new ExcelJS.Workbook();
    wb.addWorksheet('Tabelle').addRow(['a', 'b']);
    xlsx = Buffer.from(await wb.xlsx.writeBuffer());
  });

  test('sniff decides by content', () => {
    assert.equal(sniff(pdf), 'pdf');
    assert.equal(sniff(png), 'png');
    assert.equal(sniff(jpeg), 'jpeg');
    assert.equal(sniff(xlsx), 'xlsx');
    assert.equal(sniff(csv), 'csv');
    assert.equal(sniff(json), 'json');
    assert.equal(sniff(Buffer.from('{kein json')), null);
    assert.equal(sniff(Buffer.from([0x50, 0x4b, 0x03, 0x04, 1, 2, 3])), null, 'a zip that is no workbook');
    assert.equal(sniff(randomBytes(64)), null);
    assert.equal(sniff(Buffer.from('<html><script>alert(1)</script></html>')), null);
  });

  test('checkUpload refuses a wrong kind with 415 and an oversize file with 413, in German', () => {
    assert.equal(checkUpload(pdf, ['pdf']), 'pdf');
    // A PNG named .pdf is still a PNG: the name is never asked.
    assert.throws(
      () => checkUpload(png, ['pdf']),
      (e: unknown) => e instanceof HttpError && e.status === 415 && /PNG-Bild/.test(e.message) && /erwartet: PDF-Dokument/.test(e.message) && /Es wurde nichts gespeichert/.test(e.message),
    );
    assert.throws(() => checkUpload(Buffer.alloc(0), ['pdf']), (e: unknown) => e instanceof HttpError && e.status === 415 && /leer/.test(e.message));
    const big = Buffer.concat([png.subarray(0, 8), Buffer.alloc(LIMITS.png)]);
    assert.throws(() => checkUpload(big, ['png', 'pdf']), (e: unknown) => e instanceof HttpError && e.status === 413 && /höchstens 2 MB/.test(e.message));
  });

  test('over HTTP: a PNG named .pdf gets 415, an oversize image 413, as problem+json', async () => {
    const admin = fx.ctx.accounts.byUsername('admin')!;
    const { token } = fx.ctx.accounts.createToken(admin.id, 'upload', 30);
    const renamed = await request(app).post('/api/v1/_probe/upload').set('Authorization', `Bearer ${token}`).attach('file', png, { filename: 'vertrag.pdf', contentType: 'application/pdf' });
    assert.equal(renamed.status, 415);
    assert.match(renamed.body.detail, /PNG-Bild/);
    const right = await request(app).post('/api/v1/_probe/upload').set('Authorization', `Bearer ${token}`).attach('file', pdf, { filename: 'bild.png', contentType: 'image/png' });
    assert.equal(right.status, 200);
    assert.equal(right.body.kind, 'pdf');
    const big = Buffer.concat([png.subarray(0, 8), Buffer.alloc(LIMITS.png + 10)]);
    const tooBig = await request(app).post('/api/v1/_probe/image').set('Authorization', `Bearer ${token}`).attach('file', big, 'unterschrift.png');
    assert.equal(tooBig.status, 413);
    assert.match(tooBig.body.detail, /größer als 2 MB/);
    const missing = await request(app).post('/api/v1/_probe/upload').set('Authorization', `Bearer ${token}`).field('x', '1');
    assert.equal(missing.status, 422);
    // Without credentials the file is not even read.
    const anon = await request(app).post('/api/v1/_probe/upload').attach('file', pdf, 'a.pdf');
    assert.equal(anon.status, 401);
  });

  test('reencodeSignatureImage returns a metadata-free PNG and refuses garbage with 415', async () => {
    for (const input of [png, jpeg]) {
      assert.ok(input.includes('GEHEIM-Metadaten'), 'the input carries metadata');
      const out = await reencodeSignatureImage(input);
      assert.equal(sniff(out), 'png');
      assert.ok(!out.includes('GEHEIM-Metadaten'), 'metadata stripped');
      assert.ok(!out.includes('eXIf') && !out.includes('tEXt') && !out.includes('iTXt'), 'no metadata chunks');
      const meta = await sharp(out).metadata();
      assert.equal(meta.format, 'png');
      assert.equal(meta.exif, undefined);
    }
    await assert.rejects(reencodeSignatureImage(randomBytes(500)), (e: unknown) => e instanceof HttpError && e.status === 415 && /lässt sich nicht lesen/.test(e.message));
    const truncated = png.subarray(0, 30);
    await assert.rejects(reencodeSignatureImage(truncated), (e: unknown) => e instanceof HttpError && e.status === 415);
  });
});

describe('schema migration', () => {
  test('a database at schema version 2 upgrades with its files intact, foreign keys OK, and paper-scan accepted', () => {
    const dir = mkdtempSync(join(tmpdir(), 'zv-migrate-'));
    try {
      const old = new Database(join(dir, DB_FILE));
      old.pragma('foreign_keys = ON');
      old.exec(MIGRATIONS[0] as string);
      old.exec(MIGRATIONS[1] as string);
      old.pragma('user_version = 2');
      const at = '2023-05-01T10:00:00.000Z';
      const addFile = old.prepare('INSERT INTO files (id, path, kind, size, sha256, created_at) VALUES (?, ?, ?, ?, ?, ?)');
      addFile.run(1, 'agreements/2023/aqb/kassel.v1.pdf', 'draft-pdf', 1234, 'a'.repeat(64), at);
      addFile.run(2, 'agreements/2023/aqb/kassel.v1.docx', 'draft-docx', 999, 'b'.repeat(64), at);
      addFile.run(3, 'signed/2023/aqb/kassel.v1.step1.pdf', 'signed-step', 2345, 'c'.repeat(64), at);
      addFile.run(4, 'outbox/1.eml', 'outbox-eml', 500, 'd'.repeat(64), at);
      old
        .prepare(
          `INSERT INTO agreements (id, type, year, partner_id, partner_name, version, edition, title, amount_cents, file_base, input_json, status, pdf_file_id, docx_file_id, created_at, created_by)
           VALUES (1, 'aqb', 2023, 'lk-kassel', 'Landkreis Kassel', 1, 'e1', 'Zielvereinbarung', 100, 'kassel', '{}', 'in_signing', 1, 2, ?, 'test')`,
        )
        .run(at);
      old.prepare(`INSERT INTO envelopes (id, agreement_id, status, current_file_id, clerk_name, clerk_email, created_at) VALUES (1, 1, 'open', 3, 'Clerk', 'c@x.example', ?)`).run(at);
      old.prepare(`INSERT INTO signatories (id, envelope_id, position, ref, party, name, role, organisation, email, status) VALUES (1, 1, 1, 'partner:1', 'partner', 'Landrat', 'Landrat', 'Landkreis Kassel', 'l@x.example', 'pending')`).run();
      old
        .prepare(
          `INSERT INTO notifications (id, envelope_id, signatory_id, kind, recipient, subject, body, message_id, transport, status, eml_file_id, created_at) VALUES (1, 1, 1, 'invite', 'l@x.example', 's', 'b', 'm', 'outbox', 'written', 4, ?)`,
        )
        .run(at);
      const filesBefore = old.prepare('SELECT * FROM files ORDER BY id').all();
      assert.throws(() => addFile.run(9, 'scans/x.pdf', 'paper-scan', 1, 'e'.repeat(64), at), /CHECK constraint/);
      old.close();

      const db = openDatabase(dir);
      try {
        assert.equal(db.pragma('user_version', { simple: true }), MIGRATIONS.length);
        assert.deepEqual(db.prepare('SELECT * FROM files ORDER BY id').all(), filesBefore);
        assert.deepEqual(db.pragma('foreign_key_check'), []);
        assert.equal(db.pragma('foreign_keys', { simple: true }), 1, 'enforcement back on');
        assert.equal((db.prepare('SELECT pdf_file_id FROM agreements WHERE id = 1').get() as { pdf_file_id: number }).pdf_file_id, 1);
        // The references still point at the (rebuilt) files table, and are enforced.
        const agreementsSql = (db.prepare("SELECT sql FROM sqlite_master WHERE name = 'agreements'").get() as { sql: string }).sql;
        assert.match(agreementsSql, /REFERENCES files\(id\)/);
        assert.doesNotMatch(agreementsSql, /files_new/);
        assert.throws(() => db.prepare('UPDATE envelopes SET current_file_id = 999 WHERE id = 1').run(), /FOREIGN KEY/);
        db.prepare('INSERT INTO files (id, path, kind, size, sha256, created_at) VALUES (?, ?, ?, ?, ?, ?)').run(9, 'scans/x.pdf', 'paper-scan', 1, 'e'.repeat(64), at);
        db.prepare("INSERT INTO paper_signatures (agreement_id, file_id, uploaded_by, uploaded_at) VALUES (1, 9, 'clerk', ?)").run(at);
        assert.throws(() => db.prepare("INSERT INTO files (path, kind, size, sha256, created_at) VALUES ('y', 'anything', 1, 'x', ?)").run(at), /CHECK constraint/);
        for (const table of ['users', 'sessions', 'api_tokens', 'contacts', 'paper_signatures', 'settings']) {
          assert.ok(db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(table), table);
        }
        assert.deepEqual(db.pragma('integrity_check'), [{ integrity_check: 'ok' }]);
      } finally {
        db.close();
      }
      // Opening again is a no-op.
      const again = openDatabase(dir);
      assert.equal(again.pragma('user_version', { simple: true }), MIGRATIONS.length);
      again.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
