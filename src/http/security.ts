/**
 * Session cookies, CSRF tokens and the Content Security Policy.
 * CSRF: a random `zv_csrf` cookie (httpOnly, SameSite=Strict) per browser; forms carry
 * HMAC(secret, cookie) in `_csrf` (or the X-CSRF-Token header). A token from another browser, or
 * none, is refused. Requests authenticated by an API token (no cookies) need none.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { CookieOptions, Request, Response } from 'express';
import helmet from 'helmet';
import { randomToken } from './accounts.ts';
import type { AppContext } from './context.ts';

export const SESSION_COOKIE = 'zv_session';
export const CSRF_COOKIE = 'zv_csrf';

export function cookieOptions(ctx: AppContext, req: Request, sameSite: 'lax' | 'strict'): CookieOptions {
  const secure = ctx.secureCookies === 'auto' ? req.secure : ctx.secureCookies;
  return { httpOnly: true, sameSite, secure, path: '/' };
}

const sign = (secret: Buffer, value: string) => createHmac('sha256', secret).update(`csrf:${value}`).digest('base64url');

/** The CSRF token for this browser, setting its cookie first when it has none (or a new one, after login/logout). */
export function csrfToken(ctx: AppContext, req: Request, res: Response, renew = false): string {
  let cookie = renew ? undefined : (res.locals.csrfCookie as string | undefined) ?? (req.cookies?.[CSRF_COOKIE] as string | undefined);
  if (!cookie || !/^[A-Za-z0-9_-]{43}$/.test(cookie)) {
    cookie = randomToken();
    res.cookie(CSRF_COOKIE, cookie, cookieOptions(ctx, req, 'strict'));
  }
  res.locals.csrfCookie = cookie;
  return sign(ctx.secret, cookie);
}

export function csrfValid(ctx: AppContext, req: Request): boolean {
  const cookie = req.cookies?.[CSRF_COOKIE] as string | undefined;
  const sent = (req.body?._csrf as string | undefined) ?? req.get('x-csrf-token');
  if (!cookie || typeof sent !== 'string') return false;
  const expected = Buffer.from(sign(ctx.secret, cookie));
  const given = Buffer.from(sent);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/**
 * Helmet with a CSP that allows no inline script anywhere; the PDF preview is framed from our own
 * origin only. Forms may lead only to us — and, for remote signing, to the trust service
 * provider's login (`formTargets`: its origins, known once the service has been asked).
 */
export const securityHeaders = (formTargets: () => Iterable<string> = () => []) => helmet({
  contentSecurityPolicy: {
    useDefaults: false,
    directives: {
      defaultSrc: ["'self'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'"],
      imgSrc: ["'self'", 'data:', 'blob:'],
      fontSrc: ["'self'"],
      connectSrc: ["'self'"],
      frameSrc: ["'self'"],
      objectSrc: ["'none'"],
      baseUri: ["'self'"],
      formAction: ["'self'", () => [...formTargets()].join(' ')],
      frameAncestors: ["'self'"],
    },
  },
  frameguard: { action: 'sameorigin' },
  referrerPolicy: { policy: 'no-referrer' },
  // HSTS only makes sense behind TLS; a reverse proxy sets it there.
  strictTransportSecurity: false,
});

/**
 * Swagger UI sets inline style attributes; its page alone may use them (scripts stay 'self' only).
 * Otherwise the same headers as every other page (nosniff, no referrer, no framing).
 */
export const docsHeaders = helmet({
  contentSecurityPolicy: {
    useDefaults: false,
    directives: {
      defaultSrc: ["'self'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'", "'unsafe-inline'"],
      imgSrc: ["'self'", 'data:'],
      fontSrc: ["'self'"],
      connectSrc: ["'self'"],
      objectSrc: ["'none'"],
      baseUri: ["'self'"],
      formAction: ["'self'"],
      frameAncestors: ["'none'"],
    },
  },
  frameguard: { action: 'deny' },
  referrerPolicy: { policy: 'no-referrer' },
  strictTransportSecurity: false,
});

/** Request URLs for the log: a personal signing link never reaches it. */
export function redactUrl(url: string): string {
  return url
    .replace(/\/sign\/[^/?#]+/g, '/sign/[redacted]')
    .replace(/%2Fsign%2F[^?#&]+?(?=%2F|%3F|%23|[?#&]|$)/gi, '%2Fsign%2F[redacted]')
    .replace(/([?&](?:token|link|password|_csrf|code|state)=)[^&#]*/gi, '$1[redacted]');
}
