/**
 * Alarms: GET /api/alarms?open=true&limit=… (the user's sites), POST /api/alarms/:id/ack.
 * Acknowledging is audited; viewers may look but not acknowledge.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { AlarmView } from '@qianliyan/protocols';
import { Type } from '@sinclair/typebox';
import { HubError } from '../errors.ts';
import { userMaySee } from '../plugins/auth.ts';
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
        response: { 200: Type.Object({ alarms: Type.Array(AlarmView) }), ...errorResponses },
      },
    },
    async (request) => {
      const { user } = request;
      const sites = user.sites.length > 0 ? user.sites : user.role === 'village_operator' ? [] : undefined;
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
      onRequest: app.requireRole('admin', 'duty_officer', 'village_operator'),
      schema: {
        tags: ['alarms'],
        security: bearer,
        params: Type.Object({ id: Type.Integer({ minimum: 1 }) }),
        response: { 200: AlarmView, ...errorResponses },
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
