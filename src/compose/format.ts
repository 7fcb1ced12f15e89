/** German (de-DE) formatting of amounts, dates and lists: the one module for them (agreements, stamps, mails, pages, protocol). */

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

const berlin = { timeZone: 'Europe/Berlin', day: '2-digit', month: '2-digit', year: 'numeric' } as const;
const berlinDay = new Intl.DateTimeFormat('de-DE', berlin);
const berlinMinutes = new Intl.DateTimeFormat('de-DE', { ...berlin, hour: '2-digit', minute: '2-digit' });
const berlinMinutesZone = new Intl.DateTimeFormat('de-DE', { ...berlin, hour: '2-digit', minute: '2-digit', timeZoneName: 'short' });
const berlinSecondsZone = new Intl.DateTimeFormat('de-DE', { ...berlin, hour: '2-digit', minute: '2-digit', second: '2-digit', timeZoneName: 'short' });

/** An instant as the calendar date in Hessen: "21.12.2026". */
export function berlinDate(d: Date): string {
  return berlinDay.format(d);
}

/**
 * An instant as Hessen's local time: "21.11.2026, 14:03 MEZ"; with `seconds` "30.05.2023, 14:05:09 MESZ";
 * with `zone: false` "21.11.2026, 14:03".
 */
export function berlinDateTime(d: Date, opts: { seconds?: boolean; zone?: boolean } = {}): string {
  if (opts.seconds) return berlinSecondsZone.format(d);
  return (opts.zone === false ? berlinMinutes : berlinMinutesZone).format(d);
}
