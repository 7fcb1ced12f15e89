/**
 * The Demo-CA's public services, the URLs its certificates name (public, no login, no CSRF: they
 * change nothing and are called by validators, not browsers):
 *
 *   GET  /pki/ca.cer             the CA certificate (DER, application/pkix-cert)
 *   GET  /pki/ca.crl             its current CRL (DER, application/pkix-crl)
 *   POST /pki/ocsp               OCSP (RFC 6960): body application/ocsp-request → application/ocsp-response
 *   GET  /pki/ocsp/<request>     the same, the DER request base64 (or base64url) and URL-encoded (RFC 6960 A.1)
 *
 * An OCSP answer is always HTTP 200 with an OCSPResponse; what went wrong is its responseStatus
 * (malformedRequest, tryLater when the CA key is not available on this instance).
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import { route, type AnyRoute } from '../routes.ts';
import { notFound } from '../problem.ts';
import { KeyStoreError } from '../../sign/keys.ts';
import { crlInfo, ocspErrorResponse } from '../../sign/revocation.ts';
import type { AppContext } from '../context.ts';

/** RFC 6960 requests are small; anything larger is malformed. */
const MAX_OCSP_REQUEST = 64 * 1024;

const rawOcspBody = express.raw({ type: 'application/ocsp-request', limit: MAX_OCSP_REQUEST });

/** The body as bytes; a body the parser refuses (too large) becomes "none", answered as malformedRequest. */
function ocspBody(req: Request, res: Response, next: NextFunction): void {
  rawOcspBody(req, res, (err?: unknown) => {
    if (err) req.body = undefined;
    next();
  });
}

async function answerOcsp(ctx: AppContext, res: Response, request: Uint8Array | null): Promise<void> {
  let answer: Uint8Array;
  try {
    answer = request && request.length ? await ctx.svc.keys.respondOcsp(request) : ocspErrorResponse('malformedRequest');
  } catch (err) {
    // An OCSP client expects an OCSPResponse, also when the key store cannot be read.
    ctx.log.error({ err: err instanceof Error ? { name: err.name, message: err.message } : String(err) }, 'OCSP request failed');
    answer = ocspErrorResponse('internalError');
  }
  res.status(200).type('application/ocsp-response').set('Cache-Control', 'no-store').send(Buffer.from(answer));
}

/** RFC 6960 A.1: url-encoded base64 of the DER request; base64url is taken too. Null when it is not base64 at all. */
function decodeGetRequest(parts: unknown): Uint8Array | null {
  const text = (Array.isArray(parts) ? parts.join('/') : String(parts ?? '')).trim();
  if (!text || !/^[A-Za-z0-9+/_=-]+$/.test(text)) return null;
  return new Uint8Array(Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64'));
}

function noCa(err: unknown): never {
  if (err instanceof KeyStoreError) throw notFound('Diese Instanz hat noch keine Demo-CA (zv keys init).');
  throw err;
}

export function pkiRoutes(): AnyRoute[] {
  return [
    route({
      method: 'get',
      path: '/pki/ca.cer',
      kind: 'api',
      access: 'public',
      csrf: false,
      summary: 'Zertifikat der Demo-CA (DER)',
      tag: 'PKI',
      response: { description: 'CA-Zertifikat', mediaType: 'application/pkix-cert' },
      handler: ({ ctx, res }) => {
        let der: Uint8Array;
        try {
          der = ctx.svc.keys.caCertificateDer();
        } catch (err) {
          noCa(err);
        }
        res.status(200).type('application/pkix-cert').set('Cache-Control', 'public, max-age=86400').send(Buffer.from(der));
      },
    }),
    route({
      method: 'get',
      path: '/pki/ca.crl',
      kind: 'api',
      access: 'public',
      csrf: false,
      summary: 'Sperrliste der Demo-CA (CRL, DER)',
      tag: 'PKI',
      response: { description: 'CRL', mediaType: 'application/pkix-crl' },
      handler: async ({ ctx, res }) => {
        let der: Uint8Array;
        try {
          der = await ctx.svc.keys.currentCrl();
        } catch (err) {
          noCa(err);
        }
        const next = crlInfo(der)?.nextUpdate;
        // Caches may keep it until a day before its nextUpdate, when a new one is issued.
        const maxAge = next ? Math.max(0, Math.floor((next.getTime() - Date.now() - 86_400_000) / 1000)) : 0;
        res.status(200).type('application/pkix-crl').set('Cache-Control', `public, max-age=${maxAge}`).send(Buffer.from(der));
      },
    }),
    route({
      method: 'post',
      path: '/pki/ocsp',
      kind: 'api',
      access: 'public',
      csrf: false,
      summary: 'OCSP-Auskunft der Demo-CA (RFC 6960)',
      tag: 'PKI',
      middleware: [ocspBody],
      response: { description: 'OCSPResponse (DER)', mediaType: 'application/ocsp-response' },
      handler: ({ ctx, req, res }) => answerOcsp(ctx, res, Buffer.isBuffer(req.body) ? new Uint8Array(req.body) : null),
    }),
    route({
      method: 'get',
      path: '/pki/ocsp/*request',
      kind: 'api',
      access: 'public',
      csrf: false,
      summary: 'OCSP-Auskunft der Demo-CA per GET (RFC 6960 A.1)',
      tag: 'PKI',
      response: { description: 'OCSPResponse (DER)', mediaType: 'application/ocsp-response' },
      handler: ({ ctx, req, res }) => answerOcsp(ctx, res, decodeGetRequest((req.params as Record<string, unknown>).request)),
    }),
  ];
}
