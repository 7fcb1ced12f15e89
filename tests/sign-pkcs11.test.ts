/**
 * Signing with a key on a PKCS#11 token: SoftHSM2 as a real token (its own token directory),
 * keys generated on it and never extractable, certificates from a test CA (not the demo CA).
 * Checked with independent validators (pdfsig, openssl cms) and `zv verify`. A small C module
 * (tests/fixtures/p11shim.c) wraps SoftHSM2 to lock the token after wrong PINs, as a card does,
 * and to count PIN entries and signatures.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { agreementPdf, AQB_EXAMPLE, zv } from './helpers/signing.ts';
import { issue, testCa, type TestCa } from './helpers/pki.ts';
import { createToken, generateKey, softhsmConfig, SOFTHSM_MODULE, storeCertificate, type Token } from './helpers/softhsm.ts';
import { tempDir } from './helpers/tools.ts';
import { verifyAgreement } from '../src/sign/verify.ts';
import { openKey } from '../src/sign/key-uri.ts';
import { signAgreement } from '../src/sign/sign.ts';
import { SignerError } from '../src/sign/signer.ts';
import { nssTrusting, opensslVerifyAll, pdfsig } from './helpers/validators.ts';
import { envelopeCounts, linkOf, openYear } from './helpers/year.ts';
import { startPkiResponder, type PkiResponder } from './helpers/pki-responder.ts';

const tmp = tempDir('zv-p11-');
let env: { SOFTHSM2_CONF: string };
let token: Token;
let ca: TestCa;
let caFile: string;
let nss: string;
let input: string;
let shim: string;
let pinFile: string;

before(async () => {
  assert.ok(SOFTHSM_MODULE, 'softhsm2 is installed (.ci/run installs it)');
  env = softhsmConfig(tmp.dir);
  token = createToken(env, 'Ministerium');
  ca = await testCa();
  caFile = join(tmp.dir, 'test-ca.pem');
  writeFileSync(caFile, ca.pem);
  nss = nssTrusting(tmp.dir, [{ nick: 'test-ca', pem: ca.pem }]);
  // Keys made on the token; each gets a certificate object with the key's CKA_ID, as card tools store them.
  const keys: [string, string, 'rsa' | 'ec', { bits?: number; curve?: 'P-256' | 'P-384' }][] = [
    ['klose', '01', 'rsa', { bits: 3072 }],
    ['klose-p256', '02', 'ec', { curve: 'P-256' }],
    ['klose-p384', '03', 'ec', { curve: 'P-384' }],
  ];
  for (const [label, id, type, o] of keys) {
    const spki = generateKey(token, { label, id, type, ...o });
    storeCertificate(token, { label, id, der: (await issue(ca, { cn: 'Kai Klose', o: 'Hessisches Ministerium für Soziales und Integration', publicKey: spki })).der });
  }
  // A key without a certificate on the token (given with --certificate), and one whose certificate has expired.
  const bare = generateKey(token, { label: 'ohne-zertifikat', id: '04', type: 'rsa' });
  writeFileSync(join(tmp.dir, 'bare.pem'), (await issue(ca, { cn: 'Kai Klose', publicKey: bare })).pem);
  const old = generateKey(token, { label: 'abgelaufen', id: '05', type: 'rsa' });
  storeCertificate(token, { label: 'abgelaufen', id: '05', der: (await issue(ca, { cn: 'Kai Klose', publicKey: old, notBefore: new Date(Date.now() - 400 * 86_400_000), notAfter: new Date(Date.now() - 86_400_000) })).der });
  input = join(tmp.dir, 'aqb.pdf');
  writeFileSync(input, await agreementPdf(AQB_EXAMPLE));
  pinFile = join(tmp.dir, 'pin');
  writeFileSync(pinFile, `${token.pin}\n`, { mode: 0o600 });
  shim = join(tmp.dir, 'p11shim.so');
  execFileSync('cc', ['-shared', '-fPIC', '-O2', '-o', shim, new URL('./fixtures/p11shim.c', import.meta.url).pathname, '-ldl']);
});
after(() => process.env.KEEP_TMP ? console.log(tmp.dir) : tmp.cleanup());

const signArgs = (out: string, key: string, extra: string[] = []) => ['sign', input, '--signatory', 'ministry:1', '--out', out, '--data', join(tmp.dir, 'data'), '--key', key, ...extra];

describe('zv sign --key pkcs11:…', () => {
  for (const [object, extra, label] of [
    ['klose', [], 'RSA-3072, PKCS#1 v1.5'],
    ['klose', ['--rsa-pss'], 'RSA-3072, RSASSA-PSS'],
    ['klose-p256', [], 'ECDSA P-256'],
    ['klose-p384', [], 'ECDSA P-384'],
  ] as const) {
    test(`${label}: certificate from the token; zv verify, pdfsig and openssl cms accept the signature`, async () => {
      const out = join(tmp.dir, `signed-${object}-${extra.length}.pdf`);
      const r = await zv(signArgs(out, token.uri(object, `pin-source=file:${pinFile}`), [...extra]), env);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /signed sig-ministry-1: Kai Klose, Staatsminister/);
      const report = await verifyAgreement(readFileSync(out), { trust: [ca.der], skipReproduction: true });
      assert.equal(report.signatures[0]!.status, 'valid', JSON.stringify(report.signatures[0]!.problems));
      assert.match(report.signatures[0]!.certificate!.issuer, /Zielwerk Test-CA/);
      const [sig] = pdfsig(out, nss);
      assert.deepEqual({ valid: sig!.valid, trusted: sig!.trusted, type: sig!.type }, { valid: true, trusted: true, type: 'ETSI.CAdES.detached' });
      const [cms] = opensslVerifyAll(readFileSync(out), ca.pem, tmp.dir);
      assert.equal(cms!.status, 0, cms!.stderr);
    });
  }

  test('a token without a certificate object: --certificate gives it; the PIN from ZV_PKCS11_PIN', async () => {
    const out = join(tmp.dir, 'signed-bare.pdf');
    const without = await zv(signArgs(out, token.uri('ohne-zertifikat')), { ...env, ZV_PKCS11_PIN: token.pin });
    assert.equal(without.code, 1);
    assert.match(without.stderr, /kein Zertifikat zum Schlüssel „ohne-zertifikat“; geben Sie es mit --certificate <pem> an/);
    const r = await zv(signArgs(out, token.uri('ohne-zertifikat'), ['--certificate', join(tmp.dir, 'bare.pem'), '--chain', caFile]), { ...env, ZV_PKCS11_PIN: token.pin });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(pdfsig(out, nss)[0]!.valid, true);
    assert.equal(opensslVerifyAll(readFileSync(out), ca.pem, tmp.dir)[0]!.status, 0);
  });

  test('refusals name the problem and write nothing: wrong PIN, unknown token, unknown object, no PIN, bad URI, foreign or expired certificate', async () => {
    const out = join(tmp.dir, 'never.pdf');
    // Two through the CLI (exit 1, the message, no file) …
    for (const [what, args, message] of [
      ['wrong PIN', signArgs(out, token.uri('klose', 'pin-value=000000')), /^refused: Die PIN für den Token „Ministerium“ ist falsch\. Es wurde nichts unterzeichnet\. — nothing was written/m],
      ['an expired certificate', signArgs(out, token.uri('abgelaufen', `pin-value=${token.pin}`)), /^refused: the certificate of .*CN=Kai Klose.* expired on .* — nothing was written/m],
    ] as const) {
      const r = await zv([...args], env);
      assert.equal(r.code, 1, `${what}: ${r.stderr}`);
      assert.match(r.stderr, message, what);
      assert.ok(!existsSync(out), `${what}: no output file`);
    }
    // … the others through the same calls in this process (the module is loaded once here).
    process.env.SOFTHSM2_CONF = env.SOFTHSM2_CONF;
    const pdf = readFileSync(input);
    const attempt = async (uri: string, opts: { certificate?: string } = {}) => {
      let key;
      try {
        key = await openKey(uri, { ...opts, env: {} });
        await signAgreement(pdf, { signatory: { party: 'ministry', index: 1 }, signer: key.signer! });
        return 'signed';
      } catch (e) {
        if (!(e instanceof SignerError)) throw e;
        return e.message;
      } finally {
        await key?.dispose();
      }
    };
    const cases: [string, () => Promise<string>, RegExp][] = [
      ['unknown token', () => attempt(token.uri('klose', 'pin-value=1').replace('token=Ministerium', 'token=Landkreis')), /Kein Token „Landkreis“ gefunden \(vorhanden: „Ministerium“\)/],
      ['unknown object', () => attempt(token.uri('niemand', `pin-value=${token.pin}`)), /Kein Schlüssel „niemand“ auf dem Token „Ministerium“ gefunden/],
      ['no PIN anywhere', () => attempt(token.uri('klose')), /Keine PIN für den PKCS#11-Token/],
      ['unknown URI attribute', () => attempt(`${token.uri('klose')}&pin-sorce=file:${pinFile}`), /unbekannter Parameter „pin-sorce“/],
      ['no module', () => attempt('pkcs11:token=Ministerium;object=klose?pin-value=1'), /module-path=<Pfad zur \.so-Bibliothek> fehlt/],
      ['a module that is not one', () => attempt(token.uri('klose', 'pin-value=1').replace(SOFTHSM_MODULE!, pinFile)), /Das PKCS#11-Modul .* lässt sich nicht laden/],
      ['a certificate of another key', () => attempt(token.uri('klose', `pin-value=${token.pin}`), { certificate: join(tmp.dir, 'bare.pem') }), /Das Zertifikat \(.*CN=Kai Klose.*\) gehört nicht zum Schlüssel „klose“/],
      ['not a key URI', () => attempt('pkcs12:/tmp/x.p12'), /unbekannte Schlüsselangabe/],
    ];
    for (const [what, run, message] of cases) assert.match(await run(), message, what);
    // And the key itself works in this process too.
    assert.equal(await attempt(token.uri('klose', `pin-value=${token.pin}`)), 'signed');
    // While one signer holds the token, a second one (even with the wrong PIN) is refused as busy — PKCS#11
    // login state is per application, so it would otherwise get in without its PIN being checked.
    const first = await openKey(token.uri('klose', `pin-value=${token.pin}`), { env: {} });
    try {
      assert.match(await attempt(token.uri('klose', 'pin-value=000000')), /wird gerade für eine andere Unterzeichnung verwendet/);
      assert.match(await attempt(token.uri('klose-p256', `pin-value=${token.pin}`)), /wird gerade für eine andere Unterzeichnung verwendet/);
    } finally {
      await first.dispose();
    }
    assert.match(await attempt(token.uri('klose', 'pin-value=000000')), /Die PIN für den Token „Ministerium“ ist falsch/);
  });

  test('a locked token (a card after three wrong PINs) is refused as locked, even with the right PIN, before any signature', async () => {
    const state = join(tmp.dir, 'shim-state');
    const log = join(tmp.dir, 'shim-lock.log');
    rmSync(state, { force: true });
    const shimEnv = { ...env, P11SHIM_MODULE: SOFTHSM_MODULE!, P11SHIM_STATE: state, P11SHIM_LOG: log, P11SHIM_LOCK_AFTER: '3' };
    const viaShim = (pin: string) => token.uri('klose', `pin-value=${pin}`).replace(SOFTHSM_MODULE!, shim);
    const out = join(tmp.dir, 'locked.pdf');
    for (let i = 1; i <= 3; i++) {
      const r = await zv(signArgs(out, viaShim('999999')), shimEnv);
      assert.equal(r.code, 1);
      assert.match(r.stderr, i < 3 ? /PIN für den Token „Ministerium“ ist falsch/ : /ist gesperrt \(zu viele falsche PIN-Eingaben\)/, `attempt ${i}`);
    }
    const right = await zv(signArgs(out, viaShim(token.pin)), shimEnv);
    assert.equal(right.code, 1);
    assert.match(right.stderr, /Der Token „Ministerium“ ist gesperrt/);
    assert.ok(!existsSync(out));
    // The locked flag is read before logging in: the right PIN was not even tried.
    assert.equal(readFileSync(log, 'utf8').split('\n').filter((l) => l === 'C_Login').length, 3);
    assert.ok(!readFileSync(log, 'utf8').includes('C_Sign'));
  });
});

describe('the minister signs the year with one PIN entry (zv envelope sign-ministry --key pkcs11:…)', () => {
  let data: string;
  let ids: number[];
  let pki: PkiResponder;
  before(async () => {
    data = join(tmp.dir, 'year');
    // pdfsig (NSS) asks the OCSP responder the county's key-store certificate names: it answers from this data directory.
    [ids, pki] = await Promise.all([openYear(data), startPkiResponder()]);
  });
  after(() => pki?.close());

  test('26 agreements, one C_Login, 26 C_Sign; every PDF verifies; the county then countersigns with the key store', async () => {
    assert.equal(ids.length, 26);
    const log = join(tmp.dir, 'shim-batch.log');
    const shimEnv = { ...env, P11SHIM_MODULE: SOFTHSM_MODULE!, P11SHIM_STATE: join(tmp.dir, 'shim-batch-state'), P11SHIM_LOG: log };
    const key = token.uri('klose', `pin-source=file:${pinFile}`).replace(SOFTHSM_MODULE!, shim);
    const r = await zv(['envelope', 'sign-ministry', '--signatory', 'Kai Klose', '--year', '2023', '--yes', '--data', data, '--key', key], shimEnv, 180_000);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /26 of 26 signed/);
    assert.match(r.stderr, /Schlüssel: Signaturkarte\/HSM \(PKCS#11\): Token „Ministerium“, Schlüssel „klose“/);
    const calls = readFileSync(log, 'utf8').trim().split('\n');
    assert.equal(calls.filter((c) => c === 'C_Login').length, 1, 'one PIN entry for the batch');
    assert.equal(calls.filter((c) => c === 'C_Sign').length, 26);
    assert.deepEqual(envelopeCounts(data), { open: 26, completed: 0, ministryPending: 0, ministrySigned: 26 });

    // Werra-Meißner-Kreis countersigns through its link (key store): the ministry's PKCS#11 signature stays valid.
    const link = linkOf(data, 'nicole.rathgeber@werra-meissner-kreis.example');
    const s = await zv(['envelope', 'sign', link, '--data', data], { ZV_BASE_URL: pki.baseUrlFor(data) });
    assert.equal(s.code, 0, s.stderr);
    const final = join(data, 'signatures', '2023', 'aqb-2023-werra-meissner-kreis', 'v1', 'aqb-2023-werra-meissner-kreis.pdf');
    const sigs = pdfsig(final, nssTrusting(tmp.dir, [{ nick: 'test-ca', pem: ca.pem }, { nick: 'demo', pem: readFileSync(join(data, 'keys', 'ca.cert.pem'), 'utf8') }]));
    assert.deepEqual(sigs.map((x) => [x.field, x.valid, x.trusted]), [['sig-ministry-1', true, true], ['sig-partner-1', true, true]]);
    const v = await zv(['verify', final, '--trust', caFile, '--trust', join(data, 'keys', 'ca.cert.pem'), '--complete']);
    assert.equal(v.code, 0, v.stdout);
  });

  test('a wrong PIN for the batch signs nothing and leaves every envelope waiting', async () => {
    const other = join(tmp.dir, 'year-wrong-pin');
    await openYear(other, ['landkreis-fulda', 'landkreis-kassel']);
    const r = await zv(['envelope', 'sign-ministry', '--signatory', 'Kai Klose', '--year', '2023', '--yes', '--data', other, '--key', token.uri('klose', 'pin-value=111111')], env);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /PIN für den Token „Ministerium“ ist falsch/);
    assert.deepEqual(envelopeCounts(other), { open: 2, completed: 0, ministryPending: 2, ministrySigned: 0 });
  });
});

