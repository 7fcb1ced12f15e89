/**
 * CLI commands for keys, signing and verification: `zv keys …`, `zv sign`, `zv verify`.
 * Refusals print one clear line and leave every file untouched (exit 1).
 */
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { dataDir, tsaUrl } from '../config.ts';
import { isValidIsoDate } from '../model/agreement.ts';
import { writeFilesAtomically } from '../store/atomic.ts';
import { AgreementPdfError, parseSignatoryRef } from '../sign/agreement-pdf.ts';
import type { SignatoryRef } from '../sign/agreement-pdf.ts';
import { choosePassphrase, KeyStore, KeyStoreError } from '../sign/keys.ts';
import { signAgreement, SignError, formatSigningTime } from '../sign/sign.ts';
import { StampImageError } from '../sign/stamp.ts';
import { HttpTimestampAuthority, TsaError } from '../sign/tsa.ts';
import { verifyAgreement } from '../sign/verify.ts';
import type { VerifyReport } from '../sign/verify.ts';
import { formatReport } from '../sign/report.ts';

/** Errors that mean "refused, nothing written" rather than "crashed". */
export const REFUSALS = [SignError, KeyStoreError, StampImageError, TsaError, AgreementPdfError];

function openKeyStore(dir: string): KeyStore {
  const choice = choosePassphrase();
  if (choice.warning) process.stderr.write(choice.warning + '\n');
  return KeyStore.open(dir, choice.passphrase);
}

function readInputFile(path: string, what: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(path));
  } catch (e) {
    throw new SignError(`cannot read ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** Trust anchors: --trust PEM files, else the local demo CA of the data directory (if there is one). */
function trustAnchors(files: string[], dir: string): Uint8Array[] {
  const pems = files.map((f) => {
    try {
      return readFileSync(f, 'utf8');
    } catch (e) {
      throw new AgreementPdfError(`cannot read trust anchor ${f}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  });
  if (!files.length) {
    const ca = resolve(dir, 'keys', 'ca.cert.pem');
    if (existsSync(ca)) pems.push(readFileSync(ca, 'utf8'));
  }
  const ders: Uint8Array[] = [];
  pems.forEach((pem, i) => {
    const found = [...pem.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g)];
    if (!found.length && files[i]) throw new AgreementPdfError(`trust anchor ${files[i]} contains no PEM certificate`);
    for (const m of found) ders.push(new Uint8Array(Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64')));
  });
  return ders;
}

const collect = (v: string, prev: string[]) => [...prev, v];

export function addSigningCommands(program: Command, setExit: (code: number) => void): void {
  const keys = program.command('keys').description('the key store: local demo CA, signatory certificates, PKCS#12 import');
  keys
    .command('init')
    .description('create the local demo CA in the data directory (idempotent)')
    .option('--data <dir>', 'data directory (default: $ZV_DATA_DIR or ./data)')
    .action(async (opts: { data?: string }) => {
      const dir = dataDir(opts.data);
      const { created, ca } = await openKeyStore(dir).init();
      process.stdout.write(`${created ? 'created' : 'exists'}: ${ca.subject}\n`);
      process.stdout.write(`  SHA-256 ${ca.sha256}\n  valid ${ca.notBefore.toISOString().slice(0, 10)} – ${ca.notAfter.toISOString().slice(0, 10)}\n`);
      process.stdout.write(`  ${resolve(dir, 'keys', 'ca.cert.pem')}\n`);
      process.stdout.write('  Demo-CA: not a qualified trust service; its signatures are advanced, not qualified (eIDAS).\n');
    });
  keys
    .command('list')
    .description('list the certificates in the key store')
    .option('--data <dir>', 'data directory')
    .action((opts: { data?: string }) => {
      const list = openKeyStore(dataDir(opts.data)).list();
      if (!list.length) process.stdout.write('no certificates yet (run: zv keys init)\n');
      for (const c of list) {
        process.stdout.write(`${c.source.padEnd(8)} ${c.name}${c.role ? `, ${c.role}` : ''}${c.organisation ? ` (${c.organisation})` : ''}\n`);
        process.stdout.write(`         valid ${c.notBefore.toISOString().slice(0, 10)} – ${c.notAfter.toISOString().slice(0, 10)}  SHA-256 ${c.sha256.slice(0, 16)}…\n`);
      }
    });
  keys
    .command('import')
    .description('import a PKCS#12 (.p12/.pfx) certificate for a signatory; its password is read from an environment variable')
    .argument('<file>', 'PKCS#12 file')
    .requiredOption('--for <name>', 'the signatory name this certificate is used for, as printed in the agreement')
    .option('--password-env <var>', 'environment variable holding the PKCS#12 password', 'ZV_P12_PASSWORD')
    .option('--data <dir>', 'data directory')
    .action(async (file: string, opts: { for: string; passwordEnv: string; data?: string }) => {
      const password = process.env[opts.passwordEnv];
      if (password === undefined) throw new KeyStoreError(`set the PKCS#12 password in $${opts.passwordEnv}`);
      const info = await openKeyStore(dataDir(opts.data)).importPkcs12(readInputFile(file, 'PKCS#12 file'), password, opts.for);
      process.stdout.write(`imported for ${opts.for}: ${info.subject} (issuer ${info.issuer}), valid until ${info.notAfter.toISOString().slice(0, 10)}\n`);
    });
  keys
    .command('ca')
    .description('print the demo CA certificate (PEM), e.g. to pass to verifiers as a trust anchor')
    .option('--data <dir>', 'data directory')
    .action((opts: { data?: string }) => {
      process.stdout.write(KeyStore.open(dataDir(opts.data), '').caCertificatePem());
    });

  program
    .command('sign')
    .description("sign a signatory's field of an agreement PDF: visible stamp + PAdES signature as an incremental update")
    .argument('<pdf>', 'agreement PDF (generated by zv, possibly already signed by earlier signatories)')
    .requiredOption('--signatory <ref>', 'who signs: ministry:1, partner:1, partner:2 …', (v) => {
      try {
        return parseSignatoryRef(v);
      } catch (e) {
        throw new InvalidArgumentError((e as Error).message);
      }
    })
    .requiredOption('-o, --out <file>', 'signed PDF to write (must not exist unless --force; may be the input itself)')
    .option('--place <place>', "place stamped before the date (default: the party's seat printed in the agreement)")
    .option('--date <date>', 'date stamped after "den" (YYYY-MM-DD; default: today)', (v) => {
      if (!isValidIsoDate(v)) throw new InvalidArgumentError('expected a date YYYY-MM-DD');
      return v;
    })
    .option('--image <file>', 'signature image (PNG or JPEG, at most 2 MB)')
    .option('--tsa <url>', 'RFC 3161 time-stamp authority (default: $ZV_TSA_URL; none = PAdES B-B)')
    .option('--force', 'overwrite an existing output file')
    .option('--data <dir>', 'data directory with the key store')
    .action(async (pdfPath: string, opts: { signatory: SignatoryRef; out: string; place?: string; date?: string; image?: string; tsa?: string; force?: boolean; data?: string }) => {
      const input = readInputFile(pdfPath, 'PDF');
      const sameFile = existsSync(opts.out) && realpathSync(opts.out) === realpathSync(pdfPath);
      if (existsSync(opts.out) && !sameFile && !opts.force) throw new SignError(`${opts.out} exists; choose another --out or pass --force`);
      const image = opts.image ? readInputFile(opts.image, 'signature image') : undefined;
      const url = tsaUrl(opts.tsa);
      const store = openKeyStore(dataDir(opts.data));
      const result = await signAgreement(input, {
        signatory: opts.signatory,
        signer: (person, at) => store.signerFor(person, { at }),
        place: opts.place,
        date: opts.date,
        image,
        tsa: url ? new HttpTimestampAuthority(url) : undefined,
      });
      // Temp name, fsync, rename: replacing the input (--out = input) or an existing file (--force) is safe too.
      writeFilesAtomically([{ path: opts.out, bytes: result.bytes }]);
      process.stdout.write(`signed ${result.fieldName}: ${result.name}, ${result.role} — ${result.place}, ${result.date} (${formatSigningTime(result.signingTime)})\n`);
      process.stdout.write(`  ${opts.out}  ${(result.bytes.length / 1024).toFixed(1)} KB (+${((result.bytes.length - input.length) / 1024).toFixed(1)} KB)\n`);
      process.stdout.write(result.remaining.length ? `  next: ${result.remaining.map((r) => `${r.name} (${r.ref})`).join(', ')}\n` : '  all signatories have signed\n');
    });

  program
    .command('verify')
    .description('verify every signature of an agreement PDF; exit 0 only if everything holds')
    .argument('<pdf>', 'signed agreement PDF')
    .option('--trust <pem>', 'trust anchor certificate(s), PEM; repeatable (default: the demo CA of the data directory)', collect, [] as string[])
    .option('--complete', 'also require that every planned signatory has signed')
    .option('--json', 'machine-readable report')
    .option('--lang <lang>', 'report language: de or en', 'de')
    .option('--data <dir>', 'data directory (for the default trust anchor)')
    .action(async (pdfPath: string, opts: { trust: string[]; complete?: boolean; json?: boolean; lang: string; data?: string }) => {
      const bytes = readInputFile(pdfPath, 'PDF');
      const report: VerifyReport = await verifyAgreement(bytes, { trust: trustAnchors(opts.trust, dataDir(opts.data)), requireComplete: opts.complete });
      process.stdout.write(opts.json ? JSON.stringify({ file: pdfPath, ...report }, null, 2) + '\n' : formatReport(report, opts.lang === 'en' ? 'en' : 'de'));
      if (report.verdict !== 'valid') setExit(1);
    });
}
