/**
 * Validation at the time of proof (ETSI EN 319 102-1: basic → with time → long-term): a
 * certificate is judged at the time an object signed with it is *proven* to have existed —
 * by a signature time-stamp, a document time-stamp, or else only now — with its revocation
 * status at that time (from the document's DSS, else fetched) and the suitability of its
 * algorithms then. A time-stamp's own proof comes from the next newer valid time-stamp over it,
 * the newest one's only from now: so an archive stays provable as long as its newest time-stamp's
 * certificate is valid, and `zv archive renew` adds the next one before that ends.
 */
import { X509Certificate } from 'node:crypto';
import { suitabilityProblems } from './algorithms.ts';
import { validatePath } from './certs.ts';
import type { PathResult } from './certs.ts';
import { checkRevocation, revocationUrls } from './revocation.ts';
import type { FetchAttempt, RevocationFinding, RevocationMaterial } from './revocation.ts';
import type { DssMaterial } from './ltv.ts';

/** Where revocation data comes from when the document holds none that answers (CRL/OCSP over HTTP, our own CA in-process). */
export interface RevocationSource {
  /** `after`: only data issued at or after it speaks for the time in question (cached older data is not reused). */
  material(cert: Uint8Array, issuer: Uint8Array, opts?: { after?: Date }): Promise<RevocationMaterial & { attempts: FetchAttempt[] }>;
}

export type ProofIndication = 'TOTAL_FAILED' | 'INDETERMINATE';
export type ProofSubIndication =
  | 'REVOKED'
  | 'REVOKED_NO_POE'
  | 'TRY_LATER'
  | 'CRYPTO_CONSTRAINTS_FAILURE_NO_POE'
  | 'OUT_OF_BOUNDS_NO_POE'
  | 'NO_CERTIFICATE_CHAIN_FOUND'
  | 'CHAIN_CONSTRAINTS_FAILURE'
  | 'SIG_CRYPTO_FAILURE';

export interface RevocationReport {
  /** The certificate (subject) the finding is about. */
  subject: string;
  status: RevocationFinding['status'] | 'not-checkable';
  source: RevocationFinding['source'];
  revokedAt?: string;
  reason?: string;
  issuedAt?: string;
  detail: string;
  /** Where it was looked up, if the document held nothing that answers. */
  attempts?: FetchAttempt[];
}

export interface CertificateVerdict {
  path: PathResult;
  revocation: RevocationReport[];
  /** null: nothing against the certificate at that time. */
  indication: ProofIndication | null;
  subIndication: ProofSubIndication | null;
  problems: string[];
}

export interface ProofContext {
  anchors: Uint8Array[];
  dss: DssMaterial;
  revocation?: RevocationSource;
  now: Date;
}

const subjectOf = (der: Uint8Array) => new X509Certificate(der).subject.split('\n').join(', ');

/**
 * `cert` as the signer of an object proven to exist at `poe`; `created` is when it was made
 * (a token's genTime, a signature's proven or claimed time) — revocation data must be issued
 * after it to speak for it. `poeIsNow`: nothing older proves the object, only this verification.
 */
export async function certificateAt(cert: Uint8Array, pool: Uint8Array[], poe: Date, created: Date | null, ctx: ProofContext, what: string, poeIsNow: boolean): Promise<CertificateVerdict> {
  const path = await validatePath(cert, [...pool, ...ctx.dss.certificates], ctx.anchors, poe);
  const verdict: CertificateVerdict = { path, revocation: [], indication: null, subIndication: null, problems: [] };
  if (path.result !== 'trusted') return verdict;
  const fail = (indication: ProofIndication, sub: ProofSubIndication, problem: string) => {
    verdict.problems.push(problem);
    // The worst finding wins: a failure over an indeterminate one.
    if (!verdict.indication || (indication === 'TOTAL_FAILED' && verdict.indication !== 'TOTAL_FAILED')) {
      verdict.indication = indication;
      verdict.subIndication = sub;
    }
  };
  const reference = created ?? poe;
  // Revocation of every certificate below the anchor, each checked against its issuer in the path.
  for (let i = 0; i + 1 < path.path.length; i++) {
    const c = path.path[i]!;
    const issuer = path.path[i + 1]!;
    const subject = subjectOf(c);
    const embedded = { crls: ctx.dss.crls, ocsps: ctx.dss.ocsps };
    let finding = await checkRevocation(c, issuer, embedded, reference);
    let attempts: FetchAttempt[] | undefined;
    if (finding.status === 'unknown' && ctx.revocation) {
      const fetched = await ctx.revocation.material(c, issuer, { after: reference });
      attempts = fetched.attempts;
      const again = await checkRevocation(c, issuer, { crls: [...embedded.crls, ...fetched.crls], ocsps: [...embedded.ocsps, ...fetched.ocsps] }, reference);
      if (again.status !== 'unknown' || !embedded.crls.length) finding = again;
    }
    const sources = revocationUrls(c);
    if (finding.status === 'unknown' && !sources.ocsp.length && !sources.crl.length) {
      // A certificate that names no CRL or OCSP service cannot be checked by anyone: reported, not held against it.
      verdict.revocation.push({ subject, status: 'not-checkable', source: null, detail: `${subject} names no CRL or OCSP service; its revocation status cannot be checked` });
      continue;
    }
    verdict.revocation.push({ subject, status: finding.status, source: finding.source, revokedAt: finding.revokedAt, reason: finding.reason, issuedAt: finding.issuedAt, detail: finding.detail, ...(attempts ? { attempts } : {}) });
    if (finding.status === 'revoked') {
      const revokedAt = new Date(finding.revokedAt!);
      if (revokedAt > poe) continue; // revoked after the proven existence: the object stays valid
      const when = `revoked ${revokedAt.toISOString()}${finding.reason ? ` (${finding.reason})` : ''}`;
      if (poeIsNow && created && revokedAt > created) fail('INDETERMINATE', 'REVOKED_NO_POE', `${what}: the certificate of ${subject} was ${when}, and nothing proves the ${what} existed before`);
      else fail('TOTAL_FAILED', 'REVOKED', `${what}: the certificate of ${subject} was ${when}, before the time of proof ${poe.toISOString()}`);
    } else if (finding.status === 'unknown') {
      const tried = attempts?.length ? ` (tried: ${attempts.map((a) => `${a.kind.toUpperCase()} ${a.url}: ${a.ok ? 'answered' : (a.error ?? 'failed')}`).join('; ')})` : '';
      fail('INDETERMINATE', 'TRY_LATER', `${what}: no usable revocation information for ${subject}: ${finding.detail}${tried}`);
    }
  }
  const keys = path.path; // every key in the path signed something the verdict relies on
  for (const p of suitabilityProblems(what, keys, 'SHA-256', poe)) fail('INDETERMINATE', 'CRYPTO_CONSTRAINTS_FAILURE_NO_POE', p);
  return verdict;
}

/** A time-stamp token's TSA: certified for time-stamping, valid when it stamped, judged at `poe`. */
export async function timestampAuthorityAt(tsaCert: Uint8Array | null, pool: Uint8Array[], genTime: Date, poe: Date, ctx: ProofContext, what: string, poeIsNow: boolean): Promise<CertificateVerdict & { ok: boolean }> {
  if (!tsaCert) {
    return { ok: false, path: { result: 'broken', anchor: null, path: [], subIndication: 'NO_CERTIFICATE_CHAIN_FOUND', detail: null }, revocation: [], indication: 'TOTAL_FAILED', subIndication: 'NO_CERTIFICATE_CHAIN_FOUND', problems: [`${what}: the token carries no TSA certificate`] };
  }
  const v = await certificateAt(tsaCert, pool, poe, genTime, ctx, what, poeIsNow);
  const x = new X509Certificate(tsaCert);
  if (!(x.keyUsage ?? []).includes('1.3.6.1.5.5.7.3.8')) {
    v.problems.push(`${what}: the TSA certificate is not certified for time-stamping`);
    return { ...v, ok: false, indication: 'TOTAL_FAILED', subIndication: 'CHAIN_CONSTRAINTS_FAILURE' };
  }
  if (genTime < new Date(x.validFrom) || genTime > new Date(x.validTo)) {
    v.problems.push(`${what}: the TSA certificate was not valid at the time-stamp's time ${genTime.toISOString()}`);
    return { ...v, ok: false, indication: 'TOTAL_FAILED', subIndication: 'OUT_OF_BOUNDS_NO_POE' };
  }
  if (v.path.result !== 'trusted') {
    const expired = v.path.subIndication === 'OUT_OF_BOUNDS_NO_POE';
    v.problems.push(expired ? `${what}: the TSA certificate (${x.subject.split('\n').join(', ')}) is not valid at ${poe.toISOString()} and nothing newer proves the time-stamp` : `${what}: the time-stamp authority is not trusted (${v.path.detail ?? 'no path to a trust anchor'})`);
    return { ...v, ok: false, indication: expired ? 'INDETERMINATE' : v.path.result === 'untrusted' ? 'INDETERMINATE' : 'TOTAL_FAILED', subIndication: expired ? 'OUT_OF_BOUNDS_NO_POE' : (v.path.subIndication ?? 'NO_CERTIFICATE_CHAIN_FOUND') };
  }
  return { ...v, ok: v.indication === null };
}
