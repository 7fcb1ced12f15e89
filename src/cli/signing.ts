/**
 * CLI commands for keys, signing and verification: `zv keys …`, `zv sign`, `zv verify`.
 * Refusals print one clear line and leave every file untouched (exit 1).
 */
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { join, resolve } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { dataDir, tsaUrl } from '../config.ts';
import { isValidIsoDate } from '../model/agreement.ts';
import { writeFilesAtomically } from '../store/atomic.ts';
import { AgreementPdfError, parseSignatoryRef } from '../sign/agreement-pdf.ts';
import type { SignatoryRef } from '../sign/agreement-pdf.ts';
import { choosePassphrase, KeyStore, KeyStoreError, REVOCATION_REASONS, type RevocationReason } from '../sign/keys.ts';
import { signAgreement, SignError, formatSigningTime } from '../sign/sign.ts';
import { StampImageError } from '../sign/stamp.ts';
import { TsaError } from '../sign/tsa.ts';
import { timestampAuthorityFor } from '../sign/demo-tsa.ts';
import { RevocationFetcher } from '../sign/revocation.ts';
import { expectedLevel, verifyAgreement } from '../sign/verify.ts';
import type { VerifyReport } from '../sign/verify.ts';
import { formatReport } from '../sign/report.ts';
import { SignerError } from '../sign/signer.ts';
import { UploadRefusedError } from '../sign/external.ts';
import { openKey, readPemCertificates, type KeyChoice } from '../sign/key-uri.ts';
import { DB_FILE } from '../store/db.ts';
import { registeredDraftOf } from '../store/files.ts';
import { Store } from '../store/store.ts';
import { addTrustAnchor, listTrustAnchors, removeTrustAnchor, TrustError } from '../store/trust.ts';
import { demoTsaRoot, localFirst, trustConfig, type TrustConfig } from '../sign/trust-config.ts';

/** Errors that mean "refused, nothing written" rather than "crashed". */
export const REFUSALS = [SignError, KeyStoreError, StampImageError, TsaError, AgreementPdfError, SignerError, UploadRefusedError, TrustError];

export interface KeyFlags {
  key?: string;
  certificate?: string;
  chain?: string;
  rsaPss?: boolean;
}

/** --key and its companions, on every command that signs. */
export function addKeyOptions(cmd: Command): Command {
  return cmd
    .option('--key <uri>', 'the signatory\'s own key: pkcs11:token=…;object=…?module-path=…&pin-source=file:… (card/HSM) or csc:<credentialID> (remote signing at $ZV_CSC_URL); default: the key store (a simple signature)')
    .option('--certificate <pem>', 'with --key pkcs11:…: the signer certificate, when the token holds none')
    .option('--chain <pem>', 'with --key pkcs11:…: intermediate certificates, nearest first')
    .option('--rsa-pss', 'RSA keys: sign with RSASSA-PSS instead of PKCS#1 v1.5');
}

/** Opens the chosen key (one PIN entry / one service login), runs `fn`, and always closes it. */
export async function withKey<T>(flags: KeyFlags, fn: (key: KeyChoice) => Promise<T>): Promise<T> {
  const key = await openKey(flags.key, { certificate: flags.certificate, chain: flags.chain, scheme: flags.rsaPss ? 'rsa-pss' : undefined });
  try {
    return await fn(key);
  } finally {
    await key.dispose();
  }
}

function openKeyStore(dir: string): KeyStore {
  const choice = choosePassphrase();
  if (choice.warning) process.stderr.write(choice.warning + '\n');
  return KeyStore.open(dir, choice.passphrase, choice.caPassphrase, { notice: (m) => process.stderr.write(m + '\n') });
}

function readInputFile(path: string, what: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(path));
  } catch (e) {
    throw new SignError(`cannot read ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/**
 * Trust for `zv verify`: --trust PEM files (not qualified) instead of the data directory's anchors,
 * else its demo CA and `zv trust` anchors (qualified ones as such); and always the data
 * directory's key store, whose certificates' signatures are simple.
 */
function trustAnchors(files: string[], dir: string): TrustConfig {
  // With the passphrases (development defaults outside production) the own Demo-CA answers OCSP in-process.
  const choice = choosePassphrase();
  const keys = KeyStore.open(dir, choice.passphrase, choice.caPassphrase);
  const store = existsSync(resolve(dir, DB_FILE)) ? Store.open({ dataDir: dir, skipSweep: true }) : null;
  let config: TrustConfig;
  try {
    config = trustConfig(keys, store);
  } finally {
    store?.close();
  }
  // Revocation data the document does not carry: fetched (cached in the data directory), the own demo CA's from its files.
  config.revocation = localFirst(keys, new RevocationFetcher({ cacheDir: existsSync(dir) ? join(dir, 'cache', 'revocation') : undefined }));
  if (!files.length) return config;
  const ders: Uint8Array[] = [];
  for (const f of files) {
    let pem: string;
    try {
      pem = readFileSync(f, 'utf8');
    } catch (e) {
      throw new AgreementPdfError(`cannot read trust anchor ${f}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    const found = [...pem.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g)];
    if (!found.length) throw new AgreementPdfError(`trust anchor ${f} contains no PEM certificate`);
    for (const m of found) ders.push(new Uint8Array(Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64')));
  }
  // --trust replaces the signature anchors; the instance's own demo TSA still proves the time of its time-stamps.
  const tsaRoot = demoTsaRoot(dir);
  return { ...config, trust: [...ders, ...(tsaRoot ? [tsaRoot] : [])], qualifiedTrust: [] };
}

function withStore<T>(dir: string, fn: (store: Store) => T): T {
  const store = Store.open({ dataDir: dir, skipSweep: true });
  try {
    return fn(store);
  } finally {
    store.close();
  }
}

function addTrustCommands(program: Command): void {
  const trust = program.command('trust').description('certificates this instance trusts as signature anchors besides its demo CA (used by verify, uploads and archive check)');
  trust
    .command('add')
    .description('trust a CA certificate (PEM; several blocks are added one by one)')
    .argument('<pem>', 'CA certificate file')
    .option('--qualified', 'the CA is a qualified trust service (its qualified certificates give qualified signatures)')
    .option('--data <dir>', 'data directory')
    .option('--actor <name>', 'who does this (kept with the anchor)')
    .action((file: string, opts: { data?: string; actor?: string; qualified?: boolean }) => {
      const ders = readPemCertificates(file, 'Die Zertifikatsdatei');
      const dir = dataDir(opts.data);
      const demo = existsSync(resolve(dir, 'keys', 'ca.cert.pem')) ? new X509Certificate(readFileSync(resolve(dir, 'keys', 'ca.cert.pem'))).fingerprint256 : null;
      withStore(dir, (store) => {
        for (const der of ders) {
          if (opts.qualified && new X509Certificate(der).fingerprint256 === demo) throw new TrustError('the demo CA is not a trust service and can only be trusted as not qualified');
          const { anchor, added } = addTrustAnchor(store, der, { addedBy: opts.actor ?? process.env.ZV_ACTOR ?? 'cli', qualified: opts.qualified });
          process.stdout.write(`${added ? 'trusted' : anchor.qualified === !!opts.qualified ? 'already trusted' : 'now trusted'}${anchor.qualified ? ' as qualified' : ''}: ${anchor.subject}\n  SHA-256 ${anchor.sha256}\n  valid until ${anchor.notAfter.slice(0, 10)}\n`);
        }
      });
    });
  trust
    .command('list')
    .description('list the trust anchors (the demo CA first, if there is one)')
    .option('--data <dir>', 'data directory')
    .option('--json', 'JSON output')
    .action((opts: { data?: string; json?: boolean }) => {
      const dir = dataDir(opts.data);
      const ca = resolve(dir, 'keys', 'ca.cert.pem');
      const demo = existsSync(ca) ? new X509Certificate(readFileSync(ca)) : null;
      const anchors = existsSync(resolve(dir, DB_FILE)) ? withStore(dir, listTrustAnchors) : [];
      if (opts.json) {
        const rows = [
          ...(demo ? [{ sha256: demo.fingerprint256.replace(/:/g, '').toLowerCase(), subject: demo.subject.split('\n').join(', '), notAfter: new Date(demo.validTo).toISOString(), qualified: false, source: 'demo-ca' }] : []),
          ...anchors.map(({ der: _der, ...a }) => a),
        ];
        process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
        return;
      }
      if (demo) process.stdout.write(`demo-ca  ${demo.subject.split('\n').join(', ')}\n         SHA-256 ${demo.fingerprint256.replace(/:/g, '').toLowerCase()}  (key store; not a qualified trust service)\n`);
      for (const a of anchors) process.stdout.write(`${(a.qualified ? 'qualified' : a.source).padEnd(8)} ${a.subject}\n         SHA-256 ${a.sha256}  valid until ${a.notAfter.slice(0, 10)}, ${a.qualified ? 'qualified trust service, ' : ''}added ${a.addedAt.slice(0, 10)} by ${a.addedBy} (${a.source})\n`);
      if (!demo && !anchors.length) process.stdout.write('no trust anchors yet (zv keys init creates the demo CA; zv trust add <pem> adds others)\n');
    });
  trust
    .command('import-tl')
    .description('import the qualified CAs of an EU trusted list (ETSI TS 119 612 XML): services CA/QC with status granted become qualified anchors')
    .argument('<file.xml>', 'the trusted list')
    .requiredOption('--signer <pem>', "the scheme operator's certificate: the list's XML signature must verify with it")
    .option('--data <dir>', 'data directory')
    .option('--actor <name>', 'who does this (kept with the anchors)')
    .action(async (file: string, opts: { signer: string; data?: string; actor?: string }) => {
      const { readTrustedList } = await import('../sign/trusted-list.ts');
      const read = (path: string, what: string) => {
        try {
          return readFileSync(path, 'utf8');
        } catch (e) {
          throw new TrustError(`cannot read ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
        }
      };
      const list = readTrustedList(read(file, 'the trusted list'), read(opts.signer, 'the signer certificate'));
      let added = 0;
      withStore(dataDir(opts.data), (store) => {
        for (const a of list.qualifiedAnchors) {
          if (!new X509Certificate(a.der).ca) {
            process.stderr.write(`skipped (not a CA certificate): ${a.provider} — ${a.service}\n`);
            continue;
          }
          const r = addTrustAnchor(store, a.der, { addedBy: opts.actor ?? process.env.ZV_ACTOR ?? 'cli', source: 'trusted-list', qualified: true });
          if (r.added || r.anchor.qualified) added++;
          process.stdout.write(`qualified: ${a.provider} — ${a.service}\n  ${r.anchor.subject}\n  SHA-256 ${r.anchor.sha256}\n`);
        }
      });
      const others = list.services.length - list.qualifiedAnchors.length;
      process.stdout.write(`trusted list ${list.territory || '?'} (sequence ${list.sequence || '?'}, issued ${list.issued || '?'}): ${added} qualified CA certificate(s) trusted; ${others} other service(s) (not CA/QC, or not granted) ignored\n`);
    });
  trust
    .command('remove')
    .description('stop trusting an anchor')
    .argument('<fingerprint>', 'its SHA-256 (hex, as zv trust list prints it; a unique prefix of at least 8 digits)')
    .option('--data <dir>', 'data directory')
    .action((fingerprint: string, opts: { data?: string }) => {
      const removed = withStore(dataDir(opts.data), (store) => removeTrustAnchor(store, fingerprint));
      process.stdout.write(`removed: ${removed.subject} (SHA-256 ${removed.sha256})\n`);
    });
}

const collect = (v: string, prev: string[]) => [...prev, v];

/** The draft the data directory registered that `input` begins with (else the signer re-renders the embedded data). */
function registeredDraft(dir: string, input: Uint8Array): Uint8Array | undefined {
  if (!existsSync(resolve(dir, DB_FILE))) return undefined;
  const store = Store.open({ dataDir: dir, skipSweep: true });
  try {
    return registeredDraftOf(store.db, dir, input);
  } finally {
    store.close();
  }
}

export function addSigningCommands(program: Command, setExit: (code: number) => void): void {
  addTrustCommands(program);
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
      process.stdout.write('  Demo-CA (key store, the embedded default): not a trust service; its keys lie on this server, so its signatures are simple electronic signatures, not qualified ones (eIDAS).\n');
    });
  keys
    .command('list')
    .description('list the certificates in the key store')
    .option('--data <dir>', 'data directory')
    .action((opts: { data?: string }) => {
      const store = openKeyStore(dataDir(opts.data));
      const list = store.list();
      if (!list.length) process.stdout.write('no certificates yet (run: zv keys init)\n');
      const status = store.status();
      const weak = status.keys.filter((k) => !k.upToDate);
      if (status.keys.length) {
        process.stdout.write(`key protection: ${status.keys.length - weak.length} of ${status.keys.length} private keys with PBKDF2-HMAC-SHA256 ≥ 600 000 iterations${weak.length ? `; ${weak.map((k) => `${k.path} (${k.protection.description})`).join(', ')}: run zv keys rekey` : ''}\n`);
      }
      if (status.version === 1) process.stdout.write('the key store has the format before 2026-12 (the Demo-CA key under the store passphrase): run zv keys rekey\n');
      if (status.caKeyMissing) process.stdout.write('the Demo-CA key is not in this store (restored from a backup without --include-ca-key): certificates issued so far sign, new ones cannot be issued\n');
      for (const c of list) {
        process.stdout.write(`${c.source.padEnd(8)} ${c.name}${c.role ? `, ${c.role}` : ''}${c.organisation ? ` (${c.organisation})` : ''}${c.revoked ? `  REVOKED ${c.revoked.at.toISOString().replace('.000Z', 'Z')} (${c.revoked.reason})` : ''}\n`);
        process.stdout.write(`         valid ${c.notBefore.toISOString().slice(0, 10)} – ${c.notAfter.toISOString().slice(0, 10)}  ${c.keyAlgorithm}  serial ${c.serial}  SHA-256 ${c.sha256.slice(0, 16)}…\n`);
        if (c.ref) process.stdout.write(`         ref ${c.ref}\n`);
      }
    });
  keys
    .command('revoke')
    .description("revoke a certificate of the demo CA: it is put on the CRL (<data>/pki/ca.crl) and OCSP answers 'revoked'; the key store no longer signs with it")
    .argument('<signatory|serial>', 'the signatory ref as zv keys list shows it (e.g. kai-klose-1a2b3c4d5e6f), or the certificate serial (hex)')
    .requiredOption('--reason <reason>', `RFC 5280 reason: ${REVOCATION_REASONS.join(', ')}`, (v) => {
      if (!(REVOCATION_REASONS as readonly string[]).includes(v)) throw new InvalidArgumentError(`expected one of ${REVOCATION_REASONS.join(', ')}`);
      return v as RevocationReason;
    })
    .option('--at <date>', 'when the certificate stopped being trustworthy (ISO date or date-time; default: now; not in the future)', (v) => {
      const d = new Date(/^\d{4}-\d{2}-\d{2}$/.test(v) ? `${v}T00:00:00Z` : v);
      if (!/^\d{4}-\d{2}-\d{2}/.test(v) || Number.isNaN(d.getTime())) throw new InvalidArgumentError('expected an ISO date (YYYY-MM-DD) or date-time (YYYY-MM-DDTHH:MM:SSZ)');
      return d;
    })
    .option('--data <dir>', 'data directory')
    .action(async (target: string, opts: { reason: RevocationReason; at?: Date; data?: string }) => {
      const store = openKeyStore(dataDir(opts.data));
      const r = await store.revoke(target, opts.reason, opts.at);
      const when = r.revokedAt.toISOString().replace('.000Z', 'Z');
      process.stdout.write(r.released ? `released from hold: ${r.subject}\n  serial ${r.serial}${r.ref ? `  ref ${r.ref}` : ''}\n  (was on hold since ${when})\n` : `revoked: ${r.subject}\n  serial ${r.serial}${r.ref ? `  ref ${r.ref}` : ''}\n  revoked ${when} (${r.reason})\n`);
      process.stdout.write(`  CRL #${r.crlNumber}: ${r.crlPath} (next update ${r.crlNextUpdate.toISOString().replace('.000Z', 'Z')}), served at ${store.baseUrl}/pki/ca.crl\n`);
      process.stdout.write(`  OCSP ${store.baseUrl}/pki/ocsp answers ${r.released ? 'good' : 'revoked'} from now on\n`);
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
    .command('rekey')
    .description('re-encrypt every private key of the key store with fresh salts (PBKDF2-HMAC-SHA256, 600 000 iterations, AES-256), optionally under new passphrases; migrates a store from before 2026-12')
    .option('--new-passphrase-env <var>', 'environment variable holding a new store passphrase (default: keep ZV_KEY_PASSPHRASE)')
    .option('--new-ca-passphrase-env <var>', "environment variable holding a new passphrase for the Demo-CA key (default: keep ZV_CA_PASSPHRASE)")
    .option('--data <dir>', 'data directory')
    .action(async (opts: { newPassphraseEnv?: string; newCaPassphraseEnv?: string; data?: string }) => {
      const fromEnv = (variable?: string) => {
        if (variable === undefined) return undefined;
        const value = process.env[variable];
        if (!value) throw new KeyStoreError(`$${variable} is not set or empty`);
        return value;
      };
      const store = openKeyStore(dataDir(opts.data));
      const r = await store.rekey({ passphrase: fromEnv(opts.newPassphraseEnv), caPassphrase: fromEnv(opts.newCaPassphraseEnv) });
      process.stdout.write(`re-encrypted ${r.signatoryKeys} signatory key(s)${r.caKey ? ' and the Demo-CA key' : ''} with ${r.after}${r.migrated ? ' (migrated from the format before 2026-12; the Demo-CA key is now under ZV_CA_PASSPHRASE)' : ''}\n`);
      process.stdout.write(`  before: ${Object.entries(r.before).map(([d, n]) => `${n}× ${d}`).join(', ') || 'no keys'}\n`);
      if (opts.newPassphraseEnv || opts.newCaPassphraseEnv) {
        process.stdout.write(`  from now on set ${[opts.newPassphraseEnv && `ZV_KEY_PASSPHRASE to the value of $${opts.newPassphraseEnv}`, opts.newCaPassphraseEnv && `ZV_CA_PASSPHRASE to the value of $${opts.newCaPassphraseEnv}`].filter(Boolean).join(' and ')}\n`);
      }
    });
  keys
    .command('ca')
    .description('print the demo CA certificate (PEM), e.g. to pass to verifiers as a trust anchor')
    .option('--data <dir>', 'data directory')
    .action((opts: { data?: string }) => {
      process.stdout.write(KeyStore.open(dataDir(opts.data), '').caCertificatePem());
    });

  const sign = program
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
    .option('--backdate-reason <text>', 'with --date other than today: why the agreement carries that date (recorded)')
    .option('--tsa <url>', "RFC 3161 time-stamp authority (default: $ZV_TSA_URL, else the data directory's demo TSA; required in production)")
    .option('--force', 'overwrite an existing output file')
    .option('--data <dir>', 'data directory with the key store');
  addKeyOptions(sign).action(async (pdfPath: string, opts: { signatory: SignatoryRef; out: string; place?: string; date?: string; backdateReason?: string; image?: string; tsa?: string; force?: boolean; data?: string } & KeyFlags) => {
      const input = readInputFile(pdfPath, 'PDF');
      const sameFile = existsSync(opts.out) && realpathSync(opts.out) === realpathSync(pdfPath);
      if (existsSync(opts.out) && !sameFile && !opts.force) throw new SignError(`${opts.out} exists; choose another --out or pass --force`);
      const image = opts.image ? readInputFile(opts.image, 'signature image') : undefined;
      // Every signature carries a trusted time (PAdES B-T); refused here, before anything is signed, when none is configured in production.
      const tsa = timestampAuthorityFor({ dataDir: dataDir(opts.data), url: tsaUrl(opts.tsa), passphrase: choosePassphrase().passphrase });
      const result = await withKey(opts, async (key) => {
        const store = key.signer ? undefined : openKeyStore(dataDir(opts.data));
        return signAgreement(input, {
          draft: registeredDraft(dataDir(opts.data), input),
          signatory: opts.signatory,
          signer: key.signer ?? ((person, at) => store!.signerFor(person, { at })),
          place: opts.place,
          date: opts.date,
          backdateReason: opts.backdateReason,
          image,
          tsa,
          stampLevel: key.signer ? await expectedLevel(key.signer, trustAnchors([], dataDir(opts.data)), new Date()) : 'simple',
        });
      });
      // Temp name, fsync, rename: replacing the input (--out = input) or an existing file (--force) is safe too.
      writeFilesAtomically([{ path: opts.out, bytes: result.bytes }]);
      process.stdout.write(`signed ${result.fieldName}: ${result.name}, ${result.role} — ${result.place}, ${result.date} (${formatSigningTime(result.signingTime)})\n`);
      process.stdout.write(`  ${opts.out}  ${(result.bytes.length / 1024).toFixed(1)} KB (+${((result.bytes.length - input.length) / 1024).toFixed(1)} KB)\n`);
      process.stdout.write(`  key: ${result.signer.description}${result.signer.kind === 'keystore' ? ' — a simple electronic signature (key held by this server)' : ''}\n`);
      process.stdout.write(result.remaining.length ? `  next: ${result.remaining.map((r) => `${r.name} (${r.ref})`).join(', ')}\n` : '  all signatories have signed\n');
    });

  program
    .command('verify')
    .description('verify every signature of an agreement PDF; exit 0 only if everything holds')
    .argument('<pdf>', 'signed agreement PDF')
    .option('--trust <pem>', 'trust anchor certificate(s), PEM; repeatable (default: the demo CA of the data directory)', collect, [] as string[])
    .option('--complete', 'also require that every planned signatory has signed')
    .option('--require-written-form', 'also require the written form (§ 3a Abs. 2 VwVfG): every signatory of both parties signed with a qualified signature')
    .option('--json', 'machine-readable report')
    .option('--lang <lang>', 'report language: de or en', 'de')
    .option('--data <dir>', 'data directory (for the default trust anchor)')
    .action(async (pdfPath: string, opts: { trust: string[]; complete?: boolean; requireWrittenForm?: boolean; json?: boolean; lang: string; data?: string }) => {
      const bytes = readInputFile(pdfPath, 'PDF');
      const report: VerifyReport = await verifyAgreement(bytes, { ...trustAnchors(opts.trust, dataDir(opts.data)), requireComplete: opts.complete || opts.requireWrittenForm });
      process.stdout.write(opts.json ? JSON.stringify({ file: pdfPath, ...report }, null, 2) + '\n' : formatReport(report, opts.lang === 'en' ? 'en' : 'de'));
      // Exit 0 when every signature passed (TOTAL_PASSED); the written form is reported, and required only when asked.
      if (report.verdict !== 'valid' || !report.signatures.every((s) => s.indication === 'TOTAL_PASSED')) setExit(1);
      else if (opts.requireWrittenForm && !report.writtenForm) setExit(1);
    });
}
