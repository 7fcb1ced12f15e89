/**
 * Writes the table forms of the yearly example batch, so that JSON, CSV and XLSX stay in sync:
 *   examples/aqb-2023-hessen.json  →  examples/aqb-2023-hessen.csv, examples/aqb-2023-hessen.xlsx
 * and the empty-ish template examples/vorlage-zielvereinbarungen.xlsx. Each written table is read back and
 * must give exactly the JSON data (partner names → ids, category labels → ids).
 *
 *   node --import tsx scripts/make-batch-examples.ts           # write and check
 *   node --import tsx scripts/make-batch-examples.ts --check   # only check that the files on disk are current
 */
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { batchToCsv, batchToXlsx, readCsv, readXlsx, xlsxTemplate } from '../src/batch/table.ts';

const dir = new URL('../examples/', import.meta.url);
const checkOnly = process.argv.includes('--check');
const json = JSON.parse(readFileSync(new URL('aqb-2023-hessen.json', dir), 'utf8'));

const outputs: { name: string; bytes: Uint8Array }[] = [
  { name: 'aqb-2023-hessen.csv', bytes: new TextEncoder().encode(batchToCsv(json)) },
  { name: 'aqb-2023-hessen.xlsx', bytes: await batchToXlsx(json) },
  { name: 'vorlage-zielvereinbarungen.xlsx', bytes: await xlsxTemplate() },
];

let failed = false;
for (const { name, bytes } of outputs) {
  const url = new URL(name, dir);
  if (checkOnly) {
    const current = existsSync(url) ? new Uint8Array(readFileSync(url)) : undefined;
    if (!current || Buffer.compare(current, bytes) !== 0) {
      console.error(`examples/${name}: out of date — run node --import tsx scripts/make-batch-examples.ts`);
      failed = true;
    }
  } else writeFileSync(url, bytes);
}

// Read back: the CSV and XLSX must give the JSON's data exactly, without reading problems.
for (const { name, bytes } of outputs.slice(0, 2)) {
  const source = name.endsWith('.csv') ? readCsv(bytes, name) : await readXlsx(bytes, name);
  if (source.problems.length > 0 || !isDeepStrictEqual(source.data, json)) {
    console.error(`examples/${name}: does not read back as aqb-2023-hessen.json`, source.problems);
    failed = true;
  } else console.log(`examples/${name}: ${checkOnly ? 'current' : 'written'}, reads back as aqb-2023-hessen.json (${bytes.length} bytes)`);
}
if (!checkOnly) console.log(`examples/vorlage-zielvereinbarungen.xlsx: written (${outputs[2].bytes.length} bytes)`);
if (failed) process.exit(1);
