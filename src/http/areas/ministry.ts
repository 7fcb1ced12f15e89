/**
 * The ministry signatory: the list of agreements waiting for this user's signature, the PDFs, and
 * the batch signature after re-entering the password. Only envelopes where the signed-in user is a
 * ministry signatory (by display name, as in the agreement) are visible or signable.
 */
import type { Response } from 'express';
import { z } from 'zod';
import { html, page, csrfField, euro, dateTime, raw, type Html } from '../html.ts';
import { route, IdParam, type AnyRoute } from '../routes.ts';
import { HttpError, invalid, notFound } from '../problem.ts';
import type { AppContext } from '../context.ts';
import type { User } from '../accounts.ts';
import { EnvelopeError, type Snapshot } from '../../envelope/service.ts';
import { fileById, readStoredFile } from '../../store/files.ts';
import { backdateError, backdateField, dateError, DateSchema, placeError, PlaceSchema, signRefusalText, todayBerlin } from './sign.ts';
import { sendDownload } from '../download.ts';
import { BACKEND_LABELS, LEGAL_WEIGHT, ministryBackends, ministryPkcs11Uri, type WebBackend } from '../signing-options.ts';
import { openKey, type KeyChoice } from '../../sign/key-uri.ts';
import { parsePkcs11Uri } from '../../sign/pkcs11.ts';
import { SignerError } from '../../sign/signer.ts';

const TAG = 'Ministerium';
const DEFAULT_PLACE = 'Wiesbaden';
const MAX_BATCH = 200;
const TYPE_LABELS: Record<string, string> = { aqb: 'AQB', sgb2: 'SGB II' };

const QueueQuery = z.object({
  year: z.coerce.number().int().min(2000).max(2100).optional().or(z.literal('').transform(() => undefined)),
  type: z.enum(['aqb', 'sgb2']).optional().or(z.literal('').transform(() => undefined)),
});

/** The envelope if the user is (or was) its ministry signatory, else a 404 that says nothing more. */
function ownEnvelope(ctx: AppContext, user: User, id: number): Snapshot {
  let snap: Snapshot;
  try {
    snap = ctx.svc.snapshot(id);
  } catch (err) {
    if (err instanceof EnvelopeError) throw notFound('Diesen Umschlag gibt es nicht oder er ist nicht für Sie bestimmt.');
    throw err;
  }
  const mine = snap.signatories.some((s) => s.party === 'ministry' && s.name === user.displayName && (s.status === 'pending' || s.status === 'signed'));
  if (!mine || snap.envelope.status === 'cancelled') throw notFound('Diesen Umschlag gibt es nicht oder er ist nicht für Sie bestimmt.');
  return snap;
}

async function sendDocument(ctx: AppContext, user: User, id: number, res: Response): Promise<void> {
  const snap = ownEnvelope(ctx, user, id);
  const file = fileById(ctx.svc.store.db, snap.envelope.current_file_id);
  const bytes = readStoredFile(ctx.svc.store.dataDir, file);
  await ctx.svc.record(snap.envelope.id, { type: 'downloaded', actor: `${user.displayName} (Konto ${user.username})`, docBefore: file.sha256, details: { file: file.path.split('/').pop() } });
  sendDownload(res, bytes, { name: `${snap.agreement.file_base}${snap.envelope.status === 'completed' ? '' : '-in-unterzeichnung'}.pdf`, disposition: 'inline' });
}

/** Envelopes this user signed, newest first. */
function recentlySigned(ctx: AppContext, user: User, limit = 10): { snap: Snapshot; signedAt: string }[] {
  const rows = ctx.svc.store.db
    .prepare("SELECT envelope_id, signed_at FROM signatories WHERE party = 'ministry' AND name = ? AND status = 'signed' ORDER BY signed_at DESC, id DESC LIMIT ?")
    .all(user.displayName, limit) as { envelope_id: number; signed_at: string }[];
  return rows.map((r) => ({ snap: ctx.svc.snapshot(r.envelope_id), signedAt: r.signed_at }));
}

interface Form {
  ids: number[];
  place: string;
  date: string;
  backdateReason: string;
  backend: WebBackend;
  credential: string;
}

function queuePage(ctx: AppContext, user: User, csrf: string, filter: { year?: number; type?: string }, form: Partial<Form> = {}, errors: Record<string, string> = {}, notice?: { kind: 'ok' | 'error' | 'info'; text: string }): Html {
  const queue = ctx.svc.awaitingMinistry({ name: user.displayName, year: filter.year, type: filter.type });
  const recent = recentlySigned(ctx, user);
  const chosen = new Set(form.ids ?? []);
  const err = (k: string) => (errors[k] ? html`<p class="error" id="e-${k}">${errors[k]}</p>` : '');
  const inv = (k: string) => (errors[k] ? raw(' aria-invalid="true"') : '');
  const desc = (k: string, hint?: string) => {
    const ids = [hint ?? '', errors[k] ? `e-${k}` : ''].filter(Boolean).join(' ');
    return ids ? html` aria-describedby="${ids}"` : '';
  };
  const total = queue.reduce((sum, s) => sum + (s.agreement.amount_cents ?? 0), 0);
  const backends = ministryBackends();
  const backend = form.backend && backends.includes(form.backend) ? form.backend : backends[backends.length - 1]!;
  const pkcs11Label = ministryPkcs11Uri() ? describeConfiguredKey(ministryPkcs11Uri()!) : '';
  const years = [...new Set(queue.map((s) => s.agreement.year))];

  const summary = Object.keys(errors).length
    ? html`<div class="notice error" role="alert"><p><strong>Es wurde nichts unterzeichnet.</strong></p><ul>${Object.entries(errors).map(
        ([k, m]) => html`<li><a href="#${k === 'ids' ? 'queue-table' : k === 'backend' ? 'b-keystore' : k === 'backdate' ? 'f-backdate' : `f-${k}`}">${m}</a></li>`,
      )}</ul></div>`
    : '';

  const body = html`<h1>Zur Unterzeichnung (Ministerium)</h1>
${summary}
<form method="get" action="/ministerium" class="actions filter">
  <label for="q-year">Jahr</label>
  <input id="q-year" name="year" type="number" min="2000" max="2100" value="${filter.year ?? ''}">
  <label for="q-type">Art</label>
  <select id="q-type" name="type">
    <option value="">alle</option>
    ${Object.entries(TYPE_LABELS).map(([k, l]) => html`<option value="${k}"${filter.type === k ? raw(' selected') : ''}>${l}</option>`)}
  </select>
  <button type="submit">Filtern</button>
</form>
${queue.length === 0
  ? html`<p class="notice info">Zurzeit wartet keine Vereinbarung auf Ihre Unterschrift${filter.year || filter.type ? ' (mit diesem Filter)' : ''}.</p>`
  : html`<form method="post" action="/ministerium/unterzeichnen" id="batch-form">
  ${csrfField(csrf)}
  <p>${queue.length} Vereinbarung${queue.length === 1 ? '' : 'en'} ${years.length ? html`(${years.join(', ')})` : ''} warten auf Ihre Unterschrift, zusammen ${euro(total)}. Bitte sehen Sie die Dokumente durch, wählen Sie die zu unterzeichnenden aus und bestätigen Sie ${backends.length > 1 ? 'mit Ihrem Passwort (Key-Store) oder der PIN Ihres Schlüssels' : 'mit Ihrem Passwort'}.</p>
  ${err('ids')}
  <table id="queue-table"${errors.ids ? raw(' aria-describedby="e-ids"') : ''}>
    <caption class="visually-hidden">Vereinbarungen, die auf Ihre Unterschrift warten</caption>
    <thead><tr>
      <th scope="col"><span class="select-all-slot" data-label="Alle auswählen"></span><span class="visually-hidden">Auswahl</span></th>
      <th scope="col">Partner</th><th scope="col">Art</th><th scope="col">Jahr</th><th scope="col" class="num">Betrag</th><th scope="col">Dokument</th>
    </tr></thead>
    <tbody>${queue.map((s) => {
      const a = s.agreement;
      const id = `sel-${s.envelope.id}`;
      return html`<tr>
      <td><input type="checkbox" id="${id}" name="envelopeIds" value="${s.envelope.id}" class="row-select"${chosen.has(s.envelope.id) ? raw(' checked') : ''}><label for="${id}" class="visually-hidden">${a.partner_name} auswählen</label></td>
      <td>${a.partner_name}</td><td>${TYPE_LABELS[a.type] ?? a.type}</td><td>${a.year}</td><td class="num">${euro(a.amount_cents)}</td>
      <td><a href="/ministerium/umschlaege/${s.envelope.id}/dokument.pdf" target="_blank" rel="noopener">PDF öffnen<span class="visually-hidden"> (${a.partner_name}, neues Fenster)</span></a></td>
    </tr>`;
    })}</tbody>
  </table>
  <div class="grid2">
    <div class="field${errors.place ? ' invalid' : ''}">
      <label for="f-place">Ort <span aria-hidden="true">*</span></label>
      <input id="f-place" name="place" type="text" value="${form.place ?? DEFAULT_PLACE}" required maxlength="60"${inv('place')}${desc('place')}>
      ${err('place')}
    </div>
    <div class="field${errors.date ? ' invalid' : ''}">
      <label for="f-date">Datum <span aria-hidden="true">*</span></label>
      <input id="f-date" name="date" type="date" value="${form.date ?? todayBerlin(ctx)}" max="${todayBerlin(ctx)}" required${inv('date')}${desc('date')}>
      ${err('date')}
    </div>
  </div>
  ${backdateField('f-backdate', form.backdateReason ?? '', errors.backdate)}
  <fieldset class="backends${errors.backend ? ' invalid' : ''}">
    <legend>Womit unterschreiben Sie?</legend>
    ${backends.map(
      (b) => html`<div class="field check backend">
      <input type="radio" id="b-${b}" name="backend" value="${b}"${backend === b ? raw(' checked') : ''} aria-describedby="l-${b}">
      <label for="b-${b}">${BACKEND_LABELS[b]}${b === 'pkcs11' ? html` <span class="hint">(${pkcs11Label})</span>` : ''}</label>
      <p class="hint legal" id="l-${b}">${LEGAL_WEIGHT[b]}</p>
    </div>`,
    )}
    ${err('backend')}
  </fieldset>
  <div class="field${errors.password ? ' invalid' : ''}" data-backend="keystore">
    <label for="f-password">Passwort zur Bestätigung (Key-Store)</label>
    <input id="f-password" name="password" type="password" autocomplete="current-password"${inv('password')}${desc('password', 'h-password')}>
    <p class="hint" id="h-password">Mit Ihrem Passwort bestätigen Sie, dass Sie jede ausgewählte Vereinbarung elektronisch unterzeichnen. Jede Unterschrift wird einzeln protokolliert.</p>
    ${err('password')}
  </div>
  ${backends.includes('csc')
    ? html`<div class="field${errors.credential ? ' invalid' : ''}" data-backend="csc">
    <label for="f-credential">Credential beim Anbieter (Fernsignatur)</label>
    <input id="f-credential" name="credential" type="text" value="${form.credential ?? process.env.ZV_CSC_CREDENTIAL ?? ''}" autocomplete="off"${inv('credential')}${desc('credential', 'h-credential')}>
    <p class="hint" id="h-credential">Die Kennung Ihres qualifizierten Zertifikats beim Vertrauensdiensteanbieter (credentialID).</p>
    ${err('credential')}
  </div>`
    : ''}
  ${backends.length > 1
    ? html`<div class="grid2">
    <div class="field${errors.pin ? ' invalid' : ''}" data-backend="pkcs11 csc">
      <label for="f-pin">PIN (${backends.includes('pkcs11') && backends.includes('csc') ? 'Signaturkarte, HSM oder Fernsignatur' : backends.includes('pkcs11') ? 'Signaturkarte oder HSM' : 'Fernsignatur'})</label>
      <input id="f-pin" name="pin" type="password" inputmode="numeric" autocomplete="off"${inv('pin')}${desc('pin', 'h-pin')}>
      <p class="hint" id="h-pin">Eine PIN-Eingabe gilt für alle ausgewählten Vereinbarungen; jede Unterschrift wird einzeln protokolliert.</p>
      ${err('pin')}
    </div>
    ${backends.includes('csc')
      ? html`<div class="field${errors.otp ? ' invalid' : ''}" data-backend="csc">
      <label for="f-otp">Einmalpasswort (falls Ihr Anbieter eines verlangt)</label>
      <input id="f-otp" name="otp" type="text" inputmode="numeric" autocomplete="one-time-code"${inv('otp')}${desc('otp')}>
      ${err('otp')}
    </div>`
      : ''}
  </div>`
    : ''}
  <button type="submit" class="primary">Ausgewählte unterzeichnen</button>
</form>`}
<h2>Zuletzt von Ihnen unterzeichnet</h2>
${recent.length === 0
  ? html`<p>Noch keine.</p>`
  : html`<table>
  <thead><tr><th scope="col">Partner</th><th scope="col">Art</th><th scope="col">Jahr</th><th scope="col">Unterzeichnet am</th><th scope="col">Stand</th><th scope="col">Dokument</th></tr></thead>
  <tbody>${recent.map(
    ({ snap, signedAt }) => html`<tr><td>${snap.agreement.partner_name}</td><td>${TYPE_LABELS[snap.agreement.type] ?? snap.agreement.type}</td><td>${snap.agreement.year}</td><td>${dateTime(signedAt)}</td>
    <td>${snap.envelope.status === 'completed' ? 'vollständig unterzeichnet' : snap.envelope.status === 'open' ? 'wartet auf weitere Unterschriften' : snap.envelope.status === 'declined' ? 'abgelehnt' : 'storniert'}</td>
    <td>${snap.envelope.status === 'cancelled' ? '—' : html`<a href="/ministerium/umschlaege/${snap.envelope.id}/dokument.pdf">PDF</a>`}</td></tr>`,
  )}</tbody>
</table>`}`;
  return page({ title: 'Unterzeichnen (Ministerium)', user, csrf, active: 'ministry', scripts: ['ministry.js'], notice: notice ?? null }, body);
}

/** Form values as one list: a single checkbox arrives as a string, several as an array. */
function idsOf(v: unknown): number[] | null {
  const list = v === undefined ? [] : Array.isArray(v) ? v : [v];
  const out: number[] = [];
  for (const x of list) {
    const s = String(x);
    if (!/^[1-9]\d{0,9}$/.test(s)) return null;
    out.push(Number(s));
  }
  return [...new Set(out)];
}

type Result = { envelopeId: number; partner: string | null; ok: boolean; sha256?: string; completed?: boolean; next?: { name: string; role: string } | null; error?: string; untouched?: boolean };

/** How the minister authorises the batch: the account password (key store), or the key's PIN (card, HSM, remote). */
interface Authorisation {
  backend: WebBackend;
  password?: string;
  pin?: string;
  otp?: string;
  credential?: string;
}

function pinInUri(uri: string): boolean {
  try {
    const p = parsePkcs11Uri(uri);
    return p.pinValue !== undefined || p.pinSource !== undefined;
  } catch {
    return false;
  }
}

/** "Token „Ministerium“, Schlüssel „klose“" for the configured card/HSM key (never its PIN). */
function describeConfiguredKey(uri: string): string {
  try {
    const p = parsePkcs11Uri(uri);
    return `Token „${p.path.token ?? '?'}“, Schlüssel „${p.path.object ?? p.id?.toString('hex') ?? '?'}“`;
  } catch {
    return 'Konfiguration prüfen (ZV_PKCS11_URI)';
  }
}

/** The key for the batch: the key store after the password, or the card/HSM/remote key after its PIN (one entry for all). */
async function openBatchKey(ctx: AppContext, user: User, auth: Authorisation): Promise<KeyChoice> {
  if (auth.backend === 'keystore') {
    const check = await ctx.accounts.confirmPassword(user.id, auth.password ?? '');
    if (!check.ok) {
      if (check.reason === 'locked') throw new HttpError(423, 'Konto gesperrt', 'Ihr Konto ist nach zu vielen falschen Passworteingaben vorübergehend gesperrt. Es wurde nichts unterzeichnet. Bitte versuchen Sie es später noch einmal.');
      if (check.reason === 'disabled') throw new HttpError(403, 'Konto deaktiviert', 'Ihr Konto ist deaktiviert. Es wurde nichts unterzeichnet.');
      throw invalid([{ path: 'password', message: 'Das Passwort ist falsch. Es wurde nichts unterzeichnet.' }], 'Das Passwort ist falsch. Es wurde nichts unterzeichnet.');
    }
    return { dispose: async () => {} };
  }
  if (!ministryBackends().includes(auth.backend)) throw invalid([{ path: 'backend', message: 'Dieser Weg zu unterschreiben ist auf diesem Server nicht eingerichtet.' }]);
  // The PIN typed here is the signatory's authorisation: a PIN stored in the server's setting would bypass it.
  if (auth.backend === 'pkcs11' && pinInUri(ministryPkcs11Uri()!)) {
    throw new HttpError(500, 'Fehlkonfiguration', 'ZV_PKCS11_URI enthält eine PIN (pin-value oder pin-source). Für die Web-Oberfläche darf sie keine enthalten: die PIN gibt die Unterzeichnerin oder der Unterzeichner selbst ein. Es wurde nichts unterzeichnet.');
  }
  if (!auth.pin) throw invalid([{ path: 'pin', message: 'Bitte geben Sie die PIN ein. Es wurde nichts unterzeichnet.' }], 'Bitte geben Sie die PIN ein. Es wurde nichts unterzeichnet.');
  if (auth.backend === 'csc' && !auth.credential) throw invalid([{ path: 'credential', message: 'Bitte geben Sie die Kennung Ihres Zertifikats beim Anbieter an.' }]);
  try {
    return await openKey(auth.backend === 'pkcs11' ? ministryPkcs11Uri()! : `csc:${auth.credential}`, { pin: auth.pin, otp: auth.otp, interactive: true });
  } catch (err) {
    if (err instanceof SignerError && ['pin-incorrect', 'pin-missing'].includes(err.code)) throw invalid([{ path: 'pin', message: err.message }], err.message);
    throw err;
  }
}

/** Checks the authorisation, then signs the envelopes that are this user's turn; the others get an error each. */
async function signBatch(ctx: AppContext, user: User, ids: number[], auth: Authorisation, place: string, date: string, backdateReason?: string): Promise<Result[]> {
  const key = await openBatchKey(ctx, user, auth);
  let outcomes: Awaited<ReturnType<typeof ctx.svc.signAsMinistry>>;
  let mine: Map<number, Snapshot>;
  try {
    mine = new Map(ctx.svc.awaitingMinistry({ name: user.displayName }).map((s) => [s.envelope.id, s]));
    const allowed = ids.filter((id) => mine.has(id));
    const how = key.signer ? `${key.signer.kind === 'pkcs11' ? 'PIN der Signaturkarte' : 'Freigabe beim Anbieter'} bestätigt` : 'Passwort bestätigt';
    outcomes = allowed.length ? await ctx.svc.signAsMinistry(allowed, { name: user.displayName, actor: `${user.displayName} (Konto ${user.username}, ${how})`, place, date, backdateReason, signer: key.signer }) : [];
  } catch (err) {
    if (err instanceof SignerError && ['pin-incorrect', 'pin-missing'].includes(err.code)) throw invalid([{ path: 'pin', message: err.message }], err.message);
    throw err;
  } finally {
    await key.dispose();
  }
  const byId = new Map(outcomes.map((o) => [o.envelopeId, o]));
  return ids.map((id): Result => {
    const snap = mine.get(id);
    if (!snap) return { envelopeId: id, partner: null, ok: false, error: 'Nicht unterzeichnet: Dieser Umschlag wartet nicht auf Ihre Unterschrift (unbekannt, schon unterzeichnet oder nicht für Sie bestimmt).' };
    const o = byId.get(id)!;
    if (o.outcome) return { envelopeId: id, partner: snap.agreement.partner_name, ok: true, sha256: o.outcome.sha256, completed: o.outcome.completed, next: o.outcome.next };
    return { envelopeId: id, partner: snap.agreement.partner_name, ok: false, untouched: o.untouched, error: `Nicht unterzeichnet${o.untouched ? ' (unberührt – einfach erneut unterzeichnen)' : ''}: ${o.german ? o.error : germanError(o.error ?? '')}` };
  });
}

function germanError(message: string): string {
  if (/turn, not/.test(message)) return 'Sie sind bei dieser Vereinbarung nicht (mehr) an der Reihe.';
  if (/^envelope \d+ is /.test(message)) return 'Der Umschlag ist nicht mehr offen.';
  const stopped = /^not signed: the batch stopped at envelope (\d+) \((.*)\)$/.exec(message);
  if (stopped) return `Der Stapel wurde bei Umschlag #${stopped[1]} angehalten (${stopped[2]})`;
  if (/was changed by someone else meanwhile/.test(message)) return 'Der Umschlag wurde inzwischen an anderer Stelle geändert; bitte erneut unterzeichnen.';
  return signRefusalText(new Error(message));
}

function resultsPage(user: User, csrf: string, results: Result[]): Html {
  const ok = results.filter((r) => r.ok).length;
  const failed = results.length - ok;
  return page(
    {
      title: 'Ergebnis der Unterzeichnung',
      user,
      csrf,
      active: 'ministry',
      notice: { kind: failed ? (ok ? 'info' : 'error') : 'ok', text: `${ok} von ${results.length} Vereinbarung${results.length === 1 ? '' : 'en'} unterzeichnet${failed ? `, ${failed} nicht` : ''}.` },
    },
    html`<h1>Ergebnis der Unterzeichnung</h1>
<table>
  <thead><tr><th scope="col">Umschlag</th><th scope="col">Partner</th><th scope="col">Ergebnis</th><th scope="col">Weiter</th></tr></thead>
  <tbody>${results.map(
    (r) => html`<tr class="${r.ok ? 'ok' : 'failed'}"><td>#${r.envelopeId}</td><td>${r.partner ?? '—'}</td>
    <td>${r.ok ? html`<span class="badge signed">unterzeichnet</span> <span class="hint">SHA-256 <code>${r.sha256}</code></span>` : html`<span class="badge declined">${r.untouched ? "unberührt" : "Fehler"}</span> ${r.error}`}</td>
    <td>${r.ok ? (r.completed ? 'vollständig unterzeichnet' : r.next ? `als Nächstes: ${r.next.name} (${r.next.role})` : '') : ''}${r.ok ? html` – <a href="/ministerium/umschlaege/${r.envelopeId}/dokument.pdf">PDF</a>` : ''}</td></tr>`,
  )}</tbody>
</table>
<p><a href="/ministerium">Zurück zur Liste</a></p>`,
  );
}

const QueueItem = z.object({
  envelopeId: z.number(),
  agreementId: z.number(),
  title: z.string(),
  partnerId: z.string(),
  partner: z.string(),
  type: z.string(),
  year: z.number(),
  version: z.number(),
  amountCents: z.number().nullable(),
  document: z.string(),
});

const SignBody = z
  .strictObject({
    envelopeIds: z.array(z.number().int().positive()).min(1).max(MAX_BATCH),
    /** keystore (default): the account password confirms; pkcs11 / csc: the key's PIN (one entry for the batch). */
    backend: z.enum(['keystore', 'pkcs11', 'csc']).default('keystore'),
    password: z.string().min(1).max(1000).optional(),
    pin: z.string().min(1).max(100).optional(),
    otp: z.string().min(1).max(100).optional(),
    credentialID: z.string().min(1).max(200).optional(),
    place: PlaceSchema.optional(),
    date: DateSchema.optional(),
    /** Required when `date` is not today: why the agreements carry that date (recorded). */
    backdateReason: z.string().trim().min(1).max(500).optional(),
  })
  .superRefine((b, c) => {
    if (b.backend === 'keystore' && !b.password) c.addIssue({ code: 'custom', path: ['password'], message: 'Für den Key-Store bestätigen Sie mit Ihrem Passwort.' });
    if (b.backend !== 'keystore' && !b.pin) c.addIssue({ code: 'custom', path: ['pin'], message: 'Für Signaturkarte, HSM oder Fernsignatur ist die PIN nötig.' });
    if (b.backend === 'csc' && !b.credentialID) c.addIssue({ code: 'custom', path: ['credentialID'], message: 'Für die Fernsignatur ist die Kennung des Zertifikats beim Anbieter (credentialID) nötig.' });
  });

const ResultSchema = z.object({
  results: z.array(
    z.object({
      envelopeId: z.number(),
      ok: z.boolean(),
      partner: z.string().nullable(),
      sha256: z.string().optional(),
      completed: z.boolean().optional(),
      next: z.object({ name: z.string(), role: z.string() }).nullable().optional(),
      error: z.string().optional(),
      untouched: z.boolean().optional(),
    }),
  ),
  signed: z.number(),
  failed: z.number(),
});

export function ministryRoutes(): AnyRoute[] {
  return [
    route({
      method: 'get',
      path: '/ministerium',
      kind: 'page',
      access: ['ministry'],
      summary: 'Vereinbarungen, die auf die Unterschrift des Ministeriums warten',
      query: QueueQuery,
      handler: ({ user, csrf, ctx, query }) => queuePage(ctx, user!, csrf, query),
    }),
    route({
      method: 'get',
      path: '/ministerium/umschlaege/:id/dokument.pdf',
      kind: 'page',
      access: ['ministry'],
      summary: 'PDF eines Umschlags, den die/der Angemeldete unterzeichnet oder unterzeichnen soll',
      params: IdParam,
      handler: ({ user, ctx, params, res }) => sendDocument(ctx, user!, params.id, res),
    }),
    route({
      method: 'post',
      path: '/ministerium/unterzeichnen',
      kind: 'page',
      access: ['ministry'],
      summary: 'Ausgewählte Vereinbarungen nach Passwortbestätigung unterzeichnen',
      handler: async ({ user, csrf, ctx, req, res }) => {
        const b = (req.body ?? {}) as Record<string, unknown>;
        const rawIds = idsOf(b.envelopeIds ?? b['envelopeIds[]']);
        const place = typeof b.place === 'string' ? b.place.trim() : '';
        const date = typeof b.date === 'string' ? b.date.trim() : '';
        const password = typeof b.password === 'string' ? b.password : '';
        const backends = ministryBackends();
        const backend = (typeof b.backend === 'string' && (backends as string[]).includes(b.backend) ? b.backend : backends.length === 1 ? 'keystore' : '') as WebBackend | '';
        const auth: Authorisation = { backend: backend || 'keystore', password, pin: typeof b.pin === 'string' ? b.pin : '', otp: typeof b.otp === 'string' ? b.otp.trim() : '', credential: typeof b.credential === 'string' ? b.credential.trim() : '' };
        const errors: Record<string, string> = {};
        if (!backend) errors.backend = 'Bitte wählen Sie, womit Sie unterschreiben.';
        if (!rawIds || rawIds.length === 0) errors.ids = 'Bitte wählen Sie mindestens eine Vereinbarung aus.';
        else if (rawIds.length > MAX_BATCH) errors.ids = `Höchstens ${MAX_BATCH} Vereinbarungen auf einmal.`;
        const pe = placeError(place);
        if (pe) errors.place = pe;
        const de = dateError(date, todayBerlin(ctx));
        if (de) errors.date = de;
        const backdateReason = typeof b.backdateReason === 'string' ? b.backdateReason.trim() : '';
        const be = de ? null : backdateError(date, todayBerlin(ctx), backdateReason);
        if (be) errors.backdate = be;
        if (auth.backend === 'keystore' && !password) errors.password = 'Bitte geben Sie Ihr Passwort zur Bestätigung ein.';
        if (auth.backend !== 'keystore' && !auth.pin) errors.pin = 'Bitte geben Sie die PIN ein.';
        if (auth.backend === 'csc' && !auth.credential) errors.credential = 'Bitte geben Sie die Kennung Ihres Zertifikats beim Anbieter an.';
        const form = { ids: rawIds ?? [], place, date, backdateReason, backend: auth.backend, credential: auth.credential ?? '' };
        if (Object.keys(errors).length) {
          res.status(422);
          return queuePage(ctx, user!, csrf, {}, form, errors);
        }
        let results: Result[];
        try {
          results = await signBatch(ctx, user!, rawIds!, auth, place, date, backdateReason || undefined);
        } catch (err) {
          const field = err instanceof HttpError ? err.problems.find((p) => ['password', 'pin', 'credential', 'backend'].includes(p.path)) : undefined;
          if (field) {
            res.status(422);
            return queuePage(ctx, user!, csrf, {}, form, { [field.path]: field.message });
          }
          if (err instanceof HttpError && (err.status === 423 || err.status === 403)) {
            res.status(err.status);
            return queuePage(ctx, user!, csrf, {}, form, {}, { kind: 'error', text: err.message });
          }
          if (err instanceof SignerError) {
            res.status(err.code === 'service-unavailable' ? 502 : 422);
            return queuePage(ctx, user!, csrf, {}, form, {}, { kind: 'error', text: `Es wurde nichts unterzeichnet: ${err.message}` });
          }
          throw err;
        }
        ctx.log.info({ event: 'ministry-batch', user: user!.username, requested: results.length, signed: results.filter((r) => r.ok).length }, 'ministry batch signature');
        return resultsPage(user!, csrf, results);
      },
    }),

    // ─────────── API ───────────
    route({
      method: 'get',
      path: '/api/v1/ministry/queue',
      kind: 'api',
      access: ['ministry'],
      tag: TAG,
      summary: 'Umschläge, die auf die Unterschrift der/des Angemeldeten warten',
      query: QueueQuery,
      response: { description: 'Warteschlange', schema: z.object({ items: z.array(QueueItem) }) },
      handler: ({ user, ctx, query }) => ({
        items: ctx.svc.awaitingMinistry({ name: user!.displayName, year: query.year, type: query.type }).map((s) => ({
          envelopeId: s.envelope.id,
          agreementId: s.agreement.id,
          title: s.agreement.title,
          partnerId: s.agreement.partner_id,
          partner: s.agreement.partner_name,
          type: s.agreement.type,
          year: s.agreement.year,
          version: s.agreement.version,
          amountCents: s.agreement.amount_cents,
          document: `/api/v1/ministry/envelopes/${s.envelope.id}/document`,
        })),
      }),
    }),
    route({
      method: 'get',
      path: '/api/v1/ministry/envelopes/:id/document',
      kind: 'api',
      access: ['ministry'],
      tag: TAG,
      summary: 'PDF eines eigenen Umschlags (sonst 404)',
      params: IdParam,
      response: { description: 'PDF', mediaType: 'application/pdf' },
      handler: ({ user, ctx, params, res }) => sendDocument(ctx, user!, params.id, res),
    }),
    route({
      method: 'post',
      path: '/api/v1/ministry/sign',
      kind: 'api',
      access: ['ministry'],
      tag: TAG,
      summary: 'Stapelsignatur nach Passwortbestätigung; Ergebnis je Umschlag',
      body: SignBody,
      response: { description: 'Ergebnisse', schema: ResultSchema },
      handler: async ({ user, ctx, body }) => {
        const place = body.place ?? DEFAULT_PLACE;
        const date = body.date ?? todayBerlin(ctx);
        const de = dateError(date, todayBerlin(ctx));
        if (de) throw invalid([{ path: 'date', message: de }]);
        const be = backdateError(date, todayBerlin(ctx), body.backdateReason ?? '');
        if (be) throw invalid([{ path: 'backdateReason', message: be }]);
        const results = await signBatch(ctx, user!, [...new Set(body.envelopeIds)], { backend: body.backend, password: body.password, pin: body.pin, otp: body.otp, credential: body.credentialID }, place, date, body.backdateReason);
        ctx.log.info({ event: 'ministry-batch', user: user!.username, requested: results.length, signed: results.filter((r) => r.ok).length }, 'ministry batch signature');
        return { results, signed: results.filter((r) => r.ok).length, failed: results.filter((r) => !r.ok).length };
      },
    }),
  ];
}
