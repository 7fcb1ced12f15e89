/**
 * The document tree: the single intermediate form that both renderers (DOCX and PDF) consume.
 * Composition produces it from a canonical template; nothing downstream re-reads the template,
 * so the DOCX and the PDF cannot diverge in wording.
 */

/** A run of text with uniform emphasis. Text is literal: no markup is interpreted any more. */
export interface Run {
  text: string;
  bold?: boolean;
  italic?: boolean;
  /**
   * Never hyphenate inside this run (proper names: partner, seat, ministry, signatories, projects).
   * A line may still break at a space or after a hyphen the name itself has.
   */
  noHyphenate?: boolean;
}

/** A centred block of short lines, e.g. the title block ("Zielvereinbarung", "2023", "zwischen", …). */
export interface TitleBlock {
  kind: 'title';
  /** Each line is one centred line of runs. */
  lines: Run[][];
}

/**
 * A heading. Level 1 = section number or standalone heading ("§ 1", "Präambel"),
 * level 2 = section title ("Ausbildungs- und Qualifizierungsbudget"), level 3 = sub-heading ("Ziele des Landes").
 * Headings are centred and bold, and are kept together with the block that follows them.
 */
export interface HeadingBlock {
  kind: 'heading';
  level: 1 | 2 | 3;
  runs: Run[];
}

/** A body paragraph. `align` defaults to 'justify'; 'center' is used for the emphasised amount line. */
export interface ParagraphBlock {
  kind: 'paragraph';
  runs: Run[];
  align?: 'justify' | 'center' | 'left';
  /** Keep on the same page as the next block (e.g. a measure category line above its project list). */
  keepWithNext?: boolean;
}

export interface ListItem {
  /** The item's own text (one paragraph). */
  runs: Run[];
  /** A nested list under this item, if any. */
  children?: ListBlock;
}

/** An ordered ("1.", "2.", …) or bulleted list; lists nest via ListItem.children. */
export interface ListBlock {
  kind: 'list';
  ordered: boolean;
  /** First number of an ordered list (default 1). */
  start?: number;
  items: ListItem[];
}

/** One person who signs, as printed in the signature block. */
export interface SignatorySlot {
  /** Stable field name of the PDF signature field for this slot, e.g. "sig-ministry-1". */
  fieldName: string;
  /** Which party the signatory signs for. */
  party: 'ministry' | 'partner';
  /** 1-based position within the party, in signing order. */
  index: number;
  /** 1-based position in the overall signing order (ministry first by default). */
  order: number;
  name: string;
  role: string;
  /**
   * Lines printed under name and role (e.g. ["Hessisches Ministerium", "für Soziales und Integration"]
   * or ["des Werra-Meißner-Kreises"]). May be empty when the organisation is printed as the column header.
   */
  organisationLines: string[];
}

/** One column of the signature block: a party (ministry or partner) with one or more stacked signatories. */
export interface SignatureColumn {
  party: 'ministry' | 'partner';
  /** Place printed in the "<place>, den" line (ministry seat / partner seat). */
  place: string;
  /**
   * Date already printed after "den" (e.g. "30. Mai 2023"), or null to leave the line blank
   * for the signing service to stamp. Generated documents leave it null.
   */
  date: string | null;
  /** Optional bold header line(s) above the signatories (SGB II style: the organisation's name). */
  headerLines: string[];
  signatories: SignatorySlot[];
}

/** The signature block: one column per party, side by side; never split across pages. */
export interface SignatureBlock {
  kind: 'signatures';
  columns: SignatureColumn[];
}

export type Block = TitleBlock | HeadingBlock | ParagraphBlock | ListBlock | SignatureBlock;

/** Document-level metadata, used for DOCX core properties and PDF Info/XMP. */
export interface DocumentMeta {
  /** e.g. "Zielvereinbarung 2023 – Werra-Meißner-Kreis (AQB)" */
  title: string;
  /** e.g. "Ausbildungs- und Qualifizierungsbudget 2023" */
  subject: string;
  /** The ministry's name (author of the document). */
  author: string;
  keywords: string[];
  /** BCP 47 language tag; always "de-DE". */
  language: string;
  /**
   * Fixed creation date of the document (derived from the input, not the clock) so that
   * re-rendering the same input yields byte-identical files.
   */
  created: Date;
  /** Date style of the agreement, used later by the signing stamp: 'long' = "30. Mai 2023", 'numeric' = "24.01.2023". */
  dateStyle: 'long' | 'numeric';
}

/** A file to attach to the PDF as a PDF/A-3 associated file (the input JSON). */
export interface Attachment {
  name: string;
  mimeType: string;
  description: string;
  /** AFRelationship, e.g. 'Source' for the input the document was generated from. */
  relationship: 'Source' | 'Data' | 'Alternative' | 'Supplement' | 'Unspecified';
  content: Uint8Array;
}

export interface DocumentTree {
  meta: DocumentMeta;
  blocks: Block[];
  attachments: Attachment[];
}
