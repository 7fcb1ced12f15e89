import { closest } from 'fastest-levenshtein';

/** The AQB measure categories (Maßnahmenarten), in canonical order, with their canonical titles. */
export const MEASURE_CATEGORIES = [
  { id: 'ausbildungsvorbereitung', title: 'Ausbildungsvorbereitung' },
  { id: 'ausbildung', title: 'Ausbildung und Ausbildungscoaching in anerkannten Ausbildungsberufen' },
  { id: 'qualifizierung', title: 'Qualifizierungsprojekte zur Arbeitsmarktintegration, Fachkräftesicherung' },
  {
    id: 'weiterbildung',
    title:
      'Weiterbildungsmaßnahmen für Personal der Landkreise und kreisfreien Städte in der fachlichen Verantwortung für Benachteiligte im Kontext der Arbeitsmarktförderung',
  },
] as const;

export type MeasureCategoryId = (typeof MEASURE_CATEGORIES)[number]['id'];

export const MEASURE_CATEGORY_IDS = MEASURE_CATEGORIES.map((c) => c.id) as MeasureCategoryId[];

export function isMeasureCategory(id: string): id is MeasureCategoryId {
  return (MEASURE_CATEGORY_IDS as string[]).includes(id);
}

export function categoryTitle(id: MeasureCategoryId): string {
  return MEASURE_CATEGORIES.find((c) => c.id === id)!.title;
}

/** Position in canonical order (for sorting measures). */
export function categoryRank(id: MeasureCategoryId): number {
  return MEASURE_CATEGORY_IDS.indexOf(id);
}

export function suggestCategory(id: string): string {
  return closest(id.toLowerCase(), MEASURE_CATEGORY_IDS);
}
