/**
 * Errors the HTTP layer turns into responses: RFC 9457 problem+json for the API (with field
 * paths), a German error page for the browser.
 */
export interface FieldProblem {
  path: string;
  message: string;
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    detail?: string,
    readonly problems: FieldProblem[] = [],
  ) {
    super(detail ?? title);
  }
}

export const badRequest = (detail: string, problems: FieldProblem[] = []) => new HttpError(400, 'Ungültige Anfrage', detail, problems);
export const invalid = (problems: FieldProblem[], detail = 'Die Eingabe ist ungültig.') => new HttpError(422, 'Ungültige Eingabe', detail, problems);
export const notFound = (detail = 'Nicht gefunden.') => new HttpError(404, 'Nicht gefunden', detail);
export const conflict = (detail: string) => new HttpError(409, 'Konflikt', detail);
export const forbidden = (detail = 'Für diese Aktion fehlt Ihnen die Berechtigung.') => new HttpError(403, 'Keine Berechtigung', detail);
export const unauthorized = (detail = 'Bitte melden Sie sich an.') => new HttpError(401, 'Nicht angemeldet', detail);
export const tooLarge = (detail: string) => new HttpError(413, 'Datei zu groß', detail);
export const unsupported = (detail: string) => new HttpError(415, 'Dateityp nicht unterstützt', detail);

export function problemBody(err: HttpError, instance: string) {
  return {
    type: `about:blank`,
    title: err.title,
    status: err.status,
    detail: err.message,
    instance,
    ...(err.problems.length ? { errors: err.problems } : {}),
  };
}
