/**
 * The map's base layer (village boundaries, grid, rivers as GeoJSON) loaded once, and the geofences
 * drawn from its village boundaries. A missing or broken file leaves the map without an outline and
 * the drones without fences, with a warning; the hub runs on.
 */
import { readFile } from 'node:fs/promises';
import fp from 'fastify-plugin';
import { fencesFromGeoJson, GeofenceWatch } from '../services/geofences.ts';

declare module 'fastify' {
  interface FastifyInstance {
    basemap: unknown;
  }
}

export const basemapPlugin = fp(
  async (app) => {
    let basemap: unknown = { type: 'FeatureCollection', features: [] };
    try {
      basemap = JSON.parse(await readFile(app.config.map.basemapFile, 'utf8'));
    } catch (err) {
      app.log.warn(
        { err, file: app.config.map.basemapFile },
        'basemap GeoJSON not loaded: no village outline, no geofences',
      );
    }
    app.decorate('basemap', basemap);
    const fences = fencesFromGeoJson(basemap);
    new GeofenceWatch(fences, app.bus, (key, type, severity, data) =>
      app.ingest.recordHubEvent(key, type, severity, data),
    ).start();
    app.log.info({ fences: fences.map((f) => f.site) }, 'geofences');
  },
  { name: 'basemap', dependencies: ['ingest'] },
);
