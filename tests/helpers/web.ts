/**
 * The web app on a fresh data directory for supertest: real services, real SQLite, real keys.
 * One account per role (password PASSWORD); `login(role)` returns an agent with a session and
 * the CSRF token its forms carry.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import request from 'supertest';
import type { Express } from 'express';
import { createApp } from '../../src/http/app.ts';
import { openContext, ensureAdmin } from '../../src/http/server.ts';
import type { AppContext } from '../../src/http/context.ts';
import type { Role } from '../../src/http/roles.ts';

export const PASSWORD = 'richtig-langes-passwort';

/** Test accounts: one per role; the ministry account's name is the minister of the 2023 examples. */
export const TEST_USERS: Record<Role, { username: string; displayName: string; email: string }> = {
  admin: { username: 'admin', displayName: 'Administration', email: 'admin@hmsi.example' },
  clerk: { username: 'clerk', displayName: 'Sachbearbeitung AQB', email: 'aqb@hmsi.example' },
  ministry: { username: 'minister', displayName: 'Kai Klose', email: 'minister@hmsi.example' },
  archivist: { username: 'archiv', displayName: 'Archiv HMSI', email: 'archiv@hmsi.example' },
};

export interface WebFixture {
  dir: string;
  ctx: AppContext;
  app: Express;
  /** Log lines written by the app (pino JSON), for checks that no secret is logged. */
  logLines: string[];
  login(role: Role): Promise<{ agent: ReturnType<typeof request.agent>; csrf: string }>;
  /** A CSRF token for the agent's current cookie, read from a page's form. */
  csrfOf(agent: ReturnType<typeof request.agent>, path?: string): Promise<string>;
  close(): void;
}

export async function webFixture(
  opts: {
    passphrase?: string;
    /** The store's clock (tests pin it to move time, e.g. past a lockout). */
    clock?: () => Date;
    /** Cookies' Secure flag (default false: supertest speaks plain HTTP). */
    secureCookies?: boolean | 'auto';
  } = {},
): Promise<WebFixture> {
  const dir = mkdtempSync(join(tmpdir(), 'zv-web-'));
  const logLines: string[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => void logLines.push(line) });
  const { SigningService } = await import('../../src/envelope/service.ts');
  const svc = SigningService.open({ dataDir: dir, passphrase: opts.passphrase ?? 'test-passphrase', transport: null, baseUrl: 'http://localhost:3000', clock: opts.clock });
  const ctx = openContext({ dataDir: dir, log, secureCookies: opts.secureCookies ?? false, svc });
  await ensureAdmin(ctx, { ZV_ADMIN_PASSWORD: PASSWORD }, () => {});
  for (const role of ['clerk', 'ministry', 'archivist'] as const) {
    await ctx.accounts.create({ ...TEST_USERS[role], roles: [role], password: PASSWORD });
  }
  const app = createApp(ctx);
  const csrfOf = async (agent: ReturnType<typeof request.agent>, path = '/login') => {
    const res = await agent.get(path);
    const m = /name="_csrf" value="([^"]+)"/.exec(res.text);
    if (!m) throw new Error(`no CSRF field on ${path} (status ${res.status})`);
    return m[1]!;
  };
  return {
    dir,
    ctx,
    app,
    logLines,
    csrfOf,
    async login(role) {
      const agent = request.agent(app);
      const csrf0 = await csrfOf(agent);
      const res = await agent.post('/login').type('form').send({ username: TEST_USERS[role].username, password: PASSWORD, _csrf: csrf0 });
      if (res.status !== 303) throw new Error(`login as ${role} failed: ${res.status} ${res.text.slice(0, 300)}`);
      return { agent, csrf: await csrfOf(agent, '/konto') };
    },
    close() {
      ctx.svc.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The clerk's form fields of a valid AQB agreement for Landkreis Kassel (partner signs first), with
 * the given projects in the first measure; `overrides` replace or add fields.
 */
export function kasselForm(csrf: string, overrides: Record<string, string> = {}, projects: string[] = ['Begleitete Ausbildung', '']): Record<string, string> {
  return {
    _csrf: csrf,
    action: 'save',
    type: 'aqb',
    year: '2023',
    partner: 'landkreis-kassel',
    amount: '846.500',
    steering: 'dialog',
    date: '2023-05-30',
    signingOrder: 'partner-first',
    'measures[0][category]': 'ausbildung',
    ...Object.fromEntries(projects.map((p, i) => [`measures[0][projects][${i}]`, p])),
    'signatories[ministry][0][name]': '',
    'signatories[ministry][0][role]': '',
    'signatories[partner][0][name]': 'Andreas Siebert',
    'signatories[partner][0][role]': 'Landrat',
    'signatories[partner][1][name]': '',
    'signatories[partner][1][role]': '',
    ...overrides,
  };
}
