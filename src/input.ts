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
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    const offset = firstInvalidUtf8(bytes);
    throw new ValidationError(
      [{ path: '(file)', message: `is not valid UTF-8 text (first bad byte at offset ${offset}); save the file as UTF-8` }],
      source,
    );
  }
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

function firstInvalidUtf8(bytes: Uint8Array): number {
  // Feed byte by byte in streaming mode: the decoder throws at the first byte that cannot continue a valid sequence.
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let sequenceStart = 0;
  for (let i = 0; i < bytes.length; i++) {
    if ((bytes[i] & 0xc0) !== 0x80) sequenceStart = i;
    try {
      decoder.decode(bytes.subarray(i, i + 1), { stream: true });
    } catch {
      return sequenceStart;
    }
  }
  return sequenceStart; // an incomplete sequence at the very end
}
