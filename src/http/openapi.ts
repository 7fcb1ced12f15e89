/** The OpenAPI 3.1 document, generated from the route registry's zod schemas (JSON Schema 2020-12). */
import { z } from 'zod';
import type { AnyRoute } from './routes.ts';
import { toolVersion } from '../paths.ts';

const jsonSchema = (schema: z.ZodType, io: 'input' | 'output') =>
  z.toJSONSchema(schema, { target: 'draft-2020-12', io, unrepresentable: 'any' }) as Record<string, unknown>;

const PROBLEM = {
  type: 'object',
  required: ['title', 'status'],
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    instance: { type: 'string' },
    errors: { type: 'array', items: { type: 'object', required: ['path', 'message'], properties: { path: { type: 'string', examples: ['measures[1].projects[0]'] }, message: { type: 'string' } } } },
  },
};

function parameters(schema: z.ZodType | undefined, where: 'path' | 'query') {
  if (!schema) return [];
  const s = jsonSchema(schema, 'input') as { properties?: Record<string, Record<string, unknown>>; required?: string[] };
  return Object.entries(s.properties ?? {}).map(([name, prop]) => ({
    name,
    in: where,
    required: where === 'path' || (s.required ?? []).includes(name),
    ...(typeof prop.description === 'string' ? { description: prop.description } : {}),
    schema: prop,
  }));
}

export function openApiDocument(routes: AnyRoute[]) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes.filter((r) => r.kind === 'api' && r.path.startsWith('/api/v1/'))) {
    const path = r.path.replace(/:([A-Za-z_]+)/g, '{$1}');
    const roles = Array.isArray(r.access) ? r.access : [];
    const responses: Record<string, unknown> = {
      [String(r.response?.status ?? 200)]: {
        description: r.response?.description ?? 'OK',
        ...(r.response?.schema
          ? { content: { 'application/json': { schema: jsonSchema(r.response.schema, 'output') } } }
          : r.response?.mediaType
            ? { content: { [r.response.mediaType]: { schema: { type: 'string', format: 'binary' } } } }
            : {}),
      },
      '4XX': { description: 'Fehler (RFC 9457), mit Feldpfaden unter errors', content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } },
    };
    let requestBody: unknown;
    if (r.upload) {
      const fields = r.body ? (jsonSchema(r.body, 'input') as { properties?: Record<string, unknown> }).properties : {};
      requestBody = {
        required: true,
        content: { 'multipart/form-data': { schema: { type: 'object', required: r.upload.required ? [r.upload.field] : [], properties: { ...fields, [r.upload.field]: { type: 'string', format: 'binary', description: `accepted by content: ${r.upload.kinds.join(', ')}` } } } } },
      };
    } else if (r.body) {
      requestBody = { required: true, content: { 'application/json': { schema: jsonSchema(r.body, 'input') } } };
    }
    (paths[path] ??= {})[r.method] = {
      summary: r.summary,
      tags: r.tag ? [r.tag] : undefined,
      description: roles.length ? `Rollen: ${roles.join(', ')}` : r.access === 'link' ? 'Persönlicher Signaturlink (Token im Pfad)' : 'öffentlich',
      parameters: [...parameters(r.params, 'path'), ...parameters(r.query, 'query')],
      ...(requestBody ? { requestBody } : {}),
      responses,
      security: roles.length ? [{ bearerAuth: [] }, { cookieAuth: [] }] : [],
    };
  }
  return {
    openapi: '3.1.0',
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    info: {
      title: 'Zielwerk API',
      version: toolVersion,
      description:
        'Zielvereinbarungen (AQB, SGB II): erzeugen, signieren, archivieren. Authentifizierung mit einem persönlichen API-Token (Authorization: Bearer zvt_…, unter „Konto“ erzeugt) oder der Browsersitzung (dann mit X-CSRF-Token bei schreibenden Anfragen).',
    },
    servers: [{ url: '/' }],
    paths,
    components: {
      schemas: { Problem: PROBLEM },
      securitySchemes: {
        bearerAuth: { type: 'http', scheme: 'bearer', description: 'Persönliches API-Token' },
        cookieAuth: { type: 'apiKey', in: 'cookie', name: 'zv_session' },
      },
    },
  };
}
