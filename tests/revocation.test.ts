/**
 * Revocation: the Demo-CA revokes (zv keys revoke), publishes a CRL and answers OCSP (zv serve:
 * /pki/ca.crl, /pki/ca.cer, /pki/ocsp), and the relying party's checker and fetcher judge and get
 * such evidence. Every claim is checked by an independent tool: `openssl crl` verifies the CRL and
 * lists the revoked serial with its reason, `openssl ocsp` asks the running app, and the checker is
 * run against `openssl ocsp -index` as responder and a CRL made by `openssl ca`. No network:
 * everything is served on 127.0.0.1.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { KeyStore, KeyStoreError } from '../src/sign/keys.ts';
import { checkRevocation, RevocationFetcher, crlInfo, type RevocationMaterial } from '../src/sign/revocation.ts';
import type { SignatoryPerson } from '../src/sign/identity.ts';
import { tempDir } from './helpers/tools.ts';
import { agreementPdf, AQB_EXAMPLE, PASSPHRASE, signWith, zv } from './helpers/signing.ts';
import { webFixture } from './helpers/web.ts';

const klose: SignatoryPerson = { name: 'Kai Klose', role: 'Staatsminister', organisation: 'Hessisches Ministerium für Arbeit, Integration, Jugend und Soziales' };
const reuss: SignatoryPerson = { name: 'Stefan Reuß', role: 'Landrat', organisation: 'Werra-Meißner-Kreis' };

/** Runs a tool without blocking the event loop (the app under test answers in this process); never throws on an exit code. */
function tool(cmd: string, args: string[], cwd?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd, encoding: 'utf8', timeout: 20_000 }, (err, stdout, stderr) => {
      if (err && typeof (err as { code?: unknown }).code !== 'number') return reject(err);
      resolve({ code: err ? Number((err as { code: number }).code) : 0, stdout, stderr });
    });
  });
}

async function openssl(args: string[], cwd?: string): Promise<string> {
  const r = await tool('openssl', args, cwd);
  if (r.code !== 0) throw new Error(`openssl ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout + r.stderr;
}

const pem = (der: Uint8Array) => new X509Certificate(der).toString();

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const s = createServer();
  const port = await listen(s);
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Starts `openssl ocsp` as a responder on a free port (-port 0) and resolves with the port it printed. */
function opensslResponder(args: string[], cwd: string, children: ChildProcess[]): Promise<number> {
  const child = spawn('openssl', ['ocsp', '-port', '0', ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    const seen = (chunk: Buffer) => {
      out += chunk.toString('utf8');
      const m = /ACCEPT \S*:(\d+)[\s\S]*waiting for OCSP client connections/.exec(out);
      if (m) resolve(Number(m[1]));
    };
    child.stdout!.on('data', seen);
    child.stderr!.on('data', seen);
    child.on('exit', (code) => reject(new Error(`openssl ocsp exited (${code}): ${out}`)));
  });
}

test('zv keys revoke: the CRL verifies with openssl and lists the serial with its reason; zv keys list shows it; hold and release', async (t) => {
  const { dir, cleanup } = tempDir('zv-revoke-');
  t.after(cleanup);
  const store = KeyStore.open(dir, PASSPHRASE, undefined, { baseUrl: 'http://127.0.0.1:9' });
  const leaf = await store.identityFor(klose);
  const other = await store.identityFor(reuss);
  writeFileSync(join(dir, 'ca.pem'), store.caCertificatePem());
  const serial = new X509Certificate(leaf.certificate).serialNumber;
  const ref = store.list().find((c) => c.name === klose.name)!.ref!;
  assert.match(ref, /^kai-klose-[0-9a-f]{12}$/);

  // Before: the CRL published with the CA verifies and lists nothing.
  const crlFile = join(dir, 'pki', 'ca.crl');
  assert.match(await openssl(['crl', '-inform', 'DER', '-in', crlFile, '-CAfile', join(dir, 'ca.pem'), '-noout']), /verify OK/);
  assert.match(await openssl(['crl', '-inform', 'DER', '-in', crlFile, '-noout', '-text']), /No Revoked Certificates/);

  const revoked = await zv(['keys', 'revoke', ref, '--reason', 'keyCompromise', '--data', dir]);
  assert.equal(revoked.code, 0, revoked.stderr);
  assert.match(revoked.stdout, new RegExp(`revoked: CN=Kai Klose.*\\n  serial ${serial}  ref ${ref}\\n  revoked \\S+Z \\(keyCompromise\\)`));
  assert.ok(revoked.stdout.includes(crlFile), revoked.stdout);

  assert.match(await openssl(['crl', '-inform', 'DER', '-in', crlFile, '-CAfile', join(dir, 'ca.pem'), '-noout']), /verify OK/);
  const text = await openssl(['crl', '-inform', 'DER', '-in', crlFile, '-noout', '-text']);
  assert.match(text, /Version 2/);
  assert.match(text, /X509v3 CRL Number:\s+2\b/);
  assert.match(text, /X509v3 Authority Key Identifier/);
  assert.match(text, new RegExp(`Serial Number: ${serial}\\s+Revocation Date: .*\\s+CRL entry extensions:\\s+X509v3 CRL Reason Code:\\s+Key Compromise`));
  const info = crlInfo(new Uint8Array(readFileSync(crlFile)))!;
  assert.equal(info.nextUpdate!.getTime() - info.thisUpdate.getTime(), 7 * 86_400_000, 'valid for 7 days');

  // zv keys list shows it; an unknown reason is refused by the CLI (both at once: each run costs a start-up).
  const [listed, bad] = await Promise.all([zv(['keys', 'list', '--data', dir]), zv(['keys', 'revoke', ref, '--reason', 'lostIt', '--data', dir])]);
  assert.equal(listed.code, 0, listed.stderr);
  assert.match(listed.stdout, /Kai Klose, Staatsminister .* REVOKED \S+Z \(keyCompromise\)\n.*ECDSA P-256  serial [0-9A-F]+/);
  assert.doesNotMatch(listed.stdout, /Stefan Reuß.*REVOKED/);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /--reason.*expected one of unspecified, keyCompromise, cACompromise/);

  // Twice is refused; a hold (by serial, dated back) is listed as such and can be lifted.
  await assert.rejects(store.revoke(ref, 'superseded'), /already revoked, on .* \(keyCompromise\)/);
  const otherSerial = new X509Certificate(other.certificate).serialNumber;
  const at = new Date(Date.now() - 3_600_000);
  const held = await store.revoke(otherSerial.toLowerCase(), 'certificateHold', at);
  assert.equal(held.revokedAt.getTime(), Math.floor(at.getTime() / 1000) * 1000);
  assert.match(await openssl(['crl', '-inform', 'DER', '-in', crlFile, '-noout', '-text']), new RegExp(`Serial Number: ${otherSerial}[\\s\\S]*Certificate Hold`));
  await store.revoke(otherSerial, 'removeFromCRL');
  const after = await openssl(['crl', '-inform', 'DER', '-in', crlFile, '-noout', '-text']);
  assert.doesNotMatch(after, new RegExp(otherSerial));
  assert.match(after, new RegExp(serial));
  assert.match(after, /X509v3 CRL Number:\s+4\b/, 'every CRL gets the next number');
  await assert.rejects(store.revoke('Niemand', 'keyCompromise'), /no certificate of the Demo-CA matches "Niemand"/);
  await assert.rejects(store.revoke(store.list()[0]!.serial, 'keyCompromise'), /own certificate cannot be revoked/);
  await assert.rejects(store.revoke(ref, 'keyCompromise', new Date(Date.now() + 86_400_000)), /cannot be dated in the future/);
});

test('zv serve answers OCSP (POST and GET) and serves CRL and CA certificate: openssl ocsp says good, then revoked with the reason', async (t) => {
  const fx = await webFixture();
  const server = createServer(fx.app);
  const port = await listen(server);
  t.after(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    fx.close();
  });
  const keys = fx.ctx.svc.keys;
  const leaf = await keys.identityFor(klose);
  const caPem = join(fx.dir, 'ca-test.pem');
  const leafPem = join(fx.dir, 'leaf.pem');
  writeFileSync(caPem, keys.caCertificatePem());
  writeFileSync(leafPem, pem(leaf.certificate));
  const url = `http://127.0.0.1:${port}`;
  const ask = () => tool('openssl', ['ocsp', '-issuer', caPem, '-cert', leafPem, '-url', `${url}/pki/ocsp`, '-CAfile', caPem]);

  const good = await ask();
  assert.equal(good.code, 0, good.stderr);
  assert.match(good.stdout, /leaf\.pem: good/);
  assert.match(good.stderr + good.stdout, /Response verify OK/);

  // The GET form (RFC 6960 A.1): openssl writes the request, we send it base64 and URL-encoded, and base64url.
  const reqFile = join(fx.dir, 'req.der');
  await openssl(['ocsp', '-issuer', caPem, '-cert', leafPem, '-no_nonce', '-reqout', reqFile]);
  const b64 = readFileSync(reqFile).toString('base64');
  const viaGet = async (path: string) => {
    const res = await fetch(`${url}/pki/ocsp/${path}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/ocsp-response');
    const file = join(fx.dir, `get-${Math.random().toString(36).slice(2)}.der`);
    writeFileSync(file, Buffer.from(await res.arrayBuffer()));
    return tool('openssl', ['ocsp', '-respin', file, '-issuer', caPem, '-cert', leafPem, '-CAfile', caPem, '-no_nonce']);
  };
  for (const path of [encodeURIComponent(b64), readFileSync(reqFile).toString('base64url')]) {
    const r = await viaGet(path);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /leaf\.pem: good/);
  }

  const ca = await fetch(`${url}/pki/ca.cer`);
  assert.equal(ca.headers.get('content-type'), 'application/pkix-cert');
  assert.deepEqual(new Uint8Array(await ca.arrayBuffer()), keys.caCertificateDer());

  const ref = keys.list().find((c) => c.name === klose.name)!.ref!;
  const record = await keys.revoke(ref, 'keyCompromise');
  const revoked = await ask();
  assert.equal(revoked.code, 0, revoked.stderr);
  assert.match(revoked.stdout, /leaf\.pem: revoked\n(.*\n)*\s+Reason: keyCompromise\n\s+Revocation Time: /);
  assert.match(revoked.stderr + revoked.stdout, /Response verify OK/);
  const revokedGet = await viaGet(encodeURIComponent(b64));
  assert.match(revokedGet.stdout, /leaf\.pem: revoked/);

  const crl = await fetch(`${url}/pki/ca.crl`);
  assert.equal(crl.status, 200);
  assert.equal(crl.headers.get('content-type'), 'application/pkix-crl');
  const crlFile = join(fx.dir, 'served.crl');
  writeFileSync(crlFile, Buffer.from(await crl.arrayBuffer()));
  assert.match(await openssl(['crl', '-inform', 'DER', '-in', crlFile, '-CAfile', caPem, '-noout']), /verify OK/);
  assert.match(await openssl(['crl', '-inform', 'DER', '-in', crlFile, '-noout', '-text']), new RegExp(`Serial Number: ${record.serial}`));

  // What is not a request gets malformedRequest (still HTTP 200, as OCSP clients expect); no CA key: tryLater.
  const junk = await fetch(`${url}/pki/ocsp`, { method: 'POST', headers: { 'content-type': 'application/ocsp-request' }, body: 'kein OCSP' });
  assert.equal(junk.status, 200);
  const junkFile = join(fx.dir, 'junk.der');
  writeFileSync(junkFile, Buffer.from(await junk.arrayBuffer()));
  const status = async (file: string) => {
    const r = await tool('openssl', ['ocsp', '-respin', file, '-resp_text', '-noverify']);
    return r.stdout + r.stderr;
  };
  assert.match(await status(junkFile), /Responder Error: malformedrequest \(1\)/);
  const noKey = KeyStore.open(fx.dir, '', '');
  const later = join(fx.dir, 'later.der');
  writeFileSync(later, await noKey.respondOcsp(new Uint8Array(readFileSync(reqFile))));
  assert.match(await status(later), /Responder Error: trylater \(3\)/);
  assert.deepEqual(await noKey.currentCrl(), new Uint8Array(readFileSync(join(fx.dir, 'pki', 'ca.crl'))), 'without the CA key the CRL is served as last written');
});

test('checkRevocation against openssl as OCSP responder (delegated responder) and an openssl CRL: good, revoked with time and reason, too old, foreign signer', async (t) => {
  const { dir, cleanup } = tempDir('zv-ocsp-');
  const children: ChildProcess[] = [];
  t.after(() => {
    for (const c of children) c.kill();
    cleanup();
  });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  await openssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '30', '-subj', '/CN=Test OCSP CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  writeFileSync(join(dir, 'responder.ext'), 'extendedKeyUsage=OCSPSigning\nkeyUsage=critical,digitalSignature\n');
  writeFileSync(join(dir, 'leaf.ext'), 'keyUsage=critical,digitalSignature,nonRepudiation\n');
  const issue = async (name: string, serial: string, ext: string) => {
    await openssl(['req', '-new', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`], dir);
    await openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', serial, '-days', '20', '-extfile', ext, '-out', `${name}.pem`], dir);
  };
  await Promise.all([issue('responder', '0x10', 'responder.ext'), issue('good', '0x20', 'leaf.ext'), issue('revoked', '0x21', 'leaf.ext')]);
  // A responder certificate with the right purpose, but not from this CA.
  await openssl(['req', '-x509', ...ec, '-keyout', 'foreign.key', '-out', 'foreign.pem', '-days', '30', '-subj', '/CN=Foreign Responder', '-addext', 'extendedKeyUsage=OCSPSigning'], dir);

  const revokedAt = new Date(Math.floor((Date.now() - 2 * 3_600_000) / 1000) * 1000);
  const ymd = (d: Date) => d.toISOString().replace(/[-:T]/g, '').slice(2, 14) + 'Z';
  const expiry = ymd(new Date(Date.now() + 20 * 86_400_000));
  writeFileSync(join(dir, 'index.txt'), `V\t${expiry}\t\t20\tunknown\t/CN=good\nR\t${expiry}\t${ymd(revokedAt)},keyCompromise\t21\tunknown\t/CN=revoked\n`);
  writeFileSync(join(dir, 'index.txt.attr'), 'unique_subject = no\n');

  const responder = (signer: string) => opensslResponder(['-index', 'index.txt', '-rsigner', `${signer}.pem`, '-rkey', `${signer}.key`, '-CA', 'ca.pem', '-nmin', '10'], dir, children);
  const [port, foreignPort] = await Promise.all([responder('responder'), responder('foreign')]);
  const fetchResponse = async (leaf: string, p: number) => {
    const out = `${leaf}-${p}.der`;
    await openssl(['ocsp', '-issuer', 'ca.pem', '-cert', `${leaf}.pem`, '-url', `http://127.0.0.1:${p}`, '-respout', out, '-noverify'], dir);
    return new Uint8Array(readFileSync(join(dir, out)));
  };
  const fetchedAt = new Date();
  const [goodResp, revokedResp, foreignResp] = await Promise.all([fetchResponse('good', port), fetchResponse('revoked', port), fetchResponse('good', foreignPort)]);
  const der = (name: string) => new Uint8Array(new X509Certificate(readFileSync(join(dir, `${name}.pem`))).raw);
  const [ca, good, revoked] = [der('ca'), der('good'), der('revoked')];
  const ocsp = (r: Uint8Array): RevocationMaterial => ({ ocsps: [r], crls: [] });
  const before = new Date(fetchedAt.getTime() - 60_000);

  const g = await checkRevocation(good, ca, ocsp(goodResp), before);
  assert.equal(g.status, 'good', g.detail);
  assert.equal(g.source, 'ocsp');
  assert.match(g.detail, /responder CN=Test OCSP Responder|responder CN=responder/);
  assert.ok(Math.abs(new Date(g.issuedAt!).getTime() - fetchedAt.getTime()) < 5_000);

  const r = await checkRevocation(revoked, ca, ocsp(revokedResp), before);
  assert.deepEqual([r.status, r.source, r.revokedAt, r.reason], ['revoked', 'ocsp', revokedAt.toISOString(), 'keyCompromise'], r.detail);

  const old = await checkRevocation(good, ca, ocsp(goodResp), new Date(Date.now() + 3_600_000));
  assert.equal(old.status, 'unknown');
  assert.match(old.detail, /the newest OCSP response \(thisUpdate .*\) is older than/);

  const foreign = await checkRevocation(good, ca, ocsp(foreignResp), before);
  assert.equal(foreign.status, 'unknown');
  assert.match(foreign.detail, /OCSP response signature does not verify/);
  // Nor does a response about another certificate count, or one for the right serial checked against the wrong issuer.
  assert.match((await checkRevocation(good, ca, ocsp(revokedResp), before)).detail, /no OCSP response or CRL for serial 20/);
  assert.equal((await checkRevocation(revoked, der('foreign'), ocsp(revokedResp), before)).status, 'unknown');

  // A CRL made by openssl ca from the same index: revoked with time and reason; the good one not listed.
  writeFileSync(join(dir, 'ca.cnf'), '[ca]\ndefault_ca = t\n[t]\ndatabase = index.txt\ncrlnumber = crlnumber\ndefault_md = sha256\ndefault_crl_days = 7\ncrl_extensions = ext\n[ext]\nauthorityKeyIdentifier = keyid\n');
  writeFileSync(join(dir, 'crlnumber'), '01\n');
  await openssl(['ca', '-gencrl', '-config', 'ca.cnf', '-keyfile', 'ca.key', '-cert', 'ca.pem', '-out', 'crl.pem'], dir);
  await openssl(['crl', '-in', 'crl.pem', '-outform', 'DER', '-out', 'crl.der'], dir);
  const crl = { ocsps: [], crls: [new Uint8Array(readFileSync(join(dir, 'crl.der')))] };
  const fromCrl = await checkRevocation(revoked, ca, crl, before);
  assert.deepEqual([fromCrl.status, fromCrl.source, fromCrl.revokedAt, fromCrl.reason], ['revoked', 'crl', revokedAt.toISOString(), 'keyCompromise'], fromCrl.detail);
  const goodCrl = await checkRevocation(good, ca, crl, before);
  assert.deepEqual([goodCrl.status, goodCrl.source], ['good', 'crl'], goodCrl.detail);
  assert.equal((await checkRevocation(good, ca, crl, new Date(Date.now() + 3_600_000))).status, 'unknown');
  // OCSP is preferred when both say good.
  assert.equal((await checkRevocation(good, ca, { ocsps: [goodResp], crls: crl.crls }, before)).source, 'ocsp');
  // A CRL checked against a foreign key does not count.
  const forged = await checkRevocation(good, der('foreign'), crl, before);
  assert.equal(forged.status, 'unknown');
});

test('RevocationFetcher: OCSP down → the CRL (and the attempts say so), a cached CRL is reused, nothing reachable → no material; our own CA in-process', async (t) => {
  const { dir, cleanup } = tempDir('zv-fetch-');
  const hits = { ocsp: 0, crl: 0 };
  let ocspDown = true;
  let keys: KeyStore;
  const server = createServer(async (req, res) => {
    const body: Buffer[] = [];
    for await (const c of req) body.push(c as Buffer);
    if (req.url === '/pki/ocsp' && req.method === 'POST') {
      hits.ocsp++;
      if (ocspDown) {
        res.statusCode = 503;
        return res.end();
      }
      res.setHeader('content-type', 'application/ocsp-response');
      return res.end(Buffer.from(await keys.respondOcsp(new Uint8Array(Buffer.concat(body)))));
    }
    if (req.url === '/pki/ca.crl') {
      hits.crl++;
      return res.end(Buffer.from(await keys.currentCrl()));
    }
    res.statusCode = 404;
    res.end();
  });
  const port = await listen(server);
  t.after(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    cleanup();
  });
  const start = new Date(Date.now() - 1000);
  keys = KeyStore.open(join(dir, 'data'), PASSPHRASE, undefined, { baseUrl: `http://127.0.0.1:${port}` });
  const leaf = await keys.identityFor(klose);
  const issuer = leaf.chain[0]!;

  const cached = new RevocationFetcher({ cacheDir: join(dir, 'cache'), timeoutMs: 3_000 });
  const first = await cached.material(leaf.certificate, issuer);
  assert.deepEqual(
    first.attempts.map((a) => [a.kind, a.url, a.ok, a.error ?? null, a.cached ?? false]),
    [
      ['ocsp', `http://127.0.0.1:${port}/pki/ocsp`, false, 'HTTP 503 Service Unavailable', false],
      ['crl', `http://127.0.0.1:${port}/pki/ca.crl`, true, null, false],
    ],
  );
  assert.deepEqual([first.ocsps.length, first.crls.length], [0, 1]);
  const viaCrl = await checkRevocation(leaf.certificate, issuer, first, start);
  assert.deepEqual([viaCrl.status, viaCrl.source], ['good', 'crl'], viaCrl.detail);

  const second = await cached.material(leaf.certificate, issuer);
  assert.deepEqual(second.attempts.map((a) => [a.kind, a.ok, a.cached ?? false]), [['ocsp', false, false], ['crl', true, true]]);
  assert.deepEqual(second.crls, first.crls);
  assert.equal(hits.crl, 1, 'the cached CRL is reused until its nextUpdate, without a second request');
  assert.equal(hits.ocsp, 2, 'a failed OCSP request is not cached');
  assert.ok(readdirSync(join(dir, 'cache')).some((f) => f.startsWith('crl-')));

  // With the responder up, OCSP is used and the CRL is not fetched; also as @libpdf/core's provider.
  ocspDown = false;
  const fresh = new RevocationFetcher({ timeoutMs: 3_000 });
  const viaOcsp = await fresh.material(leaf.certificate, issuer);
  assert.deepEqual(viaOcsp.attempts.map((a) => [a.kind, a.ok]), [['ocsp', true]]);
  assert.equal((await checkRevocation(leaf.certificate, issuer, viaOcsp, start)).source, 'ocsp');
  assert.ok(await fresh.getOCSP(leaf.certificate, issuer));
  assert.ok(await fresh.getCRL(leaf.certificate));

  // Nothing listens where the certificate points: no material, and why.
  const gone = await closedPort();
  const lost = KeyStore.open(join(dir, 'lost'), PASSPHRASE, undefined, { baseUrl: `http://127.0.0.1:${gone}` });
  const orphan = await lost.identityFor(reuss);
  const none = await new RevocationFetcher({ timeoutMs: 3_000 }).material(orphan.certificate, orphan.chain[0]!);
  assert.deepEqual([none.ocsps.length, none.crls.length], [0, 0]);
  assert.deepEqual(none.attempts.map((a) => [a.kind, a.ok, a.error]), [['ocsp', false, 'ECONNREFUSED'], ['crl', false, 'ECONNREFUSED']]);
  assert.match((await checkRevocation(orphan.certificate, orphan.chain[0]!, none, start)).detail, /no OCSP response or CRL for serial/);

  // Our own CA: its URLs answered in-process, no HTTP at all.
  const local = await new RevocationFetcher({ local: lost.localRevocation(), fetch: () => Promise.reject(new Error('no network in this test')) }).material(orphan.certificate, orphan.chain[0]!);
  assert.deepEqual(local.attempts.map((a) => [a.kind, a.ok]), [['ocsp', true]]);
  assert.equal((await checkRevocation(orphan.certificate, orphan.chain[0]!, local, start)).status, 'good');
  await lost.revoke(lost.list()[1]!.ref!, 'cessationOfOperation');
  const afterRevocation = await new RevocationFetcher({ local: lost.localRevocation() }).material(orphan.certificate, orphan.chain[0]!);
  const finding = await checkRevocation(orphan.certificate, orphan.chain[0]!, afterRevocation, start);
  assert.deepEqual([finding.status, finding.reason], ['revoked', 'cessationOfOperation']);
});

test('signing with a revoked key-store certificate is refused, naming certificate, serial, date and reason', async (t) => {
  const { dir, cleanup } = tempDir('zv-revoked-sign-');
  t.after(cleanup);
  const store = KeyStore.open(dir, PASSPHRASE, undefined, { baseUrl: 'http://127.0.0.1:9' });
  const draft = await agreementPdf(AQB_EXAMPLE);
  await signWith(store, draft, 'ministry:1'); // issues the minister's certificate
  const [, minister] = store.list();
  const at = new Date(Math.floor((Date.now() - 3_600_000) / 1000) * 1000);
  const record = await store.revoke(minister!.ref!, 'keyCompromise', at);
  const when = at.toISOString().replace('.000Z', 'Z');
  await assert.rejects(signWith(store, draft, 'ministry:1'), (e: Error) => {
    assert.match(e.message, new RegExp(`certificate of "${minister!.name}" \\(CN=${minister!.name}.*serial ${record.serial}\\) was revoked on ${when} \\(keyCompromise\\)`));
    return true;
  });
  await assert.rejects(store.signerFor({ name: minister!.name, role: minister!.role, organisation: minister!.organisation }), KeyStoreError);
});
