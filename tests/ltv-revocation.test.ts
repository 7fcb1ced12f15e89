/**
 * Revocation at the time of proof (ETSI EN 319 102-1 5.6.2.5): a certificate revoked after the
 * signature's time-stamp leaves it TOTAL_PASSED; revoked before → TOTAL_FAILED/REVOKED; with the
 * OCSP responder down the CRL answers; with neither reachable → INDETERMINATE/TRY_LATER naming
 * what was tried. B-T agreements signed by the key store (demo CA) and time-stamped by the demo TSA.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { KeyStore } from '../src/sign/keys.ts';
import { DemoTimestampAuthority } from '../src/sign/demo-tsa.ts';
import { RevocationFetcher } from '../src/sign/revocation.ts';
import { trustConfig } from '../src/sign/trust-config.ts';
import { signAgreement } from '../src/sign/sign.ts';
import { verifyAgreement } from '../src/sign/verify.ts';
import type { VerifyReport } from '../src/sign/verify.ts';
import { agreementPdf, AQB_EXAMPLE, PASSPHRASE, ref } from './helpers/signing.ts';
import { tempDir } from './helpers/tools.ts';
import { join } from 'node:path';

const BASE = 'https://zielwerk.test';
const tmp = tempDir('zv-ltv-rev-');
let keys: KeyStore;
let tsa: DemoTimestampAuthority;
let draft: Uint8Array;

async function signed(): Promise<Uint8Array> {
  let bytes = draft;
  for (const s of ['ministry:1', 'partner:1']) bytes = (await signAgreement(bytes, { signatory: ref(s), signer: (p, at) => keys.signerFor(p, { at }), tsa })).bytes;
  return bytes;
}

/** Verification with the demo CA answered in-process, its OCSP or CRL service "down" on request. */
function verify(bytes: Uint8Array, down: { ocsp?: boolean; crl?: boolean } = {}): Promise<VerifyReport> {
  const local = keys.localRevocation();
  const revocation = new RevocationFetcher({
    local: {
      baseUrl: local.baseUrl,
      ocsp: down.ocsp ? () => Promise.reject(new Error('connect ECONNREFUSED (OCSP responder down)')) : local.ocsp,
      crl: down.crl ? () => Promise.reject(new Error('connect ECONNREFUSED (CRL server down)')) : local.crl,
    },
  });
  return verifyAgreement(bytes, { ...trustConfig(keys, null), revocation, skipReproduction: true });
}

/** A fresh key store and TSA per test: a revocation in one must not stop another from signing. */
async function fresh(name: string): Promise<void> {
  const dir = join(tmp.dir, name);
  keys = KeyStore.open(dir, PASSPHRASE, undefined, { baseUrl: BASE });
  await keys.init();
  tsa = new DemoTimestampAuthority(dir, PASSPHRASE);
}

before(async () => {
  draft = await agreementPdf(AQB_EXAMPLE, '2026-12-01');
});

after(() => tmp.cleanup());

test('not revoked: TOTAL_PASSED with the OCSP answer; OCSP down → the CRL; neither → INDETERMINATE/TRY_LATER naming both', async () => {
  await fresh('good');
  const bytes = await signed();
  const ok = await verify(bytes);
  assert.deepEqual(ok.signatures.map((s) => s.indication), ['TOTAL_PASSED', 'TOTAL_PASSED']);
  assert.deepEqual(ok.signatures.map((s) => s.revocation[0]?.source), ['ocsp', 'ocsp']);
  assert.equal(ok.signatures[0]!.revocation[0]!.status, 'good');

  const crl = await verify(bytes, { ocsp: true });
  assert.deepEqual(crl.signatures.map((s) => s.problems), [[], []]);
  assert.deepEqual(crl.signatures.map((s) => s.indication), ['TOTAL_PASSED', 'TOTAL_PASSED']);
  assert.deepEqual(crl.signatures.map((s) => s.revocation[0]?.source), ['crl', 'crl']);
  assert.ok(crl.signatures[0]!.revocation[0]!.attempts?.some((a) => a.kind === 'ocsp' && !a.ok), 'the failed OCSP attempt is reported');

  const none = await verify(bytes, { ocsp: true, crl: true });
  for (const s of none.signatures) {
    assert.equal(`${s.indication}/${s.subIndication}`, 'INDETERMINATE/TRY_LATER');
    const why = s.problems.join(' ');
    assert.match(why, /OCSP .*\/pki\/ocsp/);
    assert.match(why, /CRL .*\/pki\/ca\.crl/);
  }
  assert.equal(none.verdict, 'indeterminate');
});

test('revoked after the signature time-stamp: still TOTAL_PASSED, the revocation reported', async () => {
  await fresh('after');
  const bytes = await signed();
  await keys.revoke('Nicole Rathgeber', 'keyCompromise', new Date(Date.now() + 2000));
  const r = await verify(bytes);
  const partner = r.signatures.find((s) => s.signatory === 'partner:1')!;
  assert.equal(partner.indication, 'TOTAL_PASSED', partner.problems.join('; '));
  assert.equal(partner.revocation[0]!.status, 'revoked');
  assert.equal(partner.revocation[0]!.reason, 'keyCompromise');
  assert.ok(new Date(partner.revocation[0]!.revokedAt!) > new Date(partner.timeOfProof.at));
});

test('revoked before the signature time-stamp: TOTAL_FAILED/REVOKED', async () => {
  // Signed now, then revoked with a date an hour earlier (the key was compromised before it signed).
  await fresh('before');
  const bytes = await signed();
  await keys.revoke('Kai Klose', 'keyCompromise', new Date(Date.now() - 3_600_000));
  const r = await verify(bytes);
  const ministry = r.signatures.find((s) => s.signatory === 'ministry:1')!;
  assert.equal(`${ministry.indication}/${ministry.subIndication}`, 'TOTAL_FAILED/REVOKED', ministry.problems.join('; '));
  assert.match(ministry.problems.join(' '), /revoked .*keyCompromise.*before the time of proof/);
  assert.equal(r.verdict, 'invalid');
});
