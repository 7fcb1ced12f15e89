/**
 * Envelope notifications: German texts per kind, the personal link (exactly once where it
 * belongs, never elsewhere, redactable), the .eml round trip (7-bit clean, umlauts in headers),
 * and real delivery to an smtp-server on 127.0.0.1, with and without authentication.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import {
  composeMessage,
  parseEml,
  redact,
  smtpTransport,
  toEml,
  transportFromEnv,
  type MessageContext,
  type NotificationKind,
} from '../src/envelope/notify.ts';

const TITLE = 'Zielvereinbarung AQB 2023 – Werra-Meißner-Kreis';
const LINK = `https://zielwerk.hmsi.example/sign/${'Qx7_-'.repeat(8)}abc`; // 43-char token
assert.equal(LINK.split('/sign/')[1].length, 43);

function ctx(kind: NotificationKind, extra: Partial<MessageContext> = {}): MessageContext {
  const base: MessageContext = {
    kind,
    to: { name: 'Dr. Anna Müller', email: 'anna.mueller@werra-meissner-kreis.example' },
    agreementTitle: TITLE,
    partnerName: 'Werra-Meißner-Kreis',
    signatoryRole: 'Landrätin',
    from: 'Zielwerk <zielwerk@hmsi.example>',
    sentAt: new Date('2026-11-21T09:30:00Z'),
  };
  const withLink = kind === 'invite' || kind === 'turn' || kind === 'reminder';
  return {
    ...base,
    ...(withLink ? { link: LINK, expiresAt: '2026-12-21T22:59:59Z' } : {}),
    ...(kind === 'declined'
      ? { declinedBy: { name: 'Nicole Rathgeber', role: 'Landrätin', reason: 'Die Zielzahl für Maßnahme 3 ist zu hoch.' } }
      : {}),
    ...(kind === 'cancelled' ? { cancelledReason: 'Neue Fassung nach Rückmeldung des Kreises.' } : {}),
    ...(kind === 'completed' ? { completedFiles: ['zv-aqb-2023-werra-meissner-kreis.pdf', 'pruefbericht.txt'] } : {}),
    ...extra,
  };
}

function count(haystack: string, needle: string): number {
  return haystack.split(needle).length - 1;
}

const SIGN_OFF = 'Mit freundlichen Grüßen\nZielwerk – Hessisches Ministerium für Arbeit, Integration, Jugend und Soziales';

test('invite: subject, greeting, capacity, waiting position, link once, expiry, sign-off', () => {
  const m = composeMessage(
    ctx('invite', { position: { index: 3, total: 4, waitingFor: ['Heike Hofmann', 'Kai Klose', 'Uwe Ullrich'] } }),
  );
  assert.equal(m.subject, `Zielvereinbarung zur Unterzeichnung: ${TITLE}`);
  assert.match(m.text, /^Guten Tag Dr\. Anna Müller,\n/);
  assert.match(m.text, /elektronischen Unterzeichnung/);
  assert.match(m.text, /als Landrätin für den Vertragspartner Werra-Meißner-Kreis/);
  assert.match(m.text, /die 3\. von 4\./);
  assert.match(m.text, /sobald Heike Hofmann, Kai Klose und Uwe Ullrich unterschrieben haben/);
  assert.match(m.text, /benachrichtigen Sie dann/);
  assert.match(m.text, /lesen können Sie die Vereinbarung schon jetzt/);
  assert.equal(count(m.text, LINK), 1);
  assert.ok(m.text.includes(`\n${LINK}\n`), 'link on its own line');
  // 22:59:59Z is still the 21st in Hessen (UTC+1 in December)
  assert.match(m.text, /Der Link ist persönlich und gilt bis zum 21\.12\.2026\. Bitte leiten Sie ihn nicht weiter\./);
  assert.ok(m.text.includes(SIGN_OFF));
  assert.doesNotMatch(m.text, /\bdu\b|\bdein/i);
  assert.equal(m.from, 'Zielwerk <zielwerk@hmsi.example>');
  assert.equal(m.to, '"Dr. Anna Müller" <anna.mueller@werra-meissner-kreis.example>');
  assert.match(m.messageId, /^<[0-9a-f]{32}@zielwerk>$/);
  assert.notEqual(composeMessage(ctx('invite')).messageId, m.messageId);
  assert.equal(m.date.toISOString(), '2026-11-21T09:30:00.000Z');

  // one earlier signatory: singular; nobody to wait for: no waiting sentence
  const one = composeMessage(ctx('invite', { position: { index: 2, total: 2, waitingFor: ['Heike Hofmann'] } }));
  assert.match(one.text, /sobald Heike Hofmann unterschrieben hat;/);
  const first = composeMessage(ctx('invite', { position: { index: 1, total: 2, waitingFor: [] } }));
  assert.doesNotMatch(first.text, /sobald/);
  assert.match(first.text, /Sie können sofort unterzeichnen/);
});

test('turn and reminder: subjects, link once, expiry', () => {
  const turn = composeMessage(ctx('turn'));
  assert.equal(turn.subject, `Sie sind an der Reihe: ${TITLE}`);
  assert.match(turn.text, /vor Ihnen .* unterzeichnet\. Sie können jetzt als Landrätin/s);
  assert.equal(count(turn.text, LINK), 1);
  assert.match(turn.text, /gilt bis zum 21\.12\.2026/);
  assert.ok(turn.text.includes(SIGN_OFF));

  const rem = composeMessage(ctx('reminder'));
  assert.equal(rem.subject, `Erinnerung: ${TITLE} wartet auf Ihre Unterschrift`);
  assert.match(rem.text, /wartet noch auf Ihre Unterschrift/);
  assert.match(rem.text, /läuft am 21\.12\.2026 ab/);
  assert.equal(count(rem.text, LINK), 1);
});

test('declined, cancelled, completed: content and never a link', () => {
  const dec = composeMessage(ctx('declined', { link: LINK }));
  assert.equal(dec.subject, `Abgelehnt: ${TITLE}`);
  assert.match(dec.text, /Nicole Rathgeber \(Landrätin\) hat die Unterzeichnung/);
  assert.match(dec.text, /„Die Zielzahl für Maßnahme 3 ist zu hoch\.“/);
  assert.match(dec.text, /Unterzeichnungsverfahren wurde angehalten/);

  const can = composeMessage(ctx('cancelled', { link: LINK }));
  assert.equal(can.subject, `Zurückgezogen: ${TITLE}`);
  assert.match(can.text, /Ministerium hat das Unterzeichnungsverfahren .* abgebrochen/s);
  assert.match(can.text, /Link ist nicht mehr gültig/);
  assert.match(can.text, /„Neue Fassung nach Rückmeldung des Kreises\.“/);
  const canNoReason = composeMessage(ctx('cancelled', { cancelledReason: undefined }));
  assert.doesNotMatch(canNoReason.text, /Begründung/);

  const done = composeMessage(ctx('completed', { link: LINK }));
  assert.equal(done.subject, `Vollständig unterzeichnet: ${TITLE}`);
  assert.match(done.text, /von allen Beteiligten unterzeichnet/);
  assert.match(done.text, /archiviert:\n- zv-aqb-2023-werra-meissner-kreis\.pdf\n- pruefbericht\.txt\n/);

  for (const m of [dec, can, canNoReason, done]) {
    assert.ok(!m.text.includes(LINK) && !m.text.includes('/sign/'), `no link in ${m.subject}`);
    assert.ok(m.text.includes(SIGN_OFF));
  }
});

test('missing fields are named; header-breaking input is flattened', () => {
  assert.throws(() => composeMessage(ctx('invite', { link: undefined })), /link/);
  assert.throws(() => composeMessage(ctx('turn', { expiresAt: undefined })), /expiresAt/);
  assert.throws(() => composeMessage(ctx('reminder', { link: undefined })), /link/);
  assert.throws(() => composeMessage(ctx('declined', { declinedBy: undefined })), /declinedBy/);
  assert.throws(() => composeMessage(ctx('invite', { expiresAt: 'bald' })), /expiresAt/);
  assert.throws(() => composeMessage(ctx('invite', { to: { name: 'X', email: 'a@b\r\nBcc: c@d' } })), /e-mail address/);
  const m = composeMessage(ctx('completed', { agreementTitle: 'Titel\r\nBcc: evil@example.org' }));
  assert.equal(m.subject, 'Vollständig unterzeichnet: Titel Bcc: evil@example.org');
});

test('redact removes the personal link', () => {
  for (const kind of ['invite', 'turn', 'reminder'] as const) {
    const m = composeMessage(ctx(kind));
    const r = redact(m.text, LINK);
    assert.ok(!r.includes(LINK));
    assert.ok(!r.includes('/sign/'));
    assert.equal(count(r, '[persönlicher Link entfernt]'), 1);
  }
  assert.equal(redact(`a ${LINK} b ${LINK}`, LINK), 'a [persönlicher Link entfernt] b [persönlicher Link entfernt]');
  assert.equal(redact('nothing here', ''), 'nothing here');
});

test('toEml → parseEml round trip, 7-bit clean', async () => {
  for (const kind of ['invite', 'turn', 'reminder', 'declined', 'cancelled', 'completed'] as const) {
    for (const name of ['Dr. Anna Müller', 'Müller, Anna', 'Jörg Weiß-Öztürk', 'Plain Name']) {
      const m = composeMessage(ctx(kind, { to: { name, email: 'a.b@kreis.example' } }));
      const eml = await toEml(m);
      const bad = [...eml].findIndex((b) => b >= 128);
      assert.equal(bad, -1, `8-bit byte at ${bad} in ${kind} .eml`);
      const head = eml.toString('latin1').split('\r\n\r\n')[0];
      assert.match(head, /^Subject: =\?UTF-8\?[QB]\?/im, 'subject as encoded words');
      assert.match(head, /^Content-Transfer-Encoding: (quoted-printable|base64)$/im);
      assert.match(head, /^Message-ID: <[0-9a-f]{32}@zielwerk>$/im);
      assert.match(head, /^Date: Sat, 21 Nov 2026 09:30:00 \+0000$/im);
      const p = parseEml(eml);
      assert.equal(p.to, m.to);
      assert.equal(p.subject, m.subject);
      assert.ok(p.subject.includes('Werra-Meißner-Kreis'));
      assert.equal(p.text, m.text);
      assert.equal(p.link, kind === 'invite' || kind === 'turn' || kind === 'reminder' ? LINK : null);
      // a string works as well as the bytes
      assert.equal(parseEml(eml.toString('latin1')).subject, m.subject);
    }
  }
});

test('parseEml also reads base64 bodies, B-encoded and 8-bit headers', () => {
  const text = `Guten Tag,\n\nbitte hier unterschreiben:\n${LINK}\n`;
  const eml = [
    'To: =?ISO-8859-1?Q?J=F6rg?= <j@x.example>',
    'Subject: =?UTF-8?B?' + Buffer.from('Grüße aus Wiesbaden').toString('base64') + '?=',
    'Content-Type: text/plain; charset="utf-8"',
    'Content-Transfer-Encoding: base64',
    '',
    Buffer.from(text.replace(/\n/g, '\r\n')).toString('base64').replace(/.{76}/g, '$&\r\n'),
  ].join('\r\n');
  const p = parseEml(eml);
  assert.deepEqual(p, { to: 'Jörg <j@x.example>', subject: 'Grüße aus Wiesbaden', text, link: LINK });
  const raw8 = parseEml(Buffer.from('To: x@y.example\nSubject: Übung\n\nkein Link\n', 'utf8'));
  assert.deepEqual(raw8, { to: 'x@y.example', subject: 'Übung', text: 'kein Link\n', link: null });
});

test('transportFromEnv and describe', () => {
  assert.equal(transportFromEnv({}), null);
  assert.equal(transportFromEnv({ ZV_SMTP_URL: '  ' }), null);
  const t = transportFromEnv({ ZV_SMTP_URL: 'smtps://zv%40hmsi:p%40ss-secret@mail.hmsi.example:465' });
  assert.ok(t);
  assert.equal(t.kind, 'smtp');
  assert.equal(t.describe, 'smtps://zv%40hmsi@mail.hmsi.example:465');
  assert.ok(!t.describe.includes('secret'));
  assert.throws(() => smtpTransport('mail.hmsi.example:25'), /smtp/);
  assert.throws(() => smtpTransport('http://mail.hmsi.example'), /scheme/);
  // the error for a malformed URL must not echo it (it may hold a password)
  assert.throws(() => smtpTransport('smtp://user:topsecret@[bad'), (e: Error) => !e.message.includes('topsecret'));
});

interface Received {
  from: string | false | undefined;
  to: string[];
  user: unknown;
  eml: Buffer;
}

async function startServer(options: Partial<SMTPServerOptions>): Promise<{ port: number; received: Received[]; close: () => Promise<void> }> {
  const received: Received[] = [];
  const server = new SMTPServer({
    disabledCommands: ['STARTTLS'],
    logger: false,
    ...options,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        received.push({
          from: session.envelope.mailFrom && session.envelope.mailFrom.address,
          to: session.envelope.rcptTo.map((r) => r.address),
          user: session.user,
          eml: Buffer.concat(chunks),
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.server.address() as AddressInfo).port;
  return { port, received, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

test('real SMTP delivery to 127.0.0.1 without auth', { timeout: 8000 }, async () => {
  const srv = await startServer({ authOptional: true });
  try {
    const t = smtpTransport(`smtp://127.0.0.1:${srv.port}`);
    assert.equal(t.describe, `smtp://127.0.0.1:${srv.port}`);
    const m = composeMessage(ctx('invite'));
    const eml = await toEml(m);
    const res = await t.send(m, eml);
    assert.equal(res.messageId, m.messageId);
    assert.equal(srv.received.length, 1);
    const got = srv.received[0];
    assert.equal(got.from, 'zielwerk@hmsi.example');
    assert.deepEqual(got.to, ['anna.mueller@werra-meissner-kreis.example']);
    const p = parseEml(got.eml);
    assert.equal(p.subject, m.subject);
    assert.equal(p.link, LINK);
    assert.equal(p.to, m.to);

    // the URL's query reaches nodemailer (ignoreTLS: never try STARTTLS)
    const t2 = smtpTransport(`smtp://127.0.0.1:${srv.port}?ignoreTLS=true`);
    const m2 = composeMessage(ctx('completed'));
    await t2.send(m2, await toEml(m2));
    assert.equal(srv.received.length, 2);
    assert.equal(parseEml(srv.received[1].eml).subject, `Vollständig unterzeichnet: ${TITLE}`);
    assert.equal(parseEml(srv.received[1].eml).link, null);
  } finally {
    await srv.close();
  }
});

test('real SMTP delivery with auth; wrong password is rejected', { timeout: 8000 }, async () => {
  const srv = await startServer({
    authOptional: false,
    allowInsecureAuth: true, // plain TCP on loopback only
    onAuth(auth, _session, callback) {
      if (auth.username === 'user' && auth.password === 'secret') callback(null, { user: 'user' });
      else callback(new Error('Invalid username or password'));
    },
  });
  try {
    const ok = smtpTransport(`smtp://user:secret@127.0.0.1:${srv.port}`);
    assert.ok(!ok.describe.includes('secret'));
    assert.equal(ok.describe, `smtp://user@127.0.0.1:${srv.port}`);
    const m = composeMessage(ctx('reminder'));
    await ok.send(m, await toEml(m));
    assert.equal(srv.received.length, 1);
    assert.equal(srv.received[0].user, 'user');
    const p = parseEml(srv.received[0].eml);
    assert.equal(p.subject, `Erinnerung: ${TITLE} wartet auf Ihre Unterschrift`);
    assert.equal(p.link, LINK);

    const wrong = smtpTransport(`smtp://user:wrong@127.0.0.1:${srv.port}`);
    await assert.rejects(wrong.send(m, await toEml(m)), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'EAUTH');
      return true;
    });
    const none = smtpTransport(`smtp://127.0.0.1:${srv.port}`);
    await assert.rejects(none.send(m, await toEml(m)));
    assert.equal(srv.received.length, 1);
  } finally {
    await srv.close();
  }
});
