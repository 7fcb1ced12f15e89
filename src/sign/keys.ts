/**
 * Key store for signing identities, kept under <dataDir>/keys/:
 *
 *   keystore.json                    format marker (zielwerk-keystore/2)
 *   ca.cert.pem, ca.key.pem          the local "Zielwerk Demo-CA" (not a qualified trust service)
 *   signatories/<slug>-<hash>.json   demo-CA certificates, one per name + role + organisation
 *   imported/<slug>-<hash>.json      identities imported from PKCS#12, one per person name
 *
 * Every private key is stored as encrypted PKCS#8 (PBES2, PBKDF2-HMAC-SHA256 with 600 000
 * iterations, AES-256-CBC; see key-encryption.ts). Signatory keys are encrypted under the store
 * passphrase (ZV_KEY_PASSPHRASE); the Demo-CA's key, which can mint new identities, under its own
 * (ZV_CA_PASSPHRASE), and backups leave it out unless asked. Stores written before 2026-12 (no
 * keystore.json: node's 2 048 PBKDF2 iterations, the CA key under the store passphrase) are
 * re-encrypted on their first use with the passphrases, or by `zv keys rekey`.
 * The directories are 0700 and the files 0600.
 *
 * Our own certificates are ECDSA P-256 with ecdsa-with-SHA256 (the Demo-CA 30 years, signatory
 * certificates 3 years, as a real CA issues them; a store created before keeps its RSA CA), built
 * with asn1js and signed with node's crypto. Signatory certificates name the CA's CRL
 * (<ZV_BASE_URL>/pki/ca.crl), its OCSP responder (/pki/ocsp) and certificate (/pki/ca.cer); an RSA
 * certificate below 3 000 bits (unsuitable for signatures after 2025) is re-issued on its next use.
 *
 * The Demo-CA revokes (revoke(): RFC 5280 reasons), and publishes in <dataDir>/pki/:
 *
 *   ca.cer          the CA certificate (DER)
 *   ca.crl          its CRL (DER, v2, 7 days; re-issued on every revocation and a day before nextUpdate)
 *   revoked.json    the revocations, and the CRL number
 *   issued.json     every certificate it issued (serials stay known after a re-issue)
 *
 * and answers OCSP requests (respondOcsp()). PKCS#12 files are read with
 * node-forge, which handles both the modern OpenSSL 3 default (PBES2 with AES-256-CBC, PBKDF2
 * with HMAC-SHA-256, SHA-256 MAC) and the legacy formats (RC2-40 / 3DES with SHA-1 MAC). Not
 * supported: PBMAC1 integrity (OpenSSL 3.4+ -pbmac1_pbkdf2) and public-key integrity mode.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPair, randomBytes, sign as signData, X509Certificate, type KeyObject } from 'node:crypto';
import { decryptPrivateKey, encryptPrivateKey, KDF_ITERATIONS, kdfIterations, protectionOf, upToDate, type KeyProtection } from './key-encryption.ts';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import forge from 'node-forge';
import type { SignatoryPerson, SigningIdentity } from './identity.ts';
import { identitySigner, SIGNER_KIND_LABELS, type Signer } from './signer.ts';
import { writeFilesAtomically } from '../store/atomic.ts';
import { slug } from '../store/files.ts';
import { publicBaseUrl } from '../config.ts';
import { answerOcspRequest, buildCrl, crlInfo, crlSignedBy, isRevocationReason, ocspErrorResponse, signatureAlgorithmFor, REVOCATION_REASONS, serialKey, type LocalRevocation, type OcspStatus, type RevocationReason } from './revocation.ts';
import { sha256Hex } from '../digest.ts';

export { REVOCATION_REASONS, type RevocationReason } from './revocation.ts';

/** Used only when ZV_KEY_PASSPHRASE is unset in dev mode; it is public, so it protects nothing. */
export const DEFAULT_DEV_PASSPHRASE = 'zielwerk-dev-only-passphrase-not-secret';
/** The Demo-CA key's counterpart of DEFAULT_DEV_PASSPHRASE (ZV_CA_PASSPHRASE unset in dev mode). */
export const DEFAULT_DEV_CA_PASSPHRASE = 'zielwerk-dev-only-ca-passphrase-not-secret';
const MIN_PASSPHRASE_LENGTH = 12;

export class KeyStoreError extends Error {
  name = 'KeyStoreError';
}

export interface PassphraseChoice {
  passphrase: string;
  /** For the Demo-CA's key; "" in production when ZV_CA_PASSPHRASE is unset (no certificates can then be issued). */
  caPassphrase: string;
  /** True unless ZV_ENV or NODE_ENV is "production". */
  dev: boolean;
  /** Set when the public default passphrase is in use; the CLI prints it to stderr. */
  warning?: string;
}

const DEV_PASSPHRASE_WARNING = [
  '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!',
  '!! WARNING: ZV_KEY_PASSPHRASE is not set. Private signing keys are encrypted',
  '!! with the PUBLIC default development passphrase and are NOT protected.',
  '!! Use this for development and demos only. For real use set ZV_KEY_PASSPHRASE',
  '!! (at least 12 characters) and ZV_ENV=production.',
  '!!',
  '!! WARNUNG: ZV_KEY_PASSPHRASE ist nicht gesetzt. Die privaten Signaturschlüssel',
  '!! sind mit der ÖFFENTLICH bekannten Entwicklungs-Passphrase verschlüsselt und',
  '!! damit NICHT geschützt. Nur für Entwicklung und Vorführungen! Für den echten',
  '!! Einsatz ZV_KEY_PASSPHRASE (mindestens 12 Zeichen) und ZV_ENV=production setzen.',
  '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!',
].join('\n');

/**
 * ZV_KEY_PASSPHRASE if set (at least 12 characters). If unset (or empty): refused in production
 * (ZV_ENV or NODE_ENV = "production"); in dev mode the public default plus a loud warning.
 */
export function choosePassphrase(env: NodeJS.ProcessEnv = process.env): PassphraseChoice {
  const production = env.ZV_ENV === 'production' || env.NODE_ENV === 'production';
  const store = chooseStorePassphrase(env, production);
  const ca = chooseCaPassphrase(env, production, store.passphrase);
  const warnings = [store.warning, ca.warning].filter((w): w is string => !!w);
  return { passphrase: store.passphrase, caPassphrase: ca.passphrase, dev: !production, ...(warnings.length ? { warning: warnings.join('\n') } : {}) };
}

function chooseStorePassphrase(env: NodeJS.ProcessEnv, production: boolean): { passphrase: string; warning?: string } {
  const given = env.ZV_KEY_PASSPHRASE;
  if (given !== undefined && given !== '') {
    checkLength('ZV_KEY_PASSPHRASE', given);
    if (given === DEFAULT_DEV_PASSPHRASE) {
      if (production) throw new KeyStoreError('ZV_KEY_PASSPHRASE is the public default development passphrase, which is refused in production: choose a passphrase of your own');
      return { passphrase: given, warning: DEV_PASSPHRASE_WARNING };
    }
    return { passphrase: given };
  }
  if (production) {
    throw new KeyStoreError(
      'ZV_KEY_PASSPHRASE is not set: in production the private signing keys must be encrypted with a passphrase of your own. ' +
        `Set ZV_KEY_PASSPHRASE (at least ${MIN_PASSPHRASE_LENGTH} characters) and keep it safe; without it the stored keys cannot be used.`,
    );
  }
  return { passphrase: DEFAULT_DEV_PASSPHRASE, warning: DEV_PASSPHRASE_WARNING };
}

/**
 * ZV_CA_PASSPHRASE: at least 12 characters and not the store passphrase (whoever holds that could
 * otherwise mint identities). Unset: the public dev default in dev mode (with a warning); in
 * production none, so the Demo-CA issues nothing — signing with certificates already issued still works.
 */
function chooseCaPassphrase(env: NodeJS.ProcessEnv, production: boolean, storePassphrase: string): { passphrase: string; warning?: string } {
  const given = env.ZV_CA_PASSPHRASE;
  if (given !== undefined && given !== '') {
    checkLength('ZV_CA_PASSPHRASE', given);
    if (given === storePassphrase) throw new KeyStoreError('ZV_CA_PASSPHRASE must differ from ZV_KEY_PASSPHRASE: the Demo-CA key, which can issue new signing certificates, is kept under a passphrase of its own');
    if (given === DEFAULT_DEV_CA_PASSPHRASE && production) throw new KeyStoreError('ZV_CA_PASSPHRASE is the public default development passphrase, which is refused in production: choose a passphrase of your own');
    return { passphrase: given };
  }
  // In dev mode the key store says so when it actually uses the CA key (DEV_CA_NOTICE).
  return { passphrase: production ? '' : DEFAULT_DEV_CA_PASSPHRASE };
}

const DEV_CA_NOTICE =
  '!! ZV_CA_PASSPHRASE is not set: the Demo-CA key is encrypted with the public default development passphrase. / ZV_CA_PASSPHRASE ist nicht gesetzt: Der Schlüssel der Demo-CA ist mit der öffentlich bekannten Entwicklungs-Passphrase verschlüsselt.';

function checkLength(name: string, value: string): void {
  if ([...value].length < MIN_PASSPHRASE_LENGTH) throw new KeyStoreError(`${name} is too short: it must have at least ${MIN_PASSPHRASE_LENGTH} characters`);
}

export interface CertificateInfo {
  /** RFC 4514 form, most specific attribute first ("CN=…, O=…, C=DE"). */
  subject: string;
  issuer: string;
  /** Upper-case hex, as OpenSSL prints it. */
  serial: string;
  notBefore: Date;
  notAfter: Date;
  /** Lower-case hex SHA-256 of the DER certificate. */
  sha256: string;
  source: 'demo-ca' | 'pkcs12';
  /** For imported certificates: the name it was imported for; role and organisation come from the certificate's title and O (or ""). */
  name: string;
  role: string;
  organisation: string;
  /** "ECDSA P-256", "RSA 2048" … */
  keyAlgorithm: string;
  /** Demo-CA signatory certificates: the reference `zv keys revoke` takes (the identity file's name). */
  ref?: string;
  /** Set when the Demo-CA revoked the certificate. */
  revoked?: { at: Date; reason: RevocationReason };
}

/** What revoke() recorded. */
export interface RevocationRecord {
  serial: string;
  subject: string;
  ref: string | null;
  revokedAt: Date;
  reason: RevocationReason;
  /** <dataDir>/pki/ca.crl, re-issued with the revocation. */
  crlPath: string;
  crlNumber: bigint;
  crlNextUpdate: Date;
  /** For removeFromCRL: the hold was lifted and the certificate is valid again. */
  released?: boolean;
}

const CA_COMMON_NAME = 'Zielwerk Demo-CA (kein qualifizierter Vertrauensdienst)';
const CA_ORGANISATION = 'Zielwerk (Demo)';
const CA_YEARS = 30;
const SIGNATORY_YEARS = 3;
/** RSA keys below this size are unsuitable for signatures after 2025 (SOG-IS, BSI TR-02102-1): their certificates are re-issued. */
const MIN_RSA_BITS = 3000;
const CRL_VALIDITY_MS = 7 * 86_400_000;
/** On request, a CRL older than this is reissued (when the CA key is available). */
const CRL_FRESH_MS = 1_000;
/** A CRL this close to its nextUpdate is re-issued when it is asked for. */
const CRL_RENEW_MS = 86_400_000;
const OCSP_VALIDITY_MS = 86_400_000;
/** After a failed attempt to decrypt the CA key, OCSP says tryLater for this long without trying again (each attempt costs a key derivation). */
const CA_KEY_RETRY_MS = 60_000;
const REVOKED_FORMAT = 'zielwerk-revocations/1';
const ISSUED_FORMAT = 'zielwerk-issued/1';
const DAY_MS = 86_400_000;
/**
 * Certificates start one day before they are needed: signing time is "now" (documents of past
 * years are signed today, not back-dated), so a day covers only clock skew between machines.
 */
const CLOCK_SKEW_MS = DAY_MS;
const IDENTITY_FORMAT = 'zielwerk-identity/1';
const STORE_FORMAT = 'zielwerk-keystore/2';
/** Decrypted keys kept per process: the passphrase is in this process's memory anyway, and a 26-agreement batch then derives the minister's key once, not 26 times. */
const KEY_CACHE_SIZE = 64;

/** One private key of the store and how it is protected (zv keys list). */
export interface KeyFileStatus {
  /** Relative to the data directory. */
  path: string;
  kind: 'ca' | 'signatory';
  protection: KeyProtection;
  upToDate: boolean;
}

export interface KeyStoreStatus {
  /** 1: written before 2026-12 (no keystore.json, the CA key under the store passphrase); 2: current. */
  version: 1 | 2;
  keys: KeyFileStatus[];
  /** Whether ca.cert.pem is there without ca.key.pem (restored from a backup made without --include-ca-key). */
  caKeyMissing: boolean;
}

export interface RekeyResult {
  signatoryKeys: number;
  caKey: boolean;
  /** The store had the format before 2026-12. */
  migrated: boolean;
  /** How the keys were protected before, and how many each way. */
  before: Record<string, number>;
  after: string;
}

const OID = {
  commonName: '2.5.4.3',
  country: '2.5.4.6',
  organisation: '2.5.4.10',
  title: '2.5.4.12',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  cRLDistributionPoints: '2.5.29.31',
  authorityInfoAccess: '1.3.6.1.5.5.7.1.1',
  adOcsp: '1.3.6.1.5.5.7.48.1',
  adCaIssuers: '1.3.6.1.5.5.7.48.2',
};

interface StoredRevocation {
  serial: string;
  /** SHA-256 of the CA certificate that issued it (a replaced Demo-CA starts a list of its own). */
  ca: string;
  subject: string;
  revokedAt: string;
  reason: RevocationReason;
  recordedAt: string;
}

interface RevocationFile {
  format: typeof REVOKED_FORMAT;
  crlNumber: string;
  revoked: StoredRevocation[];
}

interface IssuedEntry {
  serial: string;
  ca: string;
  subject: string;
  sha256: string;
  ref: string;
  notBefore: string;
  notAfter: string;
  /** When this store issued it; null for a certificate issued before the register existed (recorded when it was replaced). */
  issuedAt: string | null;
}

interface StoredIdentity {
  format: typeof IDENTITY_FORMAT;
  name: string;
  role: string;
  organisation: string;
  source: 'demo-ca' | 'pkcs12';
  certificate: string;
  chain: string[];
  privateKey: string;
}

interface LoadedCa {
  der: Uint8Array;
  x509: X509Certificate;
  info: CertificateInfo;
}

const generateKeyPairAsync = promisify(generateKeyPair);
const generateEcKeyPair = () => generateKeyPairAsync('ec', { namedCurve: 'P-256' });

export class KeyStore {
  /** Serialises issuing and importing within this process, so concurrent signatures for one person share one certificate. */
  private queue: Promise<unknown> = Promise.resolve();

  private readonly keyCache = new Map<string, KeyObject>();
  /** The Demo-CA key for CRLs and OCSP (by the key file's hash), or when it last could not be had. */
  private caKeyCache: { id: string; key: KeyObject } | null = null;
  private caKeyFailedAt = 0;
  private devCaNoticed = false;
  /** Whether this instance has looked for keys below current guidance (once per process). */
  private protectionChecked = false;

  private constructor(
    readonly dir: string,
    private passphrase: string,
    private caPassphrase: string,
    private readonly notice: (message: string) => void,
    private readonly iterations: number,
    /** Where this instance publishes its CRL, OCSP responder and CA certificate (ZV_BASE_URL). */
    readonly baseUrl: string,
  ) {
    if (passphrase && passphrase === caPassphrase) throw new KeyStoreError('the Demo-CA key needs a passphrase of its own: ZV_CA_PASSPHRASE must differ from ZV_KEY_PASSPHRASE');
  }

  /**
   * dir = <dataDir>/keys. Creates nothing until init()/identityFor()/importPkcs12(). An empty
   * passphrase is accepted for passphrase-free uses (list(), caCertificatePem()); any use of a
   * private key then fails with a KeyStoreError. caPassphrase protects the Demo-CA's key
   * ("" = not available: certificates already issued still sign, new ones cannot be issued);
   * `notice` hears of the one-time re-encryption of a store written before 2026-12 and of re-issued
   * certificates; `baseUrl` (default ZV_BASE_URL) goes into new certificates' CRL and OCSP URLs.
   */
  static open(dataDir: string, passphrase: string, caPassphrase = DEFAULT_DEV_CA_PASSPHRASE, opts: { notice?: (message: string) => void; kdfIterations?: number; baseUrl?: string } = {}): KeyStore {
    return new KeyStore(join(dataDir, 'keys'), passphrase, caPassphrase, opts.notice ?? (() => {}), opts.kdfIterations ?? kdfIterations(), (opts.baseUrl ?? publicBaseUrl()).replace(/\/+$/, ''));
  }

  /** Creates the demo CA if absent (idempotent). Returns whether it was created and its info. */
  init(): Promise<{ created: boolean; ca: CertificateInfo }> {
    return this.exclusive(async () => {
      await this.migrateIfOld();
      const existed = this.caExists();
      const { ca } = await this.ensureCa();
      return { created: !existed, ca: ca.info };
    });
  }

  /** Whether the Demo-CA's key can be used (a CA passphrase was given): without it the store signs with certificates already issued, and issues none. */
  get canIssue(): boolean {
    return !!this.caPassphrase;
  }

  /** The store's format and every private key's protection; reads no key. */
  status(): KeyStoreStatus {
    const keys: KeyFileStatus[] = [];
    const rel = (path: string) => join('keys', path.slice(this.dir.length + 1));
    if (existsSync(this.caKeyPath)) {
      const protection = protectionOf(readFileSync(this.caKeyPath, 'utf8'));
      keys.push({ path: rel(this.caKeyPath), kind: 'ca', protection, upToDate: upToDate(protection) });
    }
    for (const path of this.identityFiles()) {
      const protection = protectionOf(readStored(path).privateKey);
      keys.push({ path: rel(path), kind: 'signatory', protection, upToDate: upToDate(protection) });
    }
    return { version: this.isOldFormat() ? 1 : 2, keys, caKeyMissing: existsSync(this.caCertPath) && !existsSync(this.caKeyPath) };
  }

  /**
   * Re-encrypts every private key with fresh salts and the current KDF, optionally under new
   * passphrases; all files are replaced in one atomic group, or none. Also migrates a store of
   * the format before 2026-12 (its CA key is read with the store passphrase).
   */
  rekey(opts: { passphrase?: string; caPassphrase?: string } = {}): Promise<RekeyResult> {
    return this.exclusive(() => this.rekeyLocked(opts));
  }

  /** The CA certificate as PEM (throws KeyStoreError if not initialised). */
  caCertificatePem(): string {
    return toPem('CERTIFICATE', this.readCa().der);
  }

  /** The CA certificate as DER, the form verification takes as a trust anchor. */
  caCertificateDer(): Uint8Array {
    return this.readCa().der;
  }

  /**
   * The identity for a person: an imported PKCS#12 for that name wins; otherwise a demo-CA
   * certificate, issued on first use and reused for the same name + role + organisation.
   * Refused when the certificate is not valid at `at` (default now), the signing time.
   */
  /** The key-store signer for a person (see identityFor): a key this server holds, legally a simple signature. */
  async signerFor(person: SignatoryPerson, opts: { at?: Date } = {}): Promise<Signer> {
    const identity = await this.identityFor(person, opts);
    return identitySigner(identity, {
      description: `${SIGNER_KIND_LABELS.keystore}: ${identity.source === 'pkcs12' ? 'importiertes PKCS#12-Zertifikat' : 'Zertifikat der Zielwerk-Demo-CA'} für ${person.name}`,
    });
  }

  identityFor(person: SignatoryPerson, opts: { at?: Date } = {}): Promise<SigningIdentity> {
    return this.exclusive(async () => {
      const p = checkPerson(person);
      const at = opts.at ?? new Date();
      await this.migrateIfOld();
      const importedPath = this.importedPath(p.name);
      if (existsSync(importedPath)) return this.useStored(importedPath, at);

      const path = this.demoPath(p);
      // An issued certificate signs without the CA's key (which a restored backup may lack).
      if (existsSync(path) && existsSync(this.caCertPath)) {
        const stored = readStored(path);
        // A certificate from an earlier Demo-CA (ca.* deleted and recreated) would not chain: reissue.
        if (stored.chain.length > 0 && sha256Hex(new X509Certificate(stored.chain[0]).raw) === this.readCa().info.sha256) {
          const cert = parseCertificate(stored.certificate, path);
          const revoked = this.revocationOf(cert.serialNumber);
          if (revoked) {
            throw new KeyStoreError(
              `the certificate of "${stored.name}" (${rfc4514(cert.subject)}, serial ${cert.serialNumber}) was revoked on ${iso(new Date(revoked.revokedAt))} (${revoked.reason}) and no longer signs; ` +
                `delete ${path} to have a new demo certificate issued`,
            );
          }
          const weak = weakKey(cert);
          if (!weak) return this.useStored(path, at);
          if (!this.canIssue || !existsSync(this.caKeyPath)) {
            this.notice(`the certificate of "${stored.name}" (serial ${cert.serialNumber}) has a ${weak} key, which is unsuitable for signatures after 2025; it cannot be re-issued without the Demo-CA key (ZV_CA_PASSPHRASE), so it signs once more as it is`);
            return this.useStored(path, at);
          }
          const { ca, key } = await this.ensureCa(`a certificate for ${p.name}`);
          const renewed = await this.issueLocked(p, this.defaultValidity(ca, at), ca, key);
          this.notice(`re-issued the certificate of "${stored.name}": its ${weak} key (serial ${cert.serialNumber}) is unsuitable for signatures after 2025; the new one (serial ${new X509Certificate(renewed.certificate).serialNumber}) is ECDSA P-256`);
          return this.useStored(path, at);
        }
      }
      const { ca, key } = await this.ensureCa(`a certificate for ${p.name}`);
      await this.issueLocked(p, this.defaultValidity(ca, at), ca, key);
      return this.useStored(path, at);
    });
  }

  /** Imports a PKCS#12 for the given person name; the private key is re-encrypted with the store passphrase. Writes nothing on failure. */
  importPkcs12(bytes: Uint8Array, password: string, forName: string): Promise<CertificateInfo> {
    return this.exclusive(async () => {
      const name = normalise(forName);
      if (!name) throw new KeyStoreError('importing a PKCS#12 file needs the name of the person it belongs to');
      const { key, certificate, chain } = readPkcs12(bytes, password);
      await this.migrateIfOld();
      const stored: StoredIdentity = {
        format: IDENTITY_FORMAT,
        name,
        role: attribute(certificate, OID.title) ?? '',
        organisation: attribute(certificate, OID.organisation) ?? '',
        source: 'pkcs12',
        certificate: toPem('CERTIFICATE', certificate),
        chain: chain.map((c) => toPem('CERTIFICATE', c)),
        privateKey: await this.encryptKey(key),
      };
      this.writeKeyFiles([{ path: this.importedPath(name), text: JSON.stringify(stored, null, 2) + '\n' }]);
      return describeStored(stored);
    });
  }

  /** All certificates in the store: the CA first, then the signatories by name (with their ref and revocation). */
  list(): CertificateInfo[] {
    const result: CertificateInfo[] = [];
    const ca = existsSync(this.caCertPath) ? this.readCa() : null;
    if (ca) result.push(ca.info);
    const revocations = ca ? this.revocationsOfCa(ca.info.sha256) : [];
    const people = this.identityFiles().map((path) => {
      const stored = readStored(path);
      const info = describeStored(stored);
      if (stored.source !== 'demo-ca') return info;
      const revoked = revocations.find((r) => serialKey(r.serial) === serialKey(info.serial) && info.issuer === ca?.info.subject);
      return { ...info, ref: refOf(path), ...(revoked ? { revoked: { at: new Date(revoked.revokedAt), reason: revoked.reason } } : {}) };
    });
    people.sort((a, b) => a.name.localeCompare(b.name, 'de') || a.source.localeCompare(b.source) || a.notBefore.getTime() - b.notBefore.getTime());
    return [...result, ...people];
  }

  /** Test/ops hook: issues a demo-CA certificate with explicit validity, replacing the stored one for that person. */
  issue(person: SignatoryPerson, validity: { notBefore: Date; notAfter: Date }): Promise<CertificateInfo> {
    return this.exclusive(async () => {
      const p = checkPerson(person);
      await this.migrateIfOld();
      const { ca, key } = await this.ensureCa(`a certificate for ${p.name}`);
      const notBefore = wholeSeconds(validity.notBefore);
      const notAfter = wholeSeconds(validity.notAfter);
      if (!(notBefore < notAfter)) throw new KeyStoreError(`invalid validity: notBefore ${iso(notBefore)} is not before notAfter ${iso(notAfter)}`);
      if (notBefore < ca.info.notBefore || notAfter > ca.info.notAfter) {
        throw new KeyStoreError(`cannot issue a certificate valid from ${iso(notBefore)} to ${iso(notAfter)}: the Demo-CA itself is valid only from ${iso(ca.info.notBefore)} to ${iso(ca.info.notAfter)}`);
      }
      return describeStored(await this.issueLocked(p, { notBefore, notAfter }, ca, key));
    });
  }

  // ---- revocation ----

  /**
   * Revokes a Demo-CA certificate: `refOrSerial` is a signatory ref as `zv keys list` shows it
   * (the identity file's name, e.g. kai-klose-1a2b3c4d5e6f), a serial (hex, colons allowed), or a
   * name that exactly one current Demo-CA certificate bears. Records the revocation in
   * <dataDir>/pki/revoked.json and re-issues the CRL in the same atomic step. `removeFromCRL`
   * lifts a certificateHold; a certificate on hold can be revoked for good. Needs the CA key.
   */
  revoke(refOrSerial: string, reason: RevocationReason, at: Date = new Date()): Promise<RevocationRecord> {
    return this.exclusive(async () => {
      if (!isRevocationReason(reason)) throw new KeyStoreError(`unknown revocation reason "${reason}": one of ${REVOCATION_REASONS.join(', ')}`);
      if (!(at instanceof Date) || Number.isNaN(at.getTime())) throw new KeyStoreError('the revocation date is not a valid date');
      if (at.getTime() > Date.now() + 60_000) throw new KeyStoreError(`a revocation cannot be dated in the future (${iso(at)})`);
      if (!existsSync(this.caCertPath)) throw new KeyStoreError(`the key store in ${this.dir} has no Demo-CA yet: there is nothing to revoke`);
      await this.migrateIfOld();
      const ca = this.readCa();
      const target = this.findIssued(refOrSerial, ca);
      const revokedAt = wholeSeconds(at);
      const file = this.readRevocationFile();
      const others = file.revoked.filter((r) => !(r.ca === ca.info.sha256 && serialKey(r.serial) === serialKey(target.serial)));
      const existing = file.revoked.find((r) => r.ca === ca.info.sha256 && serialKey(r.serial) === serialKey(target.serial));
      const what = `${target.subject} (serial ${target.serial})`;
      let revoked: StoredRevocation[];
      if (reason === 'removeFromCRL') {
        if (existing?.reason !== 'certificateHold') throw new KeyStoreError(`removeFromCRL lifts a certificateHold, but ${what} is ${existing ? `revoked (${existing.reason})` : 'not on hold'}`);
        revoked = others;
      } else {
        if (existing && existing.reason !== 'certificateHold') throw new KeyStoreError(`${what} is already revoked, on ${existing.revokedAt} (${existing.reason})`);
        if (revokedAt < target.notBefore) throw new KeyStoreError(`${what} cannot be revoked as of ${iso(revokedAt)}: it was issued only on ${iso(target.notBefore)}`);
        revoked = [...others, { serial: target.serial, ca: ca.info.sha256, subject: target.subject, revokedAt: iso(revokedAt), reason, recordedAt: iso(new Date()) }];
      }
      const { key } = await this.ensureCa('a CRL for the revocation');
      const crl = this.crlFiles(ca, key, { ...file, revoked });
      writeFilesAtomically(crl.files);
      return {
        serial: target.serial,
        subject: target.subject,
        ref: target.ref,
        revokedAt: reason === 'removeFromCRL' ? new Date(existing!.revokedAt) : revokedAt,
        reason,
        crlPath: this.crlPath,
        crlNumber: crl.number,
        crlNextUpdate: crl.nextUpdate,
        ...(reason === 'removeFromCRL' ? { released: true } : {}),
      };
    });
  }

  /**
   * The Demo-CA's current CRL (DER). Re-issued when missing, not by the current CA, or within a
   * day of its nextUpdate, if the CA key is available; otherwise the one last written is served.
   */
  currentCrl(): Promise<Uint8Array> {
    return this.exclusive(async () => {
      if (!existsSync(this.caCertPath)) throw new KeyStoreError(`the key store in ${this.dir} has no Demo-CA yet, so there is no CRL`);
      const ca = this.readCa();
      const stored = existsSync(this.crlPath) ? new Uint8Array(readFileSync(this.crlPath)) : null;
      const info = stored && crlSignedBy(stored, ca.der) ? crlInfo(stored) : null;
      // Reissued when near its nextUpdate, and on any request a second after the last issue: a relying
      // party checking right after a signature (OCSP down) then finds a CRL issued after it, as ETSI
      // freshness requires (a real CA publishes every few hours; the relying party then waits).
      if (info && info.nextUpdate && info.nextUpdate.getTime() - Date.now() > CRL_RENEW_MS && Date.now() - info.thisUpdate.getTime() < CRL_FRESH_MS) return stored!;
      const key = await this.caKeyForPublishing();
      if (!key) {
        if (info) return stored!;
        throw new KeyStoreError(`the Demo-CA has no CRL in ${this.crlPath} yet, and its key is not available to issue one (ZV_CA_PASSPHRASE)`);
      }
      const crl = this.crlFiles(ca, key, this.readRevocationFile());
      writeFilesAtomically(crl.files);
      return crl.der;
    });
  }

  /**
   * Answers an OCSP request (DER OCSPRequest → DER OCSPResponse, RFC 6960) for the Demo-CA:
   * signed by the CA key itself; good / revoked (time, reason) / unknown (a serial it did not
   * issue, or another issuer); valid for a day; the nonce echoed. malformedRequest for what does
   * not parse, tryLater when the CA key is not available (no ZV_CA_PASSPHRASE), unauthorized
   * before there is a Demo-CA.
   */
  async respondOcsp(requestDer: Uint8Array): Promise<Uint8Array> {
    if (!existsSync(this.caCertPath)) return ocspErrorResponse('unauthorized');
    const ca = this.readCa();
    const key = await this.caKeyForPublishing();
    const issued = this.issuedSerials(ca);
    const revocations = this.revocationsOfCa(ca.info.sha256);
    const status = (serialHex: string): OcspStatus => {
      const k = serialKey(serialHex);
      const r = revocations.find((x) => serialKey(x.serial) === k);
      if (r) return { status: 'revoked', revokedAt: new Date(r.revokedAt), reason: r.reason };
      return issued.has(k) ? { status: 'good' } : { status: 'unknown' };
    };
    return answerOcspRequest(requestDer, { ca: key ? { certificate: ca.der, key } : null, status, validityMs: OCSP_VALIDITY_MS });
  }

  /** Our own CA for a RevocationFetcher: its certificates (and URLs under baseUrl) answered in-process. */
  localRevocation(): LocalRevocation {
    return {
      baseUrl: this.baseUrl,
      ocsp: (request) => this.respondOcsp(request),
      crl: () => this.currentCrl(),
      caCertificate: () => (existsSync(this.caCertPath) ? this.readCa().der : null),
    };
  }

  /** Paths of the published CA certificate and CRL (<dataDir>/pki/ca.cer, ca.crl). */
  get publishedPaths(): { certificate: string; crl: string } {
    return { certificate: join(this.pkiDir, 'ca.cer'), crl: this.crlPath };
  }

  // ---- internals ----

  private exclusive<T>(task: () => Promise<T>): Promise<T> {
    const result = this.queue.then(task);
    this.queue = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  private get pkiDir(): string {
    return join(dirname(this.dir), 'pki');
  }

  private get crlPath(): string {
    return join(this.pkiDir, 'ca.crl');
  }

  private get revokedPath(): string {
    return join(this.pkiDir, 'revoked.json');
  }

  private get issuedPath(): string {
    return join(this.pkiDir, 'issued.json');
  }

  private readRevocationFile(): RevocationFile {
    if (!existsSync(this.revokedPath)) return { format: REVOKED_FORMAT, crlNumber: '0', revoked: [] };
    let data: Partial<RevocationFile>;
    try {
      data = JSON.parse(readFileSync(this.revokedPath, 'utf8')) as Partial<RevocationFile>;
    } catch (err) {
      throw new KeyStoreError(`cannot read the revocations in ${this.revokedPath}: ${errorMessage(err)}`);
    }
    if (data?.format !== REVOKED_FORMAT || !Array.isArray(data.revoked) || typeof data.crlNumber !== 'string') throw new KeyStoreError(`${this.revokedPath} is not a Zielwerk revocation list (${REVOKED_FORMAT})`);
    return data as RevocationFile;
  }

  private revocationsOfCa(caSha256: string): StoredRevocation[] {
    return this.readRevocationFile().revoked.filter((r) => r.ca === caSha256);
  }

  /** The current Demo-CA's revocation of a serial, if any. */
  private revocationOf(serial: string): StoredRevocation | undefined {
    const ca = this.readCa();
    return this.revocationsOfCa(ca.info.sha256).find((r) => serialKey(r.serial) === serialKey(serial));
  }

  private readIssued(): IssuedEntry[] {
    if (!existsSync(this.issuedPath)) return [];
    try {
      const data = JSON.parse(readFileSync(this.issuedPath, 'utf8')) as { format?: string; certificates?: IssuedEntry[] };
      if (data.format !== ISSUED_FORMAT || !Array.isArray(data.certificates)) throw new Error(`not ${ISSUED_FORMAT}`);
      return data.certificates;
    } catch (err) {
      throw new KeyStoreError(`cannot read the list of issued certificates ${this.issuedPath}: ${errorMessage(err)}`);
    }
  }

  /**
   * Every certificate the current Demo-CA issued, by serial: the register (which keeps serials of
   * certificates re-issued since) and the identity files (certificates issued before the register existed).
   */
  private issuedCertificates(ca: LoadedCa): Map<string, { serial: string; subject: string; ref: string | null; notBefore: Date; name?: string }> {
    const out = new Map<string, { serial: string; subject: string; ref: string | null; notBefore: Date; name?: string }>();
    for (const e of this.readIssued()) if (e.ca === ca.info.sha256) out.set(serialKey(e.serial), { serial: e.serial, subject: e.subject, ref: e.ref, notBefore: new Date(e.notBefore) });
    const dir = join(this.dir, 'signatories');
    if (existsSync(dir)) {
      for (const file of readdirSync(dir).sort()) {
        if (file.startsWith('.') || !file.endsWith('.json')) continue;
        const path = join(dir, file);
        const stored = readStored(path);
        if (stored.chain.length === 0 || sha256Hex(new X509Certificate(stored.chain[0]).raw) !== ca.info.sha256) continue;
        const cert = parseCertificate(stored.certificate, path);
        // The identity file names the current certificate of a ref; the register may hold older ones of it.
        out.set(serialKey(cert.serialNumber), { serial: cert.serialNumber, subject: rfc4514(cert.subject), ref: refOf(path), notBefore: new Date(cert.validFrom), name: stored.name });
      }
    }
    return out;
  }

  private issuedSerials(ca: LoadedCa): Set<string> {
    return new Set(this.issuedCertificates(ca).keys());
  }

  /** The certificate `refOrSerial` names (see revoke()). */
  private findIssued(refOrSerial: string, ca: LoadedCa): { serial: string; subject: string; ref: string | null; notBefore: Date } {
    const given = refOrSerial.trim();
    if (!given) throw new KeyStoreError('name the certificate to revoke: a signatory ref (zv keys list) or a serial');
    const isSerial = /^[0-9a-f:]+$/i.test(given);
    if (isSerial && serialKey(given) === serialKey(ca.info.serial)) throw new KeyStoreError("the Demo-CA's own certificate cannot be revoked on its own CRL");
    const issued = [...this.issuedCertificates(ca).values()];
    const current = issued.filter((c) => c.name !== undefined);
    const byRef = current.find((c) => c.ref === given);
    if (byRef) return byRef;
    if (isSerial) {
      const bySerial = issued.find((c) => serialKey(c.serial) === serialKey(given));
      if (bySerial) return bySerial;
    }
    const byName = current.filter((c) => normalise(c.name!).toLowerCase() === normalise(given).toLowerCase());
    if (byName.length === 1) return byName[0]!;
    if (byName.length > 1) throw new KeyStoreError(`"${given}" has ${byName.length} certificates of the Demo-CA; name one by its ref: ${byName.map((c) => c.ref).join(', ')}`);
    throw new KeyStoreError(`no certificate of the Demo-CA matches "${given}": give a signatory ref as zv keys list shows it (e.g. ${current[0]?.ref ?? 'kai-klose-1a2b3c4d5e6f'}) or a serial (hex)`);
  }

  /** The CRL (and the revocation file with its number, and ca.cer) as one atomic group of files. */
  private crlFiles(ca: LoadedCa, key: KeyObject, file: RevocationFile): { files: Array<{ path: string; bytes: Uint8Array }>; der: Uint8Array; number: bigint; nextUpdate: Date } {
    const stored = existsSync(this.crlPath) ? crlInfo(new Uint8Array(readFileSync(this.crlPath))) : null;
    // Monotonic across a lost revoked.json or a lost ca.crl (RFC 5280 5.2.3).
    const number = [BigInt(file.crlNumber || '0'), stored?.number ?? 0n].reduce((a, b) => (a > b ? a : b)) + 1n;
    const thisUpdate = wholeSeconds(new Date());
    const nextUpdate = new Date(thisUpdate.getTime() + CRL_VALIDITY_MS);
    const revoked = file.revoked.filter((r) => r.ca === ca.info.sha256).map((r) => ({ serial: r.serial, revokedAt: new Date(r.revokedAt), reason: r.reason }));
    const der = buildCrl({ certificate: ca.der, key }, { number, thisUpdate, nextUpdate, revoked });
    this.ensurePkiDir();
    const next: RevocationFile = { format: REVOKED_FORMAT, crlNumber: number.toString(), revoked: file.revoked };
    return {
      files: [
        { path: this.revokedPath, bytes: Buffer.from(JSON.stringify(next, null, 2) + '\n', 'utf8') },
        { path: this.crlPath, bytes: der },
        { path: join(this.pkiDir, 'ca.cer'), bytes: ca.der },
      ],
      der,
      number,
      nextUpdate,
    };
  }

  /** ca.cer and a first CRL, once the CA (and its key) is at hand. */
  private publishIfMissing(ca: LoadedCa, key: KeyObject): void {
    const cer = join(this.pkiDir, 'ca.cer');
    const crl = existsSync(this.crlPath) ? new Uint8Array(readFileSync(this.crlPath)) : null;
    const current = existsSync(cer) && Buffer.from(readFileSync(cer)).equals(Buffer.from(ca.der)) && crl && crlSignedBy(crl, ca.der);
    if (current) return;
    writeFilesAtomically(this.crlFiles(ca, key, this.readRevocationFile()).files);
  }

  /** The CA key for CRLs and OCSP, or null when it is not available (no passphrase, no key file, a wrong passphrase). */
  private async caKeyForPublishing(): Promise<KeyObject | null> {
    if (!this.caPassphrase || !existsSync(this.caKeyPath)) return null;
    const pem = readFileSync(this.caKeyPath, 'utf8');
    const id = sha256Hex(pem);
    if (this.caKeyCache?.id === id) return this.caKeyCache.key;
    if (Date.now() - this.caKeyFailedAt < CA_KEY_RETRY_MS) return null;
    try {
      const key = await decryptPrivateKey(pem, this.caPassphrase);
      assertKeyMatches(key, this.readCa().x509, this.caKeyPath);
      this.caKeyCache = { id, key };
      return key;
    } catch {
      this.caKeyFailedAt = Date.now();
      return null;
    }
  }

  private ensurePkiDir(): void {
    mkdirSync(this.pkiDir, { recursive: true });
  }

  /** Adds a certificate to the register of issued certificates. */
  private register(der: Uint8Array, ca: LoadedCa, ref: string, issuedAt: Date | null = new Date()): void {
    const x = new X509Certificate(der);
    const entries = this.readIssued().filter((e) => !(e.ca === ca.info.sha256 && serialKey(e.serial) === serialKey(x.serialNumber)));
    entries.push({ serial: x.serialNumber, ca: ca.info.sha256, subject: rfc4514(x.subject), sha256: sha256Hex(der), ref, notBefore: iso(new Date(x.validFrom)), notAfter: iso(new Date(x.validTo)), issuedAt: issuedAt ? iso(issuedAt) : null });
    this.ensurePkiDir();
    writeFilesAtomically([{ path: this.issuedPath, bytes: Buffer.from(JSON.stringify({ format: ISSUED_FORMAT, certificates: entries }, null, 2) + '\n', 'utf8') }]);
  }

  private get caCertPath(): string {
    return join(this.dir, 'ca.cert.pem');
  }

  private get caKeyPath(): string {
    return join(this.dir, 'ca.key.pem');
  }

  private importedPath(name: string): string {
    const n = normalise(name);
    return join(this.dir, 'imported', `${keySlug(n)}-${sha256Hex(n).slice(0, 12)}.json`);
  }

  private demoPath(p: SignatoryPerson): string {
    return join(this.dir, 'signatories', `${keySlug(p.name)}-${sha256Hex([p.name, p.role, p.organisation].join('\u0000')).slice(0, 12)}.json`);
  }

  private get markerPath(): string {
    return join(this.dir, 'keystore.json');
  }

  private caExists(): boolean {
    return existsSync(this.caCertPath) || existsSync(this.caKeyPath);
  }

  /** The identity files, imported first, skipping temporaries of interrupted writes. */
  private identityFiles(): string[] {
    const files: string[] = [];
    for (const sub of ['imported', 'signatories']) {
      const dir = join(this.dir, sub);
      if (!existsSync(dir)) continue;
      for (const file of readdirSync(dir).sort()) if (!file.startsWith('.') && file.endsWith('.json')) files.push(join(dir, file));
    }
    return files;
  }

  /** A store holding keys but no keystore.json was written before 2026-12. */
  private isOldFormat(): boolean {
    return !existsSync(this.markerPath) && (existsSync(this.caKeyPath) || this.identityFiles().length > 0);
  }

  /**
   * The one-time migration of a store from before 2026-12, on its first use with a passphrase; and,
   * when this instance encrypts with the full count, of keys written below it (by a test setting).
   */
  private async migrateIfOld(): Promise<void> {
    if (!this.isOldFormat()) {
      if (this.protectionChecked || this.iterations < KDF_ITERATIONS) return;
      this.protectionChecked = true;
      const weak = this.status().keys.filter((k) => !k.upToDate);
      if (!weak.length || !this.passphrase || (weak.some((k) => k.kind === 'ca') && !this.caPassphrase)) return;
      const r = await this.rekeyLocked({});
      this.notice(`key store ${this.dir}: ${weak.length} key(s) were below current guidance; re-encrypted all with ${r.after}`);
      return;
    }
    if (existsSync(this.caKeyPath) && !this.caPassphrase) {
      throw new KeyStoreError(
        `the key store in ${this.dir} has the format before 2026-12: its Demo-CA key is encrypted under the store passphrase with only 2 048 PBKDF2 iterations. ` +
          'Set ZV_CA_PASSPHRASE (at least 12 characters, not ZV_KEY_PASSPHRASE) and run "zv keys rekey" to re-encrypt all keys.',
      );
    }
    const r = await this.rekeyLocked({});
    this.notice(
      `key store ${this.dir}: re-encrypted ${r.signatoryKeys} signatory key(s)${r.caKey ? ' and the Demo-CA key (now under ZV_CA_PASSPHRASE)' : ''} with ${r.after}; ` +
        `before: ${Object.entries(r.before).map(([d, n]) => `${n}× ${d}`).join(', ')}`,
    );
  }

  private async rekeyLocked(opts: { passphrase?: string; caPassphrase?: string }): Promise<RekeyResult> {
    const passphrase = opts.passphrase ?? this.passphrase;
    const caPassphrase = opts.caPassphrase ?? this.caPassphrase;
    if (!this.passphrase) throw new KeyStoreError('no key store passphrase given: the keys cannot be re-encrypted (set ZV_KEY_PASSPHRASE)');
    for (const [name, value] of [['the new store passphrase', opts.passphrase], ['the new Demo-CA passphrase', opts.caPassphrase]] as const) {
      if (value !== undefined && [...value].length < MIN_PASSPHRASE_LENGTH) throw new KeyStoreError(`${name} is too short: it must have at least ${MIN_PASSPHRASE_LENGTH} characters`);
    }
    const migrated = this.isOldFormat();
    const haveCaKey = existsSync(this.caKeyPath);
    if (haveCaKey && !caPassphrase) throw new KeyStoreError('no Demo-CA passphrase given: its key cannot be re-encrypted (set ZV_CA_PASSPHRASE)');
    if (haveCaKey && caPassphrase === passphrase) throw new KeyStoreError('the Demo-CA key needs a passphrase of its own: it must differ from the store passphrase');

    const before: Record<string, number> = {};
    const count = (pem: string) => {
      const d = protectionOf(pem).description;
      before[d] = (before[d] ?? 0) + 1;
    };
    // Everything is decrypted before anything is written: a key that cannot be read leaves the store as it was.
    const files: Array<{ path: string; text: string }> = [];
    if (haveCaKey) {
      const pem = readFileSync(this.caKeyPath, 'utf8');
      count(pem);
      // Before 2026-12 the CA key was under the store passphrase.
      const key = await this.decryptWith(pem, migrated ? this.passphrase : this.caPassphrase, this.caKeyPath, migrated ? 'ZV_KEY_PASSPHRASE' : 'ZV_CA_PASSPHRASE');
      files.push({ path: this.caKeyPath, text: await encryptPrivateKey(key, caPassphrase, this.iterations) });
    }
    const identities = this.identityFiles();
    for (const path of identities) {
      const stored = readStored(path);
      count(stored.privateKey);
      const key = await this.decryptWith(stored.privateKey, this.passphrase, path, 'ZV_KEY_PASSPHRASE');
      files.push({ path, text: JSON.stringify({ ...stored, privateKey: await encryptPrivateKey(key, passphrase, this.iterations) }, null, 2) + '\n' });
    }
    this.ensureDirs();
    writePrivateFiles([...files, this.markerFile()]);
    this.passphrase = passphrase;
    this.caPassphrase = caPassphrase;
    this.keyCache.clear();
    return { signatoryKeys: identities.length, caKey: haveCaKey, migrated, before, after: `PBKDF2-HMAC-SHA256, ${this.iterations} Iterationen, aes-256-cbc` };
  }

  private markerFile(): { path: string; text: string } {
    return { path: this.markerPath, text: JSON.stringify({ format: STORE_FORMAT, kdf: 'PBKDF2-HMAC-SHA256', iterations: this.iterations, cipher: 'aes-256-cbc', caKey: 'ZV_CA_PASSPHRASE' }, null, 2) + '\n' };
  }

  /** Writes key files, with the format marker when the store has none yet. */
  private writeKeyFiles(files: Array<{ path: string; text: string }>): void {
    this.ensureDirs();
    writePrivateFiles(existsSync(this.markerPath) ? files : [...files, this.markerFile()]);
  }

  private readCa(): LoadedCa {
    if (!existsSync(this.caCertPath)) throw new KeyStoreError(`the key store in ${this.dir} has no Demo-CA yet (run init first)`);
    const x509 = parseCertificate(readFileSync(this.caCertPath, 'utf8'), this.caCertPath);
    const der = new Uint8Array(x509.raw);
    const info = describe(der, { source: 'demo-ca', name: attribute(der, OID.commonName) ?? CA_COMMON_NAME, role: '', organisation: attribute(der, OID.organisation) ?? '' });
    return { der, x509, info };
  }

  /** Loads the CA with its key (checking the passphrase), creating both when the store is new. `purpose` names what the key is needed for. */
  private async ensureCa(purpose = 'certificates'): Promise<{ ca: LoadedCa; key: KeyObject }> {
    const haveCert = existsSync(this.caCertPath);
    const haveKey = existsSync(this.caKeyPath);
    if (haveCert && !haveKey) {
      throw new KeyStoreError(
        `the Demo-CA's private key ${this.caKeyPath} is not in this store (backups leave it out unless made with --include-ca-key), so ${purpose} cannot be issued. ` +
          'Certificates issued before still sign. Restore ca.key.pem from a backup made with --include-ca-key.',
      );
    }
    if (haveKey && !haveCert) {
      throw new KeyStoreError(`the key store in ${this.dir} is incomplete: ${this.caCertPath} is missing. Restore it from a backup, or remove ${this.caKeyPath} to have a new Demo-CA created (all demo certificates are then reissued).`);
    }
    if (!this.caPassphrase) {
      throw new KeyStoreError(`ZV_CA_PASSPHRASE is not set: the Demo-CA's key is needed to ${haveCert ? `issue ${purpose}` : 'create the Demo-CA'}, and it is kept under a passphrase of its own (at least ${MIN_PASSPHRASE_LENGTH} characters, not ZV_KEY_PASSPHRASE)`);
    }
    // The store's development passphrase comes with a louder banner already.
    if (this.caPassphrase === DEFAULT_DEV_CA_PASSPHRASE && this.passphrase !== DEFAULT_DEV_PASSPHRASE && !this.devCaNoticed) {
      this.devCaNoticed = true;
      this.notice(DEV_CA_NOTICE);
    }
    if (!haveCert) await this.createCa();
    const ca = this.readCa();
    const key = await this.decryptWith(readFileSync(this.caKeyPath, 'utf8'), this.caPassphrase, this.caKeyPath, 'ZV_CA_PASSPHRASE');
    assertKeyMatches(key, ca.x509, this.caKeyPath);
    this.publishIfMissing(ca, key);
    return { ca, key };
  }

  private async createCa(): Promise<void> {
    this.assertPassphrase(); // before anything is created
    const now = wholeSeconds(new Date());
    const { publicKey, privateKey } = await generateEcKeyPair();
    const spki = publicKey.export({ type: 'spki', format: 'der' });
    const name = encodeName([
      [OID.country, 'DE'],
      [OID.organisation, CA_ORGANISATION],
      [OID.commonName, CA_COMMON_NAME],
    ]);
    const der = buildCertificate({
      issuer: name,
      subject: name,
      notBefore: new Date(now.getTime() - CLOCK_SKEW_MS),
      notAfter: addYears(now, CA_YEARS),
      spki,
      extensions: [
        extension(OID.basicConstraints, true, new asn1js.Sequence({ value: [new asn1js.Boolean({ value: true }), new asn1js.Integer({ value: 0 })] })),
        extension(OID.keyUsage, true, keyUsageBits({ keyCertSign: true, cRLSign: true })),
        extension(OID.subjectKeyIdentifier, false, new asn1js.OctetString({ valueHex: keyIdentifier(spki) })),
      ],
      signer: privateKey,
    });
    // Both files in one atomic group, so a crash cannot leave a certificate without its key.
    this.writeKeyFiles([
      { path: this.caCertPath, text: toPem('CERTIFICATE', der) },
      { path: this.caKeyPath, text: await encryptPrivateKey(privateKey, this.caPassphrase, this.iterations) },
    ]);
  }

  private defaultValidity(ca: LoadedCa, at: Date): { notBefore: Date; notAfter: Date } {
    const { notBefore: caFrom, notAfter: caTo } = ca.info;
    if (at < caFrom || at > caTo) {
      throw new KeyStoreError(`cannot issue a demo certificate for signing at ${iso(at)}: the Demo-CA is valid only from ${iso(caFrom)} to ${iso(caTo)}`);
    }
    const now = new Date();
    const notBefore = new Date(Math.max(caFrom.getTime(), wholeSeconds(new Date(Math.min(now.getTime(), at.getTime()))).getTime() - CLOCK_SKEW_MS));
    const notAfter = new Date(Math.min(caTo.getTime(), addYears(wholeSeconds(now), SIGNATORY_YEARS).getTime()));
    if (at > notAfter) {
      throw new KeyStoreError(`cannot issue a demo certificate for signing at ${iso(at)}: a new certificate would be valid only until ${iso(notAfter)}`);
    }
    return { notBefore, notAfter };
  }

  private async issueLocked(p: SignatoryPerson, validity: { notBefore: Date; notAfter: Date }, ca: LoadedCa, caKey: KeyObject): Promise<StoredIdentity> {
    // The certificate this one replaces stays known to OCSP (documents signed with it are still checked).
    const previous = existsSync(this.demoPath(p)) ? readStored(this.demoPath(p)) : null;
    if (previous && previous.chain.length > 0 && sha256Hex(new X509Certificate(previous.chain[0]).raw) === ca.info.sha256) {
      const der = new Uint8Array(parseCertificate(previous.certificate, this.demoPath(p)).raw);
      if (!this.readIssued().some((e) => e.ca === ca.info.sha256 && serialKey(e.serial) === serialKey(new X509Certificate(der).serialNumber))) this.register(der, ca, refOf(this.demoPath(p)), null);
    }
    const { publicKey, privateKey } = await generateEcKeyPair();
    const spki = publicKey.export({ type: 'spki', format: 'der' });
    const subject: Array<[string, string]> = [[OID.country, 'DE']];
    // Empty attributes are not allowed in a DN, so a missing organisation or role is left out.
    if (p.organisation) subject.push([OID.organisation, p.organisation]);
    if (p.role) subject.push([OID.title, p.role]);
    subject.push([OID.commonName, p.name]);
    const der = buildCertificate({
      issuer: issuerNameOf(ca.der),
      subject: encodeName(subject),
      ...validity,
      spki,
      extensions: [
        extension(OID.basicConstraints, true, new asn1js.Sequence({ value: [] })),
        extension(OID.keyUsage, true, keyUsageBits({ digitalSignature: true, nonRepudiation: true })),
        extension(OID.subjectKeyIdentifier, false, new asn1js.OctetString({ valueHex: keyIdentifier(spki) })),
        extension(OID.authorityKeyIdentifier, false, new asn1js.Sequence({ value: [new asn1js.Primitive({ idBlock: { tagClass: 3, tagNumber: 0 }, valueHex: keyIdentifier(ca.x509.publicKey.export({ type: 'spki', format: 'der' })) })] })),
        // Where relying parties find the status: CRL, OCSP responder, and the issuer's certificate.
        extension(OID.cRLDistributionPoints, false, new asn1js.Sequence({ value: [new asn1js.Sequence({ value: [contextConstructed(0, [contextConstructed(0, [uri(`${this.baseUrl}/pki/ca.crl`)])])] })] })),
        extension(
          OID.authorityInfoAccess,
          false,
          new asn1js.Sequence({
            value: [
              new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: OID.adOcsp }), uri(`${this.baseUrl}/pki/ocsp`)] }),
              new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: OID.adCaIssuers }), uri(`${this.baseUrl}/pki/ca.cer`)] }),
            ],
          }),
        ),
        // No extended key usage on purpose: older Acrobat and NSS (pdfsig) reject unknown EKUs such
        // as id-kp-documentSigning, while an absent EKU is accepted everywhere.
      ],
      signer: caKey,
    });
    const stored: StoredIdentity = {
      format: IDENTITY_FORMAT,
      name: p.name,
      role: p.role,
      organisation: p.organisation,
      source: 'demo-ca',
      certificate: toPem('CERTIFICATE', der),
      chain: [toPem('CERTIFICATE', ca.der)],
      privateKey: await this.encryptKey(privateKey),
    };
    this.writeKeyFiles([{ path: this.demoPath(p), text: JSON.stringify(stored, null, 2) + '\n' }]);
    this.register(der, ca, refOf(this.demoPath(p)));
    return stored;
  }

  private async useStored(path: string, at: Date): Promise<SigningIdentity> {
    const stored = readStored(path);
    const cert = parseCertificate(stored.certificate, path);
    const der = new Uint8Array(cert.raw);
    const { notBefore, notAfter } = validityOf(der);
    if (at < notBefore || at > notAfter) {
      const state = at < notBefore ? 'not yet valid' : 'expired';
      const remedy = stored.source === 'pkcs12' ? 'import a current certificate' : `delete ${path} to have a new demo certificate issued`;
      throw new KeyStoreError(
        `the certificate of "${stored.name}" (serial ${cert.serialNumber}) is ${state} at the signing time ${iso(at)}: it is valid from ${iso(notBefore)} to ${iso(notAfter)}; ${remedy}`,
      );
    }
    const privateKey = await this.decryptKey(stored.privateKey, path);
    assertKeyMatches(privateKey, cert, path);
    return { certificate: der, chain: stored.chain.map((pem) => new Uint8Array(parseCertificate(pem, path).raw)), privateKey, source: stored.source };
  }

  /** A signatory key, encrypted under the store passphrase. */
  private encryptKey(key: KeyObject): Promise<string> {
    this.assertPassphrase();
    return encryptPrivateKey(key, this.passphrase, this.iterations);
  }

  /** A signatory key, decrypted with the store passphrase (cached, see KEY_CACHE_SIZE). */
  private async decryptKey(pem: string, path: string): Promise<KeyObject> {
    this.assertPassphrase();
    const id = sha256Hex(pem);
    const cached = this.keyCache.get(id);
    if (cached) return cached;
    const key = await this.decryptWith(pem, this.passphrase, path, 'ZV_KEY_PASSPHRASE');
    if (this.keyCache.size >= KEY_CACHE_SIZE) this.keyCache.delete(this.keyCache.keys().next().value!);
    this.keyCache.set(id, key);
    return key;
  }

  private async decryptWith(pem: string, passphrase: string, path: string, variable: string): Promise<KeyObject> {
    try {
      return await decryptPrivateKey(pem, passphrase);
    } catch (err) {
      throw new KeyStoreError(`cannot decrypt the private key in ${path}: wrong ${variable}? (${errorMessage(err)})`);
    }
  }

  private assertPassphrase(): void {
    if (!this.passphrase) throw new KeyStoreError('no key store passphrase given: private keys can be neither stored nor used (set ZV_KEY_PASSPHRASE)');
  }

  private ensureDirs(): void {
    for (const dir of [this.dir, join(this.dir, 'signatories'), join(this.dir, 'imported')]) {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      chmodSync(dir, 0o700); // also tightens a directory that existed with looser permissions
    }
  }
}

// ---- storage ----

/**
 * Writes through the shared atomic writer, then restricts the files to 0600. The short window in
 * which they have the default mode is harmless: the directory is already 0700.
 */
function writePrivateFiles(files: Array<{ path: string; text: string }>): void {
  writeFilesAtomically(files.map((f) => ({ path: f.path, bytes: Buffer.from(f.text, 'utf8') })));
  for (const f of files) chmodSync(f.path, 0o600);
}

function readStored(path: string): StoredIdentity {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new KeyStoreError(`cannot read the identity file ${path}: ${errorMessage(err)}`);
  }
  const d = data as Partial<StoredIdentity>;
  const ok =
    d !== null &&
    typeof d === 'object' &&
    d.format === IDENTITY_FORMAT &&
    typeof d.name === 'string' &&
    typeof d.role === 'string' &&
    typeof d.organisation === 'string' &&
    (d.source === 'demo-ca' || d.source === 'pkcs12') &&
    typeof d.certificate === 'string' &&
    Array.isArray(d.chain) &&
    d.chain.every((c) => typeof c === 'string') &&
    typeof d.privateKey === 'string';
  if (!ok) throw new KeyStoreError(`${path} is not a Zielwerk identity file (${IDENTITY_FORMAT})`);
  return d as StoredIdentity;
}

function describeStored(s: StoredIdentity): CertificateInfo {
  return describe(new Uint8Array(new X509Certificate(s.certificate).raw), { source: s.source, name: s.name, role: s.role, organisation: s.organisation });
}

// ---- PKCS#12 ----

/** Decodes a PKCS#12 file into one private key, its certificate (original DER) and the issuer chain found in the file. */
function readPkcs12(bytes: Uint8Array, password: string): { key: KeyObject; certificate: Uint8Array; chain: Uint8Array[] } {
  const binary = Buffer.from(bytes).toString('binary');
  const parse = (): forge.asn1.Asn1 => {
    try {
      const asn = forge.asn1.fromDer(binary);
      if (asn.tagClass === forge.asn1.Class.UNIVERSAL && asn.type === forge.asn1.Type.SEQUENCE && Array.isArray(asn.value)) return asn;
    } catch {
      /* reported below */
    }
    throw new KeyStoreError('not a PKCS#12 file (.p12/.pfx): the data is not a DER-encoded PFX structure');
  };
  const hasMac = (parse().value as forge.asn1.Asn1[]).length > 2;
  let pfx: forge.pkcs12.Pkcs12Pfx;
  try {
    pfx = forge.pkcs12.pkcs12FromAsn1(parse(), false, password);
  } catch (err) {
    if (err instanceof KeyStoreError) throw err;
    const message = errorMessage(err);
    if (/MAC could not be verified/i.test(message)) throw new KeyStoreError('cannot open the PKCS#12 file: wrong password (its integrity check failed)');
    if (/unsupported MAC algorithm/i.test(message)) {
      throw new KeyStoreError(`cannot open the PKCS#12 file: its integrity check uses an unsupported algorithm (${message}); re-export it, e.g. with "openssl pkcs12 -export -macalg sha256"`);
    }
    if (/PFX|authSafe/.test(message)) throw new KeyStoreError(`not a usable PKCS#12 file: ${message}`);
    if (!hasMac) throw new KeyStoreError(`cannot decrypt the PKCS#12 file: wrong password? (the file has no integrity check, so a wrong password cannot be told apart from damage: ${message})`);
    if (!/^[\x20-\x7e]*$/.test(password)) {
      // The password check (PKCS#12 KDF over UTF-16) passed, but OpenSSL's PBES2 takes the UTF-8
      // bytes of the password, while node-forge uses its char codes. Retry with UTF-8, skipping
      // the MAC that has already been verified (node-forge cannot use two encodings at once).
      try {
        const asn = parse();
        asn.value = (asn.value as forge.asn1.Asn1[]).slice(0, 2);
        pfx = forge.pkcs12.pkcs12FromAsn1(asn, false, forge.util.encodeUtf8(password));
      } catch (retryErr) {
        throw new KeyStoreError(`cannot decrypt the PKCS#12 file although its password was accepted (unsupported encryption?): ${errorMessage(retryErr)}`);
      }
    } else {
      throw new KeyStoreError(`cannot decrypt the PKCS#12 file although its password was accepted (unsupported encryption?): ${message}`);
    }
  }

  const keys: KeyObject[] = [];
  const certs: X509Certificate[] = [];
  for (const contents of pfx.safeContents) {
    for (const bag of contents.safeBags) {
      if (bag.type === forge.pki.oids.keyBag || bag.type === forge.pki.oids.pkcs8ShroudedKeyBag) keys.push(bagKey(bag));
      else if (bag.type === forge.pki.oids.certBag) certs.push(bagCertificate(bag));
    }
  }
  if (keys.length === 0) throw new KeyStoreError('the PKCS#12 file contains no private key (it must hold the signer\'s key and certificate)');
  const pairs = keys.flatMap((key) => {
    const spki = publicKeyDer(createPublicKey(key));
    return certs.filter((c) => publicKeyDer(c.publicKey).equals(spki)).slice(0, 1).map((certificate) => ({ key, certificate }));
  });
  if (pairs.length === 0) throw new KeyStoreError('the PKCS#12 file contains no certificate matching its private key');
  if (pairs.length > 1) throw new KeyStoreError(`the PKCS#12 file contains ${pairs.length} keys with certificates; export only the signer's key and certificate`);
  const { key, certificate } = pairs[0];
  const der = new Uint8Array(certificate.raw);
  assertSigningUsage(der);

  // Issuers from the file, nearest first, as far as the signatures check out.
  const chain: X509Certificate[] = [];
  let current = certificate;
  while (!isSelfIssued(current)) {
    const issuer = certs.find((c) => c !== current && !chain.includes(c) && c !== certificate && current.checkIssued(c) && current.verify(c.publicKey));
    if (!issuer) break;
    chain.push(issuer);
    current = issuer;
  }
  return { key, certificate: der, chain: chain.map((c) => new Uint8Array(c.raw)) };
}

function bagKey(bag: forge.pkcs12.Bag): KeyObject {
  try {
    // node-forge decodes RSA keys only; other keys (EC) come back as the PrivateKeyInfo ASN.1.
    if (bag.key) return createPrivateKey(forge.pki.privateKeyToPem(bag.key));
    return createPrivateKey({ key: Buffer.from(forge.asn1.toDer(bag.asn1).getBytes(), 'binary'), format: 'der', type: 'pkcs8' });
  } catch (err) {
    throw new KeyStoreError(`the PKCS#12 file contains a private key that cannot be used: ${errorMessage(err)}`);
  }
}

/**
 * The certificate's DER as in the file. node-forge keeps the parsed TBSCertificate, but
 * re-encodes the outer signature algorithm; RFC 5280 requires it to equal the TBS one, so we copy
 * that instead (this keeps RSA-PSS and other parameterised algorithms byte-identical).
 */
function bagCertificate(bag: forge.pkcs12.Bag): X509Certificate {
  let der: string;
  const tbs = (bag.cert as { tbsCertificate?: forge.asn1.Asn1 } | undefined)?.tbsCertificate;
  if (bag.cert && tbs && Array.isArray(tbs.value)) {
    const fields = tbs.value as forge.asn1.Asn1[];
    const algorithm = fields[fields[0].tagClass === forge.asn1.Class.CONTEXT_SPECIFIC ? 2 : 1];
    const { asn1 } = forge;
    der = asn1.toDer(asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [tbs, algorithm, asn1.create(asn1.Class.UNIVERSAL, asn1.Type.BITSTRING, false, '\x00' + bag.cert.signature)])).getBytes();
  } else if (bag.asn1) {
    der = forge.asn1.toDer(bag.asn1).getBytes();
  } else {
    throw new KeyStoreError('the PKCS#12 file contains a certificate entry that cannot be read');
  }
  try {
    return new X509Certificate(Buffer.from(der, 'binary'));
  } catch (err) {
    throw new KeyStoreError(`the PKCS#12 file contains a certificate that cannot be read: ${errorMessage(err)}`);
  }
}

/** Refuses certificates whose key usage excludes signatures (e.g. encryption-only certificates). */
function assertSigningUsage(der: Uint8Array): void {
  const ext = pkijsCertificate(der).extensions?.find((e) => e.extnID === OID.keyUsage);
  if (!ext) return;
  const bits = asn1js.fromBER(ext.extnValue.valueBlock.valueHexView).result as asn1js.BitString;
  const first = bits.valueBlock.valueHexView[0] ?? 0;
  if ((first & 0xc0) === 0) throw new KeyStoreError('the certificate in the PKCS#12 file may not be used for signatures (its key usage has neither digitalSignature nor nonRepudiation)');
}

function isSelfIssued(c: X509Certificate): boolean {
  return c.checkIssued(c);
}

// ---- certificate building ----

function buildCertificate(o: {
  issuer: asn1js.BaseBlock;
  subject: asn1js.BaseBlock;
  notBefore: Date;
  notAfter: Date;
  spki: Buffer;
  extensions: asn1js.Sequence[];
  signer: KeyObject;
}): Uint8Array {
  // ecdsa-with-SHA256 for an EC CA key (no parameters), sha256WithRSAEncryption for a CA made before (RSA).
  const { identifier, hash } = signatureAlgorithmFor(o.signer);
  const algorithm = () => identifier.toSchema();
  const tbs = new asn1js.Sequence({
    value: [
      new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 0 }, value: [new asn1js.Integer({ value: 2 })] }),
      new asn1js.Integer({ valueHex: serialNumber() }),
      algorithm(),
      o.issuer,
      new asn1js.Sequence({ value: [encodeTime(o.notBefore), encodeTime(o.notAfter)] }),
      o.subject,
      asn1js.fromBER(o.spki).result,
      new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 3 }, value: [new asn1js.Sequence({ value: o.extensions })] }),
    ],
  });
  const tbsDer = new Uint8Array(tbs.toBER());
  const signature = signData(hash, tbsDer, o.signer);
  const cert = new asn1js.Sequence({ value: [asn1js.fromBER(tbsDer).result, algorithm(), new asn1js.BitString({ valueHex: signature })] });
  return new Uint8Array(cert.toBER());
}

/** Random positive 16-byte serial; the top bits are fixed so the INTEGER is always exactly 16 bytes. */
function serialNumber(): Uint8Array {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] & 0x3f) | 0x40;
  return new Uint8Array(bytes);
}

/** One attribute per RDN, in the order given (country first); C is PrintableString, the rest UTF8String. */
function encodeName(attributes: Array<[string, string]>): asn1js.Sequence {
  return new asn1js.Sequence({
    value: attributes.map(
      ([type, value]) =>
        new asn1js.Set({
          value: [new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: type }), type === OID.country ? new asn1js.PrintableString({ value }) : new asn1js.Utf8String({ value })] })],
        }),
    ),
  });
}

/** The CA's subject exactly as encoded in its certificate, for the issuer field of what it signs. */
function issuerNameOf(caDer: Uint8Array): asn1js.BaseBlock {
  return pkijsCertificate(caDer).subject.toSchema();
}

/** RFC 5280: UTCTime up to 2049, GeneralizedTime from 2050. */
function encodeTime(d: Date): asn1js.BaseBlock {
  return d.getUTCFullYear() < 2050 ? new asn1js.UTCTime({ valueDate: d }) : new asn1js.GeneralizedTime({ valueDate: d });
}

/** GeneralName uniformResourceIdentifier ([6] IMPLICIT IA5String). */
function uri(value: string): asn1js.Primitive {
  return new asn1js.Primitive({ idBlock: { tagClass: 3, tagNumber: 6 }, valueHex: new Uint8Array(Buffer.from(value, 'ascii')) });
}

function contextConstructed(tagNumber: number, value: asn1js.BaseBlock[]): asn1js.Constructed {
  return new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber }, value });
}

function extension(oid: string, critical: boolean, value: asn1js.BaseBlock): asn1js.Sequence {
  const parts: asn1js.BaseBlock[] = [new asn1js.ObjectIdentifier({ value: oid })];
  if (critical) parts.push(new asn1js.Boolean({ value: true })); // DER omits the default FALSE
  parts.push(new asn1js.OctetString({ valueHex: value.toBER() }));
  return new asn1js.Sequence({ value: parts });
}

function keyUsageBits(u: { digitalSignature?: boolean; nonRepudiation?: boolean; keyCertSign?: boolean; cRLSign?: boolean }): asn1js.BitString {
  const bits = [u.digitalSignature, u.nonRepudiation, false, false, false, u.keyCertSign, u.cRLSign];
  let byte = 0;
  bits.forEach((on, i) => {
    if (on) byte |= 0x80 >> i;
  });
  // DER: trailing zero bits are dropped and counted as unused.
  let unused = 0;
  while (unused < 7 && !(byte & (1 << unused))) unused++;
  return new asn1js.BitString({ valueHex: new Uint8Array([byte]), unusedBits: unused });
}

/** RFC 5280 method 1: SHA-1 of the subjectPublicKey bits. */
function keyIdentifier(spki: Buffer): Uint8Array {
  const parsed = asn1js.fromBER(spki).result as asn1js.Sequence;
  const bits = parsed.valueBlock.value[1] as asn1js.BitString;
  return new Uint8Array(createHash('sha1').update(bits.valueBlock.valueHexView).digest());
}

// ---- certificate reading ----

function parseCertificate(pem: string, path: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (err) {
    throw new KeyStoreError(`cannot read the certificate in ${path}: ${errorMessage(err)}`);
  }
}

function describe(der: Uint8Array, meta: Pick<CertificateInfo, 'source' | 'name' | 'role' | 'organisation'>): CertificateInfo {
  const x = new X509Certificate(der);
  return { subject: rfc4514(x.subject), issuer: rfc4514(x.issuer), serial: x.serialNumber, ...validityOf(der), sha256: sha256Hex(der), ...meta, keyAlgorithm: keyAlgorithm(x) };
}

function keyAlgorithm(x: X509Certificate): string {
  const k = x.publicKey;
  const d = k.asymmetricKeyDetails ?? {};
  if (k.asymmetricKeyType === 'rsa' || k.asymmetricKeyType === 'rsa-pss') return `RSA ${d.modulusLength ?? '?'}`;
  if (k.asymmetricKeyType === 'ec') return `ECDSA ${({ prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' } as Record<string, string>)[d.namedCurve ?? ''] ?? d.namedCurve ?? '?'}`;
  return String(k.asymmetricKeyType ?? '?').toUpperCase();
}

/** "RSA 2048" for an RSA key below MIN_RSA_BITS (unsuitable for signatures after 2025), else null. */
function weakKey(x: X509Certificate): string | null {
  const k = x.publicKey;
  if (k.asymmetricKeyType !== 'rsa' && k.asymmetricKeyType !== 'rsa-pss') return null;
  const bits = k.asymmetricKeyDetails?.modulusLength ?? 0;
  return bits < MIN_RSA_BITS ? `RSA ${bits}` : null;
}

/** A signatory's ref: its identity file's name without .json. */
function refOf(path: string): string {
  return basename(path, '.json');
}

function pkijsCertificate(der: Uint8Array): pkijs.Certificate {
  return pkijs.Certificate.fromBER(new Uint8Array(der)); // a copy with a plain ArrayBuffer, as pkijs's types demand
}

function validityOf(der: Uint8Array): { notBefore: Date; notAfter: Date } {
  const c = pkijsCertificate(der);
  return { notBefore: c.notBefore.value, notAfter: c.notAfter.value };
}

/** Node prints one RDN per line in encoding order (already escaped); RFC 4514 lists them most specific first. */
function rfc4514(nodeName: string): string {
  return nodeName.split('\n').reverse().join(', ');
}

/** The first value of a subject attribute, or undefined. */
function attribute(der: Uint8Array, oid: string): string | undefined {
  for (const tv of pkijsCertificate(der).subject.typesAndValues) {
    if (tv.type !== oid) continue;
    const value = (tv.value as { valueBlock?: { value?: unknown } }).valueBlock?.value;
    if (typeof value === 'string') return value;
  }
  return undefined;
}

function assertKeyMatches(key: KeyObject, cert: X509Certificate, path: string): void {
  if (!publicKeyDer(createPublicKey(key)).equals(publicKeyDer(cert.publicKey))) {
    throw new KeyStoreError(`the private key in ${path} does not belong to its certificate (damaged or mixed-up files)`);
  }
}

function publicKeyDer(key: KeyObject): Buffer {
  return key.export({ type: 'spki', format: 'der' });
}

// ---- small helpers ----

function checkPerson(person: SignatoryPerson): SignatoryPerson {
  const p = { name: normalise(person.name), role: normalise(person.role ?? ''), organisation: normalise(person.organisation ?? '') };
  if (!p.name) throw new KeyStoreError('a signatory needs a name');
  return p;
}

/** NFC and single spaces, so that "Kai  Klose" and "Kai Klose" are one person. */
function normalise(s: string): string {
  return s.normalize('NFC').trim().replace(/\s+/g, ' ');
}

/** Key file names: the store's slug, 40 characters, "person" when a name has no letters left. */
const keySlug = (s: string) => slug(s, 40, 'person');

function toPem(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64');
  return `-----BEGIN ${label}-----\n${b64.replace(/.{1,64}/g, '$&\n')}-----END ${label}-----\n`;
}


function wholeSeconds(d: Date): Date {
  return new Date(Math.floor(d.getTime() / 1000) * 1000);
}

function addYears(d: Date, years: number): Date {
  const r = new Date(d.getTime());
  r.setUTCFullYear(r.getUTCFullYear() + years);
  return r;
}

function iso(d: Date): string {
  return d.toISOString().replace('.000Z', 'Z');
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
