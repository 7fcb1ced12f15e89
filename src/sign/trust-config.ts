/**
 * What a verification of this instance trusts, in one place: the demo CA (trusted, never as
 * qualified), the anchors added with `zv trust add` (some marked qualified), and the certificates
 * whose keys this server holds (its key store) — signatures with those are simple, whatever CA.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { KeyStore } from './keys.ts';
import { KeyStoreError } from './keys.ts';
import type { VerifyOptions } from './verify.ts';
import type { RevocationSource } from './proof.ts';
import { buildOcspRequest } from './revocation.ts';
import type { FetchAttempt, RevocationFetcher } from './revocation.ts';
import type { Store } from '../store/store.ts';
import { listTrustAnchors } from '../store/trust.ts';
import { sha256Hex } from '../digest.ts';

export type TrustConfig = Required<Pick<VerifyOptions, 'trust' | 'qualifiedTrust'>> & Pick<VerifyOptions, 'revocation'> & { serverHeld: string[]; demoCa: string | null };

/** The data directory's demo TSA root (<data>/pki/tsa/root.cer), once the demo TSA has stamped anything. */
export function demoTsaRoot(dataDir: string): Uint8Array | null {
  const path = join(dataDir, 'pki', 'tsa', 'root.cer');
  return existsSync(path) ? new Uint8Array(readFileSync(path)) : null;
}

export function trustConfig(keys: KeyStore, store: Store | null): TrustConfig {
  let demo: Uint8Array | null = null;
  try {
    demo = keys.caCertificateDer();
  } catch (err) {
    if (!(err instanceof KeyStoreError)) throw err;
  }
  const anchors = store ? listTrustAnchors(store) : [];
  // The demo TSA is trusted like the demo CA: for this instance's own development signatures, never as qualified.
  const tsaRoot = demoTsaRoot(dirname(keys.dir));
  return {
    trust: [...(demo ? [demo] : []), ...(tsaRoot ? [tsaRoot] : []), ...anchors.filter((a) => !a.qualified).map((a) => a.der)],
    qualifiedTrust: anchors.filter((a) => a.qualified).map((a) => a.der),
    serverHeld: keys.list().map((c) => c.sha256),
    demoCa: demo ? sha256Hex(demo) : null,
  };
}

/**
 * Revocation data for verification: what this instance's own Demo-CA issued is answered from its
 * revocation records in-process (OCSP, and its CRL), whatever address the certificate names —
 * the certificate may have been issued under another ZV_BASE_URL; everything else is fetched.
 */
export function localFirst(keys: KeyStore, fetcher: RevocationFetcher): RevocationSource {
  let ca: Uint8Array | null = null;
  try {
    ca = keys.caCertificateDer();
  } catch (err) {
    if (!(err instanceof KeyStoreError)) throw err;
  }
  return {
    async material(cert, issuer, opts) {
      if (!ca || !Buffer.from(issuer).equals(Buffer.from(ca))) return fetcher.material(cert, issuer, opts);
      const attempts: FetchAttempt[] = [];
      const ocsps: Uint8Array[] = [];
      const crls: Uint8Array[] = [];
      try {
        ocsps.push(await keys.respondOcsp(buildOcspRequest(cert, issuer)));
        attempts.push({ url: 'Zielwerk Demo-CA (OCSP, im Prozess)', kind: 'ocsp', ok: true });
      } catch (err) {
        attempts.push({ url: 'Zielwerk Demo-CA (OCSP, im Prozess)', kind: 'ocsp', ok: false, error: (err as Error).message });
      }
      try {
        crls.push(await keys.currentCrl());
        attempts.push({ url: 'Zielwerk Demo-CA (CRL, im Prozess)', kind: 'crl', ok: true });
      } catch (err) {
        attempts.push({ url: 'Zielwerk Demo-CA (CRL, im Prozess)', kind: 'crl', ok: false, error: (err as Error).message });
      }
      return { ocsps, crls, attempts };
    },
  };
}
