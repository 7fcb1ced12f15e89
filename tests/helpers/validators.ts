/**
 * Independent validators for signed PDFs: poppler's pdfsig (with an NSS database trusting the
 * given CAs) and `openssl cms -verify` on each signature's CMS over its byte ranges.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from './tools.ts';
import { signaturesIn } from './signing.ts';

/** An NSS database in `dir` trusting each PEM as a CA (for pdfsig -nssdir). */
export function nssTrusting(dir: string, cas: { nick: string; pem: string }[]): string {
  const nss = join(dir, `nss-${Math.random().toString(36).slice(2, 8)}`);
  mkdirSync(nss, { recursive: true });
  run('certutil', ['-N', '-d', `sql:${nss}`, '--empty-password']);
  for (const ca of cas) {
    const file = join(nss, `${ca.nick}.pem`);
    writeFileSync(file, ca.pem);
    run('certutil', ['-A', '-d', `sql:${nss}`, '-n', ca.nick, '-t', 'CT,C,C', '-i', file]);
  }
  return nss;
}

export interface PdfsigSignature {
  field: string;
  signer: string;
  type: string;
  valid: boolean;
  trusted: boolean;
  whole: boolean;
}

/** pdfsig's verdict per signature (unsigned fields are skipped). */
export function pdfsig(file: string, nssDir: string): PdfsigSignature[] {
  // Without -no-ocsp: poppler 22.12 reports a generic certificate error with it. NSS asks the OCSP
  // responder a certificate names and calls the certificate unusable when none answers.
  return parsePdfsig(run('pdfsig', ['-nssdir', `sql:${nssDir}`, file], { allowExit: [1, 2, 3, 4] }));
}

/** The same, without blocking: for an OCSP responder served by the calling process itself. */
export async function pdfsigAsync(file: string, nssDir: string): Promise<PdfsigSignature[]> {
  const { execFile } = await import('node:child_process');
  const out = await new Promise<string>((resolve, reject) =>
    execFile('pdfsig', ['-nssdir', `sql:${nssDir}`, file], { timeout: 60_000 }, (err, stdout) => (err && typeof (err as { code?: unknown }).code !== 'number' ? reject(err) : resolve(stdout))),
  );
  return parsePdfsig(out);
}

function parsePdfsig(out: string): PdfsigSignature[] {
  return out
    .split(/\nSignature #\d+:\n/)
    .slice(1)
    .filter((block) => !/is not signed/.test(block))
    // Document time-stamps (B-LTA) are checked with openssl ts: pdfsig 22.12 cannot ("Unimplemented Feature").
    .filter((block) => !/Signature Field Name: zv-timestamp-\d+/.test(block))
    .map((block) => ({
      field: /Signature Field Name: (.*)/.exec(block)?.[1]?.trim() ?? '',
      signer: /Signer Certificate Common Name: (.*)/.exec(block)?.[1]?.trim() ?? '',
      type: /Signature Type: (.*)/.exec(block)?.[1]?.trim() ?? '',
      valid: /Signature Validation: Signature is Valid\./.test(block),
      trusted: /Certificate Validation: Certificate is Trusted\./.test(block),
      whole: /Total document signed/.test(block),
    }));
}

/** `openssl cms -verify` for every signature of `bytes`: its CMS over its signed byte ranges, chains to `caPem`. */
export function opensslVerifyAll(bytes: Uint8Array, caPem: string, dir: string): { status: number | null; stderr: string }[] {
  const work = join(dir, `cms-${Math.random().toString(36).slice(2, 8)}`);
  mkdirSync(work, { recursive: true });
  const ca = join(work, 'ca.pem');
  writeFileSync(ca, caPem);
  // Document time-stamps (their CMS encapsulates a TSTInfo) are checked with `openssl ts -verify` instead.
  const tstInfo = Buffer.from('060b2a864886f70d010910010 4'.replace(/ /g, ''), 'hex');
  return signaturesIn(bytes).filter((sig) => !Buffer.from(sig.cms.subarray(0, 96)).includes(tstInfo)).map((sig, i) => {
    const [, a, b, c] = sig.byteRange;
    const data = Buffer.concat([Buffer.from(bytes.subarray(0, a)), Buffer.from(bytes.subarray(b, b + c))]);
    writeFileSync(join(work, `data-${i}.bin`), data);
    writeFileSync(join(work, `sig-${i}.der`), sig.cms);
    const r = spawnSync('openssl', ['cms', '-verify', '-binary', '-inform', 'DER', '-in', join(work, `sig-${i}.der`), '-content', join(work, `data-${i}.bin`), '-CAfile', ca, '-purpose', 'any', '-out', join(work, `out-${i}.bin`)], { encoding: 'utf8' });
    return { status: r.status, stderr: r.stderr };
  });
}
