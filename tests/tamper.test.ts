/**
 * Tamper tests: a correctly signed agreement is changed in the ways an attacker (or a careless
 * tool) would change it, and every change must be detected by `verifyAgreement` / `zv verify`
 * (verdict not "valid", non-zero exit) with the specific reason named.
 *
 * Inputs are generated and signed once in `before`; each case works on a copy of those bytes.
 */
import { before, after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { webcrypto, X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as pkijs from 'pkijs';
import { PDF, PdfArray, PdfDict, PdfName, PdfNumber, PdfRef, PdfStream } from '@libpdf/core';
import type { PdfObject } from '@libpdf/core';
import { composeFromData } from '../src/compose/index.ts';
import { parseCades } from '../src/sign/cms.ts';
import type { KeyStore } from '../src/sign/keys.ts';
import { RevocationFetcher } from '../src/sign/revocation.ts';
import { verifyAgreement } from '../src/sign/verify.ts';
import type { VerifyOptions, VerifyReport } from '../src/sign/verify.ts';
import { run, tempDir } from './helpers/tools.ts';
import { signFieldByHand } from './helpers/craft.ts';
import {
  AQB_EXAMPLE,
  SGB2_EXAMPLE,
  agreementPdf,
  flipByte,
  signInOrder,
  signWith,
  signaturesIn,
  streamDataOffset,
  swapCmsCertificate,
  testStore,
  toArrayBuffer,
  writeCms,
  zv,
} from './helpers/signing.ts';

// ------------------------------------------------------------------------------------------
// Fixtures: an AQB agreement signed by both parties (2 signatures), an SGB II agreement signed
// by all three signatories, a second key store with an unrelated CA of the same name.
// ------------------------------------------------------------------------------------------

let tmp: { dir: string; cleanup: () => void };
let dataDir: string;
let store: KeyStore;
let caDer: Uint8Array;
let otherStore: KeyStore;
let otherCaPem: string;
let aqbUnsigned: Uint8Array;
/** AQB after ministry:1 (Kai Klose). */
let aqbMinistry: Uint8Array;
/** AQB after ministry:1 and partner:1 — the base of most cases. */
let signed: Uint8Array;
/** SGB II after ministry:1, partner:1, partner:2. */
let sgbStates: Uint8Array[];
let partnerOrganisation: string;

before(async () => {
  tmp = tempDir('zv-tamper-');
  dataDir = join(tmp.dir, 'data');
  ({ store, caDer } = await testStore(dataDir));
  ({ store: otherStore, caPem: otherCaPem } = await testStore(join(tmp.dir, 'other')));
  const [aqb, sgb] = await Promise.all([agreementPdf(AQB_EXAMPLE), agreementPdf(SGB2_EXAMPLE)]);
  aqbUnsigned = aqb;
  [aqbMinistry, signed] = (await signInOrder(store, aqbUnsigned, ['ministry:1', 'partner:1'])) as [Uint8Array, Uint8Array];
  sgbStates = await signInOrder(store, sgb, ['ministry:1', 'partner:1', 'partner:2']);
  partnerOrganisation = composeFromData(JSON.parse(readFileSync(AQB_EXAMPLE, 'utf8')), { today: '2023-05-30' }).resolved.partner.name;
});

after(() => tmp?.cleanup());

// The demo certificates name a CRL and an OCSP responder: the key store answers them in-process.
const trust = (): VerifyOptions => ({ trust: [caDer], revocation: new RevocationFetcher({ local: store.localRevocation() }) });

function verify(bytes: Uint8Array, opts: Partial<VerifyOptions> = {}): Promise<VerifyReport> {
  return verifyAgreement(bytes, { ...trust(), ...opts });
}

/** Every problem of the report: the document's, and each signature's prefixed with its signatory. */
function problemsOf(r: VerifyReport): string[] {
  return [...r.problems, ...r.signatures.flatMap((s) => s.problems.map((p) => `${s.signatory}: ${p}`))];
}

function assertDetected(r: VerifyReport, reason: RegExp, label: string): void {
  const problems = problemsOf(r);
  assert.notEqual(r.verdict, 'valid', `${label}: the verdict must not be valid\n${problems.join('\n')}`);
  assert.ok(
    problems.some((p) => reason.test(p)),
    `${label}: expected a problem matching ${reason}, got:\n${problems.join('\n') || '(no problems)'}`,
  );
}

function writeTemp(name: string, bytes: Uint8Array): string {
  const path = join(tmp.dir, name);
  writeFileSync(path, bytes);
  return path;
}

/** `zv verify` on the bytes: exit 1 and the reason in the report. */
async function assertCliDetects(name: string, bytes: Uint8Array, reason: RegExp, args: string[] = []): Promise<void> {
  const file = writeTemp(name, bytes);
  const r = await zv(['verify', file, '--lang', 'en', '--data', dataDir, ...args]);
  assert.equal(r.code, 1, `zv verify ${name} must exit 1\n${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, reason, `zv verify ${name}: reason not printed`);
  assert.match(r.stdout, /Verdict: (INVALID|INDETERMINATE)/);
}

/** pdfsig (poppler), an independent validator: the validation line of each signature, in order. */
function pdfsigValidations(name: string, bytes: Uint8Array): string[] {
  const file = writeTemp(name, bytes);
  const out = run('pdfsig', [file], { allowExit: [0, 1, 2, 3, 4] });
  return [...out.matchAll(/Signature Validation: (.*)/g)].map((m) => m[1]!.trim());
}

/** Loads `bytes`, lets `change` modify the document, and appends the result as an incremental update. */
async function appendUpdate(bytes: Uint8Array, change: (pdf: PDF) => void | Promise<void>): Promise<Uint8Array> {
  const pdf = await PDF.load(bytes);
  await change(pdf);
  const out = await pdf.save({ incremental: true });
  assert.ok(out.length > bytes.length && Buffer.from(out.subarray(0, bytes.length)).equals(Buffer.from(bytes)), 'the tamper must be an incremental update');
  return out;
}

const deref = (pdf: PDF, o: PdfObject | undefined): PdfObject | undefined => (o instanceof PdfRef ? (pdf.getObject(o) ?? undefined) : o);

function signatureField(pdf: PDF, name: string): PdfDict {
  const acro = deref(pdf, pdf.getCatalog().get('AcroForm')) as PdfDict;
  const fields = (deref(pdf, acro.get('Fields')) as PdfArray).toArray().map((r) => deref(pdf, r) as PdfDict);
  const field = fields.find((f) => f.getString('T')?.asString() === name);
  assert.ok(field, `field ${name}`);
  return field;
}

function embeddedInput(pdf: PDF): PdfStream {
  const af = (deref(pdf, pdf.getCatalog().get('AF')) as PdfArray).toArray();
  const spec = deref(pdf, af[0]) as PdfDict;
  const stream = deref(pdf, (deref(pdf, spec.get('EF')) as PdfDict).get('F'));
  assert.ok(stream instanceof PdfStream, 'embedded file stream');
  return stream;
}

/** A Form XObject filling `rect` (page space) with a coloured box: a forged appearance. */
function boxAppearance(pdf: PDF, width: number, height: number): PdfRef {
  const stream = PdfStream.fromDict(
    { Type: PdfName.of('XObject'), Subtype: PdfName.of('Form'), BBox: new PdfArray([0, 0, width, height].map((n) => PdfNumber.of(n))) },
    new TextEncoder().encode(`0.1 0.2 0.6 rg 0 0 ${width} ${height} re f`),
  );
  return pdf.register(stream);
}


// ------------------------------------------------------------------------------------------

// The cases are independent (each works on its own copy); concurrency lets the CLI runs overlap.
describe('tamper tests, each detected by zv verify (non-zero exit, the reason named)', { concurrency: 2 }, () => {
  test('control: the untampered files verify valid — library, CLI and pdfsig', async () => {
    const r = await verify(signed);
    assert.equal(r.verdict, 'valid', problemsOf(r).join('\n'));
    assert.deepEqual(r.signatures.map((s) => [s.signatory, s.status]), [['ministry:1', 'valid'], ['partner:1', 'valid']]);
    assert.deepEqual(problemsOf(r), []);
    assert.equal(r.reproduction.status, 'match');
    assert.equal(signaturesIn(signed).length, 2);

    const sgb = await verify(sgbStates[2]!, { requireComplete: true });
    assert.equal(sgb.verdict, 'valid', problemsOf(sgb).join('\n'));
    assert.equal(sgb.signatures.length, 3);
    assert.deepEqual(sgb.pending, []);

    const cli = await zv(['verify', writeTemp('control.pdf', signed), '--lang', 'en', '--complete', '--data', dataDir]);
    assert.equal(cli.code, 0, cli.stdout + cli.stderr);
    assert.match(cli.stdout, /Verdict: VALID/);
    // pdfsig checks the CMS and the digest (the demo CA is not in its NSS store, which it reports separately).
    assert.deepEqual(pdfsigValidations('control-pdfsig.pdf', signed), ['Signature is Valid.', 'Signature is Valid.']);
  });

  test('1. a byte flipped in the page content of page 1 → digest mismatch (also pdfsig and CLI)', async () => {
    const pdf = await PDF.load(aqbUnsigned);
    const contents = pdf.getPage(0)!.dict.get('Contents');
    assert.ok(contents instanceof PdfRef, 'page 1 has one content stream');
    const { start, length } = streamDataOffset(signed, contents.objectNumber);
    const tampered = flipByte(signed, start + Math.floor(length / 2), 0x20);
    const r = await verify(tampered);
    assertDetected(r, /signed bytes were changed \(digest mismatch\)/, 'page content');
    for (const s of r.signatures) {
      assert.equal(s.checks.integrity, false, `${s.signatory}: every signature covers page 1`);
      assert.equal(s.status, 'invalid');
    }
    assert.ok(pdfsigValidations('t1-pdfsig.pdf', tampered).every((v) => v !== 'Signature is Valid.'), 'pdfsig must not call a signature valid');
    await assertCliDetects('t1.pdf', tampered, /signed bytes were changed \(digest mismatch\)/);
  });

  test('2. an unsigned incremental update that draws on page 1 → modified after signature, naming the page', async () => {
    const tampered = await appendUpdate(signed, (pdf) => {
      pdf.getPage(0)!.drawText('Zusatz', { x: 100, y: 100, size: 12 });
    });
    const r = await verify(tampered);
    assertDetected(r, /partner:1: modified after signature: object \d+ \(page\)/, 'drawn text');
    assert.equal(r.signatures[0]!.checks.unchangedSince, false);
    assert.equal(r.signatures[1]!.checks.unchangedSince, false);
  });

  test("3. a hex digit of the last signature's /Contents flipped → CMS signature invalid (also pdfsig and CLI)", async () => {
    const sigs = signaturesIn(signed);
    const last = sigs[1]!;
    // The RSA signature value ends the SignerInfo, i.e. the non-zero part of the hex string.
    const hexOffset = last.gapStart + 1 + last.cms.length * 2 - 10;
    const tampered = Uint8Array.from(signed);
    tampered[hexOffset] = tampered[hexOffset] === 0x30 ? 0x31 : 0x30;
    const r = await verify(tampered);
    assertDetected(r, /partner:1: (the CMS signature does not verify|signature value is not a valid CMS structure)/, 'CMS value');
    assert.equal(r.signatures[0]!.status, 'valid', 'the earlier signature is untouched');
    assert.equal(r.signatures[1]!.checks.signature, false);
    const pdfsig = pdfsigValidations('t3-pdfsig.pdf', tampered);
    assert.equal(pdfsig.length, 2);
    assert.notEqual(pdfsig[1], 'Signature is Valid.', `pdfsig on the tampered signature: ${pdfsig[1]}`);
    await assertCliDetects('t3.pdf', tampered, /the CMS signature does not verify/);
  });

  test('4. the file truncated in the middle of the last revision → not valid', async () => {
    const full = sgbStates[2]!;
    const sigs = signaturesIn(full);
    assert.equal(sigs.length, 3);
    const previousEnd = sigs[1]!.end;
    const cut = previousEnd + Math.floor((full.length - previousEnd) / 2);
    const r = await verify(full.subarray(0, cut));
    assertDetected(r, /the PDF structure is damaged \(cross-reference table had to be rebuilt\)/, 'truncated mid-revision');
    assert.ok(!r.signatures.some((s) => s.signatory === 'partner:2' && s.status === 'valid'), 'the cut signature is not valid');
  });

  test('5. truncated exactly at the end of the previous revision: a valid partial state, but --complete names the missing signatory', async () => {
    const full = sgbStates[2]!;
    const sigs = signaturesIn(full);
    const truncated = full.subarray(0, sigs[1]!.end);
    assert.ok(Buffer.from(truncated).equals(Buffer.from(sgbStates[1]!)), 'the cut gives exactly the state before the last signature');
    const partial = await verify(truncated);
    assert.equal(partial.verdict, 'valid', problemsOf(partial).join('\n'));
    assert.deepEqual(partial.pending.map((p) => p.name), ['Silke Engler']);
    const r = await verify(truncated, { requireComplete: true });
    assertDetected(r, /not signed yet by: Silke Engler \(partner:2\)/, 'missing signatory');
    await assertCliDetects('t5.pdf', truncated, /not signed yet by: Silke Engler \(partner:2\)/, ['--complete']);
  });

  test('6a. the signer certificate swapped for another certificate of the same person → signer certificate not found', async () => {
    const sig = signaturesIn(signed)[1]!; // Nicole Rathgeber's (the last: no later signature covers it)
    const originalDer = parseCades(sig.cms).signerCertificate;
    const original = new X509Certificate(originalDer);
    const person = { name: 'Nicole Rathgeber', role: 'Landrätin', organisation: partnerOrganisation };
    // A second, genuine certificate of the same CA for the same person (new key, new serial) …
    const ca = store.list()[0]!;
    const reissued = await store.issue(person, { notBefore: ca.notBefore, notAfter: new Date(Date.now() + 30 * 86_400_000) });
    const sameCa = (await store.identityFor(person)).certificate;
    assert.equal(new X509Certificate(sameCa).serialNumber, reissued.serial);
    // … and one from an unrelated CA that has the same name.
    const otherCa = (await otherStore.identityFor(person)).certificate;
    for (const [label, replacement] of [
      ['another certificate of the same CA', sameCa],
      ['a certificate of another CA of the same name', otherCa],
    ] as const) {
      const cert = new X509Certificate(replacement);
      assert.notEqual(cert.serialNumber, original.serialNumber);
      assert.equal(cert.subject, original.subject, 'same person');
      const cms = swapCmsCertificate(sig.cms, originalDer, replacement);
      const r = await verify(writeCms(signed, sig, cms));
      assertDetected(r, /partner:1: signature value is not a valid CMS structure: .*signer certificate .* is not included in the CMS/, label);
      assert.equal(r.signatures[1]!.status, 'invalid');
      assert.equal(r.signatures[0]!.status, 'valid', 'the earlier signature does not cover the later /Contents');
    }
  });

  test('6b. the signer certificate swapped for a forged one with the same issuer and serial → signing-certificate attribute and signature fail', async () => {
    const sig = signaturesIn(signed)[1]!;
    const originalDer = parseCades(sig.cms).signerCertificate;
    const forgedDer = await forgeCertificate(originalDer);
    const forged = new X509Certificate(forgedDer);
    assert.equal(forged.serialNumber, new X509Certificate(originalDer).serialNumber, 'same serial');
    assert.equal(forged.issuer, new X509Certificate(originalDer).issuer, 'same issuer');
    const r = await verify(writeCms(signed, sig, swapCmsCertificate(sig.cms, originalDer, forgedDer)));
    assertDetected(r, /partner:1: signing-certificate attribute missing or not matching the certificate \(certificate swapped\?\)/, 'forged certificate');
    const s = r.signatures[1]!;
    assert.equal(s.checks.integrity, true, 'the document bytes themselves are unchanged');
    assert.equal(s.checks.signingCertificateAttribute, false);
    assert.equal(s.checks.signature, false);
    assert.ok(s.problems.some((p) => /the CMS signature does not verify/.test(p)), s.problems.join('\n'));
    assert.equal(s.checks.chain, 'broken');
    assert.ok(s.problems.some((p) => /not signed by its issuer/.test(p)), s.problems.join('\n'));
    assert.equal(r.signatures[0]!.status, 'valid');
  });

  test('7. the embedded input JSON replaced by an incremental update (other amount) → disallowed change; reproduction mismatch reported (informational)', async () => {
    const tampered = await appendUpdate(signed, (pdf) => {
      const stream = embeddedInput(pdf);
      const json = new TextDecoder().decode(stream.getDecodedData());
      assert.match(json, /"amount": 444000/);
      stream.setData(new TextEncoder().encode(json.replace('"amount": 444000', '"amount": 944000')));
    });
    const r = await verify(tampered);
    assertDetected(r, /modified after signature: object \d+ \(embedded file\) content changed/, 'embedded JSON (change)');
    // The page content no longer matches the doctored data: reported, but the verdict rests on the signatures alone.
    assert.equal(r.reproduction.status, 'mismatch');
    assert.match(r.reproduction.detail, /page content differs from the embedded data on page \d/);
  });

  test('8. the embedded input JSON changed in place (a byte of its compressed data) → digest mismatch', async () => {
    const pdf = await PDF.load(aqbUnsigned);
    const num = findObjectNumber(pdf, embeddedInput(pdf));
    const { start, length } = streamDataOffset(signed, num);
    const tampered = flipByte(signed, start + Math.floor(length / 2), 0x04);
    const r = await verify(tampered);
    assertDetected(r, /signed bytes were changed \(digest mismatch\)/, 'embedded JSON in place');
    assert.ok(r.signatures.every((s) => !s.checks.integrity));
  });

  test('9. the XMP metadata replaced in an incremental update → modified after signature', async () => {
    const tampered = await appendUpdate(signed, (pdf) => {
      const xmp = deref(pdf, pdf.getCatalog().get('Metadata'));
      assert.ok(xmp instanceof PdfStream);
      const text = new TextDecoder().decode(xmp.getDecodedData());
      assert.match(text, /Zielvereinbarung 2023/);
      xmp.setData(new TextEncoder().encode(text.replaceAll('Zielvereinbarung 2023', 'Zielvereinbarung 2029')));
    });
    const r = await verify(tampered);
    assertDetected(r, /partner:1: modified after signature: object \d+ \(XMP metadata\) content changed/, 'XMP');
  });

  test('10. an unsigned update adding a Square annotation on the signature page → modified after signature', async () => {
    const tampered = await appendUpdate(signed, (pdf) => {
      const page = pdf.getPage(pdf.getPageCount() - 1)!;
      page.addSquareAnnotation({ rect: { x: 80, y: 400, width: 200, height: 60 }, contents: 'nachträglich' });
    });
    const r = await verify(tampered);
    assertDetected(r, /partner:1: modified after signature: object \d+ \(page\) changed: \/Annots/, 'annotation');
  });

  test("11. a later signature whose widget was enlarged to the whole page → outside its signature slot", async () => {
    // After the ministry signed, an update blows sig-partner-1 up to the page; then partner:1 signs normally.
    const forged = await appendUpdate(aqbMinistry, (pdf) => {
      const field = signatureField(pdf, 'sig-partner-1');
      field.set('Rect', new PdfArray([0, 0, 595, 842].map((n) => PdfNumber.of(n))));
      field.set('AP', PdfDict.of({ N: boxAppearance(pdf, 595, 842) }));
    });
    // Zielwerk's signer refuses the doctored document; a tool that does not check signs it.
    await assert.rejects(signWith(store, forged, 'partner:1'), /changed since Zielwerk generated it beyond signatures .*sig-partner-1\): changed: \/AP, \/Rect/);
    const landraetin = await store.identityFor({ name: 'Nicole Rathgeber', role: 'Landrätin', organisation: 'Werra-Meißner-Kreis' });
    const tampered = await signFieldByHand(forged, { field: 1, certificate: landraetin.certificate, privateKey: landraetin.privateKey, chain: landraetin.chain, bbox: [0, 0, 595, 842] });
    const r = await verify(tampered);
    assertDetected(r, /ministry:1: modified after signature: object \d+ \(signature field sig-partner-1\) signature appearance moved outside its signature slot/, 'enlarged widget');
    assert.equal(r.signatures[0]!.status, 'invalid');
  });

  test('12. verified against an unrelated CA (same name, other key) → indeterminate, "no trusted issuer" (also CLI)', async () => {
    const otherCa = new X509Certificate(otherCaPem);
    assert.equal(otherCa.subject, new X509Certificate(caDer).subject, 'the rogue CA even has the same name');
    const r = await verifyAgreement(signed, { trust: [new Uint8Array(otherCa.raw)] });
    assert.equal(r.verdict, 'indeterminate');
    assertDetected(r, /no trusted issuer for .*Zielwerk Demo-CA/, 'wrong trust anchor');
    assert.ok(r.signatures.every((s) => s.checks.chain === 'untrusted' && s.status === 'indeterminate'));
    await assertCliDetects('t12.pdf', signed, /no trusted issuer/, ['--trust', writeTemp('other-ca.pem', new TextEncoder().encode(otherCaPem))]);
  });

  test('13. garbage appended after %%EOF → reported', async () => {
    const tampered = Buffer.concat([Buffer.from(signed), Buffer.from('\nHier steht etwas, das niemand signiert hat.\n'.repeat(4), 'latin1')]);
    const r = await verify(new Uint8Array(tampered));
    assertDetected(r, /continues after the last signature/, 'appended bytes');
  });

  test('14. an unsigned update painting a fake appearance into the not yet signed partner field → detected', async () => {
    // After the ministry signed: the partner's empty signature slot gets a drawn "signature",
    // without any signature. The document must not verify as a valid partial state.
    const tampered = await appendUpdate(aqbMinistry, (pdf) => {
      const field = signatureField(pdf, 'sig-partner-1');
      const rect = (field.getArray('Rect')!.toArray() as PdfNumber[]).map((n) => n.value);
      field.set('AP', PdfDict.of({ N: boxAppearance(pdf, rect[2]! - rect[0]!, rect[3]! - rect[1]!) }));
    });
    const r = await verify(tampered);
    assertDetected(r, /modified after signature|continues after the last signature/, 'fake appearance in an unsigned field');
  });

  test('15. an unsigned update adding a page-covering signature widget outside the form → detected', async () => {
    // A widget with /FT /Sig in the page's /Annots only (not in the AcroForm): it paints over the page.
    const tampered = await appendUpdate(signed, (pdf) => {
      const page = pdf.getPage(0)!;
      const widget = PdfDict.of({
        Type: PdfName.of('Annot'),
        Subtype: PdfName.of('Widget'),
        FT: PdfName.of('Sig'),
        F: PdfNumber.of(4),
        Rect: new PdfArray([0, 0, 595, 842].map((n) => PdfNumber.of(n))),
        AP: PdfDict.of({ N: boxAppearance(pdf, 595, 842) }),
      });
      const ref = pdf.register(widget);
      const annots = page.dict.getArray('Annots');
      page.dict.set('Annots', new PdfArray([...(annots?.toArray() ?? []), ref]));
    });
    const r = await verify(tampered);
    assertDetected(r, /modified after signature|continues after the last signature/, 'page-covering widget');
  });
});

/** The object number of a (registered) object, found by identity among the document's objects. */
function findObjectNumber(pdf: PDF, target: PdfObject): number {
  const size = pdf.context.info.trailer.getNumber('Size')?.value ?? 0;
  for (let n = 1; n < size; n++) if (pdf.getObject(PdfRef.of(n, 0)) === target) return n;
  throw new Error('object not found');
}

/** The certificate with its public key replaced and re-signed by that new key: same issuer, subject and serial. */
async function forgeCertificate(der: Uint8Array): Promise<Uint8Array> {
  const crypto = webcrypto as unknown as Crypto;
  const keys = (await crypto.subtle.generateKey(
    { name: 'RSASSA-PKCS1-v1_5', modulusLength: 3072, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
    true,
    ['sign', 'verify'],
  )) as CryptoKeyPair;
  const cert = pkijs.Certificate.fromBER(toArrayBuffer(der));
  await cert.subjectPublicKeyInfo.importKey(keys.publicKey);
  await cert.sign(keys.privateKey, 'SHA-256');
  return new Uint8Array(cert.toSchema(true).toBER(false));
}
