/**
 * Where a gateway may place its devices: inside its own site. A gateway speaks for the devices of
 * one village; one in an attacker's hands could otherwise put a "sensor" at another village's
 * coordinates, raise "fire" there, and have the linkage sound that village's loudspeakers.
 *
 * A site's extent is, in order: the boundary the site tree holds for it (GeoJSON import), the
 * village outline of the base map (`kind: "boundary"` features, the same ones the geofences use),
 * the extent of its nearest ancestor that has one (a grid without its own outline is checked
 * against its village), else a circle of `radiusM` around its centre — and then, since neighbouring
 * circles overlap, a fixed device may not sit inside another site's outline either. A fixed device
 * may sit up to `toleranceM` outside its extent (a camera on the boundary road); a drone may fly
 * `droneRangeM` beyond it (leaving the village is what the geofence alarm is for, not a reason to
 * lose the track). A site with no geometry at all cannot be checked: positions pass (the hub warns
 * once).
 */
import type { DeviceKind, Position, SiteNode } from '@qianliyan/protocols';
import { type Fence, insideFence } from './geofences.ts';
import type { SiteTree } from './site-tree.ts';

export interface SiteBoundsOptions {
  toleranceM: number;
  radiusM: number;
  droneRangeM: number;
}

type Ring = Array<[number, number]>;

interface Extent {
  fence?: Fence;
  circle?: { center: { lat: number; lon: number }; radiusM: number };
}

export type BoundsVerdict =
  | { ok: true }
  | { ok: false; distanceM: number; allowedM: number }
  | { ok: false; insideOf: string };

interface Outline {
  fence: Fence;
  box: { minLat: number; maxLat: number; minLon: number; maxLon: number };
}

const M_PER_DEG_LAT = 110_574;
const M_PER_DEG_LON_EQ = 111_320;

export class SiteBounds {
  private fences = new Map<string, Fence>();
  private readonly cache = new Map<string, Extent | null>();
  private outlines: Outline[] | undefined;
  private readonly unchecked = new Set<string>();

  constructor(
    private readonly tree: SiteTree,
    private readonly options: SiteBoundsOptions,
    private readonly warn: (site: string) => void = () => {},
  ) {
    tree.onChange(() => this.clear());
  }

  /** The base map's village outlines (loaded after the ingest starts). */
  setFences(fences: Fence[]): void {
    this.fences = new Map(fences.map((f) => [f.site, f]));
    this.clear();
  }

  private clear(): void {
    this.cache.clear();
    this.outlines = undefined;
  }

  /** Whether a position reported by a gateway of `site` for a device of `kind` lies within reach. */
  check(site: string, kind: DeviceKind | undefined, pos: Pick<Position, 'lat' | 'lon'>): BoundsVerdict {
    const extent = this.extent(site);
    if (!extent) {
      if (!this.unchecked.has(site)) {
        this.unchecked.add(site);
        this.warn(site);
      }
      return { ok: true };
    }
    const drone = kind === 'drone';
    const allowedM = drone ? this.options.droneRangeM : this.options.toleranceM;
    const distanceM = distanceOutside(extent, pos);
    if (distanceM > allowedM) return { ok: false, distanceM: Math.round(distanceM), allowedM };
    if (extent.circle && !drone) {
      const own = new Set([...this.tree.ancestors(site), ...this.tree.subtree(site)]);
      const other = this.outlineAt(pos, own);
      if (other) return { ok: false, insideOf: other };
    }
    return { ok: true };
  }

  /** A site outside `own` whose outline holds the point. */
  private outlineAt(pos: { lat: number; lon: number }, own: Set<string>): string | undefined {
    if (!this.outlines) {
      const fences = new Map(this.fences);
      for (const node of this.tree.list()) {
        const f = fenceOf(node);
        if (f) fences.set(node.id, f);
      }
      this.outlines = [...fences.values()].map((fence) => ({ fence, box: boxOf(fence) }));
    }
    for (const { fence, box } of this.outlines) {
      if (own.has(fence.site)) continue;
      if (pos.lat < box.minLat || pos.lat > box.maxLat || pos.lon < box.minLon || pos.lon > box.maxLon)
        continue;
      if (insideFence(fence, pos.lat, pos.lon)) return fence.site;
    }
    return undefined;
  }

  private extent(site: string): Extent | null {
    const cached = this.cache.get(site);
    if (cached !== undefined) return cached;
    let extent: Extent | null = null;
    for (const id of this.tree.ancestors(site).length ? this.tree.ancestors(site) : [site]) {
      const node = this.tree.get(id);
      const fence = (node && fenceOf(node)) ?? this.fences.get(id);
      if (fence) {
        extent = { fence };
        break;
      }
      if (node?.center && node.level !== 'county' && node.level !== 'town') {
        extent = { circle: { center: node.center, radiusM: this.options.radiusM } };
        break;
      }
    }
    this.cache.set(site, extent);
    return extent;
  }
}

function fenceOf(node: SiteNode): Fence | undefined {
  const b = node.boundary;
  if (!b) return undefined;
  const polygons = (b.type === 'Polygon' ? [b.coordinates] : b.coordinates) as Ring[][];
  return { site: node.id, name: node.name, polygons };
}

function boxOf(fence: Fence): Outline['box'] {
  const box = { minLat: 90, maxLat: -90, minLon: 180, maxLon: -180 };
  for (const polygon of fence.polygons)
    for (const [lon, lat] of polygon[0] ?? []) {
      box.minLat = Math.min(box.minLat, lat);
      box.maxLat = Math.max(box.maxLat, lat);
      box.minLon = Math.min(box.minLon, lon);
      box.maxLon = Math.max(box.maxLon, lon);
    }
  return box;
}

/** Metres from a point to the nearest edge of an extent; 0 inside. */
function distanceOutside(extent: Extent, pos: { lat: number; lon: number }): number {
  if (extent.circle) {
    const d = metres(extent.circle.center, pos);
    return Math.max(0, d - extent.circle.radiusM);
  }
  const fence = extent.fence as Fence;
  if (insideFence(fence, pos.lat, pos.lon)) return 0;
  let best = Number.POSITIVE_INFINITY;
  const kx = Math.cos((pos.lat * Math.PI) / 180) * M_PER_DEG_LON_EQ;
  for (const polygon of fence.polygons)
    for (const ring of polygon)
      for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
        const [ax, ay] = ring[j] as [number, number];
        const [bx, by] = ring[i] as [number, number];
        best = Math.min(
          best,
          segmentDistance(
            (ax - pos.lon) * kx,
            (ay - pos.lat) * M_PER_DEG_LAT,
            (bx - pos.lon) * kx,
            (by - pos.lat) * M_PER_DEG_LAT,
          ),
        );
      }
  return best;
}

/** Distance from the origin to segment (a, b), in the plane. */
function segmentDistance(ax: number, ay: number, bx: number, by: number): number {
  const dx = bx - ax;
  const dy = by - ay;
  const len2 = dx * dx + dy * dy;
  const t = len2 === 0 ? 0 : Math.max(0, Math.min(1, -(ax * dx + ay * dy) / len2));
  return Math.hypot(ax + t * dx, ay + t * dy);
}

/** Equirectangular distance: metres, exact enough within a county. */
function metres(a: { lat: number; lon: number }, b: { lat: number; lon: number }): number {
  const kx = Math.cos((((a.lat + b.lat) / 2) * Math.PI) / 180) * M_PER_DEG_LON_EQ;
  return Math.hypot((b.lon - a.lon) * kx, (b.lat - a.lat) * M_PER_DEG_LAT);
}
