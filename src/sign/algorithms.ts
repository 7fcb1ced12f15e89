/**
 * Algorithm suitability at the time of proof (ETSI EN 319 102-1 5.2.8, TS 119 312): a key or a
 * digest whose end date lies before the time an object is relied on proves nothing at that time.
 * The table is data (src/sign/data/algorithms.json), kept in one place for the yearly review.
 */
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';

interface Entry {
  algorithm: string;
  minBits?: number;
  maxBits?: number;
  until: string | null;
}
interface Table {
  signature: Entry[];
  digest: Entry[];
}

const TABLE: Table = JSON.parse(readFileSync(new URL('./data/algorithms.json', import.meta.url), 'utf8'));

const CURVE_BITS: Record<string, number> = { prime256v1: 256, 'P-256': 256, secp384r1: 384, 'P-384': 384, secp521r1: 521, 'P-521': 521, secp256k1: 256, brainpoolP256r1: 256, brainpoolP384r1: 384, brainpoolP512r1: 512 };

export interface KeyStrength {
  algorithm: 'RSA' | 'ECDSA' | 'Ed25519' | string;
  bits: number;
}

/** The public key of a certificate, as the table names it. */
export function keyStrength(der: Uint8Array): KeyStrength {
  const key = new X509Certificate(der).publicKey;
  const details = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case 'rsa':
    case 'rsa-pss':
      return { algorithm: 'RSA', bits: details.modulusLength ?? 0 };
    case 'ec':
      return { algorithm: 'ECDSA', bits: CURVE_BITS[details.namedCurve ?? ''] ?? 0 };
    case 'ed25519':
      return { algorithm: 'Ed25519', bits: 256 };
    default:
      return { algorithm: key.asymmetricKeyType ?? '?', bits: 0 };
  }
}

const describeKey = (k: KeyStrength) => (k.algorithm === 'ECDSA' ? `ECDSA ${k.bits} bit` : `${k.algorithm} ${k.bits} bit`);

/** The end of suitability of a key (null: none set; a Date; or 'unknown' for an algorithm not in the table). */
export function keyEnd(k: KeyStrength): Date | null | 'unknown' {
  const e = TABLE.signature.find((x) => x.algorithm === k.algorithm && k.bits >= (x.minBits ?? 0) && k.bits <= (x.maxBits ?? Infinity));
  if (!e) return 'unknown';
  return e.until ? new Date(`${e.until}T23:59:59Z`) : null;
}

export function digestEnd(name: string): Date | null | 'unknown' {
  const e = TABLE.digest.find((x) => x.algorithm === name);
  if (!e) return 'unknown';
  return e.until ? new Date(`${e.until}T23:59:59Z`) : null;
}

/**
 * Problems with relying on signatures by these certificates' keys (and this digest) at `at`;
 * empty when all are suitable then. `what` names the object for the message.
 */
export function suitabilityProblems(what: string, keys: Uint8Array[], digest: string, at: Date): string[] {
  const problems: string[] = [];
  for (const der of keys) {
    const k = keyStrength(der);
    const end = keyEnd(k);
    const subject = new X509Certificate(der).subject.split('\n').find((l) => l.startsWith('CN=')) ?? 'certificate';
    if (end === 'unknown') problems.push(`${what}: the key of ${subject} (${describeKey(k)}) is not in the algorithm table`);
    else if (end && at > end) problems.push(`${what}: ${describeKey(k)} (${subject}) is suitable only until ${end.toISOString().slice(0, 10)}, the time of proof is ${at.toISOString()}`);
  }
  const d = digestEnd(digest);
  if (d === 'unknown') problems.push(`${what}: digest ${digest} is not in the algorithm table`);
  else if (d && at > d) problems.push(`${what}: ${digest} is suitable only until ${d.toISOString().slice(0, 10)}, the time of proof is ${at.toISOString()}`);
  return problems;
}

/** The earliest end of suitability among these keys and the digest (null: none ends). */
export function earliestEnd(keys: Uint8Array[], digest = 'SHA-256'): Date | null {
  const ends = [...keys.map((k) => keyEnd(keyStrength(k))), digestEnd(digest)].filter((e): e is Date => e instanceof Date);
  return ends.length ? new Date(Math.min(...ends.map((e) => e.getTime()))) : null;
}
