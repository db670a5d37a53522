/**
 * GET /api/gateways — gateways with last-seen time and outbox depth.
 * POST /api/gateways (admin) — registers a gateway and issues its MQTT password, shown once.
 */
import { GatewayView, Id } from '@qianliyan/protocols';
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import { userMaySee } from '../plugins/auth.ts';
import { issueGatewayCredentials } from '../services/gateway-credentials.ts';
import { errorResponses } from './schemas.ts';

export const gatewayRoutes: FastifyPluginAsync = async (app) => {
  app.get(
    '/api/gateways',
    {
      onRequest: app.authenticate,
      schema: { response: { 200: Type.Array(GatewayView), ...errorResponses } },
    },
    async (request) => app.registry.listGateways().filter((g) => userMaySee(request.user, g.site)),
  );

  app.post(
    '/api/gateways',
    {
      onRequest: [app.authenticate, app.requireRole('admin')],
      schema: {
        body: Type.Object({ id: Id, site: Id }, { additionalProperties: false }),
        response: {
          201: Type.Object({ id: Id, site: Id, username: Type.String(), password: Type.String() }),
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      const { id, site } = request.body as { id: string; site: string };
      if (id === app.config.mqtt.username)
        return reply.code(409).send({ code: 'HUB_ERR_CONFLICT', message: 'reserved id' });
      const password = await issueGatewayCredentials(app, id, site);
      request.log.info({ gateway: id, site, by: request.user.username }, 'gateway credentials issued');
      return reply.code(201).send({ id, site, username: id, password });
    },
  );
};
