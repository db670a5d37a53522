/**
 * GET /healthz — liveness for Docker and load balancers: no authentication, no details.
 * GET /api/health — the hub, its broker link and its store, with counts limited to the caller's
 * scope (a village operator learns only about their own sites).
 */

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ErrorBody, userMaySee } from '@qianliyan/protocols';
import { Type } from '@sinclair/typebox';

const started = Date.now();

export const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/healthz',
    { schema: { response: { 200: Type.Object({ status: Type.Literal('ok') }) } } },
    async () => ({ status: 'ok' as const }),
  );

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
            store: Type.Object({
              backlog: Type.Integer(),
              saturated: Type.Boolean(),
              diskFull: Type.Boolean(),
            }),
            gatewaysOnline: Type.Integer(),
            devices: Type.Integer(),
          }),
          401: ErrorBody,
        },
      },
    },
    async (request) => {
      const connected = app.mqtt.connected;
      const saturated = app.ingest.isSaturated;
      const diskFull = app.ingest.isDiskFull;
      const gateways = app.registry.listGateways().filter((g) => userMaySee(request.user, g.site));
      const devices =
        request.user.sites.length > 0
          ? app.registry.listDevicesOfSites(request.user.sites).length
          : app.registry.deviceCount();
      return {
        status: connected && !saturated && !diskFull ? ('ok' as const) : ('degraded' as const),
        uptimeS: Math.floor((Date.now() - started) / 1000),
        broker: { connected, embedded: app.brokerConnection.embedded },
        store: { backlog: app.ingest.backlog, saturated, diskFull },
        gatewaysOnline: gateways.filter((g) => g.online).length,
        devices,
      };
    },
  );
};
