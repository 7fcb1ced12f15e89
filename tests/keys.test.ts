import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, sign, verify, X509Certificate } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';
import forge from 'node-forge';
import { choosePassphrase, DEFAULT_DEV_CA_PASSPHRASE, DEFAULT_DEV_PASSPHRASE, KeyStore, KeyStoreError } from '../src/sign/keys.ts';
import type { SignatoryPerson } from '../src/sign/identity.ts';
import { run, tempDir } from './helpers/tools.ts';
import { encryptPrivateKey } from '../src/sign/key-encryption.ts';
import { buildOcspRequest, checkRevocation } from '../src/sign/revocation.ts';

const PASS = 'correct horse battery staple';
const klose: SignatoryPerson = { name: 'Kai Klose', role: 'Staatsminister', organisation: 'Hessisches Ministerium für Arbeit, Integration, Jugend und Soziales' };
const landrat: SignatoryPerson = { name: 'Stefan Reuß', role: 'Landrat', organisation: 'Werra-Meißner-Kreis' };
const DAY = 86_400_000;

/** Every file below dir with its mode, so "nothing written" can be compared exactly. */
function snapshot(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      out.push(`${relative(dir, p)} ${(statSync(p).mode & 0o777).toString(8)}`);
      if (e.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out.sort();
}

test('choosePassphrase: own passphrase, dev default with a loud warning, refusals in production', () => {
  const CA_PASS = 'another horse, the CA one';
  assert.deepEqual(choosePassphrase({ ZV_KEY_PASSPHRASE: PASS, ZV_CA_PASSPHRASE: CA_PASS }), { passphrase: PASS, caPassphrase: CA_PASS, dev: true });
  assert.deepEqual(choosePassphrase({ ZV_KEY_PASSPHRASE: PASS, ZV_CA_PASSPHRASE: CA_PASS, ZV_ENV: 'production' }), { passphrase: PASS, caPassphrase: CA_PASS, dev: false });
  // The CA key's passphrase: its own, never the store's; absent in production = no CA key available.
  assert.deepEqual(choosePassphrase({ ZV_KEY_PASSPHRASE: PASS, ZV_ENV: 'production' }), { passphrase: PASS, caPassphrase: '', dev: false });
  const devCa = choosePassphrase({ ZV_KEY_PASSPHRASE: PASS });
  assert.equal(devCa.caPassphrase, DEFAULT_DEV_CA_PASSPHRASE);
  assert.equal(devCa.warning, undefined, 'the key store says so when it uses the CA key');
  assert.throws(() => choosePassphrase({ ZV_KEY_PASSPHRASE: PASS, ZV_CA_PASSPHRASE: PASS }), /ZV_CA_PASSPHRASE must differ from ZV_KEY_PASSPHRASE/);
  assert.throws(() => choosePassphrase({ ZV_KEY_PASSPHRASE: PASS, ZV_CA_PASSPHRASE: 'short' }), /ZV_CA_PASSPHRASE is too short/);
  assert.throws(() => choosePassphrase({ ZV_KEY_PASSPHRASE: PASS, ZV_CA_PASSPHRASE: DEFAULT_DEV_CA_PASSPHRASE, ZV_ENV: 'production' }), /ZV_CA_PASSPHRASE is the public default/);
  assert.throws(() => KeyStore.open('/nonexistent', PASS, PASS), /passphrase of its own/);

  const dev = choosePassphrase({});
  assert.equal(dev.passphrase, DEFAULT_DEV_PASSPHRASE);
  assert.equal(dev.dev, true);
  assert.match(dev.warning!, /WARNING: ZV_KEY_PASSPHRASE is not set/);
  assert.match(dev.warning!, /WARNUNG: ZV_KEY_PASSPHRASE ist nicht gesetzt/);
  assert.ok(dev.warning!.split('\n').length >= 5, 'multi-line warning');

  assert.throws(() => choosePassphrase({ ZV_ENV: 'production' }), (e: Error) => e instanceof KeyStoreError && /ZV_KEY_PASSPHRASE is not set/.test(e.message));
  assert.throws(() => choosePassphrase({ NODE_ENV: 'production', ZV_KEY_PASSPHRASE: '' }), KeyStoreError);
  assert.throws(() => choosePassphrase({ NODE_ENV: 'production', ZV_KEY_PASSPHRASE: DEFAULT_DEV_PASSPHRASE }), /default development passphrase.*refused in production/);
  assert.throws(() => choosePassphrase({ ZV_KEY_PASSPHRASE: 'kurz' }), /too short.*12 characters/);
  assert.throws(() => choosePassphrase({ ZV_KEY_PASSPHRASE: '12345678901' }), KeyStoreError);
  assert.equal(choosePassphrase({ ZV_KEY_PASSPHRASE: '123456789012' }).passphrase, '123456789012');
});

test('init creates the Demo-CA once, with CA extensions, private file modes and an encrypted key', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const store = KeyStore.open(dir, PASS);
  assert.equal(existsSync(join(dir, 'keys')), false, 'open() creates nothing');
  assert.deepEqual(store.list(), []);
  assert.throws(() => store.caCertificatePem(), /no Demo-CA yet/);

  const started = performance.now();
  const first = await store.init();
  t.diagnostic(`CA creation: ${Math.round(performance.now() - started)} ms`);
  assert.equal(first.created, true);
  assert.match(first.ca.subject, /^CN=Zielwerk Demo-CA \(kein qualifizierter Vertrauensdienst\), O=Zielwerk \(Demo\), C=DE$/);
  assert.equal(first.ca.issuer, first.ca.subject);
  assert.equal(first.ca.source, 'demo-ca');
  const years = (first.ca.notAfter.getTime() - first.ca.notBefore.getTime()) / (365.25 * DAY);
  assert.ok(years > 29.9 && years < 30.1, `CA validity ${years} years`);

  const second = await store.init();
  assert.equal(second.created, false);
  assert.deepEqual(second.ca, first.ca);

  const ca = new X509Certificate(store.caCertificatePem());
  assert.equal(ca.ca, true);
  assert.ok(ca.checkIssued(ca) && ca.verify(ca.publicKey), 'self-signed');
  assert.equal(ca.fingerprint256.replace(/:/g, '').toLowerCase(), first.ca.sha256);
  assert.equal(ca.serialNumber, first.ca.serial);
  assert.equal(ca.serialNumber.length, 32, '16-byte serial');
  const text = run('openssl', ['x509', '-noout', '-text', '-in', join(dir, 'keys', 'ca.cert.pem')]);
  assert.match(text, /Basic Constraints: critical\s+CA:TRUE/);
  assert.match(text, /Key Usage: critical\s+Certificate Sign, CRL Sign/);
  assert.match(text, /Public-Key: \(256 bit\)\s+pub:[\s\S]*ASN1 OID: prime256v1/);
  assert.match(text, /Signature Algorithm: ecdsa-with-SHA256/);
  assert.equal(first.ca.keyAlgorithm, 'ECDSA P-256');

  const key = readFileSync(join(dir, 'keys', 'ca.key.pem'), 'utf8');
  assert.match(key, /^-----BEGIN ENCRYPTED PRIVATE KEY-----/);
  assert.deepEqual(snapshot(join(dir, 'keys')), ['ca.cert.pem 600', 'ca.key.pem 600', 'imported 700', 'keystore.json 600', 'signatories 700']);
  assert.equal(statSync(join(dir, 'keys')).mode & 0o777, 0o700);
});

test('identityFor issues a certificate once, reuses it, and issues anew when the role changes', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const store = KeyStore.open(dir, PASS, undefined, { baseUrl: 'http://localhost:3000' });

  let started = performance.now();
  const first = await store.identityFor(klose); // implicit init
  t.diagnostic(`first identityFor (CA + certificate): ${Math.round(performance.now() - started)} ms`);
  started = performance.now();
  const other = await store.identityFor(landrat);
  t.diagnostic(`one issuance: ${Math.round(performance.now() - started)} ms`);
  assert.equal(first.source, 'demo-ca');

  const again = await KeyStore.open(dir, PASS).identityFor({ ...klose, name: ' Kai  Klose ' });
  assert.deepEqual(again.certificate, first.certificate, 'same certificate bytes on reuse (also after normalising spaces)');
  assert.notDeepEqual(other.certificate, first.certificate);

  const cert = new X509Certificate(first.certificate);
  assert.deepEqual(cert.subject.split('\n'), ['C=DE', 'O=Hessisches Ministerium für Arbeit\\, Integration\\, Jugend und Soziales', 'title=Staatsminister', 'CN=Kai Klose']);
  const text = run('openssl', ['x509', '-inform', 'DER', '-noout', '-text', '-in', writeTemp(dir, 'klose.der', first.certificate)]);
  assert.match(text, /Key Usage: critical\s+Digital Signature, Non Repudiation/);
  assert.match(text, /Basic Constraints: critical\s+CA:FALSE/);
  // As a real CA issues them: ECDSA P-256, 3 years, with where to find the status and the issuer.
  assert.match(text, /Public-Key: \(256 bit\)[\s\S]*NIST CURVE: P-256/);
  assert.match(text, /Signature Algorithm: ecdsa-with-SHA256/);
  assert.match(text, /CRL Distribution Points:\s+Full Name:\s+URI:http:\/\/localhost:3000\/pki\/ca\.crl/);
  assert.match(text, /Authority Information Access:\s+OCSP - URI:http:\/\/localhost:3000\/pki\/ocsp\s+CA Issuers - URI:http:\/\/localhost:3000\/pki\/ca\.cer/);
  const leafYears = (new Date(cert.validTo).getTime() - new Date(cert.validFrom).getTime()) / (365.25 * DAY);
  assert.ok(leafYears > 2.99 && leafYears < 3.01, `signatory certificate validity ${leafYears} years`);
  assert.match(text, /Subject Key Identifier/);
  assert.match(text, /Authority Key Identifier/);
  assert.doesNotMatch(text, /Extended Key Usage/);

  // The chain verifies against the CA, and the key belongs to the certificate.
  assert.equal(first.chain.length, 1);
  const ca = new X509Certificate(first.chain[0]);
  assert.equal(ca.fingerprint256, new X509Certificate(store.caCertificatePem()).fingerprint256);
  assert.ok(cert.checkIssued(ca), 'issuer name matches the CA');
  assert.ok(cert.verify(ca.publicKey), 'signature verifies with the CA key');
  assert.ok(!cert.verify(cert.publicKey), 'and not with its own key (the check can fail)');
  const data = Buffer.from('Zielvereinbarung 2024');
  assert.ok(verify('sha256', data, cert.publicKey, sign('sha256', data, first.privateKey)));
  run('openssl', ['verify', '-x509_strict', '-CAfile', join(dir, 'keys', 'ca.cert.pem'), writeTemp(dir, 'klose.der.pem', first.certificate, true)]);

  const promoted = await store.identityFor({ ...klose, role: 'Staatssekretär' });
  assert.notDeepEqual(promoted.certificate, first.certificate);
  assert.match(new X509Certificate(promoted.certificate).subject, /title=Staatssekretär/);
  const moved = await store.identityFor({ ...klose, organisation: 'Hessische Staatskanzlei' });
  assert.notDeepEqual(moved.certificate, first.certificate);
  assert.notDeepEqual(moved.certificate, promoted.certificate);

  const listed = store.list();
  assert.match(listed[0].subject, /Demo-CA/, 'CA first');
  assert.deepEqual(listed.slice(1).map((c) => c.name), ['Kai Klose', 'Kai Klose', 'Kai Klose', 'Stefan Reuß'], 'then by name');
  assert.deepEqual(
    listed.slice(1).map((c) => `${c.name} | ${c.role} | ${c.organisation} | ${c.source}`).sort(),
    [
      `Kai Klose | Staatsminister | Hessische Staatskanzlei | demo-ca`,
      `Kai Klose | Staatsminister | ${klose.organisation} | demo-ca`,
      `Kai Klose | Staatssekretär | ${klose.organisation} | demo-ca`,
      `Stefan Reuß | Landrat | Werra-Meißner-Kreis | demo-ca`,
    ],
  );
  for (const f of readdirSync(join(dir, 'keys', 'signatories'))) {
    assert.equal(statSync(join(dir, 'keys', 'signatories', f)).mode & 0o777, 0o600, f);
    const stored = JSON.parse(readFileSync(join(dir, 'keys', 'signatories', f), 'utf8'));
    assert.match(stored.privateKey, /^-----BEGIN ENCRYPTED PRIVATE KEY-----/, `${f}: key encrypted at rest`);
    assert.doesNotMatch(JSON.stringify(stored), /BEGIN (RSA )?PRIVATE KEY/);
  }
});

test('concurrent requests for one person share one certificate', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const store = KeyStore.open(dir, PASS);
  const ids = await Promise.all(Array.from({ length: 6 }, () => store.identityFor(klose)));
  for (const id of ids) assert.deepEqual(id.certificate, ids[0].certificate);
  assert.equal(readdirSync(join(dir, 'keys', 'signatories')).length, 1);
});

test('a wrong store passphrase is refused with a clear message', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  await KeyStore.open(dir, PASS).identityFor(klose);
  const wrong = KeyStore.open(dir, 'not the right passphrase');
  await assert.rejects(wrong.identityFor(klose), (e: Error) => e instanceof KeyStoreError && /cannot decrypt the private key in .*kai-klose-.*\.json: wrong ZV_KEY_PASSPHRASE\?/.test(e.message));
  const wrongCa = KeyStore.open(dir, PASS, 'not the right CA passphrase');
  await assert.rejects(wrongCa.init(), (e: Error) => e instanceof KeyStoreError && /cannot decrypt the private key in .*ca\.key\.pem: wrong ZV_CA_PASSPHRASE\?/.test(e.message));
  assert.ok(await wrongCa.identityFor(klose), 'signing with an issued certificate needs no CA key');
  await assert.rejects(wrongCa.identityFor(landrat), /ca\.key\.pem: wrong ZV_CA_PASSPHRASE/);
  await assert.rejects(KeyStore.open(dir, PASS, '').identityFor(landrat), /ZV_CA_PASSPHRASE is not set: the Demo-CA's key is needed to issue a certificate for Stefan Reuß/);
  assert.equal(wrong.list().length, 2, 'listing needs no passphrase');

  const none = KeyStore.open(dir, '');
  assert.match(none.caCertificatePem(), /^-----BEGIN CERTIFICATE-----/, 'nor does exporting the CA certificate');
  assert.equal(none.list().length, 2);
  await assert.rejects(none.identityFor(klose), /no key store passphrase given/);
  await assert.rejects(KeyStore.open(join(dir, 'fresh'), '').init(), /no key store passphrase given/);
  assert.equal(existsSync(join(dir, 'fresh')), false, 'and nothing is created without one');
});

test('expired and not-yet-valid certificates are refused at the signing time', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const store = KeyStore.open(dir, PASS);
  const { ca } = await store.init();
  const now = Date.now();

  const expired = await store.issue(klose, { notBefore: ca.notBefore, notAfter: new Date(now - 3_600_000) });
  await assert.rejects(store.identityFor(klose), (e: Error) => e instanceof KeyStoreError && /"Kai Klose".* is expired at the signing time .*: it is valid from .* to .*/.test(e.message) && e.message.includes(expired.notAfter.toISOString().replace('.000Z', 'Z')));
  // The same certificate is fine for a signing time inside its validity.
  const inside = await store.identityFor(klose, { at: new Date(now - 2 * 3_600_000) });
  assert.equal(new X509Certificate(inside.certificate).fingerprint256.replace(/:/g, '').toLowerCase(), expired.sha256);

  await store.issue(landrat, { notBefore: new Date(now + 30 * DAY), notAfter: new Date(now + 400 * DAY) });
  await assert.rejects(store.identityFor(landrat), /is not yet valid at the signing time/);
  assert.ok(await store.identityFor(landrat, { at: new Date(now + 31 * DAY) }));

  // A freshly issued certificate is checked against `at` as well.
  const later = { ...landrat, name: 'Anna Später' };
  await assert.rejects(store.identityFor(later, { at: new Date(now + 6 * 365 * DAY) }), /cannot issue a demo certificate for signing at .*valid only until/);
  await assert.rejects(store.identityFor(later, { at: new Date(now - 10 * DAY) }), /cannot issue .*the Demo-CA is valid only from/);
  await assert.rejects(store.issue(later, { notBefore: new Date(now), notAfter: new Date(now + 31 * 365 * DAY) }), /Demo-CA itself is valid only/);
  await assert.rejects(store.issue(later, { notBefore: new Date(now), notAfter: new Date(now - 1000) }), /notBefore .* is not before notAfter/);
  assert.deepEqual(readdirSync(join(dir, 'keys', 'signatories')).filter((f) => f.startsWith('anna')), [], 'refused issuance writes nothing');
});

test('certificates from a replaced Demo-CA are reissued', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const store = KeyStore.open(dir, PASS);
  const old = await store.identityFor(klose);
  rmSync(join(dir, 'keys', 'ca.key.pem'));
  assert.deepEqual((await store.identityFor(klose)).certificate, old.certificate, 'an issued certificate signs without the CA key');
  await assert.rejects(store.identityFor(landrat), /Demo-CA's private key .*ca\.key\.pem is not in this store .*--include-ca-key.*a certificate for Stefan Reuß cannot be issued/);
  rmSync(join(dir, 'keys', 'ca.cert.pem'));
  const renewed = await store.identityFor(klose);
  assert.notDeepEqual(renewed.certificate, old.certificate);
  assert.ok(new X509Certificate(renewed.certificate).verify(new X509Certificate(store.caCertificatePem()).publicKey));
});

test('a store from before keeps its RSA Demo-CA; RSA-2048 certificates are re-issued as P-256 on their next use, and the old serial stays known', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const notices: string[] = [];
  const store = KeyStore.open(dir, PASS, undefined, { notice: (m) => notices.push(m), kdfIterations: 2000 });
  await store.init();
  await store.identityFor(klose);
  await store.identityFor(landrat);
  // What such a store looks like: an RSA-2048 Demo-CA (same name) and RSA-2048 signatory certificates, 5 years.
  const keys = join(dir, 'keys');
  const subject = '/C=DE/O=Zielwerk (Demo)/CN=Zielwerk Demo-CA (kein qualifizierter Vertrauensdienst)';
  run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'rsa-ca.key'), '-out', join(keys, 'ca.cert.pem'), '-days', '7300', '-subj', subject, '-addext', 'basicConstraints=critical,CA:TRUE,pathlen:0', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  writeFileSync(join(keys, 'ca.key.pem'), await encryptPrivateKey(createPrivateKey(readFileSync(join(dir, 'rsa-ca.key'))), DEFAULT_DEV_CA_PASSPHRASE, 2000));
  writeFileSync(join(dir, 'leaf.ext'), 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,nonRepudiation\n');
  const oldSerials = new Map<string, string>();
  for (const [i, file] of readdirSync(join(keys, 'signatories')).entries()) {
    const path = join(keys, 'signatories', file);
    const stored = JSON.parse(readFileSync(path, 'utf8'));
    const cn = new X509Certificate(stored.certificate).subject.match(/CN=(.*)/)![1]!;
    run('openssl', ['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, `${i}.key`), '-out', join(dir, `${i}.csr`), '-subj', `/C=DE/CN=${cn}`]);
    run('openssl', ['x509', '-req', '-in', join(dir, `${i}.csr`), '-CA', join(keys, 'ca.cert.pem'), '-CAkey', join(dir, 'rsa-ca.key'), '-set_serial', `0x7${i}AB`, '-days', '1825', '-extfile', join(dir, 'leaf.ext'), '-out', join(dir, `${i}.pem`)]);
    const key = await encryptPrivateKey(createPrivateKey(readFileSync(join(dir, `${i}.key`))), PASS, 2000);
    writeFileSync(path, JSON.stringify({ ...stored, certificate: readFileSync(join(dir, `${i}.pem`), 'utf8'), chain: [readFileSync(join(keys, 'ca.cert.pem'), 'utf8')], privateKey: key }, null, 2));
    oldSerials.set(cn, new X509Certificate(readFileSync(join(dir, `${i}.pem`))).serialNumber);
  }

  // Without the CA key it signs once more with the RSA certificate, and says why it was not re-issued.
  const noCa = KeyStore.open(dir, PASS, '', { notice: (m) => notices.push(m) });
  const asBefore = await noCa.identityFor(landrat);
  assert.equal(new X509Certificate(asBefore.certificate).serialNumber, oldSerials.get(landrat.name));
  assert.match(notices.at(-1)!, /"Stefan Reuß" .* has a RSA 2048 key, which is unsuitable for signatures after 2025; it cannot be re-issued without the Demo-CA key/);

  const current = KeyStore.open(dir, PASS, undefined, { notice: (m) => notices.push(m), kdfIterations: 2000 });
  const started = Date.now();
  const renewed = await current.identityFor(klose);
  const cert = new X509Certificate(renewed.certificate);
  assert.match(notices.at(-1)!, new RegExp(`re-issued the certificate of "Kai Klose": its RSA 2048 key \\(serial ${oldSerials.get(klose.name)}\\) is unsuitable .* ECDSA P-256`));
  assert.notEqual(cert.serialNumber, oldSerials.get(klose.name));
  assert.equal(cert.publicKey.asymmetricKeyType, 'ec');
  assert.ok(new Date(cert.validFrom).getTime() >= started - 86_400_000 - 2000 && new Date(cert.validFrom).getTime() <= started, 'issued today (one day of clock skew)');
  const text = run('openssl', ['x509', '-noout', '-text', '-in', writeTemp(dir, 'renewed.pem', renewed.certificate, true)]);
  assert.match(text, /Signature Algorithm: sha256WithRSAEncryption/, 'signed by the RSA Demo-CA the store keeps');
  assert.match(text, /Public-Key: \(256 bit\)/);
  run('openssl', ['verify', '-x509_strict', '-CAfile', join(keys, 'ca.cert.pem'), join(dir, 'renewed.pem')]);
  assert.match(new X509Certificate(readFileSync(join(keys, 'ca.cert.pem'))).publicKey.asymmetricKeyType!, /^rsa/, 'the CA is kept');
  assert.deepEqual((await current.identityFor(klose)).certificate, renewed.certificate, 'and reused from then on');

  // OCSP still knows the replaced certificate (documents signed with it are checked later), signed by the RSA CA.
  const ca = current.caCertificateDer();
  const oldDer = new Uint8Array(new X509Certificate(readFileSync(join(dir, readdirSync(dir).find((f) => /^\d\.pem$/.test(f) && new X509Certificate(readFileSync(join(dir, f))).serialNumber === oldSerials.get(klose.name))!))).raw);
  for (const der of [oldDer, renewed.certificate]) {
    const answer = await current.respondOcsp(buildOcspRequest(der, ca));
    const finding = checkRevocation(der, ca, { ocsps: [answer], crls: [] }, new Date(Date.now() - 60_000));
    assert.deepEqual([finding.status, finding.source], ['good', 'ocsp'], finding.detail);
  }
});

// ---- PKCS#12 ----

interface Pki {
  dir: string;
  rootPem: string;
  leafPem: string;
  keyPem: string;
}

/** A root CA and a leaf certificate for "Erika Mustermann", made with the openssl CLI. */
function makePki(dir: string, keyType: 'rsa' | 'ec' = 'rsa'): Pki {
  const f = (n: string) => join(dir, n);
  const newkey = keyType === 'rsa' ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  run('openssl', ['req', '-x509', ...newkey, '-nodes', '-keyout', f('root.key'), '-out', f('root.pem'), '-days', '3650', '-subj', '/C=DE/O=Test Trust Center/CN=Test Root CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  run('openssl', ['req', '-new', ...newkey, '-nodes', '-keyout', f('leaf.key'), '-out', f('leaf.csr'), '-subj', '/C=DE/O=Werra-Meißner-Kreis/title=Landrätin/CN=Erika Mustermann', '-utf8']);
  writeFileSync(f('leaf.ext'), 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,nonRepudiation\n');
  run('openssl', ['x509', '-req', '-in', f('leaf.csr'), '-CA', f('root.pem'), '-CAkey', f('root.key'), '-CAcreateserial', '-out', f('leaf.pem'), '-days', '365', '-extfile', f('leaf.ext')]);
  return { dir, rootPem: f('root.pem'), leafPem: f('leaf.pem'), keyPem: f('leaf.key') };
}

function exportP12(pki: Pki, name: string, password: string, extra: string[] = []): Uint8Array {
  const out = join(pki.dir, name);
  run('openssl', ['pkcs12', '-export', '-in', pki.leafPem, '-inkey', pki.keyPem, '-certfile', pki.rootPem, '-out', out, '-passout', `pass:${password}`, ...extra]);
  return new Uint8Array(readFileSync(out));
}

function derOf(pemPath: string): Uint8Array {
  return new Uint8Array(new X509Certificate(readFileSync(pemPath)).raw);
}

function writeTemp(dir: string, name: string, der: Uint8Array, pem = false): string {
  const path = join(dir, name);
  writeFileSync(path, pem ? new X509Certificate(der).toString() : der);
  return path;
}

test('PKCS#12 import: modern (AES-256/PBKDF2) and legacy (RC2-40/3DES, SHA-1 MAC) files, byte-identical certificates', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const pki = makePki(dir);
  const variants: Array<[string, string, string[], RegExp]> = [
    ['modern.p12', 'geheim-2024!', [], /PBES2, PBKDF2, AES-256-CBC/],
    ['legacy.p12', 'geheim-2024!', ['-legacy'], /pbeWithSHA1And40BitRC2-CBC/],
    ['legacy-explicit.p12', 'geheim-2024!', ['-legacy', '-certpbe', 'PBE-SHA1-RC2-40', '-keypbe', 'PBE-SHA1-3DES', '-macalg', 'sha1'], /pbeWithSHA1And3-KeyTripleDES-CBC/],
    ['modern-umlaut.p12', 'Schlüssel-Äöü-ß', [], /AES-256-CBC/],
    ['legacy-umlaut.p12', 'Schlüssel-Äöü-ß', ['-legacy'], /RC2/],
    ['modern-sha512-mac.p12', 'geheim-2024!', ['-macalg', 'sha512'], /MAC: sha512/],
  ];
  for (const [file, password, extra, expectInfo] of variants) {
    const bytes = exportP12(pki, file, password, extra);
    // `pkcs12 -info` reports the algorithms on stderr.
    const probe = spawnSync('openssl', ['pkcs12', '-info', '-noout', '-in', join(dir, file), '-passin', `pass:${password}`, ...(extra.includes('-legacy') ? ['-legacy'] : [])], { encoding: 'utf8' });
    assert.equal(probe.status, 0, probe.stderr);
    const info = probe.stdout + probe.stderr;
    assert.match(info, expectInfo, `${file} is the intended variant`);

    const home = join(dir, `data-${file}`);
    const store = KeyStore.open(home, PASS);
    const imported = await store.importPkcs12(bytes, password, 'Erika Mustermann');
    assert.equal(imported.source, 'pkcs12', file);
    assert.equal(imported.name, 'Erika Mustermann');
    assert.equal(imported.role, 'Landrätin');
    assert.equal(imported.organisation, 'Werra-Meißner-Kreis');
    assert.match(imported.subject, /^CN=Erika Mustermann, title=Landrätin, O=Werra-Meißner-Kreis, C=DE$/);
    assert.match(imported.issuer, /CN=Test Root CA/);

    const id = await store.identityFor({ name: 'Erika Mustermann', role: 'irrelevant', organisation: 'irrelevant' });
    assert.equal(id.source, 'pkcs12', file);
    assert.deepEqual(id.certificate, derOf(pki.leafPem), `${file}: certificate byte-identical to the original`);
    assert.deepEqual(id.chain, [derOf(pki.rootPem)], `${file}: chain`);
    assert.equal(id.privateKey.asymmetricKeyType, 'rsa');
    const data = Buffer.from('probe');
    assert.ok(verify('sha256', data, createPublicKey(readFileSync(pki.keyPem)), sign('sha256', data, id.privateKey)), `${file}: the original key`);

    const stored = readdirSync(join(home, 'keys', 'imported'));
    assert.equal(stored.length, 1);
    const json = readFileSync(join(home, 'keys', 'imported', stored[0]), 'utf8');
    assert.match(JSON.parse(json).privateKey, /^-----BEGIN ENCRYPTED PRIVATE KEY-----/, 're-encrypted with the store passphrase');
    assert.equal(statSync(join(home, 'keys', 'imported', stored[0])).mode & 0o777, 0o600);
    assert.equal(existsSync(join(home, 'keys', 'ca.cert.pem')), false, 'an import needs no Demo-CA');

    // Others still get demo certificates; the import takes precedence only for its name.
    assert.equal((await store.identityFor(klose)).source, 'demo-ca');
    assert.deepEqual(store.list().map((c) => [c.name, c.source]), [
      ['Zielwerk Demo-CA (kein qualifizierter Vertrauensdienst)', 'demo-ca'],
      ['Erika Mustermann', 'pkcs12'],
      ['Kai Klose', 'demo-ca'],
    ]);
  }
});

test('PKCS#12 import of an EC (P-256) key and certificate', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const pki = makePki(dir, 'ec');
  const store = KeyStore.open(join(dir, 'data'), PASS);
  await store.importPkcs12(exportP12(pki, 'ec.p12', 'geheim-2024!'), 'geheim-2024!', 'Erika Mustermann');
  const id = await store.identityFor({ name: 'Erika Mustermann', role: '', organisation: '' });
  assert.equal(id.privateKey.asymmetricKeyType, 'ec');
  assert.deepEqual(id.certificate, derOf(pki.leafPem));
  assert.deepEqual(id.chain, [derOf(pki.rootPem)]);
});

test('PKCS#12 import failures are clear and write nothing', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const pki = makePki(dir);
  const home = join(dir, 'data');
  const store = KeyStore.open(home, PASS);
  const modern = exportP12(pki, 'modern.p12', 'geheim-2024!');
  const legacy = exportP12(pki, 'legacy.p12', 'geheim-2024!', ['-legacy']);

  const refuses = async (bytes: Uint8Array, password: string, pattern: RegExp) => {
    const before = snapshot(home);
    await assert.rejects(store.importPkcs12(bytes, password, 'Erika Mustermann'), (e: Error) => e instanceof KeyStoreError && pattern.test(e.message));
    assert.deepEqual(snapshot(home), before, `nothing written (${pattern})`);
  };
  await refuses(modern, 'falsch', /wrong password/);
  await refuses(legacy, 'falsch', /wrong password/);
  await refuses(new Uint8Array(Buffer.from('this is not a PKCS#12 file, just some text\n')), 'x', /not a PKCS#12 file/);
  await refuses(new Uint8Array(readFileSync(pki.leafPem)), 'x', /not a PKCS#12 file/);
  await refuses(derOf(pki.leafPem), 'x', /not a usable PKCS#12 file|not a PKCS#12 file/);
  await refuses(new Uint8Array(0), 'x', /not a PKCS#12 file/);

  run('openssl', ['pkcs12', '-export', '-nokeys', '-in', pki.leafPem, '-out', join(dir, 'certonly.p12'), '-passout', 'pass:geheim-2024!']);
  await refuses(new Uint8Array(readFileSync(join(dir, 'certonly.p12'))), 'geheim-2024!', /contains no private key/);
  run('openssl', ['pkcs12', '-export', '-nocerts', '-inkey', pki.keyPem, '-out', join(dir, 'keyonly.p12'), '-passout', 'pass:geheim-2024!']);
  await refuses(new Uint8Array(readFileSync(join(dir, 'keyonly.p12'))), 'geheim-2024!', /no certificate matching its private key/);
  // The leaf's key with only the root certificate (openssl refuses to build this, node-forge does not check).
  const mismatch = forge.pkcs12.toPkcs12Asn1(forge.pki.privateKeyFromPem(readFileSync(pki.keyPem, 'utf8')), [forge.pki.certificateFromPem(readFileSync(pki.rootPem, 'utf8'))], 'geheim-2024!');
  await refuses(new Uint8Array(Buffer.from(forge.asn1.toDer(mismatch).getBytes(), 'binary')), 'geheim-2024!', /no certificate matching its private key/);
  await assert.rejects(store.importPkcs12(modern, 'geheim-2024!', '  '), /needs the name/);

  assert.deepEqual(snapshot(home), [], 'the store was never created');
  await store.importPkcs12(modern, 'geheim-2024!', 'Erika Mustermann'); // and the good file still imports
  assert.equal(store.list().length, 1);
});

test('an expired imported certificate is refused for signing', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const pki = makePki(dir);
  const store = KeyStore.open(join(dir, 'data'), PASS);
  const info = await store.importPkcs12(exportP12(pki, 'p.p12', 'geheim-2024!'), 'geheim-2024!', 'Erika Mustermann');
  const person = { name: 'Erika Mustermann', role: 'Landrätin', organisation: 'Werra-Meißner-Kreis' };
  await assert.rejects(store.identityFor(person, { at: new Date(info.notAfter.getTime() + DAY) }), /is expired at the signing time.*import a current certificate/);
  await assert.rejects(store.identityFor(person, { at: new Date(info.notBefore.getTime() - DAY) }), /is not yet valid/);
});

test('one slug for key files, signature files and mails: umlauts transliterated, accents dropped, bounded', async () => {
  const { slug } = await import('../src/store/files.ts');
  assert.equal(slug('Renée Müller-Lüdenscheidt'), 'renee-mueller-luedenscheidt');
  assert.equal(slug('ÄÖÜ Straße'), 'aeoeue-strasse');
  assert.equal(slug('李明', 40, 'person'), 'person');
  assert.equal(slug('x'.repeat(39) + ' y', 40, 'person'), 'x'.repeat(39), 'no hyphen left at the cut');
});
