/** What every route handler gets: the services of one data directory, the accounts and the logger. */
import type { Logger } from 'pino';
import type { SigningService } from '../envelope/service.ts';
import type { Accounts } from './accounts.ts';

export interface AppContext {
  svc: SigningService;
  accounts: Accounts;
  log: Logger;
  /** HMAC key for CSRF tokens (per data directory, in the settings table). */
  secret: Buffer;
  /** Cookies get the Secure flag: always, never, or when the request came over TLS ('auto', behind a proxy with trustProxy). */
  secureCookies: boolean | 'auto';
}
