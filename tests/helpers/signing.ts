/**
 * Shared helpers for the signing tests (tamper.test.ts, sign-refusals.test.ts): agreement PDFs
 * generated with the library, a temporary key store, signing in order, the CLI, and byte-level
 * access to the signatures of a signed file.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as asn1js from 'asn1js';
import { composeFromData } from '../../src/compose/index.ts';
import { renderPdf } from '../../src/render/pdf/index.ts';
import { KeyStore } from '../../src/sign/keys.ts';
import { signAgreement } from '../../src/sign/sign.ts';
import type { SignOptions, SignResult } from '../../src/sign/sign.ts';
import type { SignatoryRef } from '../../src/sign/agreement-pdf.ts';

export const PASSPHRASE = 'test-passphrase-123';
export const ZV = new URL('../../bin/zv.js', import.meta.url).pathname;
export const AQB_EXAMPLE = new URL('../../examples/aqb-2023-werra-meissner-kreis.json', import.meta.url).pathname;
export const SGB2_EXAMPLE = new URL('../../examples/sgb2-2023-landkreis-kassel.json', import.meta.url).pathname;

/** An unsigned agreement PDF, generated from an example input with its exact bytes embedded. */
export async function agreementPdf(example: string, today = '2023-05-30'): Promise<Uint8Array> {
  const bytes = readFileSync(example);
  const composed = composeFromData(JSON.parse(bytes.toString('utf8')), { source: example, sourceBytes: new Uint8Array(bytes), today });
  return renderPdf(composed.tree);
}

/** The key store in `dataDir` (with its demo CA) and the CA certificate as a DER trust anchor. */
export async function testStore(dataDir: string, passphrase = PASSPHRASE): Promise<{ store: KeyStore; caDer: Uint8Array; caPem: string }> {
  const store = KeyStore.open(dataDir, passphrase);
  await store.init();
  const caPem = store.caCertificatePem();
  return { store, caDer: pemToDer(caPem), caPem };
}

export function pemToDer(pem: string): Uint8Array {
  const m = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/.exec(pem);
  if (!m) throw new Error('no PEM certificate');
  return new Uint8Array(Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64'));
}

export const ref = (text: string): SignatoryRef => {
  const [party, index] = text.split(':');
  return { party: party as SignatoryRef['party'], index: Number(index) };
};

/** Signs `input` as `signatory` with identities from `store`. */
export function signWith(store: KeyStore, input: Uint8Array, signatory: string, extra: Partial<SignOptions> = {}): Promise<SignResult> {
  return signAgreement(input, { signatory: ref(signatory), signer: (p, at) => store.signerFor(p, { at }), ...extra });
}

/** Signs one after the other; returns the bytes after each signature (index 0 = after the first). */
export async function signInOrder(store: KeyStore, input: Uint8Array, signatories: string[]): Promise<Uint8Array[]> {
  const states: Uint8Array[] = [];
  let bytes = input;
  for (const s of signatories) {
    bytes = (await signWith(store, bytes, s)).bytes;
    states.push(bytes);
  }
  return states;
}

export interface CliResult {
  /** null when the process was killed (e.g. by the time limit). */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/**
 * Runs `zv` with the test key store passphrase (plus any extra environment; undefined removes a
 * variable). Asynchronous, so that several CLI runs (each pays ~2–3 s of start-up) can overlap.
 * The caller's ZV_* settings (but ZV_KEY_KDF_ITERATIONS) are not inherited, nor NODE_TEST_CONTEXT (with it a child runs ~2.5× slower).
 * `stdin`, when given, is written to the child's standard input (e.g. a personal link for "-").
 * `at` ("2040-06-01 12:00:00") runs it under faketime at that date.
 */
export function zv(args: string[], env: Record<string, string | undefined> = {}, timeoutMs = 60_000, stdin?: string, at?: string): Promise<CliResult> {
  // ZV_KEY_KDF_ITERATIONS (set by npm test) is passed on: children encrypt keys as cheaply as the suite does.
  const inherited = Object.entries(process.env).filter(([k]) => k === 'ZV_KEY_KDF_ITERATIONS' || !/^(ZV_|NODE_ENV$|NODE_TEST_CONTEXT$)/.test(k));
  const merged: Record<string, string | undefined> = { ...Object.fromEntries(inherited), ZV_KEY_PASSPHRASE: PASSPHRASE, ...env };
  const clean = Object.fromEntries(Object.entries(merged).filter((e): e is [string, string] => e[1] !== undefined));
  const started = performance.now();
  return new Promise((resolve, reject) => {
    // `at`: the whole process lives at that time (libfaketime, Debian's faketime), clocks ticking on from there.
    const [cmd, argv] = at ? ['faketime', [at, process.execPath, ZV, ...args]] : [process.execPath, [ZV, ...args]];
    const child = spawn(cmd as string, argv as string[], { env: clean, timeout: timeoutMs, killSignal: 'SIGKILL', stdio: [stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    if (stdin !== undefined) child.stdin!.end(stdin);
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, ms: Math.round(performance.now() - started) }));
  });
}

export const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** One signature as found in the file: its byte range and the /Contents hex gap [a, b) (including < and >). */
export interface SignatureBytes {
  byteRange: [number, number, number, number];
  /** Offset of "<" of the /Contents hex string. */
  gapStart: number;
  /** Offset just after ">". */
  gapEnd: number;
  /** Offset just after the revision this signature covers (b + c). */
  end: number;
  /** The DER CMS (trailing zero padding stripped to the DER length). */
  cms: Uint8Array;
}

/** Every /ByteRange in the file, in file order (= signing order for incremental signatures). */
export function signaturesIn(bytes: Uint8Array): SignatureBytes[] {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1');
  const out: SignatureBytes[] = [];
  for (const m of text.matchAll(/\/ByteRange\s*\[\s*0\s+(\d+)\s+(\d+)\s+(\d+)\s*\]/g)) {
    const [a, b, c] = [Number(m[1]), Number(m[2]), Number(m[3])];
    const hex = text.slice(a + 1, b - 1);
    const der = Buffer.from(hex, 'hex');
    out.push({ byteRange: [0, a, b, c], gapStart: a, gapEnd: b, end: b + c, cms: new Uint8Array(der.subarray(0, berLength(der))) });
  }
  return out;
}

/** Length of the BER element at the start of `bytes` (NSS writes indefinite lengths; DER has definite ones). */
export function berLength(bytes: Uint8Array): number {
  if (bytes[1] !== 0x80) return derLength(bytes);
  const parsed = asn1js.fromBER(toArrayBuffer(bytes));
  if (parsed.offset === -1) throw new Error('signature contents are not BER');
  return parsed.offset;
}

/** Length of the DER element at the start of `der` (header + content). */
export function derLength(der: Uint8Array): number {
  if (der[1]! < 0x80) return 2 + der[1]!;
  const n = der[1]! & 0x7f;
  let len = 0;
  for (let i = 0; i < n; i++) len = len * 256 + der[2 + i]!;
  return 2 + n + len;
}

/** Writes `cms` as hex into the /Contents gap of `sig`, zero-padded (throws if it does not fit). */
export function writeCms(bytes: Uint8Array, sig: SignatureBytes, cms: Uint8Array): Uint8Array {
  const room = sig.gapEnd - sig.gapStart - 2;
  const hex = Buffer.from(cms).toString('hex');
  if (hex.length > room) throw new Error(`CMS of ${cms.length} bytes does not fit the gap of ${room / 2}`);
  const out = Buffer.from(bytes);
  out.write(hex.padEnd(room, '0'), sig.gapStart + 1, 'latin1');
  return new Uint8Array(out);
}

/** A copy with the byte at `offset` XOR-ed with `mask`. */
export function flipByte(bytes: Uint8Array, offset: number, mask = 0x01): Uint8Array {
  const out = Uint8Array.from(bytes);
  out[offset] = out[offset]! ^ mask;
  return out;
}

/** Offset of the first byte of stream data of object `num` (generation 0) in the first revision. */
export function streamDataOffset(bytes: Uint8Array, num: number): { start: number; length: number } {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const header = buf.indexOf(`\n${num} 0 obj`, 0, 'latin1');
  if (header < 0) throw new Error(`object ${num} not found`);
  const endobj = buf.indexOf('endobj', header, 'latin1');
  const dictText = buf.subarray(header, endobj).toString('latin1');
  const len = /\/Length (\d+)/.exec(dictText);
  const kw = buf.indexOf('stream', header, 'latin1');
  if (!len || kw < 0 || kw > endobj) throw new Error(`object ${num} is not a stream with a direct /Length`);
  let start = kw + 'stream'.length;
  if (buf[start] === 0x0d) start++;
  if (buf[start] === 0x0a) start++;
  return { start, length: Number(len[1]) };
}

/**
 * Replaces, in a DER ContentInfo(SignedData), the certificate `oldCert` in the certificates [0]
 * set with `newCert` and re-encodes (every other element keeps its exact encoding).
 */
export function swapCmsCertificate(cms: Uint8Array, oldCert: Uint8Array, newCert: Uint8Array): Uint8Array {
  const parsed = asn1js.fromBER(toArrayBuffer(cms));
  if (parsed.offset === -1) throw new Error('CMS does not parse');
  const same = new Uint8Array(parsed.result.toBER(false));
  if (Buffer.compare(Buffer.from(same), Buffer.from(cms)) !== 0) throw new Error('asn1js does not re-encode the CMS identically');
  const contentInfo = parsed.result as asn1js.Sequence;
  const explicit = contentInfo.valueBlock.value[1] as asn1js.Constructed; // [0] EXPLICIT
  const signedData = explicit.valueBlock.value[0] as asn1js.Sequence;
  const certs = signedData.valueBlock.value.find((n) => n.idBlock.tagClass === 3 && n.idBlock.tagNumber === 0) as asn1js.Constructed | undefined;
  if (!certs) throw new Error('the CMS carries no certificates');
  const index = certs.valueBlock.value.findIndex((n) => Buffer.compare(Buffer.from(n.toBER(false)), Buffer.from(oldCert)) === 0);
  if (index < 0) throw new Error('certificate to replace not found in the CMS');
  const replacement = asn1js.fromBER(toArrayBuffer(newCert));
  certs.valueBlock.value[index] = replacement.result;
  return new Uint8Array(contentInfo.toBER(false));
}

export function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}
