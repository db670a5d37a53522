import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { EventBus } from '../../src/services/event-bus.ts';
import { fencesFromGeoJson, GeofenceWatch, insideFence } from '../../src/services/geofences.ts';
import { createMetrics } from '../../src/services/metrics.ts';

const square = (x0: number, y0: number, x1: number, y1: number) => [
  [x0, y0],
  [x1, y0],
  [x1, y1],
  [x0, y1],
  [x0, y0],
];
const geojson = {
  type: 'FeatureCollection',
  features: [
    {
      properties: { kind: 'boundary', site: 'v1', name: 'Village 1' },
      geometry: {
        type: 'Polygon',
        coordinates: [square(120, 30, 120.01, 30.01), square(120.004, 30.004, 120.006, 30.006)],
      },
    },
    {
      properties: { kind: 'grid', name: 'grid' },
      geometry: { type: 'Polygon', coordinates: [square(0, 0, 1, 1)] },
    },
    { properties: { kind: 'boundary' }, geometry: { type: 'Polygon', coordinates: [square(0, 0, 1, 1)] } },
  ],
};

describe('geofences', () => {
  it('reads village boundaries (with their holes) and nothing else', () => {
    const fences = fencesFromGeoJson(geojson);
    expect(fences.map((f) => f.site)).toEqual(['v1']);
    const fence = fences[0] as (typeof fences)[number];
    expect(insideFence(fence, 30.002, 120.002)).toBe(true);
    expect(insideFence(fence, 30.005, 120.005)).toBe(false); // in the hole
    expect(insideFence(fence, 30.02, 120.002)).toBe(false);
    expect(fencesFromGeoJson('not geojson')).toEqual([]);
  });

  it('raises an alarm when a drone leaves its village and a notice when it comes back', () => {
    const bus = new EventBus(createMetrics(), pino({ level: 'silent' }));
    const raised: string[] = [];
    new GeofenceWatch(fencesFromGeoJson(geojson), bus, (key, type, severity) =>
      raised.push(`${key} ${type} ${severity}`),
    ).start();
    const at = (key: string, kind: string, lat: number, lon: number) =>
      bus.emit('positionChanged', { key, site: 'v1', kind, lat, lon });
    at('gw.uav', 'drone', 30.002, 120.002);
    at('gw.uav', 'drone', 30.003, 120.002);
    at('gw.uav', 'drone', 30.02, 120.002); // out
    at('gw.uav', 'drone', 30.03, 120.002); // still out: no repeat
    at('gw.uav', 'drone', 30.002, 120.002); // back
    at('gw.cam', 'camera', 30.5, 121); // not a drone
    at('gw.other', 'drone', 31, 121); // first seen outside
    expect(raised).toEqual([
      'gw.uav geofence.exit alarm',
      'gw.uav geofence.enter info',
      'gw.other geofence.exit alarm',
    ]);
  });
});
