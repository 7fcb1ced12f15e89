/**
 * Benchmark: the signing service and archive, printed as figures.
 * 1. The demo year (`zv demo`) as a child process: wall time and peak RSS.
 * 2. Signing throughput with 26 partner signatories signing at once, each in its own process,
 *    against one data directory (SQLite WAL, optimistic commits).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SigningService } from '../src/envelope/service.ts';
import { generateIntoStore, readAgreementInputs } from '../src/store/agreements.ts';
import { readContactsFile } from '../src/envelope/contacts.ts';
import { parseEml } from '../src/envelope/notify.ts';
import { absolutePath } from '../src/store/files.ts';
import { DEMO_BATCH, DEMO_CONTACTS } from '../src/demo.ts';

const root = new URL('..', import.meta.url).pathname;
const env = { ...process.env, ZV_KEY_PASSPHRASE: process.env.ZV_KEY_PASSPHRASE ?? 'bench-passphrase-123' };
const work = mkdtempSync(join(tmpdir(), 'zv-bench-store-'));

function peakRssOf(args: string[]): { seconds: number; peakMb: number; stdout: string } {
  // GNU time is not always installed; /proc-free alternative: the child reports its own peak.
  const t0 = performance.now();
  const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', `
    const { main } = await import(${JSON.stringify(join(root, 'src/cli/main.ts'))});
    const code = await main(['node', 'zv', ...${JSON.stringify(args)}]);
    process.stderr.write('\\nPEAK_RSS_KB=' + process.resourceUsage().maxRSS + '\\n');
    process.exitCode = code;`], { cwd: root, env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const seconds = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`bench: zv ${args.join(' ')} failed (${r.status}):\n${r.stderr}`);
  const kb = Number(/PEAK_RSS_KB=(\d+)/.exec(r.stderr)?.[1] ?? NaN);
  return { seconds, peakMb: kb / 1024, stdout: r.stdout };
}

try {
  const demo = peakRssOf(['demo', '--data', join(work, 'demo')]);
  const phases = /Dauer: [^(]+\(([^)]+)\)/.exec(demo.stdout)?.[1] ?? '';
  console.log(`\nDemo year (zv demo: 26 AQB agreements generated, 26 envelopes, 26 ministry + 27 partner signatures, export, check)`);
  console.log(`  wall time ${demo.seconds.toFixed(1)} s (process incl. start-up); phases: ${phases}`);
  console.log(`  peak RSS ${demo.peakMb.toFixed(0)} MB`);

  // Throughput: 26 signers at once.
  const dir = join(work, 'parallel');
  const svc = SigningService.open({ dataDir: dir, passphrase: env.ZV_KEY_PASSPHRASE, warn: () => {} });
  const rows = await generateIntoStore(svc.store, await readAgreementInputs(DEMO_BATCH), 'bench');
  await svc.openEnvelopes(rows.map((r) => r.id), readContactsFile(DEMO_CONTACTS), 'bench');
  const waiting = svc.awaitingMinistry({ name: 'Kai Klose' });
  await svc.signAsMinistry(waiting.map((s) => s.envelope.id), { name: 'Kai Klose' });
  const links: string[] = [];
  for (const s of svc.listEnvelopes({ status: 'open' })) {
    const cur = SigningService.current(s)!;
    // Certificates are issued ahead, so the figure is about signing, not RSA key generation.
    await svc.keys.identityFor({ name: cur.name, role: cur.role, organisation: cur.organisation }, { at: new Date() });
    const row = svc.store.db
      .prepare("SELECT f.path FROM notifications n JOIN files f ON f.id = n.eml_file_id WHERE n.recipient LIKE ? AND n.kind = 'turn' ORDER BY n.id DESC LIMIT 1")
      .get(`%<${cur.email}>`) as { path: string };
    links.push(parseEml(readFileSync(absolutePath(dir, row.path))).link!);
  }
  svc.close();

  const t0 = performance.now();
  const latencies: number[] = [];
  const codes = await Promise.all(
    links.map(
      (link) =>
        new Promise<number>((resolve) => {
          const start = performance.now();
          const child = spawn(process.execPath, ['bin/zv.js', 'envelope', 'sign', '-', '--data', dir], { cwd: root, env, stdio: ['pipe', 'ignore', 'ignore'] });
          child.stdin.end(link);
          child.on('exit', (code) => {
            latencies.push(performance.now() - start);
            resolve(code ?? -1);
          });
        }),
    ),
  );
  const wall = (performance.now() - t0) / 1000;
  const ok = codes.filter((c) => c === 0).length;
  latencies.sort((a, b) => a - b);
  console.log(`\nParallel signing (26 partner signatories at once, one process each, one data directory)`);
  console.log(`  ${ok}/26 signed in ${wall.toFixed(1)} s wall → ${(ok / wall).toFixed(1)} signatures/s incl. process start-up`);
  console.log(`  per process: median ${(latencies[13]! / 1000).toFixed(2)} s, slowest ${(latencies[25]! / 1000).toFixed(2)} s`);
  const after = SigningService.open({ dataDir: dir, passphrase: env.ZV_KEY_PASSPHRASE, warn: () => {} });
  const signed = (after.store.db.prepare("SELECT COUNT(*) AS n FROM audit_events WHERE type = 'signed'").get() as { n: number }).n;
  const broken = after.listEnvelopes().filter((s) => !after.checkChain(s.envelope.id).ok).length;
  after.close();
  console.log(`  afterwards: ${signed} signed events (expected ${26 + ok}), ${broken} broken audit chains`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
