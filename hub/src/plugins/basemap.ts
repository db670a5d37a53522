/**
 * The map's base layer (village boundaries, grid, rivers as GeoJSON), loaded once before the hub
 * takes any message: its village outlines are the geofences of the drones and, with the site tree's
 * own boundaries, the extent each gateway may place devices in (site-bounds.ts). A missing or
 * broken file leaves the map without an outline and the drones without fences, with a warning; the
 * hub runs on.
 */
import { readFile } from 'node:fs/promises';
import fp from 'fastify-plugin';
import { type Fence, fencesFromGeoJson } from '../services/geofences.ts';

declare module 'fastify' {
  interface FastifyInstance {
    basemap: unknown;
    /** Village outlines of the base map (`kind: "boundary"` features). */
    fences: Fence[];
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
    app.decorate('fences', fences);
    app.log.info({ fences: fences.map((f) => f.site) }, 'geofences');
  },
  { name: 'basemap' },
);
