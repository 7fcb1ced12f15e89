/**
 * `zv demo` end to end through the CLI: one run of the whole 2023 AQB year (26 agreements,
 * minister batch-signs, every county signs through its mailed link, export, archive check), then
 * its results are checked independently — the printed table against the batch input, every signed
 * PDF with poppler's pdfsig (against an NSS database that trusts the demo CA), with the library
 * and `zv verify`, two with qpdf, the export ZIP's manifest against its bytes — and a second run
 * into the same directory must refuse without touching anything.
 */
import { before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { PDF } from '@libpdf/core';
import { documentTimestamps, hasVri, readDss } from '../src/sign/ltv.ts';
import { toPem } from './helpers/pki.ts';
import { join, relative } from 'node:path';
import { unzipSync } from 'fflate';
import { listPartners } from '../src/registry/partners.ts';
import { verifyAgreement } from '../src/sign/verify.ts';
import { readAgreementPdf } from '../src/sign/agreement-pdf.ts';
import type { ExportManifest } from '../src/archive/archive.ts';
import { run, tempDir } from './helpers/tools.ts';
import { pemToDer, signaturesIn, zv, ZV, type CliResult } from './helpers/signing.ts';

const tmp = tempDir('zv-demo-');
const data = join(tmp.dir, 'data');
const nssDir = join(tmp.dir, 'nss');
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

interface BatchEntry {
  partner: string;
  amount: number;
  signatories: { partner: { name: string; role: string }[] };
}
const batch = JSON.parse(readFileSync(new URL('../examples/aqb-2023-hessen.json', import.meta.url), 'utf8')) as {
  signatories: { ministry: { name: string }[] };
  agreements: BatchEntry[];
};
const partnerName = new Map(listPartners().map((p) => [p.id, p.name]));
const euro = (n: number) => `${new Intl.NumberFormat('de-DE', { maximumFractionDigits: 0 }).format(n)} Euro`;
/** Signatures expected in each final PDF: the minister plus every partner signatory. */
const expectedSignatures = (e: BatchEntry) => batch.signatories.ministry.length + e.signatories.partner.length;

let demo: CliResult;
let caDer: Uint8Array;
const signedPdf = (e: BatchEntry) => join(data, 'signatures', '2023', `aqb-2023-${e.partner}`, 'v1', `aqb-2023-${e.partner}.pdf`);
const protocolPdf = (e: BatchEntry) => join(data, 'signatures', '2023', `aqb-2023-${e.partner}`, 'v1', `aqb-2023-${e.partner}-signaturprotokoll.pdf`);

/** `zv serve` on the data directory: the demo CA's OCSP responder and CRL, where its certificates say they are (pdfsig asks). */
let server: ChildProcess | null = null;
let baseUrl = '';

async function freePort(): Promise<number> {
  const srv = createNetServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as AddressInfo).port;
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

before(async () => {
  const port = await freePort();
  baseUrl = `http://127.0.0.1:${port}`;
  demo = await zv(['demo', '--data', data], { ZV_KEY_PASSPHRASE: 'test-passphrase-123', ZV_BASE_URL: baseUrl }, 400_000);
  assert.equal(demo.code, 0, `zv demo failed (exit ${demo.code}, signal ${demo.signal}):\n${demo.stdout}\n${demo.stderr}`);
  const caPem = join(data, 'keys', 'ca.cert.pem');
  caDer = pemToDer(readFileSync(caPem, 'utf8'));
  mkdirSync(nssDir);
  run('certutil', ['-N', '-d', `sql:${nssDir}`, '--empty-password']);
  run('certutil', ['-A', '-d', `sql:${nssDir}`, '-n', 'zielwerk-demo-ca', '-t', 'CT,C,C', '-i', caPem]);
  writeFileSync(join(tmp.dir, 'tsa-root.pem'), toPem(new Uint8Array(readFileSync(join(data, 'pki', 'tsa', 'root.cer')))));
  run('certutil', ['-A', '-d', `sql:${nssDir}`, '-n', 'zielwerk-demo-tsa', '-t', 'CT,C,C', '-i', join(tmp.dir, 'tsa-root.pem')]);
  server = spawn(process.execPath, [ZV, 'serve', '--data', data, '--port', String(port)], {
    env: { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_TEST_CONTEXT')), ZV_KEY_PASSPHRASE: 'test-passphrase-123', ZV_BASE_URL: baseUrl, ZV_ADMIN_PASSWORD: 'demo-admin-password-123' },
    stdio: 'ignore',
  });
  for (let i = 0; i < 100; i++) {
    const ok = await fetch(`${baseUrl}/pki/ca.crl`).then((r) => r.ok, () => false);
    if (ok) break;
    await new Promise((r) => setTimeout(r, 200));
  }
});
after(() => {
  server?.kill();
  tmp.cleanup();
});

/** The summary table: rows split at the column boundaries given by the dashes line. */
function summaryTable(stdout: string): Record<string, string>[] {
  const lines = stdout.split('\n');
  const head = lines.findIndex((l) => /^Partner\s+Betrag\s+Unterzeichnende\s+Status\s+Prüfung$/.test(l));
  assert.ok(head >= 0, `no summary table in:\n${stdout}`);
  const dashes = lines[head + 1]!;
  assert.match(dashes, /^-+( +-+)+$/);
  const starts = [...dashes.matchAll(/-+/g)].map((m) => m.index!);
  const names = ['partner', 'amount', 'signatories', 'status', 'verification'];
  const rows: Record<string, string>[] = [];
  for (const line of lines.slice(head + 2)) {
    if (line.trim() === '') break;
    rows.push(Object.fromEntries(names.map((n, i) => [n, line.slice(starts[i], starts[i + 1]).trim()])));
  }
  return rows;
}

test('zv demo: exit 0, the summary table lists all 26 partners with amount, signatories and "gültig"', () => {
  assert.equal(batch.agreements.length, 26);
  assert.doesNotMatch(demo.stderr, /error|warning/i, demo.stderr);
  for (const step of ['1/6', '2/6', '3/6', '4/6', '5/6', '6/6']) assert.ok(demo.stdout.includes(step), `step ${step} not logged`);

  const rows = summaryTable(demo.stdout);
  assert.equal(rows.length, 26, demo.stdout);
  assert.deepEqual(new Set(rows.map((r) => r.partner)), new Set(listPartners().map((p) => p.name)), 'every registry partner once');
  for (const e of batch.agreements) {
    const row = rows.find((r) => r.partner === partnerName.get(e.partner));
    assert.ok(row, `no row for ${e.partner}`);
    assert.equal(row.amount, euro(e.amount), `${e.partner} amount`);
    const people = [...batch.signatories.ministry.map((m) => m.name), ...e.signatories.partner.map((p) => p.name)];
    assert.deepEqual(row.signatories.split('; ').map((s) => s.replace(/ \(.*\)$/, '')), people, `${e.partner} signatories`);
    assert.equal(row.status, 'unterzeichnet', `${e.partner} status`);
    assert.equal(row.verification, `gültig (${expectedSignatures(e)} Sig.)`, `${e.partner} verification`);
  }
  // The two with real data, literally.
  const wmk = rows.find((r) => r.partner === 'Werra-Meißner-Kreis')!;
  assert.equal(wmk.amount, '444.000 Euro');
  assert.match(wmk.signatories, /Nicole Rathgeber \(Landrätin\)/);
  const lkKassel = rows.find((r) => r.partner === 'Landkreis Kassel')!;
  assert.equal(lkKassel.signatories, 'Kai Klose (Staatsminister); Andreas Siebert (Landrat); Silke Engler (Erste Kreisbeigeordnete)');
  assert.equal(lkKassel.verification, 'gültig (3 Sig.)');
  assert.ok(!rows.find((r) => r.partner === 'Stadt Kassel')!.signatories.includes('Engler'));

  const total = batch.agreements.reduce((s, e) => s + e.amount, 0);
  assert.equal(total, 27_700_000);
  assert.match(demo.stdout, new RegExp(`^26 Vereinbarungen, ${euro(total).replace(/\./g, '\\.')}; signierte PDFs unter `, 'm'));
  assert.match(demo.stdout, /^Export: .*aqb-2023\.zip \(78 Dateien, 26\/26 gültig\)$/m);
  assert.match(demo.stdout, /^Archivprüfung: \d+ Dateien, 26 signierte PDFs, 26 Prüfketten \(\d+ Ereignisse\): keine Abweichung$/m);
});

test('the 26 final signed PDFs and their Signaturprotokolle exist under signatures/2023/<file_base>/v1/', () => {
  const folders = readdirSync(join(data, 'signatures', '2023')).sort();
  assert.deepEqual(folders, batch.agreements.map((e) => `aqb-2023-${e.partner}`).sort());
  for (const e of batch.agreements) {
    for (const path of [signedPdf(e), protocolPdf(e)]) {
      assert.ok(existsSync(path), `${path} missing`);
      const head = readFileSync(path).subarray(0, 5).toString('latin1');
      assert.equal(head, '%PDF-', `${path} is not a PDF`);
    }
    // The final PDF is the last step: larger than every intermediate state.
    const dir = join(data, 'signatures', '2023', `aqb-2023-${e.partner}`, 'v1');
    const steps = readdirSync(dir).filter((n) => n.startsWith('envelope-')).flatMap((env) => readdirSync(join(dir, env)).map((n) => join(dir, env, n)));
    assert.equal(steps.length, expectedSignatures(e) - 1, `${e.partner}: intermediate states`);
    for (const s of steps) assert.ok(statSync(s).size < statSync(signedPdf(e)).size);
  }
});

test('pdfsig (NSS trusting the demo CA, asking its OCSP responder in zv serve): every signature of every signed PDF is valid and trusted', () => {
  for (const e of batch.agreements) {
    const out = run('pdfsig', ['-nssdir', `sql:${nssDir}`, signedPdf(e)], { allowExit: [1, 2, 3, 4] });
    const n = expectedSignatures(e);
    // The signatures, then the document time-stamp (B-LTA), which pdfsig 22.12 cannot check ("Unimplemented").
    const blocks = out.split(/^Signature #\d+:$/m).slice(1);
    assert.equal(blocks.length, n + 1, `${e.partner}: ${out}`);
    for (const b of blocks.slice(0, n)) {
      assert.match(b, /Signature Type: ETSI\.CAdES\.detached/, `${e.partner}: ${b}`);
      assert.match(b, /Signature Validation: Signature is Valid\./, `${e.partner}: ${b}`);
      assert.match(b, /Certificate Validation: Certificate is Trusted\./, `${e.partner}: ${b}`);
    }
    assert.match(blocks[n]!, /Signature Field Name: zv-timestamp-1/, e.partner);
    const signers = blocks.slice(0, n).map((b) => /Signer Certificate Common Name: (.*)/.exec(b)?.[1]);
    assert.deepEqual(signers, [...batch.signatories.ministry.map((m) => m.name), ...e.signatories.partner.map((p) => p.name)], e.partner);
  }
});

test('every final PDF is B-LTA: a DSS with a VRI per signature, a document time-stamp last, openssl ts -verify accepts it', async () => {
  for (const e of batch.agreements) {
    const bytes = new Uint8Array(readFileSync(signedPdf(e)));
    const pdf = await PDF.load(bytes);
    const dss = readDss(pdf);
    const sigs = signaturesIn(bytes);
    const stamps = documentTimestamps(bytes, pdf);
    assert.equal(stamps.length, 1, e.partner);
    const stamp = stamps[0]!;
    assert.equal(Math.max(...sigs.map((s) => s.byteRange[2] + s.byteRange[3])), stamp.end, `${e.partner}: the document time-stamp is the last signed revision`);
    for (const s of sigs.filter((x) => x.byteRange[2] + x.byteRange[3] !== stamp.end)) {
      const contents = Buffer.from(Buffer.from(bytes.subarray(s.byteRange[1] + 1, s.byteRange[2] - 1)).toString('latin1'), 'hex');
      assert.ok(hasVri(dss.vri, contents), `${e.partner}: VRI for the signature ending at ${s.byteRange[2] + s.byteRange[3]}`);
    }
    const d = sigs.find((s) => s.byteRange[2] + s.byteRange[3] === stamp.end)!;
    const [, a, b, c] = d.byteRange;
    writeFileSync(join(tmp.dir, 'covered.bin'), Buffer.concat([bytes.subarray(0, a), bytes.subarray(b, b + c)]));
    writeFileSync(join(tmp.dir, 'token.der'), stamp.token);
    const out = run('openssl', ['ts', '-verify', '-data', join(tmp.dir, 'covered.bin'), '-in', join(tmp.dir, 'token.der'), '-token_in', '-CAfile', join(tmp.dir, 'tsa-root.pem')]);
    assert.match(out, /Verification: OK/, e.partner);
  }
});

test('verifyAgreement (complete, demo CA) says valid for all 26; the embedded input matches the batch', async () => {
  for (const e of batch.agreements) {
    const bytes = new Uint8Array(readFileSync(signedPdf(e)));
    const report = await verifyAgreement(bytes, { trust: [caDer, new Uint8Array(readFileSync(join(data, 'pki', 'tsa', 'root.cer')))], requireComplete: true });
    assert.equal(report.verdict, 'valid', `${e.partner}: ${JSON.stringify([report.problems, report.signatures.map((s) => s.problems)])}`);
    assert.equal(report.signatures.length, expectedSignatures(e), e.partner);
    assert.equal(report.pending.length, 0, e.partner);
    const input = (await readAgreementPdf(bytes)).input;
    assert.ok(input, `${e.partner}: no embedded input`);
    const json = JSON.parse(Buffer.from(input.bytes).toString('utf8'));
    assert.equal(json.partner, e.partner);
    assert.equal(json.amount, e.amount);
  }
});

test('zv verify --complete exits 0 for two of them (Landkreis Kassel with 3 signatures, Werra-Meißner-Kreis)', async () => {
  const picks = batch.agreements.filter((e) => e.partner === 'landkreis-kassel' || e.partner === 'werra-meissner-kreis');
  assert.equal(picks.length, 2);
  const results = await Promise.all(picks.map((e) => zv(['verify', signedPdf(e), '--data', data, '--complete', '--json'])));
  results.forEach((r, i) => {
    assert.equal(r.code, 0, `${picks[i]!.partner}: ${r.stdout}\n${r.stderr}`);
    const report = JSON.parse(r.stdout);
    assert.equal(report.verdict, 'valid');
    assert.equal(report.signatures.length, expectedSignatures(picks[i]!));
  });
});

test('qpdf --check passes on two signed PDFs', () => {
  for (const id of ['landkreis-kassel', 'stadt-frankfurt-am-main']) {
    const out = run('qpdf', ['--check', signedPdf(batch.agreements.find((e) => e.partner === id)!)]);
    assert.match(out, /No syntax or stream encoding errors found/, out);
  }
});

test('export aqb-2023.zip: 26×3 files, manifest and trust anchor; every SHA-256 matches, every verdict valid', () => {
  const zip = unzipSync(new Uint8Array(readFileSync(join(data, 'export', 'aqb-2023.zip'))));
  const names = Object.keys(zip).sort();
  const trust = names.filter((n) => n.startsWith('trust/'));
  assert.ok(trust.length >= 1 && trust.every((n) => n.endsWith('.cer')), `trust entries: ${trust}`);
  const expected = batch.agreements.flatMap((e) => ['.pdf', '-signaturprotokoll.pdf', '.json'].map((s) => `2023/aqb/${e.partner}/aqb-2023-${e.partner}${s}`));
  assert.equal(expected.length, 78);
  assert.deepEqual(names, [...expected, 'manifest.json', ...trust].sort());

  const m = JSON.parse(Buffer.from(zip['manifest.json']!).toString('utf8')) as ExportManifest;
  assert.equal(m.format, 'zielwerk-archive-export');
  assert.equal(m.year, 2023);
  assert.equal(m.type, 'aqb');
  assert.deepEqual(m.totals, { agreements: 26, files: 78, valid: 26, paper: 0, concluded: 0 });
  assert.equal(m.agreements.length, 26);
  const listed = m.agreements.flatMap((a) => a.files.map((f) => f.name)).sort();
  assert.deepEqual(listed, [...expected].sort(), 'the manifest lists exactly the 78 files');
  for (const a of m.agreements) {
    const e = batch.agreements.find((x) => x.partner === a.partnerId)!;
    assert.equal(a.verification.verdict, 'valid', `${a.partnerId}: ${a.verification.problems}`);
    assert.equal(a.verification.signatures, expectedSignatures(e));
    assert.ok(a.auditChain!.ok, a.partnerId);
    assert.equal(a.amount, euro(e.amount));
    for (const f of a.files) {
      const bytes = zip[f.name]!;
      assert.equal(f.sha256, sha256(bytes), f.name);
      assert.equal(f.size, bytes.length, f.name);
    }
    // The exported signed PDF is the archived one.
    const pdf = a.files.find((f) => f.name.endsWith(`aqb-2023-${e.partner}.pdf`))!;
    assert.equal(pdf.sha256, sha256(readFileSync(signedPdf(e))), `${a.partnerId}: exported PDF differs from the archive`);
  }
  assert.equal(m.trust.length, trust.length);
  for (const t of m.trust) assert.equal(t.sha256, sha256(zip[t.name]!), t.name);
  assert.ok(trust.some((n) => Buffer.from(zip[n]!).equals(Buffer.from(caDer))), 'the demo CA is among the trust anchors');
});

/** Every file and folder under `dir` with size and SHA-256 (folders: "dir"). */
function listing(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, entry.name);
      if (entry.isDirectory()) {
        out.push(`${relative(dir, p)}/ dir`);
        walk(p);
      } else {
        const st = statSync(p);
        out.push(`${relative(dir, p)} ${st.size} ${st.mtimeMs} ${sha256(readFileSync(p))}`);
      }
    }
  };
  walk(dir);
  return out.sort();
}

test('zv demo again into the same (non-empty) directory: exit 1, a clear message, nothing changed', async () => {
  const before = listing(data);
  assert.ok(before.length > 250, `listing has ${before.length} entries`);
  const again = await zv(['demo', '--data', data], { ZV_KEY_PASSPHRASE: 'test-passphrase-123' });
  assert.equal(again.code, 1, again.stdout + again.stderr);
  assert.match(again.stderr, /is not empty: the demo runs a whole year from scratch; give it a new directory/);
  assert.ok(again.stderr.includes(data), 'names the directory');
  assert.doesNotMatch(again.stdout, /Vereinbarungen erzeugen/, 'no step started');
  assert.deepEqual(listing(data), before);
});
