/**
 * Signatures made by hand, outside Zielwerk's signer (which refuses what these tests need): an
 * incremental update that puts a signature dictionary into a field (with a chosen appearance and
 * /Rect), then a correct CMS over the byte range — so only verification can object.
 */
import { createHash, sign as nodeSign, type KeyObject } from 'node:crypto';
import { PdfArray, PdfDict, PdfName, PdfNumber, PdfStream, PdfString, type PDF } from '@libpdf/core';
import { readAgreementPdf } from '../../src/sign/agreement-pdf.ts';
import { assembleSignedData, signatureAlgorithmIdentifier, signedAttributesFor } from '../../src/sign/cms.ts';
import { defaultScheme } from '../../src/sign/signer.ts';

/** Writes a correct CMS over the byte range [0 a b rest] of `out`. */
export function seal(out: Buffer, a: number, b: number, certificate: Uint8Array, privateKey: KeyObject, chain: Uint8Array[] = []): Uint8Array {
  const digest = createHash('sha256').update(out.subarray(0, a)).update(out.subarray(b)).digest();
  const attrs = signedAttributesFor(certificate, digest);
  // RSA PKCS#1 v1.5 or ECDSA (DER), as the key is.
  const cms = assembleSignedData({ certificate, chain, signedAttributes: attrs, signatureAlgorithm: signatureAlgorithmIdentifier(defaultScheme(privateKey)), signature: nodeSign('sha256', attrs, privateKey) });
  out.write(Buffer.from(cms).toString('hex'), a + 1, 'latin1');
  return new Uint8Array(out);
}

export interface CraftOptions {
  /** The field's index in signing order (default 0). */
  field?: number;
  certificate: Uint8Array;
  privateKey: KeyObject;
  chain?: Uint8Array[];
  /** /Rect of the widget (default: unchanged). */
  rect?: (pdf: PDF) => PdfArray;
  /** Appearance stream content (default: a name in the slot). */
  appearance?: string;
  bbox?: [number, number, number, number];
  /** /M (default now). */
  m?: string;
  /** Edits the prepared bytes before the CMS is computed (offsets must stay the same). */
  beforeSeal?: (out: Buffer) => void;
}

/** `bytes` plus a hand-made signature in one field. */
export async function signFieldByHand(bytes: Uint8Array, o: CraftOptions): Promise<Uint8Array> {
  const doc = await readAgreementPdf(bytes);
  const field = doc.fields[o.field ?? 0]!;
  const pdf = doc.pdf;
  const bbox = o.bbox ?? [0, 0, 200, 40];
  const ap = new PdfStream([['Type', PdfName.of('XObject')], ['Subtype', PdfName.of('Form')], ['BBox', PdfArray.of(...bbox.map((n) => PdfNumber.of(n)))]] as never, new TextEncoder().encode(o.appearance ?? 'BT /Helv 10 Tf 2 20 Td (signiert) Tj ET'));
  const now = new Date();
  const sig = PdfDict.of({
    Type: PdfName.of('Sig'),
    Filter: PdfName.of('Adobe.PPKLite'),
    SubFilter: PdfName.of('ETSI.CAdES.detached'),
    ByteRange: PdfArray.of(...[0, 9999999999, 9999999999, 9999999999].map((n) => PdfNumber.of(n))),
    Contents: PdfString.fromHex('00'.repeat(6144)),
    M: PdfString.fromString(o.m ?? `D:${now.toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`),
  });
  field.dict.set('V', pdf.register(sig));
  if (o.rect) field.dict.set('Rect', o.rect(pdf));
  field.dict.set('AP', PdfDict.of({ N: pdf.register(ap) }));
  const out = Buffer.from(await pdf.save({ incremental: true }));
  const PH = '/ByteRange [0 9999999999 9999999999 9999999999]';
  const br = out.indexOf(PH, bytes.length, 'latin1');
  const a = out.indexOf('/Contents <0000', br, 'latin1') + '/Contents '.length;
  const b = out.indexOf('>', a, 'latin1') + 1;
  out.write(`/ByteRange [0 ${a} ${b} ${out.length - b}]`.padEnd(PH.length, ' '), br, 'latin1');
  o.beforeSeal?.(out);
  return seal(out, a, b, o.certificate, o.privateKey, o.chain);
}
