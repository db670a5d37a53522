/**
 * Device markers on the Leaflet map. Fixed devices are drawn by one canvas layer (DeviceCanvas:
 * clusters when many are in view); drones — few, moving — are rotated arrow icons with a trailing
 * track, their planned route and an "H" where they return to launch (home_lat/home_lon telemetry).
 * Status shows by shape and colour: online / offline / alarm.
 */
import type { DeviceView } from '@qianliyan/protocols';
import L from 'leaflet';
import { escapeHtml } from '../html.ts';
import { t } from '../i18n.ts';
import { DeviceCanvas, STATUS_COLORS } from './device-canvas.ts';

export { KIND_OUTLINES, STATUS_COLORS } from './device-canvas.ts';

/** Points kept in a drone's trailing track: ten minutes of 5-second history plus live points. */
const TRACK_POINTS = 240;

interface DroneMarker {
  marker: L.Marker;
  track: L.Polyline;
  /** The planned route (its mission), when the drone reported one. */
  route: L.Polyline;
  routeKey: string;
  /** Where return-to-launch goes, once the drone reported it. */
  home: L.Marker | undefined;
  points: L.LatLng[];
  heading: number;
  label: string;
  linkLost: boolean;
}

export class DeviceLayer {
  private readonly renderer = L.canvas({ padding: 0.5 });
  private readonly drones = new Map<string, DroneMarker>();
  private readonly group = L.layerGroup();
  /** Cameras, speakers and sensors: one canvas, clustered when many are in view. */
  readonly fixed: DeviceCanvas;
  /** Set when the view is torn down: late async results (a track load) must not draw on a removed map. */
  private disposed = false;

  private readonly flashes = new Map<string, { marker: L.Marker; timer: number }>();

  constructor(
    private readonly map: L.Map,
    private readonly onSelect: (key: string) => void,
    /** A press on a camera marker that may become a drag onto the video wall. */
    onPress?: (key: string, ev: MouseEvent) => void,
  ) {
    this.group.addTo(map);
    this.fixed = new DeviceCanvas({ select: onSelect, ...(onPress ? { press: onPress } : {}) });
    this.fixed.addTo(map);
  }

  /** Makes a device's marker pulse for a while (a camera event, an alarm). */
  flash(key: string, ms = 10_000): void {
    if (this.disposed) return;
    const at = this.fixed.where(key) ?? this.drones.get(key)?.marker.getLatLng();
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
    if (d.kind === 'drone')
      this.upsertDrone(d, L.latLng(d.position.lat, d.position.lon), STATUS_COLORS[d.status]);
    else this.fixed.upsert(d);
  }

  remove(key: string): void {
    this.fixed.removeDevice(key);
    const dr = this.drones.get(key);
    if (dr) {
      this.group.removeLayer(dr.marker);
      this.group.removeLayer(dr.track);
      this.group.removeLayer(dr.route);
      if (dr.home) this.group.removeLayer(dr.home);
      this.drones.delete(key);
    }
  }

  clear(): void {
    this.fixed.clearDevices();
    for (const key of [...this.drones.keys()]) this.remove(key);
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
    home?: { lat: number; lon: number };
  }> {
    const out: ReturnType<DeviceLayer['positions']> = [];
    for (const f of this.fixed.list())
      out.push({
        key: f.key,
        lat: f.lat,
        lon: f.lon,
        kind: 'fixed',
        ...(f.sector ? { sector: f.sector } : {}),
      });
    for (const [key, d] of this.drones) {
      const at = d.marker.getLatLng();
      const home = d.home?.getLatLng();
      out.push({
        key,
        lat: at.lat,
        lon: at.lng,
        kind: 'drone',
        ...(home ? { home: { lat: home.lat, lon: home.lng } } : {}),
        track: (d.track.getLatLngs() as L.LatLng[]).length,
        route: (d.route.getLatLngs() as L.LatLng[]).length,
        label: d.label,
        linkLost: d.linkLost,
      });
    }
    return out;
  }

  /** The home marker follows the drone's reported home (it moves when the drone is armed elsewhere). */
  private placeHome(dr: DroneMarker, d: DeviceView): void {
    const { home_lat: lat, home_lon: lon } = d.values;
    if (typeof lat !== 'number' || typeof lon !== 'number') return;
    const at = L.latLng(lat, lon);
    if (dr.home) {
      if (!dr.home.getLatLng().equals(at)) dr.home.setLatLng(at);
      return;
    }
    dr.home = L.marker(at, { icon: HOME_ICON, interactive: false, keyboard: false, zIndexOffset: -100 });
    this.group.addLayer(dr.home);
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
      dr = {
        marker,
        track,
        route,
        routeKey: '',
        home: undefined,
        points: [at],
        heading,
        label: '',
        linkLost: false,
      };
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
    this.placeHome(dr, d);
    const last = dr.points.at(-1);
    if (!last?.equals(at)) {
      dr.points.push(at);
      if (dr.points.length > TRACK_POINTS) dr.points.shift();
      dr.track.setLatLngs(dr.points);
    }
    dr.marker.setLatLng(at);
    // Named for screen readers and tests: which drone, and what its label says.
    const el = dr.marker.getElement();
    if (el) {
      el.dataset.key = d.key;
      el.setAttribute('role', 'img');
    }
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
    el?.setAttribute('aria-label', [d.name, dr.label].filter(Boolean).join(' · '));
  }
}

/** "H", as ground stations mark home; the panel names it in words (返航点). */
// No iconSize: Leaflet then sets no pixel box, and the CSS sizes it in rem (readable on a wall).
const HOME_ICON = L.divIcon({
  className: 'qly-home',
  html: 'H',
  iconSize: null as unknown as L.PointExpression,
});

const DRONE_ICON = L.divIcon({
  className: 'qly-drone',
  html: '<div class="qly-drone-arrow">▲</div><div class="qly-drone-label"></div>',
  iconSize: [26, 26],
  iconAnchor: [13, 13],
});
