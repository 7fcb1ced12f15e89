/**
 * What a verification of this instance trusts, in one place: the demo CA (trusted, never as
 * qualified), the anchors added with `zv trust add` (some marked qualified), and the certificates
 * whose keys this server holds (its key store) — signatures with those are simple, whatever CA.
 */
import { createHash } from 'node:crypto';
import type { KeyStore } from './keys.ts';
import { KeyStoreError } from './keys.ts';
import type { VerifyOptions } from './verify.ts';
import type { Store } from '../store/store.ts';
import { listTrustAnchors } from '../store/trust.ts';

export type TrustConfig = Required<Pick<VerifyOptions, 'trust' | 'qualifiedTrust'>> & { serverHeld: string[]; demoCa: string | null };

export function trustConfig(keys: KeyStore, store: Store | null): TrustConfig {
  let demo: Uint8Array | null = null;
  try {
    demo = keys.caCertificateDer();
  } catch (err) {
    if (!(err instanceof KeyStoreError)) throw err;
  }
  const anchors = store ? listTrustAnchors(store) : [];
  return {
    trust: [...(demo ? [demo] : []), ...anchors.filter((a) => !a.qualified).map((a) => a.der)],
    qualifiedTrust: anchors.filter((a) => a.qualified).map((a) => a.der),
    serverHeld: keys.list().map((c) => c.sha256),
    demoCa: demo ? createHash('sha256').update(demo).digest('hex') : null,
  };
}
