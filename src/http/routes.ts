/**
 * The route registry: every page and API route declares its method, path, who may call it and
 * (for the API) its zod schemas. The app mounts them with authentication, role checks, CSRF and
 * validation; the OpenAPI document and the role-matrix test are generated from the same list.
 */
import type { Request, RequestHandler, Response } from 'express';
import { z } from 'zod';
import type { AppContext } from './context.ts';
import type { User } from './accounts.ts';
import type { Role } from './roles.ts';
import type { UploadKind } from './uploads.ts';

export type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

/** Who may call a route: listed roles, anyone (login page, assets), or the holder of a personal signing link. */
export type Access = readonly Role[] | 'public' | 'link';

export interface RouteInput<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  /** The uploaded file, already checked by content and size (when the route declares `upload`). */
  file?: { buffer: Buffer; originalname: string; size: number; kind: UploadKind };
  user: User | null;
  /** CSRF token for forms rendered by this response. */
  csrf: string;
  req: Request;
  res: Response;
  ctx: AppContext;
}

export interface RouteSpec<P extends z.ZodType = z.ZodType, Q extends z.ZodType = z.ZodType, B extends z.ZodType = z.ZodType> {
  method: Method;
  /** Express path, e.g. /api/v1/agreements/:id */
  path: string;
  /** 'api': JSON, problem+json errors, 401 without credentials; 'page': HTML, redirect to login. */
  kind: 'api' | 'page';
  access: Access;
  summary: string;
  tag?: string;
  params?: P;
  query?: Q;
  /** API only: the JSON (or multipart fields) body; pages parse their forms themselves to re-render with errors. */
  body?: B;
  upload?: { field: string; kinds: readonly UploadKind[]; required?: boolean };
  /**
   * false: no CSRF check even for a browser session (public services that change nothing and are
   * called by other programs, e.g. OCSP). Default: every non-GET form post and session API call is checked.
   */
  csrf?: false;
  /** Extra middleware after the access check (e.g. a rate limiter, a raw body parser). */
  middleware?: RequestHandler[];
  /** OpenAPI: the success response (JSON schema) or a binary media type. */
  response?: { status?: number; description: string; schema?: z.ZodType; mediaType?: string };
  handler: (input: RouteInput<z.output<P>, z.output<Q>, z.output<B>>) => unknown | Promise<unknown>;
}

// Variance: the registry stores routes of any schema types.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyRoute = RouteSpec<any, any, any>;

export function route<P extends z.ZodType = z.ZodObject<{}>, Q extends z.ZodType = z.ZodObject<{}>, B extends z.ZodType = z.ZodUnknown>(spec: RouteSpec<P, Q, B>): AnyRoute {
  return spec;
}

/** Path parameter id: a positive integer, never a path. */
export const IdParam = z.object({ id: z.coerce.number().int().positive() });
