/**
 * SHA-256, the one digest helper of the code base (file hashes, audit chain, tokens, fingerprints).
 * Strings are hashed as UTF-8. Hashes over several byte ranges (PAdES byte ranges) use
 * `createHash` directly, where the ranges are streamed.
 */
import { createHash } from 'node:crypto';

export type Hashable = Uint8Array | string;

/** The digest as bytes. */
export function sha256(data: Hashable): Uint8Array {
  return new Uint8Array(createHash('sha256').update(data).digest());
}

/** The digest as lower-case hex. */
export function sha256Hex(data: Hashable): string {
  return createHash('sha256').update(data).digest('hex');
}
