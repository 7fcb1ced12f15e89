import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, KeyObject, webcrypto, X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import * as pkijs from 'pkijs';
import { buildCadesSignature, buildSignedData, CmsError, OID, parseCades, parseTimeStampToken, sha256 } from '../src/sign/cms.ts';
import { createTsaIdentity, DEMO_TSA_POLICY, HttpTimestampAuthority, LocalTimestampAuthority, TsaError } from '../src/sign/tsa.ts';
import type { SigningIdentity } from '../src/sign/identity.ts';
import { run, tempDir } from './helpers/tools.ts';

// @peculiar/x509 (a dev dependency, independent of the code under test) needs the Reflect metadata polyfill.
await import('reflect-metadata');
const x509 = await import('@peculiar/x509');

// ------------------------------------------------------------------------------------------
// A throwaway PKI, made with @peculiar/x509 (independent of the code under test)
// ------------------------------------------------------------------------------------------

const crypto = webcrypto as unknown as Crypto;
const RSA = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', publicExponent: new Uint8Array([1, 0, 1]), modulusLength: 3072 };
const EC = { name: 'ECDSA', namedCurve: 'P-256' };
const notBefore = new Date(Date.now() - 24 * 3600 * 1000);
const notAfter = new Date(Date.now() + 2 * 365 * 24 * 3600 * 1000);

const caKeys = (await crypto.subtle.generateKey(RSA, true, ['sign', 'verify'])) as CryptoKeyPair;
const caCert = await x509.X509CertificateGenerator.createSelfSigned(
  {
    serialNumber: '01',
    name: 'CN=Zielwerk Test CA, O=Zielwerk Tests, C=DE',
    keys: caKeys,
    signingAlgorithm: RSA,
    notBefore,
    notAfter,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey, false, crypto),
    ],
  },
  crypto,
);
const caDer = new Uint8Array(caCert.rawData);
const caPrivateKey = KeyObject.from(caKeys.privateKey);

async function leafIdentity(algorithm: typeof RSA | typeof EC, commonName: string, serialNumber: string): Promise<SigningIdentity> {
  const keys = (await crypto.subtle.generateKey(algorithm, true, ['sign', 'verify'])) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber,
      subject: `CN=${commonName}, O=Zielwerk Tests, C=DE`,
      issuer: caCert.subjectName,
      publicKey: keys.publicKey,
      signingKey: caKeys.privateKey,
      signingAlgorithm: RSA,
      notBefore,
      notAfter,
      extensions: [
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.nonRepudiation, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
        await x509.AuthorityKeyIdentifierExtension.create(caKeys.publicKey, false, crypto),
      ],
    },
    crypto,
  );
  return { certificate: new Uint8Array(cert.rawData), chain: [caDer], privateKey: KeyObject.from(keys.privateKey), source: 'demo-ca' };
}

const rsaSigner = await leafIdentity(RSA, 'Erika Mustermann (RSA)', '0a1b2c3d4e5f');
const ecSigner = await leafIdentity(EC, 'Max Mustermann (EC)', '00f1e2d3c4b5a6');
const signers = [
  { label: 'RSA 2048', identity: rsaSigner },
  { label: 'EC P-256', identity: ecSigner },
];

const tsaIdentity = await createTsaIdentity({ certificate: caDer, privateKey: caPrivateKey });
/** A fixed clock inside the TSA certificate's validity, with milliseconds to exercise fractional genTime. */
const FIXED_TIME = new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000 + 789);
const localTsa = new LocalTimestampAuthority(tsaIdentity, { clock: () => FIXED_TIME });

const { dir, cleanup } = tempDir('zv-cms-');
after(cleanup);
const pem = (der: Uint8Array) => new X509Certificate(der).toString();
const caPem = join(dir, 'ca.pem');
writeFileSync(caPem, pem(caDer));
const tsaPem = join(dir, 'tsa.pem');
writeFileSync(tsaPem, pem(tsaIdentity.certificate));

const CONTENT = new TextEncoder().encode('%PDF-1.7 … the signed byte ranges of an agreement …\n');
const CONTENT_DIGEST = sha256(CONTENT);

/** openssl with its exit status (run() from the helpers throws on failure, which the negative cases need). */
function openssl(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('openssl', args, { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The first SignerInfo, read with pkijs (independently of parseCades). */
function signerInfoOf(cms: Uint8Array): pkijs.SignerInfo {
  const contentInfo = pkijs.ContentInfo.fromBER(Uint8Array.from(cms));
  return new pkijs.SignedData({ schema: contentInfo.content }).signerInfos[0]!;
}

function timestampTokenOf(cms: Uint8Array): Uint8Array {
  const attribute = signerInfoOf(cms).unsignedAttrs?.attributes.find((a) => a.type === OID.signatureTimeStampToken);
  assert.ok(attribute, 'the CMS carries a signature time-stamp token');
  return Uint8Array.from((attribute.values[0] as { valueBeforeDecodeView: Uint8Array }).valueBeforeDecodeView);
}

function flipByteAt(bytes: Uint8Array, needle: Uint8Array, fromEnd = 1): Uint8Array {
  const at = Buffer.from(bytes).indexOf(Buffer.from(needle));
  assert.ok(at >= 0, 'needle found');
  const copy = Uint8Array.from(bytes);
  copy[at + needle.length - fromEnd]! ^= 0x01;
  return copy;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

// ------------------------------------------------------------------------------------------

test('build → parse round trip for RSA 2048 and EC P-256: messageDigest, signature, signingCertificateV2, no signingTime, certificates', async () => {
  for (const { label, identity } of signers) {
    const cms = await buildCadesSignature({ identity, documentDigest: CONTENT_DIGEST });
    for (const input of [cms, Uint8Array.from([...cms, ...new Uint8Array(8192)])]) {
      const parsed = parseCades(input);
      assert.deepEqual(parsed.messageDigest, CONTENT_DIGEST, `${label}: messageDigest`);
      assert.equal(parsed.signatureValid, true, `${label}: signature`);
      assert.equal(parsed.signingCertificateV2Matches, true, `${label}: ESS signingCertificateV2`);
      assert.equal(parsed.hasSigningTimeAttribute, false, `${label}: no signingTime`);
      assert.equal(parsed.digestAlgorithm, 'SHA-256');
      assert.deepEqual(parsed.signerCertificate, identity.certificate, `${label}: signer certificate found by sid`);
      assert.equal(parsed.certificates.length, 2);
      assert.ok(parsed.certificates.some((c) => hex(c) === hex(identity.certificate)), `${label}: leaf included`);
      assert.ok(parsed.certificates.some((c) => hex(c) === hex(caDer)), `${label}: CA included`);
      assert.equal(parsed.timestamp, null);
    }
    // Read independently with pkijs: exactly the three signed attributes, detached, id-data.
    const si = signerInfoOf(cms);
    assert.deepEqual(si.signedAttrs!.attributes.map((a) => a.type).sort(), [OID.contentType, OID.messageDigest, OID.signingCertificateV2].sort());
    assert.equal(si.unsignedAttrs, undefined);
    const sd = new pkijs.SignedData({ schema: pkijs.ContentInfo.fromBER(Uint8Array.from(cms)).content });
    assert.equal(sd.encapContentInfo.eContentType, OID.data);
    assert.equal(sd.encapContentInfo.eContent, undefined, 'detached: no eContent');
    assert.equal(sd.version, 1);
    assert.equal(si.signatureAlgorithm.algorithmId, label.startsWith('RSA') ? '1.2.840.113549.1.1.11' : '1.2.840.10045.4.3.2');
  }
});

test('OpenSSL verifies the detached signature and rejects it when one content byte changes; it sees signingCertificateV2 and no signingTime', async () => {
  for (const { label, identity } of signers) {
    const cms = await buildCadesSignature({ identity, documentDigest: CONTENT_DIGEST });
    const sig = join(dir, `sig-${identity.privateKey.asymmetricKeyType}.der`);
    const data = join(dir, 'data.bin');
    const changed = join(dir, 'changed.bin');
    writeFileSync(sig, cms);
    writeFileSync(data, CONTENT);
    const other = Uint8Array.from(CONTENT);
    other[10]! ^= 0x20;
    writeFileSync(changed, other);

    const good = openssl(['cms', '-verify', '-inform', 'DER', '-in', sig, '-content', data, '-binary', '-CAfile', caPem, '-purpose', 'any', '-out', join(dir, 'out.bin')]);
    assert.equal(good.status, 0, `${label}: openssl cms -verify: ${good.stderr}`);
    assert.match(good.stderr, /Verification successful/);
    const bad = openssl(['cms', '-verify', '-inform', 'DER', '-in', sig, '-content', changed, '-binary', '-CAfile', caPem, '-purpose', 'any', '-out', join(dir, 'out.bin')]);
    assert.notEqual(bad.status, 0, `${label}: a changed byte must fail verification`);
    assert.match(bad.stderr, /digest failure|verification failure/i);

    const printed = run('openssl', ['cms', '-cmsout', '-print', '-inform', 'DER', '-in', sig]);
    assert.match(printed, /signingCertificateV2|id-smime-aa-signingCertificateV2/);
    assert.match(printed, /messageDigest|pkcs9_messageDigest|id-messageDigest/);
    assert.doesNotMatch(printed, /signingTime/);
    assert.match(printed, /eContent: <ABSENT>/, `${label}: detached`);
  }
});

test('a flipped byte in the signature value or in a signed attribute invalidates the signature; garbage is a CmsError', async () => {
  for (const { label, identity } of signers) {
    const cms = await buildCadesSignature({ identity, documentDigest: CONTENT_DIGEST });
    const signature = Uint8Array.from(signerInfoOf(cms).signature.valueBlock.valueHexView);

    const badSignature = parseCades(flipByteAt(cms, signature));
    assert.equal(badSignature.signatureValid, false, `${label}: flipped signature byte`);
    assert.deepEqual(badSignature.messageDigest, CONTENT_DIGEST);

    const badDigest = parseCades(flipByteAt(cms, CONTENT_DIGEST));
    assert.equal(badDigest.signatureValid, false, `${label}: flipped messageDigest byte`);
    assert.notDeepEqual(badDigest.messageDigest, CONTENT_DIGEST);
  }

  assert.throws(() => parseCades(new Uint8Array(0)), (e) => e instanceof CmsError && /empty/.test(e.message));
  assert.throws(() => parseCades(new Uint8Array(64)), CmsError, 'all zeros');
  assert.throws(() => parseCades(new TextEncoder().encode('this is not DER at all')), CmsError);
  const random = Uint8Array.from(createHash('sha512').update('garbage').digest());
  assert.throws(() => parseCades(random), CmsError);
  // Valid DER, but a certificate, not a ContentInfo …
  assert.throws(() => parseCades(caDer), (e) => e instanceof CmsError && /ContentInfo|SignedData/.test(e.message));
  // … a ContentInfo of type id-data …
  const dataContentInfo = Uint8Array.from([0x30, 0x11, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01, 0xa0, 0x04, 0x04, 0x02, 0x68, 0x69]);
  assert.throws(() => parseCades(dataContentInfo), (e) => e instanceof CmsError && /not SignedData/.test(e.message));
  // … a truncated signature …
  const cms = await buildCadesSignature({ identity: rsaSigner, documentDigest: CONTENT_DIGEST });
  assert.throws(() => parseCades(cms.subarray(0, cms.length - 40)), CmsError);
  // … and a SignedData without the signer's certificate.
  const noCerts = await buildSignedData({ identity: rsaSigner, eContentType: OID.data, contentDigest: CONTENT_DIGEST, includeCertificates: false });
  assert.throws(() => parseCades(noCerts), (e) => e instanceof CmsError && /signer certificate .* is not included/.test(e.message));

  // Wrong inputs to the builder.
  await assert.rejects(buildCadesSignature({ identity: rsaSigner, documentDigest: new Uint8Array(20) }), CmsError);
  await assert.rejects(buildCadesSignature({ identity: { ...rsaSigner, privateKey: ecSigner.privateKey }, documentDigest: CONTENT_DIGEST }), /does not belong/);
});

test('PAdES B-T with the local TSA: token attached and valid; OpenSSL parses and verifies it', async () => {
  const cms = await buildCadesSignature({ identity: rsaSigner, documentDigest: CONTENT_DIGEST, tsa: localTsa });
  const parsed = parseCades(cms);
  assert.equal(parsed.signatureValid, true);
  assert.ok(parsed.timestamp, 'timestamp parsed');
  assert.equal(parsed.timestamp.imprintMatches, true);
  assert.equal(parsed.timestamp.tokenSignatureValid, true);
  assert.equal(parsed.timestamp.genTime.getTime(), FIXED_TIME.getTime());
  assert.deepEqual(parsed.timestamp.tsaCertificate, tsaIdentity.certificate);
  assert.equal(parsed.timestamp.policy, DEMO_TSA_POLICY);
  assert.match(parsed.timestamp.serial, /^[0-9a-f]+$/);

  const signatureValue = Uint8Array.from(signerInfoOf(cms).signature.valueBlock.valueHexView);
  const imprint = hex(sha256(signatureValue));
  const token = timestampTokenOf(cms);
  const tokenFile = join(dir, 'token.der');
  writeFileSync(tokenFile, token);

  const text = run('openssl', ['ts', '-reply', '-in', tokenFile, '-token_in', '-text']);
  assert.match(text, new RegExp(`Policy OID: ${DEMO_TSA_POLICY.replace(/\./g, '\\.')}`));
  assert.match(text, /Hash Algorithm: sha256/);
  assert.match(text, /\.789 /, 'fractional seconds of the fixed clock');
  const dump = /Message data:\n((?:\s+[0-9a-f]{4} - .*\n)+)/.exec(text)?.[1] ?? '';
  const printedImprint = [...dump.matchAll(/^\s+[0-9a-f]{4} - ((?:[0-9a-f]{2}[ -]?)+)/gm)].map((m) => m[1]!.replace(/[ -]/g, '')).join('');
  assert.equal(printedImprint, imprint, 'message imprint as printed by OpenSSL');
  assert.match(text, new RegExp(`Serial number: 0x0*${parsed.timestamp.serial}\\b`, 'i'));

  const ok = openssl(['ts', '-verify', '-digest', imprint, '-in', tokenFile, '-token_in', '-CAfile', caPem, '-untrusted', tsaPem]);
  assert.equal(ok.status, 0, `openssl ts -verify: ${ok.stdout} ${ok.stderr}`);
  assert.match(ok.stdout, /Verification: OK/);
  const wrong = openssl(['ts', '-verify', '-digest', hex(CONTENT_DIGEST), '-in', tokenFile, '-token_in', '-CAfile', caPem, '-untrusted', tsaPem]);
  assert.notEqual(wrong.status, 0, 'a different digest must not verify');

  // The unsigned attribute leaves the CMS signature intact for OpenSSL.
  const sig = join(dir, 'sig-bt.der');
  writeFileSync(sig, cms);
  writeFileSync(join(dir, 'data.bin'), CONTENT);
  const cmsOk = openssl(['cms', '-verify', '-inform', 'DER', '-in', sig, '-content', join(dir, 'data.bin'), '-binary', '-CAfile', caPem, '-purpose', 'any', '-out', join(dir, 'out.bin')]);
  assert.equal(cmsOk.status, 0, cmsOk.stderr);

  // The TSA certificate: critical extKeyUsage timeStamping only, issued by the CA.
  const tsaText = run('openssl', ['x509', '-in', tsaPem, '-noout', '-text']);
  assert.match(tsaText, /X509v3 Extended Key Usage: critical\s+Time Stamping\s*\n/);
  assert.equal(new X509Certificate(tsaIdentity.certificate).checkIssued(new X509Certificate(caDer)), true);
  assert.ok(new Date(new X509Certificate(tsaIdentity.certificate).validTo) <= new Date(new X509Certificate(caDer).validTo), 'the TSA certificate does not outlive its CA');

  // Serial numbers are unique; a tampered token is detected.
  const another = parseTimeStampToken(await localTsa.timestamp(sha256(signatureValue), 'SHA-256'));
  assert.notEqual(another.serial, parsed.timestamp.serial);
  const tamperedToken = parseCades(flipByteAt(cms, Uint8Array.from(signerInfoOf(token).signature.valueBlock.valueHexView)));
  assert.equal(tamperedToken.timestamp!.tokenSignatureValid, false);
  assert.equal(tamperedToken.signatureValid, true);

  // A TSA identity must be a time-stamping certificate.
  assert.throws(() => new LocalTimestampAuthority(rsaSigner), (e) => e instanceof TsaError && /timeStamping/.test(e.message));
});

test('respond(): a TimeStampReq made by OpenSSL gets a response that openssl ts -verify accepts; malformed requests are rejected', async () => {
  const data = join(dir, 'query-data.bin');
  const query = join(dir, 'req.tsq');
  const reply = join(dir, 'resp.tsr');
  writeFileSync(data, CONTENT);
  run('openssl', ['ts', '-query', '-data', data, '-sha256', '-cert', '-out', query]);
  writeFileSync(reply, await localTsa.respond(new Uint8Array(readFileSync(query))));
  const text = run('openssl', ['ts', '-reply', '-in', reply, '-text']);
  assert.match(text, /Status: Granted/);
  assert.match(text, /Nonce: 0x/);
  const ok = openssl(['ts', '-verify', '-queryfile', query, '-in', reply, '-CAfile', caPem]);
  assert.equal(ok.status, 0, `openssl ts -verify -queryfile: ${ok.stdout} ${ok.stderr}`);
  assert.match(ok.stdout, /Verification: OK/);

  const rejected = pkijs.TimeStampResp.fromBER(Uint8Array.from(await localTsa.respond(new TextEncoder().encode('no request'))));
  assert.equal(rejected.status.status, 2);
  assert.equal(rejected.timeStampToken, undefined);
  writeFileSync(reply, await localTsa.respond(new TextEncoder().encode('no request')));
  assert.match(run('openssl', ['ts', '-reply', '-in', reply, '-text']), /Status: Rejected[\s\S]*Failure info: the data submitted has the wrong format/);

  const sha1Query = join(dir, 'sha1.tsq');
  run('openssl', ['ts', '-query', '-data', data, '-sha1', '-out', sha1Query]);
  writeFileSync(reply, await localTsa.respond(new Uint8Array(readFileSync(sha1Query))));
  assert.match(run('openssl', ['ts', '-reply', '-in', reply, '-text']), /Status: Rejected[\s\S]*Failure info: unrecognized or unsupported algorithm identifier/i);
});

/** Runs `fn` against an HTTP server on 127.0.0.1 with `handler`, then closes it. */
async function withServer(handler: RequestListener, fn: (url: string) => Promise<void>): Promise<void> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    await fn(`http://127.0.0.1:${(server.address() as AddressInfo).port}/tsa`);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

function readBody(req: Parameters<RequestListener>[0]): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(new Uint8Array(Buffer.concat(chunks))));
    req.on('error', reject);
  });
}

test('HTTP: HttpTimestampAuthority gets a token from a TSA on 127.0.0.1; HTTP errors, garbage, rejections, replays and timeouts are TsaErrors', async () => {
  const seen: { method?: string; type?: string }[] = [];
  let lastResponse: Uint8Array | null = null;
  await withServer(
    async (req, res) => {
      seen.push({ method: req.method, type: req.headers['content-type'] });
      const body = await readBody(req);
      lastResponse = await localTsa.respond(body);
      res.writeHead(200, { 'Content-Type': 'application/timestamp-reply' }).end(lastResponse);
    },
    async (url) => {
      const tsa = new HttpTimestampAuthority(url);
      const digest = sha256(new TextEncoder().encode('signature value'));
      const token = parseTimeStampToken(await tsa.timestamp(digest, 'SHA-256'));
      assert.deepEqual(token.imprint, digest);
      assert.equal(token.signatureValid, true);
      assert.ok(token.nonce, 'nonce echoed');
      assert.deepEqual(token.tsaCertificate, tsaIdentity.certificate, 'certReq honoured');
      assert.deepEqual(seen[0], { method: 'POST', type: 'application/timestamp-query' });

      const parsed = parseCades(await buildCadesSignature({ identity: ecSigner, documentDigest: CONTENT_DIGEST, tsa }));
      assert.equal(parsed.signatureValid, true);
      assert.equal(parsed.timestamp?.imprintMatches, true);
      assert.equal(parsed.timestamp?.tokenSignatureValid, true);
    },
  );

  // A replayed (old) answer has the wrong nonce and imprint.
  const replay = lastResponse!;
  await withServer(
    (_req, res) => void res.writeHead(200, { 'Content-Type': 'application/timestamp-reply' }).end(replay),
    async (url) => {
      await assert.rejects(new HttpTimestampAuthority(url).timestamp(CONTENT_DIGEST, 'SHA-256'), (e) => e instanceof TsaError && /nonce/.test(e.message));
    },
  );
  await withServer(
    (_req, res) => void res.writeHead(500, 'Internal Server Error').end('boom'),
    async (url) => {
      await assert.rejects(new HttpTimestampAuthority(url).timestamp(CONTENT_DIGEST, 'SHA-256'), (e) => e instanceof TsaError && /HTTP 500/.test(e.message));
    },
  );
  await withServer(
    (_req, res) => void res.writeHead(200, { 'Content-Type': 'text/html' }).end('<html>not a TSA</html>'),
    async (url) => {
      await assert.rejects(new HttpTimestampAuthority(url).timestamp(CONTENT_DIGEST, 'SHA-256'), (e) => e instanceof TsaError && /not return a valid TimeStampResp.*text\/html/.test(e.message));
    },
  );
  await withServer(
    async (req, res) => {
      await readBody(req);
      res.writeHead(200, { 'Content-Type': 'application/timestamp-reply' }).end(await localTsa.respond(new Uint8Array([0x30, 0x00])));
    },
    async (url) => {
      await assert.rejects(new HttpTimestampAuthority(url).timestamp(CONTENT_DIGEST, 'SHA-256'), (e) => e instanceof TsaError && /status rejection \(badDataFormat\)/.test(e.message));
    },
  );
  await withServer(
    () => undefined, // never answers
    async (url) => {
      const started = Date.now();
      await assert.rejects(new HttpTimestampAuthority(url, { timeoutMs: 300 }).timestamp(CONTENT_DIGEST, 'SHA-256'), (e) => e instanceof TsaError && /did not answer within 300 ms/.test(e.message));
      assert.ok(Date.now() - started < 5000);
    },
  );
  let closedUrl = '';
  await withServer(
    () => undefined,
    async (url) => void (closedUrl = url),
  );
  await assert.rejects(new HttpTimestampAuthority(closedUrl).timestamp(CONTENT_DIGEST, 'SHA-256'), (e) => e instanceof TsaError && /cannot reach/.test(e.message));
  assert.throws(() => new HttpTimestampAuthority('ftp://example.invalid/tsa'), TsaError);
  await assert.rejects(new HttpTimestampAuthority(closedUrl).timestamp(new Uint8Array(20), 'SHA-256'), TsaError);
});
