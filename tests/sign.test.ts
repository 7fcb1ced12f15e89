/**
 * Signing end to end through the CLI, as the issue describes it: keys init → ministry signs →
 * partner countersigns (with an image) → verify. Checked independently with poppler's pdfsig
 * (against an NSS database that trusts the demo CA), qpdf and pdftoppm (stamps on the page for
 * 1, 2 and 3 signatories); plus B-T signatures from a TSA on 127.0.0.1 and a PKCS#12 identity.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { composeFromData } from '../src/compose/index.ts';
import { renderPdf, parseSigningMetadata } from '../src/render/pdf/index.ts';
import { readAgreementPdf } from '../src/sign/agreement-pdf.ts';
import { createTsaIdentity, LocalTimestampAuthority } from '../src/sign/tsa.ts';
import { darkPixels, run, tempDir } from './helpers/tools.ts';
import { startPkiResponder, type PkiResponder } from './helpers/pki-responder.ts';

const ZV = new URL('../bin/zv.js', import.meta.url).pathname;
const tmp = tempDir('zv-sign-');
const data = join(tmp.dir, 'data');
const env = { ...process.env, ZV_DATA_DIR: data, ZV_KEY_PASSPHRASE: 'sign-test-passphrase', ZV_TSA_URL: '' };

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI asynchronously (a TSA served by this process must keep answering meanwhile). */
function zv(args: string[], extraEnv: Record<string, string> = {}): Promise<Result> {
  return new Promise((resolve) => {
    execFile(process.execPath, [ZV, ...args], { env: { ...env, ...extraEnv }, encoding: 'utf8', maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

async function generate(example: string, name: string): Promise<string> {
  const composed = composeFromData(JSON.parse(readFileSync(`examples/${example}`, 'utf8')), { today: '2023-05-01' });
  const path = join(tmp.dir, name);
  writeFileSync(path, await renderPdf(composed.tree));
  return path;
}

/** A small PNG signature: a dark stroke on transparent background. */
function signaturePng(): Buffer {
  const w = 240;
  const h = 60;
  const rows: Buffer[] = [];
  for (let y = 0; y < h; y++) {
    const row = Buffer.alloc(1 + w * 4);
    for (let x = 0; x < w; x++) {
      const on = Math.abs(y - (30 + 18 * Math.sin(x / 14))) < 3;
      row.set(on ? [10, 20, 90, 255] : [255, 255, 255, 0], 1 + x * 4);
    }
    rows.push(row);
  }
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (b: Buffer) => {
    let c = 0xffffffff;
    for (const v of b) c = crcTable[(c ^ v) & 0xff]! ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type: string, body: Buffer) => {
    const t = Buffer.concat([Buffer.from(type, 'latin1'), body]);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(body.length);
    const c = Buffer.alloc(4);
    c.writeUInt32BE(crc(t));
    return Buffer.concat([len, t, c]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 6, 0, 0, 0], 8);
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(Buffer.concat(rows))), chunk('IEND', Buffer.alloc(0))]);
}

let nssDir = '';
function pdfsig(path: string): string {
  return run('pdfsig', ['-nssdir', `sql:${nssDir}`, path], { allowExit: [1, 2, 3, 4] });
}

function assertPdfsigAllValid(path: string, count: number) {
  const out = pdfsig(path);
  assert.equal(out.match(/Signature is Valid\./g)?.length, count, out);
  assert.equal(out.match(/Certificate is Trusted\./g)?.length, count, out);
  const blocks = out.split(/Signature #\d+:/).slice(1);
  assert.equal(blocks.length, count);
  assert.match(blocks.at(-1)!, /Total document signed/);
  for (const b of blocks.slice(0, -1)) assert.match(b, /Not total document signed/);
}

let aqb = '';
let sgb2 = '';
let pki: PkiResponder;
before(async () => {
  // pdfsig (NSS) asks the OCSP responder the demo certificates name: it answers from the data directory.
  pki = await startPkiResponder();
  (env as NodeJS.ProcessEnv).ZV_BASE_URL = pki.baseUrlFor(data);
  mkdirSync(join('tests', 'artifacts'), { recursive: true });
  aqb = await generate('aqb-2023-werra-meissner-kreis.json', 'aqb.pdf');
  sgb2 = await generate('sgb2-2023-landkreis-kassel.json', 'sgb2.pdf');
  writeFileSync(join(tmp.dir, 'unterschrift.png'), signaturePng());
  const init = await zv(['keys', 'init']);
  assert.equal(init.code, 0, init.stderr);
  assert.match(init.stdout, /Zielwerk Demo-CA \(kein qualifizierter Vertrauensdienst\)/);
  nssDir = join(tmp.dir, 'nss');
  mkdirSync(nssDir);
  run('certutil', ['-N', '-d', `sql:${nssDir}`, '--empty-password']);
  run('certutil', ['-A', '-d', `sql:${nssDir}`, '-n', 'zielwerk-demo-ca', '-t', 'CT,C,C', '-i', join(data, 'keys', 'ca.cert.pem')]);
});
after(async () => {
  await pki?.close();
  tmp.cleanup();
});

test('the issue flow: minister signs, Landrätin countersigns with an image, verify says valid (de, en, JSON)', async () => {
  const s1 = join(tmp.dir, 'signed1.pdf');
  const s2 = join(tmp.dir, 'signed2.pdf');
  const r1 = await zv(['sign', aqb, '--signatory', 'ministry:1', '--place', 'Wiesbaden', '--date', '2023-05-30', '--backdate-reason', 'Datum der Vereinbarung (Test)', '--out', s1]);
  assert.equal(r1.code, 0, r1.stderr);
  assert.match(r1.stdout, /signed sig-ministry-1: Kai Klose, Staatsminister — Wiesbaden, 2023-05-30/);
  assert.match(r1.stdout, /next: Nicole Rathgeber \(partner:1\)/);
  const r2 = await zv(['sign', s1, '--signatory', 'partner:1', '--date', '2023-06-28', '--backdate-reason', 'Datum der Vereinbarung (Test)', '--image', join(tmp.dir, 'unterschrift.png'), '--out', s2]);
  assert.equal(r2.code, 0, r2.stderr);
  assert.match(r2.stdout, /Eschwege, 2023-06-28/, 'place defaults to the partner seat');

  // Incremental: every earlier revision is a byte-for-byte prefix.
  const unsigned = readFileSync(aqb);
  const one = readFileSync(s1);
  const two = readFileSync(s2);
  assert.ok(one.subarray(0, unsigned.length).equals(unsigned));
  assert.ok(two.subarray(0, one.length).equals(one));

  const v = await zv(['verify', s2]);
  assert.equal(v.code, 0, v.stdout + v.stderr);
  assert.match(v.stdout, /Ergebnis: GÜLTIG/);
  assert.match(v.stdout, /Inhalt entspricht den eingebetteten Daten \(informativ; kein Bestandteil der Gültigkeit\): ja/);
  // Key-store signatures are honest about what they are: simple, so the written form is not met.
  assert.match(v.stdout, /Signaturniveau: einfache elektronische Signatur — Der Schlüssel liegt auf dem Zielwerk-Server/);
  assert.match(v.stdout, /Laut Zertifikat: Nicole Rathgeber \(Werra-Meißner-Kreis\) — vorgesehene\/r Unterzeichnende\/r/);
  assert.match(v.stdout, /Schriftform: Schriftform nicht gewahrt — qualifizierte Signatur oder Papierausfertigung erforderlich: Kai Klose \(Staatsminister\) hat mit einer einfachen elektronischen Signatur/);
  const wf = await zv(['verify', s2, '--require-written-form']);
  assert.equal(wf.code, 1, 'the written form is required only when asked, and then refused for simple signatures');
  const en = await zv(['verify', s2, '--lang', 'en']);
  assert.match(en.stdout, /Verdict: VALID/);
  const js = await zv(['verify', s2, '--json']);
  const report = JSON.parse(js.stdout);
  assert.equal(report.verdict, 'valid');
  assert.equal(report.writtenForm, false);
  assert.deepEqual(
    report.signatures.map((s: { field: string; signatory: string; indication: string; subIndication: string | null; level: string }) => [s.field, s.signatory, s.indication, s.subIndication, s.level]),
    [
      ['sig-ministry-1', 'ministry:1', 'TOTAL_PASSED', null, 'simple'],
      ['sig-partner-1', 'partner:1', 'TOTAL_PASSED', null, 'simple'],
    ],
  );
  assert.deepEqual(
    report.signatures.map((s: { name: string; role: string; place: string; date: string; status: string }) => [s.name, s.role, s.place, s.date, s.status]),
    [
      ['Kai Klose', 'Staatsminister', 'Wiesbaden', '2023-05-30', 'valid'],
      ['Nicole Rathgeber', 'Landrätin', 'Eschwege', '2023-06-28', 'valid'],
    ],
  );
  for (const s of report.signatures) assert.match(s.signingTime, /^\d{4}-\d\d-\d\dT/);
  assert.equal(report.signatures[0].checks.coversWholeDocument, false);
  assert.equal(report.signatures[1].checks.coversWholeDocument, true);
  assert.match(report.signatures[1].certificate.subject, /CN=Nicole Rathgeber/);
  assert.match(report.signatures[1].certificate.subject, /O=Werra-Meißner-Kreis/);

  assertPdfsigAllValid(s2, 2);
  run('qpdf', ['--check', s2]);
  // Signature dictionary fields, as pdfsig and viewers show them.
  const raw = two.toString('latin1');
  assert.match(raw, /\/SubFilter \/ETSI\.CAdES\.detached/);
  assert.match(raw, /\/Location \(Eschwege\)/);
});

/** Dark pixels inside a PDF-space rect of page `page` (1-based), rendered at 72 dpi. */
function inkIn(pdf: string, page: number, rect: number[], pageHeight = 841.89): number {
  const [x1, y1, x2, y2] = rect.map((n) => Math.round(n));
  const out = join(tmp.dir, `crop-${Math.random().toString(36).slice(2)}`);
  run('pdftoppm', ['-r', '72', '-gray', '-f', String(page), '-l', String(page), '-x', String(x1! + 1), '-y', String(Math.round(pageHeight) - y2! + 1), '-W', String(x2! - x1! - 2), '-H', String(y2! - y1! - 2), '-singlefile', pdf, out]);
  return darkPixels(readFileSync(`${out}.pgm`));
}

test('stamps land in the right slots for 1, 2 and 3 signatories; pdfsig validates 3 signatures', async () => {
  const doc = await readAgreementPdf(new Uint8Array(readFileSync(sgb2)));
  const rects = doc.fields.map((f) => (f.dict.getArray('Rect')!.toArray() as unknown as { value: number }[]).map((n) => n.value));
  const meta = doc.metadata;
  const page = meta.dateSlots[0]!.page;
  const regions = [meta.dateSlots[0]!.rect, rects[0]!, meta.dateSlots[1]!.rect, rects[1]!, rects[2]!];
  const blank = regions.map((r) => inkIn(sgb2, page, r));
  // Unsigned: date slots and signature slots are empty.
  assert.deepEqual(blank, [0, 0, 0, 0, 0]);

  const steps: [string, string][] = [
    ['ministry:1', '2023-01-24'],
    ['partner:1', '2023-01-30'],
    ['partner:2', '2023-01-31'],
  ];
  let input = sgb2;
  // After n signatures exactly the regions of the first n signatories carry ink.
  const inkedAfter = [
    [true, true, false, false, false],
    [true, true, true, true, false],
    [true, true, true, true, true],
  ];
  for (const [i, [who, date]] of steps.entries()) {
    const out = join(tmp.dir, `sgb2-${i + 1}.pdf`);
    const r = await zv(['sign', input, '--signatory', who, '--date', date, '--backdate-reason', 'Datum der Vereinbarung (Test)', '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    const ink = regions.map((reg) => inkIn(out, page, reg));
    assert.deepEqual(
      ink.map((n) => n > 20),
      inkedAfter[i],
      `ink per region after ${i + 1} signature(s): ${ink.join(', ')}`,
    );
    run('pdftoppm', ['-r', '60', '-png', '-f', String(page), '-l', String(page), '-singlefile', out, join('tests', 'artifacts', `signed-sgb2-${i + 1}`)]);
    input = out;
  }
  assertPdfsigAllValid(input, 3);
  const v = await zv(['verify', input, '--json', '--complete']);
  assert.equal(v.code, 0, v.stdout);
  const report = JSON.parse(v.stdout);
  assert.deepEqual(
    report.signatures.map((s: { date: string; place: string }) => `${s.place} ${s.date}`),
    ['Wiesbaden 2023-01-24', 'Kassel 2023-01-30', 'Kassel 2023-01-31'],
  );
  // Numeric date style of the SGB II agreement, stamped after "Kassel, den".
  const text = run('pdftotext', ['-f', String(page), '-l', String(page), input, '-']);
  assert.match(text, /Kassel, den/);
  const meta2 = parseSigningMetadata(readFileSync(input).toString('utf8'));
  assert.equal(meta2.dateStyle, 'numeric');
});

test('B-T: a signature time-stamped by an RFC 3161 TSA over HTTP on 127.0.0.1 verifies with the TSA trusted', async () => {
  const caKey = join(tmp.dir, 'tsaca.key');
  const caPem = join(tmp.dir, 'tsaca.pem');
  run('openssl', ['req', '-x509', '-newkey', 'rsa:3072', '-nodes', '-keyout', caKey, '-out', caPem, '-days', '3650', '-subj', '/CN=Test TSA CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  const ca = { certificate: new Uint8Array(new X509Certificate(readFileSync(caPem)).raw), privateKey: createPrivateKey(readFileSync(caKey)) };
  const tsa = new LocalTimestampAuthority(await createTsaIdentity(ca, { commonName: 'Test TSA' }));
  let requests = 0;
  const server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', async () => {
      requests++;
      const reply = await tsa.respond(new Uint8Array(Buffer.concat(parts)));
      res.writeHead(200, { 'content-type': 'application/timestamp-reply' }).end(Buffer.from(reply));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/tsa`;
    const out = join(tmp.dir, 'bt.pdf');
    const r = await zv(['sign', aqb, '--signatory', 'ministry:1', '--date', '2023-05-30', '--backdate-reason', 'Datum der Vereinbarung (Test)', '--out', out], { ZV_TSA_URL: url });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(requests, 1);
    // Trusting only the demo CA: the time-stamp's origin is unknown → it proves no time; the signature is judged now.
    const untrusted = await zv(['verify', out, '--json']);
    assert.match(untrusted.stdout, /time-stamp authority is not trusted/);
    const judgedNow = JSON.parse(untrusted.stdout).signatures[0];
    assert.equal(judgedNow.timeOfProof.source, 'verification');
    assert.equal(judgedNow.pades, 'B-B');
    const v = await zv(['verify', out, '--json', '--trust', join(data, 'keys', 'ca.cert.pem'), '--trust', caPem]);
    assert.equal(v.code, 0, v.stdout);
    const sig = JSON.parse(v.stdout).signatures[0];
    assert.equal(sig.checks.timestamp, true);
    assert.ok(Math.abs(Date.parse(sig.timestamp) - Date.parse(sig.signingTime)) < 60_000);
    assert.match(pdfsig(out), /Signature is Valid\./);
  } finally {
    server.close();
  }
});

test('a PKCS#12 certificate imported for the minister is used instead of the demo CA', async () => {
  const dir = join(tmp.dir, 'p12');
  mkdirSync(dir);
  const p = (f: string) => join(dir, f);
  run('openssl', ['req', '-x509', '-newkey', 'rsa:3072', '-nodes', '-keyout', p('ca.key'), '-out', p('ca.pem'), '-days', '3650', '-subj', '/CN=Test Landes-CA/O=Land Hessen',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  run('openssl', ['req', '-newkey', 'rsa:3072', '-nodes', '-keyout', p('kk.key'), '-out', p('kk.csr'), '-subj', '/CN=Kai Klose/O=Hessisches Ministerium für Soziales und Integration/title=Staatsminister']);
  writeFileSync(p('ext.cnf'), 'keyUsage=critical,digitalSignature,nonRepudiation\n');
  run('openssl', ['x509', '-req', '-in', p('kk.csr'), '-CA', p('ca.pem'), '-CAkey', p('ca.key'), '-CAcreateserial', '-days', '365', '-extfile', p('ext.cnf'), '-out', p('kk.pem')]);
  run('openssl', ['pkcs12', '-export', '-legacy', '-inkey', p('kk.key'), '-in', p('kk.pem'), '-certfile', p('ca.pem'), '-passout', 'pass:geheim-1234', '-out', p('kk.p12')]);
  const own = { ...env, ZV_DATA_DIR: join(dir, 'data') };
  const imp = await zv(['keys', 'import', p('kk.p12'), '--for', 'Kai Klose'], { ...own, ZV_P12_PASSWORD: 'geheim-1234' });
  assert.equal(imp.code, 0, imp.stderr);
  const out = p('signed.pdf');
  const s = await zv(['sign', aqb, '--signatory', 'ministry:1', '--date', '2023-05-30', '--backdate-reason', 'Datum der Vereinbarung (Test)', '--out', out], own);
  assert.equal(s.code, 0, s.stderr);
  const v = await zv(['verify', out, '--json', '--trust', p('ca.pem')], own);
  assert.equal(v.code, 0, v.stdout);
  const sig = JSON.parse(v.stdout).signatures[0];
  assert.match(sig.certificate.issuer, /CN=Test Landes-CA/);
  // With only the demo CA as trust anchor the chain is not trusted.
  const demo = await zv(['verify', out], own);
  assert.equal(demo.code, 1);
  assert.match(demo.stdout, /UNBESTIMMT|kein vertrauenswürdiger Aussteller/);
});

test('signingOrder "partner-first" is stored by the generator and enforced by the signer', async () => {
  const { signAgreement, SignError } = await import('../src/sign/sign.ts');
  const { KeyStore } = await import('../src/sign/keys.ts');
  const input = { ...JSON.parse(readFileSync('examples/aqb-2023-werra-meissner-kreis.json', 'utf8')), signingOrder: 'partner-first' };
  const pdf = await renderPdf(composeFromData(input).tree);
  const meta = parseSigningMetadata(Buffer.from(pdf).toString('utf8'));
  assert.deepEqual(meta.signatories.map((s) => [s.fieldName, s.order]), [['sig-partner-1', 1], ['sig-ministry-1', 2]]);
  const store = KeyStore.open(data, env.ZV_KEY_PASSPHRASE);
  const signer = (p: Parameters<typeof store.signerFor>[0], at: Date) => store.signerFor(p, { at });
  await assert.rejects(signAgreement(pdf, { signatory: { party: 'ministry', index: 1 }, signer, date: '2023-05-30', backdateReason: 'Datum der Vereinbarung (Test)' }), (e: Error) => {
    assert.ok(e instanceof SignError);
    assert.match(e.message, /not Kai Klose's turn yet: Nicole Rathgeber \(Landrätin, partner:1\) signs first/);
    return true;
  });
  const first = await signAgreement(pdf, { signatory: { party: 'partner', index: 1 }, signer, date: '2023-05-30', backdateReason: 'Datum der Vereinbarung (Test)' });
  const second = await signAgreement(first.bytes, { signatory: { party: 'ministry', index: 1 }, signer, date: '2023-06-01', backdateReason: 'Datum der Vereinbarung (Test)' });
  assert.deepEqual(second.remaining, []);
});
