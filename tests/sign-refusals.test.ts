/**
 * Order, double-signing, wrong password, expired certificate, unreadable image, image of 20 MB →
 * clear refusals, input file untouched, no output written.
 *
 * Every refusal goes through the CLI: exit code 1, "refused: … — nothing was written" with the
 * specific reason on stderr, the input's SHA-256 unchanged, no --out file and no temporary file
 * left beside it. One library-level test checks that the checks run before any key is issued.
 */
import { before, after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { PDFDocument } from 'pdf-lib';
import { composeFromData } from '../src/compose/index.ts';
import { renderPdf } from '../src/render/pdf/index.ts';
import { sampleTree } from './fixtures/sample-tree.ts';
import { KeyStore, KeyStoreError } from '../src/sign/keys.ts';
import { signAgreement, SignError } from '../src/sign/sign.ts';
import { identitySigner } from '../src/sign/signer.ts';
import type { SignOptions } from '../src/sign/sign.ts';
import { StampImageError } from '../src/sign/stamp.ts';
import type { SignatoryPerson, SigningIdentity } from '../src/sign/identity.ts';
import { run, tempDir } from './helpers/tools.ts';
import { AQB_EXAMPLE, SGB2_EXAMPLE, agreementPdf, ref, sha256, signWith, testStore, zv } from './helpers/signing.ts';

const DAY = 86_400_000;
const berlinDay = (d: Date) => new Intl.DateTimeFormat('sv-SE', { timeZone: 'Europe/Berlin' }).format(d);

let tmp: { dir: string; cleanup: () => void };
let dataDir: string;
let store: KeyStore;
let inDir: string;
/** Input files (in `inDir`). */
const file = { aqb: '', aqbMinistry: '', sgb: '', notPdf: '', foreignPdf: '', staleZvPdf: '', goodJpeg: '', garbagePng: '', truncatedPng: '', hugePng: '', goodPng: '' };
let aqbBytes: Uint8Array;
let aqbMinistryBytes: Uint8Array;
let klose: SignatoryPerson;

before(async () => {
  tmp = tempDir('zv-refusals-');
  dataDir = join(tmp.dir, 'data');
  ({ store } = await testStore(dataDir));
  inDir = join(tmp.dir, 'in');
  mkdirSync(inDir);
  const put = (name: string, bytes: Uint8Array | string) => {
    const path = join(inDir, name);
    writeFileSync(path, bytes);
    return path;
  };
  const [aqb, sgb] = await Promise.all([agreementPdf(AQB_EXAMPLE), agreementPdf(SGB2_EXAMPLE)]);
  aqbBytes = aqb;
  aqbMinistryBytes = (await signWith(store, aqb, 'ministry:1')).bytes; // stamped with today's date
  file.aqb = put('aqb.pdf', aqb);
  file.aqbMinistry = put('aqb-ministry.pdf', aqbMinistryBytes);
  file.sgb = put('sgb2.pdf', sgb);
  file.notPdf = put('notes.pdf', 'Dies ist kein PDF, nur Text mit der Endung .pdf.\n');
  const foreign = await PDFDocument.create();
  foreign.addPage([595, 842]).drawText('Ein fremdes PDF', { x: 72, y: 760 });
  file.foreignPdf = put('foreign.pdf', await foreign.save());
  // A Zielwerk-structured PDF whose embedded JSON is not a valid agreement input (the sample tree's placeholder data).
  file.staleZvPdf = put('stale-zv.pdf', await renderPdf(sampleTree(2, 0)));
  // A real PNG (page 1 at low resolution), a truncated copy, garbage named .png, 20 MB behind a PNG signature.
  run('pdftoppm', ['-png', '-r', '12', '-f', '1', '-l', '1', '-singlefile', file.aqb, join(tmp.dir, 'page')]);
  const png = readFileSync(join(tmp.dir, 'page.png'));
  assert.equal(png.subarray(1, 4).toString('latin1'), 'PNG');
  file.goodPng = put('signature.png', png);
  run('pdftoppm', ['-jpeg', '-r', '12', '-f', '1', '-l', '1', '-singlefile', file.aqb, join(tmp.dir, 'page')]);
  file.goodJpeg = put('signature.jpg', readFileSync(join(tmp.dir, 'page.jpg')));
  file.truncatedPng = put('truncated.png', png.subarray(0, Math.floor(png.length / 2)));
  file.garbagePng = put('x.png', Buffer.from('this is not an image at all, just some bytes \x00\x01\x02 with a .png name', 'latin1'));
  file.hugePng = put('huge.png', Buffer.concat([png.subarray(0, 8), Buffer.alloc(20 * 1024 * 1024)]));
  const resolved = composeFromData(JSON.parse(readFileSync(AQB_EXAMPLE, 'utf8')), { today: '2023-05-30' }).resolved;
  klose = { name: 'Kai Klose', role: 'Staatsminister', organisation: resolved.ministry.name };
});

after(() => tmp?.cleanup());

/** Every file below `dir` (relative path, size), to compare "nothing written". */
function snapshot(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      out.push(`${relative(dir, p)}${e.isDirectory() ? '/' : ` ${statSync(p).size}`}`);
      if (e.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out.sort();
}

let outCounter = 0;

/**
 * Runs `zv sign <input> … --out <fresh dir>/signed.pdf` and checks a clean refusal: exit 1, the
 * reason on stderr, input unchanged, no output and nothing else in the output directory, the input
 * directory unchanged.
 */
async function assertSignRefused(input: string, args: string[], reason: RegExp, opts: { data?: string; outFile?: string; timeoutMs?: number } = {}): Promise<string> {
  const outDir = join(tmp.dir, `out-${++outCounter}`);
  mkdirSync(outDir);
  const out = opts.outFile ?? join(outDir, 'signed.pdf');
  const before = { input: sha256(readFileSync(input)), inDir: snapshot(inDir), outDir: snapshot(outDir), out: existsSync(out) ? sha256(readFileSync(out)) : null };
  const r = await await zv(['sign', input, ...args, '--out', out, '--data', opts.data ?? dataDir], {}, opts.timeoutMs);
  assert.equal(r.code, 1, `exit code 1 expected, got ${r.code}${r.signal ? ` (killed by ${r.signal} after ${r.ms} ms)` : ''}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  assert.match(r.stderr, /^refused: .* — nothing was written\n$/, `one clear refusal line on stderr:\n${r.stderr}`);
  assert.match(r.stderr, reason);
  assert.equal(r.stdout, '', 'nothing on stdout');
  assert.equal(sha256(readFileSync(input)), before.input, 'the input file is untouched');
  assert.deepEqual(snapshot(inDir), before.inDir, 'nothing written beside the input');
  if (before.out === null) assert.equal(existsSync(out), false, 'no output file');
  else assert.equal(sha256(readFileSync(out)), before.out, 'the existing output file is untouched');
  assert.deepEqual(snapshot(outDir), before.outDir, 'no temporary file left in the output directory');
  return r.stderr;
}


// Independent cases (own output directories); two at a time lets the CLI start-ups overlap.
describe('zv sign refusals: clear message, input untouched, nothing written', { concurrency: 2 }, () => {
  test('control: the same inputs sign fine when nothing is wrong (with the real PNG image)', async () => {
    const outDir = join(tmp.dir, 'control');
    mkdirSync(outDir);
    const out = join(outDir, 'signed.pdf');
    const r = await zv(['sign', file.aqb, '--signatory', 'ministry:1', '--image', file.goodPng, '--out', out, '--data', dataDir]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /signed sig-ministry-1: Kai Klose, Staatsminister/);
    assert.match(r.stdout, /next: Nicole Rathgeber \(partner:1\)/);
    assert.deepEqual(readdirSync(outDir), ['signed.pdf']);
    assert.equal(sha256(readFileSync(file.aqb)), sha256(aqbBytes));
  });

  test('partner:1 before ministry:1 → not their turn, naming who signs first (Kai Klose)', async () => {
    await assertSignRefused(file.aqb, ['--signatory', 'partner:1'], /not Nicole Rathgeber's turn yet: Kai Klose \(Staatsminister, ministry:1\) signs first/);
    // Three signatories: the second partner waits for the ministry first, then for the first partner.
    await assertSignRefused(file.sgb, ['--signatory', 'partner:2'], /not Silke Engler's turn yet: Barbara Tiemann \(.*ministry:1\) signs first/);
  });

  test('ministry:1 signing twice → already signed', async () => {
    await assertSignRefused(file.aqbMinistry, ['--signatory', 'ministry:1'], /Kai Klose \(Staatsminister, ministry:1\) has already signed this agreement; a field cannot be signed twice/);
  });

  test('unknown signatory partner:3 → names the signatories the agreement has', async () => {
    await assertSignRefused(
      file.sgb,
      ['--signatory', 'partner:3'],
      /this agreement has no signatory partner:3; its signatories are: ministry:1 \(Barbara Tiemann, .*\); partner:1 \(Andreas Siebert, Landrat\); partner:2 \(Silke Engler, Erste Kreisbeigeordnete\)/,
    );
  });

  test('expired certificate → refused as expired', async () => {
    // A key store of its own, whose certificate for Kai Klose ran out an hour ago.
    const expiredData = join(tmp.dir, 'data-expired');
    const { store: s } = await testStore(expiredData);
    const ca = s.list()[0]!;
    const cert = await s.issue(klose, { notBefore: ca.notBefore, notAfter: new Date(Date.now() - 3_600_000) });
    const keysBefore = snapshot(join(expiredData, 'keys'));
    const stderr = await assertSignRefused(file.aqb, ['--signatory', 'ministry:1'], /certificate of "Kai Klose" \(serial [0-9A-F]+\) is expired at the signing time/, { data: expiredData });
    assert.ok(stderr.includes(cert.notAfter.toISOString().replace('.000Z', 'Z')), 'the end of validity is named');
    assert.deepEqual(snapshot(join(expiredData, 'keys')), keysBefore, 'no certificate silently re-issued');
  });

  test('unreadable image: garbage named .png → refused by content', async () => {
    await assertSignRefused(file.aqb, ['--signatory', 'ministry:1', '--image', file.garbagePng], /signature image is neither PNG nor JPEG \(checked by content\)/);
  });

  test('unreadable image: a truncated PNG → refused as unreadable (not a hang)', async () => {
    // A refusal takes about 2 s (CLI start-up); 10 s means the process hangs (it is then killed).
    await assertSignRefused(file.aqb, ['--signatory', 'ministry:1', '--image', file.truncatedPng], /signature image cannot be read \(PNG\)/, { timeoutMs: 10_000 });
  });

  test('an image of 20 MB → refused with its size and the limit', async () => {
    await assertSignRefused(file.aqb, ['--signatory', 'ministry:1', '--image', file.hugePng], /signature image is 20\.0 MB; at most 2 MB are accepted/);
  });

  test('inputs that are not Zielwerk agreements: a text file named .pdf, a foreign PDF', async () => {
    await assertSignRefused(file.notPdf, ['--signatory', 'ministry:1'], /not a readable PDF|not generated by Zielwerk/);
    await assertSignRefused(file.foreignPdf, ['--signatory', 'ministry:1'], /the PDF has no XMP metadata: it was not generated by Zielwerk/);
  });

  test('a Zielwerk PDF whose embedded input JSON is invalid → a refusal like the others', async () => {
    // The sample tree's embedded JSON has no signatories.
    await assertSignRefused(file.staleZvPdf, ['--signatory', 'ministry:1'], /signatories: is required/);
  });

  test('--date after today → refused; --date before an earlier signature → refused', async () => {
    const today = berlinDay(new Date());
    const tomorrow = berlinDay(new Date(Date.now() + 2 * DAY));
    await assertSignRefused(file.aqb, ['--signatory', 'ministry:1', '--date', tomorrow], new RegExp(`the date ${tomorrow} lies after the moment of signing \\(${today}\\)`));
    // The ministry signed today; the partner may not date the agreement earlier.
    await assertSignRefused(file.aqbMinistry, ['--signatory', 'partner:1', '--date', '2023-05-30', '--backdate-reason', 'Datum der Vereinbarung (Test)'], new RegExp(`the date 2023-05-30 lies before the date of an earlier signature \\(${today}\\)`));
  });

  test('an existing --out without --force → refused, the existing file untouched', async () => {
    const outDir = join(tmp.dir, 'existing');
    mkdirSync(outDir);
    const existing = join(outDir, 'signed.pdf');
    writeFileSync(existing, 'an earlier result that must survive');
    await assertSignRefused(file.aqb, ['--signatory', 'ministry:1'], /signed\.pdf exists; choose another --out or pass --force/, { outFile: existing });
    assert.equal(readFileSync(existing, 'utf8'), 'an earlier result that must survive');
    assert.deepEqual(readdirSync(outDir), ['signed.pdf']);
  });

  test('the counterpart of that refusal: --force replaces an existing --out, and --out may be the input itself', async () => {
    const dir = join(tmp.dir, 'force');
    mkdirSync(dir);
    const out = join(dir, 'signed.pdf');
    writeFileSync(out, 'an earlier result, to be replaced');
    const forced = await zv(['sign', file.aqb, '--signatory', 'ministry:1', '--out', out, '--force', '--data', dataDir]);
    assert.equal(forced.code, 0, `--force: ${forced.stderr}`);
    assert.ok(readFileSync(out).subarray(0, aqbBytes.length).equals(Buffer.from(aqbBytes)), 'replaced by the signed PDF');
    const inPlace = join(dir, 'in-place.pdf');
    writeFileSync(inPlace, aqbBytes);
    const same = await zv(['sign', inPlace, '--signatory', 'ministry:1', '--out', inPlace, '--data', dataDir]);
    assert.equal(same.code, 0, `--out = input: ${same.stderr}`);
    assert.ok(readFileSync(inPlace).length > aqbBytes.length, 'signed in place');
    assert.deepEqual(readdirSync(dir).sort(), ['in-place.pdf', 'signed.pdf'], 'no temporary files left');
  });

  test('zv keys import with a wrong PKCS#12 password → refused naming the password, key store unchanged', async () => {
    const dir = join(tmp.dir, 'p12');
    mkdirSync(dir);
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    const p12 = join(dir, 'klose.p12');
    run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '30', '-subj', '/C=DE/O=Test/CN=Kai Klose']);
    run('openssl', ['pkcs12', '-export', '-inkey', key, '-in', cert, '-out', p12, '-passout', 'pass:right']);
    const importData = join(tmp.dir, 'data-import');
    await testStore(importData); // an existing store (with its CA) that must stay as it is
    const keysBefore = snapshot(importData);
    assert.ok(keysBefore.length > 0);
    const p12Hash = sha256(readFileSync(p12));

    const wrong = await zv(['keys', 'import', p12, '--for', 'Kai Klose', '--data', importData], { ZV_P12_PASSWORD: 'wrong' });
    assert.equal(wrong.code, 1, wrong.stderr);
    assert.match(wrong.stderr, /^refused: .*password.* — nothing was written\n$/i);
    assert.equal(wrong.stdout, '');
    assert.deepEqual(snapshot(importData), keysBefore, 'key store unchanged');
    assert.equal(sha256(readFileSync(p12)), p12Hash, 'the PKCS#12 file is untouched');

    // Control: the right password imports it.
    const right = await zv(['keys', 'import', p12, '--for', 'Kai Klose', '--data', importData], { ZV_P12_PASSWORD: 'right' });
    assert.equal(right.code, 0, right.stderr);
    assert.match(right.stdout, /imported for Kai Klose: .*CN=Kai Klose/);
  });
});

describe('signAgreement refusals (library): thrown before any key is used or issued', () => {
  test('order, double signing, unknown signatory, dates and images: the typed error, no identity requested, key store unchanged', async () => {
    const calls: string[] = [];
    const signer = (p: SignatoryPerson, at: Date) => {
      calls.push(p.name);
      return store.signerFor(p, { at });
    };
    const listBefore = store.list().map((c) => c.sha256);
    const keysBefore = snapshot(join(dataDir, 'keys'));
    const sign = (input: Uint8Array, signatory: string, extra: Partial<SignOptions> = {}) => signAgreement(input, { signatory: ref(signatory), signer, ...extra });
    const today = berlinDay(new Date());

    const cases: [string, () => Promise<unknown>, new (...a: never[]) => Error, RegExp][] = [
      ['order', () => sign(aqbBytes, 'partner:1'), SignError, /not Nicole Rathgeber's turn yet: Kai Klose/],
      ['twice', () => sign(aqbMinistryBytes, 'ministry:1'), SignError, /has already signed this agreement/],
      ['unknown', () => sign(aqbBytes, 'partner:2'), SignError, /this agreement has no signatory partner:2/],
      ['not a PDF', () => sign(new TextEncoder().encode('kein PDF'), 'ministry:1'), SignError, /not a readable PDF|not generated by Zielwerk/],
      ['date after today', () => sign(aqbBytes, 'ministry:1', { date: berlinDay(new Date(Date.now() + 2 * DAY)) }), SignError, /lies after the moment of signing/],
      ['date before earlier signature', () => sign(aqbMinistryBytes, 'partner:1', { date: '2023-05-30', backdateReason: 'Datum der Vereinbarung (Test)' }), SignError, new RegExp(`before the date of an earlier signature \\(${today}\\)`)],
      ['impossible date', () => sign(aqbBytes, 'ministry:1', { date: '2023-02-30' }), SignError, /--date must be a date/],
      ['garbage image', () => sign(aqbBytes, 'ministry:1', { image: readFileSync(file.garbagePng) }), StampImageError, /neither PNG nor JPEG/],
      ['20 MB image', () => sign(aqbBytes, 'ministry:1', { image: readFileSync(file.hugePng) }), StampImageError, /20\.0 MB; at most 2 MB/],
      ['empty place', () => sign(aqbBytes, 'ministry:1', { place: '   ' }), SignError, /--place must not be empty/],
    ];
    for (const [label, attempt, type, message] of cases) {
      await assert.rejects(attempt(), (e: Error) => {
        assert.ok(e instanceof type, `${label}: expected ${type.name}, got ${e.constructor.name}: ${e.message}`);
        assert.match(e.message, message, label);
        return true;
      });
    }
    assert.deepEqual(calls, [], 'no identity was requested for any of these refusals');
    assert.deepEqual(store.list().map((c) => c.sha256), listBefore, 'KeyStore list unchanged');
    assert.deepEqual(snapshot(join(dataDir, 'keys')), keysBefore, 'no file written in the key store');
  });

  test('an undecodable image (a cut-off JPEG) is refused before a certificate is issued', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const { store: fresh } = await testStore(dir);
      const jpeg = readFileSync(file.goodJpeg);
      const cut = new Uint8Array(jpeg.subarray(0, 40)); // SOI and the start of APP0: pdf-lib cannot read it
      const calls: string[] = [];
      await assert.rejects(
        signAgreement(aqbBytes, { signatory: ref('ministry:1'), image: cut, signer: (p, at) => (calls.push(p.name), fresh.signerFor(p, { at })) }),
        (e: Error) => e instanceof StampImageError && /signature image cannot be read \(JPEG\)/.test(e.message),
      );
      assert.deepEqual(fresh.list().slice(1), [], 'no certificate issued for a refused signature');
      assert.deepEqual(calls, [], 'no identity requested');
    } finally {
      cleanup();
    }
  });

  test('expired certificate: the key store refuses it (KeyStoreError), a given expired identity is refused (SignError)', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const { store: s } = await testStore(dir);
      const ca = s.list()[0]!;
      await s.issue(klose, { notBefore: ca.notBefore, notAfter: new Date(Date.now() - 3_600_000) });
      await assert.rejects(signWith(s, aqbBytes, 'ministry:1'), (e: Error) => e instanceof KeyStoreError && /"Kai Klose" .* is expired at the signing time/.test(e.message));
      // The certificate itself, passed directly (e.g. from another store): checked again by signAgreement.
      const valid = await s.identityFor(klose, { at: new Date(Date.now() - 2 * 3_600_000) });
      assert.ok(new Date(new X509Certificate(valid.certificate).validTo).getTime() < Date.now());
      const given: SigningIdentity = valid;
      await assert.rejects(signAgreement(aqbBytes, { signatory: ref('ministry:1'), signer: identitySigner(given) }), (e: Error) => e instanceof SignError && /certificate of .*CN=Kai Klose expired on /.test(e.message));
      // With a signing time inside the validity it would have been accepted.
      const ok = await signAgreement(aqbBytes, { signatory: ref('ministry:1'), signer: identitySigner(given), signingTime: new Date(Date.now() - 2 * 3_600_000) });
      assert.equal(ok.name, 'Kai Klose');
    } finally {
      cleanup();
    }
  });
});
