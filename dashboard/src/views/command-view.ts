/**
 * The command view: a shell around the panels of one table (shell/panels.ts). It draws the header
 * (the views the user's role has, the connection, the language), creates the map every panel may
 * draw on and the device layer on it, mounts each panel into its slot, switches the stage's views,
 * relabels everything on a language switch and disposes everything at the end. What a panel shows
 * comes from the live store; the shell only routes the few actions that cross panels (a device
 * picked on the map, cameras to the wall).
 */
import { hasRole } from '@qianliyan/protocols';
import L from 'leaflet';
import { get } from '../api.ts';
import { escapeHtml } from '../html.ts';
import { getLang, onLangChange, type StringKey, setLang, t } from '../i18n.ts';
import type { LiveStore } from '../live-store.ts';
import { DeviceLayer } from '../map/device-layer.ts';
import { createMapTools } from '../map/map-tools.ts';
import type { BroadcastPanel } from '../panels/broadcast-panel.ts';
import type { CallsPanel } from '../panels/calls-panel.ts';
import type { DeviceDetailPanel } from '../panels/device-detail-panel.ts';
import type { DevicesPanel } from '../panels/devices-panel.ts';
import type { HistoryPanel } from '../panels/history-panel.ts';
import type { WallPanel } from '../panels/wall-panel.ts';
import type { Me, PanelInstance, ShellContext, ViewId } from '../shell/panel.ts';
import { PANELS } from '../shell/panels.ts';
import { VIEWS } from '../shell/views.ts';
import { installTestHooks } from '../test-hooks.ts';
import { measurement } from '../video/stream-client.ts';

const VIEW_KEY = 'qly.stage';

/** The skip links at the top of the page, in tab order, and the stage panel each needs shown. */
const SKIPS: ReadonlyArray<{ target: string; label: StringKey; panel?: string }> = [
  { target: 'skip-map', label: 'skipToMap', panel: 'map' },
  { target: 'skip-devices', label: 'skipToDevices' },
  { target: 'skip-wall', label: 'skipToWall', panel: 'wall' },
  { target: 'skip-alarms', label: 'skipToAlarms' },
];

const BASEMAP_STYLE: Record<string, L.PathOptions> = {
  boundary: { color: '#f59e0b', weight: 2, fillColor: '#f59e0b', fillOpacity: 0.04 },
  grid: { color: '#475569', weight: 1, dashArray: '6 6', fill: false },
  river: { color: '#0ea5e9', weight: 4, opacity: 0.6 },
};

export async function renderCommandView(root: HTMLElement, store: LiveStore, user: Me, signOut: () => void) {
  const views = VIEWS.filter((v) => hasRole(user.role, v.roles));
  const panels = PANELS.filter((p) => hasRole(user.role, p.roles));
  root.innerHTML = `
    <div class="shell">
      <nav class="skip-links" data-role="skip" data-i18n-label="skipLinks">${SKIPS.map(
        (s) => `<a href="#${s.target}" data-skip="${s.target}" data-i18n="${s.label}"></a>`,
      ).join('')}</nav>
      <header class="topbar">
        <div class="brand" lang="zh-CN">千里眼</div>
        <h1 data-i18n="appTitle"></h1>
        <span class="conn" data-role="conn" role="status" aria-live="polite"></span>
        <span class="spacer"></span>
        <nav class="stage-modes" data-role="modes" data-i18n-label="views">${views
          .map((v) => `<button type="button" data-mode="${v.id}" data-i18n="${v.label}"></button>`)
          .join('')}</nav>
        <span class="user">${escapeHtml(user.username)}</span>
        <button type="button" class="link" data-role="lang" data-i18n="language"></button>
        <button type="button" class="link" data-role="logout" data-i18n="signOut"></button>
      </header>
      <aside class="sidebar" data-slot="sidebar" data-i18n-label="sidebar"></aside>
      <main class="stage" data-slot="stage">
        <div id="map" class="map" data-panel="map" data-role="map" data-i18n-label="modeMap"></div>
      </main>
      <div data-slot="overlay"></div>
    </div>`;
  const stage = root.querySelector('[data-slot=stage]') as HTMLElement;
  const mapEl = root.querySelector('[data-panel=map]') as HTMLElement;
  const settings = await get('/api/map');
  const map = L.map(mapEl, { preferCanvas: true, zoomControl: false }).setView(
    [settings.center.lat, settings.center.lon],
    settings.zoom,
  );
  // Leaflet's own strings through i18n too ("Zoom in" is not what a Chinese wall screen should say).
  let zoomControl = L.control.zoom({ zoomInTitle: t('zoomIn'), zoomOutTitle: t('zoomOut') }).addTo(map);
  map.attributionControl.setPrefix('Leaflet');
  if (settings.tileUrl)
    L.tileLayer(settings.tileUrl, { attribution: settings.tileAttribution, maxZoom: 20 }).addTo(map);
  // The basemap is the configured GeoJSON file as the hub read it (typed unknown in the contract).
  const basemap = L.geoJSON(settings.basemap as GeoJSON.GeoJsonObject, {
    style: (f) =>
      BASEMAP_STYLE[(f?.properties as { kind?: string })?.kind ?? ''] ?? { color: '#64748b', weight: 1 },
    pointToLayer: (_f, at) => L.circleMarker(at, { radius: 4, color: '#f59e0b' }),
    onEachFeature: (f, layer) => {
      const name = (f.properties as { name?: string })?.name;
      if (name) layer.bindTooltip(escapeHtml(name), { sticky: true });
    },
  }).addTo(map);
  const fitWhenSized = onceSized(map, mapEl);
  // Open on the village itself when the hub has its outline; on a scoped officer's own part of the
  // tree (a town, a few villages) when the snapshot says what that is.
  if (basemap.getLayers().length > 0)
    fitWhenSized(() => map.fitBounds(basemap.getBounds(), { padding: [24, 24] }));
  let fittedToScope = false;
  const offSitesFit = store.onSites((sites) => {
    if (fittedToScope || sites.length === 0 || sites.some((s) => s.level === 'county')) return;
    fittedToScope = true;
    const bounds = L.latLngBounds([]);
    for (const s of sites) {
      if (s.boundary) bounds.extend(L.geoJSON(s.boundary as GeoJSON.Geometry).getBounds());
      else if (s.center) bounds.extend([s.center.lat, s.center.lon]);
    }
    if (bounds.isValid()) fitWhenSized(() => map.fitBounds(bounds.pad(0.2), { maxZoom: 16 }));
  });
  // Cluster and item labels name villages and towns, not their ids.
  const offSitesCanvas = store.onSites((sites) => layer.fixed.setSites(sites));
  const resizeObserver = new ResizeObserver(() => map.invalidateSize());
  resizeObserver.observe(mapEl);
  const mapTools = createMapTools(map, mapEl);

  const layer = new DeviceLayer(
    map,
    (key) => ctx.pick(key),
    (key, ev) => dragFromMap(key, ev),
  );
  const mounted = new Map<string, PanelInstance>();
  let view: ViewId = 'split';
  const toastState = { last: '' };

  const ctx: ShellContext = {
    store,
    user,
    map,
    mapTools,
    layer,
    get view() {
      return view;
    },
    toast(text) {
      const el = document.createElement('div');
      el.className = 'toast';
      el.setAttribute('role', 'status');
      el.textContent = text;
      root.append(el);
      window.setTimeout(() => el.remove(), 4000);
      toastState.last = text;
    },
    show: (id) => setView(id),
    select(key) {
      const d = key === undefined ? undefined : store.devices.get(key);
      if (!key || !d) {
        devices()?.list.setSelected(undefined);
        updateSubscription();
        return;
      }
      detail()?.panel.show(d);
      map.invalidateSize(); // the panel just took its column: measure now, before any panTo
      devices()?.list.reveal(key);
      devices()?.list.setSelected(key);
      updateSubscription();
    },
    openOnWall(keys, options = {}) {
      const cams = keys.filter((k) => store.devices.get(k)?.capabilities.includes('video')).slice(0, 4);
      if (cams.length === 0) return;
      if (!options.stay && !currentView().panels.includes('wall')) setView('split');
      for (const key of cams) wall()?.wall.show(key);
    },
    siteName: (id) => store.sites.find((s) => s.id === id)?.name ?? id,
    deviceLabel(key) {
      const d = store.devices.get(key);
      return d ? `${d.name} · ${ctx.siteName(d.site)}` : key;
    },
    panel: <T extends PanelInstance>(id: string) => mounted.get(id) as T | undefined,
    pick(key) {
      const d = store.devices.get(key);
      // In the broadcast console a speaker click chooses it as a target.
      if (view === 'broadcast' && d?.kind === 'speaker') return broadcast()?.console.toggle(key);
      ctx.select(key);
      if (d) map.panTo([d.position.lat, d.position.lon]);
      if (d?.capabilities.includes('video')) ctx.openOnWall([key]);
    },
  };
  const detail = () => ctx.panel<DeviceDetailPanel>('device');
  const devices = () => ctx.panel<DevicesPanel>('devices');
  const wall = () => ctx.panel<WallPanel>('wall');
  const broadcast = () => ctx.panel<BroadcastPanel>('broadcast');

  // The panels, each in its slot.
  for (const def of panels) {
    let el: HTMLElement;
    if (def.id === 'map') el = mapEl;
    else {
      el = document.createElement('section');
      el.dataset.panel = def.id;
      (root.querySelector(`[data-slot=${def.slot}]`) as HTMLElement).append(el);
    }
    mounted.set(def.id, def.mount(el, ctx));
  }

  const currentView = () => views.find((v) => v.id === view) ?? (views[0] as (typeof views)[number]);
  function setView(id: ViewId): void {
    const next = views.find((v) => v.id === id);
    if (!next) return;
    const before = currentView();
    view = id;
    localStorage.setItem(VIEW_KEY, id);
    stage.dataset.mode = id;
    stage.dataset.layout = next.layout;
    for (const el of stage.querySelectorAll<HTMLElement>(':scope > [data-panel]'))
      el.classList.toggle('shown', next.panels.includes(el.dataset.panel as string));
    for (const b of root.querySelectorAll<HTMLElement>('button[data-mode]')) {
      b.classList.toggle('active', b.dataset.mode === id);
      b.setAttribute('aria-pressed', String(b.dataset.mode === id));
    }
    for (const p of new Set([...before.panels, ...next.panels])) {
      const was = before.panels.includes(p) && before !== next;
      const is = next.panels.includes(p);
      if (was !== is || before === next) mounted.get(p)?.activate?.(is);
    }
    map.invalidateSize();
  }

  /** Skip links: straight to the map's items, the device list, the wall, the alarms. */
  root.querySelector('[data-role=skip]')?.addEventListener('click', (ev) => {
    const target = (ev.target as HTMLElement).closest<HTMLElement>('[data-skip]')?.dataset.skip;
    if (!target) return;
    ev.preventDefault();
    const needs = SKIPS.find((s) => s.target === target)?.panel;
    if (needs && !currentView().panels.includes(needs)) setView(needs === 'wall' ? 'split' : 'map');
    if (target === 'skip-map') {
      if (!layer.fixed.focusFirst()) mapEl.focus();
    } else if (target === 'skip-devices') devices()?.focus();
    else if (target === 'skip-wall') wall()?.focus?.();
    else if (target === 'skip-alarms') mounted.get('alarms')?.focus?.();
  });
  // Panels not in the first view are told they are hidden (a hidden wall plays nothing).
  for (const [id, p] of mounted) if (PANELS.find((d) => d.id === id)?.slot === 'stage') p.activate?.(false);
  setView((localStorage.getItem(VIEW_KEY) as ViewId | null) ?? 'split');
  root.querySelector('[data-role=modes]')?.addEventListener('click', (ev) => {
    const id = (ev.target as HTMLElement).closest<HTMLElement>('[data-mode]')?.dataset.mode as
      | ViewId
      | undefined;
    if (id) setView(id);
  });

  /**
   * What this page asks the hub for: brief state of everything in scope; values for what the map
   * shows one by one (the close-up viewport) and for the device whose panel is open.
   */
  let subscribeTimer = 0;
  function updateSubscription(): void {
    window.clearTimeout(subscribeTimer);
    subscribeTimer = window.setTimeout(() => {
      const b = map.getBounds().pad(0.2);
      const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));
      const open = detail()?.panel.current;
      store.subscribe({
        brief: true,
        // Close-up values only once the snapshot says what is on screen: before it the empty map
        // reads as close up, and a county would be asked for every device's every sample.
        ...(store.synced && layer.fixed.mode === 'devices'
          ? {
              detail: {
                south: clamp(b.getSouth(), -90, 90),
                west: clamp(b.getWest(), -180, 180),
                north: clamp(b.getNorth(), -90, 90),
                east: clamp(b.getEast(), -180, 180),
              },
            }
          : {}),
        ...(open ? { watch: [open] } : {}),
      });
    }, 250);
  }
  map.on('moveend', updateSubscription);
  layer.fixed.onModeChange = updateSubscription;

  /** Dragging a camera marker onto a tile: the map does not pan meanwhile. */
  function dragFromMap(key: string, down: MouseEvent): void {
    let ghost: HTMLElement | undefined;
    const move = (ev: MouseEvent) => {
      if (!ghost && Math.hypot(ev.clientX - down.clientX, ev.clientY - down.clientY) < 6) return;
      if (!ghost) {
        map.dragging.disable();
        ghost = document.createElement('div');
        ghost.className = 'drag-ghost';
        ghost.textContent = store.devices.get(key)?.name ?? key;
        document.body.append(ghost);
      }
      ghost.style.transform = `translate(${ev.clientX + 8}px, ${ev.clientY + 8}px)`;
    };
    const up = (ev: MouseEvent) => {
      document.removeEventListener('mousemove', move);
      document.removeEventListener('mouseup', up);
      if (!ghost) return;
      ghost.remove();
      map.dragging.enable();
      const w = wall()?.wall;
      const tile = w ? w.tileAt(ev.clientX, ev.clientY) : -1;
      if (tile >= 0) w?.assign(tile, key);
    };
    document.addEventListener('mousemove', move);
    document.addEventListener('mouseup', up);
  }

  /** The last ten minutes of a drone's flight, from stored lat/lon history in 5-second buckets. */
  async function loadTrack(key: string): Promise<void> {
    const to = Date.now();
    const from = to - 600_000;
    const query = (field: string) =>
      get('/api/devices/:key/history', { params: { key }, query: { field, from, to, bucketMs: 5000 } });
    try {
      const [lat, lon] = await Promise.all([query('lat'), query('lon')]);
      const lonAt = new Map(lon.points.map((p) => [p.ts, p.avg]));
      const past = lat.points.flatMap((p) => {
        const lo = lonAt.get(p.ts);
        return lo === undefined ? [] : [{ lat: p.avg, lon: lo }];
      });
      layer.seedTrack(key, past);
    } catch (err) {
      console.warn('drone track not loaded', err);
    }
  }

  /** Benchmarks: how late samples carrying their send time (ms epoch) in `field` are drawn. */
  const lagProbe = { field: '', samples: [] as number[] };
  const offChange = store.onChange((change) => {
    if (change.snapshot) layer.clear();
    for (const k of change.removed) layer.remove(k);
    for (const d of change.devices) {
      const newDrone = d.kind === 'drone' && !layer.hasDrone(d.key);
      const before = store.previousEvent(d.key);
      layer.upsert(d);
      if (d.kind === 'drone') mapTools.droneMoved(d);
      if (newDrone) void loadTrack(d.key);
      // A new camera event (or any alarm) makes the marker pulse.
      if (d.lastEvent && d.lastEvent.ts !== before && !change.snapshot && d.lastEvent.severity !== 'info')
        layer.flash(d.key);
    }
    if (change.snapshot) updateSubscription();
    if (lagProbe.field && !change.snapshot) {
      // publish → drawn: the sample's own send time against the frame that shows it.
      const sent = change.devices.flatMap((d) => {
        const v = d.values[lagProbe.field];
        return typeof v === 'number' ? [v] : [];
      });
      if (sent.length > 0)
        requestAnimationFrame(() => {
          const now = Date.now();
          for (const v of sent) if (lagProbe.samples.length < 200_000) lagProbe.samples.push(now - v);
        });
    }
  });
  for (const d of store.devices.values()) layer.upsert(d);

  // "Live" only while deltas arrive fresh; a page more than 3 s behind says so (never silently late).
  const connEl = root.querySelector('[data-role=conn]') as HTMLElement;
  const showConn = (connected: boolean) => {
    const behind = connected && store.lagMs > 3000;
    connEl.textContent = !connected ? t('disconnected') : behind ? `◐ ${t('behind')}` : `● ${t('live')}`;
    connEl.className = `conn ${!connected ? 'down' : behind ? 'behind' : 'ok'}`;
  };
  const offStatus = store.onStatus(showConn);
  const lagTimer = window.setInterval(() => showConn(store.connected), 1000);

  root.querySelector('[data-role=lang]')?.addEventListener('click', () => {
    setLang(getLang() === 'zh' ? 'en' : 'zh');
  });
  // A language switch redraws every text of every panel; the map and its markers stay as they are.
  const relabel = () => {
    for (const el of root.querySelectorAll<HTMLElement>('[data-i18n]'))
      el.textContent = t(el.dataset.i18n as StringKey);
    for (const el of root.querySelectorAll<HTMLElement>('[data-i18n-label]'))
      el.setAttribute('aria-label', t(el.dataset.i18nLabel as StringKey));
    // The switch names the other language in that language (lang marks it for screen readers).
    root.querySelector('[data-role=lang]')?.setAttribute('lang', getLang() === 'zh' ? 'en' : 'zh-CN');
    document.title = t('appTitle');
    showConn(store.connected);
    layer.fixed.relabel();
    zoomControl.remove();
    zoomControl = L.control.zoom({ zoomInTitle: t('zoomIn'), zoomOutTitle: t('zoomOut') }).addTo(map);
    for (const p of mounted.values()) p.relabel?.();
  };
  relabel();
  const offLang = onLangChange(relabel);
  root.querySelector('[data-role=logout]')?.addEventListener('click', signOut);

  // The test build's window into what the map draws (frame times, lag probes); the production build
  // has none of it (`__QLY_TEST_HOOKS__` is false there and the block is removed).
  if (__QLY_TEST_HOOKS__)
    installTestHooks({
      markers: () => layer.positions(),
      clusters: () => layer.fixed.clusterViews(),
      drawMode: () => layer.fixed.mode,
      drawnDevices: () => layer.fixed.drawnDevices(),
      drawTimes: () => [...layer.fixed.drawTimes],
      listKeys: () => devices()?.list.visibleKeys() ?? [],
      lagMs: () => store.lagMs,
      probeLag: (field: string) => {
        lagProbe.field = field;
        lagProbe.samples = [];
      },
      lagSamples: () => lagProbe.samples.splice(0),
      view: (lat: number, lon: number, zoom: number) => map.setView([lat, lon], zoom, { animate: false }),
      zoom: () => map.getZoom(),
      deviceCount: () => store.devices.size,
      replay: () => mapTools.replayState(),
      targets: () => mapTools.targets(),
      video: () => wall()?.wall.status() ?? [],
      measureLatency: (on: boolean) => {
        measurement.enabled = on;
      },
      flashing: () => layer.flashing(),
      pointOf: (key: string) => {
        const d = store.devices.get(key);
        if (!d) return null;
        const p = map.latLngToContainerPoint([d.position.lat, d.position.lon]);
        const box = mapEl.getBoundingClientRect();
        return { x: box.left + p.x, y: box.top + p.y };
      },
      lastToast: () => toastState.last,
      wall: wall()?.wall,
      history: ctx.panel<HistoryPanel>('history')?.history,
      broadcast: broadcast()?.console,
      calls: ctx.panel<CallsPanel>('calls')?.calls,
    });

  return () => {
    // Before map.remove(): a resize of the dead map would redraw a gone canvas.
    resizeObserver.disconnect();
    for (const p of [...mounted.values()].reverse()) p.dispose?.();
    offChange();
    offStatus();
    offSitesFit();
    offSitesCanvas();
    layer.dispose();
    window.clearInterval(lagTimer);
    offLang();
    map.remove();
  };
}

/**
 * Fitting needs the map's size: before the page's layout (its stylesheet) is in, the container may
 * measure 0 × 0 and any fit would land at the widest zoom. Runs `fit` once the map has a size.
 */
function onceSized(map: L.Map, mapEl: HTMLElement): (fit: () => void) => void {
  const whenSized = (fit: () => void) => {
    if (mapEl.clientWidth > 0 && mapEl.clientHeight > 0) {
      map.invalidateSize();
      fit();
      return;
    }
    const watch = new ResizeObserver(() => {
      if (mapEl.clientWidth === 0 || mapEl.clientHeight === 0) return;
      watch.disconnect();
      map.invalidateSize();
      fit();
    });
    watch.observe(mapEl);
  };
  // After the view's set-up has run (the stage's view decides the map's share of the screen).
  return (fit) => requestAnimationFrame(() => whenSized(fit));
}
