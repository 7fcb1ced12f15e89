/**
 * What a signature needs from a key store: the signer's certificate, its issuer chain and a
 * private key. Shared by the key store (which produces identities), the CMS builder (which
 * signs with them) and the time-stamp authority (which is itself an identity with a
 * time-stamping certificate).
 */
import type { KeyObject } from 'node:crypto';

export interface SigningIdentity {
  /** DER-encoded X.509 certificate of the signer. */
  certificate: Uint8Array;
  /** DER-encoded issuer certificates, nearest issuer first, up to (and including) the root. */
  chain: Uint8Array[];
  /** The signer's private key (RSA or EC). */
  privateKey: KeyObject;
  /** Where the identity came from: issued by the local demo CA, or imported from PKCS#12. */
  source: 'demo-ca' | 'pkcs12';
}

/** The person a certificate is issued to. */
export interface SignatoryPerson {
  name: string;
  role: string;
  organisation: string;
}

/** RFC 3161 time-stamp authority: returns a DER TimeStampToken (a CMS ContentInfo) for a digest. */
export interface TimestampAuthority {
  timestamp(digest: Uint8Array, algorithm: 'SHA-256'): Promise<Uint8Array>;
}
