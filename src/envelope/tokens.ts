/**
 * Personal link tokens: 256 random bits, handed out once (in the notification) and stored only as
 * a SHA-256 hash. A token belongs to one signatory of one envelope and expires.
 */
import { randomBytes } from 'node:crypto';
import { sha256Hex } from '../digest.ts';

export interface MintedToken {
  token: string;
  hash: string;
}

export function mintToken(): MintedToken {
  const token = randomBytes(32).toString('base64url');
  return { token, hash: hashToken(token) };
}

export const hashToken = (token: string) => sha256Hex(token);

/** The shape of a token (43 base64url characters); anything else is not looked up at all. */
export const TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/** Accepts a bare token or a link ending in /sign/<token>. */
export function tokenFromLink(text: string): string | null {
  const t = text.trim();
  const m = /\/sign\/([A-Za-z0-9_-]{43})\/?(?:[?#].*)?$/.exec(t);
  const token = m ? m[1]! : t;
  return TOKEN_PATTERN.test(token) ? token : null;
}

export function linkFor(baseUrl: string, token: string): string {
  return `${baseUrl.replace(/\/+$/, '')}/sign/${token}`;
}
