/**
 * `zv trust import-tl`: an ETSI TS 119 612 trusted list made and signed (XMLDSig) in the test by a
 * scheme operator; its granted CA/QC services become qualified anchors, everything else is
 * ignored; a list signed by someone else, or changed after signing, is refused. Then the level of
 * signatures under those CAs, through `zv verify`.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SignedXml } from 'xml-crypto';
import { signAgreement } from '../src/sign/sign.ts';
import { identitySigner } from '../src/sign/signer.ts';
import { issue, QC, testCa, type TestCa } from './helpers/pki.ts';
import { agreementPdf, AQB_EXAMPLE, ref, zv } from './helpers/signing.ts';
import { tempDir } from './helpers/tools.ts';

const tmp = tempDir('zv-tl-');
let operator: { pem: string; keyPem: string };
let granted: TestCa;
let withdrawn: TestCa;
let tsaService: TestCa;
let listFile: string;
let operatorFile: string;

const SVC = 'http://uri.etsi.org/TrstSvc/Svctype/';
const STATUS = 'http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/';

function service(type: string, status: string, ca: TestCa, name: string): string {
  return `<tsl:TSPService><tsl:ServiceInformation>
      <tsl:ServiceTypeIdentifier>${SVC}${type}</tsl:ServiceTypeIdentifier>
      <tsl:ServiceName><tsl:Name xml:lang="de">${name}</tsl:Name></tsl:ServiceName>
      <tsl:ServiceDigitalIdentity><tsl:DigitalId><tsl:X509Certificate>${Buffer.from(ca.der).toString('base64')}</tsl:X509Certificate></tsl:DigitalId></tsl:ServiceDigitalIdentity>
      <tsl:ServiceStatus>${STATUS}${status}</tsl:ServiceStatus>
      <tsl:StatusStartingTime>2024-01-01T00:00:00Z</tsl:StatusStartingTime>
    </tsl:ServiceInformation></tsl:TSPService>`;
}

function trustedList(): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<tsl:TrustServiceStatusList xmlns:tsl="http://uri.etsi.org/02231/v2#" Id="tsl" TSLTag="http://uri.etsi.org/19612/TSLTag">
  <tsl:SchemeInformation>
    <tsl:TSLVersionIdentifier>5</tsl:TSLVersionIdentifier>
    <tsl:TSLSequenceNumber>42</tsl:TSLSequenceNumber>
    <tsl:SchemeTerritory>DE</tsl:SchemeTerritory>
    <tsl:ListIssueDateTime>2026-11-01T00:00:00Z</tsl:ListIssueDateTime>
    <tsl:NextUpdate><tsl:dateTime>2027-05-01T00:00:00Z</tsl:dateTime></tsl:NextUpdate>
  </tsl:SchemeInformation>
  <tsl:TrustServiceProviderList>
    <tsl:TrustServiceProvider>
      <tsl:TSPInformation><tsl:TSPName><tsl:Name xml:lang="de">Test-Vertrauensdienst GmbH</tsl:Name></tsl:TSPName></tsl:TSPInformation>
      <tsl:TSPServices>
        ${service('CA/QC', 'granted', granted, 'Qualifizierte Signaturzertifikate 2026')}
        ${service('CA/QC', 'withdrawn', withdrawn, 'Qualifizierte Signaturzertifikate 2019 (eingestellt)')}
        ${service('TSA/QTST', 'granted', tsaService, 'Qualifizierter Zeitstempeldienst')}
      </tsl:TSPServices>
    </tsl:TrustServiceProvider>
  </tsl:TrustServiceProviderList>
</tsl:TrustServiceStatusList>`;
}

function signList(xml: string, keyPem: string, certPem: string): string {
  const sig = new SignedXml({ privateKey: keyPem, publicCert: certPem, signatureAlgorithm: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256', canonicalizationAlgorithm: 'http://www.w3.org/2001/10/xml-exc-c14n#' });
  sig.addReference({ xpath: '/*', transforms: ['http://www.w3.org/2000/09/xmldsig#enveloped-signature', 'http://www.w3.org/2001/10/xml-exc-c14n#'], digestAlgorithm: 'http://www.w3.org/2001/04/xmlenc#sha256', isEmptyUri: true });
  sig.computeSignature(xml, { location: { reference: '/*', action: 'append' } });
  return sig.getSignedXml();
}

before(async () => {
  const opCa = await testCa('Bundesnetzagentur TL-Signer (Test)');
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 3072 });
  operator = { pem: (await issue(opCa, { cn: 'TL Scheme Operator (Test)', publicKey })).pem, keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
  granted = await testCa('QVDA Signatur-CA 2026 (Test)');
  withdrawn = await testCa('QVDA Signatur-CA 2019 (Test)');
  tsaService = await testCa('QVDA Zeitstempel (Test)');
  listFile = join(tmp.dir, 'DE-TL.xml');
  writeFileSync(listFile, signList(trustedList(), operator.keyPem, operator.pem));
  operatorFile = join(tmp.dir, 'operator.pem');
  writeFileSync(operatorFile, operator.pem);
});

test('a list signed by another key, or changed after signing, is refused and adds nothing', async () => {
  const data = join(tmp.dir, 'refused');
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 3072 });
  const impostorCa = await testCa('Falscher TL-Signer');
  const impostor = (await issue(impostorCa, { cn: 'Falscher TL-Signer', publicKey })).pem;
  const forged = join(tmp.dir, 'forged.xml');
  writeFileSync(forged, signList(trustedList(), privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), impostor));
  const r1 = await zv(['trust', 'import-tl', forged, '--signer', operatorFile, '--data', data]);
  assert.equal(r1.code, 1);
  assert.match(r1.stderr, /signature does not verify with the certificate given by --signer .*refused/);
  const tampered = join(tmp.dir, 'tampered.xml');
  const signed = signList(trustedList(), operator.keyPem, operator.pem);
  writeFileSync(tampered, signed.replace(`${STATUS}withdrawn`, `${STATUS}granted`));
  const r2 = await zv(['trust', 'import-tl', tampered, '--signer', operatorFile, '--data', data]);
  assert.equal(r2.code, 1);
  assert.match(r2.stderr, /signature does not verify/);
  const list = await zv(['trust', 'list', '--json', '--data', data]);
  assert.deepEqual(JSON.parse(list.stdout), []);
});

test('granted CA/QC services become qualified anchors; the qualified certificate signs qualified, the withdrawn CA only advanced', async () => {
  const data = join(tmp.dir, 'imported');
  const r = await zv(['trust', 'import-tl', listFile, '--signer', operatorFile, '--data', data]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /qualified: Test-Vertrauensdienst GmbH — Qualifizierte Signaturzertifikate 2026/);
  assert.match(r.stdout, /trusted list DE \(sequence 42, issued 2026-11-01T00:00:00Z\): 1 qualified CA certificate\(s\) trusted; 2 other service\(s\) \(not CA\/QC, or not granted\) ignored/);
  // The withdrawn CA is still trusted, but as not qualified (added by hand).
  const w = join(tmp.dir, 'withdrawn.pem');
  writeFileSync(w, withdrawn.pem);
  assert.equal((await zv(['trust', 'add', w, '--data', data])).code, 0);
  const list = JSON.parse((await zv(['trust', 'list', '--json', '--data', data])).stdout) as { subject: string; qualified: boolean; source: string }[];
  assert.deepEqual(list.map((a) => [a.subject.split(',')[0], a.qualified, a.source]), [['CN=QVDA Signatur-CA 2026 (Test)', true, 'trusted-list'], ['CN=QVDA Signatur-CA 2019 (Test)', false, 'cli']]);

  const qualifiedCert = { compliance: true, sscd: true, types: [QC.esign] };
  const signWith = async (ca: TestCa, file: string) => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 3072 });
    const cert = await issue(ca, { cn: 'Kai Klose', publicKey, qc: qualifiedCert });
    const signed = await signAgreement(await agreementPdf(AQB_EXAMPLE), { signatory: ref('ministry:1'), signer: identitySigner({ certificate: cert.der, chain: [ca.der], privateKey, source: 'pkcs12' }) });
    writeFileSync(join(tmp.dir, file), signed.bytes);
    return JSON.parse((await zv(['verify', join(tmp.dir, file), '--json', '--data', data])).stdout);
  };
  const q = await signWith(granted, 'granted.pdf');
  assert.deepEqual([q.signatures[0].indication, q.signatures[0].level], ['TOTAL_PASSED', 'qualified']);
  const a = await signWith(withdrawn, 'withdrawn.pdf');
  assert.deepEqual([a.signatures[0].indication, a.signatures[0].level], ['TOTAL_PASSED', 'advanced']);
  assert.match(a.signatures[0].levelReason, /nicht als qualifizierter Vertrauensdienst vertraut/);
});

test('the demo CA can be trusted only as not qualified', async () => {
  const data = join(tmp.dir, 'demo');
  assert.equal((await zv(['keys', 'init', '--data', data])).code, 0);
  const r = await zv(['trust', 'add', join(data, 'keys', 'ca.cert.pem'), '--qualified', '--data', data]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /the demo CA is not a trust service and can only be trusted as not qualified/);
});
