/**
 * Passphrase protection of stored private keys: standard encrypted PKCS#8 (RFC 5958
 * EncryptedPrivateKeyInfo, PBES2 of RFC 8018) with PBKDF2-HMAC-SHA256 at 600 000 iterations
 * (OWASP 2023 guidance) and AES-256-CBC. OpenSSL reads these files as they are
 * (`openssl pkcs8 -in key.pem`), so the keys stay usable without Zielwerk.
 *
 * Why not node's own `KeyObject.export({ cipher, passphrase })`: it fixes PBKDF2 at 2 048
 * iterations, which is what the key store used until 2026-12 (see `protectionOf`, `upToDate`).
 * The key is derived with the asynchronous `crypto.pbkdf2`, so a signature does not stall the
 * web server for the 0.2 s the derivation takes.
 */
import { createCipheriv, createDecipheriv, createPrivateKey, pbkdf2, randomBytes, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import * as asn1js from 'asn1js';

export const KDF_ITERATIONS = 600_000;
const MIN_TEST_ITERATIONS = 1000;

/**
 * The PBKDF2 iteration count for new encryptions: always KDF_ITERATIONS in production
 * (ZV_ENV or NODE_ENV = production). Outside production ZV_KEY_KDF_ITERATIONS may lower it for
 * test suites that issue hundreds of keys; a store written so is re-encrypted with the full count
 * on its first use in production.
 */
export function kdfIterations(env: NodeJS.ProcessEnv = process.env): number {
  if (env.ZV_ENV === 'production' || env.NODE_ENV === 'production') return KDF_ITERATIONS;
  const given = env.ZV_KEY_KDF_ITERATIONS;
  if (given === undefined || given === '') return KDF_ITERATIONS;
  const n = Number(given);
  if (!Number.isInteger(n) || n < MIN_TEST_ITERATIONS || n > KDF_ITERATIONS) {
    throw new Error(`ZV_KEY_KDF_ITERATIONS must be a whole number from ${MIN_TEST_ITERATIONS} to ${KDF_ITERATIONS} (it only lowers the cost outside production), got ${JSON.stringify(given)}`);
  }
  return n;
}
const SALT_BYTES = 16;

const OID = {
  pbes2: '1.2.840.113549.1.5.13',
  pbkdf2: '1.2.840.113549.1.5.12',
  scrypt: '1.3.6.1.4.1.11591.4.11',
  hmacSha1: '1.2.840.113549.2.7',
  hmacSha256: '1.2.840.113549.2.9',
  hmacSha384: '1.2.840.113549.2.10',
  hmacSha512: '1.2.840.113549.2.11',
  aes128cbc: '2.16.840.1.101.3.4.1.2',
  aes192cbc: '2.16.840.1.101.3.4.1.22',
  aes256cbc: '2.16.840.1.101.3.4.1.42',
};
const PRF: Record<string, string> = { [OID.hmacSha1]: 'sha1', [OID.hmacSha256]: 'sha256', [OID.hmacSha384]: 'sha384', [OID.hmacSha512]: 'sha512' };
const CIPHER: Record<string, { name: string; keyLength: number }> = {
  [OID.aes128cbc]: { name: 'aes-128-cbc', keyLength: 16 },
  [OID.aes192cbc]: { name: 'aes-192-cbc', keyLength: 24 },
  [OID.aes256cbc]: { name: 'aes-256-cbc', keyLength: 32 },
};

export class KeyDecryptionError extends Error {
  name = 'KeyDecryptionError';
}

/** How a stored key is protected, as read from its EncryptedPrivateKeyInfo. */
export interface KeyProtection {
  /** e.g. "PBKDF2-HMAC-SHA256, 600000 Iterationen, aes-256-cbc"; "unbekannt" when not PBES2. */
  description: string;
  kdf: 'pbkdf2' | 'scrypt' | 'other';
  prf?: string;
  iterations?: number;
  cipher?: string;
}

interface Pbes2Pbkdf2 {
  salt: Buffer;
  iterations: number;
  keyLength: number;
  prf: string;
  cipher: string;
  iv: Buffer;
  encrypted: Buffer;
}

const derive = promisify(pbkdf2);

/** Encrypts a private key as PEM "ENCRYPTED PRIVATE KEY" (PBES2, PBKDF2-HMAC-SHA256 600 000, AES-256-CBC, fresh salt and IV). */
export async function encryptPrivateKey(key: KeyObject, passphrase: string, iterations = KDF_ITERATIONS): Promise<string> {
  const plain = key.export({ type: 'pkcs8', format: 'der' });
  const salt = randomBytes(SALT_BYTES);
  const iv = randomBytes(16);
  const secret = await derive(Buffer.from(passphrase, 'utf8'), salt, iterations, 32, 'sha256');
  const cipher = createCipheriv('aes-256-cbc', secret, iv);
  const encrypted = Buffer.concat([cipher.update(plain), cipher.final()]);
  const algorithm = (oid: string, params?: asn1js.BaseBlock) => new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: oid }), ...(params ? [params] : [])] });
  const info = new asn1js.Sequence({
    value: [
      algorithm(
        OID.pbes2,
        new asn1js.Sequence({
          value: [
            algorithm(
              OID.pbkdf2,
              new asn1js.Sequence({
                value: [new asn1js.OctetString({ valueHex: salt }), new asn1js.Integer({ value: iterations }), new asn1js.Integer({ value: 32 }), algorithm(OID.hmacSha256, new asn1js.Null())],
              }),
            ),
            algorithm(OID.aes256cbc, new asn1js.OctetString({ valueHex: iv })),
          ],
        }),
      ),
      new asn1js.OctetString({ valueHex: encrypted }),
    ],
  });
  const b64 = Buffer.from(info.toBER()).toString('base64');
  return `-----BEGIN ENCRYPTED PRIVATE KEY-----\n${b64.replace(/.{1,64}/g, '$&\n')}-----END ENCRYPTED PRIVATE KEY-----\n`;
}

/**
 * Decrypts an encrypted PKCS#8 PEM. PBES2 with PBKDF2 and AES-CBC (ours and node's earlier
 * files) is derived asynchronously; anything else is left to OpenSSL. A wrong passphrase gives a
 * KeyDecryptionError.
 */
export async function decryptPrivateKey(pem: string, passphrase: string): Promise<KeyObject> {
  const pbes2 = readPbes2(pem);
  if (!pbes2) {
    try {
      return createPrivateKey({ key: pem, format: 'pem', passphrase });
    } catch (err) {
      throw new KeyDecryptionError((err as Error).message);
    }
  }
  const secret = await derive(Buffer.from(passphrase, 'utf8'), pbes2.salt, pbes2.iterations, pbes2.keyLength, pbes2.prf);
  try {
    const decipher = createDecipheriv(pbes2.cipher, secret, pbes2.iv);
    const plain = Buffer.concat([decipher.update(pbes2.encrypted), decipher.final()]);
    // A wrong passphrase fails the padding check 255 times in 256; the rest fails here.
    return createPrivateKey({ key: plain, format: 'der', type: 'pkcs8' });
  } catch {
    throw new KeyDecryptionError('bad decrypt (wrong passphrase)');
  }
}

/** The protection of an encrypted PKCS#8 PEM, for `zv keys list` and the decision to re-encrypt. */
export function protectionOf(pem: string): KeyProtection {
  const pbes2 = readPbes2(pem);
  if (pbes2) {
    return {
      description: `PBKDF2-HMAC-${pbes2.prf.toUpperCase()}, ${pbes2.iterations} Iterationen, ${pbes2.cipher}`,
      kdf: 'pbkdf2',
      prf: pbes2.prf,
      iterations: pbes2.iterations,
      cipher: pbes2.cipher,
    };
  }
  const kdf = kdfOid(pem);
  if (kdf === OID.scrypt) return { description: 'scrypt', kdf: 'scrypt' };
  return { description: 'unbekannt', kdf: 'other' };
}

/** Whether a key's protection meets current guidance: PBKDF2-HMAC-SHA256 (or stronger) with at least 600 000 iterations, AES-256. */
export function upToDate(p: KeyProtection): boolean {
  return p.kdf === 'pbkdf2' && p.prf !== 'sha1' && (p.iterations ?? 0) >= KDF_ITERATIONS && p.cipher === 'aes-256-cbc';
}

// ---- reading EncryptedPrivateKeyInfo ----

function derOf(pem: string): Buffer | undefined {
  const m = /-----BEGIN ENCRYPTED PRIVATE KEY-----([\s\S]*?)-----END ENCRYPTED PRIVATE KEY-----/.exec(pem);
  return m ? Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64') : undefined;
}

function sequence(block: asn1js.BaseBlock | undefined): asn1js.BaseBlock[] | undefined {
  return block instanceof asn1js.Sequence ? block.valueBlock.value : undefined;
}

function oidOf(block: asn1js.BaseBlock | undefined): string | undefined {
  return block instanceof asn1js.ObjectIdentifier ? block.valueBlock.toString() : undefined;
}

function kdfOid(pem: string): string | undefined {
  const der = derOf(pem);
  if (!der) return undefined;
  const top = sequence(asn1js.fromBER(new Uint8Array(der)).result);
  const alg = sequence(top?.[0]);
  if (oidOf(alg?.[0]) !== OID.pbes2) return undefined;
  return oidOf(sequence(sequence(alg?.[1])?.[0])?.[0]);
}

/** The PBES2 / PBKDF2 / AES-CBC parameters, or undefined for any other (or unreadable) form. */
function readPbes2(pem: string): Pbes2Pbkdf2 | undefined {
  const der = derOf(pem);
  if (!der) return undefined;
  const top = sequence(asn1js.fromBER(new Uint8Array(der)).result);
  const alg = sequence(top?.[0]);
  const encrypted = top?.[1];
  if (oidOf(alg?.[0]) !== OID.pbes2 || !(encrypted instanceof asn1js.OctetString)) return undefined;
  const [kdf, enc] = sequence(alg?.[1]) ?? [];
  const kdfParts = sequence(kdf);
  const encParts = sequence(enc);
  if (oidOf(kdfParts?.[0]) !== OID.pbkdf2) return undefined;
  const cipher = CIPHER[oidOf(encParts?.[0]) ?? ''];
  const iv = encParts?.[1];
  if (!cipher || !(iv instanceof asn1js.OctetString)) return undefined;
  const params = sequence(kdfParts?.[1]) ?? [];
  const salt = params[0];
  const iterations = params[1];
  if (!(salt instanceof asn1js.OctetString) || !(iterations instanceof asn1js.Integer)) return undefined;
  let i = 2;
  let keyLength = cipher.keyLength;
  if (params[i] instanceof asn1js.Integer) keyLength = (params[i++] as asn1js.Integer).valueBlock.valueDec;
  const prf = params[i] ? PRF[oidOf(sequence(params[i])?.[0]) ?? ''] : 'sha1'; // RFC 8018: the default PRF is HMAC-SHA1
  if (!prf || keyLength !== cipher.keyLength) return undefined;
  return {
    salt: Buffer.from(salt.valueBlock.valueHexView),
    iterations: iterations.valueBlock.valueDec,
    keyLength,
    prf,
    cipher: cipher.name,
    iv: Buffer.from(iv.valueBlock.valueHexView),
    encrypted: Buffer.from(encrypted.valueBlock.valueHexView),
  };
}
