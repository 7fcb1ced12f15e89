import { readFileSync } from 'node:fs';
import { ValidationError } from './model/agreement.ts';

/** A JSON input file read and decoded strictly, keeping its exact bytes (they are attached to the PDF). */
export interface JsonSource {
  path: string;
  bytes: Uint8Array;
  data: unknown;
}

/**
 * Reads a JSON file as strict UTF-8 (with or without BOM). Non-UTF-8 bytes and JSON syntax errors
 * become a ValidationError that names the line and column.
 */
export function readJsonFile(path: string): JsonSource {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'file not found' : code === 'EISDIR' ? 'is a directory, not a file' : (err as Error).message;
    throw new ValidationError([{ path: '(file)', message: reason }], path);
  }
  return { path, bytes, data: parseJsonBytes(bytes, path) };
}

export function parseJsonBytes(bytes: Uint8Array, source: string): unknown {
  const decoded = decodeUtf8(bytes);
  if ('badOffset' in decoded) {
    throw new ValidationError(
      [{ path: '(file)', message: `is not valid UTF-8 text (first bad byte at offset ${decoded.badOffset}); save the file as UTF-8` }],
      source,
    );
  }
  let text = decoded.text;
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  try {
    return JSON.parse(text);
  } catch (err) {
    const message = (err as Error).message;
    const m = /position (\d+)/.exec(message);
    let where = '';
    if (m) {
      const before = text.slice(0, Number(m[1]));
      const line = before.split('\n').length;
      const column = before.length - before.lastIndexOf('\n');
      where = ` at line ${line}, column ${column}`;
    }
    throw new ValidationError([{ path: '(file)', message: `is not valid JSON${where}: ${message.replace(/ in JSON at position \d+.*$/, '')}` }], source);
  }
}

/** Strict UTF-8 decoding; on failure, the offset of the first byte that starts an invalid sequence. */
export function decodeUtf8(bytes: Uint8Array): { text: string } | { badOffset: number } {
  try {
    return { text: new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes) };
  } catch {
    return { badOffset: firstInvalidUtf8(bytes) };
  }
}

function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    const n = c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : 0;
    if (n === 0) return i;
    for (let k = 1; k <= n; k++) if (i + k >= b.length || (b[i + k] & 0xc0) !== 0x80) return i;
    // Overlong forms, surrogates, beyond U+10FFFF.
    const c1 = b[i + 1];
    if ((c === 0xe0 && c1 < 0xa0) || (c === 0xed && c1 > 0x9f) || (c === 0xf0 && c1 < 0x90) || (c === 0xf4 && c1 > 0x8f)) return i;
    i += n + 1;
  }
  return b.length;
}

