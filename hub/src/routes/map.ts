/** GET /api/map — map settings for the dashboard: tiles (optional) and the village boundary/grid GeoJSON. */

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ErrorBody, REST_ANSWERS } from '@qianliyan/protocols';

export const mapRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/api/map',
    {
      onRequest: app.authenticate,
      schema: {
        response: {
          200: REST_ANSWERS['GET /api/map'],
          401: ErrorBody,
        },
      },
    },
    async () => {
      const { tileUrl, tileAttribution, center, zoom } = app.config.map;
      return { tileUrl, tileAttribution, center, zoom, basemap: app.basemap };
    },
  );
};
