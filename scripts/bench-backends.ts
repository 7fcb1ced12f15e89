/**
 * Benchmark: signing per backend — the key store, a PKCS#11 token (SoftHSM2) and a CSC remote
 * signing service (the CSC test server from tests/, on loopback) — as figures:
 *   - one signature (prepare, authorise, sign, embed) on the AQB example, median of warm runs;
 *   - the minister's batch of 26 through the signing service (one authorisation), wall time,
 *     and the number of logins / authorisations it took.
 * Needs softhsm2 (Debian); skips that backend with a note when it is missing.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeyStore } from '../src/sign/keys.ts';
import { signAgreement } from '../src/sign/sign.ts';
import { openKey } from '../src/sign/key-uri.ts';
import type { Signer } from '../src/sign/signer.ts';
import { agreementPdf, AQB_EXAMPLE } from '../tests/helpers/signing.ts';
import { issue, testCa } from '../tests/helpers/pki.ts';
import { createToken, generateKey, softhsmConfig, SOFTHSM_MODULE, storeCertificate } from '../tests/helpers/softhsm.ts';
import { startCscServer } from '../tests/helpers/csc-server.ts';
import { openService, openYear } from '../tests/helpers/year.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 10);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const work = mkdtempSync(join(tmpdir(), 'zv-bench-backends-'));
const ministry = { party: 'ministry' as const, index: 1 };

async function single(label: string, signer: Signer | ((p: Parameters<KeyStore['signerFor']>[0], at: Date) => Promise<Signer>)): Promise<void> {
  const input = await agreementPdf(AQB_EXAMPLE);
  await signAgreement(input, { signatory: ministry, signer }); // warm-up
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    await signAgreement(input, { signatory: ministry, signer });
    times.push(performance.now() - t0);
  }
  console.log(`  ${label.padEnd(28)} one signature: ${median(times).toFixed(1)} ms (median of ${RUNS})`);
}

async function batch(label: string, signer: Signer | undefined, counts: () => string): Promise<void> {
  const data = join(work, `year-${label.replace(/\W+/g, '-')}`);
  const ids = await openYear(data);
  const svc = openService(data);
  try {
    await svc.keys.init();
    const t0 = performance.now();
    const results = await svc.signAsMinistry(ids, { name: 'Kai Klose', signer });
    const ms = performance.now() - t0;
    const failed = results.filter((r) => r.error);
    if (failed.length) throw new Error(`${label}: ${failed.length} failed: ${failed[0]!.error}`);
    console.log(`  ${label.padEnd(28)} batch of ${ids.length}: ${(ms / 1000).toFixed(2)} s (${(ms / ids.length).toFixed(0)} ms per agreement: prepare, sign, commit with audit event and mail)${counts()}`);
  } finally {
    svc.close();
  }
}

try {
  console.log('\nSigning backends (ministry:1 of the AQB example; batch = zv envelope sign-ministry over 26 envelopes)');
  const store = KeyStore.open(join(work, 'keystore'), 'bench-passphrase-123');
  await store.init();
  // The key store reads and decrypts the signatory's stored key (PBES2 PKCS#8) for every signature.
  await single('Key-Store (RSA 2048)', (p, at) => store.signerFor(p, { at }));
  await batch('Key-Store (RSA 2048)', undefined, () => '');

  if (SOFTHSM_MODULE) {
    const env = softhsmConfig(join(work, 'softhsm'));
    process.env.SOFTHSM2_CONF = env.SOFTHSM2_CONF;
    const token = createToken(env, 'Ministerium');
    const ca = await testCa();
    storeCertificate(token, { label: 'klose', id: '01', der: (await issue(ca, { cn: 'Kai Klose', publicKey: generateKey(token, { label: 'klose', id: '01', type: 'rsa', bits: 3072 }) })).der });
    storeCertificate(token, { label: 'klose-ec', id: '02', der: (await issue(ca, { cn: 'Kai Klose', publicKey: generateKey(token, { label: 'klose-ec', id: '02', type: 'ec' }) })).der });
    for (const [object, label] of [['klose', 'SoftHSM2 (RSA 3072)'], ['klose-ec', 'SoftHSM2 (ECDSA P-256)']] as const) {
      const key = await openKey(token.uri(object, `pin-value=${token.pin}`));
      try {
        await single(label, key.signer!);
        await batch(label, key.signer!, () => ', 1 PIN entry');
      } finally {
        await key.dispose();
      }
    }
  } else {
    console.log('  SoftHSM2: not installed (apt-get install softhsm2) — skipped');
  }

  const csc = await startCscServer({ credentials: [{ id: 'klose-qes', owner: 'm', cn: 'Kai Klose', pin: '4711' }], users: { m: 'pw-pw-pw' } });
  try {
    process.env.ZV_CSC_URL = csc.base;
    Object.assign(process.env, { ZV_CSC_USER: 'm', ZV_CSC_PASSWORD: 'pw-pw-pw', ZV_CSC_PIN: '4711' });
    const key = await openKey('csc:klose-qes');
    await single('CSC test server (RSA 2048)', key.signer!);
    const before = { auth: csc.count('credentials/authorize'), sign: csc.count('signatures/signHash') };
    await batch('CSC test server (RSA 2048)', key.signer!, () => `, ${csc.count('credentials/authorize') - before.auth} credentials/authorize, ${csc.count('signatures/signHash') - before.sign} signHash`);
  } finally {
    await csc.close();
  }
  writeFileSync(join(work, 'done'), '');
} finally {
  rmSync(work, { recursive: true, force: true });
}
