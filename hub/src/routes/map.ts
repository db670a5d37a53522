/** GET /api/map — map settings for the dashboard: tiles (optional) and the village boundary/grid GeoJSON. */
import { readFile } from 'node:fs/promises';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { ErrorBody } from './schemas.ts';

export const mapRoutes: FastifyPluginAsyncTypebox = async (app) => {
  let basemap: unknown = { type: 'FeatureCollection', features: [] };
  try {
    basemap = JSON.parse(await readFile(app.config.map.basemapFile, 'utf8'));
  } catch (err) {
    app.log.warn(
      { err, file: app.config.map.basemapFile },
      'basemap GeoJSON not loaded; the map has no village outline',
    );
  }
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
      return { tileUrl, tileAttribution, center, zoom, basemap };
    },
  );
};
