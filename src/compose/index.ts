import type { DocumentTree } from '../document/tree.ts';
import { parseAgreementInput, type AgreementInput } from '../model/agreement.ts';
import { formatEuro } from './format.ts';
import { parseMarkup } from './markup.ts';
import { resolveAgreement, type ResolvedAgreement, type ResolveOptions } from './resolve.ts';
import { signatureBlock } from './signatures.ts';
import { escapeDeep, renderTemplate } from './template.ts';
import { agreementNames, typesetBlocks } from './typography.ts';

export interface ComposeOptions extends ResolveOptions {
  /**
   * The exact bytes the input was read from, attached to the PDF so that the archived document
   * carries its own data. Defaults to the validated input serialised as JSON.
   */
  sourceBytes?: Uint8Array;
}

export interface ComposedAgreement {
  resolved: ResolvedAgreement;
  /** The filled-in template markup (useful for review and debugging). */
  markup: string;
  tree: DocumentTree;
}

/** The view handed to the template: only what the wording needs, every string escaped for the markup. */
function templateContext(a: ResolvedAgreement) {
  const p = a.partner;
  const m = a.ministry;
  return {
    ...escapeDeep({
    year: a.year,
    nextYear: a.year + 1,
    partner: {
      name: p.name,
      nominative: p.nominative,
      accusative: p.accusative,
      dative: p.dative,
      genitive: p.genitive,
      von: p.von,
      locative: p.locative,
      seat: p.seat,
    },
    ministry: { name: m.name, nominative: m.nominative, dative: m.dative, genitive: m.genitive, abbreviation: m.abbreviation },
    amount: a.amount === undefined ? '' : formatEuro(a.amount),
    measures: a.measures.map((x) => ({ title: x.title, projects: x.projects })),
    }),
    // A partial name, not a value: left unescaped.
    steeringPartial: `aqb/steering-${a.steering ?? 'dialog'}`,
  };
}

/** Validated input → resolved context → canonical template → document tree. */
export function composeAgreement(input: AgreementInput, options: ComposeOptions = {}): ComposedAgreement {
  return composeResolved(resolveAgreement(input, options), options.sourceBytes);
}

/** Resolved context → canonical template → document tree (for callers that resolved up front, like the batch). */
export function composeResolved(resolved: ResolvedAgreement, sourceBytes?: Uint8Array): ComposedAgreement {
  const input = resolved.input;
  const markup = renderTemplate(resolved.edition.template, templateContext(resolved));
  const parsed = parseMarkup(markup, resolved.edition.template).map((b) => (b.kind === 'signatures' ? signatureBlock(resolved) : b));
  const blocks = typesetBlocks(parsed, agreementNames(resolved));
  const typeLabel = resolved.type === 'aqb' ? 'AQB' : 'SGB II';
  const tree: DocumentTree = {
    meta: {
      title: `Zielvereinbarung ${resolved.year} – ${resolved.partner.name} (${typeLabel})`,
      subject:
        resolved.type === 'aqb'
          ? `Ausbildungs- und Qualifizierungsbudget ${resolved.year}`
          : `Leistungen nach den §§ 16a, 24 und 28 SGB II ${resolved.year}`,
      author: resolved.ministry.name,
      keywords: ['Zielvereinbarung', typeLabel, String(resolved.year), resolved.partner.name, `Fassung ${resolved.edition.edition}`],
      language: 'de-DE',
      created: new Date(`${resolved.date}T00:00:00Z`),
      dateStyle: resolved.edition.dateStyle,
    },
    blocks,
    attachments: [
      {
        name: `${resolved.fileBase}.json`,
        mimeType: 'application/json',
        description: 'Eingabedaten dieser Zielvereinbarung (Zielwerk)',
        relationship: 'Source',
        content: sourceBytes ?? new TextEncoder().encode(JSON.stringify(input, null, 2) + '\n'),
      },
    ],
  };
  return { resolved, markup, tree };
}

/** Convenience: validate unknown JSON data and compose it. */
export function composeFromData(data: unknown, options: ComposeOptions & { source?: string } = {}): ComposedAgreement {
  return composeAgreement(parseAgreementInput(data, options.source), options);
}
