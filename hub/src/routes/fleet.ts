/**
 * Fleet operations (issue 22), administrators only, each through the command path (audited there).
 * GET /api/fleet — every gateway's agent version, uptime, last contact, outbox, config versions;
 *   `outdated` below `fleet.minAgentVersion` (also a warning in the log and qly_gateways_outdated).
 * POST /api/gateways/:id/restart — the agent answers, then restarts in place.
 * GET /api/gateways/:id/logs?lines=N — its last N log lines (N ≤ 500, 128 KiB, bounded at the gateway).
 * POST /api/gateways/:id/discover `{timeoutMs?, targets?}` — ONVIF WS-Discovery through the gateway.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { DiscoverParams, Id, REST_ANSWERS } from '@qianliyan/protocols';
import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import { HubError } from '../errors.ts';
import { adminOnly } from './admin-guard.ts';
import { errorResponses } from './schemas.ts';

const params = Type.Object({ id: Id });
const failures = { ...errorResponses, 503: errorResponses[400], 504: errorResponses[400] };

export const fleetRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.addHook('onRequest', app.authenticate);
  app.addHook('onRequest', adminOnly(app));

  /** Sends a gateway action and waits for its result; an error result becomes an error answer. */
  const run = async (
    request: FastifyRequest,
    gateway: string,
    action: string,
    body: Record<string, unknown>,
  ) => {
    const row = app.commands.submit({ user: request.user, gateway, device: null, action, params: body });
    const view = await app.commands.wait(row.id, row.deadline - Date.now() + 2000);
    if (view.status === 'ok') return view;
    if (view.status === 'sent' || view.status === 'timeout')
      throw new HubError('HUB_ERR_TIMEOUT', `gateway ${gateway} did not answer ${action} in time`);
    throw new HubError(
      'HUB_ERR_VALIDATION',
      `${gateway}: ${view.error?.code ?? 'error'}: ${view.error?.message ?? ''}`,
    );
  };

  app.get(
    '/api/fleet',
    { schema: { response: { 200: REST_ANSWERS['GET /api/fleet'], ...errorResponses } } },
    async () => app.provisioning.fleet(),
  );

  app.post(
    '/api/gateways/:id/restart',
    { schema: { params, response: { 200: REST_ANSWERS['POST /api/gateways/:id/restart'], ...failures } } },
    async (request) => run(request, request.params.id, 'gateway.restart', {}),
  );

  app.get(
    '/api/gateways/:id/logs',
    {
      schema: {
        params,
        querystring: Type.Object(
          { lines: Type.Integer({ minimum: 1, maximum: 500, default: 100 }) },
          { additionalProperties: false },
        ),
        response: { 200: REST_ANSWERS['GET /api/gateways/:id/logs'], ...failures },
      },
    },
    async (request) => {
      const view = await run(request, request.params.id, 'gateway.logs', { lines: request.query.lines });
      const lines = (view.data as { lines?: unknown } | undefined)?.lines;
      return {
        gateway: request.params.id,
        lines: Array.isArray(lines) ? lines.filter((l): l is string => typeof l === 'string') : [],
      };
    },
  );

  app.post(
    '/api/gateways/:id/discover',
    {
      schema: {
        params,
        body: Type.Optional(DiscoverParams),
        response: { 200: REST_ANSWERS['POST /api/gateways/:id/discover'], ...failures },
      },
    },
    async (request) => {
      const view = await run(request, request.params.id, 'camera.discover', request.body ?? {});
      const cameras = (view.data as { cameras?: unknown } | undefined)?.cameras;
      return { gateway: request.params.id, cameras: Array.isArray(cameras) ? cameras : [] };
    },
  );
};
