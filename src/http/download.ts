/** Sends a file to the browser: a safe ASCII file name, no caching of personal documents. */
import type { Response } from 'express';

/** A name safe for Content-Disposition: ASCII letters, digits, dot, hyphen, underscore. */
export const safeFileName = (name: string) => name.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[_.-]+/, '') || 'datei';

export function sendDownload(
  res: Response,
  bytes: Uint8Array,
  opts: { name: string; type?: string; disposition?: 'inline' | 'attachment'; sha256?: string },
): void {
  res.status(200);
  res.set('Content-Type', opts.type ?? 'application/pdf');
  res.set('Content-Disposition', `${opts.disposition ?? 'attachment'}; filename="${safeFileName(opts.name)}"`);
  res.set('Cache-Control', 'private, no-store');
  if (opts.sha256) res.set('X-Content-SHA256', opts.sha256);
  res.send(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
}
