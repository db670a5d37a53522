/** GET /api/sites — the villages this hub watches, with counts, limited to the caller's scope. */

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { userMaySee } from '../plugins/auth.ts';
import { ErrorBody } from './schemas.ts';

const SiteView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  gateways: Type.Integer(),
  gatewaysOnline: Type.Integer(),
  devices: Type.Integer(),
  alarms: Type.Integer(),
});

export const siteRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/api/sites',
    { onRequest: app.authenticate, schema: { response: { 200: Type.Array(SiteView), 401: ErrorBody } } },
    async (request) => {
      const names = new Map(app.config.sites.map((s) => [s.id, s.name]));
      const gateways = app.registry.listGateways();
      const devices = app.registry.listDevices();
      const ids = new Set([...names.keys(), ...gateways.map((g) => g.site)]);
      return [...ids]
        .filter((id) => userMaySee(request.user, id))
        .sort()
        .map((id) => ({
          id,
          name: names.get(id) ?? id,
          gateways: gateways.filter((g) => g.site === id).length,
          gatewaysOnline: gateways.filter((g) => g.site === id && g.online).length,
          devices: devices.filter((d) => d.site === id).length,
          alarms: devices.filter((d) => d.site === id && d.status === 'alarm').length,
        }));
    },
  );
};
