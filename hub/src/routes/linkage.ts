/**
 * Linkage rules and call settings:
 *   GET /api/linkage/rules   the rules in force
 *   PUT /api/linkage/rules   (admin) replace them (kept in the state DB; audited)
 *   GET /api/calls           the call log in the caller's scope
 *   GET /api/calls/config    ICE servers for the browsers (none on a LAN; TURN when configured)
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ACCESS, LinkageRule, REST_ANSWERS } from '@qianliyan/protocols';
import { Type } from '@sinclair/typebox';
import { bearer, errorResponses } from './schemas.ts';

export const linkageRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.addHook('onRequest', app.authenticate);

  app.get(
    '/api/linkage/rules',
    {
      schema: {
        tags: ['linkage'],
        security: bearer,
        response: { 200: REST_ANSWERS['GET /api/linkage/rules'], ...errorResponses },
      },
    },
    async () => app.linkage.listRules(),
  );

  app.put(
    '/api/linkage/rules',
    {
      onRequest: app.requireRole(ACCESS.administer),
      schema: {
        tags: ['linkage'],
        security: bearer,
        body: Type.Array(LinkageRule, { maxItems: 200 }),
        response: { 200: Type.Array(LinkageRule), ...errorResponses },
      },
    },
    async (request) => {
      app.linkage.setRules(request.body);
      app.stateDb.setSetting('linkage.rules', request.body);
      app.audit.append({
        actor: request.user.username,
        action: 'linkage.rules',
        target: null,
        outcome: 'ok',
        detail: { rules: request.body.map((r) => r.id) },
      });
      return app.linkage.listRules();
    },
  );

  app.get(
    '/api/calls',
    {
      schema: {
        tags: ['calls'],
        security: bearer,
        querystring: Type.Object({ limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }) }),
        response: { 200: REST_ANSWERS['GET /api/calls'], ...errorResponses },
      },
    },
    async (request) => app.calls.log(request.user, request.query.limit),
  );

  app.get(
    '/api/calls/config',
    {
      schema: {
        tags: ['calls'],
        security: bearer,
        response: { 200: REST_ANSWERS['GET /api/calls/config'], ...errorResponses },
      },
    },
    async () => ({ iceServers: app.config.calls.iceServers, ringTimeoutMs: app.config.calls.ringTimeoutMs }),
  );
};
