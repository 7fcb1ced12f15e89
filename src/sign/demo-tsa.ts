/**
 * The demo time-stamp authority of a data directory (development and `zv demo` only): its own
 * root "Zielwerk Demo-Zeitstempel-Wurzel" (30 years) issues the TSA's certificates (10 years each,
 * ECDSA P-256, extKeyUsage id-kp-timeStamping). In the last 2 years of its current certificate
 * the TSA issues itself a new one, as a real TSA renews before its tokens lose their proof.
 * Everything lives in <data>/pki/tsa/, the keys encrypted with the key store's passphrase.
 *
 * It is a separate root from the Demo-CA because a TSA is a separate trust service; both are
 * trusted by this instance as *not qualified* and named as demo everywhere.
 */
import { createPrivateKey, KeyObject, webcrypto, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import 'reflect-metadata'; // @peculiar/x509's dependency injection needs it loaded first
import * as x509 from '@peculiar/x509';
import { writeDurably } from '../store/atomic.ts';
import { decryptPrivateKey, encryptPrivateKey, kdfIterations } from './key-encryption.ts';
import { HttpTimestampAuthority, LocalTimestampAuthority, TsaError } from './tsa.ts';
import type { TimestampAuthority } from './identity.ts';

export const DEMO_TSA_ROOT_NAME = 'Zielwerk Demo-Zeitstempel-Wurzel (nur Entwicklung – nicht qualifiziert)';
export const DEMO_TSA_NAME = 'Zielwerk Demo-Zeitstempeldienst';

const ROOT_YEARS = 30;
const TSA_YEARS = 10;
/** A new TSA certificate is issued this long before the current one ends. */
const RENEW_YEARS = 2;
const EC = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const addYears = (d: Date, n: number) => {
  const r = new Date(d);
  r.setUTCFullYear(r.getUTCFullYear() + n);
  return r;
};

interface Issued {
  der: Uint8Array;
  notBefore: Date;
  notAfter: Date;
  keyFile: string;
}

export class DemoTimestampAuthority implements TimestampAuthority {
  readonly dir: string;
  private readonly keys = new Map<string, KeyObject>();
  private busy: Promise<unknown> = Promise.resolve();

  constructor(
    dataDir: string,
    private readonly passphrase: string,
    private readonly clock: () => Date = () => new Date(),
    private readonly iterations = kdfIterations(),
  ) {
    this.dir = join(dataDir, 'pki', 'tsa');
  }

  /** The root certificate (DER) this instance trusts for its demo time-stamps; null before the first time-stamp. */
  rootCertificate(): Uint8Array | null {
    const path = join(this.dir, 'root.cer');
    return existsSync(path) ? new Uint8Array(readFileSync(path)) : null;
  }

  /** Every TSA certificate issued so far, oldest first. */
  certificates(): Issued[] {
    if (!existsSync(this.dir)) return [];
    return readdirSync(this.dir)
      .filter((f) => /^tsa-\d+\.cer$/.test(f))
      .sort((a, b) => Number(/\d+/.exec(a)![0]) - Number(/\d+/.exec(b)![0]))
      .map((f) => {
        const der = new Uint8Array(readFileSync(join(this.dir, f)));
        const c = new X509Certificate(der);
        return { der, notBefore: new Date(c.validFrom), notAfter: new Date(c.validTo), keyFile: join(this.dir, f.replace(/\.cer$/, '.key.pem')) };
      });
  }

  async timestamp(digest: Uint8Array, algorithm: 'SHA-256'): Promise<Uint8Array> {
    const at = this.clock();
    const { identity } = await this.serialised(() => this.currentIdentity(at));
    return new LocalTimestampAuthority(identity, { clock: () => at }).timestamp(digest, algorithm);
  }

  /** One issuance at a time (two signatures at once must not both create the root). */
  private serialised<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.busy.then(fn, fn);
    this.busy = run.catch(() => undefined);
    return run;
  }

  private async currentIdentity(at: Date) {
    const root = await this.root(at);
    let current = this.certificates().at(-1);
    if (current && at < current.notBefore) throw new TsaError(`the demo TSA's clock (${at.toISOString()}) is before its certificate (${current.notBefore.toISOString()})`);
    if (!current || at > addYears(current.notAfter, -RENEW_YEARS)) current = await this.issueTsaCertificate(at, root);
    if (at > current.notAfter) throw new TsaError(`the demo TSA's certificate ended ${current.notAfter.toISOString()} and its root cannot issue a new one`);
    return { identity: { certificate: current.der, chain: [root.der], privateKey: await this.key(current.keyFile), source: 'demo-ca' as const } };
  }

  private async root(at: Date): Promise<{ der: Uint8Array; key: KeyObject; notAfter: Date }> {
    const cer = join(this.dir, 'root.cer');
    const keyFile = join(this.dir, 'root.key.pem');
    if (existsSync(cer)) {
      const der = new Uint8Array(readFileSync(cer));
      return { der, key: await this.key(keyFile), notAfter: new Date(new X509Certificate(der).validTo) };
    }
    mkdirSync(this.dir, { recursive: true });
    const keys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
    const notBefore = new Date(at.getTime() - 86_400_000);
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: randomSerial(),
      name: `CN=${DEMO_TSA_ROOT_NAME}, O=Zielwerk (Entwicklung), C=DE`,
      notBefore,
      notAfter: addYears(notBefore, ROOT_YEARS),
      keys,
      signingAlgorithm: EC,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    const key = await toKeyObject(keys.privateKey);
    // Key first: a root certificate without its key would be a root that can never issue.
    writeDurably(keyFile, await encryptPrivateKey(key, this.passphrase, this.iterations));
    writeDurably(cer, new Uint8Array(cert.rawData));
    this.keys.set(keyFile, key);
    return { der: new Uint8Array(cert.rawData), key, notAfter: cert.notAfter };
  }

  private async issueTsaCertificate(at: Date, root: { der: Uint8Array; key: KeyObject; notAfter: Date }): Promise<Issued> {
    const n = this.certificates().length + 1;
    const keys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
    const notBefore = new Date(at.getTime() - 3_600_000); // clock skew between machines
    const notAfter = new Date(Math.min(addYears(notBefore, TSA_YEARS).getTime(), root.notAfter.getTime()));
    if (!(notAfter > at)) throw new TsaError(`the demo TSA's root ends ${root.notAfter.toISOString()}: no new time-stamping certificate can be issued`);
    const rootCert = new x509.X509Certificate(Uint8Array.from(root.der));
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: randomSerial(),
      issuer: rootCert.subject,
      subject: `CN=${DEMO_TSA_NAME} ${n} (nur Entwicklung – nicht qualifiziert), O=Zielwerk (Entwicklung), C=DE`,
      notBefore,
      notAfter,
      publicKey: keys.publicKey,
      signingKey: await webcrypto.subtle.importKey('pkcs8', root.key.export({ type: 'pkcs8', format: 'der' }), EC, false, ['sign']),
      signingAlgorithm: EC,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.timeStamping], true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
        await x509.AuthorityKeyIdentifierExtension.create(rootCert),
      ],
    });
    const keyFile = join(this.dir, `tsa-${n}.key.pem`);
    const key = await toKeyObject(keys.privateKey);
    writeDurably(keyFile, await encryptPrivateKey(key, this.passphrase, this.iterations));
    writeDurably(join(this.dir, `tsa-${n}.cer`), new Uint8Array(cert.rawData));
    this.keys.set(keyFile, key);
    return { der: new Uint8Array(cert.rawData), notBefore: cert.notBefore, notAfter: cert.notAfter, keyFile };
  }

  private async key(file: string): Promise<KeyObject> {
    let key = this.keys.get(file);
    if (!key) {
      key = await decryptPrivateKey(readFileSync(file, 'utf8'), this.passphrase);
      this.keys.set(file, key);
    }
    return key;
  }
}

const randomSerial = () => Buffer.from(webcrypto.getRandomValues(new Uint8Array(16))).toString('hex').replace(/^[89a-f]/, '1');

async function toKeyObject(key: CryptoKey): Promise<KeyObject> {
  return createPrivateKey({ key: Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key)), format: 'der', type: 'pkcs8' });
}

export const isProduction = (env: NodeJS.ProcessEnv = process.env) => env.ZV_ENV === 'production' || env.NODE_ENV === 'production';

/**
 * The TSA every signature of this instance is time-stamped by: the configured one (--tsa, else
 * ZV_TSA_URL); without one, refused in production, the data directory's demo TSA otherwise.
 */
export function timestampAuthorityFor(opts: { dataDir: string; url?: string; passphrase: string; clock?: () => Date; env?: NodeJS.ProcessEnv }): TimestampAuthority {
  const env = opts.env ?? process.env;
  if (opts.url) return new HttpTimestampAuthority(opts.url);
  if (isProduction(env)) {
    throw new TsaError('no time-stamp authority is configured: in production (ZV_ENV=production) every signature needs a trusted time — set ZV_TSA_URL (or --tsa <url>) to a qualified TSA');
  }
  return new DemoTimestampAuthority(opts.dataDir, opts.passphrase, opts.clock, kdfIterations(env));
}
