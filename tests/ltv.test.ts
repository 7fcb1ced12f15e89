/**
 * Verifiable in thirty years: every signature B-T, a completed agreement B-LTA (DSS with VRI,
 * document time-stamp last), verification at the time of proof — travelling in time with
 * libfaketime (Debian's faketime) through the real CLI: 2030 (signatory certificates expired),
 * 2040 without and with `zv archive renew` in a simulated 2034, 2050 after a further renewal in
 * 2042 — and B-LTA made by another tool (@libpdf/core) over our agreement.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { PDF } from '@libpdf/core';
import { SigningService } from '../src/envelope/service.ts';
import { readDss, documentTimestamps, hasVri, derElementLength } from '../src/sign/ltv.ts';
import { verifyAgreement } from '../src/sign/verify.ts';
import { DemoTimestampAuthority } from '../src/sign/demo-tsa.ts';
import { KeyStore } from '../src/sign/keys.ts';
import { absolutePath, fileById, readStoredFile } from '../src/store/files.ts';
import { newestLink } from '../src/demo.ts';
import { openYear, openService } from './helpers/year.ts';
import { PASSPHRASE, ref, signaturesIn, zv } from './helpers/signing.ts';
import { signAgreement } from '../src/sign/sign.ts';
import { nssTrusting, pdfsigAsync } from './helpers/validators.ts';
import { run, tempDir } from './helpers/tools.ts';
import { toPem } from './helpers/pki.ts';

const tmp = tempDir('zv-ltv-');
const data = join(tmp.dir, 'data');
let finalPdf = '';
let bbCopy = '';
let draft: Uint8Array;

/** `zv verify --json` at a simulated time: the indications per signature and the document time-stamps. */
async function verifyAt(at: string | undefined, file: string, dir = data) {
  const r = await zv(['verify', file, '--data', dir, '--json'], {}, 120_000, undefined, at);
  assert.ok(r.stdout.trim().startsWith('{'), `zv verify at ${at}: ${r.stderr}`);
  const report = JSON.parse(r.stdout);
  return { code: r.code, report, indications: report.signatures.map((s: { indication: string; subIndication: string | null }) => `${s.indication}${s.subIndication ? `/${s.subIndication}` : ''}`) };
}

/** The demo CA's CRL and OCSP service where its certificates say it is (pdfsig asks it: NSS gives up on a certificate whose responder does not answer). */
let pki: Server;
let baseUrl = '';

before(async () => {
  pki = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const keys = KeyStore.open(data, PASSPHRASE, undefined, { baseUrl });
      if (req.url === '/pki/ocsp' && req.method === 'POST') {
        res.writeHead(200, { 'Content-Type': 'application/ocsp-response' }).end(Buffer.from(await keys.respondOcsp(new Uint8Array(Buffer.concat(chunks)))));
      } else if (req.url === '/pki/ca.crl') {
        res.writeHead(200, { 'Content-Type': 'application/pkix-crl' }).end(Buffer.from(await keys.localRevocation().crl()));
      } else res.writeHead(404).end();
    });
  });
  await new Promise<void>((resolve) => pki.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(pki.address() as AddressInfo).port}`;
  const [envelopeId] = await openYear(data, ['werra-meissner-kreis'], baseUrl);
  const svc = openService(data, baseUrl);
  try {
    const snap = svc.snapshot(envelopeId!);
    draft = readStoredFile(data, fileById(svc.store.db, snap.agreement.pdf_file_id)!);
    const minister = snap.signatories.find((s) => s.party === 'ministry')!;
    const [batch] = await svc.signAsMinistry([envelopeId!], { name: minister.name });
    assert.ok(!batch!.error, batch!.error);
    for (;;) {
      const cur = SigningService.current(svc.snapshot(envelopeId!));
      if (!cur) break;
      await svc.signWithLink(newestLink(svc, cur.email!));
    }
    const done = svc.snapshot(envelopeId!);
    assert.equal(done.envelope.status, 'completed');
    finalPdf = join(tmp.dir, 'final.pdf');
    cpSync(absolutePath(data, svc.store.db.prepare('SELECT path FROM files WHERE id = ?').pluck().get(done.envelope.current_file_id) as string), finalPdf);
  } finally {
    svc.close();
  }
  // The same agreement signed B-B (no time-stamp) by the same key store: only the signer's claim says when.
  const keys = KeyStore.open(data, PASSPHRASE, undefined, { baseUrl });
  let bytes = draft;
  for (const s of ['ministry:1', 'partner:1']) {
    bytes = (await signAgreement(bytes, { signatory: ref(s), signer: (p, at) => keys.signerFor(p, { at }) })).bytes;
  }
  bbCopy = join(tmp.dir, 'b-b.pdf');
  writeFileSync(bbCopy, bytes);
});

after(() => {
  pki.close();
  if (process.env.KEEP) console.log(tmp.dir);
  else tmp.cleanup();
});

test('a completed agreement is B-LTA: DSS with a VRI per signature, a document time-stamp last; pdfsig and openssl ts agree', async () => {
  const bytes = new Uint8Array(readFileSync(finalPdf));
  const pdf = await PDF.load(bytes);
  const dss = readDss(pdf);
  const sigs = signaturesIn(bytes);
  const signatures = sigs.filter((s) => !documentTimestamps(bytes, pdf).some((d) => d.end === s.byteRange[2] + s.byteRange[3]));
  assert.ok(signatures.length >= 2, 'ministry and partner signatures');
  for (const s of signatures) {
    const [, a, b] = s.byteRange;
    const contents = Buffer.from(Buffer.from(bytes.subarray(a + 1, b - 1)).toString('latin1'), 'hex');
    assert.ok(hasVri(dss.vri, contents), `VRI for the signature ending at ${s.byteRange[2] + s.byteRange[3]}`);
  }
  assert.ok(dss.certificates.length >= 2 && dss.ocsps.length + dss.crls.length >= signatures.length, `DSS holds certificates (${dss.certificates.length}) and revocation data (${dss.ocsps.length} OCSP, ${dss.crls.length} CRL)`);
  const stamps = documentTimestamps(bytes, pdf);
  assert.ok(stamps.length >= 1);
  assert.ok(stamps.every((d) => d.imprintMatches && d.problems.length === 0));
  // The document time-stamp is the last signature revision; after it only its own validation data (DSS) follows.
  const newest = stamps.at(-1)!;
  assert.equal(Math.max(...sigs.map((s) => s.byteRange[2] + s.byteRange[3])), newest.end);

  // pdfsig: every signature valid and trusted (it cannot check document time-stamps: "Unimplemented").
  const caPem = KeyStore.open(data, PASSPHRASE).caCertificatePem();
  const tsaRoot = new DemoTimestampAuthority(data, PASSPHRASE).rootCertificate()!;
  const nss = nssTrusting(tmp.dir, [{ nick: 'ca', pem: caPem }, { nick: 'tsa', pem: toPem(tsaRoot) }]);
  const seen = (await pdfsigAsync(finalPdf, nss)).filter((s) => s.type === 'ETSI.CAdES.detached');
  assert.equal(seen.length, signatures.length);
  for (const s of seen) assert.ok(s.valid && s.trusted, `pdfsig: ${s.field} valid and trusted`);

  // openssl ts -verify: the document time-stamp's token over exactly its byte range, chained to the demo TSA root.
  const d = sigs.find((s) => s.byteRange[2] + s.byteRange[3] === newest.end)!;
  const [, a, b, c] = d.byteRange;
  writeFileSync(join(tmp.dir, 'covered.bin'), Buffer.concat([bytes.subarray(0, a), bytes.subarray(b, b + c)]));
  writeFileSync(join(tmp.dir, 'token.der'), d.cms.subarray(0, derElementLength(d.cms)));
  writeFileSync(join(tmp.dir, 'tsa-root.pem'), toPem(tsaRoot));
  const out = run('openssl', ['ts', '-verify', '-data', join(tmp.dir, 'covered.bin'), '-in', join(tmp.dir, 'token.der'), '-token_in', '-CAfile', join(tmp.dir, 'tsa-root.pem')]);
  assert.match(out, /Verification: OK/);
  run('qpdf', ['--check', finalPdf]);
});

test('now: TOTAL_PASSED, PAdES B-LTA, the time of proof is the signature time-stamp', async () => {
  const { code, report, indications } = await verifyAt(undefined, finalPdf);
  assert.deepEqual(indications, indications.map(() => 'TOTAL_PASSED'), JSON.stringify(report.signatures.map((s: { problems: string[] }) => s.problems)));
  assert.equal(code, 0);
  for (const s of report.signatures) {
    assert.equal(s.pades, 'B-LTA');
    assert.equal(s.timeOfProof.source, 'timestamp');
  }
  assert.equal(report.documentTimestamps.at(-1).status, 'valid');
});

test('2030 — signatory certificates expired: B-LTA TOTAL_PASSED, the B-B copy INDETERMINATE/OUT_OF_BOUNDS_NO_POE', async () => {
  const [lta, bb] = await Promise.all([verifyAt('2030-06-01 12:00:00', finalPdf), verifyAt('2030-06-01 12:00:00', bbCopy)]);
  assert.deepEqual(lta.indications, lta.indications.map(() => 'TOTAL_PASSED'), JSON.stringify(lta.report.signatures.map((s: { problems: string[] }) => s.problems)));
  assert.equal(lta.code, 0);
  assert.ok(bb.indications.length >= 1);
  assert.deepEqual(bb.indications, bb.indications.map(() => 'INDETERMINATE/OUT_OF_BOUNDS_NO_POE'));
  assert.notEqual(bb.code, 0);
});

test('2040 without renewal: INDETERMINATE (the newest time-stamp\'s certificate has ended); renewed in 2034: TOTAL_PASSED; renewed again in 2042: TOTAL_PASSED in 2050', async () => {
  const plain = await verifyAt('2040-06-01 12:00:00', finalPdf);
  assert.ok(plain.indications.every((i: string) => i.startsWith('INDETERMINATE')), plain.indications.join());
  assert.match(JSON.stringify(plain.report.documentTimestamps), /not valid at 2040/);

  const renewed = join(tmp.dir, 'renewed-data');
  cpSync(data, renewed, { recursive: true });
  const r2034 = await zv(['archive', 'renew', '--data', renewed], {}, 120_000, undefined, '2034-12-15 12:00:00');
  assert.equal(r2034.code, 0, r2034.stdout + r2034.stderr);
  assert.match(r2034.stdout, /renewed|erneuert/i);
  const file = () => {
    const svc = openService(renewed);
    try {
      const id = svc.store.db.prepare("SELECT current_file_id FROM envelopes WHERE status = 'completed'").pluck().get() as number;
      return absolutePath(renewed, svc.store.db.prepare('SELECT path FROM files WHERE id = ?').pluck().get(id) as string);
    } finally {
      svc.close();
    }
  };
  const after2034 = file();
  const v2040 = await verifyAt('2040-06-01 12:00:00', after2034, renewed);
  assert.deepEqual(v2040.indications, v2040.indications.map(() => 'TOTAL_PASSED'), JSON.stringify(v2040.report.documentTimestamps));
  assert.equal(v2040.report.documentTimestamps.length, 2);

  const r2042 = await zv(['archive', 'renew', '--data', renewed], {}, 120_000, undefined, '2042-12-15 12:00:00');
  assert.equal(r2042.code, 0, r2042.stdout + r2042.stderr);
  const v2050 = await verifyAt('2050-06-01 12:00:00', file(), renewed);
  assert.deepEqual(v2050.indications, v2050.indications.map(() => 'TOTAL_PASSED'), JSON.stringify(v2050.report.documentTimestamps));
  assert.equal(v2050.report.documentTimestamps.length, 3);
  // The renewed file starts with every byte of the one before.
  const original = readFileSync(finalPdf);
  assert.ok(readFileSync(file()).subarray(0, original.length).equals(original));
});

test('B-LTA added by another tool (@libpdf/core addArchivalData) over our B-T agreement verifies TOTAL_PASSED', async () => {
  const keys = KeyStore.open(data, PASSPHRASE, undefined, { baseUrl });
  const tsa = new DemoTimestampAuthority(data, PASSPHRASE);
  let bytes = draft;
  for (const s of ['ministry:1', 'partner:1']) bytes = (await signAgreement(bytes, { signatory: ref(s), signer: (p, at) => keys.signerFor(p, { at }), tsa })).bytes;
  const pdf = await PDF.load(bytes);
  const svc = openService(data, baseUrl);
  try {
    const { bytes: lta } = await pdf.addArchivalData({ timestampAuthority: { timestamp: (d: Uint8Array) => tsa.timestamp(d, 'SHA-256') }, revocationProvider: svc.revocation });
    const report = await verifyAgreement(lta, { ...svc.verifyTrust(), skipReproduction: true });
    assert.deepEqual(report.signatures.map((s) => s.indication), report.signatures.map(() => 'TOTAL_PASSED'), JSON.stringify(report.signatures.map((s) => s.problems)));
    assert.equal(report.verdict, 'valid');
    assert.equal(report.documentTimestamps.length, 1);
    assert.ok(report.signatures.every((s) => s.pades === 'B-LTA'));
  } finally {
    svc.close();
  }
});
