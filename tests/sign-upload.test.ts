/**
 * Externally signed uploads, with signatures made by independent tools — poppler's
 * `pdfsig -sign <field>` from an NSS database and @libpdf/core's signer — and the three-backend
 * agreement: Landkreis Kassel signed by the ministry on a SoftHSM2 token, countersigned by the
 * Landrat through a CSC credential and by the Erste Kreisbeigeordnete by upload. Every refusal
 * stores nothing and leaves the link usable.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, webcrypto } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PDF, CryptoKeySigner } from '@libpdf/core';
import { sha256, zv } from './helpers/signing.ts';
import { issue, testCa, type TestCa } from './helpers/pki.ts';
import { createToken, generateKey, softhsmConfig, storeCertificate, type Token } from './helpers/softhsm.ts';
import { startCscServer, type CscTestServer } from './helpers/csc-server.ts';
import { tempDir } from './helpers/tools.ts';
import { nssTrusting, opensslVerifyAll, pdfsig } from './helpers/validators.ts';
import { envelopeCounts, linkOf, openService, openYear } from './helpers/year.ts';
import { startPkiResponder } from './helpers/pki-responder.ts';
import { UploadRefusedError } from '../src/sign/external.ts';

const tmp = tempDir('zv-upload-');
let countyCa: TestCa; // the county's card CA (trusted with zv trust add)
let strangerCa: TestCa; // a CA nobody trusts
let signerNss: string; // NSS database holding the county signatories' keys (pdfsig signs from it)
let token: Token;
let csc: CscTestServer;
let softhsmEnv: { SOFTHSM2_CONF: string };

/** A key and certificate in the signer NSS database under `nick`. */
async function nssIdentity(ca: TestCa, cn: string, nick: string, o?: string): Promise<{ key: webcrypto.CryptoKey; der: Uint8Array }> {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 3072 });
  // NSS files certificates with the same subject under one nickname: a distinct O keeps them apart.
  const cert = await issue(ca, { cn, publicKey, o });
  const dir = join(tmp.dir, `id-${nick}`);
  mkdirSync(dir);
  writeFileSync(join(dir, 'key.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
  writeFileSync(join(dir, 'cert.pem'), cert.pem);
  execFileSync('openssl', ['pkcs12', '-export', '-inkey', join(dir, 'key.pem'), '-in', join(dir, 'cert.pem'), '-name', nick, '-out', join(dir, 'id.p12'), '-passout', 'pass:p12']);
  execFileSync('pk12util', ['-i', join(dir, 'id.p12'), '-d', `sql:${signerNss}`, '-W', 'p12'], { stdio: 'pipe' });
  const key = await webcrypto.subtle.importKey('pkcs8', privateKey.export({ type: 'pkcs8', format: 'der' }), { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false, ['sign']);
  return { key, der: cert.der };
}

/** poppler signs `field` of `input` into a new file (incrementally, as pdfsig does). */
function pdfsigSign(input: string, field: string, nick: string, out: string): string {
  execFileSync('pdfsig', ['-sign', field, '-nssdir', `sql:${signerNss}`, '-nick', nick, '-etsi', '-reason', 'Gegenzeichnung', input, out], { stdio: 'pipe' });
  return out;
}



before(async () => {
  countyCa = await testCa('Kartenaussteller Landkreis Kassel (Test)');
  strangerCa = await testCa('Unbekannte CA (Test)');
  writeFileSync(join(tmp.dir, 'county-ca.pem'), countyCa.pem);
  signerNss = join(tmp.dir, 'signer-nss');
  mkdirSync(signerNss);
  execFileSync('certutil', ['-N', '-d', `sql:${signerNss}`, '--empty-password']);
  await nssIdentity(countyCa, 'Silke Engler', 'engler');
  await nssIdentity(strangerCa, 'Silke Engler', 'engler-fremd', 'Unbekannt');
  await nssIdentity(countyCa, 'Andreas Siebert', 'siebert');

  softhsmEnv = softhsmConfig(tmp.dir);
  token = createToken(softhsmEnv, 'Ministerium');
  const spki = generateKey(token, { label: 'klose', id: '01', type: 'ec', curve: 'P-256' });
  const ministryCa = await testCa('Ministerium Signaturkarten-CA (Test)');
  writeFileSync(join(tmp.dir, 'ministry-ca.pem'), ministryCa.pem);
  storeCertificate(token, { label: 'klose', id: '01', der: (await issue(ministryCa, { cn: 'Kai Klose', publicKey: spki })).der });

  csc = await startCscServer({ credentials: [{ id: 'siebert', owner: 'siebert', cn: 'Andreas Siebert', pin: '1357' }], users: { siebert: 'landrat-geheim' } });
  writeFileSync(join(tmp.dir, 'tsp-ca.pem'), csc.ca.pem);
});
after(async () => {
  await csc.close();
  if (process.env.KEEP_TMP) console.log(tmp.dir);
  else tmp.cleanup();
});

describe('Landkreis Kassel: SoftHSM2 (ministry), CSC (Landrat), pdfsig upload (Erste Kreisbeigeordnete)', () => {
  let data: string;
  let englerLink: string;
  let sent: string;
  const KASSEL = join('signatures', '2023', 'aqb-2023-landkreis-kassel', 'v1');

  before(async () => {
    data = join(tmp.dir, 'kassel');
    await openYear(data, ['landkreis-kassel']);
    for (const ca of ['county-ca.pem', 'ministry-ca.pem', 'tsp-ca.pem']) {
      const r = await zv(['trust', 'add', join(tmp.dir, ca), '--data', data]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^trusted: CN=/);
    }
    const m = await zv(['envelope', 'sign-ministry', '--signatory', 'Kai Klose', '--yes', '--data', data, '--key', token.uri('klose', `pin-value=${token.pin}`)], softhsmEnv);
    assert.equal(m.code, 0, m.stderr);
    // At the Landrat's turn, a file signed in the Erste Kreisbeigeordnete's (still empty) field.
    const siebertLink = linkOf(data, 'andreas.siebert@landkreis-kassel.example');
    const forSiebert = join(tmp.dir, 'kassel-siebert-sent.pdf');
    assert.equal((await zv(['envelope', 'view', '-', '--out', forSiebert, '--data', data], {}, 60_000, siebertLink)).code, 0);
    const svc = openService(data);
    try {
      const foreign = readFileSync(pdfsigSign(forSiebert, 'sig-partner-2', 'siebert', join(tmp.dir, 'kassel-foreign-field.pdf')));
      await assert.rejects(svc.signWithUpload(siebertLink, foreign), /Die Unterschrift steht im Feld von Silke Engler \(Erste Kreisbeigeordnete\) statt in Ihrem Feld „sig-partner-1“ \(Andreas Siebert\)/);
    } finally {
      svc.close();
    }
    const s = await zv(['envelope', 'sign', '-', '--data', data, '--key', 'csc:siebert'], { ZV_CSC_URL: csc.base, ZV_CSC_USER: 'siebert', ZV_CSC_PASSWORD: 'landrat-geheim', ZV_CSC_PIN: '1357' }, 60_000, linkOf(data, 'andreas.siebert@landkreis-kassel.example'));
    assert.equal(s.code, 0, s.stderr);
    englerLink = linkOf(data, 'silke.engler@landkreis-kassel.example');
    sent = join(tmp.dir, 'kassel-sent.pdf');
    const v = await zv(['envelope', 'view', '-', '--out', sent, '--data', data], {}, 60_000, englerLink);
    assert.equal(v.code, 0, v.stderr);
  });

  const upload = (file: string) => zv(['envelope', 'sign', '-', '--data', data, '--upload', file], {}, 60_000, englerLink);
  /** The refusal through the service (the CLI and the web call the same method); the envelope is untouched. */
  const assertRefused = async (file: string, message: RegExp, what: string) => {
    const svc = openService(data);
    try {
      await assert.rejects(svc.signWithUpload(englerLink, readFileSync(file)), (e: Error) => e instanceof UploadRefusedError && message.test(e.message), what);
    } finally {
      svc.close();
    }
    assert.deepEqual(envelopeCounts(data), { open: 1, completed: 0, ministryPending: 0, ministrySigned: 1 }, what);
  };

  test('refused: page content changed, another field signed, a second signature, a new field, an annotation, re-saved, not a PDF, over 20 MB, an untrusted CA', async () => {
    const bytes = readFileSync(sent);
    const write = (name: string, b: Uint8Array) => {
      const p = join(tmp.dir, name);
      writeFileSync(p, b);
      return p;
    };
    // Page content: an incremental update that draws on page 1, then a valid signature in her own field.
    const doctored = await PDF.load(bytes);
    doctored.getPages()[0]!.drawText('846.500 Euro', { x: 300, y: 500, size: 14 });
    const drawn = write('drawn.pdf', await doctored.save({ incremental: true }));
    await assertRefused(pdfsigSign(drawn, 'sig-partner-2', 'engler', join(tmp.dir, 'drawn-signed.pdf')), /Beim Signieren wurde mehr verändert als Ihr Unterschriftsfeld: Seite oder Anmerkungen geändert/, 'page content');
    // An annotation added before signing.
    const annotated = await PDF.load(bytes);
    annotated.getPages()[0]!.addLinkAnnotation({ rect: { x: 100, y: 100, width: 200, height: 20 }, uri: 'https://example.org' });
    const withAnnot = write('annot.pdf', await annotated.save({ incremental: true }));
    await assertRefused(pdfsigSign(withAnnot, 'sig-partner-2', 'engler', join(tmp.dir, 'annot-signed.pdf')), /Seite oder Anmerkungen geändert/, 'annotation');
    // Re-saved as a whole (not incremental), then signed.
    const resaved = join(tmp.dir, 'resaved.pdf');
    execFileSync('qpdf', [sent, resaved]); // a full rewrite, as "Save as" or an optimiser does
    await assertRefused(pdfsigSign(resaved, 'sig-partner-2', 'engler', join(tmp.dir, 'resaved-signed.pdf')), /nicht mit dem Dokument, das Ihnen zugesandt wurde.*inkrementell/, 're-saved');
    // A new field of her own instead of the prepared one (another person's field: in the set-up, at the Landrat's turn).
    const newField = join(tmp.dir, 'newfield.pdf');
    execFileSync('pdfsig', ['-add-signature', '-new-signature-field-name', 'meine', '-nssdir', `sql:${signerNss}`, '-nick', 'engler', sent, newField], { stdio: 'pipe' });
    await assertRefused(newField, /nicht in Ihrem Unterschriftsfeld „sig-partner-2“ \(Silke Engler\), sondern in einem neuen Feld|Seite oder Anmerkungen geändert/, 'new field');
    // Two signatures: hers, then one more on top in a new field.
    const hers = pdfsigSign(sent, 'sig-partner-2', 'engler', join(tmp.dir, 'hers.pdf'));
    const twice = join(tmp.dir, 'twice.pdf');
    execFileSync('pdfsig', ['-add-signature', '-nssdir', `sql:${signerNss}`, '-nick', 'siebert', hers, twice], { stdio: 'pipe' });
    await assertRefused(twice, /enthält 2 neue Unterschriften; erlaubt ist genau eine/, 'second signature');
    // Not a PDF; the unchanged document; over 20 MB.
    await assertRefused(write('x.pdf', Buffer.from('\x89PNG\r\n\x1a\n-not a pdf')), /kein PDF/, 'not a PDF');
    await assertRefused(sent, /das unveränderte Dokument: Es enthält keine neue Unterschrift/, 'unchanged');
    const big = await upload(write('big.pdf', Buffer.concat([bytes, Buffer.alloc(21 * 1024 * 1024, 0x20)])));
    assert.equal(big.code, 1);
    assert.match(big.stderr, /^refused: Die Datei ist größer als 20 MB\. — nothing was written/m, 'too large (CLI)');
    // A certificate from a CA this instance does not trust.
    await assertRefused(pdfsigSign(sent, 'sig-partner-2', 'engler-fremd', join(tmp.dir, 'stranger.pdf')), /stammt von einer Stelle, der diese Zielwerk-Instanz nicht vertraut.*zv trust add/, 'untrusted CA');
  });

  test('accepted: her pdfsig signature in her field; the envelope completes; pdfsig, zv verify and openssl cms accept all three signatures', async () => {
    const signed = pdfsigSign(sent, 'sig-partner-2', 'engler', join(tmp.dir, 'engler-signed.pdf'));
    const r = await upload(signed);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /accepted the signature of Silke Engler \(Erste Kreisbeigeordnete\)/);
    assert.match(r.stdout, /the agreement is now completely signed/);
    assert.deepEqual(envelopeCounts(data), { open: 0, completed: 1, ministryPending: 0, ministrySigned: 1 });
    const final = join(data, KASSEL, 'aqb-2023-landkreis-kassel.pdf');
    // The archived file is the upload, byte for byte, followed by the completion's B-LTA updates (DSS, document time-stamp).
    const uploaded = readFileSync(signed);
    assert.ok(readFileSync(final).subarray(0, uploaded.length).equals(uploaded), 'the archived file starts with the upload, byte for byte');

    const nss = nssTrusting(tmp.dir, [
      { nick: 'ministry', pem: readFileSync(join(tmp.dir, 'ministry-ca.pem'), 'utf8') },
      { nick: 'tsp', pem: csc.ca.pem },
      { nick: 'county', pem: countyCa.pem },
    ]);
    const sigs = pdfsig(final, nss).filter((s) => s.type !== 'unknown'); // the document time-stamp pdfsig cannot check
    assert.deepEqual(
      sigs.map((s) => [s.field, s.signer, s.type, s.valid, s.trusted]),
      [
        ['sig-ministry-1', 'Kai Klose', 'ETSI.CAdES.detached', true, true],
        ['sig-partner-1', 'Andreas Siebert', 'ETSI.CAdES.detached', true, true],
        ['sig-partner-2', 'Silke Engler', 'adbe.pkcs7.detached', true, true],
      ],
    );
    const v = await zv(['verify', final, '--complete', '--data', data, '--json']);
    const report = JSON.parse(v.stdout);
    assert.equal(report.verdict, 'valid', JSON.stringify(report.problems) + JSON.stringify(report.signatures.map((s: { problems: string[] }) => s.problems)));
    assert.deepEqual(report.signatures.map((s: { status: string }) => s.status), ['valid', 'valid', 'valid']);
    const caBundle = [readFileSync(join(tmp.dir, 'ministry-ca.pem'), 'utf8'), csc.ca.pem, countyCa.pem].join('\n');
    const cms = opensslVerifyAll(readFileSync(final), caBundle, tmp.dir).slice(0, 3); // the fourth is the document time-stamp (openssl ts, not cms)
    assert.deepEqual(cms.map((x) => x.status), [0, 0, 0], cms.map((x) => x.stderr).join('\n'));

    // The audit trail: her signature as an upload, with the sent and the uploaded hash.
    const svc = openService(data);
    try {
      const snap = svc.listEnvelopes({})[0]!;
      const events = svc.store.db.prepare("SELECT details, doc_before, doc_after FROM audit_events WHERE envelope_id = ? AND type = 'signed' ORDER BY seq").all(snap.envelope.id) as { details: string; doc_before: string; doc_after: string }[];
      const vias = events.map((e) => [JSON.parse(e.details).via, JSON.parse(e.details).signer.kind]);
      assert.deepEqual(vias, [['ministry-batch', 'pkcs11'], ['link', 'csc'], ['upload', 'upload']]);
      assert.equal(events[2]!.doc_before, sha256(readFileSync(sent)));
      // The upload, then the completion's B-LTA updates: the trail names the archived file.
      assert.equal(events[2]!.doc_after, sha256(readFileSync(join(data, KASSEL, 'aqb-2023-landkreis-kassel.pdf'))));
      assert.deepEqual(snap.signatories.map((s) => (s as unknown as { signer_kind: string }).signer_kind), ['pkcs11', 'csc', 'upload']);
    } finally {
      svc.close();
    }
  });
});

describe('@libpdf/core as the external signer (Werra-Meißner-Kreis)', () => {
  test('its CAdES signature in the Landrätin\'s field is accepted; a second field signed instead is refused', async (t) => {
    const data = join(tmp.dir, 'werra');
    // pdfsig (NSS) asks the OCSP responder the minister's key-store certificate names: it answers from this data directory.
    const [pki] = await Promise.all([startPkiResponder(), openYear(data, ['werra-meissner-kreis'])]);
    t.after(() => pki.close());
    assert.equal((await zv(['trust', 'add', join(tmp.dir, 'county-ca.pem'), '--data', data])).code, 0);
    assert.equal((await zv(['envelope', 'sign-ministry', '--signatory', 'Kai Klose', '--yes', '--data', data], { ZV_BASE_URL: pki.baseUrlFor(data) })).code, 0);
    const link = linkOf(data, 'nicole.rathgeber@werra-meissner-kreis.example');
    const sent = join(tmp.dir, 'werra-sent.pdf');
    assert.equal((await zv(['envelope', 'view', '-', '--out', sent, '--data', data], {}, 60_000, link)).code, 0);
    const rathgeber = await nssIdentity(countyCa, 'Nicole Rathgeber', 'rathgeber');
    const signer = new CryptoKeySigner(rathgeber.key as unknown as CryptoKey, rathgeber.der, 'RSA', 'RSASSA-PKCS1-v1_5', [countyCa.der]);

    const wrongField = await (await PDF.load(readFileSync(sent))).sign({ signer, fieldName: 'Unterschrift-Rathgeber', location: 'Eschwege' });
    writeFileSync(join(tmp.dir, 'werra-wrong.pdf'), wrongField.bytes);
    const refused = await zv(['envelope', 'sign', '-', '--data', data, '--upload', join(tmp.dir, 'werra-wrong.pdf')], {}, 60_000, link);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /nicht in Ihrem Unterschriftsfeld „sig-partner-1“ \(Nicole Rathgeber\), sondern in einem neuen Feld|Seite oder Anmerkungen geändert/);

    const good = await (await PDF.load(readFileSync(sent))).sign({ signer, fieldName: 'sig-partner-1', location: 'Eschwege', reason: 'Gegenzeichnung' });
    writeFileSync(join(tmp.dir, 'werra-good.pdf'), good.bytes);
    const r = await zv(['envelope', 'sign', '-', '--data', data, '--upload', join(tmp.dir, 'werra-good.pdf')], {}, 60_000, link);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /completely signed/);
    const final = join(data, 'signatures', '2023', 'aqb-2023-werra-meissner-kreis', 'v1', 'aqb-2023-werra-meissner-kreis.pdf');
    const nss = nssTrusting(tmp.dir, [{ nick: 'county', pem: countyCa.pem }, { nick: 'demo', pem: readFileSync(join(data, 'keys', 'ca.cert.pem'), 'utf8') }]);
    assert.deepEqual(pdfsig(final, nss).map((s) => [s.field, s.valid, s.trusted]), [['sig-ministry-1', true, true], ['sig-partner-1', true, true]]);
    const svc = openService(data);
    try {
      const s = svc.listEnvelopes({})[0]!.signatories.find((x) => x.ref === 'partner:1')!;
      assert.equal(s.place, 'Eschwege', 'the place comes from the signature dictionary (/Location)');
    } finally {
      svc.close();
    }
  });
});

