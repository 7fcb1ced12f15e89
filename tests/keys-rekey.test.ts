/**
 * Keys the server holds: PBKDF2-HMAC-SHA256 at 600 000 iterations in standard encrypted PKCS#8
 * (OpenSSL reads it), the Demo-CA key under its own passphrase, a store from before 2026-12
 * migrated on first use and by `zv keys rekey`, earlier signatures still verifying, and backups
 * without the CA key unless --include-ca-key.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { unzipSync } from 'fflate';
import { KeyStore } from '../src/sign/keys.ts';
import { RevocationFetcher } from '../src/sign/revocation.ts';
import { kdfIterations } from '../src/sign/key-encryption.ts';
import { verifyAgreement } from '../src/sign/verify.ts';
import { agreementPdf, AQB_EXAMPLE, PASSPHRASE, signWith, zv } from './helpers/signing.ts';
import { tempDir } from './helpers/tools.ts';
import { openService, openYear } from './helpers/year.ts';

// This file checks the production cost, whatever npm test sets for the rest of the suite.
delete process.env.ZV_KEY_KDF_ITERATIONS;
const FULL = { ZV_KEY_KDF_ITERATIONS: undefined };

const CA_PASSPHRASE = 'the demo CA has its own secret';
const klose = { name: 'Kai Klose', role: 'Staatsminister', organisation: 'Hessisches Ministerium für Arbeit, Integration, Jugend und Soziales' };
const newcomer = { name: 'Ines Neu', role: 'Landrätin', organisation: 'Landkreis Kassel' };

/** Can OpenSSL read the key file with this passphrase? (the files must not depend on Zielwerk) */
function opensslReads(pem: string, passphrase: string): boolean {
  const r = spawnSync('openssl', ['pkey', '-passin', 'env:P', '-noout'], { input: pem, env: { ...process.env, P: passphrase } });
  return r.status === 0;
}

/**
 * Turns a store into what the key store wrote before 2026-12: every key exported by node with its
 * fixed 2 048 PBKDF2 iterations under the store passphrase (the CA key too), no keystore.json.
 */
function makeOldFormat(dataDir: string): void {
  const keys = join(dataDir, 'keys');
  const old = (pem: string, passphrase: string) => String(createPrivateKey({ key: pem, passphrase }).export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: PASSPHRASE }));
  writeFileSync(join(keys, 'ca.key.pem'), old(readFileSync(join(keys, 'ca.key.pem'), 'utf8'), CA_PASSPHRASE));
  for (const file of readdirSync(join(keys, 'signatories'))) {
    const path = join(keys, 'signatories', file);
    const stored = JSON.parse(readFileSync(path, 'utf8'));
    writeFileSync(path, JSON.stringify({ ...stored, privateKey: old(stored.privateKey, PASSPHRASE) }, null, 2) + '\n');
  }
  rmSync(join(keys, 'keystore.json'));
}

test('a store from before 2026-12 is migrated on first use: stronger KDF, CA key under its own passphrase, same certificates, earlier signatures still verify', async (t) => {
  const tmp = tempDir('zv-rekey-');
  t.after(tmp.cleanup);
  const store = KeyStore.open(tmp.dir, PASSPHRASE, CA_PASSPHRASE);
  const { ca } = await store.init();
  const before = await store.identityFor(klose);
  const signedBefore = (await signWith(store, await agreementPdf(AQB_EXAMPLE), 'ministry:1')).bytes;
  makeOldFormat(tmp.dir);

  const notices: string[] = [];
  const old = KeyStore.open(tmp.dir, PASSPHRASE, CA_PASSPHRASE, { notice: (m) => notices.push(m) });
  const status = old.status();
  assert.equal(status.version, 1);
  // The CA, Kai Klose as given here, and Kai Klose as the agreement prints him (role and organisation differ).
  assert.deepEqual(status.keys.map((k) => [k.kind, k.protection.description, k.upToDate]), [
    ['ca', 'PBKDF2-HMAC-SHA256, 2048 Iterationen, aes-256-cbc', false],
    ['signatory', 'PBKDF2-HMAC-SHA256, 2048 Iterationen, aes-256-cbc', false],
    ['signatory', 'PBKDF2-HMAC-SHA256, 2048 Iterationen, aes-256-cbc', false],
  ]);
  assert.ok(opensslReads(readFileSync(join(tmp.dir, 'keys', 'ca.key.pem'), 'utf8'), PASSPHRASE), 'before: the CA key is under the store passphrase');

  const after = await old.identityFor(klose);
  assert.deepEqual(after.certificate, before.certificate, 'the same certificate, not a reissue');
  assert.equal(notices.length, 1);
  assert.match(notices[0]!, /re-encrypted 2 signatory key\(s\) and the Demo-CA key \(now under ZV_CA_PASSPHRASE\) with PBKDF2-HMAC-SHA256, 600000 Iterationen, aes-256-cbc; before: 3× PBKDF2-HMAC-SHA256, 2048 Iterationen/);
  const migrated = old.status();
  assert.equal(migrated.version, 2);
  assert.ok(migrated.keys.every((k) => k.upToDate && k.protection.iterations === 600_000), JSON.stringify(migrated.keys));
  const caKey = readFileSync(join(tmp.dir, 'keys', 'ca.key.pem'), 'utf8');
  assert.ok(opensslReads(caKey, CA_PASSPHRASE), 'OpenSSL reads the re-encrypted CA key with its own passphrase');
  assert.equal(opensslReads(caKey, PASSPHRASE), false, 'and no longer with the store passphrase');
  for (const file of readdirSync(join(tmp.dir, 'keys', 'signatories'))) {
    assert.ok(opensslReads(JSON.parse(readFileSync(join(tmp.dir, 'keys', 'signatories', file), 'utf8')).privateKey, PASSPHRASE), file);
  }
  assert.equal(new X509Certificate(old.caCertificatePem()).fingerprint256.replace(/:/g, '').toLowerCase(), ca.sha256, 'the trust anchor is unchanged');

  // The signature made before the migration still verifies; a new one with the migrated key as well.
  const trust = { trust: [old.caCertificateDer()], skipReproduction: true, revocation: new RevocationFetcher({ local: old.localRevocation() }) };
  const earlier = await verifyAgreement(signedBefore, trust);
  assert.deepEqual(earlier.signatures.map((s) => s.indication), ['TOTAL_PASSED']);
  const signedAfter = (await signWith(old, signedBefore, 'partner:1')).bytes;
  const both = await verifyAgreement(signedAfter, trust);
  assert.deepEqual(both.signatures.map((s) => [s.signatory, s.indication]), [['ministry:1', 'TOTAL_PASSED'], ['partner:1', 'TOTAL_PASSED']]);
});

test('ZV_KEY_KDF_ITERATIONS lowers the cost only outside production; keys written so are re-encrypted with the full count on first use', async (t) => {
  assert.equal(kdfIterations({}), 600_000);
  assert.equal(kdfIterations({ ZV_KEY_KDF_ITERATIONS: '2000' }), 2000);
  assert.equal(kdfIterations({ ZV_KEY_KDF_ITERATIONS: '2000', ZV_ENV: 'production' }), 600_000);
  assert.throws(() => kdfIterations({ ZV_KEY_KDF_ITERATIONS: '10' }), /ZV_KEY_KDF_ITERATIONS must be a whole number from 1000 to 600000/);
  const tmp = tempDir('zv-rekey-');
  t.after(tmp.cleanup);
  const cheap = KeyStore.open(tmp.dir, PASSPHRASE, CA_PASSPHRASE, { kdfIterations: 2000 });
  const before = await cheap.identityFor(klose);
  assert.ok(cheap.status().keys.every((k) => k.protection.iterations === 2000 && !k.upToDate));
  const notices: string[] = [];
  const full = KeyStore.open(tmp.dir, PASSPHRASE, CA_PASSPHRASE, { notice: (m) => notices.push(m) });
  assert.deepEqual((await full.identityFor(klose)).certificate, before.certificate);
  assert.match(notices.join('\n'), /2 key\(s\) were below current guidance; re-encrypted all with PBKDF2-HMAC-SHA256, 600000 Iterationen/);
  assert.ok(full.status().keys.every((k) => k.upToDate));
});

test('an old store in production without ZV_CA_PASSPHRASE is refused with the remedy, and nothing is rewritten', async (t) => {
  const tmp = tempDir('zv-rekey-');
  t.after(tmp.cleanup);
  const store = KeyStore.open(tmp.dir, PASSPHRASE, CA_PASSPHRASE);
  await store.identityFor(klose);
  makeOldFormat(tmp.dir);
  const files = () => readdirSync(join(tmp.dir, 'keys'), { recursive: true, encoding: 'utf8' }).sort().map((f) => [f, existsSync(join(tmp.dir, 'keys', f)) && !f.endsWith('signatories') && !f.endsWith('imported') ? readFileSync(join(tmp.dir, 'keys', f), 'utf8') : '']);
  const snapshot = files();
  await assert.rejects(KeyStore.open(tmp.dir, PASSPHRASE, '').identityFor(klose), /format before 2026-12: its Demo-CA key is encrypted under the store passphrase with only 2 048 PBKDF2 iterations\. Set ZV_CA_PASSPHRASE .* run "zv keys rekey"/);
  // A wrong store passphrase: the migration decrypts everything before writing anything.
  await assert.rejects(KeyStore.open(tmp.dir, 'a wrong store passphrase', CA_PASSPHRASE).identityFor(klose), /cannot decrypt the private key in .*ca\.key\.pem: wrong ZV_KEY_PASSPHRASE/);
  assert.deepEqual(files(), snapshot);

  // In dev mode without ZV_CA_PASSPHRASE the public default is used, and said once when the CA key is used.
  const heard: string[] = [];
  const dev = KeyStore.open(join(tmp.dir, 'dev'), PASSPHRASE, undefined, { notice: (m) => heard.push(m) });
  await dev.identityFor(klose);
  await dev.identityFor(newcomer);
  assert.equal(heard.filter((m) => /ZV_CA_PASSPHRASE is not set: the Demo-CA key is encrypted with the public default development passphrase/.test(m)).length, 1, heard.join('\n'));
});

test('zv keys rekey: new passphrases through environment variables; the old ones stop working; zv keys list reports the protection', async (t) => {
  const tmp = tempDir('zv-rekey-');
  t.after(tmp.cleanup);
  const env = { ZV_CA_PASSPHRASE: CA_PASSPHRASE };
  await KeyStore.open(tmp.dir, PASSPHRASE, CA_PASSPHRASE).identityFor(klose);
  makeOldFormat(tmp.dir);
  const listed = await zv(['keys', 'list', '--data', tmp.dir], { ...env, ...FULL });
  assert.equal(listed.code, 0, listed.stderr);
  assert.match(listed.stdout, /key protection: 0 of 2 private keys with PBKDF2-HMAC-SHA256 ≥ 600 000 iterations; keys\/ca\.key\.pem \(PBKDF2-HMAC-SHA256, 2048 Iterationen, aes-256-cbc\), .*run zv keys rekey/);
  assert.match(listed.stdout, /format before 2026-12/);

  const rekey = await zv(['keys', 'rekey', '--new-passphrase-env', 'NEW_STORE', '--new-ca-passphrase-env', 'NEW_CA', '--data', tmp.dir], { ...env, ...FULL, NEW_STORE: 'a brand-new store secret', NEW_CA: 'a brand-new CA secret' });
  assert.equal(rekey.code, 0, rekey.stderr);
  assert.match(rekey.stdout, /re-encrypted 1 signatory key\(s\) and the Demo-CA key with PBKDF2-HMAC-SHA256, 600000 Iterationen, aes-256-cbc \(migrated from the format before 2026-12/);
  assert.match(rekey.stdout, /set ZV_KEY_PASSPHRASE to the value of \$NEW_STORE and ZV_CA_PASSPHRASE to the value of \$NEW_CA/);

  await assert.rejects(KeyStore.open(tmp.dir, PASSPHRASE, CA_PASSPHRASE).identityFor(klose), /wrong ZV_KEY_PASSPHRASE/);
  const renewed = KeyStore.open(tmp.dir, 'a brand-new store secret', 'a brand-new CA secret');
  assert.ok(await renewed.identityFor(klose));
  assert.ok(await renewed.identityFor(newcomer), 'the CA key works under its new passphrase');
  const relisted = await zv(['keys', 'list', '--data', tmp.dir], { ...FULL, ZV_KEY_PASSPHRASE: 'a brand-new store secret', ZV_CA_PASSPHRASE: 'a brand-new CA secret' });
  assert.match(relisted.stdout, /key protection: 3 of 3 private keys with PBKDF2-HMAC-SHA256 ≥ 600 000 iterations\n/);

  const sameAsStore = await zv(['keys', 'rekey', '--new-ca-passphrase-env', 'NEW_CA', '--data', tmp.dir], { ...FULL, ZV_KEY_PASSPHRASE: 'a brand-new store secret', ZV_CA_PASSPHRASE: 'a brand-new CA secret', NEW_CA: 'a brand-new store secret' });
  assert.equal(sameAsStore.code, 1);
  assert.match(sameAsStore.stderr, /passphrase of its own/);
});

test('archive backup leaves the CA key out unless --include-ca-key; the restored instance signs with issued certificates and explains why it cannot issue new ones', async (t) => {
  const tmp = tempDir('zv-rekey-');
  t.after(tmp.cleanup);
  const data = join(tmp.dir, 'data');
  await openYear(data, ['werra-meissner-kreis']);
  const svc = openService(data);
  try {
    await svc.keys.init();
    await svc.keys.identityFor(klose);
  } finally {
    svc.close();
  }
  const plain = join(tmp.dir, 'plain.zip');
  const full = join(tmp.dir, 'full.zip');
  const b1 = await zv(['archive', 'backup', plain, '--data', data]);
  assert.equal(b1.code, 0, b1.stderr);
  assert.match(b1.stdout, /the Demo-CA key \(keys\/ca\.key\.pem\) is not in the backup: add --include-ca-key/);
  const b2 = await zv(['archive', 'backup', full, '--include-ca-key', '--data', data]);
  assert.equal(b2.code, 0, b2.stderr);
  assert.doesNotMatch(b2.stdout, /not in the backup/);
  const names = (zip: string) => Object.keys(unzipSync(new Uint8Array(readFileSync(zip)))).filter((n) => n.startsWith('keys/')).sort();
  assert.deepEqual(names(plain).filter((n) => n.endsWith('.pem')), ['keys/ca.cert.pem']);
  assert.deepEqual(names(full).filter((n) => n.endsWith('.pem')), ['keys/ca.cert.pem', 'keys/ca.key.pem']);
  assert.deepEqual(names(full).filter((n) => !n.endsWith('ca.key.pem')), names(plain), 'otherwise the same keys');

  const restored = join(tmp.dir, 'restored');
  const r = await zv(['archive', 'restore', plain, '--data', restored]);
  assert.equal(r.code, 0, r.stderr);
  const check = await zv(['archive', 'check', '--data', restored]);
  assert.equal(check.code, 0, check.stdout + check.stderr);
  const keys = KeyStore.open(restored, PASSPHRASE);
  assert.equal(keys.status().caKeyMissing, true);
  assert.ok(await keys.identityFor(klose), 'an issued certificate still signs');
  await assert.rejects(keys.identityFor(newcomer), /Demo-CA's private key .* is not in this store \(backups leave it out unless made with --include-ca-key\), so a certificate for Ines Neu cannot be issued/);
});
