/**
 * `zv serve`: one long-lived process serving the web app and the API on the embedded default
 * (SQLite and files in the data directory). The first start creates the admin account;
 * --demo seeds the 2023 example year.
 */
import { createServer, type Server } from 'node:http';
import { pino, type Logger } from 'pino';
import { SigningService } from '../envelope/service.ts';
import { Accounts, randomToken } from './accounts.ts';
import { createApp } from './app.ts';
import type { AppContext } from './context.ts';
import { seedDemo } from './demo-seed.ts';
import { scheduleRenewal, type RenewSchedule, type RenewScheduleOptions } from '../archive/renew-schedule.ts';

export interface ServeOptions {
  dataDir: string;
  port: number;
  host?: string;
  demo?: boolean;
  /** Secure cookies: true (TLS in front), false, or 'auto' (trust a loopback proxy's X-Forwarded-Proto). */
  secureCookies?: boolean | 'auto';
  log?: Logger;
  /** Where the one-time admin password and demo accounts are printed (never the logger). */
  print?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
  /** The monthly `zv archive renew` (default on; ZV_RENEW_SCHEDULE=off or false turns it off). */
  renewSchedule?: boolean | RenewScheduleOptions;
}

export interface Running {
  server: Server;
  ctx: AppContext;
  url: string;
  /** The monthly archive renewal, when scheduled. */
  renewal: RenewSchedule | null;
  close(): Promise<void>;
}

export function openContext(opts: { dataDir: string; log: Logger; secureCookies?: boolean | 'auto'; svc?: SigningService }): AppContext {
  const svc = opts.svc ?? SigningService.open({ dataDir: opts.dataDir, warn: (m) => opts.log.warn(m) });
  const accounts = new Accounts(svc.store);
  return { svc, accounts, log: opts.log, secret: accounts.secret(), secureCookies: opts.secureCookies ?? 'auto' };
}

/** Creates the first admin account when there is none: password from ZV_ADMIN_PASSWORD, else generated and printed once. */
export async function ensureAdmin(ctx: AppContext, env: NodeJS.ProcessEnv, print: (line: string) => void): Promise<void> {
  if (ctx.accounts.count() > 0) return;
  const given = env.ZV_ADMIN_PASSWORD;
  const password = given || randomToken(12);
  await ctx.accounts.create({ username: 'admin', displayName: 'Administration', roles: ['admin'], password });
  print(given ? 'Konto „admin“ angelegt (Passwort aus ZV_ADMIN_PASSWORD).' : `Konto „admin“ angelegt. Passwort (wird nur jetzt angezeigt): ${password}`);
}

export async function serve(opts: ServeOptions): Promise<Running> {
  const env = opts.env ?? process.env;
  const log = opts.log ?? pino({ level: env.ZV_LOG_LEVEL ?? 'info' });
  const print = opts.print ?? ((line: string) => process.stdout.write(line + '\n'));
  const ctx = openContext({ dataDir: opts.dataDir, log, secureCookies: opts.secureCookies });
  await ensureAdmin(ctx, env, print);
  if (opts.demo) await seedDemo(ctx, { print, env });
  const app = createApp(ctx);
  const server = createServer(app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : opts.port;
  const url = `http://${opts.host && opts.host !== '0.0.0.0' ? opts.host : 'localhost'}:${port}`;
  const scheduled = opts.renewSchedule ?? !/^(off|false|0|no)$/i.test(env.ZV_RENEW_SCHEDULE ?? '');
  const renewal = scheduled ? scheduleRenewal(ctx.svc, log, typeof scheduled === 'object' ? scheduled : {}) : null;
  return {
    server,
    ctx,
    url,
    renewal,
    close: () =>
      new Promise<void>((resolve) => {
        // No new renewal run from here; one in progress stops after its current file.
        const stopping = renewal?.stop() ?? Promise.resolve();
        server.close(() => {
          void stopping.then(() => {
            ctx.svc.close();
            resolve();
          });
        });
        server.closeAllConnections();
      }),
  };
}
