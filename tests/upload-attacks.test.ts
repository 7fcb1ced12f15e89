/**
 * Crafted uploads that try to get past the "sent document plus exactly one signature in your field"
 * check (found in review): a decoy /ByteRange comment that points the check at the wrong revision
 * while page 1 is replaced; widget rectangles that cover the whole page (reversed corners, indirect
 * numbers); a backdated /M that makes an expired certificate pass. Each is signed correctly with a
 * trusted test certificate, so only the structural checks can refuse it. In-process, on a
 * partner-first Kassel agreement (the first signature has no earlier one watching).
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { PDF, PdfArray, PdfNumber, PdfStream } from '@libpdf/core';
import { composeFromData } from '../src/compose/index.ts';
import { renderPdf } from '../src/render/pdf/index.ts';
import { readAgreementPdf } from '../src/sign/agreement-pdf.ts';
import { checkExternalSignature, UploadRefusedError } from '../src/sign/external.ts';
import { prepareSignature } from '../src/sign/sign.ts';
import { identitySigner } from '../src/sign/signer.ts';
import { issue, testCa, type TestCa } from './helpers/pki.ts';
import { SGB2_EXAMPLE } from './helpers/signing.ts';
import { seal as sealWith, signFieldByHand } from './helpers/craft.ts';

let sent: Uint8Array;
let ca: TestCa;
let key: KeyObject;
let cert: Uint8Array;
const signatory = { party: 'partner' as const, index: 1 };

before(async () => {
  const input = JSON.parse(readFileSync(SGB2_EXAMPLE, 'utf8'));
  input.signingOrder = 'partner-first';
  sent = await renderPdf(composeFromData(input, { today: '2023-01-24' }).tree);
  assert.equal((await readAgreementPdf(sent)).fields[0]!.entry.party, 'partner');
  ca = await testCa('Kartenaussteller (Test)');
  const pair = generateKeyPairSync('rsa', { modulusLength: 3072 });
  key = pair.privateKey;
  cert = (await issue(ca, { cn: 'Andreas Siebert', publicKey: pair.publicKey })).der;
});

const seal = (out: Buffer, a: number, b: number, certificate = cert, privateKey = key) => sealWith(out, a, b, certificate, privateKey);

const refusedAs = async (upload: Uint8Array, pattern: RegExp, opts: { sentAt?: Date } = {}) =>
  assert.rejects(checkExternalSignature(sent, upload, { signatory, trust: [ca.der], ...opts }), (e: Error) => {
    assert.ok(e instanceof UploadRefusedError, `${e.name}: ${e.message}`);
    assert.match(e.message, pattern);
    return true;
  });

test('control: a plain correct signature in the field is accepted', async () => {
  const prepared = await prepareSignature(sent, { signatory, signer: identitySigner({ certificate: cert, chain: [], privateKey: key, source: 'pkcs12' }) });
  const out = Buffer.from(prepared.bytes);
  const accepted = await checkExternalSignature(sent, seal(out, prepared.contentsStart, prepared.contentsEnd), { signatory, trust: [ca.der] });
  assert.match(accepted.subject, /CN=Andreas Siebert/);
});

test('a decoy /ByteRange comment and a replaced page 1 (the real byte range plain, or written [00 …]): refused', async () => {
  for (const hide of [false, true]) await decoyAttack(hide);
});

async function decoyAttack(hide: boolean): Promise<void> {
  const L = sent.length;
  let cur = Buffer.concat([Buffer.from(sent), Buffer.from(`\n%/ByteRange [0 ${L} ${L} 0]\n`, 'latin1')]);
  const pdf = await PDF.load(cur);
  pdf.getPages()[0]!.dict.set('Contents', pdf.register(new PdfStream([], new TextEncoder().encode('BT /F1 24 Tf 72 700 Td (GEAENDERT: 1.000.000 EUR) Tj ET'))));
  cur = Buffer.from(await pdf.save({ incremental: true }));
  // Zielwerk's own signer refuses the doctored draft outright; the attacker's tool does not check.
  await assert.rejects(prepareSignature(cur, { signatory, signer: identitySigner({ certificate: cert, chain: [], privateKey: key, source: 'pkcs12' }) }), /changed since Zielwerk generated it beyond signatures .*\(page\): changed: \/Contents/);
  const signed = await signFieldByHand(cur, {
    certificate: cert,
    privateKey: key,
    // same length: every offset stays
    beforeSeal: hide ? (out) => out.write('/ByteRange [00', out.indexOf('/ByteRange [0 ', cur.length, 'latin1'), 'latin1') : undefined,
  });
  await refusedAs(
    signed,
    hide ? /mehr verändert als Ihr Unterschriftsfeld|Seiteninhalt verändert|keinen gültigen Byte-Bereich/ : /Beim Signieren wurde mehr verändert als Ihr Unterschriftsfeld: Seite oder Anmerkungen geändert/,
  );
}

/** The field signed with a full-page appearance and a chosen /Rect (and /M). */
const fullPageWidget = (rect: (pdf: PDF) => PdfArray, m = 'D:20260101120000Z', certificate = cert, privateKey = key) =>
  signFieldByHand(sent, { certificate, privateKey, rect, m, bbox: [0, 0, 595, 842], appearance: '1 1 1 rg 0 0 595 842 re f 0 0 0 rg BT /Helv 30 Tf 60 600 Td (Neuer Vertragstext) Tj ET' });

test('a widget turned into a full-page overlay: reversed corners, or indirect numbers: refused', async () => {
  await refusedAs(await fullPageWidget(() => PdfArray.of(...[595, 842, 0, 0].map((n) => PdfNumber.of(n)))), /Unterschriftsfeld|signature slot/);
  await refusedAs(
    await fullPageWidget((pdf) => {
      const zero = pdf.register(PdfNumber.of(0));
      const far = pdf.register(PdfNumber.of(800));
      return PdfArray.of(zero, zero, far, far);
    }),
    /four plain numbers/,
  );
});

test('a backdated /M does not make an expired certificate acceptable, nor a signature older than the sent document', async () => {
  const pair = generateKeyPairSync('rsa', { modulusLength: 3072 });
  const expired = (await issue(ca, { cn: 'Andreas Siebert', publicKey: pair.publicKey, notBefore: new Date(Date.now() - 20 * 3600_000), notAfter: new Date(Date.now() - 12 * 3600_000) })).der;
  const m = new Date(Date.now() - 18 * 3600_000);
  const pdfDate = `D:${m.toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;
  // The claim lies inside the certificate's validity, and no time-stamp proves it.
  await refusedAs(await fullPageWidget(() => PdfArray.of(...[0, 0, 0, 0].map((n) => PdfNumber.of(n))), pdfDate, expired, pair.privateKey), /Das Zertifikat ist jetzt nicht gültig/);
  // With a valid certificate, a claimed time before the document was sent is refused.
  await refusedAs(await fullPageWidget(() => PdfArray.of(...[0, 0, 0, 0].map((n) => PdfNumber.of(n))), pdfDate), /liegt vor dem Versand dieses Dokuments/, { sentAt: new Date(Date.now() - 3600_000) });
});
