/**
 * GET /metrics — Prometheus text format. Needs an admin JWT, or the static bearer token from
 * `auth.metricsTokenFile` so a Prometheus server can scrape without a user account.
 */

import { timingSafeEqual } from 'node:crypto';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { may } from '@qianliyan/protocols';
import type { FastifyRequest } from 'fastify';
import { HubError } from '../errors.ts';

export const metricsRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const staticToken = app.secrets.metricsToken;
  const isStaticToken = (request: FastifyRequest) => {
    if (!staticToken) return false;
    const given = Buffer.from(request.headers.authorization?.replace(/^Bearer /, '') ?? '');
    const expected = Buffer.from(staticToken);
    return given.length === expected.length && timingSafeEqual(given, expected);
  };
  app.get(
    '/metrics',
    {
      onRequest: async (request, reply) => {
        if (isStaticToken(request)) return;
        await app.authenticate(request, reply);
        if (!may(request.user.role, 'administer')) throw new HubError('HUB_ERR_FORBIDDEN');
      },
    },
    async (_request, reply) => {
      reply.header('content-type', app.metrics.registry.contentType);
      return app.metrics.registry.metrics();
    },
  );
};
