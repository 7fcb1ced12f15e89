/**
 * What a signature proves: the level (simple / advanced / qualified) from evidence only, the
 * written form per agreement, the binding of a signature to its field's planned signatory, and the
 * certificate's purpose and path constraints — with certificates from test CAs made here (never
 * the demo CA), with and without qcStatements.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { signAgreement, SignError } from '../src/sign/sign.ts';
import { identitySigner } from '../src/sign/signer.ts';
import { verifyAgreement, type VerifyReport } from '../src/sign/verify.ts';
import { KeyStore } from '../src/sign/keys.ts';
import { RevocationFetcher } from '../src/sign/revocation.ts';
import type { SigningIdentity } from '../src/sign/identity.ts';
import { issue, QC, testCa, type IssueOptions, type TestCa } from './helpers/pki.ts';
import { agreementPdf, AQB_EXAMPLE, PASSPHRASE, ref, SGB2_EXAMPLE } from './helpers/signing.ts';
import { signFieldByHand } from './helpers/craft.ts';

let qualifiedCa: TestCa; // a qualified trust service (trusted --qualified)
let plainCa: TestCa; // trusted, not qualified
let keys: KeyStore;
let aqb: Uint8Array;
let sgb2: Uint8Array;
const QUALIFIED = { compliance: true, sscd: true, types: [QC.esign] };

before(async () => {
  qualifiedCa = await testCa('Qualifizierter VDA (Test)');
  plainCa = await testCa('Behörden-CA (Test)');
  keys = KeyStore.open(mkdtempSync(join(tmpdir(), 'zv-levels-')), PASSPHRASE);
  await keys.init();
  aqb = await agreementPdf(AQB_EXAMPLE);
  sgb2 = await agreementPdf(SGB2_EXAMPLE, '2023-01-24');
});

const verify = (bytes: Uint8Array) =>
  verifyAgreement(bytes, { trust: [plainCa.der, keys.caCertificateDer()], qualifiedTrust: [qualifiedCa.der], serverHeld: keys.list().map((c) => c.sha256), skipReproduction: true, revocation: new RevocationFetcher({ local: keys.localRevocation() }) });

async function identity(ca: TestCa, o: Omit<IssueOptions, 'publicKey'>): Promise<SigningIdentity & { key: KeyObject }> {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 3072 });
  const cert = await issue(ca, { ...o, publicKey });
  return { certificate: cert.der, chain: [ca.der], privateKey, source: 'pkcs12', key: privateKey };
}

/** Signs in order, each signatory with its identity (or the key store for 'keystore'). */
async function signAll(input: Uint8Array, who: [string, SigningIdentity | 'keystore'][]): Promise<Uint8Array> {
  let bytes = input;
  for (const [signatory, id] of who) {
    bytes = (await signAgreement(bytes, { signatory: ref(signatory), signer: id === 'keystore' ? (p, at) => keys.signerFor(p, { at }) : identitySigner(id) })).bytes;
  }
  return bytes;
}

const summary = (r: VerifyReport) => r.signatures.map((s) => [s.signatory, s.indication, s.level]);

describe('levels', () => {
  test('qualified certificates under a qualified anchor, both parties → qualified, written form met', async () => {
    const r = await verify(await signAll(aqb, [['ministry:1', await identity(qualifiedCa, { cn: 'Kai Klose', qc: QUALIFIED })], ['partner:1', await identity(qualifiedCa, { cn: 'Nicole Rathgeber', qc: QUALIFIED })]]));
    assert.deepEqual(summary(r), [['ministry:1', 'TOTAL_PASSED', 'qualified'], ['partner:1', 'TOTAL_PASSED', 'qualified']]);
    assert.equal(r.writtenForm, true);
    assert.match(r.writtenFormReasons[0]!, /alle 2 Unterzeichnenden beider Seiten haben qualifiziert elektronisch signiert/);
    assert.match(r.signatures[0]!.levelReason, /Qualifiziertes Zertifikat/);
  });

  test('one side with the key store → simple, written form not met, naming who falls short', async () => {
    const r = await verify(await signAll(aqb, [['ministry:1', await identity(qualifiedCa, { cn: 'Kai Klose', qc: QUALIFIED })], ['partner:1', 'keystore']]));
    assert.deepEqual(summary(r), [['ministry:1', 'TOTAL_PASSED', 'qualified'], ['partner:1', 'TOTAL_PASSED', 'simple']]);
    assert.equal(r.writtenForm, false);
    assert.deepEqual(r.writtenFormReasons, ['Nicole Rathgeber (Landrätin) hat mit einer einfachen elektronischen Signatur unterzeichnet']);
    assert.match(r.signatures[1]!.levelReason, /Der Schlüssel liegt auf dem Zielwerk-Server/);
  });

  test('what is short of qualified is advanced, and says why', async () => {
    const cases: [string, TestCa, IssueOptions['qc'], RegExp][] = [
      ['a qualified certificate under an anchor not marked qualified', plainCa, QUALIFIED, /ausstellende Stelle ist aber nicht als qualifizierter Vertrauensdienst vertraut/],
      ['no qcStatements under the qualified anchor', qualifiedCa, undefined, /keine qcStatements/],
      ['QcCompliance without QcSSCD', qualifiedCa, { compliance: true, types: [QC.esign] }, /nicht QcCompliance und QcSSCD/],
      ['QcType eseal (a seal, not a signature)', qualifiedCa, { compliance: true, sscd: true, types: [QC.eseal] }, /ausstellende Stelle|nicht QcCompliance/],
    ];
    for (const [what, ca, qc, reason] of cases) {
      const r = await verify(await signAll(aqb, [['ministry:1', await identity(ca, { cn: 'Kai Klose', qc })]]));
      assert.deepEqual(summary(r), [['ministry:1', 'TOTAL_PASSED', 'advanced']], what);
      assert.match(r.signatures[0]!.levelReason, reason, what);
      assert.equal(r.writtenForm, false, what);
    }
  });

  test('three signatories (Landkreis Kassel): all qualified → written form met; one simple → not, naming her', async () => {
    const q = async (cn: string) => identity(qualifiedCa, { cn, qc: QUALIFIED });
    const all = await verify(await signAll(sgb2, [['ministry:1', await q('Barbara Tiemann')], ['partner:1', await q('Andreas Siebert')], ['partner:2', await q('Silke Engler')]]));
    assert.equal(all.writtenForm, true, JSON.stringify(all.writtenFormReasons));
    const oneShort = await verify(await signAll(sgb2, [['ministry:1', await q('Barbara Tiemann')], ['partner:1', await q('Andreas Siebert')], ['partner:2', 'keystore']]));
    assert.equal(oneShort.writtenForm, false);
    assert.deepEqual(oneShort.writtenFormReasons, ['Silke Engler (Erste Kreisbeigeordnete) hat mit einer einfachen elektronischen Signatur unterzeichnet']);
    const partial = await verify(await signAll(sgb2, [['ministry:1', await q('Barbara Tiemann')], ['partner:1', await q('Andreas Siebert')]]));
    assert.equal(partial.writtenForm, false);
    assert.deepEqual(partial.writtenFormReasons, ['Silke Engler (Erste Kreisbeigeordnete) hat noch nicht unterzeichnet']);
  });
});

describe('binding and purpose', () => {
  test('givenName + surname instead of a CN names the signatory; case and diacritics do not matter', async () => {
    const r = await verify(await signAll(aqb, [['ministry:1', await identity(plainCa, { givenName: 'Kai', surname: 'Klose' })], ['partner:1', await identity(plainCa, { cn: 'NICOLE RATHGEBER' })]]));
    assert.deepEqual(summary(r), [['ministry:1', 'TOTAL_PASSED', 'advanced'], ['partner:1', 'TOTAL_PASSED', 'advanced']]);
    assert.equal(r.signatures[0]!.signer!.name, 'Kai Klose');
  });

  test("Andreas Siebert's key in Silke Engler's field: refused when signing, SIGNATORY_MISMATCH when made elsewhere", async () => {
    const siebert = await identity(plainCa, { cn: 'Andreas Siebert', o: 'Landkreis Kassel' });
    const upToEngler = await signAll(sgb2, [['ministry:1', 'keystore'], ['partner:1', siebert]]);
    await assert.rejects(signAgreement(upToEngler, { signatory: ref('partner:2'), signer: identitySigner(siebert) }), (e: Error) => e instanceof SignError && /the certificate names Andreas Siebert, but this field is for Silke Engler/.test(e.message));
    const forged = await signFieldByHand(upToEngler, { field: 2, certificate: siebert.certificate, privateKey: siebert.key, chain: [plainCa.der] });
    const r = await verify(forged);
    const s = r.signatures[2]!;
    assert.deepEqual([s.indication, s.subIndication, s.status], ['TOTAL_FAILED', 'SIGNATORY_MISMATCH', 'invalid']);
    assert.deepEqual(s.signer, { name: 'Andreas Siebert', organisation: 'Landkreis Kassel', matchesPlanned: false });
    assert.ok(s.problems.includes('unterschrieben von Andreas Siebert statt Silke Engler'), s.problems.join('; '));
    assert.equal(r.verdict, 'invalid');
  });

  test('a time-stamping certificate must not sign an agreement', async () => {
    const tsa = await identity(plainCa, { cn: 'Kai Klose', eku: ['1.3.6.1.5.5.7.3.8'] });
    await assert.rejects(signAgreement(aqb, { signatory: ref('ministry:1'), signer: identitySigner(tsa) }), /time-stamping certificate/);
    const r = await verify(await signFieldByHand(aqb, { certificate: tsa.certificate, privateKey: tsa.key, chain: [plainCa.der] }));
    assert.deepEqual([r.signatures[0]!.indication, r.signatures[0]!.subIndication], ['TOTAL_FAILED', 'SIG_CONSTRAINTS_FAILURE']);
    assert.ok(r.signatures[0]!.problems.some((p) => /time-stamping certificate/.test(p)));
  });

  test('path constraints: pathLenConstraint 0 with an intermediate below, and an unknown critical extension, fail; pathLen 1 passes', async () => {
    for (const [pathLength, expect] of [[0, 'TOTAL_FAILED'], [1, 'TOTAL_PASSED']] as const) {
      const root = await testCa(`Wurzel pathLen ${pathLength} (Test)`, { pathLength });
      const intermediate = await testCa(`Zwischen-CA unter pathLen ${pathLength} (Test)`, { issuer: root, pathLength: 0 });
      const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 3072 });
      const leaf = await issue(intermediate, { cn: 'Kai Klose', publicKey });
      const r = await verifyAgreement(await signFieldByHand(aqb, { certificate: leaf.der, privateKey, chain: [intermediate.der] }), { trust: [root.der], skipReproduction: true });
      assert.equal(r.signatures[0]!.indication, expect, `pathLen ${pathLength}: ${r.signatures[0]!.problems.join('; ')}`);
      if (expect === 'TOTAL_FAILED') {
        assert.equal(r.signatures[0]!.subIndication, 'CHAIN_CONSTRAINTS_FAILURE');
        assert.ok(r.signatures[0]!.problems.some((p) => /allows 0 intermediate CA\(s\) below it, the path has 1/.test(p)), r.signatures[0]!.problems.join('; '));
      }
    }
    const odd = await identity(plainCa, { cn: 'Kai Klose', unknownCritical: true });
    const r = await verify(await signFieldByHand(aqb, { certificate: odd.certificate, privateKey: odd.key, chain: [plainCa.der] }));
    assert.notEqual(r.signatures[0]!.indication, 'TOTAL_PASSED', 'an unknown critical extension must not pass');
  });
});
