/**
 * Signing through a personal link: the county signatory needs no account. The token in the path
 * is the only credential; it is handed to the signing service as it is (never an agreement or file
 * id from the request), so a link only ever reaches its own envelope. Every kind of invalid link
 * gets the same neutral answer. Pages show no navigation and no user.
 */
import type { Response } from 'express';
import { z } from 'zod';
import { html, page, csrfField, euro, dateTime, raw, type Html } from '../html.ts';
import { route, type AnyRoute, type RouteInput } from '../routes.ts';
import { HttpError, invalid } from '../problem.ts';
import { checkUpload, reencodeSignatureImage } from '../uploads.ts';
import type { AppContext } from '../context.ts';
import { LinkRefusedError, NEUTRAL_REFUSAL, NotYourTurnError, type SignatoryRow, type SignOutcome, type Snapshot } from '../../envelope/service.ts';
import { TOKEN_PATTERN } from '../../envelope/tokens.ts';
import { findPartner } from '../../registry/partners.ts';
import { SignError } from '../../sign/sign.ts';
import { StampImageError } from '../../sign/stamp.ts';
import { sendDownload } from '../download.ts';
import { browserCscConfigured, LEGAL_WEIGHT } from '../signing-options.ts';
import { remoteSigning, RemoteFlowError, REMOTE_COOKIE, type RemoteStep } from '../remote-sign.ts';
import { cookieOptions } from '../security.ts';
import { UploadRefusedError } from '../../sign/external.ts';
import { SignerError } from '../../sign/signer.ts';

const TAG = 'Unterzeichnung per Link';
const MB = 1024 * 1024;
/** The signature stamp takes at most 60 characters for the place. */
export const PLACE_MAX = 60;
const TYPE_LABELS: Record<string, string> = { aqb: 'AQB', sgb2: 'SGB II' };

// ───────────────────────────── shared validation (also used by the ministry area) ─────────────────────────────

/** Today in Europe/Berlin by the service's clock (the day the signature stamp would show). */
export function todayBerlin(ctx: AppContext): string {
  return new Intl.DateTimeFormat('sv-SE', { timeZone: 'Europe/Berlin' }).format(ctx.svc.store.clock());
}

/** A place for the stamp: 1–60 characters, no control characters. Returns an error text or null. */
export function placeError(place: string): string | null {
  if (!place) return 'Bitte geben Sie den Ort an.';
  if (place.length > PLACE_MAX) return `Der Ort darf höchstens ${PLACE_MAX} Zeichen lang sein.`;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(place)) return 'Der Ort enthält unzulässige Steuerzeichen.';
  return null;
}

/** A date for the stamp: YYYY-MM-DD, a real day, not after today. */
export function dateError(date: string, today: string): string | null {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(date)) return 'Bitte geben Sie das Datum im Format JJJJ-MM-TT an.';
  const d = new Date(`${date}T00:00:00Z`);
  if (Number.isNaN(d.getTime()) || d.toISOString().slice(0, 10) !== date) return 'Dieses Datum gibt es nicht.';
  if (date > today) return 'Das Datum darf nicht in der Zukunft liegen.';
  return null;
}

/** A stamped date other than today needs a reason (it is recorded in the audit trail). Returns an error text or null. */
export function backdateError(date: string, today: string, reason: string): string | null {
  if (date && date !== today && !reason.trim()) return 'Das Datum ist nicht heute: Bitte geben Sie an, warum die Vereinbarung dieses Datum tragen soll (wird protokolliert).';
  if (reason.length > 500) return 'Die Begründung darf höchstens 500 Zeichen lang sein.';
  return null;
}

/** The optional field for that reason, shown under a date field. */
export function backdateField(id: string, value: string, error?: string): Html {
  return html`<div class="field${error ? ' invalid' : ''}">
  <label for="${id}">Begründung, falls das Datum nicht heute ist</label>
  <input id="${id}" name="backdateReason" type="text" maxlength="500" value="${value}"${error ? raw(` aria-invalid="true" aria-describedby="e-${id}"`) : ''}>
  ${error ? html`<p class="error" id="e-${id}">${error}</p>` : ''}
</div>`;
}

export const PlaceSchema = z
  .string()
  .trim()
  .min(1)
  .max(PLACE_MAX)
  // eslint-disable-next-line no-control-regex
  .refine((s) => !/[\u0000-\u001f\u007f-\u009f]/.test(s), 'no control characters');
export const DateSchema = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'YYYY-MM-DD');

/** German text for the signature library's refusals (date before an earlier signature, bad image, …). */
export function signRefusalText(err: Error): string {
  const m = err.message;
  if (/lies before the date of an earlier signature/.test(m)) return 'Das Datum liegt vor dem Datum einer früheren Unterschrift auf dieser Vereinbarung.';
  if (/lies after the moment of signing/.test(m)) return 'Das Datum darf nicht in der Zukunft liegen.';
  if (/is not the signing day/.test(m)) return 'Das Datum ist nicht heute: Bitte geben Sie an, warum die Vereinbarung dieses Datum tragen soll (wird protokolliert).';
  if (/place/.test(m)) return `Der Ort wurde abgelehnt (höchstens ${PLACE_MAX} Zeichen).`;
  const expired = /the certificate of (.+) expired on (\d{4}-\d{2}-\d{2})/.exec(m);
  if (expired) return `Das Zertifikat (${expired[1]}) ist am ${expired[2]!.split('-').reverse().join('.')} abgelaufen; damit kann nicht mehr unterschrieben werden.`;
  const early = /the certificate of (.+) is not valid yet \(valid from (\d{4}-\d{2}-\d{2})/.exec(m);
  if (early) return `Das Zertifikat (${early[1]}) gilt erst ab ${early[2]!.split('-').reverse().join('.')}.`;
  if (err instanceof StampImageError) return 'Das Unterschriftsbild ließ sich nicht in den Stempel übernehmen. Bitte verwenden Sie ein anderes Bild.';
  const other = /the certificate names (.+), but this field is for (.+?) \(/.exec(m);
  if (other) return `Das Zertifikat lautet auf ${other[1]}; dieses Feld ist für ${other[2]}. Unterschreiben Sie mit Ihrem eigenen Zertifikat.`;
  if (/time-stamping certificate/.test(m)) return 'Dieses Zertifikat ist ein Zeitstempel-Zertifikat und darf keine Vereinbarungen unterschreiben.';
  return `Die Unterschrift wurde nicht gesetzt: ${m}`;
}

/** Decodes a base64 (or data-URL) PNG/JPEG, checks it by content and size and re-encodes it as PNG. */
export async function decodeSignatureImage(text: string, kinds: readonly ('png' | 'jpeg')[]): Promise<Buffer> {
  const m = /^(?:data:image\/(?:png|jpeg);base64,)?([A-Za-z0-9+/]+={0,2})$/.exec(text.replace(/\s+/g, ''));
  if (!m) throw new HttpError(415, 'Dateityp nicht unterstützt', 'Das Unterschriftsbild ist kein gültiges Base64-kodiertes PNG- oder JPEG-Bild.');
  if ((m[1]!.length * 3) / 4 > 2 * MB + 4) throw new HttpError(413, 'Datei zu groß', 'Das Unterschriftsbild ist größer als 2 MB.');
  const buf = Buffer.from(m[1]!, 'base64');
  checkUpload(buf, kinds);
  return reencodeSignatureImage(buf);
}

// ───────────────────────────── helpers ─────────────────────────────

/** The token from the path, or the neutral refusal (404 for something that cannot be a token). */
function tokenOf(params: Record<string, string>, api: boolean): string {
  const token = params.token ?? '';
  if (!TOKEN_PATTERN.test(token)) {
    if (api) throw new LinkRefusedError();
    throw new HttpError(404, 'Link nicht gültig', NEUTRAL_REFUSAL);
  }
  return token;
}

/** Nothing of a signing page may be cached or passed on as referrer. */
function private_(res: Response): void {
  res.set('Cache-Control', 'no-store');
  res.set('Referrer-Policy', 'no-referrer');
}

function sendPdf(res: Response, bytes: Uint8Array, fileName: string, disposition: 'inline' | 'attachment' = 'inline'): void {
  sendDownload(res, bytes, { name: fileName, disposition });
}

/** The PDF field name of a signatory's slot (sig-partner-1 …), as signing tools list it. */
const fieldOf = (s: SignatoryRow) => `sig-${s.ref.replace(':', '-')}`;

function waitingOf(snap: Snapshot, signatory: SignatoryRow): SignatoryRow[] {
  return snap.signatories.filter((s) => s.position < signatory.position && s.status === 'pending');
}

const names = (list: SignatoryRow[]) => {
  const parts = list.map((s) => `${s.name} (${s.role})`);
  return parts.length <= 1 ? (parts[0] ?? '') : `${parts.slice(0, -1).join(', ')} und ${parts[parts.length - 1]}`;
};

const STATUS_TEXT: Record<SignatoryRow['status'], string> = { pending: 'ausstehend', signed: 'unterzeichnet', declined: 'abgelehnt' };

function fileNameOf(snap: Snapshot): string {
  return `${snap.agreement.file_base}${snap.envelope.status === 'completed' ? '' : '-in-unterzeichnung'}.pdf`;
}

// ───────────────────────────── the page ─────────────────────────────

interface SignForm {
  place: string;
  date: string;
  backdateReason: string;
  drawn: string;
  confirm: boolean;
  reason: string;
}

interface View {
  token: string;
  snapshot: Snapshot;
  signatory: SignatoryRow;
  canSign: boolean;
  waitingFor: SignatoryRow[];
}

function signPage(ctx: AppContext, csrf: string, v: View, form: Partial<SignForm> = {}, errors: Record<string, string> = {}, notice?: string): Html {
  const { snapshot: snap, signatory: me, token } = v;
  const a = snap.agreement;
  const partner = findPartner(a.partner_id);
  const place = form.place ?? partner?.seat ?? '';
  const date = form.date ?? todayBerlin(ctx);
  const pdfUrl = `/sign/${token}/dokument.pdf`;
  const err = (k: string) => (errors[k] ? html`<p class="error" id="e-${k}">${errors[k]}</p>` : '');
  const described = (k: string, hint?: string) => {
    const ids = [hint ?? '', errors[k] ? `e-${k}` : ''].filter(Boolean).join(' ');
    return ids ? html` aria-describedby="${ids}"` : '';
  };
  const inv = (k: string) => (errors[k] ? raw(' aria-invalid="true"') : '');
  const anchors: Record<string, string> = { backdate: 'f-backdate', remoteBackdate: 'r-backdate', place: 'f-place', date: 'f-date', drawn: 'f-image', image: 'f-image', confirm: 'f-confirm', reason: 'f-reason', form: 'sign-form', upload: 'u-file', remotePlace: 'r-place', remoteDate: 'r-date', remoteConfirm: 'r-confirm' };

  const summary = Object.keys(errors).length
    ? html`<div class="notice error" role="alert" id="fehler">
  <p><strong>Bitte prüfen Sie Ihre Angaben:</strong></p>
  <ul>${Object.entries(errors).map(([k, m]) => html`<li><a href="#${anchors[k] ?? 'sign-form'}">${m}</a></li>`)}</ul>
</div>`
    : '';

  const field = fieldOf(me);
  const remote = browserCscConfigured()
    ? html`<section aria-labelledby="h-remote" class="sign-way">
<h3 id="h-remote">Qualifiziert elektronisch unterschreiben (Fernsignatur)</h3>
<p class="legal">${LEGAL_WEIGHT.csc}</p>
<p>Sie melden sich bei Ihrem Vertrauensdiensteanbieter an, wählen Ihr Zertifikat und geben genau diese eine Unterschrift frei; danach kehren Sie hierher zurück.</p>
<form method="post" action="/sign/${token}/fernsignatur" id="remote-form" novalidate>
  ${csrfField(csrf)}
  <div class="grid2">
    <div class="field${errors.remotePlace ? ' invalid' : ''}">
      <label for="r-place">Ort <span aria-hidden="true">*</span></label>
      <input id="r-place" name="place" type="text" value="${place}" required maxlength="${PLACE_MAX}"${inv('remotePlace')}${described('remotePlace')}>
      ${err('remotePlace')}
    </div>
    <div class="field${errors.remoteDate ? ' invalid' : ''}">
      <label for="r-date">Datum <span aria-hidden="true">*</span></label>
      <input id="r-date" name="date" type="date" value="${date}" max="${todayBerlin(ctx)}" required${inv('remoteDate')}${described('remoteDate')}>
      ${err('remoteDate')}
    </div>
  </div>
  ${backdateField('r-backdate', form.backdateReason ?? '', errors.remoteBackdate)}
  <div class="field check${errors.remoteConfirm ? ' invalid' : ''}">
    <input id="r-confirm" name="confirm" type="checkbox" value="ja" required${inv('remoteConfirm')}${described('remoteConfirm')}>
    <label for="r-confirm">Ich habe die Vereinbarung gelesen und unterzeichne sie qualifiziert elektronisch.</label>
    ${err('remoteConfirm')}
  </div>
  <button type="submit" class="primary">Qualifiziert elektronisch unterschreiben (Fernsignatur)</button>
</form>
</section>`
    : '';
  const upload = html`<section aria-labelledby="h-upload" class="sign-way">
<h3 id="h-upload">Mit eigenem Signaturprogramm unterschreiben (Upload)</h3>
<p class="legal">${LEGAL_WEIGHT.upload}</p>
<ol>
  <li><a href="${pdfUrl}" download="${fileNameOf(snap)}">Laden Sie die Vereinbarung herunter</a>.</li>
  <li>Signieren Sie in Ihrem Programm im vorhandenen Unterschriftsfeld <strong>„${field}“</strong> (${me.name}) – ohne die Datei sonst zu verändern oder neu zu speichern.</li>
  <li>Laden Sie die signierte Datei hier hoch. Zielwerk nimmt sie nur an, wenn sie genau das zugesandte Dokument plus Ihre eine Unterschrift in Ihrem Feld ist.</li>
</ol>
<form method="post" action="/sign/${token}/upload" enctype="multipart/form-data" id="upload-form" novalidate>
  ${csrfField(csrf)}
  <div class="field${errors.upload ? ' invalid' : ''}">
    <label for="u-file">Signierte PDF-Datei (höchstens 20 MB) <span aria-hidden="true">*</span></label>
    <input id="u-file" name="file" type="file" accept="application/pdf,.pdf" required${inv('upload')}${described('upload')}>
    ${err('upload')}
  </div>
  <button type="submit" class="primary">Signierte Datei hochladen</button>
</form>
</section>`;

  const signForm = v.canSign
    ? html`<section aria-labelledby="h-sign">
<h2 id="h-sign">Unterzeichnen</h2>
<p>Sie können auf ${browserCscConfigured() ? 'drei' : 'zwei'} Wegen unterschreiben. Für einen wirksamen Vertragsschluss in elektronischer Form braucht es eine <strong>qualifizierte</strong> elektronische Signatur.</p>
${remote}
${upload}
<section aria-labelledby="h-simple" class="sign-way">
<h3 id="h-simple">Einfach elektronisch unterschreiben (Zielwerk-Key-Store)</h3>
<p class="legal">${LEGAL_WEIGHT.keystore}</p>
<form method="post" action="/sign/${token}" enctype="multipart/form-data" id="sign-form" class="sign-form" novalidate>
  ${csrfField(csrf)}
  <div class="grid2">
    <div class="field${errors.place ? ' invalid' : ''}">
      <label for="f-place">Ort <span aria-hidden="true">*</span></label>
      <input id="f-place" name="place" type="text" value="${place}" required maxlength="${PLACE_MAX}" autocomplete="address-level2"${inv('place')}${described('place', 'h-place')}>
      <p class="hint" id="h-place">Erscheint im Unterschriftsfeld: „Ort, den Datum“.</p>
      ${err('place')}
    </div>
    <div class="field${errors.date ? ' invalid' : ''}">
      <label for="f-date">Datum <span aria-hidden="true">*</span></label>
      <input id="f-date" name="date" type="date" value="${date}" max="${todayBerlin(ctx)}" required${inv('date')}${described('date')}>
      ${err('date')}
    </div>
  </div>
  ${backdateField('f-backdate', form.backdateReason ?? '', errors.backdate)}
  <fieldset>
    <legend>Unterschrift (freiwillig)</legend>
    <p class="hint" id="h-sig">Sie können Ihre Unterschrift zeichnen oder ein Bild hochladen. Ohne Bild trägt der Signaturstempel Ihren Namen „${me.name}“ in Druckschrift; die elektronische Signatur ist in jedem Fall gleich gültig.</p>
    <div class="sigpad-wrap" data-sigpad hidden>
      <p class="hint" id="h-pad">Zeichnen Sie mit Maus, Finger oder Stift in das Feld. Mit der Tastatur überspringen Sie das Feld einfach.</p>
      <canvas class="sigpad" width="600" height="200" tabindex="0" role="img" aria-label="Zeichenfeld für die Unterschrift (optional)" aria-describedby="h-pad${errors.drawn ? ' e-drawn' : ''}"></canvas>
      <div class="actions"><button type="button" class="sigpad-clear">Zeichnung löschen</button><span class="hint sigpad-state" aria-live="polite"></span></div>
    </div>
    <input type="hidden" name="drawn" id="f-drawn" value="${form.drawn ?? ''}">
    ${err('drawn')}
    <div class="field${errors.image ? ' invalid' : ''}">
      <label for="f-image">Oder Bild der Unterschrift hochladen (PNG oder JPEG, höchstens 2 MB)</label>
      <input id="f-image" name="image" type="file" accept="image/png,image/jpeg"${inv('image')}${described('image', 'h-sig')}>
      ${Object.keys(errors).length ? html`<p class="hint">Falls Sie ein Bild gewählt hatten: bitte wählen Sie es erneut aus.</p>` : ''}
      ${err('image')}
    </div>
  </fieldset>
  <div class="field check${errors.confirm ? ' invalid' : ''}">
    <input id="f-confirm" name="confirm" type="checkbox" value="ja" required${form.confirm ? raw(' checked') : ''}${inv('confirm')}${described('confirm')}>
    <label for="f-confirm">Ich habe die Vereinbarung gelesen und unterzeichne sie elektronisch.</label>
    ${err('confirm')}
  </div>
  ${err('form')}
  <button type="submit">Einfach elektronisch unterzeichnen</button>
</form>
</section>
</section>`
    : html`<section aria-labelledby="h-wait">
<h2 id="h-wait">Noch nicht an der Reihe</h2>
<p class="notice info">Sie können erst unterzeichnen, wenn ${names(v.waitingFor)} unterzeichnet ${v.waitingFor.length > 1 ? 'haben' : 'hat'}. Sie erhalten dann eine E-Mail; dieser Link bleibt gültig.</p>
</section>`;

  const body = html`<h1>Zielvereinbarung unterzeichnen</h1>
${summary}
<dl class="facts">
  <dt>Vereinbarung</dt><dd>${a.title}</dd>
  <dt>Partner</dt><dd>${a.partner_name}</dd>
  <dt>Art und Jahr</dt><dd>${TYPE_LABELS[a.type] ?? a.type} ${a.year} (Version ${a.version})</dd>
  <dt>Betrag</dt><dd>${euro(a.amount_cents)}</dd>
  <dt>Sie unterzeichnen als</dt><dd>${me.name}, ${me.role} (${me.organisation})</dd>
</dl>
<h2>Reihenfolge der Unterschriften</h2>
<table>
  <caption class="visually-hidden">Unterzeichnende in der Reihenfolge der Unterschriften</caption>
  <thead><tr><th scope="col">Nr.</th><th scope="col">Name</th><th scope="col">Funktion</th><th scope="col">Stand</th></tr></thead>
  <tbody>${snap.signatories.map(
    (s) => html`<tr${s.id === me.id ? raw(' aria-current="true"') : ''}><td>${s.position}</td><td>${s.name}${s.id === me.id ? ' (Sie)' : ''}</td><td>${s.role}</td><td>${STATUS_TEXT[s.status]}${s.signed_at ? html` am ${dateTime(s.signed_at)}` : ''}</td></tr>`,
  )}</tbody>
</table>
<h2>Dokument</h2>
<p><a href="${pdfUrl}" download="${fileNameOf(snap)}">Vereinbarung als PDF herunterladen</a> (öffnet sich auch unten in der Vorschau)</p>
<iframe class="preview" src="${pdfUrl}" title="Vorschau der Zielvereinbarung (PDF)"></iframe>
${signForm}
<section aria-labelledby="h-decline">
<h2 id="h-decline">Ablehnen</h2>
<p>Wenn Sie die Vereinbarung so nicht unterzeichnen können, lehnen Sie sie mit einer Begründung ab. Der Vorgang wird dann angehalten und die Sachbearbeitung im Ministerium benachrichtigt.</p>
<form method="post" action="/sign/${token}/ablehnen" id="decline-form">
  ${csrfField(csrf)}
  <div class="field${errors.reason ? ' invalid' : ''}">
    <label for="f-reason">Begründung der Ablehnung <span aria-hidden="true">*</span></label>
    <textarea id="f-reason" name="reason" required maxlength="2000"${inv('reason')}${described('reason')}>${form.reason ?? ''}</textarea>
    ${err('reason')}
  </div>
  <button type="submit" class="danger">Ablehnen</button>
</form>
</section>`;
  return page({ title: 'Zielvereinbarung unterzeichnen', user: null, csrf, scripts: v.canSign ? ['sign.js'] : [], notice: notice ? { kind: 'error', text: notice } : null }, body);
}

function successPage(csrf: string, token: string, snap: Snapshot, outcome: SignOutcome): Html {
  return page(
    { title: 'Unterzeichnet', user: null, csrf },
    html`<h1>Vielen Dank – Sie haben unterzeichnet</h1>
<p class="notice ok" role="status">Ihre elektronische Signatur wurde in die Vereinbarung „${snap.agreement.title}“ eingefügt.</p>
<dl class="facts">
  <dt>Unterzeichnet von</dt><dd>${outcome.signatory.name}, ${outcome.signatory.role}</dd>
  <dt>Art der Unterschrift</dt><dd>${outcome.signer.description}${outcome.signer.kind === 'keystore' ? html`<br><span class="hint">${LEGAL_WEIGHT.keystore}</span>` : ''}</dd>
  <dt>SHA-256 des signierten Dokuments</dt><dd><code>${outcome.sha256}</code></dd>
  <dt>Stand</dt><dd>${outcome.completed ? 'Die Vereinbarung ist vollständig unterzeichnet. Alle Beteiligten erhalten eine Abschlussmitteilung.' : `Als Nächstes unterzeichnet ${outcome.next!.name} (${outcome.next!.role}).`}</dd>
</dl>
<p><a class="button primary" href="/sign/${token}/dokument.pdf" download="${fileNameOf({ ...snap, envelope: { ...snap.envelope, status: outcome.completed ? 'completed' : 'open' } })}">Signiertes Dokument herunterladen</a></p>
<p class="hint">Der Link bleibt für das Herunterladen noch eine Weile gültig; unterzeichnen lässt sich damit nicht noch einmal.</p>`,
  );
}

function declinedPage(csrf: string, snap: Snapshot): Html {
  return page(
    { title: 'Abgelehnt', user: null, csrf },
    html`<h1>Sie haben die Vereinbarung abgelehnt</h1>
<p class="notice ok" role="status">Ihre Ablehnung der Vereinbarung „${snap.agreement.title}“ ist eingegangen. Der Vorgang ist angehalten; die Sachbearbeitung im Ministerium wurde mit Ihrer Begründung benachrichtigt und meldet sich bei Ihnen.</p>
<p>Dieser Link ist damit nicht mehr gültig.</p>`,
  );
}

/** The view for re-rendering the form after a validation error: no second "opened" event, never for a used link. */
async function viewFor(ctx: AppContext, token: string): Promise<View> {
  const doc = await ctx.svc.documentForLink(token, { allowUsed: false });
  return { token, snapshot: doc.snapshot, signatory: doc.signatory, canSign: waitingOf(doc.snapshot, doc.signatory).length === 0, waitingFor: waitingOf(doc.snapshot, doc.signatory) };
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : Array.isArray(v) && typeof v[0] === 'string' ? v[0] : '';
}

// ───────────────────────────── handlers ─────────────────────────────

async function postSign({ params, req, res, ctx, csrf, file }: RouteInput<Record<string, string>, unknown, unknown>) {
  private_(res);
  const token = tokenOf(params, false);
  const b = (req.body ?? {}) as Record<string, unknown>;
  const form: SignForm = { place: str(b.place).trim(), date: str(b.date).trim(), backdateReason: str(b.backdateReason).trim(), drawn: str(b.drawn).trim(), confirm: ['ja', 'on', 'true', '1'].includes(str(b.confirm)), reason: '' };
  const errors: Record<string, string> = {};
  const today = todayBerlin(ctx);
  const pe = placeError(form.place);
  if (pe) errors.place = pe;
  const de = dateError(form.date, today);
  if (de) errors.date = de;
  const be = de ? null : backdateError(form.date, today, form.backdateReason);
  if (be) errors.backdate = be;
  if (!form.confirm) errors.confirm = 'Bitte bestätigen Sie, dass Sie die Vereinbarung gelesen haben und sie elektronisch unterzeichnen.';
  let image: Buffer | undefined;
  if (form.drawn && file) {
    errors.image = 'Bitte nur eine Unterschrift angeben: entweder gezeichnet oder als hochgeladenes Bild.';
  } else if (form.drawn) {
    const m = /^data:image\/png;base64,([A-Za-z0-9+/]+={0,2})$/.exec(form.drawn);
    if (!m) errors.drawn = 'Die gezeichnete Unterschrift ist kein gültiges PNG-Bild. Bitte löschen Sie die Zeichnung und zeichnen Sie neu.';
    else if ((m[1]!.length * 3) / 4 > 2 * MB + 4) errors.drawn = 'Die gezeichnete Unterschrift ist größer als 2 MB.';
    else {
      try {
        const buf = Buffer.from(m[1]!, 'base64');
        checkUpload(buf, ['png']);
        image = await reencodeSignatureImage(buf);
      } catch {
        errors.drawn = 'Die gezeichnete Unterschrift ließ sich nicht lesen. Bitte löschen Sie die Zeichnung und zeichnen Sie neu.';
      }
    }
    if (errors.drawn) form.drawn = '';
  } else if (file) {
    image = await reencodeSignatureImage(file.buffer);
  }
  if (Object.keys(errors).length) {
    const view = await viewFor(ctx, token);
    res.status(422);
    return signPage(ctx, csrf, view, form, errors);
  }
  let outcome: SignOutcome;
  try {
    outcome = await ctx.svc.signWithLink(token, { place: form.place, date: form.date, backdateReason: form.backdateReason || undefined, image });
  } catch (err) {
    if (err instanceof NotYourTurnError) {
      const view = await viewFor(ctx, token);
      res.status(409);
      return signPage(ctx, csrf, view, form, {}, err.message);
    }
    if (err instanceof SignError || err instanceof StampImageError) {
      const view = await viewFor(ctx, token);
      res.status(422);
      const text = signRefusalText(err);
      return signPage(ctx, csrf, view, form, /Datum/.test(text) ? { date: text } : /Ort/.test(text) ? { place: text } : { form: text });
    }
    throw err;
  }
  return successPage(csrf, token, ctx.svc.snapshot(outcome.envelopeId), outcome);
}

/** After a provider round trip: redirect on, let them choose a certificate, show the result, or go back to the page with the reason. */
function remoteResult(ctx: AppContext, res: Response, csrf: string, step: RemoteStep): Html | undefined {
  if (step.kind === 'redirect') {
    res.redirect(303, step.url);
    return undefined;
  }
  if (step.kind === 'failed') {
    remoteSigning(ctx).setNotice(step.token, step.message);
    res.redirect(303, `/sign/${step.token}`);
    return undefined;
  }
  if (step.kind === 'done') return successPage(csrf, step.token, ctx.svc.snapshot(step.outcome.envelopeId), step.outcome);
  return page(
    { title: 'Zertifikat wählen', user: null, csrf },
    html`<h1>Mit welchem Zertifikat unterschreiben Sie?</h1>
<p>Bei Ihrem Anbieter sind mehrere Signaturzertifikate hinterlegt.</p>
<form method="post" action="/fernsignatur/auswahl">
  ${csrfField(csrf)}
  <input type="hidden" name="state" value="${step.state}">
  <fieldset><legend>Zertifikat</legend>
  ${step.credentials.map((c, i) => html`<div class="field check"><input type="radio" id="c-${i}" name="credentialID" value="${c.credentialID}"${i === 0 ? raw(' checked') : ''}><label for="c-${i}">${c.label}</label></div>`)}
  </fieldset>
  <button type="submit" class="primary">Weiter zur Freigabe beim Anbieter</button>
</form>`,
  );
}

async function postRemote({ params, req, res, ctx, csrf }: RouteInput<Record<string, string>, unknown, unknown>) {
  private_(res);
  const token = tokenOf(params, false);
  const b = (req.body ?? {}) as Record<string, unknown>;
  const place = str(b.place).trim();
  const date = str(b.date).trim();
  const backdateReason = str(b.backdateReason).trim();
  const errors: Record<string, string> = {};
  const pe = placeError(place);
  if (pe) errors.remotePlace = pe;
  const de = dateError(date, todayBerlin(ctx));
  if (de) errors.remoteDate = de;
  const be = de ? null : backdateError(date, todayBerlin(ctx), backdateReason);
  if (be) errors.remoteBackdate = be;
  if (!['ja', 'on', 'true', '1'].includes(str(b.confirm))) errors.remoteConfirm = 'Bitte bestätigen Sie, dass Sie die Vereinbarung gelesen haben und sie qualifiziert elektronisch unterzeichnen.';
  if (Object.keys(errors).length) {
    res.status(422);
    return signPage(ctx, csrf, await viewFor(ctx, token), { place, date, backdateReason }, errors);
  }
  try {
    const { step, browser } = await remoteSigning(ctx).start(token, { place, date, backdateReason: backdateReason || undefined });
    res.cookie(REMOTE_COOKIE, browser, { ...cookieOptions(ctx, req, 'lax'), path: '/fernsignatur', maxAge: 15 * 60_000 });
    return remoteResult(ctx, res, csrf, step);
  } catch (err) {
    if (err instanceof NotYourTurnError) {
      res.status(409);
      return signPage(ctx, csrf, await viewFor(ctx, token), { place, date }, {}, err.message);
    }
    if (err instanceof SignerError) {
      res.status(502);
      return signPage(ctx, csrf, await viewFor(ctx, token), { place, date }, {}, `Die Fernsignatur ist gerade nicht möglich: ${err.message}`);
    }
    throw err;
  }
}

async function postUpload({ params, res, ctx, csrf, file }: RouteInput<Record<string, string>, unknown, unknown>) {
  private_(res);
  const token = tokenOf(params, false);
  if (!file) {
    res.status(422);
    return signPage(ctx, csrf, await viewFor(ctx, token), {}, { upload: 'Bitte wählen Sie die signierte PDF-Datei aus.' });
  }
  let outcome: SignOutcome;
  try {
    outcome = await ctx.svc.signWithUpload(token, file.buffer);
  } catch (err) {
    if (err instanceof UploadRefusedError) {
      res.status(422);
      return signPage(ctx, csrf, await viewFor(ctx, token), {}, { upload: `Die Datei wurde nicht angenommen: ${err.message}` });
    }
    if (err instanceof NotYourTurnError) {
      res.status(409);
      return signPage(ctx, csrf, await viewFor(ctx, token), {}, {}, err.message);
    }
    throw err;
  }
  return successPage(csrf, token, ctx.svc.snapshot(outcome.envelopeId), outcome);
}

const SignBody = z.strictObject({
  place: PlaceSchema.optional(),
  date: DateSchema.optional(),
  /** Required when `date` is not today: why the agreement carries that date (recorded). */
  backdateReason: z.string().trim().min(1).max(500).optional(),
  image: z.string().max(3 * MB, 'at most 2 MB (base64)').optional(),
});

const Summary = z.object({
  agreement: z.object({ id: z.number(), title: z.string(), type: z.string(), year: z.number(), version: z.number(), partnerId: z.string(), partner: z.string(), amountCents: z.number().nullable() }),
  envelope: z.object({ id: z.number(), status: z.string() }),
  signatory: z.object({ position: z.number(), name: z.string(), role: z.string(), organisation: z.string() }),
  signatories: z.array(z.object({ position: z.number(), name: z.string(), role: z.string(), status: z.string(), signedAt: z.string().nullable() })),
  canSign: z.boolean(),
  waitingFor: z.array(z.object({ name: z.string(), role: z.string() })),
  defaults: z.object({ place: z.string(), date: z.string() }),
});

const Outcome = z.object({
  envelopeId: z.number(),
  agreementId: z.number(),
  signatory: z.object({ name: z.string(), role: z.string() }),
  sha256: z.string(),
  completed: z.boolean(),
  next: z.object({ name: z.string(), role: z.string() }).nullable(),
  /** kind: keystore (a simple signature), pkcs11, csc, upload; description for people. */
  signer: z.object({ kind: z.enum(['keystore', 'pkcs11', 'csc', 'upload']), description: z.string() }),
  document: z.string(),
});

const TokenParam = z.object({ token: z.string() });

/** The API's answer after a signature, however it was made. */
function outcomeJson(outcome: SignOutcome, token: string): z.infer<typeof Outcome> {
  return {
    envelopeId: outcome.envelopeId,
    agreementId: outcome.agreementId,
    signatory: { name: outcome.signatory.name, role: outcome.signatory.role },
    sha256: outcome.sha256,
    completed: outcome.completed,
    next: outcome.next,
    signer: outcome.signer,
    document: `/api/v1/sign/${token}/document`,
  };
}

export function signRoutes(): AnyRoute[] {
  return [
    route({
      method: 'get',
      path: '/sign/:token',
      kind: 'page',
      access: 'link',
      summary: 'Unterschriftsseite des persönlichen Links',
      params: TokenParam,
      handler: async ({ params, res, ctx, csrf }) => {
        private_(res);
        const token = tokenOf(params, false);
        const v = await ctx.svc.openLink(token);
        return signPage(ctx, csrf, { token, snapshot: v.snapshot, signatory: v.signatory, canSign: v.canSign, waitingFor: v.waitingFor }, {}, {}, remoteSigning(ctx).takeNotice(token));
      },
    }),
    route({
      method: 'get',
      path: '/sign/:token/dokument.pdf',
      kind: 'page',
      access: 'link',
      summary: 'Aktuelles PDF der Vereinbarung (auch nach dem Unterzeichnen)',
      params: TokenParam,
      handler: async ({ params, res, ctx }) => {
        const doc = await ctx.svc.documentForLink(tokenOf(params, false));
        sendPdf(res, doc.pdf, fileNameOf(doc.snapshot));
      },
    }),
    route({
      method: 'post',
      path: '/sign/:token',
      kind: 'page',
      access: 'link',
      summary: 'Unterzeichnen über den persönlichen Link',
      params: TokenParam,
      upload: { field: 'image', kinds: ['png', 'jpeg'] },
      handler: postSign,
    }),
    route({
      method: 'post',
      path: '/sign/:token/upload',
      kind: 'page',
      access: 'link',
      summary: 'Extern signiertes PDF hochladen (genau das zugesandte Dokument plus die eigene Unterschrift im eigenen Feld)',
      params: TokenParam,
      upload: { field: 'file', kinds: ['pdf'] },
      handler: postUpload,
    }),
    route({
      method: 'post',
      path: '/sign/:token/fernsignatur',
      kind: 'page',
      access: 'link',
      summary: 'Fernsignatur starten: weiter zur Anmeldung beim Vertrauensdiensteanbieter (CSC, OAuth 2.0)',
      params: TokenParam,
      handler: postRemote,
    }),
    route({
      method: 'get',
      path: '/fernsignatur/rueckkehr',
      kind: 'page',
      access: 'public',
      summary: 'Rückkehr vom Vertrauensdiensteanbieter (OAuth 2.0 redirect_uri); der state bindet an den laufenden Vorgang',
      query: z.object({ state: z.string().max(200).optional(), code: z.string().max(2000).optional(), error: z.string().max(200).optional(), error_description: z.string().max(1000).optional() }),
      handler: async ({ query, req, res, ctx, csrf }) => {
        res.set('Cache-Control', 'no-store');
        res.set('Referrer-Policy', 'no-referrer');
        try {
          return remoteResult(ctx, res, csrf, await remoteSigning(ctx).callback(query, req.cookies?.[REMOTE_COOKIE] as string | undefined));
        } catch (err) {
          if (err instanceof RemoteFlowError) throw new HttpError(400, 'Fernsignatur nicht gefunden', err.message);
          throw err;
        }
      },
    }),
    route({
      method: 'post',
      path: '/fernsignatur/auswahl',
      kind: 'page',
      access: 'public',
      summary: 'Fernsignatur: das gewählte Zertifikat',
      handler: async ({ req, res, ctx, csrf }) => {
        res.set('Cache-Control', 'no-store');
        const b = (req.body ?? {}) as Record<string, unknown>;
        try {
          return remoteResult(ctx, res, csrf, await remoteSigning(ctx).choose(str(b.state), str(b.credentialID), req.cookies?.[REMOTE_COOKIE] as string | undefined));
        } catch (err) {
          if (err instanceof RemoteFlowError) throw new HttpError(400, 'Fernsignatur nicht gefunden', err.message);
          throw err;
        }
      },
    }),
    route({
      method: 'post',
      path: '/sign/:token/ablehnen',
      kind: 'page',
      access: 'link',
      summary: 'Ablehnen über den persönlichen Link',
      params: TokenParam,
      handler: async ({ params, req, res, ctx, csrf }) => {
        private_(res);
        const token = tokenOf(params, false);
        const reason = str((req.body as Record<string, unknown>)?.reason).trim();
        const error = !reason ? 'Bitte begründen Sie die Ablehnung.' : reason.length > 2000 ? 'Die Begründung darf höchstens 2000 Zeichen lang sein.' : null;
        if (error) {
          const view = await viewFor(ctx, token);
          res.status(422);
          return signPage(ctx, csrf, view, { reason }, { reason: error });
        }
        const snap = await ctx.svc.declineWithLink(token, reason);
        return declinedPage(csrf, snap);
      },
    }),

    // ─────────── API ───────────
    route({
      method: 'get',
      path: '/api/v1/sign/:token',
      kind: 'api',
      access: 'link',
      tag: TAG,
      summary: 'Vereinbarung, Unterzeichnende/r und Stand zum persönlichen Link (protokolliert als „geöffnet“)',
      params: TokenParam,
      response: { description: 'Zusammenfassung', schema: Summary },
      handler: async ({ params, res, ctx }) => {
        private_(res);
        const v = await ctx.svc.openLink(tokenOf(params, true));
        const a = v.snapshot.agreement;
        return {
          agreement: { id: a.id, title: a.title, type: a.type, year: a.year, version: a.version, partnerId: a.partner_id, partner: a.partner_name, amountCents: a.amount_cents },
          envelope: { id: v.snapshot.envelope.id, status: v.snapshot.envelope.status },
          signatory: { position: v.signatory.position, name: v.signatory.name, role: v.signatory.role, organisation: v.signatory.organisation },
          signatories: v.snapshot.signatories.map((s) => ({ position: s.position, name: s.name, role: s.role, status: s.status, signedAt: s.signed_at })),
          canSign: v.canSign,
          waitingFor: v.waitingFor.map((s) => ({ name: s.name, role: s.role })),
          defaults: { place: findPartner(a.partner_id)?.seat ?? '', date: todayBerlin(ctx) },
        } satisfies z.infer<typeof Summary>;
      },
    }),
    route({
      method: 'get',
      path: '/api/v1/sign/:token/document',
      kind: 'api',
      access: 'link',
      tag: TAG,
      summary: 'Aktuelles PDF (auch mit einem bereits zum Unterzeichnen benutzten Link)',
      params: TokenParam,
      response: { description: 'PDF', mediaType: 'application/pdf' },
      handler: async ({ params, res, ctx }) => {
        const doc = await ctx.svc.documentForLink(tokenOf(params, true));
        sendPdf(res, doc.pdf, fileNameOf(doc.snapshot));
      },
    }),
    route({
      method: 'post',
      path: '/api/v1/sign/:token',
      kind: 'api',
      access: 'link',
      tag: TAG,
      summary: 'Unterzeichnen (Ort, Datum, optional Unterschriftsbild als Base64-PNG/JPEG)',
      params: TokenParam,
      body: SignBody,
      response: { description: 'Ergebnis', schema: Outcome },
      handler: async ({ params, body, res, ctx }) => {
        private_(res);
        const token = tokenOf(params, true);
        const problems = [];
        if (body.date) {
          const de = dateError(body.date, todayBerlin(ctx));
          if (de) problems.push({ path: 'date', message: de });
          const be = de ? null : backdateError(body.date, todayBerlin(ctx), body.backdateReason ?? '');
          if (be) problems.push({ path: 'backdateReason', message: be });
        }
        if (problems.length) throw invalid(problems);
        const image = body.image ? await decodeSignatureImage(body.image, ['png', 'jpeg']) : undefined;
        let outcome: SignOutcome;
        try {
          outcome = await ctx.svc.signWithLink(token, { place: body.place, date: body.date, backdateReason: body.backdateReason, image });
        } catch (err) {
          if (err instanceof SignError || err instanceof StampImageError) throw new HttpError(422, 'Unterschrift abgelehnt', signRefusalText(err));
          throw err;
        }
        return outcomeJson(outcome, token);
      },
    }),
    route({
      method: 'post',
      path: '/api/v1/sign/:token/upload',
      kind: 'api',
      access: 'link',
      tag: TAG,
      summary: 'Extern signiertes PDF hochladen (multipart, Feld „file“): angenommen nur als das zugesandte Dokument plus genau eine Unterschrift im eigenen Feld',
      params: TokenParam,
      upload: { field: 'file', kinds: ['pdf'], required: true },
      response: { description: 'Ergebnis', schema: Outcome },
      handler: async ({ params, res, ctx, file }) => {
        private_(res);
        const token = tokenOf(params, true);
        let outcome: SignOutcome;
        try {
          outcome = await ctx.svc.signWithUpload(token, file!.buffer);
        } catch (err) {
          if (err instanceof UploadRefusedError) throw new HttpError(422, 'Upload abgelehnt', err.message);
          throw err;
        }
        return outcomeJson(outcome, token);
      },
    }),
    route({
      method: 'post',
      path: '/api/v1/sign/:token/decline',
      kind: 'api',
      access: 'link',
      tag: TAG,
      summary: 'Ablehnen mit Begründung',
      params: TokenParam,
      body: z.strictObject({ reason: z.string().trim().min(1, 'Bitte begründen Sie die Ablehnung.').max(2000) }),
      response: { description: 'Abgelehnt', schema: z.object({ envelopeId: z.number(), status: z.string() }) },
      handler: async ({ params, body, res, ctx }) => {
        private_(res);
        const snap = await ctx.svc.declineWithLink(tokenOf(params, true), body.reason);
        return { envelopeId: snap.envelope.id, status: snap.envelope.status };
      },
    }),
  ];
}

