/**
 * `--key <uri>`: which key signs. Absent = the key store (a key this server holds: the embedded
 * default for demo and development, legally a simple electronic signature). `pkcs11:…` = a card
 * or HSM (RFC 7512); `csc:<credentialID>` = remote signing at a trust service provider (CSC API v2,
 * service at ZV_CSC_URL). Backends are imported only when used.
 */
import { readFileSync } from 'node:fs';
import { SignerError, type SignatureScheme, type Signer } from './signer.ts';

export interface KeyChoice {
  /** undefined: the key store signs (a certificate per signatory). */
  signer?: Signer;
  /** Ends a PKCS#11 login or forgets a CSC token; safe to call twice. */
  dispose(): Promise<void>;
}

export interface KeyOptions {
  /** PEM file with the signer's certificate (PKCS#11 tokens without a certificate object). */
  certificate?: string;
  /** PEM file with intermediate certificates, nearest first. */
  chain?: string;
  /** PIN typed by the user (web forms); files and environment variables are read by the backends. */
  pin?: string;
  otp?: string;
  scheme?: SignatureScheme;
  env?: NodeJS.ProcessEnv;
  /** A person authorises now (web form): PIN and OTP only from `pin`/`otp`, never from the environment. */
  interactive?: boolean;
}

/** DER certificates from a PEM file (several blocks allowed). */
export function readPemCertificates(path: string, what: string): Uint8Array[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new SignerError(`${what} ${path} lässt sich nicht lesen (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}).`, 'certificate');
  }
  const found = [...text.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g)].map((m) => new Uint8Array(Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64')));
  if (!found.length) throw new SignerError(`${what} ${path} enthält kein PEM-Zertifikat.`, 'certificate');
  return found;
}

export const isOwnKey = (uri: string | undefined): uri is string => !!uri && uri.trim() !== '' && uri.trim() !== 'keystore';

export async function openKey(uri: string | undefined, opts: KeyOptions = {}): Promise<KeyChoice> {
  if (!isOwnKey(uri)) {
    if (opts.certificate || opts.chain) throw new SignerError('--certificate und --chain gelten nur zusammen mit --key pkcs11:…', 'bad-uri');
    return { dispose: async () => {} };
  }
  const text = uri.trim();
  if (text.startsWith('pkcs11:')) {
    const { openPkcs11Signer } = await import('./pkcs11.ts');
    const env = { ...(opts.env ?? process.env) };
    if (opts.interactive) delete env.ZV_PKCS11_PIN;
    const signer = await openPkcs11Signer(text, {
      pin: opts.pin,
      env,
      certificate: opts.certificate ? readPemCertificates(opts.certificate, 'Das Zertifikat')[0] : undefined,
      chain: opts.chain ? readPemCertificates(opts.chain, 'Die Zertifikatskette') : undefined,
      scheme: opts.scheme,
    });
    return { signer, dispose: () => signer.dispose() };
  }
  if (text.startsWith('csc:')) {
    if (opts.certificate || opts.chain) throw new SignerError('--certificate und --chain gelten nur für PKCS#11; der Fernsignaturdienst liefert das Zertifikat selbst.', 'bad-uri');
    const { openCscSigner, cscConfig } = await import('./csc.ts');
    const env = { ...(opts.env ?? process.env) };
    if (opts.interactive) {
      delete env.ZV_CSC_PIN;
      delete env.ZV_CSC_OTP;
    }
    const signer = await openCscSigner(text.slice('csc:'.length), cscConfig(env, { pin: opts.pin, otp: opts.otp }), { scheme: opts.scheme, interactive: opts.interactive });
    return { signer, dispose: async () => {} };
  }
  throw new SignerError(`--key: unbekannte Schlüsselangabe „${text.slice(0, 40)}“ — erwartet pkcs11:… (Signaturkarte/HSM) oder csc:<credentialID> (Fernsignatur); ohne --key signiert der Key-Store.`, 'bad-uri');
}
