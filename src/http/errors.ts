/** Maps the services' errors onto HTTP statuses, keeping their field problems. */
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
  if (err instanceof NotYourTurnError || err instanceof EnvelopeError || err instanceof ConflictError) return new HttpError(409, 'Nicht möglich', err.message);
  if (err instanceof SignError || err instanceof StampImageError) return new HttpError(422, 'Unterschrift abgelehnt', err.message);
  if (err instanceof AgreementPdfError) return new HttpError(422, 'Kein Zielwerk-Dokument', err.message);
  if (err instanceof ArchiveError) return new HttpError(404, 'Nicht im Archiv', err.message);
  if (err instanceof FileIntegrityError) return new HttpError(500, 'Datei beschädigt', err.message);
  if (err && typeof err === 'object' && 'type' in err && (err as { type: string }).type === 'entity.too.large') return new HttpError(413, 'Anfrage zu groß', 'Die Anfrage ist zu groß.');
  if (err && typeof err === 'object' && 'type' in err && (err as { type: string }).type === 'entity.parse.failed') return new HttpError(400, 'Ungültige Anfrage', 'Der Inhalt ist kein gültiges JSON.');
  return new HttpError(500, 'Interner Fehler', 'Ein unerwarteter Fehler ist aufgetreten. Er wurde protokolliert.');
}
