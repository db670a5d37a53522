/**
 * Device markers on the Leaflet map. Fixed devices are canvas circle markers (thousands stay smooth);
 * drones are rotated arrow icons with a trailing track. Colours follow status: online / offline / alarm.
 */
import type { DeviceView } from '@qianliyan/protocols';
import L from 'leaflet';
import { escapeHtml } from '../html.ts';
import { t } from '../i18n.ts';

export const STATUS_COLORS = { online: '#22c55e', offline: '#64748b', alarm: '#ef4444' } as const;
/** Marker outline per device kind (the fill is the status colour). */
export const KIND_OUTLINES = {
  camera: '#e2e8f0',
  speaker: '#f59e0b',
  sensor: '#38bdf8',
  drone: '#38bdf8',
} as const;
/** How far a camera's field-of-view sector reaches on the map, in metres (indicative). */
const FOV_RANGE_M = 200;
const KIND_GLYPH = { camera: '◉', speaker: '◈', sensor: '◆', drone: '▲' } as const;
/** Points kept in a drone's trailing track: ten minutes of 5-second history plus live points. */
const TRACK_POINTS = 240;

interface DroneMarker {
  marker: L.Marker;
  track: L.Polyline;
  /** The planned route (its mission), when the drone reported one. */
  route: L.Polyline;
  routeKey: string;
  points: L.LatLng[];
  heading: number;
  label: string;
  linkLost: boolean;
}

export class DeviceLayer {
  private readonly renderer = L.canvas({ padding: 0.5 });
  private readonly circles = new Map<string, L.CircleMarker>();
  private readonly sectors = new Map<string, L.Polygon>();
  private readonly drones = new Map<string, DroneMarker>();
  private readonly group = L.layerGroup();
  /** Set when the view is torn down: late async results (a track load) must not draw on a removed map. */
  private disposed = false;

  private readonly flashes = new Map<string, { marker: L.Marker; timer: number }>();

  constructor(
    private readonly map: L.Map,
    private readonly onSelect: (key: string) => void,
    /** A press on a camera marker that may become a drag onto the video wall. */
    private readonly onPress?: (key: string, ev: MouseEvent) => void,
  ) {
    this.group.addTo(map);
  }

  /** Makes a device's marker pulse for a while (a camera event, an alarm). */
  flash(key: string, ms = 10_000): void {
    if (this.disposed) return;
    const at = this.circles.get(key)?.getLatLng() ?? this.drones.get(key)?.marker.getLatLng();
    if (!at) return;
    const existing = this.flashes.get(key);
    if (existing) {
      window.clearTimeout(existing.timer);
      existing.marker.remove();
    }
    const marker = L.marker(at, {
      icon: L.divIcon({ className: 'qly-flash', html: '<span></span>', iconSize: [36, 36] }),
      interactive: false,
      keyboard: false,
    }).addTo(this.map);
    const timer = window.setTimeout(() => {
      marker.remove();
      this.flashes.delete(key);
    }, ms);
    this.flashes.set(key, { marker, timer });
  }

  /** Keys of the markers flashing now (tests read it). */
  flashing(): string[] {
    return [...this.flashes.keys()];
  }

  upsert(d: DeviceView): void {
    if (this.disposed) return;
    const at = L.latLng(d.position.lat, d.position.lon);
    const color = STATUS_COLORS[d.status];
    if (d.kind === 'drone') {
      this.upsertDrone(d, at, color);
      return;
    }
    let m = this.circles.get(d.key);
    if (!m) {
      m = L.circleMarker(at, {
        renderer: this.renderer,
        radius: 7,
        weight: 2,
        fillOpacity: 0.85,
        color: '#0f172a',
      });
      m.on('click', () => this.onSelect(d.key));
      if (d.kind === 'camera')
        m.on('mousedown', (e: L.LeafletMouseEvent) => this.onPress?.(d.key, e.originalEvent));
      m.bindTooltip('', { direction: 'top', offset: [0, -6] });
      this.circles.set(d.key, m);
      this.group.addLayer(m);
    }
    m.setLatLng(at);
    m.setStyle({ fillColor: color, color: KIND_OUTLINES[d.kind], radius: d.kind === 'camera' ? 7 : 6 });
    if (d.kind === 'camera' && d.heading !== undefined && d.fov !== undefined) {
      // A PTZ camera looks where it is panned, and narrower as it zooms in.
      const pan = typeof d.values.pan === 'number' ? d.values.pan : 0;
      const zoom = typeof d.values.zoom === 'number' && d.values.zoom >= 1 ? d.values.zoom : 1;
      this.upsertSector(d.key, at, (d.heading + pan) % 360, d.fov / zoom, color);
    }
    m.setTooltipContent(`${KIND_GLYPH[d.kind]} ${escapeHtml(d.name)}`);
  }

  remove(key: string): void {
    const sector = this.sectors.get(key);
    if (sector) {
      this.group.removeLayer(sector);
      this.sectors.delete(key);
    }
    const c = this.circles.get(key);
    if (c) {
      this.group.removeLayer(c);
      this.circles.delete(key);
    }
    const dr = this.drones.get(key);
    if (dr) {
      this.group.removeLayer(dr.marker);
      this.group.removeLayer(dr.track);
      this.group.removeLayer(dr.route);
      this.drones.delete(key);
    }
  }

  clear(): void {
    for (const key of [...this.circles.keys(), ...this.drones.keys()]) this.remove(key);
  }

  /** Ignores all later updates; call before `map.remove()`, which takes the markers with it. */
  dispose(): void {
    this.disposed = true;
    for (const f of this.flashes.values()) window.clearTimeout(f.timer);
    this.flashes.clear();
  }

  /** Whether a drone is on the map yet (so its past track can be loaded once). */
  hasDrone(key: string): boolean {
    return this.drones.has(key);
  }

  /** Puts the recent past in front of a drone's live track (points oldest first). */
  seedTrack(key: string, past: Array<{ lat: number; lon: number }>): void {
    const dr = this.drones.get(key);
    if (this.disposed || !dr || past.length === 0) return;
    dr.points = [...past.map((p) => L.latLng(p.lat, p.lon)), ...dr.points].slice(-TRACK_POINTS);
    dr.track.setLatLngs(dr.points);
  }

  /** Where each marker is drawn right now (used by the end-to-end test and for debugging). */
  positions(): Array<{
    key: string;
    lat: number;
    lon: number;
    kind: 'drone' | 'fixed';
    /** A camera's field-of-view sector: its centre bearing and width, degrees. */
    sector?: { bearing: number; width: number };
    track?: number;
    route?: number;
    label?: string;
    linkLost?: boolean;
  }> {
    const out: ReturnType<DeviceLayer['positions']> = [];
    for (const [key, m] of this.circles) {
      const sector = this.sectorShape.get(key);
      out.push({
        key,
        lat: m.getLatLng().lat,
        lon: m.getLatLng().lng,
        kind: 'fixed',
        ...(sector ? { sector } : {}),
      });
    }
    for (const [key, d] of this.drones) {
      const at = d.marker.getLatLng();
      out.push({
        key,
        lat: at.lat,
        lon: at.lng,
        kind: 'drone',
        track: (d.track.getLatLngs() as L.LatLng[]).length,
        route: (d.route.getLatLngs() as L.LatLng[]).length,
        label: d.label,
        linkLost: d.linkLost,
      });
    }
    return out;
  }

  /** A camera's field of view as a translucent sector from its position along its heading. */
  private readonly sectorShape = new Map<string, { bearing: number; width: number }>();

  private upsertSector(key: string, at: L.LatLng, heading: number, fov: number, color: string): void {
    this.sectorShape.set(key, { bearing: Math.round(heading * 10) / 10, width: Math.round(fov * 10) / 10 });
    const points: L.LatLng[] = [at];
    const steps = 12;
    const mPerDegLat = 111_320;
    const mPerDegLon = mPerDegLat * Math.cos((at.lat * Math.PI) / 180);
    for (let i = 0; i <= steps; i++) {
      const bearing = ((heading - fov / 2 + (fov * i) / steps) * Math.PI) / 180;
      points.push(
        L.latLng(
          at.lat + (FOV_RANGE_M * Math.cos(bearing)) / mPerDegLat,
          at.lng + (FOV_RANGE_M * Math.sin(bearing)) / mPerDegLon,
        ),
      );
    }
    let sector = this.sectors.get(key);
    if (!sector) {
      sector = L.polygon(points, {
        renderer: this.renderer,
        weight: 1,
        opacity: 0.5,
        fillOpacity: 0.12,
        interactive: false,
      });
      this.sectors.set(key, sector);
      this.group.addLayer(sector);
      sector.bringToBack();
    }
    sector.setLatLngs(points);
    sector.setStyle({ color, fillColor: color });
  }

  private upsertDrone(d: DeviceView, at: L.LatLng, color: string): void {
    let dr = this.drones.get(d.key);
    const heading = d.heading ?? 0;
    if (!dr) {
      const marker = L.marker(at, { icon: DRONE_ICON, keyboard: false });
      marker.on('click', () => this.onSelect(d.key));
      marker.bindTooltip(escapeHtml(d.name), { direction: 'top', offset: [0, -12] });
      const track = L.polyline([at], {
        renderer: this.renderer,
        color: '#38bdf8',
        weight: 2,
        opacity: 0.7,
        dashArray: '4 4',
      });
      const route = L.polyline([], {
        renderer: this.renderer,
        color: '#f59e0b',
        weight: 2,
        opacity: 0.6,
        dashArray: '2 6',
        interactive: false,
      });
      dr = { marker, track, route, routeKey: '', points: [at], heading, label: '', linkLost: false };
      this.drones.set(d.key, dr);
      this.group.addLayer(route);
      this.group.addLayer(track);
      this.group.addLayer(marker);
    }
    const routeKey = (d.route ?? []).map((p) => `${p.lat},${p.lon}`).join(';');
    if (routeKey !== dr.routeKey) {
      dr.routeKey = routeKey;
      const waypoints = (d.route ?? []).map((p) => L.latLng(p.lat, p.lon));
      dr.route.setLatLngs(waypoints.length > 1 ? [...waypoints, waypoints[0] as L.LatLng] : waypoints);
    }
    const last = dr.points.at(-1);
    if (!last?.equals(at)) {
      dr.points.push(at);
      if (dr.points.length > TRACK_POINTS) dr.points.shift();
      dr.track.setLatLngs(dr.points);
    }
    dr.marker.setLatLng(at);
    // Through the CSSOM, not a style attribute: allowed under the dashboard's CSP.
    const arrow = dr.marker.getElement()?.querySelector<HTMLElement>('.qly-drone-arrow');
    if (arrow) {
      arrow.style.transform = `rotate(${heading}deg)`;
      arrow.style.color = color;
    }
    dr.heading = heading;
    // Altitude and battery beside the arrow; "link lost" instead while the gateway cannot hear it.
    dr.linkLost = d.unreachable !== undefined;
    const alt = d.values.alt;
    const battery = d.values.battery;
    dr.label = dr.linkLost
      ? t('linkLost')
      : [
          typeof alt === 'number' ? `${Math.round(alt)} m` : '',
          typeof battery === 'number' ? `${Math.round(battery)}%` : '',
        ]
          .filter(Boolean)
          .join(' · ');
    const label = dr.marker.getElement()?.querySelector<HTMLElement>('.qly-drone-label');
    if (label) {
      label.textContent = dr.label;
      label.classList.toggle('lost', dr.linkLost);
    }
  }
}

const DRONE_ICON = L.divIcon({
  className: 'qly-drone',
  html: '<div class="qly-drone-arrow">▲</div><div class="qly-drone-label"></div>',
  iconSize: [26, 26],
  iconAnchor: [13, 13],
});
