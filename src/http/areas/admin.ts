/**
 * Administration (users: create, roles, disable, password, unlock) and the personal account page
 * (own password, personal API tokens), with their API counterparts. Forms re-render with the
 * error at the field (422); the account service enforces the rules (last admin, password length).
 */
import type { Request, Response } from 'express';
import { z } from 'zod';
import { html, page, csrfField, field, dateTime, type Html } from '../html.ts';
import { route, IdParam, type AnyRoute } from '../routes.ts';
import { notFound } from '../problem.ts';
import { AccountError, NewUser, Password, MIN_PASSWORD_LENGTH, type User } from '../accounts.ts';
import { ROLES, ROLE_LABELS, type Role } from '../roles.ts';
import { cookieOptions, SESSION_COOKIE } from '../security.ts';
import type { AppContext } from '../context.ts';

type Errors = Record<string, string>;

const ADMIN = ['admin'] as const;

/** The first message per field of a zod error (fields by their first path element). */
function fieldErrors(error: z.ZodError): Errors {
  const out: Errors = {};
  for (const i of error.issues) {
    const key = String(i.path[0] ?? '_');
    out[key] ??= i.message;
  }
  return out;
}

const str = (v: unknown) => (typeof v === 'string' ? v : '');
const list = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : typeof v === 'string' ? [v] : []);

/** Flash messages by key: the redirect carries only the key, never user text. */
const NOTICES: Record<string, string> = {
  created: 'Das Konto wurde angelegt.',
  saved: 'Die Änderungen wurden gespeichert.',
  password: 'Das Passwort wurde gesetzt; alle Sitzungen des Kontos wurden beendet.',
  unlocked: 'Die Sperre wurde aufgehoben.',
  'own-password': 'Ihr Passwort wurde geändert. Alle anderen Sitzungen wurden beendet; diese bleibt angemeldet.',
  revoked: 'Das Token wurde widerrufen.',
  'already-revoked': 'Das Token war bereits widerrufen.',
};
const noticeOf = (req: Request) => {
  const key = typeof req.query.ok === 'string' ? req.query.ok : '';
  return NOTICES[key] ? { kind: 'ok' as const, text: NOTICES[key] } : null;
};

const rolesText = (roles: Role[]) => roles.map((r) => ROLE_LABELS[r]).join(', ') || '—';
const isLocked = (u: User) => !!u.lockedUntil && new Date(u.lockedUntil) > new Date();

function rolesFieldset(selected: readonly string[], errors: Errors, idPrefix: string): Html {
  const error = errors.roles;
  return html`<fieldset${error ? html` class="field invalid" aria-describedby="${idPrefix}-roles-error"` : ''}>
  <legend>Rollen <span aria-hidden="true">*</span></legend>
  ${ROLES.map(
    (r) => html`<div><input type="checkbox" id="${idPrefix}-role-${r}" name="roles" value="${r}"${selected.includes(r) ? html` checked` : ''}> <label for="${idPrefix}-role-${r}">${ROLE_LABELS[r]}</label></div>`,
  )}
  ${error ? html`<p class="error" id="${idPrefix}-roles-error">${error}</p>` : ''}
</fieldset>`;
}

const DISPLAY_NAME_HINT = 'Für Unterzeichnende des Ministeriums: genau der Name, der in den Vereinbarungen als Unterzeichner steht, z. B. „Kai Klose“ – sonst findet die Stapelsignatur keine Vereinbarungen.';

// ───────────────────────────── administration pages ─────────────────────────────

interface NewUserForm {
  username: string;
  displayName: string;
  email: string;
  roles: string[];
}

function usersPage(ctx: AppContext, user: User, csrf: string, opts: { form?: NewUserForm; errors?: Errors; notice?: { kind: 'ok' | 'error' | 'info'; text: string } | null } = {}): Html {
  const users = ctx.accounts.list();
  const form = opts.form ?? { username: '', displayName: '', email: '', roles: [] };
  const errors = opts.errors ?? {};
  return page(
    { title: 'Verwaltung', user, csrf, active: 'admin', notice: opts.notice ?? (Object.keys(errors).length ? { kind: 'error', text: 'Das Konto wurde nicht angelegt: bitte die markierten Felder korrigieren.' } : null) },
    html`<h1>Verwaltung: Benutzerkonten</h1>
<table>
  <caption class="visually-hidden">Benutzerkonten</caption>
  <thead><tr><th scope="col">Benutzername</th><th scope="col">Name</th><th scope="col">E-Mail</th><th scope="col">Rollen</th><th scope="col">Zustand</th><th scope="col">Gesperrt bis</th><th scope="col"><span class="visually-hidden">Aktionen</span></th></tr></thead>
  <tbody>${users.map(
    (u) => html`<tr>
    <td>${u.username}</td>
    <td>${u.displayName}</td>
    <td>${u.email ?? '—'}</td>
    <td>${rolesText(u.roles)}</td>
    <td>${u.disabled ? html`<span class="badge declined">deaktiviert</span>` : html`<span class="badge signed">aktiv</span>`}</td>
    <td>${isLocked(u) ? dateTime(u.lockedUntil) : '—'}</td>
    <td><a href="/verwaltung/benutzer/${u.id}">Bearbeiten<span class="visually-hidden"> (${u.username})</span></a></td>
  </tr>`,
  )}</tbody>
</table>

<h2 id="neu">Neues Konto anlegen</h2>
<form method="post" action="/verwaltung/benutzer" class="narrow" novalidate>
  ${csrfField(csrf)}
  ${field({ name: 'username', label: 'Benutzername', value: form.username, errors, required: true, hint: 'Buchstaben ohne Umlaute, Ziffern, Punkt, Binde- und Unterstrich', attrs: html`autocomplete="off"` })}
  ${field({ name: 'displayName', label: 'Anzeigename', value: form.displayName, errors, required: true, hint: DISPLAY_NAME_HINT })}
  ${field({ name: 'email', label: 'E-Mail', type: 'email', value: form.email, errors })}
  ${rolesFieldset(form.roles, errors, 'new')}
  ${field({ name: 'password', label: 'Anfangspasswort', type: 'password', errors, required: true, hint: `mindestens ${MIN_PASSWORD_LENGTH} Zeichen; bitte getrennt mitteilen und nach der ersten Anmeldung ändern lassen`, attrs: html`autocomplete="new-password"` })}
  <button type="submit" class="primary">Konto anlegen</button>
</form>`,
  );
}

function userPage(ctx: AppContext, user: User, csrf: string, target: User, opts: { errors?: Errors; form?: { displayName: string; email: string; roles: string[]; disabled: boolean }; notice?: { kind: 'ok' | 'error' | 'info'; text: string } | null } = {}): Html {
  const errors = opts.errors ?? {};
  const form = opts.form ?? { displayName: target.displayName, email: target.email ?? '', roles: target.roles, disabled: target.disabled };
  const hasErrors = Object.keys(errors).length > 0;
  return page(
    { title: `Konto ${target.username}`, user, csrf, active: 'admin', notice: opts.notice ?? (hasErrors ? { kind: 'error', text: errors.disabled ?? 'Nicht gespeichert: bitte die markierten Felder korrigieren.' } : null) },
    html`<p><a href="/verwaltung">← Alle Konten</a></p>
<h1>Konto „${target.username}“</h1>
<dl>
  <dt>Angelegt</dt><dd>${dateTime(target.createdAt)}</dd>
  <dt>Zustand</dt><dd>${target.disabled ? 'deaktiviert' : 'aktiv'}${isLocked(target) ? html` – <strong>gesperrt bis ${dateTime(target.lockedUntil)}</strong> (zu viele Fehlversuche)` : ''}</dd>
</dl>
${
  isLocked(target) || target.failedLogins > 0
    ? html`<form method="post" action="/verwaltung/benutzer/${target.id}/entsperren" class="actions">
  ${csrfField(csrf)}
  <button type="submit">Sperre aufheben${target.failedLogins ? ` (${target.failedLogins} Fehlversuche zurücksetzen)` : ''}</button>
</form>`
    : ''
}

<h2>Angaben und Rollen</h2>
<form method="post" action="/verwaltung/benutzer/${target.id}" class="narrow" novalidate>
  ${csrfField(csrf)}
  ${field({ name: 'displayName', label: 'Anzeigename', value: form.displayName, errors, required: true, hint: DISPLAY_NAME_HINT })}
  ${field({ name: 'email', label: 'E-Mail', type: 'email', value: form.email, errors })}
  ${rolesFieldset(form.roles, errors, 'edit')}
  <div class="field${errors.disabled ? ' invalid' : ''}">
    <input type="checkbox" id="f-disabled" name="disabled" value="1"${form.disabled ? html` checked` : ''}> <label for="f-disabled">Konto deaktiviert (keine Anmeldung; laufende Sitzungen und API-Tokens wirken nicht mehr)</label>
    ${errors.disabled ? html`<p class="error">${errors.disabled}</p>` : ''}
  </div>
  <button type="submit" class="primary">Speichern</button>
</form>

<h2>Neues Passwort setzen</h2>
<form method="post" action="/verwaltung/benutzer/${target.id}/passwort" class="narrow" novalidate>
  ${csrfField(csrf)}
  ${field({ name: 'password', label: 'Neues Passwort', type: 'password', errors, required: true, hint: `mindestens ${MIN_PASSWORD_LENGTH} Zeichen; beendet alle Sitzungen des Kontos`, attrs: html`autocomplete="new-password"` })}
  ${field({ name: 'password2', label: 'Neues Passwort wiederholen', type: 'password', errors, required: true, attrs: html`autocomplete="new-password"` })}
  <button type="submit">Passwort setzen</button>
</form>`,
  );
}

function targetOf(ctx: AppContext, id: number): User {
  const u = ctx.accounts.byId(id);
  if (!u) throw notFound(`Das Konto #${id} gibt es nicht.`);
  return u;
}

/** After a password change of the signed-in user: their session was ended with all others; start a fresh one for this browser. */
function renewOwnSession(ctx: AppContext, req: Request, res: Response, user: User): void {
  res.cookie(SESSION_COOKIE, ctx.accounts.startSession(user.id), cookieOptions(ctx, req, 'lax'));
}

// ───────────────────────────── account page ─────────────────────────────

const TOKEN_DAYS = ['30', '90', '365', 'none'] as const;
const TOKEN_DAY_LABELS: Record<(typeof TOKEN_DAYS)[number], string> = { '30': '30 Tage', '90': '90 Tage', '365': '1 Jahr', none: 'unbegrenzt (bis zum Widerruf)' };

function tokenState(t: { expires_at: string | null; revoked_at: string | null }): Html {
  if (t.revoked_at) return html`<span class="badge declined">widerrufen ${dateTime(t.revoked_at)}</span>`;
  if (t.expires_at && new Date(t.expires_at) <= new Date()) return html`<span class="badge cancelled">abgelaufen</span>`;
  return html`<span class="badge signed">gültig</span>`;
}

function accountPage(
  ctx: AppContext,
  user: User,
  csrf: string,
  opts: { pwErrors?: Errors; tokenErrors?: Errors; tokenForm?: { name: string; days: string }; notice?: { kind: 'ok' | 'error' | 'info'; text: string } | null } = {},
): Html {
  const pwErrors = opts.pwErrors ?? {};
  const tokenErrors = opts.tokenErrors ?? {};
  const tokens = ctx.accounts.listTokens(user.id);
  const days = opts.tokenForm?.days ?? '90';
  return page(
    { title: 'Mein Konto', user, csrf, active: 'account', notice: opts.notice ?? null },
    html`<h1>Mein Konto</h1>
<dl>
  <dt>Name</dt><dd>${user.displayName}</dd>
  <dt>Benutzername</dt><dd>${user.username}</dd>
  <dt>E-Mail</dt><dd>${user.email ?? '—'}</dd>
  <dt>Rollen</dt><dd>${rolesText(user.roles)}</dd>
</dl>

<h2 id="passwort">Passwort ändern</h2>
<form method="post" action="/konto/passwort" class="narrow" novalidate>
  ${csrfField(csrf)}
  ${field({ name: 'current', label: 'Aktuelles Passwort', type: 'password', errors: pwErrors, required: true, attrs: html`autocomplete="current-password"` })}
  ${field({ name: 'password', label: 'Neues Passwort', type: 'password', errors: pwErrors, required: true, hint: `mindestens ${MIN_PASSWORD_LENGTH} Zeichen`, attrs: html`autocomplete="new-password"` })}
  ${field({ name: 'password2', label: 'Neues Passwort wiederholen', type: 'password', errors: pwErrors, required: true, attrs: html`autocomplete="new-password"` })}
  <p class="hint">Nach der Änderung werden alle anderen Sitzungen (z. B. auf anderen Geräten) beendet.</p>
  <button type="submit" class="primary">Passwort ändern</button>
</form>

<h2 id="tokens">Persönliche API-Tokens</h2>
<p>Mit einem API-Token greifen Skripte mit Ihren Rechten auf die <a href="/api/docs">API</a> zu. Das Token wird nur einmal angezeigt; gespeichert wird nur ein Hash.</p>
${
  tokens.length
    ? html`<table>
  <caption class="visually-hidden">Ihre API-Tokens</caption>
  <thead><tr><th scope="col">Name</th><th scope="col">Anfang</th><th scope="col">Erstellt</th><th scope="col">Zuletzt benutzt</th><th scope="col">Läuft ab</th><th scope="col">Zustand</th><th scope="col"><span class="visually-hidden">Aktionen</span></th></tr></thead>
  <tbody>${tokens.map(
    (t) => html`<tr>
    <td>${t.name}</td>
    <td class="mono">${t.prefix}…</td>
    <td>${dateTime(t.created_at)}</td>
    <td>${dateTime(t.last_used_at)}</td>
    <td>${t.expires_at ? dateTime(t.expires_at) : 'nie'}</td>
    <td>${tokenState(t)}</td>
    <td>${
      t.revoked_at
        ? ''
        : html`<form method="post" action="/konto/tokens/${t.id}/widerrufen" class="inline">${csrfField(csrf)}<button type="submit" class="danger">Widerrufen<span class="visually-hidden"> (${t.name})</span></button></form>`
    }</td>
  </tr>`,
  )}</tbody>
</table>`
    : html`<p>Sie haben noch keine API-Tokens.</p>`
}
<h3>Neues Token</h3>
<form method="post" action="/konto/tokens" class="narrow" novalidate>
  ${csrfField(csrf)}
  ${field({ name: 'name', label: 'Name (wofür?)', value: opts.tokenForm?.name ?? '', errors: tokenErrors, required: true, hint: 'z. B. „Export-Skript Archiv“' })}
  <div class="field${tokenErrors.days ? ' invalid' : ''}">
    <label for="f-days">Gültigkeit</label>
    <select id="f-days" name="days">${TOKEN_DAYS.map((d) => html`<option value="${d}"${d === days ? html` selected` : ''}>${TOKEN_DAY_LABELS[d]}</option>`)}</select>
    ${tokenErrors.days ? html`<p class="error">${tokenErrors.days}</p>` : ''}
  </div>
  <button type="submit">Token erstellen</button>
</form>`,
  );
}

const TokenForm = z.object({
  name: z.string().trim().min(1, { message: 'Bitte einen Namen angeben.' }).max(80, { message: 'höchstens 80 Zeichen' }),
  days: z.enum(TOKEN_DAYS, { message: 'Bitte eine Gültigkeit wählen.' }),
});

// ───────────────────────────── API schemas ─────────────────────────────

const UserOut = z.object({
  id: z.number().int(),
  username: z.string(),
  displayName: z.string(),
  email: z.string().nullable(),
  roles: z.array(z.enum(ROLES)),
  disabled: z.boolean(),
  lockedUntil: z.string().nullable(),
  createdAt: z.string(),
});
const userOut = (u: User) => ({ id: u.id, username: u.username, displayName: u.displayName, email: u.email, roles: u.roles, disabled: u.disabled, lockedUntil: u.lockedUntil, createdAt: u.createdAt });

const UserPatch = z
  .strictObject({
    displayName: z.string().trim().min(2, { message: 'mindestens 2 Zeichen' }).max(120, { message: 'höchstens 120 Zeichen' }).optional(),
    email: z.union([z.literal(''), z.email({ message: 'keine gültige E-Mail-Adresse' }), z.null()]).optional(),
    roles: z.array(z.enum(ROLES)).min(1, { message: 'mindestens eine Rolle wählen' }).optional(),
    disabled: z.boolean().optional(),
    password: Password.optional(),
    unlock: z.literal(true).optional().describe('Sperre nach Fehlversuchen aufheben'),
  })
  .describe('Nur die angegebenen Felder werden geändert');

const TokenOut = z.object({
  id: z.number().int(),
  name: z.string(),
  prefix: z.string(),
  createdAt: z.string(),
  lastUsedAt: z.string().nullable(),
  expiresAt: z.string().nullable(),
  revokedAt: z.string().nullable(),
});
const TokenIn = z.strictObject({
  name: z.string().trim().min(1, { message: 'Bitte einen Namen angeben.' }).max(80, { message: 'höchstens 80 Zeichen' }),
  days: z.union([z.literal(30), z.literal(90), z.literal(365), z.null()]).optional().describe('Gültigkeit in Tagen (30, 90, 365) oder null: unbegrenzt; ohne Angabe 90'),
});

// ───────────────────────────── routes ─────────────────────────────

export function adminRoutes(): AnyRoute[] {
  return [
    // ── administration pages ──
    route({
      method: 'get',
      path: '/verwaltung',
      kind: 'page',
      access: ADMIN,
      summary: 'Verwaltung: Benutzerkonten',
      handler: ({ req, user, csrf, ctx }) => usersPage(ctx, user!, csrf, { notice: noticeOf(req) }),
    }),
    route({
      method: 'post',
      path: '/verwaltung/benutzer',
      kind: 'page',
      access: ADMIN,
      summary: 'Benutzerkonto anlegen',
      handler: async ({ req, res, user, csrf, ctx }) => {
        const b = req.body as Record<string, unknown>;
        const form: NewUserForm = { username: str(b.username).trim(), displayName: str(b.displayName).trim(), email: str(b.email).trim(), roles: list(b.roles) };
        const parsed = NewUser.safeParse({ ...form, password: str(b.password) });
        let errors: Errors = parsed.success ? {} : fieldErrors(parsed.error);
        if (!errors.username && ctx.accounts.byUsername(form.username)) errors.username = `Der Benutzername „${form.username}“ ist bereits vergeben.`;
        if (parsed.success && !Object.keys(errors).length) {
          try {
            const created = await ctx.accounts.create(parsed.data);
            ctx.log.info({ event: 'user-created', user: created.username, by: user!.username, roles: created.roles }, 'user created');
            return res.redirect(303, `/verwaltung/benutzer/${created.id}?ok=created`);
          } catch (err) {
            if (!(err instanceof AccountError)) throw err;
            errors = { [err.field ?? 'username']: err.message };
          }
        }
        res.status(422);
        return usersPage(ctx, user!, csrf, { form, errors });
      },
    }),
    route({
      method: 'get',
      path: '/verwaltung/benutzer/:id',
      kind: 'page',
      access: ADMIN,
      summary: 'Benutzerkonto bearbeiten',
      params: IdParam,
      handler: ({ params, req, user, csrf, ctx }) => userPage(ctx, user!, csrf, targetOf(ctx, params.id), { notice: noticeOf(req) }),
    }),
    route({
      method: 'post',
      path: '/verwaltung/benutzer/:id',
      kind: 'page',
      access: ADMIN,
      summary: 'Benutzerkonto ändern (Name, E-Mail, Rollen, deaktivieren/aktivieren)',
      params: IdParam,
      handler: ({ params, req, res, user, csrf, ctx }) => {
        const target = targetOf(ctx, params.id);
        const b = req.body as Record<string, unknown>;
        const form = { displayName: str(b.displayName).trim(), email: str(b.email).trim(), roles: list(b.roles), disabled: str(b.disabled) === '1' };
        const parsed = NewUser.pick({ displayName: true, email: true, roles: true }).safeParse(form);
        let errors: Errors = parsed.success ? {} : fieldErrors(parsed.error);
        if (parsed.success) {
          try {
            ctx.accounts.update(target.id, { displayName: parsed.data.displayName, email: parsed.data.email || null, roles: [...new Set(parsed.data.roles)], disabled: form.disabled });
            ctx.log.info({ event: 'user-updated', user: target.username, by: user!.username, roles: parsed.data.roles, disabled: form.disabled }, 'user updated');
            return res.redirect(303, `/verwaltung/benutzer/${target.id}?ok=saved`);
          } catch (err) {
            if (!(err instanceof AccountError)) throw err;
            errors = { [err.field ?? 'roles']: err.message };
          }
        }
        res.status(422);
        return userPage(ctx, user!, csrf, target, { errors, form });
      },
    }),
    route({
      method: 'post',
      path: '/verwaltung/benutzer/:id/passwort',
      kind: 'page',
      access: ADMIN,
      summary: 'Neues Passwort für ein Benutzerkonto setzen',
      params: IdParam,
      handler: async ({ params, req, res, user, csrf, ctx }) => {
        const target = targetOf(ctx, params.id);
        const b = req.body as Record<string, unknown>;
        const errors: Errors = {};
        const pw = Password.safeParse(str(b.password));
        if (!pw.success) errors.password = pw.error.issues[0]!.message;
        else if (str(b.password2) !== str(b.password)) errors.password2 = 'Die beiden Eingaben stimmen nicht überein.';
        if (Object.keys(errors).length) {
          res.status(422);
          return userPage(ctx, user!, csrf, target, { errors, notice: { kind: 'error', text: 'Das Passwort wurde nicht gesetzt.' } });
        }
        await ctx.accounts.setPassword(target.id, str(b.password));
        if (target.id === user!.id) renewOwnSession(ctx, req, res, user!);
        ctx.log.info({ event: 'password-set', user: target.username, by: user!.username }, 'password set by admin');
        res.redirect(303, `/verwaltung/benutzer/${target.id}?ok=password`);
      },
    }),
    route({
      method: 'post',
      path: '/verwaltung/benutzer/:id/entsperren',
      kind: 'page',
      access: ADMIN,
      summary: 'Sperre eines Benutzerkontos aufheben',
      params: IdParam,
      handler: ({ params, res, user, ctx }) => {
        const target = targetOf(ctx, params.id);
        ctx.accounts.unlock(target.id);
        ctx.log.info({ event: 'user-unlocked', user: target.username, by: user!.username }, 'user unlocked');
        res.redirect(303, `/verwaltung/benutzer/${target.id}?ok=unlocked`);
      },
    }),

    // ── administration API ──
    route({
      method: 'get',
      path: '/api/v1/users',
      kind: 'api',
      access: ADMIN,
      tag: 'Verwaltung',
      summary: 'Alle Benutzerkonten',
      response: { description: 'Konten', schema: z.object({ users: z.array(UserOut) }) },
      handler: ({ ctx }) => ({ users: ctx.accounts.list().map(userOut) }),
    }),
    route({
      method: 'post',
      path: '/api/v1/users',
      kind: 'api',
      access: ADMIN,
      tag: 'Verwaltung',
      summary: 'Benutzerkonto anlegen',
      body: NewUser,
      response: { status: 201, description: 'Das neue Konto', schema: UserOut },
      handler: async ({ body, user, ctx }) => {
        const created = await ctx.accounts.create(body);
        ctx.log.info({ event: 'user-created', user: created.username, by: user!.username, roles: created.roles }, 'user created');
        return userOut(created);
      },
    }),
    route({
      method: 'patch',
      path: '/api/v1/users/:id',
      kind: 'api',
      access: ADMIN,
      tag: 'Verwaltung',
      summary: 'Benutzerkonto ändern (Name, E-Mail, Rollen, deaktivieren, Passwort, Sperre aufheben)',
      params: IdParam,
      body: UserPatch,
      response: { description: 'Das geänderte Konto', schema: UserOut },
      handler: async ({ params, body, user, ctx }) => {
        const target = targetOf(ctx, params.id);
        const { password, unlock, email, roles, ...rest } = body;
        ctx.accounts.update(target.id, { ...rest, ...(email === undefined ? {} : { email: email || null }), ...(roles ? { roles: [...new Set(roles)] } : {}) });
        if (password) await ctx.accounts.setPassword(target.id, password);
        if (unlock) ctx.accounts.unlock(target.id);
        ctx.log.info({ event: 'user-updated', user: target.username, by: user!.username, fields: Object.keys(body) }, 'user updated');
        return userOut(ctx.accounts.byId(target.id)!);
      },
    }),

    // ── own account ──
    route({
      method: 'get',
      path: '/konto',
      kind: 'page',
      access: ROLES,
      summary: 'Mein Konto: Passwort und API-Tokens',
      handler: ({ req, user, csrf, ctx }) => accountPage(ctx, user!, csrf, { notice: noticeOf(req) }),
    }),
    route({
      method: 'post',
      path: '/konto/passwort',
      kind: 'page',
      access: ROLES,
      summary: 'Eigenes Passwort ändern',
      handler: async ({ req, res, user, csrf, ctx }) => {
        const b = req.body as Record<string, unknown>;
        const current = str(b.current);
        const next = str(b.password);
        const errors: Errors = {};
        const pw = Password.safeParse(next);
        if (!current) errors.current = 'Bitte das aktuelle Passwort eingeben.';
        if (!pw.success) errors.password = pw.error.issues[0]!.message;
        else if (str(b.password2) !== next) errors.password2 = 'Die beiden Eingaben stimmen nicht überein.';
        else if (next === current) errors.password = 'Das neue Passwort muss sich vom bisherigen unterscheiden.';
        if (current) {
          // Checked even when the new one is bad: failures count towards the lockout either way.
          const check = await ctx.accounts.confirmPassword(user!.id, current);
          if (!check.ok) errors.current = check.reason === 'locked' ? 'Zu viele Fehlversuche: das Konto ist vorübergehend gesperrt.' : 'Das aktuelle Passwort ist falsch.';
        }
        if (Object.keys(errors).length) {
          res.status(422);
          return accountPage(ctx, user!, csrf, { pwErrors: errors, notice: { kind: 'error', text: 'Das Passwort wurde nicht geändert.' } });
        }
        await ctx.accounts.setPassword(user!.id, next);
        renewOwnSession(ctx, req, res, user!);
        ctx.log.info({ event: 'password-changed', user: user!.username }, 'own password changed');
        res.redirect(303, '/konto?ok=own-password');
      },
    }),
    route({
      method: 'post',
      path: '/konto/tokens',
      kind: 'page',
      access: ROLES,
      summary: 'Persönliches API-Token erstellen (wird einmal angezeigt)',
      handler: ({ req, res, user, csrf, ctx }) => {
        const b = req.body as Record<string, unknown>;
        const form = { name: str(b.name).trim(), days: str(b.days) || '90' };
        const parsed = TokenForm.safeParse(form);
        if (!parsed.success) {
          res.status(422);
          return accountPage(ctx, user!, csrf, { tokenErrors: fieldErrors(parsed.error), tokenForm: form, notice: { kind: 'error', text: 'Das Token wurde nicht erstellt.' } });
        }
        const days = parsed.data.days === 'none' ? null : Number(parsed.data.days);
        const { id, token } = ctx.accounts.createToken(user!.id, parsed.data.name, days);
        ctx.log.info({ event: 'token-created', user: user!.username, tokenId: id }, 'api token created');
        const t = ctx.accounts.listTokens(user!.id).find((x) => x.id === id)!;
        // The token is in this response only: keep it out of caches.
        res.set('Cache-Control', 'no-store');
        return page(
          { title: 'API-Token erstellt', user, csrf, active: 'account', notice: { kind: 'ok', text: 'Das API-Token wurde erstellt.' } },
          html`<h1>API-Token „${t.name}“</h1>
<p><strong>Kopieren Sie das Token jetzt: es wird nur dieses eine Mal angezeigt.</strong> Zielwerk speichert nur einen Hash davon; geht es verloren, widerrufen Sie es und erstellen ein neues.</p>
<div class="field">
  <label for="f-token">Ihr Token</label>
  <input id="f-token" type="text" readonly value="${token}" class="mono" aria-describedby="f-token-hint">
  <p class="hint" id="f-token-hint">Gültig ${t.expires_at ? html`bis ${dateTime(t.expires_at)}` : 'bis zum Widerruf'}; es hat die Rechte Ihres Kontos (${rolesText(user!.roles)}).</p>
</div>
<h2>So benutzen Sie es</h2>
<p>Schicken Sie das Token im Kopf <code>Authorization</code> jeder API-Anfrage mit, zum Beispiel:</p>
<pre class="report">curl -H "Authorization: Bearer ${token}" http://localhost:3000/api/v1/me</pre>
<p>Die Beschreibung aller Schnittstellen finden Sie unter <a href="/api/docs">API-Dokumentation</a>.</p>
<p><a class="button" href="/konto#tokens">Zurück zu „Mein Konto“</a></p>`,
        );
      },
    }),
    route({
      method: 'post',
      path: '/konto/tokens/:id/widerrufen',
      kind: 'page',
      access: ROLES,
      summary: 'Eigenes API-Token widerrufen',
      params: IdParam,
      handler: ({ params, res, user, ctx }) => {
        const t = ctx.accounts.listTokens(user!.id).find((x) => x.id === params.id);
        if (!t) throw notFound('Dieses Token gibt es unter Ihren Tokens nicht.');
        const revoked = ctx.accounts.revokeToken(user!.id, t.id);
        if (revoked) ctx.log.info({ event: 'token-revoked', user: user!.username, tokenId: t.id }, 'api token revoked');
        res.redirect(303, `/konto?ok=${revoked ? 'revoked' : 'already-revoked'}#tokens`);
      },
    }),

    // ── own account API ──
    route({
      method: 'get',
      path: '/api/v1/tokens',
      kind: 'api',
      access: ROLES,
      tag: 'Konto',
      summary: 'Eigene API-Tokens (ohne die Tokens selbst)',
      response: { description: 'Tokens', schema: z.object({ tokens: z.array(TokenOut) }) },
      handler: ({ user, ctx }) => ({
        tokens: ctx.accounts.listTokens(user!.id).map((t) => ({ id: t.id, name: t.name, prefix: t.prefix, createdAt: t.created_at, lastUsedAt: t.last_used_at, expiresAt: t.expires_at, revokedAt: t.revoked_at })),
      }),
    }),
    route({
      method: 'post',
      path: '/api/v1/tokens',
      kind: 'api',
      access: ROLES,
      tag: 'Konto',
      summary: 'API-Token erstellen; das Token steht nur in dieser Antwort',
      body: TokenIn,
      response: { status: 201, description: 'Das neue Token', schema: z.object({ id: z.number().int(), token: z.string(), expiresAt: z.string().nullable() }) },
      handler: ({ body, user, res, ctx }) => {
        const { id, token } = ctx.accounts.createToken(user!.id, body.name, body.days === undefined ? 90 : body.days);
        ctx.log.info({ event: 'token-created', user: user!.username, tokenId: id }, 'api token created');
        res.set('Cache-Control', 'no-store');
        return { id, token, expiresAt: ctx.accounts.listTokens(user!.id).find((t) => t.id === id)!.expires_at };
      },
    }),
    route({
      method: 'delete',
      path: '/api/v1/tokens/:id',
      kind: 'api',
      access: ROLES,
      tag: 'Konto',
      summary: 'Eigenes API-Token widerrufen',
      params: IdParam,
      response: { status: 204, description: 'Widerrufen' },
      handler: ({ params, user, res, ctx }) => {
        const t = ctx.accounts.listTokens(user!.id).find((x) => x.id === params.id);
        if (!t) throw notFound('Dieses Token gibt es unter Ihren Tokens nicht.');
        ctx.accounts.revokeToken(user!.id, t.id);
        ctx.log.info({ event: 'token-revoked', user: user!.username, tokenId: t.id }, 'api token revoked');
        res.status(204).end();
      },
    }),
  ];
}
