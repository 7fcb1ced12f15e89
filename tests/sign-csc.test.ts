/**
 * Remote signing over the CSC API v2 against the test service in tests/helpers/csc-server.ts
 * (spec-shaped requests, responses and error objects, RSA keys it generates under its own test
 * CA): a single signature, the minister's batch of 26 with one credentials/authorize, a service
 * failing at document 13 and the retry, and every refusal with the link still usable.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { agreementPdf, AQB_EXAMPLE, zv } from './helpers/signing.ts';
import { startCscServer, type CscTestServer } from './helpers/csc-server.ts';
import { tempDir } from './helpers/tools.ts';
import { nssTrusting, opensslVerifyAll, pdfsig } from './helpers/validators.ts';
import { envelopeCounts, linkOf, openService, openYear } from './helpers/year.ts';
import { startPkiResponder, type PkiResponder } from './helpers/pki-responder.ts';
import { openKey } from '../src/sign/key-uri.ts';
import { SignerError } from '../src/sign/signer.ts';

const tmp = tempDir('zv-csc-');
let csc: CscTestServer;
let caFile: string;
let env: Record<string, string>;

before(async () => {
  csc = await startCscServer({
    credentials: [
      { id: 'klose-qes', owner: 'ministerium', cn: 'Kai Klose', o: 'Hessisches Ministerium für Soziales und Integration', pin: '4711', otp: '583920' },
      { id: 'rathgeber-qes', owner: 'rathgeber', cn: 'Nicole Rathgeber', o: 'Werra-Meißner-Kreis', pin: '2468' },
      { id: 'falsches-zertifikat', owner: 'rathgeber', cn: 'Nicole Rathgeber', pin: '2468', wrongCertificate: true },
      { id: 'abgelaufen', owner: 'rathgeber', cn: 'Nicole Rathgeber', pin: '2468', expired: true },
      { id: 'nur-im-browser', owner: 'rathgeber', cn: 'Nicole Rathgeber', pin: '2468', authMode: 'oauth2code' },
    ],
    users: { ministerium: 'signierbuero-geheim', rathgeber: 'kreis-geheim' },
  });
  caFile = join(tmp.dir, 'tsp-ca.pem');
  writeFileSync(caFile, csc.ca.pem);
  env = { ZV_CSC_URL: csc.base, ZV_CSC_USER: 'ministerium', ZV_CSC_PASSWORD: 'signierbuero-geheim', ZV_CSC_PIN: '4711', ZV_CSC_OTP: '583920' };
});
after(async () => {
  await csc.close();
  tmp.cleanup();
});

/** A port nothing listens on (bound once, then closed). */
async function closedPort(): Promise<number> {
  const { createServer } = await import('node:net');
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  return port;
}

const authorizeCalls = () => csc.log.filter((l) => l.path === 'credentials/authorize' && l.status === 200);

test('zv sign --key csc:…: credentials/info with the chain, one credentials/authorize (PIN and OTP), one signHash; pdfsig, openssl cms and zv verify accept it', async () => {
  const input = join(tmp.dir, 'aqb.pdf');
  writeFileSync(input, await agreementPdf(AQB_EXAMPLE));
  const out = join(tmp.dir, 'signed.pdf');
  const from = csc.log.length;
  const r = await zv(['sign', input, '--signatory', 'ministry:1', '--out', out, '--data', join(tmp.dir, 'data'), '--key', 'csc:klose-qes'], env);
  assert.equal(r.code, 0, r.stderr);
  const calls = csc.log.slice(from);
  assert.deepEqual(calls.map((c) => `${c.path} ${c.status}`), ['auth/login 200', 'credentials/info 200', 'credentials/authorize 200', 'signatures/signHash 200']);
  assert.deepEqual({ ...calls[1]!.body }, { credentialID: 'klose-qes', certificates: 'chain', certInfo: true, authInfo: true, lang: 'de' });
  const auth = calls[2]!.body as { numSignatures: number; hashes: string[]; hashAlgorithmOID: string; authData: { id: string; value: string }[] };
  assert.equal(auth.numSignatures, 1);
  assert.equal(auth.hashes.length, 1);
  assert.equal(auth.hashAlgorithmOID, '2.16.840.1.101.3.4.2.1');
  assert.deepEqual(auth.authData, [{ id: 'PIN', value: '4711' }, { id: 'OTP', value: '583920' }]);
  const sign = calls[3]!.body as { hashes: string[]; signAlgo: string; SAD: string };
  assert.deepEqual(sign.hashes, auth.hashes, 'signHash asks for exactly the authorised hash');
  assert.equal(sign.signAlgo, '1.2.840.113549.1.1.1');

  const [sig] = pdfsig(out, nssTrusting(tmp.dir, [{ nick: 'tsp', pem: csc.ca.pem }]));
  assert.deepEqual({ valid: sig!.valid, trusted: sig!.trusted, signer: sig!.signer }, { valid: true, trusted: true, signer: 'Kai Klose' });
  assert.equal(opensslVerifyAll(readFileSync(out), csc.ca.pem, tmp.dir)[0]!.status, 0);
  const v = await zv(['verify', out, '--trust', caFile, '--json']);
  assert.equal(v.code, 0, v.stdout);
  const report = JSON.parse(v.stdout);
  assert.equal(report.signatures[0].status, 'valid', JSON.stringify(report.signatures[0].problems));
});

describe('the minister signs the year remotely (zv envelope sign-ministry --key csc:…)', () => {
  let data: string;
  before(async () => {
    data = join(tmp.dir, 'year');
    assert.equal((await openYear(data)).length, 26);
  });
  const batch = () => zv(['envelope', 'sign-ministry', '--signatory', 'Kai Klose', '--year', '2023', '--yes', '--data', data, '--key', 'csc:klose-qes'], env, 180_000);

  test('the service fails at document 13: 12 signed, 14 untouched and reported; the retry authorises the 14 once and completes them', async () => {
    csc.failAtSignHash(13);
    const before = authorizeCalls().length;
    const first = await batch();
    csc.failAtSignHash(undefined);
    assert.equal(first.code, 1, first.stdout);
    assert.match(first.stdout, /12 of 26 signed; 14 untouched — run the command again to sign them/);
    assert.match(first.stdout, /NOT SIGNED envelope \d+: .*temporarily unavailable/);
    assert.equal(authorizeCalls().length - before, 1, 'one authorisation for the whole batch');
    const auth = authorizeCalls().at(-1)!.body as { numSignatures: number; hashes: string[] };
    assert.equal(auth.numSignatures, 26);
    assert.equal(new Set(auth.hashes).size, 26, 'all 26 hashes, distinct');
    assert.deepEqual(envelopeCounts(data), { open: 26, completed: 0, ministryPending: 14, ministrySigned: 12 });

    const retry = await batch();
    assert.equal(retry.code, 0, retry.stdout);
    assert.match(retry.stdout, /14 of 14 signed/);
    assert.equal((authorizeCalls().at(-1)!.body as { numSignatures: number }).numSignatures, 14);
    assert.deepEqual(envelopeCounts(data), { open: 26, completed: 0, ministryPending: 0, ministrySigned: 26 });
    const signHash = csc.log.filter((l) => l.path === 'signatures/signHash');
    assert.equal(signHash.filter((l) => l.status === 200).length >= 26, true);
  });

  test('every ministry signature of the year verifies with the provider\'s CA (zv verify, pdfsig)', async () => {
    const nss = nssTrusting(tmp.dir, [{ nick: 'tsp', pem: csc.ca.pem }]);
    const steps = join(data, 'signatures', '2023');
    const { readdirSync } = await import('node:fs');
    let checked = 0;
    for (const folder of readdirSync(steps)) {
      const dir = join(steps, folder, 'v1');
      const envelopeDir = readdirSync(dir).find((d) => d.startsWith('envelope-'))!;
      const file = join(dir, envelopeDir, readdirSync(join(dir, envelopeDir)).find((f) => f.startsWith('1-'))!);
      const [sig] = pdfsig(file, nss);
      assert.ok(sig!.valid && sig!.trusted, `${folder}: ${JSON.stringify(sig)}`);
      checked++;
    }
    assert.equal(checked, 26);
  });
});

describe('a county signatory signs remotely through the link; refusals leave nothing written and the link usable', () => {
  let data: string;
  let link: string;
  const rathgeber = { ...{}, ZV_CSC_URL: '', ZV_CSC_USER: 'rathgeber', ZV_CSC_PASSWORD: 'kreis-geheim', ZV_CSC_PIN: '2468' };
  let pki: PkiResponder;
  after(() => pki?.close());
  before(async () => {
    data = join(tmp.dir, 'werra');
    // pdfsig (NSS) asks the OCSP responder the minister's key-store certificate names: it answers from this data directory.
    [pki] = await Promise.all([startPkiResponder(), openYear(data, ['werra-meissner-kreis'])]);
    const m = await zv(['envelope', 'sign-ministry', '--signatory', 'Kai Klose', '--year', '2023', '--yes', '--data', data], { ZV_BASE_URL: pki.baseUrlFor(data) });
    assert.equal(m.code, 0, m.stderr);
    link = linkOf(data, 'nicole.rathgeber@werra-meissner-kreis.example');
    rathgeber.ZV_CSC_URL = csc.base;
  });
  const signLink = (credential: string, extra: Record<string, string> = {}) => zv(['envelope', 'sign', '-', '--data', data, '--key', `csc:${credential}`], { ...rathgeber, ...extra }, 60_000, link);
  const signedFiles = () => {
    const dir = join(data, 'signatures', '2023', 'aqb-2023-werra-meissner-kreis', 'v1');
    return existsSync(join(dir, 'aqb-2023-werra-meissner-kreis.pdf'));
  };

  test('wrong PIN, service down, timeout, SAD expired, a signature over another hash, a certificate of another key, an expired certificate, a browser-only credential', async () => {
    // Through the CLI once (what the signatory reads), the other refusals through the same service calls in this process.
    const cli = await signLink('rathgeber-qes', { ZV_CSC_PIN: '0000' });
    assert.equal(cli.code, 1);
    assert.match(cli.stderr, /^refused: Der Fernsignaturdienst 127\.0\.0\.1:\d+ hat die PIN bzw\. das Einmalpasswort abgelehnt: „The PIN is invalid“ \(invalid_pin, HTTP 400\)\. Es wurde nichts unterzeichnet\./m);
    const attempt = async (credential: string, extra: Record<string, string> = {}) => {
      const svc = openService(data);
      try {
        const key = await openKey(`csc:${credential}`, { env: { ...rathgeber, ...extra } });
        await svc.signWithLink(link, { signer: key.signer });
        return 'signed';
      } catch (e) {
        if (!(e instanceof SignerError)) throw e;
        return e.message;
      } finally {
        svc.close();
      }
    };
    const withKnob = async (knob: Partial<typeof csc.knobs>, run: () => Promise<string>) => {
      Object.assign(csc.knobs, knob);
      try {
        return await run();
      } finally {
        for (const k of Object.keys(knob)) delete (csc.knobs as Record<string, unknown>)[k];
      }
    };
    const cases: [string, () => Promise<string>, RegExp][] = [
      ['service down', async () => attempt('rathgeber-qes', { ZV_CSC_URL: `http://127.0.0.1:${await closedPort()}/csc/v2` }), /Der Fernsignaturdienst 127\.0\.0\.1:\d+ ist nicht erreichbar \(auth\/login: ECONNREFUSED\)/],
      ['timeout', () => withKnob({ delayMs: 3000 }, () => attempt('rathgeber-qes', { ZV_CSC_TIMEOUT_MS: '1000' })), /antwortet nicht \(auth\/login: keine Antwort nach 1 s\)/],
      ['SAD expired at the service', () => withKnob({ sadExpiresAtOnce: true }, () => attempt('rathgeber-qes')), /Die Freigabe \(SAD\) beim Fernsignaturdienst .* ist abgelaufen: „SAD expired“/],
      ['hash mismatch in the answer', () => withKnob({ signOtherHash: true }, () => attempt('rathgeber-qes')), /Die zurückgegebene Signatur passt nicht zum Zertifikat oder zum angefragten Hashwert/],
      ['certificate of another key', () => attempt('falsches-zertifikat'), /Die zurückgegebene Signatur passt nicht zum Zertifikat/],
      ['expired certificate', () => attempt('abgelaufen'), /ist laut Anbieter nicht gültig \(Status expired\)/],
      ['oauth2code credential on the command line', () => attempt('nur-im-browser'), /wird beim Anbieter im Browser freigegeben \(oauth2code\); unterschreiben Sie über die Web-Oberfläche/],
      ['unknown credential', () => attempt('gibt-es-nicht'), /lehnt ab \(credentials\/info\): „Invalid parameter credentialID“/],
    ];
    for (const [what, run, message] of cases) {
      assert.match(await run(), message, what);
      assert.ok(!signedFiles(), `${what}: nothing signed`);
      assert.equal(envelopeCounts(data).completed, 0, what);
    }
    // The same link still works.
    const ok = await signLink('rathgeber-qes');
    assert.equal(ok.code, 0, ok.stderr);
    assert.ok(signedFiles());
    const final = join(data, 'signatures', '2023', 'aqb-2023-werra-meissner-kreis', 'v1', 'aqb-2023-werra-meissner-kreis.pdf');
    const nss = nssTrusting(tmp.dir, [{ nick: 'tsp', pem: csc.ca.pem }, { nick: 'demo', pem: readFileSync(join(data, 'keys', 'ca.cert.pem'), 'utf8') }]);
    assert.deepEqual(pdfsig(final, nss).map((s) => [s.field, s.signer, s.valid, s.trusted]), [['sig-ministry-1', 'Kai Klose', true, true], ['sig-partner-1', 'Nicole Rathgeber', true, true]]);
  });
});
