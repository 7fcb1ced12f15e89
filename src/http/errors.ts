/** Maps the services' errors onto HTTP statuses, keeping their field problems. */
import { UploadRefusedError } from '../sign/external.ts';
import { SignerError } from '../sign/signer.ts';
import { ValidationError } from '../model/agreement.ts';
import { AgreementError } from '../store/agreements.ts';
import { EnvelopeError, LinkRefusedError, NEUTRAL_REFUSAL, NotYourTurnError } from '../envelope/service.ts';
import { ArchiveError } from '../archive/archive.ts';
import { BatchError } from '../batch/load.ts';
import { InputFilesError } from '../generate.ts';
import { SignError } from '../sign/sign.ts';
import { StampImageError } from '../sign/stamp.ts';
import { AgreementPdfError } from '../sign/agreement-pdf.ts';
import { FileIntegrityError } from '../store/files.ts';
import { ConflictError } from '../store/store.ts';
import { z } from 'zod';
import { AccountError } from './accounts.ts';
import { HttpError } from './problem.ts';

export function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof LinkRefusedError) return new HttpError(410, 'Link nicht gültig', NEUTRAL_REFUSAL);
  if (err instanceof ValidationError || err instanceof AgreementError || err instanceof BatchError)
    return new HttpError(422, 'Ungültige Eingabe', err.message.split('\n')[0]!, err.problems);
  if (err instanceof InputFilesError) return new HttpError(422, 'Ungültige Eingabe', 'Die Eingabe ist ungültig.', err.failures.flatMap((f) => f.problems));
  if (err instanceof AccountError) return new HttpError(422, 'Ungültige Eingabe', err.message, err.field ? [{ path: err.field, message: err.message }] : []);
  if (err instanceof z.ZodError) return new HttpError(422, 'Ungültige Eingabe', 'Die Eingabe ist ungültig.', err.issues.map((i) => ({ path: i.path.join('.') || '(body)', message: i.message })));
  if (err instanceof NotYourTurnError || err instanceof EnvelopeError) return envelopeError(err);
  if (err instanceof ConflictError) return new HttpError(409, 'Nicht möglich', 'Die Daten wurden gleichzeitig an anderer Stelle geändert. Bitte laden Sie die Seite neu und versuchen Sie es noch einmal.');
  if (err instanceof SignError || err instanceof StampImageError) return new HttpError(422, 'Unterschrift abgelehnt', err.message);
  if (err instanceof AgreementPdfError) return new HttpError(422, 'Kein Zielwerk-Dokument', err.message);
  if (err instanceof UploadRefusedError) return new HttpError(422, 'Upload abgelehnt', err.message);
  if (err instanceof SignerError) {
    if (err.code === 'service-unavailable') return new HttpError(502, 'Signaturdienst nicht verfügbar', err.message);
    if (err.code === 'busy') return new HttpError(409, 'Signaturgerät belegt', err.message);
    return new HttpError(422, 'Unterschrift abgelehnt', err.message);
  }
  if (err instanceof ArchiveError) return new HttpError(404, 'Nicht im Archiv', err.message);
  if (err instanceof FileIntegrityError) return new HttpError(500, 'Datei beschädigt', err.message);
  if (err && typeof err === 'object' && 'type' in err && (err as { type: string }).type === 'entity.too.large') return new HttpError(413, 'Anfrage zu groß', 'Die Anfrage ist zu groß.');
  if (err && typeof err === 'object' && 'type' in err && (err as { type: string }).type === 'entity.parse.failed') return new HttpError(400, 'Ungültige Anfrage', 'Der Inhalt ist kein gültiges JSON.');
  return new HttpError(500, 'Interner Fehler', 'Ein unerwarteter Fehler ist aufgetreten. Er wurde protokolliert.');
}

/**
 * The signing service's refusals in German: an unknown envelope is a 404, a state that forbids the
 * action a 409, a missing decline reason a 422 at the field. Messages already in German pass as they are.
 */
export function envelopeError(err: Error): HttpError {
  const m = err.message;
  let r: RegExpExecArray | null;
  if ((r = /^envelope (\d+) does not exist$/.exec(m))) return new HttpError(404, 'Nicht gefunden', `Den Umschlag #${r[1]} gibt es nicht.`);
  if ((r = /^envelope (\d+) is (.+?) and cannot be cancelled$/.exec(m))) return new HttpError(409, 'Nicht möglich', `Der Umschlag #${r[1]} ist ${r[2]} und kann nicht mehr storniert werden.`);
  if ((r = /^envelope (\d+) is ([^:]+)$/.exec(m))) return new HttpError(409, 'Nicht möglich', `Der Umschlag #${r[1]} ist ${r[2]}; das ist nicht mehr möglich.`);
  if ((r = /^envelope (\d+): it is (.+)'s turn, who signs in Zielwerk and gets no link$/.exec(m)))
    return new HttpError(409, 'Nicht möglich', `Beim Umschlag #${r[1]} ist ${r[2]} an der Reihe und unterzeichnet in Zielwerk selbst; es gibt keinen Link, der erneut gesendet werden könnte.`);
  if ((r = /^envelope (\d+): it is (.+?)'s \((.+)\) turn, not (.+)'s$/.exec(m))) return new HttpError(409, 'Nicht an der Reihe', `Beim Umschlag #${r[1]} ist ${r[2]} (${r[3]}) an der Reihe, nicht ${r[4]}.`);
  if (/^reason: a reason is required/.test(m)) return new HttpError(422, 'Ungültige Eingabe', 'Bitte geben Sie eine Begründung an.', [{ path: 'reason', message: 'Bitte geben Sie eine Begründung an.' }]);
  if (/^reason: at most (\d+)/.test(m)) return new HttpError(422, 'Ungültige Eingabe', 'Die Begründung ist zu lang (höchstens 2000 Zeichen).', [{ path: 'reason', message: 'höchstens 2000 Zeichen' }]);
  if ((r = /^(.+): another process sent it for signing meanwhile$/.exec(m))) return new HttpError(409, 'Nicht möglich', `${r[1]} wurde inzwischen an anderer Stelle zur Unterzeichnung gesendet.`);
  if (/^no envelope was opened:/.test(m)) {
    const lines = m.split('\n').slice(1).map((l) => l.trim()).filter(Boolean);
    return new HttpError(422, 'Nicht gesendet', 'Es wurde kein Umschlag geöffnet.', lines.map((l) => ({ path: l.split(':')[0] ?? '(envelope)', message: l.slice(l.indexOf(':') + 1).trim() })));
  }
  return new HttpError(409, err instanceof NotYourTurnError ? 'Nicht an der Reihe' : 'Nicht möglich', m);
}
