/**
 * The Express app: mounts every registered route behind authentication, role checks, CSRF,
 * upload checks and zod validation, and turns errors into problem+json (API) or German pages.
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import cookieParser from 'cookie-parser';
import { pinoHttp } from 'pino-http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { z } from 'zod';
import type { AppContext } from './context.ts';
import type { User } from './accounts.ts';
import { Html, html, page } from './html.ts';
import { HttpError, problemBody, forbidden, unauthorized, invalid, notFound } from './problem.ts';
import { csrfToken, csrfValid, docsHeaders, redactUrl, securityHeaders, SESSION_COOKIE } from './security.ts';
import { checkUpload, receiveFile } from './uploads.ts';
import type { AnyRoute } from './routes.ts';
import { allRoutes } from './areas/index.ts';
import { toHttpError } from './errors.ts';
import { remoteSigning } from './remote-sign.ts';
import { browserCscConfigured } from './signing-options.ts';

const staticDir = join(dirname(fileURLToPath(import.meta.url)), 'static');
const swaggerDir = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));

declare module 'express-serve-static-core' {
  interface Request {
    user?: User | null;
    /** How the user was authenticated: a browser session (needs CSRF) or an API token (does not). */
    authBy?: 'session' | 'token';
  }
}

export function createApp(ctx: AppContext, routes: AnyRoute[] = allRoutes()): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', ctx.secureCookies === 'auto' ? 'loopback' : false);
  app.use(
    pinoHttp({
      logger: ctx.log,
      // Our own serializers: no headers (cookies, Authorization) and no signing-link paths.
      serializers: {
        req: (req: { id: unknown; method: string; url: string }) => ({ id: req.id, method: req.method, url: redactUrl(req.url) }),
        res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
      },
      autoLogging: { ignore: (req) => (req.url ?? '').startsWith('/static/') || (req.url ?? '').startsWith('/api/docs/assets/') },
      customSuccessMessage: (req, res) => `${req.method} ${redactUrl(req.url ?? '')} ${res.statusCode}`,
      customErrorMessage: (req, res) => `${req.method} ${redactUrl(req.url ?? '')} ${res.statusCode}`,
    }),
  );
  // Every response gets the security headers; the Swagger UI page (and its assets) a CSP that allows its inline styles.
  const remote = remoteSigning(ctx);
  if (browserCscConfigured()) remote.warmUp();
  const pageHeaders = securityHeaders(() => remote.origins);
  app.use((req, res, next) => (req.path === '/api/docs' || req.path.startsWith('/api/docs/') ? docsHeaders : pageHeaders)(req, res, next));
  app.use('/static', express.static(staticDir, { index: false, maxAge: '1h' }));
  app.use('/api/docs/assets', express.static(swaggerDir, { index: false, maxAge: '1h' }));
  app.use(cookieParser());
  app.use(express.urlencoded({ extended: true, limit: '1mb', parameterLimit: 5000 }));
  app.use(express.json({ limit: '5mb' }));
  app.use(authenticate(ctx));

  for (const r of routes) app[r.method](r.path, ...chain(ctx, r));

  app.use((req, _res, next) => next(notFound(`Die Seite ${req.path} gibt es nicht.`)));
  app.use(errorHandler(ctx));
  return app;
}

/** Resolves the user from an API token (Authorization: Bearer, API only) or the session cookie. */
function authenticate(ctx: AppContext) {
  return (req: Request, _res: Response, next: NextFunction) => {
    req.user = null;
    const auth = req.get('authorization');
    if (auth && req.path.startsWith('/api/')) {
      const m = /^Bearer\s+(\S+)$/i.exec(auth);
      const user = m ? ctx.accounts.tokenUser(m[1]!) : undefined;
      if (!user) return next(unauthorized('Das API-Token ist ungültig, abgelaufen oder widerrufen.'));
      req.user = user;
      req.authBy = 'token';
      return next();
    }
    const session = req.cookies?.[SESSION_COOKIE] as string | undefined;
    if (session) {
      req.user = ctx.accounts.sessionUser(session) ?? null;
      if (req.user) req.authBy = 'session';
    }
    next();
  };
}

function chain(ctx: AppContext, r: AnyRoute) {
  const steps: ((req: Request, res: Response, next: NextFunction) => void)[] = [];
  // Who: before anything is parsed or stored.
  steps.push((req, res, next) => {
    if (r.access === 'public' || r.access === 'link') return next();
    if (!req.user) {
      if (r.kind === 'page' && req.method === 'GET') return res.redirect(303, `/login?next=${encodeURIComponent(req.originalUrl)}`);
      return next(unauthorized());
    }
    if (!r.access.some((role) => req.user!.roles.includes(role))) return next(forbidden());
    next();
  });
  steps.push(...(r.middleware ?? []));
  if (r.upload) steps.push(receiveFile(r.upload.field, r.upload.kinds));
  // CSRF: every form post, and API calls that ride on the browser session. API calls with an API
  // token or a signing-link token carry no ambient credentials a foreign site could use, so need none.
  if (r.method !== 'get' && r.csrf !== false) {
    steps.push((req, _res, next) => {
      if (r.kind === 'api' && req.authBy !== 'session') return next();
      if (!csrfValid(ctx, req)) return next(new HttpError(403, 'Sicherheitsprüfung fehlgeschlagen', 'Das Formular ist abgelaufen oder wurde nicht von Zielwerk ausgeliefert (CSRF-Token fehlt oder passt nicht). Bitte laden Sie die Seite neu und versuchen Sie es noch einmal.'));
      next();
    });
  }
  steps.push((req, res, next) => {
    // Personal pages and data (signed in, or behind a signing link) stay out of shared and back-button caches; handlers may override.
    if (req.user || r.access === 'link') res.set('Cache-Control', 'no-store');
    void run(ctx, r, req, res).catch(next);
  });
  return steps;
}

async function run(ctx: AppContext, r: AnyRoute, req: Request, res: Response): Promise<void> {
  const params = r.params ? r.params.safeParse(req.params) : { success: true as const, data: req.params };
  if (!params.success) throw notFound();
  const query = r.query ? r.query.safeParse(req.query) : { success: true as const, data: req.query };
  if (!query.success) throw invalid(zodProblems(query.error, 'query'), 'Ungültige Abfrageparameter.');
  let body: unknown = req.body ?? {};
  if (r.body) {
    const { _csrf: _ignored, ...rest } = (req.body ?? {}) as Record<string, unknown>;
    const parsed = r.body.safeParse(rest);
    if (!parsed.success) throw invalid(zodProblems(parsed.error));
    body = parsed.data;
  }
  let file: { buffer: Buffer; originalname: string; size: number; kind: ReturnType<typeof checkUpload> } | undefined;
  if (r.upload) {
    if (req.file) file = { buffer: req.file.buffer, originalname: req.file.originalname, size: req.file.size, kind: checkUpload(req.file.buffer, r.upload.kinds) };
    else if (r.upload.required) throw invalid([{ path: r.upload.field, message: 'Bitte eine Datei auswählen.' }]);
  }
  const result = await r.handler({
    params: params.data,
    query: query.data,
    body,
    file,
    user: req.user ?? null,
    // Only pages with forms need a token; JSON calls neither compute it nor get a CSRF cookie.
    get csrf() {
      return csrfToken(ctx, req, res);
    },
    req,
    res,
    ctx,
  });
  if (res.headersSent || result === undefined) return;
  if (result instanceof Html) {
    res.type('html').send(result.value);
    return;
  }
  res.status(r.response?.status ?? 200).json(result);
}

/** zod issues as field problems with paths like measures[1].projects[0]. */
export function zodProblems(error: z.ZodError, prefix?: string) {
  return error.issues.map((i) => {
    const path = i.path.reduce<string>((out, k) => (typeof k === 'number' ? `${out}[${k}]` : out ? `${out}.${String(k)}` : String(k)), prefix ?? '');
    return { path: path || '(body)', message: i.message };
  });
}

function errorHandler(ctx: AppContext) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const e = toHttpError(err);
    if (e.status >= 500) ctx.log.error({ err: err instanceof Error ? { name: err.name, message: err.message, stack: err.stack } : String(err) }, 'request failed');
    if (res.headersSent) return;
    const wantsJson = req.path.startsWith('/api/') || (!req.accepts('html') && req.accepts('json'));
    if (wantsJson) {
      res.status(e.status).type('application/problem+json').send(JSON.stringify(problemBody(e, redactUrl(req.originalUrl))));
      return;
    }
    let csrf = '';
    try {
      csrf = csrfToken(ctx, req, res);
    } catch {
      /* headers may be half-sent by a failing stream */
    }
    res
      .status(e.status)
      .type('html')
      .send(
        page(
          { title: e.title, user: req.path.startsWith('/sign/') ? null : req.user, csrf },
          html`<h1>${e.title}</h1>
<p>${e.message}</p>
${e.problems.length ? html`<ul class="problems">${e.problems.map((p) => html`<li><code>${p.path}</code>: ${p.message}</li>`)}</ul>` : ''}
${e.status === 401 ? html`<p><a href="/login">Zur Anmeldung</a></p>` : req.path.startsWith('/sign/') ? '' : html`<p><a href="/">Zur Startseite</a></p>`}`,
        ).value,
      );
  };
}
