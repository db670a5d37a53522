/** GET /api/health — liveness of the hub, its broker link and its stores. */
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import { ErrorBody } from './schemas.ts';

const started = Date.now();

export const healthRoutes: FastifyPluginAsync = async (app) => {
  app.get(
    '/api/health',
    {
      onRequest: app.authenticate,
      schema: {
        response: {
          200: Type.Object({
            status: Type.Union([Type.Literal('ok'), Type.Literal('degraded')]),
            uptimeS: Type.Integer(),
            broker: Type.Object({ connected: Type.Boolean(), embedded: Type.Boolean() }),
            gatewaysOnline: Type.Integer(),
            devices: Type.Integer(),
          }),
          401: ErrorBody,
        },
      },
    },
    async () => {
      const connected = app.mqtt.connected;
      return {
        status: connected ? ('ok' as const) : ('degraded' as const),
        uptimeS: Math.floor((Date.now() - started) / 1000),
        broker: { connected, embedded: app.brokerConnection.embedded },
        gatewaysOnline: app.registry.onlineGatewayCount(),
        devices: app.registry.listDevices().length,
      };
    },
  );
};
