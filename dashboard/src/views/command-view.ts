/**
 * The command view: header, sidebar (gateways and devices), the live map and the device panel.
 * Markers move as deltas arrive; nothing reloads.
 */
import type { DeviceView } from '@qianliyan/protocols';
import L from 'leaflet';
import { api, getToken } from '../api.ts';
import { AlarmList } from '../components/alarm-list.ts';
import { BroadcastConsole } from '../components/broadcast-console.ts';
import { CallPanel } from '../components/call-panel.ts';
import { DeviceList } from '../components/device-list.ts';
import { DevicePanel } from '../components/device-panel.ts';
import type { MapTools } from '../components/drone-tools.ts';
import { GatewayList } from '../components/gateway-list.ts';
import { HistoryView } from '../components/history-view.ts';
import { IncidentBoard } from '../components/incident-board.ts';
import { type SiteNodeView, SiteTreeNav } from '../components/site-tree-nav.ts';
import { escapeHtml } from '../html.ts';
import { getLang, onLangChange, type StringKey, setLang, t } from '../i18n.ts';
import type { LiveStore } from '../live-store.ts';
import { DeviceLayer } from '../map/device-layer.ts';
import { measurement } from '../video/stream-client.ts';
import { DRAG_TYPE, VideoWall } from '../video/video-wall.ts';

type StageMode = 'map' | 'split' | 'wall' | 'history' | 'broadcast' | 'incidents';
const MODE_KEY = 'qly.stage';

interface MapSettings {
  tileUrl: string;
  tileAttribution: string;
  center: { lat: number; lon: number };
  zoom: number;
  basemap: GeoJSON.GeoJsonObject;
}

const BASEMAP_STYLE: Record<string, L.PathOptions> = {
  boundary: { color: '#f59e0b', weight: 2, fillColor: '#f59e0b', fillOpacity: 0.04 },
  grid: { color: '#475569', weight: 1, dashArray: '6 6', fill: false },
  river: { color: '#0ea5e9', weight: 4, opacity: 0.6 },
};

export async function renderCommandView(
  root: HTMLElement,
  store: LiveStore,
  user: { username: string; role: string },
  signOut: () => void,
) {
  root.innerHTML = `
    <div class="shell">
      <header class="topbar">
        <div class="brand">千里眼</div>
        <h1 data-i18n="appTitle"></h1>
        <span class="conn" data-role="conn" role="status" aria-live="polite"></span>
        <span class="spacer"></span>
        <span class="stage-modes" data-role="modes">
          <button data-mode="map" data-i18n="modeMap"></button><button data-mode="split" data-i18n="modeSplit"></button><button data-mode="wall" data-i18n="modeWall"></button><button data-mode="broadcast" data-i18n="modeBroadcast"></button><button data-mode="history" data-i18n="modeHistory"></button><button data-mode="incidents" data-i18n="modeIncidents"></button>
        </span>
        <span class="user">${escapeHtml(user.username)}</span>
        <button class="link" data-role="lang" data-i18n="language"></button>
        <button class="link" data-role="logout" data-i18n="signOut"></button>
      </header>
      <aside class="sidebar">
        <h2><span data-i18n="alarms"></span> <span data-role="alarm-count"></span></h2><ul class="alarms" data-role="alarms" aria-live="assertive" aria-relevant="additions"></ul>
        <h2 data-i18n="sitesTree"></h2><ul class="site-tree" data-role="site-tree"></ul>
        <h2 data-i18n="gateways"></h2><ul class="gateways" data-role="gateways"></ul>
        <h2><span data-i18n="devices"></span> <span data-role="device-count"></span></h2><div class="device-filters" data-role="device-filters"></div><ul class="devices" data-role="devices"></ul>
      </aside>
      <main class="stage" data-role="stage">
        <div id="map" class="map" data-role="map"></div>
        <section data-role="wall"></section>
        <section data-role="history"></section>
        <section data-role="broadcast"></section>
        <section data-role="incidents"></section>
      </main>
      <section data-role="call" aria-label="video call"></section>
      <section class="panel" data-role="panel" hidden></section>
    </div>`;
  const settings = await api<MapSettings>('/api/map');
  const map = L.map(root.querySelector('[data-role=map]') as HTMLElement, {
    preferCanvas: true,
    zoomControl: false,
  }).setView([settings.center.lat, settings.center.lon], settings.zoom);
  // Leaflet's own strings through i18n too ("Zoom in" is not what a Chinese wall screen should say).
  L.control.zoom({ zoomInTitle: t('zoomIn'), zoomOutTitle: t('zoomOut') }).addTo(map);
  map.attributionControl.setPrefix('Leaflet');
  if (settings.tileUrl)
    L.tileLayer(settings.tileUrl, { attribution: settings.tileAttribution, maxZoom: 20 }).addTo(map);
  const basemap = L.geoJSON(settings.basemap, {
    style: (f) =>
      BASEMAP_STYLE[(f?.properties as { kind?: string })?.kind ?? ''] ?? { color: '#64748b', weight: 1 },
    pointToLayer: (_f, at) => L.circleMarker(at, { radius: 4, color: '#f59e0b' }),
    onEachFeature: (f, layer) => {
      const name = (f.properties as { name?: string })?.name;
      if (name) layer.bindTooltip(escapeHtml(name), { sticky: true });
    },
  }).addTo(map);
  // Fitting needs the map's size: before the page's layout (its stylesheet) is in, the container
  // may measure 0 × 0 and any fit would land at the widest zoom. Wait for a real size.
  const mapEl = root.querySelector('[data-role=map]') as HTMLElement;
  const whenSized = (fit: () => void) =>
    // After this view's set-up has run (the stage's mode decides the map's share of the screen).
    requestAnimationFrame(() => fitWhenSized(fit));
  const fitWhenSized = (fit: () => void) => {
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
  // Open on the village itself when the hub has its outline; the configured centre otherwise.
  if (basemap.getLayers().length > 0)
    whenSized(() => map.fitBounds(basemap.getBounds(), { padding: [24, 24] }));
  // A scoped officer (a town, a few villages) opens on their part of the tree.
  void api<Array<{ level: string; center?: { lat: number; lon: number }; boundary?: GeoJSON.Geometry }>>(
    '/api/sites',
  )
    .then((sites) => {
      if (sites.some((s) => s.level === 'county') || sites.length === 0) return;
      const bounds = L.latLngBounds([]);
      for (const s of sites) {
        if (s.boundary) bounds.extend(L.geoJSON(s.boundary).getBounds());
        else if (s.center) bounds.extend([s.center.lat, s.center.lon]);
      }
      if (bounds.isValid()) whenSized(() => map.fitBounds(bounds.pad(0.2), { maxZoom: 16 }));
    })
    .catch(() => undefined);

  // The panel takes a grid column when it opens or closes: the map must re-measure its container.
  const panelEl = root.querySelector('[data-role=panel]') as HTMLElement;
  const resizeObserver = new ResizeObserver(() => map.invalidateSize());
  resizeObserver.observe(root.querySelector('[data-role=map]') as HTMLElement);
  const mapTools = createMapTools(map, root.querySelector('[data-role=map]') as HTMLElement);
  const panel = new DevicePanel(panelEl, () => refreshLists(), user.role, mapTools);
  const offCommand = store.onCommand((c) => panel.onCommand(c));
  let legend = addLegend(map);
  const stage = root.querySelector('[data-role=stage]') as HTMLElement;
  const wall = new VideoWall(root.querySelector('[data-role=wall]') as HTMLElement, {
    device: (key) => store.devices.get(key),
    role: user.role,
    command: (key, action, params) =>
      api(`/api/devices/${encodeURIComponent(key)}/commands`, {
        method: 'POST',
        body: JSON.stringify({ action, params }),
      }),
    snapshot: (key) => saveSnapshot(key),
  });
  const broadcastConsole = new BroadcastConsole(
    root.querySelector('[data-role=broadcast]') as HTMLElement,
    map,
    () => store.devices,
    (l) => store.onBroadcast(l),
  );
  const history = new HistoryView(
    root.querySelector('[data-role=history]') as HTMLElement,
    () => store.devices,
  );
  const socket = store.socketIo;
  const calls = socket
    ? new CallPanel(root.querySelector('[data-role=call]') as HTMLElement, socket, user, {
        site: (id) => siteNames.get(id) ?? id,
        cameras: () =>
          [...store.devices.values()]
            .filter((d) => d.capabilities.includes('video'))
            .map((d) => ({ key: d.key, name: `${d.name} · ${siteNames.get(d.site) ?? d.site}` })),
      })
    : undefined;
  const incidentPins = L.layerGroup().addTo(map);
  const board = new IncidentBoard(root.querySelector('[data-role=incidents]') as HTMLElement, {
    role: user.role,
    villages: () => villageChoices,
    siteName: (id) => siteNames.get(id) ?? id,
    isCamera: (key) => store.devices.get(key)?.capabilities.includes('snapshot') ?? false,
    deviceName: (key) => {
      const d = store.devices.get(key);
      return d ? `${d.name} · ${siteNames.get(d.site) ?? d.site}` : key;
    },
    pickPoint: () => {
      setMode('split');
      return mapTools.pickPoint();
    },
    call: (incident) => {
      void calls
        ?.start({ sites: [incident.site], incident: incident.id })
        .catch((err) => toast(`${t('callFailed')}: ${(err as Error).message}`));
    },
    openCameras: (keys) => openOnWall(keys),
    onChange: (list) => {
      // Open incidents with a place are pins on the map; a click opens the incident.
      incidentPins.clearLayers();
      for (const i of list) {
        if (!i.location || i.status === 'closed' || i.status === 'resolved') continue;
        L.marker([i.location.lat, i.location.lon], {
          icon: L.divIcon({
            className: `qly-incident prio-${i.priority}`,
            html: '<span>⚠</span>',
            iconSize: [28, 28],
          }),
          title: `#${i.id} ${i.title}`,
          alt: `#${i.id} ${i.title}`,
        })
          .on('click', () => {
            setMode('incidents');
            board.open(i.id);
          })
          .addTo(incidentPins);
      }
    },
  });
  let villageChoices: Array<{ id: string; name: string }> = [];
  void board.load().catch((err) => console.warn('incidents not loaded', err));
  /** Cameras to the video wall (a linkage plan): the first four. */
  function openOnWall(keys: string[]): void {
    const cams = keys.filter((k) => store.devices.get(k)?.capabilities.includes('video')).slice(0, 4);
    if (cams.length === 0) return;
    if (stage.dataset.mode === 'map' || stage.dataset.mode === 'incidents') setMode('split');
    for (const key of cams) wall.show(key);
  }
  socket?.on('incident', (incident) => board.upsert(incident));
  socket?.on('linkage', ({ plan }) => {
    board.linkage(plan);
    // A rule fired: its cameras go up on the wall at once, and the officer is told.
    if (plan.rule !== null) {
      openOnWall(plan.cameras.map((c) => c.key));
      toast(
        `${t('linkage')}: ${plan.incident ? `${t('incident')} #${plan.incident}` : ''} ${plan.cameras.length} / ${plan.speakers.length}`,
      );
    }
  });
  panelEl.addEventListener('click', (ev) => {
    const link = (ev.target as HTMLElement).closest<HTMLElement>('[data-open-history]');
    if (!link) return;
    setMode('history');
    history.open(link.dataset.key as string, link.dataset.openHistory);
  });
  const setMode = (mode: StageMode) => {
    stage.dataset.mode = mode;
    localStorage.setItem(MODE_KEY, mode);
    for (const b of root.querySelectorAll<HTMLElement>('[data-mode]'))
      b.classList.toggle('active', b.dataset.mode === mode);
    if (mode === 'history') history.refresh();
    broadcastConsole.setActive(mode === 'broadcast');
    map.invalidateSize();
  };
  setMode((localStorage.getItem(MODE_KEY) as StageMode | null) ?? 'split');
  root.querySelector('[data-role=modes]')?.addEventListener('click', (ev) => {
    const mode = (ev.target as HTMLElement).closest<HTMLElement>('[data-mode]')?.dataset.mode as
      | StageMode
      | undefined;
    if (mode) setMode(mode);
  });
  /** A camera to the wall (switching from map-only to split so it can be seen). */
  const watch = (key: string) => {
    if (stage.dataset.mode === 'map') setMode('split');
    wall.show(key);
  };
  const layer = new DeviceLayer(
    map,
    (key) => {
      const d = store.devices.get(key);
      // In the broadcast console a speaker click chooses it as a target.
      if (stage.dataset.mode === 'broadcast' && d?.kind === 'speaker') return broadcastConsole.toggle(key);
      select(key);
      if (d?.capabilities.includes('video')) watch(key);
    },
    (key, ev) => dragFromMap(key, ev),
  );

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
      store.subscribe({
        brief: true,
        ...(layer.fixed.mode === 'devices'
          ? {
              detail: {
                south: clamp(b.getSouth(), -90, 90),
                west: clamp(b.getWest(), -180, 180),
                north: clamp(b.getNorth(), -90, 90),
                east: clamp(b.getEast(), -180, 180),
              },
            }
          : {}),
        ...(panel.current ? { watch: [panel.current] } : {}),
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
      const tile = wall.tileAt(ev.clientX, ev.clientY);
      if (tile >= 0) wall.assign(tile, key);
    };
    document.addEventListener('mousemove', move);
    document.addEventListener('mouseup', up);
  }

  async function saveSnapshot(key: string): Promise<void> {
    try {
      const res = await fetch(`/api/devices/${encodeURIComponent(key)}/snapshot`, {
        headers: { authorization: `Bearer ${getToken() ?? ''}` },
      });
      if (!res.ok)
        throw new Error(
          ((await res.json().catch(() => ({}))) as { message?: string }).message ?? res.statusText,
        );
      const blob = await res.blob();
      const a = document.createElement('a');
      a.href = URL.createObjectURL(blob);
      a.download = `${key}-${new Date().toISOString().replace(/[:.]/g, '-')}.jpg`;
      a.click();
      window.setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
      toast(`${t('snapshotSaved')}: ${store.devices.get(key)?.name ?? key}`);
    } catch (err) {
      toast(`${t('snapshotFailed')}: ${(err as Error).message}`);
    }
  }

  function toast(text: string): void {
    const el = document.createElement('div');
    el.className = 'toast';
    el.textContent = text;
    root.append(el);
    window.setTimeout(() => el.remove(), 4000);
    lastToast = text;
  }
  let lastToast = '';
  const alarms = new AlarmList(
    root.querySelector('[data-role=alarms]') as HTMLElement,
    root.querySelector('[data-role=alarm-count]') as HTMLElement,
    (key) => store.devices.get(key),
    (key) => {
      const d = store.devices.get(key);
      // In the broadcast console a speaker click chooses it as a target.
      if (stage.dataset.mode === 'broadcast' && d?.kind === 'speaker') return broadcastConsole.toggle(key);
      select(key);
      if (d) map.panTo([d.position.lat, d.position.lon]);
      if (d?.capabilities.includes('video')) watch(key);
    },
    ['admin', 'duty_officer', 'village_operator'].includes(user.role),
    (id) => {
      setMode('incidents');
      board.open(id);
    },
  );
  const offAlarm = store.onAlarm((a) => {
    alarms.upsert(a);
    if (a.ackedAt === null) layer.flash(a.device);
  });
  void alarms.load().catch((err) => console.warn('alarms not loaded', err));
  const gatewaysEl = root.querySelector('[data-role=gateways]') as HTMLElement;
  const devicesEl = root.querySelector('[data-role=devices]') as HTMLElement;
  const countEl = root.querySelector('[data-role=device-count]') as HTMLElement;
  const connEl = root.querySelector('[data-role=conn]') as HTMLElement;

  function select(key: string): void {
    const d = store.devices.get(key);
    if (!d) return;
    panel.show(d);
    map.invalidateSize(); // the panel just took its column: measure now, before any panTo
    deviceList.reveal(key);
    refreshLists();
  }

  /** The last ten minutes of a drone's flight, from stored lat/lon history in 5-second buckets. */
  async function loadTrack(key: string): Promise<void> {
    const to = Date.now();
    const from = to - 600_000;
    const query = (field: string) =>
      api<{ points: Array<{ ts: number; avg: number }> }>(
        `/api/devices/${encodeURIComponent(key)}/history?field=${field}&from=${from}&to=${to}&bucketMs=5000`,
      );
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

  // Village names beside device names (two villages' "摄像头 01" told apart).
  const siteNames = new Map<string, string>();
  const deviceList = new DeviceList(
    devicesEl,
    root.querySelector('[data-role=device-filters]') as HTMLElement,
    store.devices,
    (id) => siteNames.get(id) ?? id,
    (shown, total) => {
      countEl.textContent = shown === total ? `(${total})` : `(${shown} / ${total})`;
    },
  );
  const gatewayList = new GatewayList(gatewaysEl);
  const siteNav = new SiteTreeNav(root.querySelector('[data-role=site-tree]') as HTMLElement, (node) => {
    if (node.boundary) map.fitBounds(L.geoJSON(node.boundary).getBounds(), { padding: [24, 24] });
    else if (node.center)
      map.setView(
        [node.center.lat, node.center.lon],
        node.level === 'county' ? 12 : node.level === 'town' ? 13 : 15,
      );
  });
  const loadSites = () =>
    api<SiteNodeView[]>('/api/sites')
      .then((sites) => {
        siteNav.show(sites);
        villageChoices = sites.filter((s) => s.level === 'village' || s.level === 'grid');
        layer.fixed.setSites(sites);
        deviceList.setSites(sites);
        const before = siteNames.size;
        for (const s of sites) siteNames.set(s.id, s.name);
        if (siteNames.size !== before) deviceList.refresh();
      })
      .catch(() => undefined);
  void loadSites();
  const sitesTimer = window.setInterval(loadSites, 5000);
  let listsQueued = false;
  function refreshLists(): void {
    if (listsQueued) return;
    listsQueued = true;
    requestAnimationFrame(() => {
      listsQueued = false;
      deviceList.setSelected(panel.current);
      gatewayList.update(store.gateways.values());
      updateSubscription();
    });
  }

  devicesEl.addEventListener('dragstart', (ev) => {
    const key = (ev.target as HTMLElement).closest<HTMLElement>('[data-key]')?.dataset.key;
    if (key && ev.dataTransfer) {
      ev.dataTransfer.setData(DRAG_TYPE, key);
      ev.dataTransfer.effectAllowed = 'copy';
    }
  });
  devicesEl.addEventListener('click', (ev) => {
    const item = (ev.target as HTMLElement).closest<HTMLElement>('[data-key]');
    if (!item?.dataset.key) return;
    select(item.dataset.key);
    const d = store.devices.get(item.dataset.key);
    if (d) map.panTo([d.position.lat, d.position.lon]);
  });

  /** Benchmarks: how late samples carrying their send time (ms epoch) in `field` are drawn. */
  const lagProbe = { field: '', samples: [] as number[] };
  const offChange = store.onChange((change) => {
    if (change.snapshot) layer.clear();
    for (const k of change.removed) layer.remove(k);
    for (const d of change.devices) {
      const newDrone = d.kind === 'drone' && !layer.hasDrone(d.key);
      const before = store.previousEvent(d.key);
      layer.upsert(d);
      if (newDrone) void loadTrack(d.key);
      panel.update(d as DeviceView);
      wall.deviceChanged(d);
      // A new camera event (or any alarm) makes the marker pulse.
      if (d.lastEvent && d.lastEvent.ts !== before && !change.snapshot && d.lastEvent.severity !== 'info')
        layer.flash(d.key);
    }
    deviceList.changed(change);
    if (change.snapshot || change.gateways.length > 0) refreshLists();
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
  // "Live" only while deltas arrive fresh; a page more than 3 s behind says so (never silently late).
  const showConn = (connected: boolean) => {
    const behind = connected && store.lagMs > 3000;
    connEl.textContent = !connected ? t('disconnected') : behind ? `◐ ${t('behind')}` : `● ${t('live')}`;
    connEl.className = `conn ${!connected ? 'down' : behind ? 'behind' : 'ok'}`;
  };
  const offStatus = store.onStatus(showConn);
  const lagTimer = setInterval(() => showConn(store.connected), 1000);
  showConn(store.connected);
  for (const d of store.devices.values()) layer.upsert(d);
  refreshLists();
  const ticker = window.setInterval(refreshLists, 1000); // keeps "N seconds ago" current

  root.querySelector('[data-role=lang]')?.addEventListener('click', () => {
    setLang(getLang() === 'zh' ? 'en' : 'zh');
  });
  // A language switch re-renders the text only; the map and its markers stay as they are.
  const relabel = () => {
    for (const el of root.querySelectorAll<HTMLElement>('[data-i18n]'))
      el.textContent = t(el.dataset.i18n as StringKey);
    showConn(store.connected);
    refreshLists();
    deviceList.refresh();
    wall.relabel();
    alarms.render();
    legend.remove();
    legend = addLegend(map);
    const open = panel.current ? store.devices.get(panel.current) : undefined;
    if (open) panel.show(open, true);
  };
  relabel();
  const offLang = onLangChange(relabel);
  root.querySelector('[data-role=logout]')?.addEventListener('click', signOut);

  // For end-to-end tests and debugging from the console: what the map draws right now.
  (window as unknown as { __qly: unknown }).__qly = {
    markers: () => layer.positions(),
    /** The clusters drawn now (screen coordinates), the drawing mode and the devices drawn one by one. */
    clusters: () => layer.fixed.clusterViews(),
    drawMode: () => layer.fixed.mode,
    drawnDevices: () => layer.fixed.drawnDevices(),
    drawTimes: () => [...layer.fixed.drawTimes],
    listKeys: () => deviceList.visibleKeys(),
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
    video: () => wall.status(),
    measureLatency: (on: boolean) => {
      measurement.enabled = on;
    },
    flashing: () => layer.flashing(),
    alarms: () => alarms.list(),
    /** Where a device's marker is on the screen (client coordinates), for clicks and drags. */
    pointOf: (key: string) => {
      const d = store.devices.get(key);
      if (!d) return null;
      const p = map.latLngToContainerPoint([d.position.lat, d.position.lon]);
      const box = (root.querySelector('[data-role=map]') as HTMLElement).getBoundingClientRect();
      return { x: box.left + p.x, y: box.top + p.y };
    },
    lastToast: () => lastToast,
    wall,
    history,
    broadcast: broadcastConsole,
    incidents: board,
    calls,
  };

  return () => {
    board.dispose();
    calls?.hangup();
    resizeObserver.disconnect(); // before map.remove(): a resize of the dead map would redraw a gone canvas
    panel.hide();
    wall.dispose();
    offChange();
    offCommand();
    offAlarm();
    layer.dispose();
    offStatus();
    clearInterval(lagTimer);
    clearInterval(sitesTimer);
    offLang();
    window.clearInterval(ticker);
    map.remove();
  };
}

/** The map side of the drone tools: picking a point, drawing a replayed flight. */
function createMapTools(map: L.Map, container: HTMLElement): MapTools & { replayState(): unknown } {
  let replayPath: L.Polyline | undefined;
  let cursor: L.CircleMarker | undefined;
  return {
    pickPoint: () =>
      new Promise((resolve) => {
        container.classList.add('picking');
        const done = (value: { lat: number; lon: number } | null) => {
          container.classList.remove('picking');
          map.off('click', onClick);
          document.removeEventListener('keydown', onKey);
          resolve(value);
        };
        const onClick = (e: L.LeafletMouseEvent) => done({ lat: e.latlng.lat, lon: e.latlng.lng });
        const onKey = (e: KeyboardEvent) => {
          if (e.key === 'Escape') done(null);
        };
        map.once('click', onClick);
        document.addEventListener('keydown', onKey);
      }),
    showReplay: (points) => {
      replayPath?.remove();
      cursor?.remove();
      const latlngs = points.map((p) => L.latLng(p.lat, p.lon));
      replayPath = L.polyline(latlngs, {
        color: '#a78bfa',
        weight: 3,
        opacity: 0.8,
        interactive: false,
      }).addTo(map);
      cursor = L.circleMarker(latlngs[0] as L.LatLng, {
        radius: 8,
        color: '#f5f3ff',
        weight: 2,
        fillColor: '#8b5cf6',
        fillOpacity: 1,
        interactive: false,
      }).addTo(map);
      map.fitBounds(replayPath.getBounds(), { padding: [40, 40], maxZoom: 17 });
    },
    moveReplayCursor: (p) => cursor?.setLatLng([p.lat, p.lon]),
    clearReplay: () => {
      replayPath?.remove();
      cursor?.remove();
      replayPath = undefined;
      cursor = undefined;
    },
    replayState: () =>
      cursor && replayPath
        ? {
            points: (replayPath.getLatLngs() as L.LatLng[]).length,
            cursor: { lat: cursor.getLatLng().lat, lon: cursor.getLatLng().lng },
          }
        : null,
  };
}

/** Status colours, kind outlines, the field-of-view sector and the drone track, explained. */
function addLegend(map: L.Map): L.Control {
  const legend = new L.Control({ position: 'bottomleft' });
  legend.onAdd = () => {
    const el = L.DomUtil.create('div', 'legend');
    // Classes, not style attributes: the dashboard runs under a CSP without 'unsafe-inline'.
    const dot = (cls: string) => `<span class="dot ${cls}"></span>`;
    el.innerHTML = `
      <strong>${t('legend')}</strong>
      <div>${dot('status-online')} ${t('online')} ${dot('status-offline')} ${t('offline')} ${dot('status-alarm')} ${t('alarm')}</div>
      <div>${dot('kind-camera')} ${t('kind_camera')} ${dot('kind-speaker')} ${t('kind_speaker')}
        ${dot('kind-sensor')} ${t('kind_sensor')}</div>
      <div><span class="swatch sector"></span> ${t('fieldOfView')} <span class="swatch track"></span> ${t('droneTrack')}</div>
      <div><span class="swatch route"></span> ${t('droneRoute')} ▲ ${t('kind_drone')}</div>`;
    return el;
  };
  legend.addTo(map);
  return legend;
}
