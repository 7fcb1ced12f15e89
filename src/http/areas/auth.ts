/** Sign-in and sign-out, the start page's redirect, the current user, and the API documentation. */
import { rateLimit } from 'express-rate-limit';
import { z } from 'zod';
import { html, page, csrfField, field } from '../html.ts';
import { route, type AnyRoute } from '../routes.ts';
import { ROLES, ROLE_LABELS, type Role } from '../roles.ts';
import { cookieOptions, csrfToken, SESSION_COOKIE } from '../security.ts';
import { openApiDocument } from '../openapi.ts';
import { MAX_FAILED_LOGINS, LOCKOUT_MS } from '../accounts.ts';

const HOME: [Role, string][] = [
  ['clerk', '/jahre'],
  ['ministry', '/ministerium'],
  ['archivist', '/archiv'],
  ['admin', '/verwaltung'],
];

/**
 * Only local paths are followed after login (no open redirect): one leading slash, then no second
 * slash or backslash, and no control characters or whitespace anywhere (browsers drop tabs and
 * newlines from URLs, which would turn "/\t/evil.example" into "//evil.example").
 */
export const safeNext = (next: unknown) => (typeof next === 'string' && next.length <= 2000 && /^\/(?![/\\])[^\s\\\u0000-\u001f\u007f]*$/.test(next) ? next : '/');

const LOGIN_FAILED = `Anmeldung fehlgeschlagen. Nach ${MAX_FAILED_LOGINS} Fehlversuchen wird ein Konto für ${LOCKOUT_MS / 60_000} Minuten gesperrt.`;

export const UserInfo = z.object({
  id: z.number().int(),
  username: z.string(),
  displayName: z.string(),
  email: z.string().nullable(),
  roles: z.array(z.enum(ROLES)),
});

function loginPage(csrf: string, next: string, username = '', error?: string) {
  return page(
    { title: 'Anmelden', csrf, notice: error ? { kind: 'error', text: error } : null },
    html`<h1>Anmelden</h1>
<form method="post" action="/login" class="narrow">
  ${csrfField(csrf)}
  <input type="hidden" name="next" value="${next}">
  ${field({ name: 'username', label: 'Benutzername', value: username, required: true, attrs: html`autocomplete="username" autofocus` })}
  ${field({ name: 'password', label: 'Passwort', type: 'password', required: true, attrs: html`autocomplete="current-password"` })}
  <button type="submit" class="primary">Anmelden</button>
</form>
<p class="hint">Unterzeichnende der Landkreise und Städte brauchen kein Konto: sie unterschreiben über den persönlichen Link aus ihrer E-Mail.</p>`,
  );
}

export function authRoutes(routes: () => AnyRoute[]): AnyRoute[] {
  // Per address: 20 attempts per 15 minutes, on top of the per-account lockout.
  const loginLimiter = rateLimit({
    windowMs: 15 * 60_000,
    limit: 20,
    // Only failed attempts count: colleagues behind one proxy address can still all sign in.
    skipSuccessfulRequests: true,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    handler: (_req, res) => {
      res.status(429).type('html').send(page({ title: 'Zu viele Versuche', csrf: '' }, html`<h1>Zu viele Anmeldeversuche</h1><p>Von Ihrer Adresse kamen zu viele Anmeldeversuche. Bitte warten Sie 15 Minuten.</p>`).value);
    },
  });

  return [
    route({
      method: 'get',
      path: '/',
      kind: 'page',
      access: 'public',
      summary: 'Start: leitet zur Seite der eigenen Rolle',
      handler: ({ user, res }) => {
        if (!user) return res.redirect(303, '/login');
        const home = HOME.find(([role]) => user.roles.includes(role));
        res.redirect(303, home ? home[1] : '/konto');
      },
    }),
    route({
      method: 'get',
      path: '/login',
      kind: 'page',
      access: 'public',
      summary: 'Anmeldeseite',
      query: z.object({ next: z.string().optional() }),
      handler: ({ csrf, query }) => loginPage(csrf, safeNext(query.next)),
    }),
    route({
      method: 'post',
      path: '/login',
      kind: 'page',
      access: 'public',
      summary: 'Anmelden',
      middleware: [loginLimiter],
      handler: async ({ req, res, ctx }) => {
        const username = typeof req.body.username === 'string' ? req.body.username.trim() : '';
        const password = typeof req.body.password === 'string' ? req.body.password : '';
        const next = safeNext(req.body.next);
        const result = username && password ? await ctx.accounts.login(username, password) : ({ ok: false, reason: 'invalid' } as const);
        if (!result.ok) {
          ctx.log.info({ event: 'login-failed', reason: result.reason }, 'login failed');
          res.status(401);
          // One neutral message for unknown user, wrong password, locked and disabled account: the answer does not tell which.
          return loginPage(csrfToken(ctx, req, res), next, username, LOGIN_FAILED);
        }
        const old = req.cookies?.[SESSION_COOKIE] as string | undefined;
        if (old) ctx.accounts.endSession(old);
        // A fresh session id and a fresh CSRF cookie: nothing from before the login carries over.
        res.cookie(SESSION_COOKIE, ctx.accounts.startSession(result.user.id), cookieOptions(ctx, req, 'lax'));
        csrfToken(ctx, req, res, true);
        ctx.log.info({ event: 'login', user: result.user.username }, 'login');
        res.redirect(303, next);
      },
    }),
    route({
      method: 'post',
      path: '/logout',
      kind: 'page',
      access: 'public',
      summary: 'Abmelden',
      handler: ({ req, res, ctx }) => {
        const session = req.cookies?.[SESSION_COOKIE] as string | undefined;
        if (session) ctx.accounts.endSession(session);
        res.clearCookie(SESSION_COOKIE, { path: '/' });
        csrfToken(ctx, req, res, true);
        res.redirect(303, '/login');
      },
    }),
    route({
      method: 'get',
      path: '/api/v1/me',
      kind: 'api',
      access: ROLES,
      tag: 'Konto',
      summary: 'Das angemeldete Konto',
      response: { description: 'Konto', schema: UserInfo },
      handler: ({ user }) => ({ id: user!.id, username: user!.username, displayName: user!.displayName, email: user!.email, roles: user!.roles }),
    }),
    route({
      method: 'get',
      path: '/api/openapi.json',
      kind: 'api',
      access: 'public',
      summary: 'OpenAPI-3.1-Dokument',
      handler: () => openApiDocument(routes()),
    }),
    route({
      method: 'get',
      path: '/api/docs',
      kind: 'page',
      access: 'public',
      summary: 'API-Dokumentation (Swagger UI)',
      handler: ({ res }) => {
        res.type('html').send(`<!doctype html>
<html lang="de"><head><meta charset="utf-8"><title>Zielwerk API</title>
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/api/docs/assets/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/api/docs/assets/swagger-ui-bundle.js"></script>
<script src="/static/swagger-init.js"></script>
</body></html>`);
      },
    }),
  ];
}

export { ROLE_LABELS };
