/**
 * Benchmark: signing and verification, printed as figures (medians of warm runs).
 * Signs the SGB II example (3 signatories) in order with demo-CA identities; verifies the result.
 */
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { composeFromData } from '../src/compose/index.ts';
import { renderPdf } from '../src/render/pdf/index.ts';
import { KeyStore } from '../src/sign/keys.ts';
import { signAgreement } from '../src/sign/sign.ts';
import type { SignatoryRef } from '../src/sign/agreement-pdf.ts';
import { verifyAgreement } from '../src/sign/verify.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 10);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const work = mkdtempSync(join(tmpdir(), 'zv-bench-sign-'));
try {
  const store = KeyStore.open(work, 'bench-passphrase-123');
  await store.init();
  const trust = [store.caCertificateDer()];
  const composed = composeFromData(JSON.parse(readFileSync(new URL('../examples/sgb2-2023-landkreis-kassel.json', import.meta.url), 'utf8')), { today: '2023-01-24' });
  const unsigned = await renderPdf(composed.tree);
  const order: SignatoryRef[] = [{ party: 'ministry', index: 1 }, { party: 'partner', index: 1 }, { party: 'partner', index: 2 }];
  const signAll = async () => {
    let bytes = unsigned;
    const times: number[] = [];
    const sizes: number[] = [];
    for (const signatory of order) {
      const t0 = performance.now();
      const r = await signAgreement(bytes, { signatory, signer: (p, at) => store.signerFor(p, { at }), date: '2023-01-31', backdateReason: 'Datum der Vereinbarung (Benchmark)' });
      times.push(performance.now() - t0);
      sizes.push(r.bytes.length - bytes.length);
      bytes = r.bytes;
    }
    return { bytes, times, sizes };
  };
  await signAll(); // warm-up, and issues the three certificates once
  const signTimes: number[] = [];
  let last = { bytes: unsigned, times: [] as number[], sizes: [] as number[] };
  for (let i = 0; i < RUNS; i++) {
    last = await signAll();
    signTimes.push(...last.times);
  }
  const verifyFull: number[] = [];
  const verifyCrypto: number[] = [];
  for (let i = 0; i < RUNS + 1; i++) {
    let t0 = performance.now();
    const full = await verifyAgreement(last.bytes, { trust });
    if (i) verifyFull.push(performance.now() - t0);
    if (full.verdict !== 'valid') throw new Error(`bench: verification failed: ${full.problems.join('; ')}`);
    t0 = performance.now();
    await verifyAgreement(last.bytes, { trust, skipReproduction: true });
    if (i) verifyCrypto.push(performance.now() - t0);
  }
  console.log(`\nSigning (SGB II example, 3 signatories, RSA 2048, demo CA; ${RUNS} runs, medians)`);
  console.log(`  sign one signature (stamp + PAdES, incremental): ${median(signTimes).toFixed(1)} ms  (target < 50 ms)`);
  console.log(`  verify 3 signatures, signatures + chain + change analysis: ${median(verifyCrypto).toFixed(1)} ms  (target < 20 ms)`);
  console.log(`  verify 3 signatures incl. re-rendering the embedded input: ${median(verifyFull).toFixed(1)} ms`);
  console.log(`  size: unsigned ${(unsigned.length / 1024).toFixed(1)} KB; growth per signature ${last.sizes.map((s) => `+${(s / 1024).toFixed(1)} KB`).join(', ')}; signed ${(last.bytes.length / 1024).toFixed(1)} KB`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
