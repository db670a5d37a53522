/**
 * Village geofences: the boundary polygons of the map (GeoJSON features with `kind: "boundary"` and a
 * `site`), each fencing that site's drones. A drone seen outside its site's fence raises a
 * `geofence.exit` alarm on the drone (stored and shown like any device event); coming back raises
 * `geofence.enter`. The hub raises these itself, from the positions it receives, so a gateway needs no
 * knowledge of the fence and a drone flying between villages is judged against its own village.
 */
import type { EventBus } from './event-bus.ts';

type Ring = Array<[number, number]>; // [lon, lat], as GeoJSON
type Polygon = Ring[]; // outer ring, then holes

export interface Fence {
  site: string;
  name: string;
  polygons: Polygon[];
}

/** Fences found in a GeoJSON FeatureCollection (anything else in it is ignored). */
export function fencesFromGeoJson(geojson: unknown): Fence[] {
  const features = (geojson as { features?: unknown[] })?.features;
  if (!Array.isArray(features)) return [];
  const fences: Fence[] = [];
  for (const f of features as Array<{
    properties?: Record<string, unknown>;
    geometry?: { type?: string; coordinates?: unknown };
  }>) {
    const p = f.properties ?? {};
    if (p.kind !== 'boundary' || typeof p.site !== 'string') continue;
    const g = f.geometry;
    const polygons =
      g?.type === 'Polygon'
        ? [g.coordinates as Polygon]
        : g?.type === 'MultiPolygon'
          ? (g.coordinates as Polygon[])
          : [];
    if (polygons.length > 0) fences.push({ site: p.site, name: String(p.name ?? p.site), polygons });
  }
  return fences;
}

/** Ray casting: whether a point is inside a ring (edges count as inside at most by chance). */
function inRing(ring: Ring, lon: number, lat: number): boolean {
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const [xi, yi] = ring[i] as [number, number];
    const [xj, yj] = ring[j] as [number, number];
    if (yi > lat !== yj > lat && lon < ((xj - xi) * (lat - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

export function insideFence(fence: Fence, lat: number, lon: number): boolean {
  return fence.polygons.some(
    ([outer, ...holes]) =>
      outer !== undefined && inRing(outer, lon, lat) && !holes.some((h) => inRing(h, lon, lat)),
  );
}

export type GeofenceEventSink = (
  key: string,
  type: 'geofence.exit' | 'geofence.enter',
  severity: 'alarm' | 'info',
  data: Record<string, unknown>,
) => void;

export class GeofenceWatch {
  private readonly fences = new Map<string, Fence>();
  private readonly inside = new Map<string, boolean>();

  constructor(
    fences: Fence[],
    private readonly bus: EventBus,
    private readonly raise: GeofenceEventSink,
  ) {
    for (const f of fences) this.fences.set(f.site, f);
  }

  start(): void {
    this.bus.on('positionChanged', 'geofences', ({ key, site, kind, lat, lon }) => {
      if (kind !== 'drone') return;
      const fence = this.fences.get(site);
      if (!fence) return;
      const now = insideFence(fence, lat, lon);
      const before = this.inside.get(key);
      this.inside.set(key, now);
      if (before === now || (before === undefined && now)) return;
      if (now) this.raise(key, 'geofence.enter', 'info', { fence: fence.name, lat, lon });
      else this.raise(key, 'geofence.exit', 'alarm', { fence: fence.name, lat, lon });
    });
  }
}
