import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderAuditReport } from '../src/envelope/report-pdf.ts';
import type { AuditReportData } from '../src/envelope/report-pdf.ts';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

type Event = AuditReportData['events'][number];

function chainEvents(specs: Omit<Event, 'seq' | 'prevHash' | 'hash'>[]): Event[] {
  let prev = '0'.repeat(64);
  return specs.map((s, i) => {
    const hash = sha(prev + JSON.stringify(s) + i);
    const e: Event = { ...s, seq: i + 1, prevHash: prev, hash };
    prev = hash;
    return e;
  });
}

const DRAFT = sha('entwurf');
const AFTER1 = sha('signiert-1');
const AFTER2 = sha('signiert-2');
const FINAL = sha('signiert-3');

function completed(): AuditReportData {
  const events = chainEvents([
    { at: '2023-05-22T08:00:00Z', type: 'created', typeLabel: 'Umschlag erstellt', actor: 'Sachbearbeiterin Jana Weiß', details: 'Umschlag für die Zielvereinbarung AQB 2023 mit dem Werra-Meißner-Kreis angelegt.', docBefore: null, docAfter: DRAFT },
    { at: '2023-05-22T08:05:00Z', type: 'sent', typeLabel: 'Zur Unterzeichnung versandt', actor: 'Sachbearbeiterin Jana Weiß', details: 'Einladung an Staatsministerin Heike Hofmann (heike.hofmann@hsm.hessen.de) versandt.', docBefore: null, docAfter: null },
    { at: '2023-05-23T09:12:44Z', type: 'viewed', typeLabel: 'Dokument geöffnet', actor: 'Heike Hofmann', details: 'Dokument im Browser geöffnet (IP 10.0.0.12).', docBefore: null, docAfter: null },
    { at: '2023-05-23T09:20:01Z', type: 'signed', typeLabel: 'Unterschrieben', actor: 'Heike Hofmann', details: 'PAdES-Signatur hinzugefügt; Zertifikat der Hessischen Zentrale für Datenverarbeitung.', docBefore: DRAFT, docAfter: AFTER1 },
    { at: '2023-05-24T07:30:00Z', type: 'sent', typeLabel: 'Weitergeleitet', actor: 'System', details: 'Einladung an Landrätin Nicole Rathgeber versandt.', docBefore: null, docAfter: null },
    { at: '2023-05-25T11:02:09Z', type: 'signed', typeLabel: 'Gegengezeichnet', actor: 'Nicole Rathgeber', details: 'Unterzeichnet für den Werra-Meißner-Kreis. Hinweis: Die Mittel für Maßnahmen zur Ausbildungsförderung und Qualifizierung werden gemäß den Fördergrundsätzen verwendet; Rückfragen bitte über https://www.werra-meissner-kreis.de/verwaltung/fachdienste/arbeit-und-soziales/ausbildungs-und-qualifizierungsbudget-2023-ansprechpartnerinnen.', docBefore: AFTER1, docAfter: AFTER2 },
    { at: '2023-05-30T12:05:09Z', type: 'signed', typeLabel: 'Zweite Unterschrift', actor: 'Dr. Rainer Wallmann', details: 'Unterzeichnet als Erste Kreisbeigeordnete (Vertretung).', docBefore: AFTER2, docAfter: FINAL },
    { at: '2023-05-30T12:05:10Z', type: 'completed', typeLabel: 'Umschlag abgeschlossen', actor: 'System', details: 'Alle Unterschriften liegen vor.', docBefore: null, docAfter: null },
    { at: '2023-05-30T12:06:00Z', type: 'archived', typeLabel: 'Archiviert', actor: 'System', details: 'Signiertes Dokument im Archiv abgelegt (Aufbewahrungsfrist 10 Jahre).', docBefore: null, docAfter: null },
    { at: '2023-12-01T10:00:00Z', type: 'exported', typeLabel: 'Protokoll exportiert', actor: 'Prüferin Überall', details: 'Signaturprotokoll für die Innenrevision erzeugt — Prüfung ohne Beanstandungen.', docBefore: null, docAfter: null },
  ]);
  return {
    envelopeId: 'env_7f3c2a91-4b1e-4d6f-9a0b-2c8e5d1f3a47',
    agreement: {
      title: 'Zielvereinbarung Ausbildungs- und Qualifizierungsbudget 2023 – Werra-Meißner-Kreis',
      type: 'aqb',
      year: 2023,
      partnerName: 'Werra-Meißner-Kreis',
      amountText: '1.341.400 Euro',
      version: 3,
      edition: 'AQB 2023 (Fassung vom 18. Januar 2023)',
      agreementId: 'aqb-2023-werra-meissner-kreis',
    },
    status: 'unterzeichnet',
    generatedAt: '2023-12-01T10:00:00Z',
    documents: [
      { label: 'Ausgangsdokument (Entwurf)', fileName: 'aqb-2023-werra-meissner-kreis.pdf', sha256: DRAFT, size: 187_342 },
      { label: 'Signiertes Dokument', fileName: 'aqb-2023-werra-meissner-kreis-signiert.pdf', sha256: FINAL, size: 1_254_903 },
    ],
    signatories: [
      {
        position: 1, name: 'Heike Hofmann', role: 'Hessische Ministerin für Arbeit, Integration, Jugend und Soziales', party: 'Ministerium',
        email: 'heike.hofmann@hsm.hessen.de', status: 'unterzeichnet', signedAt: '2023-05-23T09:20:01Z', place: 'Wiesbaden', date: '2023-05-23',
        certificate: { subject: 'CN=Heike Hofmann, O=Land Hessen, C=DE', issuer: 'CN=HZD Signatur-CA 2023, O=Hessische Zentrale für Datenverarbeitung, C=DE', serial: '4F2A9C0B7D1E3F5061728394A5B6C7D8E9F0A1B2', sha256: sha('cert-1') },
      },
      {
        position: 2, name: 'Nicole Rathgeber', role: 'Landrätin', party: 'Werra-Meißner-Kreis',
        email: 'landraetin@werra-meissner-kreis.de', status: 'unterzeichnet', signedAt: '2023-05-25T11:02:09Z', place: 'Eschwege', date: '2023-05-25',
        certificate: { subject: 'CN=Nicole Rathgeber, O=Werra-Meißner-Kreis, C=DE', issuer: 'CN=Kommunale Signatur-CA, O=ekom21, C=DE', serial: '01A3', sha256: sha('cert-2') },
      },
      {
        position: 3, name: 'Dr. Rainer Wallmann', role: 'Erste Kreisbeigeordnete', party: 'Werra-Meißner-Kreis',
        email: null, status: 'unterzeichnet', signedAt: '2023-05-30T12:05:09Z', place: 'Eschwege', date: '2023-05-30',
        certificate: { subject: 'CN=Rainer Wallmann, O=Werra-Meißner-Kreis, C=DE', issuer: 'CN=Kommunale Signatur-CA, O=ekom21, C=DE', serial: '01A4', sha256: sha('cert-3') },
      },
    ],
    events,
    chain: { ok: true, head: events[events.length - 1].hash, text: `Hash-Kette vollständig und unverändert (${events.length} Ereignisse)` },
  };
}

function many(n: number): AuditReportData {
  const base = completed();
  const events = chainEvents(
    Array.from({ length: n }, (_, i) => ({
      at: new Date(Date.UTC(2023, 4, 22, 8, 0, i)).toISOString(),
      type: i % 2 ? 'viewed' : 'reminder',
      typeLabel: i % 2 ? 'Dokument geöffnet' : 'Erinnerung versandt',
      actor: i % 3 ? 'System' : 'Landrätin Nicole Rathgeber',
      details: i % 5 === 0 ? 'Erinnerung an die ausstehende Gegenzeichnung durch den Werra-Meißner-Kreis; die Frist für die Unterzeichnung endet am 31. Mai 2023, danach verfällt die Einladung und muss erneut versandt werden.' : `Vorgang ${i + 1}`,
      docBefore: i % 7 === 0 ? DRAFT : null,
      docAfter: i % 7 === 0 ? AFTER1 : null,
    })),
  );
  return { ...base, status: 'in Unterzeichnung', events, chain: { ok: true, head: events[events.length - 1].hash, text: `Hash-Kette vollständig und unverändert (${n} Ereignisse)` } };
}

function tool(cmd: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface Inspected { text: string; pages: number; pdfinfo: string }

function inspect(bytes: Uint8Array): Inspected {
  const dir = mkdtempSync(join(tmpdir(), 'zv-report-'));
  try {
    const file = join(dir, 'report.pdf');
    writeFileSync(file, bytes);
    const text = tool('pdftotext', ['-layout', '-enc', 'UTF-8', file, '-']);
    assert.equal(text.status, 0, text.stderr);
    const info = tool('pdfinfo', [file]);
    assert.equal(info.status, 0, info.stderr);
    const pages = Number(/^Pages:\s+(\d+)/m.exec(info.stdout)?.[1]);
    const check = tool('qpdf', ['--check', file]);
    assert.equal(check.status, 0, `qpdf --check: ${check.stdout}\n${check.stderr}`);
    const fonts = tool('pdffonts', [file]);
    assert.equal(fonts.status, 0, fonts.stderr);
    const rows = fonts.stdout.split('\n').slice(2).filter((l) => l.trim());
    assert.ok(rows.length >= 2, fonts.stdout);
    for (const row of rows) {
      assert.match(row, /LiberationSans/, row);
      // Columns: name type encoding emb sub uni object ID — emb is the 4th field from the right of "obj ID".
      const cols = row.trim().split(/\s+/);
      assert.equal(cols[cols.length - 5], 'yes', `font not embedded: ${row}`);
    }
    return { text: text.stdout, pages, pdfinfo: info.stdout };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('completed envelope: text, hashes, page footers, fonts, qpdf', async () => {
  const data = completed();
  const { text, pages, pdfinfo } = inspect(await renderAuditReport(data));

  assert.ok(pages >= 1);
  assert.match(pdfinfo, /^Title:\s+Signaturprotokoll – Zielvereinbarung Ausbildungs- und Qualifizierungsbudget 2023 – Werra-Meißner-Kreis$/m);
  assert.match(pdfinfo, /^Producer:\s+Zielwerk$/m);
  for (let k = 1; k <= pages; k++) assert.ok(text.includes(`Seite ${k} von ${pages}`), `footer of page ${k}`);
  assert.ok(!text.includes(`Seite ${pages + 1} von`));

  for (const s of ['Signaturprotokoll', data.agreement.title, 'Werra-Meißner-Kreis', 'Landrätin', 'Erste Kreisbeigeordnete',
    'Ausbildungs- und Qualifizierungsbudget (AQB)', '1.341.400 Euro', '1.254.903 Bytes', '187.342 Bytes', 'Dokumente', 'Unterzeichnende', 'Ereignisse', 'Integrität',
    '23.05.2023, 11:20:01 MESZ', '01.12.2023, 11:00:00 MEZ', 'Eschwege, 30.05.2023', data.chain.text, data.envelopeId, 'Prüferin Überall']) {
    assert.ok(text.includes(s), `missing: ${s}`);
  }
  for (const s of data.signatories) assert.ok(text.includes(s.name), `missing signatory ${s.name}`);
  for (const e of data.events) assert.ok(text.includes(e.typeLabel), `missing event label ${e.typeLabel}`);

  const hashes = new Set<string>([data.chain.head, ...data.documents.map((d) => d.sha256), ...data.signatories.map((s) => s.certificate!.sha256)]);
  for (const e of data.events) for (const h of [e.prevHash, e.hash, e.docBefore, e.docAfter]) if (h) hashes.add(h);
  for (const h of hashes) assert.ok(text.includes(h), `missing full hash ${h}`);
  assert.ok(text.includes(`Letzter Hash:`) && text.includes(data.chain.head));
});

test('200 events paginate with every hash and every footer', async () => {
  const data = many(200);
  const started = Date.now();
  const bytes = await renderAuditReport(data);
  const elapsed = Date.now() - started;
  const { text, pages } = inspect(bytes);

  assert.ok(pages > 3, `only ${pages} pages`);
  assert.ok(elapsed < 5000, `rendering took ${elapsed} ms`);
  for (let k = 1; k <= pages; k++) assert.ok(text.includes(`Seite ${k} von ${pages}`), `footer of page ${k}`);
  for (const e of data.events) {
    assert.ok(text.includes(e.hash), `missing hash of event ${e.seq}`);
    assert.ok(text.includes(e.prevHash), `missing previous hash of event ${e.seq}`);
    assert.ok(new RegExp(`#${e.seq}\\s`).test(text), `missing event #${e.seq}`);
  }
  // An event is never split across pages: its header and its hash sit on the same page.
  const pageTexts = text.split('\f');
  for (const e of data.events) {
    const p = pageTexts.findIndex((t) => new RegExp(`#${e.seq}\\s`).test(t));
    assert.ok(p >= 0 && pageTexts[p].includes(`Hash:`) && pageTexts[p].includes(e.hash), `event #${e.seq} split across pages`);
  }
});

test('rendering is deterministic (byte-identical), whatever the clock says', async (t) => {
  const a = await renderAuditReport(completed());
  const c = await renderAuditReport(many(40));
  // The second renders run with the clock years ahead: anything that read the clock (new Date(),
  // Date.now()) instead of generatedAt would now differ every time, not just at a second boundary.
  t.mock.timers.enable({ apis: ['Date'], now: new Date('2031-07-01T12:34:56Z') });
  try {
    assert.equal(new Date().getUTCFullYear(), 2031, 'the clock is frozen in 2031');
    const b = await renderAuditReport(completed());
    const d = await renderAuditReport(many(40));
    assert.ok(Buffer.from(a).equals(Buffer.from(b)), 'two renders differ');
    assert.ok(Buffer.from(c).equals(Buffer.from(d)), 'two renders of a longer report differ');
  } finally {
    t.mock.timers.reset();
  }
});

test('characters the fonts lack (from certificates, typed reasons) print as their code point, never as "?"', async () => {
  const data = completed();
  data.events[3] = { ...data.events[3]!, details: 'Abgelehnt: ✓ geprüft, Zertifikat 李明 😀' };
  const { text } = inspect(await renderAuditReport(data));
  for (const s of ['[U+2713] geprüft', 'Zertifikat [U+674E][U+660E] [U+1F600]']) assert.ok(text.includes(s), `missing: ${s}`);
  assert.ok(!/[?\uFFFD]/.test(text.replace(/https?:\S+/g, '')), 'no "?" and no replacement character');
});
