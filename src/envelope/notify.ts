/**
 * Notifications of the signing envelope: German plain-text messages to signatories and the
 * clerk, their RFC 5322 form (.eml) and their delivery over SMTP.
 *
 * Without ZV_SMTP_URL there is no transport: the caller writes the .eml bytes into the outbox
 * folder itself. The personal link in invite/turn/reminder messages is a credential: it must
 * never be logged; `redact` removes it from a text before that text goes anywhere else.
 */
import { randomBytes } from 'node:crypto';
import nodemailer from 'nodemailer';
import MailComposer from 'nodemailer/lib/mail-composer';
import { berlinDate, joinGerman } from '../compose/format.ts';
import addressparser from 'nodemailer/lib/addressparser';

export type NotificationKind = 'invite' | 'turn' | 'reminder' | 'declined' | 'cancelled' | 'completed';

export interface MessageContext {
  kind: NotificationKind;
  to: { name: string; email: string };
  /** e.g. "Zielvereinbarung AQB 2023 – Werra-Meißner-Kreis" */
  agreementTitle: string;
  /** "Werra-Meißner-Kreis" */
  partnerName: string;
  /** "Landrätin" */
  signatoryRole?: string;
  /** index 1-based; waitingFor = names of earlier signatories who still have to sign (empty if it is their turn) */
  position?: { index: number; total: number; waitingFor: string[] };
  /** personal link URL (invite, turn, reminder); never log it */
  link?: string;
  /** ISO instant; printed as German date "21.12.2026" */
  expiresAt?: string;
  /** for 'declined' (to the clerk) */
  declinedBy?: { name: string; role: string; reason: string };
  /** for 'cancelled' */
  cancelledReason?: string;
  /** for 'completed': names of the archived files (listed, not attached) */
  completedFiles?: string[];
  /** "Zielwerk <zielwerk@hmsi.example>" */
  from: string;
  /** Date header */
  sentAt: Date;
}

export interface Message {
  to: string;
  from: string;
  subject: string;
  text: string;
  date: Date;
  messageId: string;
}

export interface Transport {
  kind: 'smtp' | 'outbox';
  /** where messages go, for logs and status output; never contains a password */
  describe: string;
  send(msg: Message, eml: Buffer): Promise<{ messageId: string }>;
}

const SIGN_OFF = 'Mit freundlichen Grüßen\nZielwerk – Hessisches Ministerium für Arbeit, Integration, Jugend und Soziales';
const LINK_REDACTED = '[persönlicher Link entfernt]';
const LINK_PATTERN = /https?:\/\/\S+\/sign\/[A-Za-z0-9_-]{43}/;

// ---------------------------------------------------------------------------------------------
// Composing
// ---------------------------------------------------------------------------------------------

/** One line of header-ish text: no line breaks, no runs of whitespace. */
function oneLine(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}

function required<T>(value: T | undefined | null, field: string, kind: NotificationKind): T {
  if (value === undefined || value === null || (typeof value === 'string' && value.trim() === '')) {
    throw new Error(`notification '${kind}' needs ${field}`);
  }
  return value;
}

/** "21.12.2026" for an ISO instant, as the calendar date in Hessen (Europe/Berlin). */
function germanDate(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) throw new Error(`expiresAt is not a valid date: ${JSON.stringify(iso)}`);
  return berlinDate(d);
}

/** "A", "A und B", "A, B und C", each name on one line. */
const joinNames = (names: string[]) => joinGerman(names.map(oneLine).filter(Boolean));

/** RFC 5322 mailbox "Name <email>", the name quoted when it holds specials. */
function formatAddress(name: string, email: string): string {
  const n = oneLine(name);
  if (!n) return email;
  // atext plus space, and anything non-ASCII (which the MIME encoder turns into an encoded word)
  if (/^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~ \u0080-\uFFFF]+$/.test(n)) return `${n} <${email}>`;
  return `"${n.replace(/["\\]/g, '\\$&')}" <${email}>`;
}

function checkEmail(email: string): string {
  const e = email.trim();
  if (!/^[^\s<>@",;()\\]+@[^\s<>@",;()\\]+$/.test(e)) throw new Error(`not a usable e-mail address: ${JSON.stringify(email)}`);
  return e;
}

function checkLink(link: string): string {
  const l = link.trim();
  if (!/^https?:\/\/\S+$/.test(l)) throw new Error('link is not an http(s) URL');
  return l;
}

function quoteText(s: string): string {
  return `„${s.trim()}“`;
}

/** "als Landrätin für den Vertragspartner Werra-Meißner-Kreis" */
function capacity(ctx: MessageContext): string {
  const role = ctx.signatoryRole ? oneLine(ctx.signatoryRole) : '';
  const partner = oneLine(ctx.partnerName);
  return `${role ? `als ${role} ` : ''}für den Vertragspartner ${partner}`;
}

function linkBlock(link: string, expires: string, intro: string): string[] {
  return [intro, link, '', `Der Link ist persönlich und gilt bis zum ${expires}. Bitte leiten Sie ihn nicht weiter.`];
}

export function composeMessage(ctx: MessageContext): Message {
  const kind = ctx.kind;
  const title = oneLine(required(ctx.agreementTitle, 'agreementTitle', kind));
  const toName = oneLine(ctx.to?.name ?? '');
  const toEmail = checkEmail(required(ctx.to?.email, 'to.email', kind));
  const from = oneLine(required(ctx.from, 'from', kind));
  if (!(ctx.sentAt instanceof Date) || Number.isNaN(ctx.sentAt.getTime())) throw new Error(`notification '${kind}' needs sentAt (a valid Date)`);

  const greeting = toName ? `Guten Tag ${toName},` : 'Guten Tag,';
  const quotedTitle = quoteText(title);
  let subject: string;
  let body: string[];

  switch (kind) {
    case 'invite': {
      const link = checkLink(required(ctx.link, 'link', kind));
      const expires = germanDate(required(ctx.expiresAt, 'expiresAt', kind));
      subject = `Zielvereinbarung zur Unterzeichnung: ${title}`;
      body = [
        greeting,
        '',
        `die Zielvereinbarung ${quotedTitle} liegt zur elektronischen Unterzeichnung bereit. Sie unterzeichnen ${capacity(ctx)}.`,
      ];
      const pos = ctx.position;
      if (pos && pos.waitingFor.length > 0) {
        body.push(
          '',
          `Ihre Unterschrift ist die ${pos.index}. von ${pos.total}. Sie können unterzeichnen, sobald ${joinNames(pos.waitingFor)} unterschrieben ${pos.waitingFor.length === 1 ? 'hat' : 'haben'}; wir benachrichtigen Sie dann. Öffnen und lesen können Sie die Vereinbarung schon jetzt.`,
        );
      } else if (pos && pos.total > 1) {
        body.push('', `Ihre Unterschrift ist die ${pos.index}. von ${pos.total}. Sie können sofort unterzeichnen.`);
      }
      body.push('', ...linkBlock(link, expires, 'Zur Vereinbarung:'));
      break;
    }
    case 'turn': {
      const link = checkLink(required(ctx.link, 'link', kind));
      const expires = germanDate(required(ctx.expiresAt, 'expiresAt', kind));
      subject = `Sie sind an der Reihe: ${title}`;
      body = [
        greeting,
        '',
        `alle, die vor Ihnen unterschreiben sollten, haben die Zielvereinbarung ${quotedTitle} unterzeichnet. Sie können jetzt ${capacity(ctx)} unterzeichnen.`,
        '',
        ...linkBlock(link, expires, 'Zur Unterzeichnung:'),
      ];
      break;
    }
    case 'reminder': {
      const link = checkLink(required(ctx.link, 'link', kind));
      const expires = germanDate(required(ctx.expiresAt, 'expiresAt', kind));
      subject = `Erinnerung: ${title} wartet auf Ihre Unterschrift`;
      body = [
        greeting,
        '',
        `die Zielvereinbarung ${quotedTitle} wartet noch auf Ihre Unterschrift (${capacity(ctx)}). Ihr persönlicher Link läuft am ${expires} ab.`,
        '',
        'Zur Unterzeichnung:',
        link,
        '',
        'Bitte leiten Sie den Link nicht weiter.',
      ];
      break;
    }
    case 'declined': {
      const by = required(ctx.declinedBy, 'declinedBy', kind);
      const who = `${oneLine(by.name)}${by.role?.trim() ? ` (${oneLine(by.role)})` : ''}`;
      subject = `Abgelehnt: ${title}`;
      body = [
        greeting,
        '',
        `${who} hat die Unterzeichnung der Zielvereinbarung ${quotedTitle} für den Vertragspartner ${oneLine(ctx.partnerName)} abgelehnt.`,
        '',
        ...(by.reason?.trim() ? ['Begründung:', quoteText(by.reason)] : ['Eine Begründung wurde nicht angegeben.']),
        '',
        'Das Unterzeichnungsverfahren wurde angehalten.',
      ];
      break;
    }
    case 'cancelled': {
      subject = `Zurückgezogen: ${title}`;
      body = [
        greeting,
        '',
        `das Ministerium hat das Unterzeichnungsverfahren für die Zielvereinbarung ${quotedTitle} abgebrochen. Ihr persönlicher Link ist nicht mehr gültig; Sie müssen nichts weiter tun.`,
      ];
      if (ctx.cancelledReason?.trim()) body.push('', 'Begründung:', quoteText(ctx.cancelledReason));
      break;
    }
    case 'completed': {
      subject = `Vollständig unterzeichnet: ${title}`;
      const files = (ctx.completedFiles ?? []).map(oneLine).filter(Boolean);
      body = [greeting, '', `die Zielvereinbarung ${quotedTitle} ist von allen Beteiligten unterzeichnet.`];
      if (files.length > 0) body.push('', 'Folgende Dateien sind archiviert:', ...files.map((f) => `- ${f}`));
      else body.push('', 'Die unterzeichnete Fassung ist archiviert.');
      break;
    }
    default:
      throw new Error(`unknown notification kind: ${String(kind)}`);
  }

  const text = [...body, '', SIGN_OFF, ''].join('\n');
  return {
    to: formatAddress(toName, toEmail),
    from,
    subject,
    text,
    date: ctx.sentAt,
    messageId: `<${randomBytes(16).toString('hex')}@zielwerk>`,
  };
}

/** Replaces every occurrence of the personal link in `text` with "[persönlicher Link entfernt]". */
export function redact(text: string, link: string): string {
  if (!link) return text;
  return text.split(link).join(LINK_REDACTED);
}

// ---------------------------------------------------------------------------------------------
// .eml
// ---------------------------------------------------------------------------------------------

/** RFC 5322 bytes, 7-bit clean: encoded-word headers, quoted-printable or base64 UTF-8 body. */
export async function toEml(msg: Message): Promise<Buffer> {
  const composer = new MailComposer({
    from: msg.from,
    to: msg.to,
    subject: msg.subject,
    text: msg.text,
    date: msg.date,
    messageId: msg.messageId,
  });
  return composer.compile().build();
}

/** Bytes of a binary ("latin1") string in the given charset as text. */
function decodeCharset(bytes: Buffer, charset: string | undefined): string {
  const cs = (charset || 'utf-8').trim().toLowerCase();
  try {
    return new TextDecoder(cs === 'us-ascii' || cs === 'ascii' ? 'utf-8' : cs).decode(bytes);
  } catch {
    return bytes.toString('utf8');
  }
}

function decodeQp(s: string, header: boolean): Buffer {
  if (header) s = s.replace(/_/g, ' ');
  else s = s.replace(/=\r?\n/g, ''); // soft line breaks
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x3d && /^[0-9A-Fa-f]{2}$/.test(s.slice(i + 1, i + 3))) {
      out.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      out.push(c & 0xff);
    }
  }
  return Buffer.from(out);
}

/** RFC 2047: decodes the encoded words of a header value (given as a binary string). */
function decodeWords(value: string): string {
  const re = /=\?([^?\s]+)\?([BbQq])\?([^?\s]*)\?=/g;
  let out = '';
  let last = 0;
  let pending: { charset: string; bytes: Buffer[] } | null = null;
  const flush = () => {
    if (pending) out += decodeCharset(Buffer.concat(pending.bytes), pending.charset);
    pending = null;
  };
  for (let m = re.exec(value); m; m = re.exec(value)) {
    const between = value.slice(last, m.index);
    // whitespace between two adjacent encoded words is not part of the text
    if (!(pending && /^[ \t\r\n]*$/.test(between))) {
      flush();
      out += Buffer.from(between, 'latin1').toString('utf8');
    }
    const charset = m[1].split('*')[0].toLowerCase(); // RFC 2231 language suffix
    const bytes = m[2].toUpperCase() === 'B' ? Buffer.from(m[3], 'base64') : decodeQp(m[3], true);
    const cur = pending as { charset: string; bytes: Buffer[] } | null;
    if (cur && cur.charset === charset) cur.bytes.push(bytes);
    else {
      flush();
      pending = { charset, bytes: [bytes] };
    }
    last = m.index + m[0].length;
  }
  flush();
  out += Buffer.from(value.slice(last), 'latin1').toString('utf8');
  return out;
}

interface Part {
  headers: Map<string, string>;
  body: string; // binary string
}

function splitPart(raw: string): Part {
  const m = /\r?\n\r?\n/.exec(raw);
  const head = m ? raw.slice(0, m.index) : raw;
  const body = m ? raw.slice(m.index + m[0].length) : '';
  const headers = new Map<string, string>();
  for (const line of head.replace(/\r?\n(?=[ \t])/g, '').split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const name = line.slice(0, i).trim().toLowerCase();
    if (!headers.has(name)) headers.set(name, line.slice(i + 1).trim());
  }
  return { headers, body };
}

function headerParam(value: string | undefined, param: string): string | undefined {
  if (!value) return undefined;
  const m = new RegExp(`;\\s*${param}\\s*=\\s*(?:"((?:[^"\\\\]|\\\\.)*)"|([^;\\s]+))`, 'i').exec(value);
  if (!m) return undefined;
  return m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2];
}

/** The text of the first text/plain part (or of a single-part message). */
function partText(part: Part, depth = 0): string | null {
  const type = (part.headers.get('content-type') ?? 'text/plain').toLowerCase();
  if (type.startsWith('multipart/')) {
    const boundary = headerParam(part.headers.get('content-type'), 'boundary');
    if (!boundary || depth > 5) return null;
    const pieces = part.body.split(new RegExp(`(?:^|\\r?\\n)--${boundary.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?:--)?[ \\t]*(?:\\r?\\n|$)`));
    for (const piece of pieces.slice(1)) {
      if (!piece.trim()) continue;
      const t = partText(splitPart(piece), depth + 1);
      if (t !== null) return t;
    }
    return null;
  }
  if (!type.startsWith('text/plain')) return null;
  const cte = (part.headers.get('content-transfer-encoding') ?? '7bit').trim().toLowerCase();
  let bytes: Buffer;
  if (cte === 'quoted-printable') bytes = decodeQp(part.body, false);
  else if (cte === 'base64') bytes = Buffer.from(part.body.replace(/[^A-Za-z0-9+/=]/g, ''), 'base64');
  else bytes = Buffer.from(part.body, 'latin1');
  return decodeCharset(bytes, headerParam(part.headers.get('content-type'), 'charset')).replace(/\r\n/g, '\n');
}

/** Decodes the headers (RFC 2047) and body (QP/base64) of an .eml as written by `toEml`. */
export function parseEml(bytes: Buffer | string): { to: string; subject: string; text: string; link: string | null } {
  const raw = (typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes).toString('latin1');
  const part = splitPart(raw);
  const rawTo = part.headers.get('to') ?? '';
  const mailbox = addressparser(rawTo, { flatten: true })[0];
  const to = mailbox?.address ? formatAddress(decodeWords(mailbox.name ?? ''), mailbox.address) : decodeWords(rawTo);
  const subject = decodeWords(part.headers.get('subject') ?? '');
  const text = partText(part) ?? '';
  const link = LINK_PATTERN.exec(text)?.[0] ?? null;
  return { to, subject, text, link };
}

// ---------------------------------------------------------------------------------------------
// Delivery
// ---------------------------------------------------------------------------------------------

function envelopeAddress(header: string, what: string): string {
  const address = addressparser(header, { flatten: true })[0]?.address;
  if (!address) throw new Error(`no e-mail address in ${what}: ${JSON.stringify(header)}`);
  return address;
}

/**
 * SMTP delivery through nodemailer, e.g. "smtp://user:pass@mail.example:587" (STARTTLS when the
 * server offers it), "smtps://…:465", or "smtp://127.0.0.1:2525?ignoreTLS=true". Query
 * parameters are nodemailer transport options. The .eml bytes are sent as they are.
 */
export function smtpTransport(url: string): Transport {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error('ZV_SMTP_URL is not a URL (expected smtp://host:port or smtps://host:port)');
  }
  if (parsed.protocol !== 'smtp:' && parsed.protocol !== 'smtps:') {
    throw new Error(`unsupported mail URL scheme ${parsed.protocol} (expected smtp: or smtps:)`);
  }
  if (!parsed.hostname) throw new Error('the SMTP URL has no host');
  const user = parsed.username ? `${parsed.username}@` : ''; // still percent-encoded
  const describe = `${parsed.protocol}//${user}${parsed.host}`;

  // the URL's own options (host, port, auth, query) override these defaults
  const transporter = nodemailer.createTransport({
    url,
    connectionTimeout: 20_000,
    greetingTimeout: 15_000,
    socketTimeout: 60_000,
  });

  return {
    kind: 'smtp',
    describe,
    async send(msg: Message, eml: Buffer): Promise<{ messageId: string }> {
      await transporter.sendMail({
        envelope: { from: envelopeAddress(msg.from, 'from'), to: [envelopeAddress(msg.to, 'to')] },
        raw: eml,
      });
      return { messageId: msg.messageId };
    },
  };
}

/** ZV_SMTP_URL set → SMTP; otherwise null (the caller writes .eml files to the outbox folder). */
export function transportFromEnv(env: Record<string, string | undefined> = process.env): Transport | null {
  const url = env.ZV_SMTP_URL?.trim();
  return url ? smtpTransport(url) : null;
}
