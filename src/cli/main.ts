import { Command, InvalidArgumentError, Option } from 'commander';
import { toolVersion } from '../paths.ts';
import { isValidIsoDate, ValidationError } from '../model/agreement.ts';
import { TemplateError } from '../compose/markup.ts';
import { listPartners } from '../registry/partners.ts';
import { listMinistries } from '../registry/ministries.ts';
import { listEditions } from '../registry/editions.ts';
import { MEASURE_CATEGORIES } from '../registry/categories.ts';
import { formatEuro } from '../compose/format.ts';
import { InputFilesError, generateAgreements, OUTPUT_FORMATS, type OutputFormat } from '../generate.ts';
import { addSigningCommands, REFUSALS } from './signing.ts';
import { addStoreCommands } from './store.ts';
import { addServeCommand } from './serve.ts';
import { EnvelopeError, LinkRefusedError, NotYourTurnError } from '../envelope/service.ts';
import { AgreementError } from '../store/agreements.ts';
import { FileIntegrityError } from '../store/files.ts';
import { ArchiveError } from '../archive/archive.ts';
import { DemoError } from '../demo.ts';


/** Exit codes: 0 ok, 1 invalid input (nothing written), 2 usage error, 3 unexpected failure. */
export async function main(argv: string[]): Promise<number> {
  let exitCode = 0;
  const program = new Command('zv')
    .description('Zielwerk — Zielvereinbarungen (AQB, SGB II) from structured input to DOCX and archival PDF')
    .version(toolVersion)
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });

  program
    .command('generate')
    .description('generate DOCX and PDF for one or more agreement JSON files (<type>-<year>-<partner>.{docx,pdf})')
    .argument('<inputs...>', 'agreement input JSON file(s)')
    .requiredOption('-o, --out <dir>', 'output directory (created if missing)')
    .addOption(new Option('-f, --format <format>', 'restrict output to one format').choices([...OUTPUT_FORMATS]))
    .option('--today <date>', 'treat this ISO date as today (for the default agreement date)', (v) => {
      if (!isValidIsoDate(v)) throw new InvalidArgumentError('expected a date YYYY-MM-DD');
      return v;
    })
    .option('--dry-run', 'validate and render, but write nothing')
    .action(async (inputs: string[], opts: { out: string; format?: OutputFormat; today?: string; dryRun?: boolean }) => {
      const formats: OutputFormat[] = opts.format ? [opts.format] : [...OUTPUT_FORMATS];
      try {
        const results = await generateAgreements(inputs, opts.out, formats, { today: opts.today, dryRun: opts.dryRun });
        for (const r of results) {
          for (const w of r.composed.resolved.warnings) process.stderr.write(`warning: ${r.source}: ${w}\n`);
          for (const f of r.files) process.stdout.write(`${opts.dryRun ? '(dry run) ' : ''}${f.path}  ${(f.bytes / 1024).toFixed(1)} KB\n`);
        }
      } catch (err) {
        if (err instanceof InputFilesError) {
          for (const f of err.failures) {
            process.stderr.write(`${f.source}: invalid input — nothing was written\n`);
            for (const p of f.problems) process.stderr.write(`  ${p.path}: ${p.message}\n`);
          }
          exitCode = 1;
          return;
        }
        throw err;
      }
    });

  program
    .command('batch')
    .description('generate all agreements of a year from one JSON, CSV or XLSX file, with manifest.json')
    .argument('[input]', 'batch file (.json, .csv or .xlsx)')
    .option('-o, --out <dir>', 'output directory (must not exist unless --force)')
    .addOption(new Option('-f, --format <format>', 'restrict output to one format').choices([...OUTPUT_FORMATS]))
    .option('--force', 'replace an existing output directory')
    .option('--compare <file>', "previous year's batch file or manifest.json: warn about amounts changed by more than 50 %")
    .option('-q, --quiet', 'no progress output')
    .option('--check', 'only check the batch; write nothing')
    .addOption(new Option('--template <format>', 'print an empty batch template to stdout').choices(['xlsx', 'csv']))
    .option('--today <date>', 'treat this ISO date as today (for default agreement dates)')
    .action(async (input: string | undefined, opts: { out?: string; format?: OutputFormat; force?: boolean; compare?: string; quiet?: boolean; check?: boolean; template?: 'xlsx' | 'csv'; today?: string }) => {
      const { BatchError, loadBatch } = await import('../batch/load.ts');
      if (opts.template) {
        const table = await import('../batch/table.ts');
        process.stdout.write(opts.template === 'xlsx' ? await table.xlsxTemplate() : table.csvTemplate());
        return;
      }
      if (!input) throw new InvalidArgumentError('missing batch file (or --template xlsx|csv)');
      try {
        if (opts.check) {
          const loaded = await loadBatch(input, { today: opts.today, compare: opts.compare });
          for (const w of loaded.warnings) process.stderr.write(`warning: ${w}\n`);
          process.stdout.write(`${input}: ${loaded.agreements.length} agreements, no problems found\n`);
          return;
        }
        if (!opts.out) throw new InvalidArgumentError('--out <dir> is required');
        const { runBatch } = await import('../batch/run.ts');
        const { batchProgress } = await import('./progress.ts');
        const result = await runBatch(input, {
          out: opts.out,
          formats: opts.format ? [opts.format] : [...OUTPUT_FORMATS],
          force: opts.force,
          compare: opts.compare,
          today: opts.today,
          progress: batchProgress(!!opts.quiet),
        });
        const m = result.manifest;
        for (const w of m.warnings) process.stderr.write(`warning: ${w}\n`);
        if (!opts.quiet) {
          const amount = m.totals.amount === null ? '' : `, ${formatEuro(m.totals.amount)} in total${m.totals.budget !== null ? ` (budget ${formatEuro(m.totals.budget)})` : ''}`;
          process.stdout.write(
            `${m.totals.agreements} agreements (${m.type.toUpperCase()} ${m.year})${amount}: ${m.totals.files} files, ${(m.totals.bytes / 1024 / 1024).toFixed(1)} MB in ${result.seconds.toFixed(1)} s, peak memory ${Math.round(process.resourceUsage().maxRSS / 1024)} MB → ${opts.out}\n`,
          );
        }
      } catch (err) {
        if (err instanceof BatchError) {
          process.stderr.write(err.message + '\n');
          exitCode = 1;
          return;
        }
        throw err;
      }
    });

  program
    .command('partners')
    .description('list the 26 partners (Landkreise and kreisfreie Städte) with their case forms')
    .option('--json', 'print the full registry as JSON')
    .action((opts: { json?: boolean }) => {
      const partners = listPartners();
      if (opts.json) {
        process.stdout.write(JSON.stringify(partners, null, 2) + '\n');
        return;
      }
      const rows = partners.map((p) => [p.id, p.nominative, p.dative, p.genitive, p.seat, p.headTitle ? `${p.headTitle.m}/${p.headTitle.f}` : '']);
      printTable(['id', 'Nominativ', 'Dativ', 'Genitiv', 'Sitz', 'Leitung'], rows);
      process.stdout.write(`${partners.length} partners. More forms (accusative, "von", locative, gender): zv partners --json\n`);
    });

  program
    .command('ministries')
    .description('list the responsible ministries by period')
    .action(() => {
      printTable(
        ['from', 'until', 'abbr.', 'name', 'ministers'],
        listMinistries().map((m) => [m.validFrom, m.validUntil ?? '', m.abbreviation, m.name, m.ministers.map((x) => `${x.name} (${x.from}–${x.until ?? ''})`).join(', ')]),
      );
    });

  program
    .command('editions')
    .description('list the template editions and AQB measure categories')
    .action(() => {
      printTable(['type', 'edition', 'template', 'source'], listEditions().map((e) => [e.type, e.edition, `templates/${e.template}`, e.source]));
      process.stdout.write('\n');
      printTable(['category', 'title'], MEASURE_CATEGORIES.map((c) => [c.id, c.title]));
    });

  addSigningCommands(program, (code) => {
    exitCode = code;
  });
  addServeCommand(program);
  addStoreCommands(program, (code) => {
    exitCode = code;
  });

  try {
    await program.parseAsync(argv);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'commander.helpDisplayed' || code === 'commander.version' || code === 'commander.help') return 0;
    if (typeof code === 'string' && code.startsWith('commander.')) return 2;
    if (err instanceof ValidationError) {
      process.stderr.write(err.message + '\n');
      return 1;
    }
    if ([LinkRefusedError, NotYourTurnError, EnvelopeError, AgreementError, ArchiveError, DemoError, FileIntegrityError].some((E) => err instanceof E)) {
      process.stderr.write(`refused: ${(err as Error).message}\n`);
      return 1;
    }
    if (REFUSALS.some((E) => err instanceof E)) {
      process.stderr.write(`refused: ${(err as Error).message} — nothing was written\n`);
      return 1;
    }
    if (err instanceof TemplateError) {
      process.stderr.write(`error: ${err.message}\n`);
      return 3;
    }
    process.stderr.write(`error: ${(err as Error).stack ?? err}\n`);
    return 3;
  }
  return exitCode;
}

function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd() + '\n';
  process.stdout.write(line(header));
  process.stdout.write(line(widths.map((w) => '-'.repeat(w))));
  for (const r of rows) process.stdout.write(line(r));
}
