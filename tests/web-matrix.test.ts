/**
 * The role matrix: every registered route × {anonymous, admin, clerk, ministry, archivist}.
 * Anonymous callers of role routes get 401 (API, form posts) or 303 to the login (page GETs);
 * a signed-in role outside the route's access gets 403; a role inside never 401/403. Public and
 * signing-link routes are never 401/403. The declared access of every route is compared with
 * tests/fixtures/role-matrix.json, so a change in who may do what shows up in review.
 * ZV_UPDATE_MATRIX=1 rewrites the expectation file from the registry.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import request from 'supertest';
import { webFixture, type WebFixture } from './helpers/web.ts';
import { allRoutes } from '../src/http/areas/index.ts';
import type { AnyRoute } from '../src/http/routes.ts';
import { ROLES, type Role } from '../src/http/roles.ts';
import { readContactsFile } from '../src/envelope/contacts.ts';

const MATRIX_FILE = fileURLToPath(new URL('./fixtures/role-matrix.json', import.meta.url));

type Actor = 'anonymous' | Role;
const ACTORS: Actor[] = ['anonymous', ...ROLES];
type Expectation = Role[] | 'public' | 'link';

const keyOf = (r: AnyRoute) => `${r.method.toUpperCase()} ${r.path}`;
const accessOf = (r: AnyRoute): Expectation => (Array.isArray(r.access) ? [...r.access].sort() : (r.access as 'public' | 'link'));

/** Routes that may answer 401 to anyone by design (a failed sign-in). */
const PUBLIC_401 = new Set(['POST /login']);

/** The only public routes; a new one must be added here deliberately. */
// The remote-signing return and choice pages are reached from the provider's redirect: they are
// bound to a running flow by its random OAuth state, not by a login.
// The Demo-CA's certificate, CRL and OCSP responder are what its certificates name for any validator.
const PUBLIC_ALLOWED = new Set([
  'GET /',
  'GET /login',
  'POST /login',
  'POST /logout',
  'GET /api/openapi.json',
  'GET /api/docs',
  'GET /fernsignatur/rueckkehr',
  'POST /fernsignatur/auswahl',
  'GET /pki/ca.cer',
  'GET /pki/ca.crl',
  'POST /pki/ocsp',
  'GET /pki/ocsp/*request',
]);

const randomLinkToken = () => randomBytes(32).toString('base64url');

/** Markup in a project name: every page must show it as text. */
const XSS = `<script>alert("xss")</script><img src=x onerror=alert(1)>`;

/**
 * A plausible value for a path parameter: reads use the one real agreement and envelope (id 1),
 * writes an id that does not exist (so nothing is changed), a well-formed random link token, the example year.
 */
function fill(path: string, method: string): string {
  return path.replace(/:([A-Za-z_]+)/g, (_m, name: string) => {
    if (name === 'token') return randomLinkToken();
    if (name === 'year') return '2023';
    if (name === 'type') return 'aqb';
    return method === 'get' ? '1' : '999999';
  });
}

let fx: WebFixture;
const agents = new Map<Actor, { agent: ReturnType<typeof request.agent>; csrf: string }>();

before(async () => {
  fx = await webFixture();
  const anon = request.agent(fx.app);
  agents.set('anonymous', { agent: anon, csrf: await fx.csrfOf(anon, '/login') });
  for (const role of ROLES) agents.set(role, await fx.login(role));
  // One agreement (with markup in a project name) in signing: id 1, envelope 1.
  const input = JSON.parse(readFileSync(new URL('../examples/aqb-2023-werra-meissner-kreis.json', import.meta.url), 'utf8')) as { measures: { projects: string[] }[] };
  input.measures[0]!.projects.push(XSS);
  const clerk = fx.ctx.accounts.byUsername('clerk')!;
  const { token } = fx.ctx.accounts.createToken(clerk.id, 'matrix', 1);
  const created = await request(fx.app).post('/api/v1/agreements').set('Authorization', `Bearer ${token}`).send(input);
  assert.equal(created.status, 201, JSON.stringify(created.body));
  assert.equal(created.body.id, 1);
  const [snap] = await fx.ctx.svc.openEnvelopes([1], readContactsFile(fileURLToPath(new URL('../examples/aqb-2023-kontakte.json', import.meta.url))), 'matrix test');
  assert.equal(snap!.envelope.id, 1);
});
after(() => fx?.close());

async function call(actor: Actor, r: AnyRoute) {
  const { agent, csrf } = agents.get(actor)!;
  const path = fill(r.path, r.method);
  if (r.method === 'get') return agent.get(path).redirects(0);
  const req = agent[r.method](path).redirects(0);
  if (r.kind === 'api') return req.set('X-CSRF-Token', csrf).set('Accept', 'application/json').send({});
  return req.type('form').send({ _csrf: csrf });
}

const short = (res: request.Response) => (res.status === 303 || res.status === 302 ? `${res.status}→${String(res.headers.location).startsWith('/login') ? 'login' : res.headers.location}` : String(res.status));

test('role matrix: every route × every role', async () => {
  // /logout last: it ends the session the other calls ride on.
  const routes = allRoutes().sort((a, b) => Number(keyOf(a) === 'POST /logout') - Number(keyOf(b) === 'POST /logout'));
  const failures: string[] = [];
  const table: string[][] = [];
  for (const r of routes) {
    const key = keyOf(r);
    if (key === 'POST /logout') {
      // Nothing before signed anyone out, disabled an account or changed a password.
      for (const role of ROLES) if ((await agents.get(role)!.agent.get('/api/v1/me')).status !== 200) failures.push(`the ${role} session did not survive the other routes`);
    }
    const row: string[] = [key, typeof r.access === 'string' ? r.access : r.access.join(',')];
    for (const actor of ACTORS) {
      const res = await call(actor, r);
      row.push(short(res));
      const s = res.status;
      const fail = (what: string) => failures.push(`${key} as ${actor}: ${what} (got ${s}${res.headers.location ? ` → ${res.headers.location}` : ''})`);
      if (s >= 500) fail('server error');
      if (r.access === 'public' || r.access === 'link') {
        if ((s === 401 && !PUBLIC_401.has(key)) || s === 403) fail(`${r.access} route refused`);
        if (r.access === 'link' && r.method === 'get' && ![404, 410].includes(s)) fail('a random signing link must give 404 or 410');
      } else if (actor === 'anonymous') {
        if (r.kind === 'page' && r.method === 'get') {
          if (s !== 303 || !String(res.headers.location).startsWith('/login?next=')) fail('expected 303 to /login?next=');
        } else if (s !== 401) fail('expected 401');
      } else if (!r.access.includes(actor)) {
        if (s !== 403) fail('expected 403');
      } else if (s === 401 || s === 403) fail('role is in the route’s access but was refused');
      if ((s === 401 || s === 403) && r.kind === 'api' && !/^application\/problem\+json/.test(String(res.headers['content-type']))) fail('API refusal is not problem+json');
      if (/text\/html/.test(String(res.headers['content-type'] ?? ''))) {
        for (const m of res.text.matchAll(/<script\b([^>]*)>/gi)) if (!/\bsrc="[^"]+"/.test(m[1]!)) fail('inline <script> in the HTML');
        if (/\sstyle\s*=/i.test(res.text) && !r.path.startsWith('/api/docs')) fail('style="" attribute in the HTML');
        if (res.text.includes('<script>alert(') || res.text.includes('<img src=x')) fail('unescaped markup from user input in the HTML');
      }
    }
    table.push(row);
  }
  printTable(table);
  assert.deepEqual(failures, [], `\n${failures.join('\n')}`);
});

test('sessions are intact after the matrix run except for the logout', async () => {
  // The /logout row signed every role out; a fresh login must still work for every account (none was disabled or changed).
  for (const role of ROLES) {
    const { agent } = await fx.login(role);
    assert.equal((await agent.get('/api/v1/me')).status, 200, role);
  }
});

test('declared access matches tests/fixtures/role-matrix.json', () => {
  const actual: Record<string, Expectation> = {};
  for (const r of allRoutes()) {
    const key = keyOf(r);
    assert.equal(actual[key], undefined, `route ${key} registered twice`);
    actual[key] = accessOf(r);
  }
  if (process.env.ZV_UPDATE_MATRIX === '1' || !existsSync(MATRIX_FILE)) {
    if (process.env.ZV_UPDATE_MATRIX !== '1') assert.fail(`${MATRIX_FILE} is missing; run with ZV_UPDATE_MATRIX=1 to create it, then review it`);
    // One route per line, so that a review sees each change of access on its own.
    const lines = Object.entries(actual).map(([k, v]) => `  ${JSON.stringify(k)}: ${JSON.stringify(v).replace(/","/g, '", "')}`);
    writeFileSync(MATRIX_FILE, `{\n${lines.join(',\n')}\n}\n`);
    console.log(`wrote ${MATRIX_FILE} (${Object.keys(actual).length} routes)`);
    return;
  }
  const expected = JSON.parse(readFileSync(MATRIX_FILE, 'utf8')) as Record<string, Expectation>;
  const normalise = (e: Expectation) => (Array.isArray(e) ? [...e].sort() : e);
  const drift: string[] = [];
  for (const [key, access] of Object.entries(actual)) {
    if (!(key in expected)) drift.push(`new route ${key}: ${JSON.stringify(access)} (not in the expectation)`);
    else if (JSON.stringify(normalise(expected[key]!)) !== JSON.stringify(access)) drift.push(`${key}: expected ${JSON.stringify(normalise(expected[key]!))}, code says ${JSON.stringify(access)}`);
  }
  for (const key of Object.keys(expected)) if (!(key in actual)) drift.push(`route ${key} is expected but no longer registered`);
  assert.deepEqual(drift, [], `role matrix drifted (review, then ZV_UPDATE_MATRIX=1):\n${drift.join('\n')}`);
});

test('the access rules make sense', () => {
  const problems: string[] = [];
  for (const r of allRoutes()) {
    const key = keyOf(r);
    const roles = Array.isArray(r.access) ? (r.access as Role[]) : [];
    const p = r.path;
    if (r.access === 'public' && !PUBLIC_ALLOWED.has(key)) problems.push(`${key} is public`);
    // Signing links exist only under /sign and /api/v1/sign, and those are only reachable with a link.
    if (r.access === 'link' && !/^\/(api\/v1\/)?sign\//.test(p)) problems.push(`${key}: link access outside /sign`);
    if (/^\/(api\/v1\/)?sign\//.test(p) && r.access !== 'link') problems.push(`${key}: a /sign route must be link-only`);
    // Only the ministry signs for the ministry.
    if (/^\/(ministerium|api\/v1\/ministry)(\/|$)/.test(p) && JSON.stringify(roles) !== '["ministry"]') problems.push(`${key}: ministry area must be ministry-only (is ${JSON.stringify(r.access)})`);
    // Only admins manage users and settings.
    if (/^\/(verwaltung|api\/v1\/(users|admin))(\/|$)/.test(p) && JSON.stringify(roles) !== '["admin"]') problems.push(`${key}: administration must be admin-only (is ${JSON.stringify(r.access)})`);
    // The archive (search, downloads of signed documents, reports, export) is the archivist's.
    if (/^\/(archiv|api\/v1\/archive)(\/|$)/.test(p) && (roles.includes('clerk') || roles.includes('ministry') || roles.includes('admin'))) problems.push(`${key}: archive open to ${roles.join(',')}`);
    // Archivists and the ministry read; they do not create or change agreements, envelopes or contacts.
    if (r.method !== 'get' && /^\/(jahre|vereinbarungen|umschlaege|kontakte|api\/v1\/(agreements|envelopes|contacts|years|batches))(\/|$)/.test(p)) {
      for (const reader of ['archivist', 'ministry'] as const) if (roles.includes(reader)) problems.push(`${key}: ${reader} may change clerk data`);
    }
    // Admins administer; they get no business data beyond their area unless granted another role.
    if (roles.includes('admin') && !/^\/(verwaltung|konto|api\/v1\/(users|admin|me|tokens|account))(\/|$)/.test(p)) problems.push(`${key}: admin has access outside the administration (${roles.join(',')})`);
  }
  assert.deepEqual(problems, [], `\n${problems.join('\n')}`);
});

function printTable(rows: string[][]) {
  const header = ['route', 'access', ...ACTORS];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join(' │ ');
  const out = [line(header), widths.map((w) => '─'.repeat(w)).join('─┼─'), ...rows.map(line)];
  console.log(`\nRole matrix (status per caller; 303→login = redirect to the login page)\n${out.join('\n')}\n`);
}
