/**
 * GET /api/gateways — gateways with last-seen time and outbox depth, in the caller's scope.
 * POST /api/gateways (admin) — registers a gateway, or re-issues its credential (its live session
 *   ends); the password is shown once.
 * DELETE /api/gateways/:id (admin) — deletes a gateway and its devices; its session ends and its
 *   data is refused from then on. Its stored history stays.
 */

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ACCESS, Id, REST_ANSWERS, userMaySee } from '@qianliyan/protocols';
import { Type } from '@sinclair/typebox';
import { HubError } from '../errors.ts';
import { deleteGateway, issueGatewayCredentials } from '../services/gateway-credentials.ts';
import { errorResponses } from './schemas.ts';

export const gatewayRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/api/gateways',
    {
      onRequest: app.authenticate,
      schema: { response: { 200: REST_ANSWERS['GET /api/gateways'], ...errorResponses } },
    },
    async (request) => app.registry.listGateways().filter((g) => userMaySee(request.user, g.site)),
  );

  app.post(
    '/api/gateways',
    {
      onRequest: [app.authenticate, app.requireRole(ACCESS.administer)],
      schema: {
        body: Type.Object({ id: Id, site: Id }, { additionalProperties: false }),
        response: {
          201: Type.Object({ id: Id, site: Id, username: Type.String(), password: Type.String() }),
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      const { id, site } = request.body;
      if (id === app.config.mqtt.username || id === app.config.mqtt.clientId)
        throw new HubError('HUB_ERR_CONFLICT', 'reserved id');
      const reissued = app.stateDb.getGateway(id) !== undefined;
      const password = await issueGatewayCredentials(app, id, site);
      app.audit.append({
        actor: request.user.username,
        action: reissued ? 'gateway.rotate' : 'gateway.create',
        target: id,
        outcome: 'ok',
        detail: { site },
      });
      return reply.code(201).send({ id, site, username: id, password });
    },
  );

  app.delete(
    '/api/gateways/:id',
    {
      onRequest: [app.authenticate, app.requireRole(ACCESS.administer)],
      schema: {
        params: Type.Object({ id: Id }),
        response: { 200: Type.Object({ id: Id, devices: Type.Integer() }), ...errorResponses },
      },
    },
    async (request) => {
      const { id } = request.params;
      const deleted = await deleteGateway(app, id);
      if (!deleted) throw new HubError('HUB_ERR_NOT_FOUND', `no gateway ${id}`);
      app.audit.append({
        actor: request.user.username,
        action: 'gateway.delete',
        target: id,
        outcome: 'ok',
        detail: { devices: deleted.devices.length },
      });
      return { id, devices: deleted.devices.length };
    },
  );
};
