/**
 * The one interface every signing path uses: a signer has a certificate (and its chain) and,
 * after one authorisation for a known list of digests, signs each of them. Everything around it —
 * preparing the PDF, the byte range, the CMS signed attributes, the time-stamp, embedding — is
 * shared (sign.ts, cms.ts); only "sign these digests" differs per backend:
 *
 *   key store (keys.ts)     the embedded default: a key our server holds (demo, development)
 *   PKCS#11   (pkcs11.ts)   a signature card or HSM; one PIN entry (login) per authorisation
 *   CSC       (csc.ts)      a trust service provider's remote signing; one SAD per authorisation
 *
 * The authorisation covers exactly the digests it was given, in that order, so a batch of 26
 * agreements needs one PIN entry or one CSC credentials/authorize with numSignatures = 26.
 */
import { createPublicKey, sign as nodeSign, verify as nodeVerify, constants, X509Certificate, type KeyObject } from 'node:crypto';
import type { SigningIdentity } from './identity.ts';

/** How the signature value is computed; fixes the SignerInfo's signatureAlgorithm. */
export type SignatureScheme = 'rsa-pkcs1' | 'rsa-pss' | 'ecdsa';

/** Where a signer's key lives. `keystore` = held by this server (legally a simple signature). */
export type SignerKind = 'keystore' | 'pkcs11' | 'csc';

export const SIGNER_KIND_LABELS: Record<SignerKind, string> = {
  keystore: 'Key-Store (Demo/Entwicklung)',
  pkcs11: 'Signaturkarte/HSM (PKCS#11)',
  csc: 'Fernsignatur (CSC)',
};

/** One thing to sign: the DER SET OF signed attributes and its SHA-256 digest. */
export interface ToBeSigned {
  /** SHA-256 of `data`: what a card, HSM or remote service signs. */
  digest: Uint8Array;
  /** The DER signed attributes, for backends that hash themselves (a local key). */
  data: Uint8Array;
}

export interface SigningSession {
  /** Signs one of the authorised digests; the value is PKCS#1 / PSS bytes or a DER ECDSA-Sig-Value. */
  sign(item: ToBeSigned): Promise<Uint8Array>;
  /** Ends the authorisation (logout, forget the SAD). Safe to call twice. */
  close(): Promise<void>;
}

export interface Signer {
  readonly kind: SignerKind;
  /** One line for people and the audit trail, e.g. "Signaturkarte/HSM (PKCS#11): Token „Ministerium“, Schlüssel „klose“". */
  readonly description: string;
  /** DER X.509 certificate of the signer. */
  readonly certificate: Uint8Array;
  /** DER issuer certificates, nearest first (may be empty). */
  readonly chain: Uint8Array[];
  readonly scheme: SignatureScheme;
  /** One authorisation for exactly these digests (PIN entry, SAD); refused errors say why in German. */
  authorize(digests: Uint8Array[]): Promise<SigningSession>;
}

/** Thrown by a backend; the message is meant for the user (German), the code for programs and tests. */
export class SignerError extends Error {
  constructor(
    message: string,
    readonly code: SignerErrorCode,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'SignerError';
  }
}

export type SignerErrorCode =
  | 'bad-uri'
  | 'module'
  | 'token-not-found'
  | 'object-not-found'
  | 'pin-missing'
  | 'pin-incorrect'
  | 'pin-locked'
  | 'busy'
  | 'certificate'
  | 'key-mismatch'
  | 'unsupported-key'
  | 'service-unavailable'
  | 'service-error'
  | 'sad-expired'
  | 'bad-signature'
  | 'not-authorised';

const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

/**
 * Wraps a signing session so that every digest must be one of the authorised ones (each once) and
 * every returned value must verify against the certificate: a device that signed something else,
 * or a certificate that does not belong to the key, is caught before anything is embedded.
 */
export function checkedSession(signer: Pick<Signer, 'certificate' | 'scheme'>, digests: Uint8Array[], inner: SigningSession): SigningSession {
  const open = new Map<string, number>();
  for (const d of digests) open.set(hex(d), (open.get(hex(d)) ?? 0) + 1);
  const key = new X509Certificate(signer.certificate).publicKey;
  return {
    async sign(item) {
      const k = hex(item.digest);
      const left = open.get(k) ?? 0;
      if (left === 0) throw new SignerError('Dieser Hashwert ist von der Autorisierung nicht gedeckt.', 'not-authorised');
      open.set(k, left - 1);
      const value = await inner.sign(item);
      if (!verifyValue(key, signer.scheme, item.data, value)) {
        throw new SignerError(
          'Die zurückgegebene Signatur passt nicht zum Zertifikat oder zum angefragten Hashwert (falscher Schlüssel oder falscher Hash in der Antwort); es wurde nichts gespeichert.',
          'bad-signature',
        );
      }
      return value;
    },
    close: () => inner.close(),
  };
}

/** PSS parameters used throughout: SHA-256, MGF1-SHA-256, 32-byte salt (RFC 4055 / RFC 8017). */
export const PSS_SALT_LENGTH = 32;

/** Does `value` verify as a signature over `data` (SHA-256) under `key` with `scheme`? */
export function verifyValue(key: KeyObject, scheme: SignatureScheme, data: Uint8Array, value: Uint8Array): boolean {
  try {
    if (scheme === 'ecdsa') return nodeVerify('sha256', data, { key, dsaEncoding: 'der' }, value);
    const padding = scheme === 'rsa-pss' ? constants.RSA_PKCS1_PSS_PADDING : constants.RSA_PKCS1_PADDING;
    return nodeVerify('sha256', data, { key, padding, saltLength: PSS_SALT_LENGTH }, value);
  } catch {
    return false;
  }
}

/** The scheme a key supports by default (RSA → PKCS#1 v1.5, which every PDF validator reads). */
export function defaultScheme(key: KeyObject | X509Certificate): SignatureScheme {
  const type = key instanceof X509Certificate ? key.publicKey.asymmetricKeyType : key.asymmetricKeyType;
  if (type === 'rsa') return 'rsa-pkcs1';
  if (type === 'ec') return 'ecdsa';
  throw new SignerError(`Schlüsseltyp „${type}“ wird nicht unterstützt (RSA oder ECDSA P-256/P-384).`, 'unsupported-key');
}

/**
 * A signer over a key this process holds (the key store's demo certificates, a PKCS#12 import,
 * tests). It signs the signed attributes itself, so it needs no digest-only primitive.
 */
export function identitySigner(identity: SigningIdentity, opts: { kind?: SignerKind; description?: string; scheme?: SignatureScheme } = {}): Signer {
  const cert = new X509Certificate(identity.certificate);
  const scheme = opts.scheme ?? defaultScheme(identity.privateKey);
  const spki = (k: KeyObject) => k.export({ type: 'spki', format: 'der' });
  const matches = spki(createPublicKey(identity.privateKey)).equals(spki(cert.publicKey));
  const signer: Signer = {
    kind: opts.kind ?? 'keystore',
    description: opts.description ?? `${SIGNER_KIND_LABELS.keystore}: ${identity.source === 'pkcs12' ? 'importiertes PKCS#12-Zertifikat' : 'Zertifikat der Demo-CA'}`,
    certificate: identity.certificate,
    chain: identity.chain,
    scheme,
    async authorize(digests) {
      if (!matches) throw new SignerError('Der private Schlüssel gehört nicht zum Zertifikat des Unterzeichners.', 'key-mismatch');
      return checkedSession(signer, digests, {
        async sign(item) {
          const key = identity.privateKey;
          if (scheme === 'ecdsa') return new Uint8Array(nodeSign('sha256', item.data, { key, dsaEncoding: 'der' }));
          const padding = scheme === 'rsa-pss' ? constants.RSA_PKCS1_PSS_PADDING : constants.RSA_PKCS1_PADDING;
          return new Uint8Array(nodeSign('sha256', item.data, { key, padding, saltLength: PSS_SALT_LENGTH }));
        },
        async close() {},
      });
    },
  };
  return signer;
}

/** Converts an IEEE P1363 ECDSA signature (r ‖ s, as PKCS#11 CKM_ECDSA returns it) to DER. */
export function ecdsaRawToDer(raw: Uint8Array): Uint8Array {
  if (raw.length % 2 !== 0 || raw.length === 0) throw new SignerError('ungültige ECDSA-Signatur vom Gerät', 'bad-signature');
  const int = (b: Uint8Array) => {
    let i = 0;
    while (i < b.length - 1 && b[i] === 0) i++;
    const body = b.subarray(i);
    const padded = body[0]! & 0x80 ? Buffer.concat([Buffer.of(0), body]) : Buffer.from(body);
    return Buffer.concat([Buffer.of(0x02, padded.length), padded]);
  };
  const half = raw.length / 2;
  const seq = Buffer.concat([int(raw.subarray(0, half)), int(raw.subarray(half))]);
  const len = seq.length < 0x80 ? Buffer.of(seq.length) : Buffer.of(0x81, seq.length);
  return new Uint8Array(Buffer.concat([Buffer.of(0x30), len, seq]));
}
