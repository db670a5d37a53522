/**
 * A gateway's desired devices, kept at the hub (issue 22).
 * GET /api/gateways/:id/config (admin) — the latest version (secrets as `{set: true}`) and the
 *   gateway's last report (applied or refused, device by device).
 * PUT /api/gateways/:id/config (admin) `{devices, baseVersion?}` — a new version: passwords sealed
 *   to the gateway's key at once, stored sealed, published retained on `…/config`; the gateway
 *   applies it without a restart, or refuses it as a whole. 409 when `baseVersion` is not the latest.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { GatewayConfigPut, Id, type ProvisionedDevice, REST_ANSWERS } from '@qianliyan/protocols';
import { Type } from '@sinclair/typebox';
import { adminOnly } from './admin-guard.ts';
import { errorResponses } from './schemas.ts';

export const gatewayConfigRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.addHook('onRequest', app.authenticate);
  app.addHook('onRequest', adminOnly(app));
  const params = Type.Object({ id: Id });

  app.get(
    '/api/gateways/:id/config',
    {
      schema: { params, response: { 200: REST_ANSWERS['GET /api/gateways/:id/config'], ...errorResponses } },
    },
    async (request) => app.provisioning.view(request.params.id),
  );

  app.put(
    '/api/gateways/:id/config',
    {
      schema: {
        params,
        body: GatewayConfigPut,
        response: {
          200: REST_ANSWERS['PUT /api/gateways/:id/config'],
          ...errorResponses,
          413: errorResponses[400],
        },
      },
    },
    async (request) =>
      app.provisioning.setConfig(
        request.user.username,
        request.params.id,
        request.body.devices as ProvisionedDevice[],
        request.body.baseVersion,
      ),
  );
};
