/**
 * Benchmark: the web app under concurrent load, printed as figures (never a timed test).
 * A year of 26 AQB agreements is prepared through the real services (generated, envelopes opened,
 * the minister has signed); then `zv serve` runs as its own process and this script, as the
 * client, measures:
 *   1. 50 concurrent clients loading county signing pages (GET /sign/<token>), 10 loads each;
 *   2. 26 concurrent sign requests, one per county (POST /api/v1/sign/<token>).
 * Target: p99 < 300 ms for page loads, zero errors.
 */
import { spawn } from 'node:child_process';
import { Agent, request } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SigningService } from '../src/envelope/service.ts';
import { generateIntoStore, readAgreementInputs } from '../src/store/agreements.ts';
import { readContactsFile, saveContacts } from '../src/envelope/contacts.ts';
import { DEMO_BATCH, DEMO_CONTACTS, newestLink } from '../src/demo.ts';

const root = new URL('..', import.meta.url).pathname;
const CLIENTS = 50;
const LOADS_PER_CLIENT = 10;
const passphrase = process.env.ZV_KEY_PASSPHRASE ?? 'bench-passphrase-123';
const work = mkdtempSync(join(tmpdir(), 'zv-bench-web-'));
const dataDir = join(work, 'data');

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
const fmt = (ms: number) => `${ms.toFixed(0)} ms`;
function summary(label: string, latencies: number[], errors: number, wallMs: number) {
  const s = [...latencies].sort((a, b) => a - b);
  console.log(
    `  ${label}: ${latencies.length} requests in ${(wallMs / 1000).toFixed(1)} s (${(latencies.length / (wallMs / 1000)).toFixed(0)}/s); ` +
      `p50 ${fmt(pct(s, 50))}, p90 ${fmt(pct(s, 90))}, p99 ${fmt(pct(s, 99))}, max ${fmt(s[s.length - 1]!)}; errors ${errors}`,
  );
  return { p50: pct(s, 50), p99: pct(s, 99), errors };
}

async function prepare(): Promise<string[]> {
  const svc = SigningService.open({ dataDir, passphrase, transport: null, baseUrl: 'http://localhost' });
  try {
    const contacts = readContactsFile(DEMO_CONTACTS);
    saveContacts(svc.store, contacts.signatories, 'bench');
    const agreements = await generateIntoStore(svc.store, await readAgreementInputs(DEMO_BATCH), 'bench');
    await svc.openEnvelopes(agreements.map((a) => a.id), contacts, 'bench');
    const batch = await svc.signAsMinistry(svc.awaitingMinistry({ year: 2023 }).map((s) => s.envelope.id), { name: 'Kai Klose', actor: 'bench' });
    if (batch.some((b) => b.error)) throw new Error(`ministry batch failed: ${batch.find((b) => b.error)!.error}`);
    // The current (first partner) signatory's newest link of every envelope.
    return svc.listEnvelopes({ year: 2023, status: 'open' }).map((snap) => {
      const current = SigningService.current(snap)!;
      return newestLink(svc, current.email!).replace(/^.*\/sign\//, '');
    });
  } finally {
    svc.close();
  }
}

async function startServer(): Promise<{ url: string; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, [join(root, 'bin/zv.js'), 'serve', '--data', dataDir, '--port', '0'], {
    cwd: root,
    env: { ...process.env, ZV_KEY_PASSPHRASE: passphrase, ZV_ADMIN_PASSWORD: 'bench-admin-password', ZV_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /läuft auf (http:\/\/\S+?) /.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`zv serve exited (${code}) before listening:\n${out}`)));
  });
  return {
    url,
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** One keep-alive connection per client, like a browser tab (node:http; fetch's pool opens them lazily in a burst). */
function getText(agent: Agent, url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function timed(fn: () => Promise<boolean>): Promise<{ ms: number; ok: boolean }> {
  const t0 = performance.now();
  let ok = false;
  try {
    ok = await fn();
  } catch {
    ok = false;
  }
  return { ms: performance.now() - t0, ok };
}

try {
  const t0 = performance.now();
  const tokens = await prepare();
  console.log(`\nWeb app (zv serve, one process; ${tokens.length} open envelopes prepared in ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  const server = await startServer();
  try {
    // Warm-up: one load, so that lazy start-up work is not counted.
    await fetch(`${server.url}/sign/${tokens[0]}`).then((r) => r.text());

    // Each county's first view is a write (the audit trail logs "opened" once per document state);
    // measured on its own, all 26 at once, before the read-only reloads below.
    const firstLatencies: number[] = [];
    let firstErrors = 0;
    let w0 = performance.now();
    await Promise.all(
      tokens.slice(1).map(async (token) => {
        const r = await timed(async () => {
          const res = await fetch(`${server.url}/sign/${token}`);
          return res.status === 200 && (await res.text()).includes('Unterzeichnen');
        });
        firstLatencies.push(r.ms);
        if (!r.ok) firstErrors++;
      }),
    );
    const first = summary(`${tokens.length - 1} concurrent first views (each logs "opened": a write with fsync)`, firstLatencies, firstErrors, performance.now() - w0);

    const pageLatencies: number[] = [];
    let pageErrors = 0;
    w0 = performance.now();
    await Promise.all(
      Array.from({ length: CLIENTS }, async (_, c) => {
        const agent = new Agent({ keepAlive: true, maxSockets: 1 });
        for (let i = 0; i < LOADS_PER_CLIENT; i++) {
          const token = tokens[(c * LOADS_PER_CLIENT + i) % tokens.length]!;
          const r = await timed(async () => {
            const res = await getText(agent, `${server.url}/sign/${token}`);
            return res.status === 200 && res.body.includes('Unterzeichnen');
          });
          pageLatencies.push(r.ms);
          if (!r.ok) pageErrors++;
        }
      }),
    );
    const pages = summary(`${CLIENTS} concurrent clients × ${LOADS_PER_CLIENT} signing-page loads`, pageLatencies, pageErrors, performance.now() - w0);

    const signLatencies: number[] = [];
    let signErrors = 0;
    w0 = performance.now();
    const today = new Date().toISOString().slice(0, 10);
    await Promise.all(
      tokens.map(async (token) => {
        const r = await timed(async () => {
          const res = await fetch(`${server.url}/api/v1/sign/${token}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ date: today }) });
          await res.text();
          return res.status === 200 || res.status === 201;
        });
        signLatencies.push(r.ms);
        if (!r.ok) signErrors++;
      }),
    );
    const signs = summary(`${tokens.length} concurrent sign requests (PAdES, incl. first-time certificate issuance)`, signLatencies, signErrors, performance.now() - w0);
    console.log(
      `  target: page-load p99 < 300 ms and zero errors → ${pages.p99 < 300 && first.p99 < 300 && pages.errors + first.errors + signs.errors === 0 ? 'met' : 'NOT met'}` +
        ` (first views p99 ${fmt(first.p99)}, loads p99 ${fmt(pages.p99)})`,
    );
  } finally {
    await server.stop();
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
