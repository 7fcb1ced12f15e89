/**
 * German number, date and yes/no parsing for the allocation tables (CSV/XLSX), and the inverse formatting.
 * Pure functions: `undefined` means "not a valid value of that kind" — callers decide what to do with the text.
 */

// Spaces that may group thousands: normal, no-break, narrow no-break, thin.
const SPACES = /[\u0020\u00a0\u202f\u2009]/g;

/**
 * Parses an amount as a German clerk writes it: `444000`, `1.341.400`, `444.000,00 €`, `444.000,5`,
 * `1 341 400`, `444.000,-`, `EUR 1.000`, `-5`. Thousands separators must group by three digits
 * (`1.34.400` is not a number); a single point is always a thousands separator (`444.000` = 444000).
 * At most two decimals (cents): `44,000` is rejected rather than read as 44 euros — it is far more likely
 * an English "44,000" than a German amount with three decimals.
 * Not accepted: `27,7 Mio.`, English `1,341,400.00`, anything with letters other than a currency sign.
 */
export function parseGermanNumber(text: string): number | undefined {
  let s = text.trim();
  // Currency before or after the number.
  s = s.replace(/^(?:€|eur|euro)\s*/i, '').replace(/\s*(?:€|eur|euro)$/i, '').trim();
  let sign = 1;
  if (/^[-−–]/.test(s)) {
    sign = -1;
    s = s.slice(1).trim();
  } else if (s.startsWith('+')) s = s.slice(1).trim();
  // "444.000,-" / ",--": whole euros.
  s = s.replace(/,[-–]{1,2}$/, '');
  const m = /^(\d{1,3}(?:([.\u0020\u00a0\u202f\u2009])\d{3})*|\d+)(?:,(\d{1,2}))?$/.exec(s);
  if (!m) return undefined;
  const [, whole, separator] = m;
  // One kind of thousands separator throughout ("1.341 400" is not a number).
  if (separator !== undefined) {
    const used = new Set(whole.replace(/\d/g, ''));
    if (used.size > 1) return undefined;
  }
  const digits = whole.replace(SPACES, '').replace(/\./g, '');
  const value = Number(`${digits}${m[3] !== undefined ? '.' + m[3] : ''}`);
  if (!Number.isFinite(value)) return undefined;
  return sign * value;
}

/** A whole number such as a year: `2023` (also a numeric cell). */
export function parseWholeNumber(text: string): number | undefined {
  const s = text.trim();
  return /^\d{1,9}$/.test(s) ? Number(s) : undefined;
}

/** Rounds floating noise from spreadsheet arithmetic (444000.49999999994 → 444000.5) when the value is whole cents. */
export function tidyCents(n: number): number {
  const cents = Math.round(n * 100);
  return Math.abs(n * 100 - cents) < 1e-6 ? cents / 100 : n;
}

/**
 * A date as ISO `YYYY-MM-DD` from ISO text, German `30.05.2023` / `30.5.2023`, or a spreadsheet date.
 * Returns the text unchanged-but-normalised only when it has the shape of a date; calendar validity
 * (31.02.) is left to the validator, which names the problem.
 */
export function parseDateText(text: string): string | undefined {
  const s = text.trim();
  if (/^\d{4}-\d{2}-\d{2}$/.test(s)) return s;
  const m = /^(\d{1,2})\.(\d{1,2})\.(\d{4})$/.exec(s);
  if (m) return `${m[3]}-${m[2].padStart(2, '0')}-${m[1].padStart(2, '0')}`;
  return undefined;
}

/** The calendar date of a spreadsheet Date (stored by Excel as a serial, read as UTC midnight). */
export function isoFromDate(d: Date): string | undefined {
  const t = d.getTime();
  if (Number.isNaN(t)) return undefined;
  // Round to the second: serials with binary noise (…23:59:59.999) must not fall on the day before.
  return new Date(Math.round(t / 1000) * 1000).toISOString().slice(0, 10);
}

/** Excel serial day number (1900 date system) → ISO date. */
export function isoFromSerial(serial: number): string | undefined {
  if (!Number.isFinite(serial) || serial < 1 || serial > 2958465) return undefined;
  return isoFromDate(new Date(Math.round((serial - 25569) * 86400) * 1000));
}

const YES = new Set(['ja', 'j', 'yes', 'y', 'true', 'wahr', 'x', '1']);
const NO = new Set(['nein', 'n', 'no', 'false', 'falsch', '0', '-']);

/** `ja`/`nein` (also wahr/falsch, true/false, x, 1/0). */
export function parseYesNo(text: string): boolean | undefined {
  const s = text.trim().toLowerCase();
  if (YES.has(s)) return true;
  if (NO.has(s)) return false;
  return undefined;
}

/** German formatting for the CSV writer: 1341400 → `1.341.400`, 444000.5 → `444.000,50`. */
export function formatGermanNumber(n: number): string {
  const negative = n < 0;
  const cents = Math.round(Math.abs(n) * 100);
  const whole = Math.floor(cents / 100).toString().replace(/\B(?=(\d{3})+(?!\d))/g, '.');
  const rest = cents % 100;
  return `${negative ? '-' : ''}${whole}${rest ? ',' + String(rest).padStart(2, '0') : ''}`;
}

/** ISO `2023-05-30` → `30.05.2023`. */
export function formatGermanDate(iso: string): string {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(iso);
  return m ? `${m[3]}.${m[2]}.${m[1]}` : iso;
}
