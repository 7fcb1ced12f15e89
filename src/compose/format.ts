/** German (de-DE) formatting of amounts and dates, as printed in the agreements. */

const euroNumber = new Intl.NumberFormat('de-DE', { minimumFractionDigits: 0, maximumFractionDigits: 2, useGrouping: true });
const euroCents = new Intl.NumberFormat('de-DE', { minimumFractionDigits: 2, maximumFractionDigits: 2, useGrouping: true });

/** 444000 → "444.000 Euro"; 444000.5 → "444.000,50 Euro" (cents are always two digits when present). */
export function formatEuro(amount: number): string {
  const cents = Math.round(amount * 100);
  return `${cents % 100 === 0 ? euroNumber.format(cents / 100) : euroCents.format(cents / 100)} Euro`;
}

const longDate = new Intl.DateTimeFormat('de-DE', { day: 'numeric', month: 'long', year: 'numeric', timeZone: 'UTC' });
const numericDate = new Intl.DateTimeFormat('de-DE', { day: '2-digit', month: '2-digit', year: 'numeric', timeZone: 'UTC' });

/** "2023-05-30" → "30. Mai 2023" (style 'long') or "30.05.2023" (style 'numeric'). */
export function formatDate(isoDate: string, style: 'long' | 'numeric'): string {
  const date = new Date(`${isoDate}T00:00:00Z`);
  return (style === 'long' ? longDate : numericDate).format(date);
}

/** Upper-cases the first letter, for case forms at the start of a sentence ("der Landkreis" → "Der Landkreis"). */
export function capitalize(text: string): string {
  const i = text.search(/\p{L}/u);
  return i < 0 ? text : text.slice(0, i) + text[i].toUpperCase() + text.slice(i + 1);
}

const andList = new Intl.ListFormat('de', { type: 'conjunction' });

/** "A", "A und B", "A, B und C" (German list with "und", no serial comma). */
export function joinGerman(items: string[]): string {
  return andList.format(items);
}
