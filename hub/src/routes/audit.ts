/**
 * GET /api/audit (admin) — the audit log, newest first, paged by `before` (a seq).
 * GET /api/audit/verify (admin) — checks the hash chain and the head; names the first bad entry.
 */

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ACCESS } from '@qianliyan/protocols';
import { Type } from '@sinclair/typebox';
import { errorResponses } from './schemas.ts';

const Entry = Type.Object({
  seq: Type.Integer(),
  ts: Type.Integer(),
  actor: Type.String(),
  action: Type.String(),
  target: Type.Union([Type.String(), Type.Null()]),
  outcome: Type.String(),
  detail: Type.Record(Type.String(), Type.Unknown()),
  prevHash: Type.String(),
  hash: Type.String(),
});

export const auditRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.addHook('onRequest', app.authenticate);
  app.addHook('onRequest', app.requireRole(ACCESS.administer));

  app.get(
    '/api/audit',
    {
      schema: {
        querystring: Type.Object(
          {
            before: Type.Optional(Type.Integer({ minimum: 1 })),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
            actor: Type.Optional(Type.String({ maxLength: 128 })),
            action: Type.Optional(Type.String({ pattern: '^[a-z][a-z0-9_.]{0,63}$' })),
            from: Type.Optional(Type.Integer({ minimum: 0 })),
            to: Type.Optional(Type.Integer({ minimum: 0 })),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Array(Entry), ...errorResponses },
      },
    },
    async (request) => {
      const q = request.query;
      return app.audit.list({ ...q, limit: q.limit ?? 100 });
    },
  );

  app.get(
    '/api/audit/verify',
    {
      schema: {
        response: {
          200: Type.Object({
            ok: Type.Boolean(),
            entries: Type.Integer(),
            problem: Type.Optional(Type.Object({ seq: Type.Integer(), reason: Type.String() })),
          }),
          ...errorResponses,
        },
      },
    },
    async () => app.audit.verify(),
  );
};
