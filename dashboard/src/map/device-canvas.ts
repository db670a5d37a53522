/**
 * Fixed devices (cameras, speakers, sensors) drawn on one canvas: no DOM node or Leaflet layer per
 * device, so 10,000 of them cost a loop, not a page. When many are in view they are drawn as
 * clusters — one per village, or per town when zoomed further out — with their count and their worst
 * status (an alarm is never hidden inside a green cluster: its triangle and count show on the cluster).
 * A live change only marks the canvas dirty; it is redrawn once per animation frame at most.
 *
 * Why our own canvas rather than Leaflet's canvas renderer or supercluster: Leaflet keeps a layer
 * object per marker and walks them all on every redraw and zoom; supercluster rebuilds its index
 * on each change. Villages are the clusters a command room thinks in, and their counts can be kept
 * up to date per change with no index at all.
 *
 * Keyboard and screen readers: the items drawn (up to MAX_FOCUSABLE) are mirrored as a visually
 * hidden list of buttons; focusing one rings it on the map, Enter opens it.
 */
import type { DeviceStatus, DeviceView, SiteNode } from '@qianliyan/protocols';
import L from 'leaflet';
import { escapeHtml } from '../html.ts';
import { t } from '../i18n.ts';

export const STATUS_COLORS = { online: '#22c55e', offline: '#94a3b8', alarm: '#ef4444' } as const;
/** Marker outline per device kind (the fill is the status colour). */
export const KIND_OUTLINES = {
  camera: '#e2e8f0',
  speaker: '#f59e0b',
  sensor: '#38bdf8',
  drone: '#38bdf8',
} as const;
/** How far a camera's field-of-view sector reaches on the map, in metres (indicative). */
const FOV_RANGE_M = 200;
/** Devices in view up to which they are drawn one by one at any zoom. */
const INDIVIDUAL_MAX = 400;
/** From this zoom on, devices are drawn one by one however many are in view. */
const INDIVIDUAL_ZOOM = 16;
/** Below this zoom, clusters are towns rather than villages. */
const TOWN_ZOOM = 12;
const MAX_FOCUSABLE = 200;

interface Fixed {
  key: string;
  name: string;
  kind: DeviceView['kind'];
  site: string;
  status: DeviceStatus;
  lat: number;
  lon: number;
  /** A camera's field of view: centre bearing and width, degrees. */
  sector?: { bearing: number; width: number };
}

export interface ClusterView {
  id: string;
  name: string;
  lat: number;
  lon: number;
  total: number;
  online: number;
  offline: number;
  alarm: number;
}

interface Drawn {
  /** `d:{device key}` or `c:{site id}` */
  id: string;
  x: number;
  y: number;
  r: number;
}

interface SiteInfo {
  name: string;
  parent: string | null;
  level: string;
}

export type DrawMode = 'devices' | 'villages' | 'towns';

export class DeviceCanvas extends L.Layer {
  private readonly devices = new Map<string, Fixed>();
  private sites = new Map<string, SiteInfo>();
  private canvas: HTMLCanvasElement | undefined;
  private ctx: CanvasRenderingContext2D | null = null;
  private readonly focusList = document.createElement('div');
  private frame = 0;
  private drawn: Drawn[] = [];
  private clusters = new Map<
    string,
    ClusterView & { south: number; west: number; north: number; east: number }
  >();
  private focused: string | undefined;
  private focusSignature = '';
  private tooltip: L.Tooltip | undefined;
  private hovered: string | undefined;
  /** What the last draw showed (tests and the live subscription read it). */
  mode: DrawMode = 'devices';
  /** Marker size factor: 1 up to a 16 px root size, larger on large screens. */
  private scale = 1;
  /** Frame draw times, ms (the map benchmark reads them). */
  readonly drawTimes: number[] = [];
  /** Called when the drawing mode changes (the view asks the hub for close-up values in 'devices'). */
  onModeChange: ((mode: DrawMode) => void) | undefined;

  constructor(
    private readonly handlers: {
      select: (key: string) => void;
      /** A press on a camera that may become a drag onto the video wall. */
      press?: (key: string, ev: MouseEvent) => void;
    },
  ) {
    super();
    this.focusList.className = 'sr-only map-items';
    this.focusList.setAttribute('role', 'group');
    L.DomEvent.disableClickPropagation(this.focusList);
    // A focused item is ringed on the map and named beside the ring (the same label as on hover):
    // a keyboard user sees where focus is and what it is.
    this.focusList.addEventListener('focusin', (ev) => {
      this.focused = (ev.target as HTMLElement).dataset.item;
      if (this.focused) this.label(this.focused);
      this.focusList.classList.add('has-focus');
      this.schedule();
    });
    this.focusList.addEventListener('focusout', () => {
      this.focused = undefined;
      this.focusList.classList.remove('has-focus');
      this.label(this.hovered);
      this.schedule();
    });
    this.focusList.addEventListener('keydown', (ev) => {
      // Arrow keys move between items as Tab does (the list is long at a village zoom).
      if (ev.key !== 'ArrowDown' && ev.key !== 'ArrowUp') return;
      const buttons = [...this.focusList.querySelectorAll<HTMLElement>('[data-item]')];
      const at = buttons.indexOf(ev.target as HTMLElement);
      const next = buttons[at + (ev.key === 'ArrowDown' ? 1 : -1)];
      if (next) {
        ev.preventDefault();
        next.focus();
      }
    });
    this.focusList.addEventListener('click', (ev) => {
      const id = (ev.target as HTMLElement).closest<HTMLElement>('[data-item]')?.dataset.item;
      if (id) this.activate(id);
    });
  }

  override onAdd(map: L.Map): this {
    const pane = map.getPane('qlyDevices') ?? map.createPane('qlyDevices');
    pane.style.zIndex = '450';
    pane.style.pointerEvents = 'none';
    const canvas = L.DomUtil.create('canvas', 'qly-device-canvas leaflet-zoom-animated', pane);
    this.canvas = canvas;
    this.ctx = canvas.getContext('2d');
    this.focusList.setAttribute('aria-label', t('mapItems'));
    map.getContainer().append(this.focusList);
    map.on('move zoom resize viewreset', this.schedule, this);
    map.on('zoomanim', this.onZoomAnim, this);
    map.on('click', this.onClick, this);
    map.on('mousemove', this.onHover, this);
    map.getContainer().addEventListener('mousedown', this.onDown, true);
    this.schedule();
    return this;
  }

  override onRemove(map: L.Map): this {
    map.off('move zoom resize viewreset', this.schedule, this);
    map.off('zoomanim', this.onZoomAnim, this);
    map.off('click', this.onClick, this);
    map.off('mousemove', this.onHover, this);
    map.getContainer().removeEventListener('mousedown', this.onDown, true);
    cancelAnimationFrame(this.frame);
    this.canvas?.remove();
    this.focusList.remove();
    this.tooltip?.remove();
    return this;
  }

  /** Village and town names and the tree above each village (for clusters). */
  setSites(nodes: ReadonlyArray<Pick<SiteNode, 'id' | 'name' | 'parent' | 'level'>>): void {
    this.sites = new Map(nodes.map((n) => [n.id, { name: n.name, parent: n.parent, level: n.level }]));
    this.focusSignature = '';
    this.schedule();
  }

  /** The language changed: the list's name and every item's words. */
  relabel(): void {
    this.focusList.setAttribute('aria-label', t('mapItems'));
    this.focusSignature = '';
    this.schedule();
  }

  /** Focuses the first item drawn (a skip link lands here); false when nothing is drawn. */
  focusFirst(): boolean {
    const first = this.focusList.querySelector<HTMLElement>('[data-item]');
    first?.focus();
    return first !== null;
  }

  upsert(d: DeviceView): void {
    const prev = this.devices.get(d.key);
    let sector: Fixed['sector'];
    if (d.kind === 'camera' && d.heading !== undefined && d.fov !== undefined) {
      // A PTZ camera looks where it is panned, and narrower as it zooms in.
      const pan = typeof d.values.pan === 'number' ? d.values.pan : 0;
      const zoom = typeof d.values.zoom === 'number' && d.values.zoom >= 1 ? d.values.zoom : 1;
      sector = {
        bearing: Math.round(((d.heading + pan) % 360) * 10) / 10,
        width: Math.round((d.fov / zoom) * 10) / 10,
      };
    }
    const next: Fixed = {
      key: d.key,
      name: d.name,
      kind: d.kind,
      site: d.site,
      status: d.status,
      lat: d.position.lat,
      lon: d.position.lon,
      ...(sector ? { sector } : {}),
    };
    this.devices.set(d.key, next);
    // Redraw only when something drawn changed (a telemetry sample alone changes nothing here).
    if (
      !prev ||
      prev.status !== next.status ||
      prev.lat !== next.lat ||
      prev.lon !== next.lon ||
      prev.name !== next.name ||
      prev.sector?.bearing !== next.sector?.bearing ||
      prev.sector?.width !== next.sector?.width
    )
      this.schedule();
  }

  removeDevice(key: string): void {
    if (this.devices.delete(key)) this.schedule();
  }

  clearDevices(): void {
    this.devices.clear();
    this.schedule();
  }

  has(key: string): boolean {
    return this.devices.has(key);
  }

  where(key: string): L.LatLng | undefined {
    const d = this.devices.get(key);
    return d ? L.latLng(d.lat, d.lon) : undefined;
  }

  /** Every fixed device as drawn data (tests and debugging). */
  list(): Fixed[] {
    return [...this.devices.values()];
  }

  /** The clusters of the last draw, with where they are on the screen (client coordinates). */
  clusterViews(): Array<ClusterView & { x: number; y: number }> {
    const box = this._map?.getContainer().getBoundingClientRect();
    return this.drawn
      .filter((d) => d.id.startsWith('c:'))
      .flatMap((d) => {
        const c = this.clusters.get(d.id.slice(2));
        return c
          ? [
              {
                id: c.id,
                name: c.name,
                lat: c.lat,
                lon: c.lon,
                total: c.total,
                online: c.online,
                offline: c.offline,
                alarm: c.alarm,
                x: (box?.left ?? 0) + d.x,
                y: (box?.top ?? 0) + d.y,
              },
            ]
          : [];
      });
  }

  /** Devices drawn one by one in the last draw (their keys). */
  drawnDevices(): string[] {
    return this.drawn.filter((d) => d.id.startsWith('d:')).map((d) => d.id.slice(2));
  }

  schedule(): void {
    if (this.frame || !this._map) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.draw();
    });
  }

  private onZoomAnim(ev: L.ZoomAnimEvent): void {
    // As Leaflet's own renderers do: scale the current picture toward the new zoom while it animates.
    const map = this._map as L.Map & { _getNewPixelOrigin(c: L.LatLng, z: number): L.Point };
    if (!this.canvas) return;
    const scale = map.getZoomScale(ev.zoom, map.getZoom());
    const half = map.getSize().multiplyBy(0.5);
    const offset = map
      .project(map.getCenter(), ev.zoom)
      .subtract(half.multiplyBy(scale))
      .subtract(map._getNewPixelOrigin(ev.center, ev.zoom));
    L.DomUtil.setTransform(this.canvas, offset, scale);
  }

  private draw(): void {
    const map = this._map;
    const canvas = this.canvas;
    const ctx = this.ctx;
    if (!map || !canvas || !ctx) return;
    const started = performance.now();
    const size = map.getSize();
    const ratio = window.devicePixelRatio || 1;
    L.DomUtil.setPosition(canvas, map.containerPointToLayerPoint([0, 0]));
    if (canvas.width !== Math.round(size.x * ratio) || canvas.height !== Math.round(size.y * ratio)) {
      canvas.width = Math.round(size.x * ratio);
      canvas.height = Math.round(size.y * ratio);
      canvas.style.width = `${size.x}px`;
      canvas.style.height = `${size.y}px`;
    }
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, size.x, size.y);

    const bounds = map.getBounds().pad(0.05);
    const south = bounds.getSouth();
    const north = bounds.getNorth();
    const west = bounds.getWest();
    const east = bounds.getEast();
    const inView: Fixed[] = [];
    for (const d of this.devices.values())
      if (d.lat >= south && d.lat <= north && d.lon >= west && d.lon <= east) inView.push(d);
    // Markers grow with the screen (the root size follows the viewport): legible on a wall.
    this.scale = Math.max(
      1,
      (Number.parseFloat(getComputedStyle(document.documentElement).fontSize) || 16) / 16,
    );
    const zoom = map.getZoom();
    const mode: DrawMode =
      inView.length <= INDIVIDUAL_MAX || zoom >= INDIVIDUAL_ZOOM
        ? 'devices'
        : zoom >= TOWN_ZOOM
          ? 'villages'
          : 'towns';
    const drawn: Drawn[] = [];
    if (mode === 'devices') this.drawDevices(ctx, map, inView, drawn);
    else this.drawClusters(ctx, map, mode, drawn);
    this.drawn = drawn;
    if (mode !== this.mode) {
      this.mode = mode;
      this.onModeChange?.(mode);
    }
    this.syncFocusList();
    this.drawTimes.push(performance.now() - started);
    if (this.drawTimes.length > 1000) this.drawTimes.splice(0, 500);
  }

  private drawDevices(ctx: CanvasRenderingContext2D, map: L.Map, inView: Fixed[], drawn: Drawn[]): void {
    // Sectors first (under every marker), then markers; alarms last so they are on top.
    for (const d of inView) {
      if (!d.sector) continue;
      const at = map.latLngToContainerPoint([d.lat, d.lon]);
      const mPerPx = metresPerPixel(map, d.lat);
      const reach = FOV_RANGE_M / mPerPx;
      const from = ((d.sector.bearing - d.sector.width / 2 - 90) * Math.PI) / 180;
      const to = ((d.sector.bearing + d.sector.width / 2 - 90) * Math.PI) / 180;
      ctx.beginPath();
      ctx.moveTo(at.x, at.y);
      ctx.arc(at.x, at.y, reach, from, to);
      ctx.closePath();
      ctx.fillStyle = withAlpha(STATUS_COLORS[d.status], 0.12);
      ctx.strokeStyle = withAlpha(STATUS_COLORS[d.status], 0.5);
      ctx.lineWidth = 1;
      ctx.fill();
      ctx.stroke();
    }
    const order = [...inView].sort((a, b) => rank(a.status) - rank(b.status));
    for (const d of order) {
      const at = map.latLngToContainerPoint([d.lat, d.lon]);
      const r = (d.kind === 'camera' ? 7 : 6) * this.scale;
      drawStatusShape(ctx, at.x, at.y, r, d.status, KIND_OUTLINES[d.kind]);
      const id = `d:${d.key}`;
      if (id === this.focused || id === this.hovered) focusRing(ctx, at.x, at.y, r + 5);
      drawn.push({ id, x: at.x, y: at.y, r });
    }
  }

  private drawClusters(ctx: CanvasRenderingContext2D, map: L.Map, mode: DrawMode, drawn: Drawn[]): void {
    const clusters = new Map<
      string,
      ClusterView & {
        sumLat: number;
        sumLon: number;
        south: number;
        west: number;
        north: number;
        east: number;
      }
    >();
    for (const d of this.devices.values()) {
      const id = mode === 'towns' ? this.townOf(d.site) : d.site;
      let c = clusters.get(id);
      if (!c) {
        c = {
          id,
          name: this.sites.get(id)?.name ?? id,
          lat: 0,
          lon: 0,
          total: 0,
          online: 0,
          offline: 0,
          alarm: 0,
          sumLat: 0,
          sumLon: 0,
          south: 90,
          west: 180,
          north: -90,
          east: -180,
        };
        clusters.set(id, c);
      }
      c.total += 1;
      c[d.status] += 1;
      c.sumLat += d.lat;
      c.sumLon += d.lon;
      c.south = Math.min(c.south, d.lat);
      c.north = Math.max(c.north, d.lat);
      c.west = Math.min(c.west, d.lon);
      c.east = Math.max(c.east, d.lon);
    }
    this.clusters = new Map();
    const size = map.getSize();
    for (const c of clusters.values()) {
      c.lat = c.sumLat / c.total;
      c.lon = c.sumLon / c.total;
      const at = map.latLngToContainerPoint([c.lat, c.lon]);
      const r = Math.min(34, 14 + Math.log10(c.total) * 6) * this.scale;
      if (at.x < -r || at.y < -r || at.x > size.x + r || at.y > size.y + r) continue;
      this.clusters.set(c.id, c);
      drawCluster(ctx, at.x, at.y, r, c, this.scale);
      const id = `c:${c.id}`;
      if (id === this.focused || id === this.hovered) focusRing(ctx, at.x, at.y, r + 5);
      drawn.push({ id, x: at.x, y: at.y, r });
    }
  }

  private townOf(site: string): string {
    // The nearest ancestor that is a town; the village itself when the tree does not say.
    let at: string | null = site;
    for (let i = 0; at && i < 8; i++) {
      const node = this.sites.get(at);
      if (!node) break;
      if (node.level === 'town' || node.level === 'county') return at;
      at = node.parent;
    }
    return site;
  }

  private hit(point: L.Point): Drawn | undefined {
    let best: Drawn | undefined;
    let bestDistance = Number.POSITIVE_INFINITY;
    for (const d of this.drawn) {
      const distance = Math.hypot(d.x - point.x, d.y - point.y);
      if (distance <= d.r + 4 && distance < bestDistance) {
        best = d;
        bestDistance = distance;
      }
    }
    return best;
  }

  private activate(id: string): void {
    if (id.startsWith('d:')) this.handlers.select(id.slice(2));
    else {
      const c = this.clusters.get(id.slice(2));
      if (!c || !this._map) return;
      const bounds = L.latLngBounds([c.south, c.west], [c.north, c.east]);
      if (bounds.getNorth() === bounds.getSouth() && bounds.getEast() === bounds.getWest())
        this._map.setView(bounds.getCenter(), INDIVIDUAL_ZOOM);
      else this._map.fitBounds(bounds.pad(0.1), { maxZoom: INDIVIDUAL_ZOOM + 1 });
    }
  }

  private readonly onClick = (ev: L.LeafletMouseEvent): void => {
    const item = this.hit(ev.containerPoint);
    if (item) this.activate(item.id);
  };

  private readonly onDown = (ev: MouseEvent): void => {
    if (!this._map || !this.handlers.press || ev.button !== 0) return;
    const box = this._map.getContainer().getBoundingClientRect();
    const item = this.hit(L.point(ev.clientX - box.left, ev.clientY - box.top));
    if (!item?.id.startsWith('d:')) return;
    const key = item.id.slice(2);
    if (this.devices.get(key)?.kind !== 'camera') return;
    // A camera press is ours (it may become a drag onto the video wall): the map does not pan.
    ev.stopPropagation();
    this.handlers.press(key, ev);
  };

  private readonly onHover = (ev: L.LeafletMouseEvent): void => {
    const item = this.hit(ev.containerPoint);
    const id = item?.id;
    if (id === this.hovered) return;
    this.hovered = id;
    const map = this._map;
    if (!map) return;
    map.getContainer().style.cursor = item ? 'pointer' : '';
    if (!this.focused) this.label(id);
    this.schedule();
  };

  /** The label beside a drawn item (hovered or focused); none for undefined. */
  private label(id: string | undefined): void {
    const map = this._map;
    this.tooltip?.remove();
    this.tooltip = undefined;
    const item = id ? this.drawn.find((d) => d.id === id) : undefined;
    if (!map || !item) return;
    this.tooltip = L.tooltip({ direction: 'top', offset: [0, -item.r - 4], className: 'qly-item-label' })
      .setLatLng(map.containerPointToLatLng([item.x, item.y]))
      .setContent(escapeHtml(this.describe(item.id)))
      .addTo(map);
  }

  /** The words for a drawn item: a device's name, village and status; a cluster's counts. */
  describe(id: string): string {
    if (id.startsWith('d:')) {
      const d = this.devices.get(id.slice(2));
      if (!d) return id;
      return `${d.name} · ${this.sites.get(d.site)?.name ?? d.site} · ${t(d.status)}`;
    }
    const c = this.clusters.get(id.slice(2));
    if (!c) return id;
    return `${c.name}: ${c.total} · ${t('online')} ${c.online} · ${t('offline')} ${c.offline} · ${t('alarm')} ${c.alarm}`;
  }

  /** Mirrors the drawn items as buttons (keyboard, screen readers), without disturbing the focused one. */
  private syncFocusList(): void {
    const items = this.drawn.slice(0, MAX_FOCUSABLE);
    const signature = items.map((d) => `${d.id}\u0000${this.describe(d.id)}`).join('\n');
    if (signature === this.focusSignature) return;
    if (this.focusList.contains(document.activeElement)) {
      // Labels may change under focus; the membership waits until focus leaves the list.
      for (const b of this.focusList.querySelectorAll<HTMLElement>('[data-item]'))
        b.setAttribute('aria-label', this.describe(b.dataset.item as string));
      return;
    }
    this.focusSignature = signature;
    this.focusList.replaceChildren(
      ...items.map((d) => {
        const b = document.createElement('button');
        b.type = 'button';
        b.dataset.item = d.id;
        b.textContent = this.describe(d.id);
        return b;
      }),
    );
  }
}

const rank = (s: DeviceStatus) => (s === 'alarm' ? 2 : s === 'offline' ? 1 : 0);

function metresPerPixel(map: L.Map, lat: number): number {
  return (40_075_016.686 * Math.cos((lat * Math.PI) / 180)) / 2 ** (map.getZoom() + 8);
}

function withAlpha(hex: string, alpha: number): string {
  const n = Number.parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255},${(n >> 8) & 255},${n & 255},${alpha})`;
}

/** Status by shape as well as colour: online a filled disc, offline a hollow crossed ring, alarm a triangle. */
function drawStatusShape(
  ctx: CanvasRenderingContext2D,
  x: number,
  y: number,
  r: number,
  status: DeviceStatus,
  outline: string,
): void {
  ctx.lineWidth = 2;
  if (status === 'alarm') {
    ctx.beginPath();
    ctx.moveTo(x, y - r - 3);
    ctx.lineTo(x + r + 2, y + r);
    ctx.lineTo(x - r - 2, y + r);
    ctx.closePath();
    ctx.fillStyle = STATUS_COLORS.alarm;
    ctx.fill();
    ctx.strokeStyle = '#fff';
    ctx.stroke();
    return;
  }
  ctx.beginPath();
  ctx.arc(x, y, r, 0, Math.PI * 2);
  if (status === 'offline') {
    ctx.fillStyle = 'rgba(15,23,42,0.85)';
    ctx.fill();
    ctx.strokeStyle = STATUS_COLORS.offline;
    ctx.stroke();
    ctx.beginPath();
    ctx.moveTo(x - r * 0.6, y - r * 0.6);
    ctx.lineTo(x + r * 0.6, y + r * 0.6);
    ctx.stroke();
    return;
  }
  ctx.fillStyle = STATUS_COLORS.online;
  ctx.fill();
  ctx.strokeStyle = outline;
  ctx.stroke();
}

function drawCluster(
  ctx: CanvasRenderingContext2D,
  x: number,
  y: number,
  r: number,
  c: ClusterView,
  scale = 1,
): void {
  // The ring shows the share of each status; the disc takes the worst one's colour.
  const worst: DeviceStatus = c.alarm > 0 ? 'alarm' : c.offline > 0 && c.online === 0 ? 'offline' : 'online';
  ctx.beginPath();
  ctx.arc(x, y, r, 0, Math.PI * 2);
  ctx.fillStyle = worst === 'alarm' ? '#7f1d1d' : worst === 'offline' ? '#334155' : '#14532d';
  ctx.fill();
  let start = -Math.PI / 2;
  for (const status of ['online', 'offline', 'alarm'] as const) {
    if (c[status] === 0) continue;
    const sweep = (c[status] / c.total) * Math.PI * 2;
    ctx.beginPath();
    ctx.arc(x, y, r - 2, start, start + sweep);
    ctx.strokeStyle = STATUS_COLORS[status];
    ctx.lineWidth = 4;
    ctx.stroke();
    start += sweep;
  }
  ctx.fillStyle = '#fff';
  ctx.font = `bold ${Math.round(14 * scale)}px system-ui, sans-serif`;
  ctx.textAlign = 'center';
  ctx.textBaseline = 'middle';
  ctx.fillText(String(c.total), x, y);
  ctx.font = `${Math.round(14 * scale)}px system-ui, sans-serif`;
  ctx.textBaseline = 'top';
  ctx.lineWidth = 3;
  ctx.strokeStyle = 'rgba(15,23,42,0.9)';
  ctx.strokeText(c.name, x, y + r + 3);
  ctx.fillText(c.name, x, y + r + 3);
  if (c.alarm > 0) {
    // A red triangle with the alarm count at the cluster's top right: never lost in a green cluster.
    const bx = x + r * 0.75;
    const by = y - r * 0.75;
    ctx.beginPath();
    ctx.moveTo(bx, by - 12);
    ctx.lineTo(bx + 13, by + 10);
    ctx.lineTo(bx - 13, by + 10);
    ctx.closePath();
    ctx.fillStyle = STATUS_COLORS.alarm;
    ctx.fill();
    ctx.strokeStyle = '#fff';
    ctx.lineWidth = 2;
    ctx.stroke();
    ctx.fillStyle = '#fff';
    ctx.font = `bold ${Math.round(12 * scale)}px system-ui, sans-serif`;
    ctx.textBaseline = 'middle';
    ctx.fillText(String(c.alarm), bx, by + 3);
  }
}

function focusRing(ctx: CanvasRenderingContext2D, x: number, y: number, r: number): void {
  ctx.beginPath();
  ctx.arc(x, y, r, 0, Math.PI * 2);
  ctx.strokeStyle = '#facc15';
  ctx.lineWidth = 3;
  ctx.stroke();
}
