import type { SignatureBlock, SignatureColumn, SignatorySlot } from '../document/tree.ts';
import type { ResolvedAgreement } from './resolve.ts';

/**
 * Builds the signature block from the data (never from template text): one column per party,
 * ministry first, each signatory with a stable signature-field name and its place in the signing order.
 * Place/date lines stay blank: the signing service stamps them.
 */
export function signatureBlock(a: ResolvedAgreement): SignatureBlock {
  const below = a.edition.signatureLayout === 'organisation-below';
  // Signing order: one party's signatories in their listed order, then the other's.
  const partnerFirst = a.input.signingOrder === 'partner-first';
  const firstCount = partnerFirst ? a.signatories.partner.length : a.signatories.ministry.length;
  const slots = (party: 'ministry' | 'partner', people: { name: string; role: string }[], organisationLines: string[]): SignatorySlot[] => {
    const offset = (party === 'partner') === partnerFirst ? 0 : firstCount;
    return people.map((p, i) => ({
      fieldName: `sig-${party}-${i + 1}`,
      party,
      index: i + 1,
      order: offset + i + 1,
      name: p.name,
      role: p.role,
      organisationLines: below ? organisationLines : [],
    }));
  };

  const ministry: SignatureColumn = {
    party: 'ministry',
    place: a.ministry.seat,
    date: null,
    headerLines: below ? [] : [a.ministry.name],
    signatories: slots('ministry', a.signatories.ministry, a.ministry.signatureLines),
  };
  const partner: SignatureColumn = {
    party: 'partner',
    place: a.partner.seat,
    date: null,
    headerLines: below ? [] : [a.partner.name],
    signatories: slots('partner', a.signatories.partner, [a.partner.genitive]),
  };
  return { kind: 'signatures', columns: [ministry, partner] };
}
