/** GET /api/map — map settings for the dashboard: tiles (optional) and the village boundary/grid GeoJSON. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { ErrorBody } from './schemas.ts';

export const mapRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/api/map',
    {
      onRequest: app.authenticate,
      schema: {
        response: {
          200: Type.Object({
            tileUrl: Type.String(),
            tileAttribution: Type.String(),
            center: Type.Object({ lat: Type.Number(), lon: Type.Number() }),
            zoom: Type.Integer(),
            basemap: Type.Unknown(),
          }),
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
