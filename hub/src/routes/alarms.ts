/**
 * Alarms: GET /api/alarms?open=true&limit=… (the user's sites), POST /api/alarms/:id/ack.
 * Acknowledging is audited; viewers may look but not acknowledge.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ACCESS, REST_ANSWERS, scopeSites, userMaySee } from '@qianliyan/protocols';
import { Type } from '@sinclair/typebox';
import { HubError } from '../errors.ts';
import { bearer, errorResponses } from './schemas.ts';

export const alarmRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.addHook('onRequest', app.authenticate);

  app.get(
    '/api/alarms',
    {
      schema: {
        tags: ['alarms'],
        security: bearer,
        querystring: Type.Object({
          open: Type.Optional(Type.Boolean({ default: false })),
          limit: Type.Integer({ minimum: 1, maximum: 500, default: 100 }),
          device: Type.Optional(Type.String({ maxLength: 130 })),
        }),
        response: { 200: REST_ANSWERS['GET /api/alarms'], ...errorResponses },
      },
    },
    async (request) => {
      const { user } = request;
      const sites = scopeSites(user);
      const { open, limit, device } = request.query;
      return {
        alarms: app.alarms.list({
          ...(sites ? { sites } : {}),
          open: open ?? false,
          limit,
          ...(device ? { device } : {}),
        }),
      };
    },
  );

  app.post(
    '/api/alarms/:id/ack',
    {
      onRequest: app.requireRole(ACCESS.acknowledgeAlarm),
      schema: {
        tags: ['alarms'],
        security: bearer,
        params: Type.Object({ id: Type.Integer({ minimum: 1 }) }),
        response: { 200: REST_ANSWERS['POST /api/alarms/:id/ack'], ...errorResponses },
      },
    },
    async (request) => {
      const alarm = app.alarms.get(request.params.id);
      if (!alarm || !userMaySee(request.user, alarm.site))
        throw new HubError('HUB_ERR_NOT_FOUND', 'no such alarm');
      const acked = app.alarms.acknowledge(alarm.id, request.user.username) as NonNullable<typeof alarm>;
      app.audit.append({
        actor: request.user.username,
        action: 'alarm.ack',
        target: alarm.device,
        outcome: alarm.ackedAt === null ? 'ok' : 'denied',
        detail: {
          id: alarm.id,
          type: alarm.type,
          ...(alarm.ackedAt !== null ? { reason: 'already acknowledged' } : {}),
        },
      });
      return acked;
    },
  );
};
