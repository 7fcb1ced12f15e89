/**
 * The Demo-CA's /pki services (OCSP, CRL, CA certificate) in a process of their own, for tests
 * whose validators run synchronously: poppler's pdfsig (NSS) asks the OCSP responder a
 * certificate names and calls the certificate unusable when none answers, and a responder in the
 * test's own process could not answer while execFileSync waits.
 *
 * One responder serves any number of data directories: the base URL for a directory is
 * http://127.0.0.1:<port>/<base64url of its path>. Give it to the key store that issues the
 * certificates (ZV_BASE_URL for `zv`, the baseUrl option of KeyStore.open) and they name it.
 * Run as a script, this file is the responder; it prints "listening <port>".
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import type { KeyStore } from '../../src/sign/keys.ts';

export interface PkiResponder {
  /** The base URL certificates of `dataDir` should name (without a trailing slash). */
  baseUrlFor(dataDir: string): string;
  close(): Promise<void>;
}

const SELF = fileURLToPath(import.meta.url);

export async function startPkiResponder(): Promise<PkiResponder> {
  const child = spawn(process.execPath, ['--import', 'tsx', SELF], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, NODE_TEST_CONTEXT: undefined } });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString('utf8');
      const m = /listening (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.on('exit', (code) => reject(new Error(`the PKI responder exited (${code}) before listening`)));
  });
  return {
    baseUrlFor: (dataDir) => `http://127.0.0.1:${port}/${Buffer.from(dataDir, 'utf8').toString('base64url')}`,
    close: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill();
      }),
  };
}

async function main(): Promise<void> {
  const { KeyStore: Store } = await import('../../src/sign/keys.ts');
  const stores = new Map<string, KeyStore>();
  const storeFor = (prefix: string) => {
    const dir = Buffer.from(prefix, 'base64url').toString('utf8');
    let s = stores.get(dir);
    // No store passphrase: OCSP and the CRL need only the CA key (under the default development CA passphrase, as in the tests).
    if (!s) stores.set(dir, (s = Store.open(dir, '', process.env.ZV_CA_PASSPHRASE || undefined)));
    return s;
  };
  const server = createServer(async (req, res) => {
    try {
      const m = /^\/([A-Za-z0-9_-]+)\/pki\/(ocsp|ca\.crl|ca\.cer)(?:\/(.*))?$/.exec(req.url ?? '');
      if (!m) {
        res.statusCode = 404;
        return res.end();
      }
      const store = storeFor(m[1]!);
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      if (m[2] === 'ocsp') {
        const request = req.method === 'POST' ? Buffer.concat(chunks) : Buffer.from(decodeURIComponent(m[3] ?? ''), 'base64');
        res.setHeader('content-type', 'application/ocsp-response');
        return res.end(Buffer.from(await store.respondOcsp(new Uint8Array(request))));
      }
      if (m[2] === 'ca.crl') {
        res.setHeader('content-type', 'application/pkix-crl');
        return res.end(Buffer.from(await store.currentCrl()));
      }
      res.setHeader('content-type', 'application/pkix-cert');
      return res.end(Buffer.from(store.caCertificateDer()));
    } catch (err) {
      res.statusCode = 500;
      res.end(String(err));
    }
  });
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    process.stdout.write(`listening ${typeof address === 'object' && address ? address.port : 0}\n`);
  });
  // Ends with the test process that started it.
  process.on('disconnect', () => process.exit(0));
  setInterval(() => {
    try {
      process.kill(process.ppid, 0);
    } catch {
      process.exit(0);
    }
  }, 2_000).unref();
}

if (process.argv[1] === SELF) void main();
