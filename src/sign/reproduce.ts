/**
 * "The document says what its data says": re-composes an agreement from the input JSON embedded
 * in its PDF, with the edition and creation date the PDF records, so that signing can find the
 * printed places and verification can compare the pages with a fresh rendering.
 */
import { parseJsonBytes } from '../input.ts';
import { parseAgreementInput } from '../model/agreement.ts';
import { composeAgreement } from '../compose/index.ts';
import type { ComposedAgreement } from '../compose/index.ts';
import { AgreementPdfError } from './agreement-pdf.ts';
import type { AgreementPdf } from './agreement-pdf.ts';

export function recompose(doc: AgreementPdf): ComposedAgreement {
  if (!doc.input) throw new AgreementPdfError('the PDF carries no embedded input JSON');
  const data = parseJsonBytes(doc.input.bytes, doc.input.name);
  const meta = doc.pdf.getMetadata();
  const edition = recordedEdition(doc);
  const input = parseAgreementInput(data, doc.input.name);
  const today = meta.creationDate ? meta.creationDate.toISOString().slice(0, 10) : undefined;
  return composeAgreement(edition && !input.edition ? { ...input, edition } : input, { today, sourceBytes: doc.input.bytes });
}

/**
 * The template edition the generator recorded as keyword "Fassung <edition>". @libpdf/core splits
 * /Keywords at white space ("Fassung", "2023"), so the words are joined again first.
 */
export function recordedEdition(doc: AgreementPdf): string | undefined {
  return /(?:^|[\s,])Fassung\s+(\d{4})\b/.exec((doc.pdf.getMetadata().keywords ?? []).join(' '))?.[1];
}

/** The printed place ("<place>, den") of each party's column. */
export function printedPlaces(composed: ComposedAgreement): Record<'ministry' | 'partner', string> {
  const block = composed.tree.blocks.find((b) => b.kind === 'signatures');
  const places = { ministry: '', partner: '' };
  if (block?.kind === 'signatures') for (const c of block.columns) places[c.party] = c.place;
  return places;
}
