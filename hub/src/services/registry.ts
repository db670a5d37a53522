/**
 * The device and gateway registry: built from retained `state`/`meta`/`availability` and live
 * traffic, persisted to the state DB, and the source of the map's live state. Changes are announced
 * on the event bus (`deviceChanged`, `gatewayChanged`).
 *
 * Status: a device is offline when its gateway is (last will, or silent for three heartbeats) or
 * when the gateway reports it unreachable; red (alarm) while its latest alarm event is fresh.
 * Devices are indexed by site and by gateway, so scoped queries cost what is in scope.
 */
import {
  type DeviceAvailability,
  type DeviceEvent,
  type DeviceMeta,
  type DeviceStatus,
  type DeviceView,
  deviceKey,
  type GatewayRecording,
  type GatewayState,
  type GatewayView,
  type TelemetryValues,
} from '@qianliyan/protocols';
import type { StateDb } from '../stores/state-db.ts';
import type { EventBus } from './event-bus.ts';

interface GatewayEntry {
  id: string;
  site: string;
  online: boolean;
  stale: boolean;
  version: string | null;
  lastSeen: number | null;
  outboxDepth: number | null;
  outboxDropped: number | null;
  recording?: GatewayRecording;
  /** The gateway's announced heartbeat period, when it sent one. */
  heartbeatMs: number | null;
  /** `ts` of the newest state applied, to ignore older retained copies. */
  stateTs: number;
  /** When the agent last started, as it reported. */
  startedAt?: number;
}

type DeviceEntry = DeviceView & { metaTs: number; availabilityTs: number };

/**
 * What one hub of a cluster sends the others about the devices and gateways that changed there
 * (cluster/registry-fanout.ts): the entries as they are, latest per key.
 */
export interface RegistryReplica {
  devices: DeviceEntry[];
  gateways: GatewayEntry[];
}

export interface RegistryOptions {
  /** Offline after this long without a message, for gateways that do not announce a heartbeat. */
  heartbeatTimeoutMs: number;
  alarmHoldMs: number;
}

/** A gateway announcing its heartbeat period is offline after this many periods of silence. */
const MISSED_HEARTBEATS = 3;
/** Silent this many heartbeat periods: stale (its alarm is raised; offline comes at three). */
const STALE_AFTER_HEARTBEATS = 1.5;
const SWEEP_MS = 250;

export class Registry {
  private readonly devices = new Map<string, DeviceEntry>();
  private readonly gateways = new Map<string, GatewayEntry>();
  private readonly bySite = new Map<string, Set<string>>();
  private readonly byGateway = new Map<string, Set<string>>();
  private sweepTimer: NodeJS.Timeout | undefined;
  /** Devices' alarm holds expire at most once a second (gateways are judged at every sweep). */
  private lastDeviceSweep = 0;
  private applyingReplica = false;

  constructor(
    private readonly db: StateDb,
    private readonly bus: EventBus,
    private readonly options: RegistryOptions,
  ) {}

  start(): void {
    for (const gw of this.db.listGateways()) this.gatewayEntry(gw.id, gw.site);
    for (const row of this.db.listDevices()) {
      this.index({
        ...this.viewFromMeta(row.site, row.gateway, row.device, row.meta),
        metaTs: row.updatedAt,
        availabilityTs: 0,
        status: 'offline',
      });
    }
    // Four times a second: a gateway silent for a heartbeat and a half is stale within a quarter of a
    // second, so a silent gateway (SIGSTOP, a cut uplink) is alarmed within two heartbeat periods.
    // A sweep that itself ran late (the hub's event loop was blocked) does not judge silence: the
    // messages that arrived meanwhile are still queued behind the timers and are read first.
    let last = Date.now();
    this.sweepTimer = setInterval(() => {
      const now = Date.now();
      const late = now - last > 2 * SWEEP_MS;
      last = now;
      this.sweep(now, !late);
    }, SWEEP_MS);
    this.sweepTimer.unref();
  }

  stop(): void {
    clearInterval(this.sweepTimer);
  }

  listDevices(): DeviceView[] {
    return [...this.devices.values()].map(publicView);
  }

  /** Devices of the given sites only: the cost is what those sites hold, not the whole registry. */
  listDevicesOfSites(sites: Iterable<string>): DeviceView[] {
    const out: DeviceView[] = [];
    for (const site of sites)
      for (const key of this.bySite.get(site) ?? []) {
        const d = this.devices.get(key);
        if (d) out.push(publicView(d));
      }
    return out;
  }

  getDevice(key: string): DeviceView | undefined {
    const d = this.devices.get(key);
    return d ? publicView(d) : undefined;
  }

  hasDevice(gateway: string, device: string): boolean {
    return this.devices.has(deviceKey(gateway, device));
  }

  deviceCount(): number {
    return this.devices.size;
  }

  deviceCountOf(gateway: string): number {
    return this.byGateway.get(gateway)?.size ?? 0;
  }

  listGateways(): GatewayView[] {
    return [...this.gateways.values()].map((g) => this.gatewayView(g));
  }

  getGateway(id: string): GatewayView | undefined {
    const g = this.gateways.get(id);
    return g ? this.gatewayView(g) : undefined;
  }

  onlineGatewayCount(): number {
    let n = 0;
    for (const g of this.gateways.values()) if (g.online) n++;
    return n;
  }

  /** True while changes another hub sent are announced (so they are not sent back). */
  get replicating(): boolean {
    return this.applyingReplica;
  }

  /** The entries of the given keys as they are now, for the other hubs of a cluster. */
  replicaOf(deviceKeys: Iterable<string>, gatewayIds: Iterable<string>): RegistryReplica {
    const devices: DeviceEntry[] = [];
    const gateways: GatewayEntry[] = [];
    for (const key of deviceKeys) {
      const d = this.devices.get(key);
      if (d) devices.push(d);
    }
    for (const id of gatewayIds) {
      const g = this.gateways.get(id);
      if (g) gateways.push(g);
    }
    return { devices, gateways };
  }

  /**
   * Takes what another hub ingested: its entries replace ours (it saw the newer message) and are
   * announced on this hub's bus, so its live sockets see them. Nothing is written to the state DB
   * (the ingesting hub did) and no `deviceEvent` is raised (alarms were raised where it arrived).
   */
  applyReplica(replica: RegistryReplica): void {
    this.applyingReplica = true;
    try {
      for (const g of replica.gateways) {
        const mine = this.gatewayEntry(g.id, g.site);
        Object.assign(mine, g, { lastSeen: Math.max(mine.lastSeen ?? 0, g.lastSeen ?? 0) || null });
        this.bus.emit('gatewayChanged', { id: g.id });
      }
      for (const d of replica.devices) {
        const mine = this.devices.get(d.key);
        this.index(mine ? this.merged(mine, d) : d);
        this.bus.emit('deviceChanged', { key: d.key });
      }
    } finally {
      this.applyingReplica = false;
    }
  }

  /**
   * A peer's entry over ours, part by part, each by its own time: the broker deals one device's
   * messages to several hubs, so the peer may have the newer values but an older descriptor (a
   * camera's second descriptor, with its commands, replaced by the first one here lost its video).
   */
  private merged(mine: DeviceEntry, peer: DeviceEntry): DeviceEntry {
    const described = peer.metaTs >= mine.metaTs ? peer : mine;
    const peerValuesNewer = (peer.valuesTs ?? 0) >= (mine.valuesTs ?? 0);
    const values = peerValuesNewer ? { ...mine.values, ...peer.values } : { ...peer.values, ...mine.values };
    const availability = peer.availabilityTs >= mine.availabilityTs ? peer : mine;
    const event =
      peer.lastEvent && (!mine.lastEvent || peer.lastEvent.ts >= mine.lastEvent.ts)
        ? peer.lastEvent
        : mine.lastEvent;
    const { unreachable: _u, lastEvent: _e, ...rest } = described;
    const entry: DeviceEntry = {
      ...rest,
      values,
      valuesTs: Math.max(peer.valuesTs ?? 0, mine.valuesTs ?? 0) || null,
      // A moving device's live position comes with its values; a fixed one's with its descriptor.
      position:
        typeof values.lat === 'number' && typeof values.lon === 'number'
          ? (peerValuesNewer ? peer : mine).position
          : described.position,
      lastSeen: Math.max(peer.lastSeen ?? 0, mine.lastSeen ?? 0) || null,
      availabilityTs: availability.availabilityTs,
      ...(availability.unreachable ? { unreachable: availability.unreachable } : {}),
      ...(event ? { lastEvent: event } : {}),
    };
    entry.status = this.statusOf(entry, this.gateways.get(entry.gateway));
    return entry;
  }

  /** Makes a newly registered gateway known (offline until it connects). */
  registerGateway(id: string, site: string): void {
    const g = this.gatewayEntry(id, site);
    g.site = site;
    this.bus.emit('gatewayChanged', { id });
  }

  /** Forgets a gateway and its devices (an administrator deleted it); returns the device keys. */
  removeGateway(id: string): string[] {
    const keys = [...(this.byGateway.get(id) ?? [])];
    for (const key of keys) {
      const d = this.devices.get(key);
      if (!d) continue;
      this.devices.delete(key);
      this.bySite.get(d.site)?.delete(key);
    }
    this.byGateway.delete(id);
    this.gateways.delete(id);
    this.db.deleteDevicesOf(id);
    return keys;
  }

  /** Any valid message from a gateway proves it is alive. */
  touch(site: string, gateway: string, now = Date.now()): void {
    const g = this.gatewayEntry(gateway, site);
    g.lastSeen = now;
    if (!g.online) this.setGatewayOnline(g, true);
    else if (g.stale) {
      g.stale = false;
      this.bus.emit('gatewayChanged', { id: g.id });
    }
  }

  applyState(site: string, gateway: string, state: GatewayState, retained: boolean): void {
    const g = this.gatewayEntry(gateway, site);
    if (!('seq' in state)) {
      // The last will: the broker saw the connection drop.
      this.setGatewayOnline(g, false);
      return;
    }
    // A retained copy is compared by timestamp, because seq restarts when a gateway gets a new outbox.
    if (retained && state.ts < g.stateTs) return;
    g.stateTs = Math.max(g.stateTs, state.ts);
    if (state.version) g.version = state.version;
    if (state.startedAt) g.startedAt = state.startedAt;
    if (state.heartbeatMs) g.heartbeatMs = state.heartbeatMs;
    if (state.outbox) {
      g.outboxDepth = state.outbox.depth;
      g.outboxDropped = state.outbox.dropped;
    }
    if (state.recording) g.recording = state.recording;
    if (!state.online) {
      this.setGatewayOnline(g, false);
      return;
    }
    // A retained "online" is only as fresh as its timestamp: the heartbeat decides from there.
    const seen = retained ? state.ts : Date.now();
    g.lastSeen = Math.max(g.lastSeen ?? 0, seen);
    const alive = Date.now() - g.lastSeen < this.timeoutOf(g);
    if (alive !== g.online) this.setGatewayOnline(g, alive);
    else this.bus.emit('gatewayChanged', { id: g.id });
  }

  applyMeta(site: string, gateway: string, device: string, meta: DeviceMeta, retained: boolean): void {
    const key = deviceKey(gateway, device);
    const existing = this.devices.get(key);
    if (retained && existing && meta.ts < existing.metaTs) return; // an older retained copy
    const { seq, epoch: _epoch, ts, ...descriptor } = meta;
    const g = this.gatewayEntry(gateway, site);
    const view: DeviceEntry = {
      ...this.viewFromMeta(site, gateway, device, descriptor),
      metaTs: ts,
      availabilityTs: existing?.availabilityTs ?? 0,
      lastSeen: existing?.lastSeen ?? null,
      values: existing?.values ?? {},
      valuesTs: existing?.valuesTs ?? null,
      ...(existing?.unreachable ? { unreachable: existing.unreachable } : {}),
      ...(existing?.lastEvent ? { lastEvent: existing.lastEvent } : {}),
      status: 'online',
    };
    // A moving device (drone) keeps its live position over the static one in its descriptor.
    if (existing && typeof existing.values.lat === 'number' && typeof existing.values.lon === 'number') {
      view.position = existing.position;
    }
    view.status = this.statusOf(view, g);
    this.index(view);
    this.db.upsertDevice({ gateway, device, site, meta: descriptor, metaSeq: seq, updatedAt: ts });
    this.bus.emit('deviceChanged', { key });
  }

  applyAvailability(gateway: string, device: string, a: DeviceAvailability, retained: boolean): void {
    const d = this.devices.get(deviceKey(gateway, device));
    if (!d) return;
    if (retained && a.ts < d.availabilityTs) return;
    d.availabilityTs = Math.max(d.availabilityTs, a.ts);
    if (a.online) delete d.unreachable;
    else d.unreachable = { since: a.ts, reason: a.reason ?? 'unreachable' };
    d.status = this.statusOf(d, this.gateways.get(gateway));
    this.bus.emit('deviceChanged', { key: d.key });
  }

  applyTelemetry(gateway: string, device: string, ts: number, values: TelemetryValues): void {
    const d = this.devices.get(deviceKey(gateway, device));
    if (!d) return; // no descriptor yet: stored, but not on the map until its meta arrives
    d.lastSeen = Date.now();
    if (d.valuesTs !== null && ts < d.valuesTs) return; // an older sample (replayed backlog)
    d.values = { ...d.values, ...values };
    d.valuesTs = ts;
    if (typeof values.lat === 'number' && typeof values.lon === 'number') {
      d.position = {
        lat: values.lat,
        lon: values.lon,
        ...(typeof values.alt === 'number' ? { alt: values.alt } : {}),
      };
      this.bus.emit('positionChanged', {
        key: d.key,
        site: d.site,
        kind: d.kind,
        lat: values.lat,
        lon: values.lon,
      });
    }
    if (typeof values.heading === 'number') d.heading = values.heading;
    d.status = this.statusOf(d, this.gateways.get(gateway));
    this.bus.emit('deviceChanged', { key: d.key });
    this.bus.emit('readings', { key: d.key, site: d.site, kind: d.kind, ts, values });
  }

  /**
   * What device health needs, without copying the view (called for every change of every device):
   * whether it is reachable, through a live gateway, and the gateway's reason when not.
   */
  deviceHealth(
    key: string,
  ):
    | { site: string; kind: string; gateway: string; gatewayOnline: boolean; unreachable?: string }
    | undefined {
    const d = this.devices.get(key);
    if (!d) return undefined;
    return {
      site: d.site,
      kind: d.kind,
      gateway: d.gateway,
      gatewayOnline: this.gateways.get(d.gateway)?.online ?? false,
      ...(d.unreachable ? { unreachable: d.unreachable.reason } : {}),
    };
  }

  /** A gateway's health: up, stale (silent a heartbeat and a half) or offline, and how long silent. */
  gatewayHealth(
    id: string,
  ):
    | { site: string; online: boolean; stale: boolean; lastSeen: number | null; timeoutMs: number }
    | undefined {
    const g = this.gateways.get(id);
    if (!g) return undefined;
    return {
      site: g.site,
      online: g.online,
      stale: g.stale,
      lastSeen: g.lastSeen,
      timeoutMs: this.timeoutOf(g),
    };
  }

  /** Every device key and gateway id (health reconciles them all once after start). */
  subjects(): { devices: string[]; gateways: string[] } {
    return { devices: [...this.devices.keys()], gateways: [...this.gateways.keys()] };
  }

  applyEvent(gateway: string, device: string, event: DeviceEvent): void {
    const d = this.devices.get(deviceKey(gateway, device));
    if (!d) return;
    d.lastSeen = Date.now();
    if (!d.lastEvent || event.ts >= d.lastEvent.ts)
      d.lastEvent = { ts: event.ts, type: event.type, severity: event.severity };
    d.status = this.statusOf(d, this.gateways.get(gateway));
    this.bus.emit('deviceChanged', { key: d.key });
    this.bus.emit('deviceEvent', {
      key: d.key,
      site: d.site,
      ts: event.ts,
      type: event.type,
      severity: event.severity,
      data: event.data,
      ...(event.seq > 0 ? { origin: { gateway, epoch: event.epoch, seq: event.seq } } : {}),
    });
  }

  /**
   * Turns silent gateways stale and offline, and expires alarm holds. `judgeSilence` false (the
   * sweep ran late): nothing is called silent this time, only what came back is cleared.
   */
  sweep(now = Date.now(), judgeSilence = true): void {
    for (const g of this.gateways.values()) {
      if (judgeSilence && g.online && (g.lastSeen === null || now - g.lastSeen > this.timeoutOf(g)))
        this.setGatewayOnline(g, false);
      // A heartbeat half a period late: stale at once (the offline verdict waits for three periods).
      const stale =
        g.online &&
        g.lastSeen !== null &&
        now - g.lastSeen > (this.timeoutOf(g) * STALE_AFTER_HEARTBEATS) / MISSED_HEARTBEATS;
      if (stale !== g.stale && (judgeSilence || !stale)) {
        g.stale = stale;
        this.bus.emit('gatewayChanged', { id: g.id });
      }
    }
    if (now - this.lastDeviceSweep < 1000) return;
    this.lastDeviceSweep = now;
    for (const d of this.devices.values()) {
      const status = this.statusOf(d, this.gateways.get(d.gateway), now);
      if (status !== d.status) {
        d.status = status;
        this.bus.emit('deviceChanged', { key: d.key });
      }
    }
  }

  private timeoutOf(g: GatewayEntry): number {
    return g.heartbeatMs ? g.heartbeatMs * MISSED_HEARTBEATS : this.options.heartbeatTimeoutMs;
  }

  private statusOf(d: DeviceView, g: GatewayEntry | undefined, now = Date.now()): DeviceStatus {
    if (!g?.online || d.unreachable) return 'offline';
    const e = d.lastEvent;
    if (e && (e.severity === 'alarm' || e.severity === 'critical') && now - e.ts < this.options.alarmHoldMs)
      return 'alarm';
    return 'online';
  }

  private setGatewayOnline(g: GatewayEntry, online: boolean): void {
    g.online = online;
    g.stale = false;
    this.bus.emit('gatewayChanged', { id: g.id });
    for (const key of this.byGateway.get(g.id) ?? []) {
      const d = this.devices.get(key);
      if (!d) continue;
      d.status = this.statusOf(d, g);
      this.bus.emit('deviceChanged', { key });
    }
  }

  private index(d: DeviceEntry): void {
    const previous = this.devices.get(d.key);
    if (previous && previous.site !== d.site) this.bySite.get(previous.site)?.delete(d.key);
    this.devices.set(d.key, d);
    addTo(this.bySite, d.site, d.key);
    addTo(this.byGateway, d.gateway, d.key);
  }

  private gatewayEntry(id: string, site: string): GatewayEntry {
    let g = this.gateways.get(id);
    if (!g) {
      g = {
        id,
        site,
        online: false,
        stale: false,
        version: null,
        lastSeen: null,
        outboxDepth: null,
        outboxDropped: null,
        heartbeatMs: null,
        stateTs: 0,
      };
      this.gateways.set(id, g);
    }
    return g;
  }

  private gatewayView(g: GatewayEntry): GatewayView {
    const { stateTs: _stateTs, heartbeatMs: _heartbeatMs, ...view } = g;
    return { ...view, deviceCount: this.deviceCountOf(g.id) };
  }

  private viewFromMeta(
    site: string,
    gateway: string,
    device: string,
    meta: Omit<DeviceMeta, 'seq' | 'epoch' | 'ts'>,
  ): DeviceView {
    return {
      key: deviceKey(gateway, device),
      site,
      gateway,
      device,
      kind: meta.kind,
      name: meta.name,
      ...(meta.model !== undefined ? { model: meta.model } : {}),
      ...(meta.manufacturer !== undefined ? { manufacturer: meta.manufacturer } : {}),
      ...(meta.firmware !== undefined ? { firmware: meta.firmware } : {}),
      position: meta.position,
      ...(meta.heading !== undefined ? { heading: meta.heading } : {}),
      ...(meta.fov !== undefined ? { fov: meta.fov } : {}),
      capabilities: meta.capabilities,
      ...(meta.route ? { route: meta.route } : {}),
      ...(meta.streams?.length ? { streams: meta.streams } : {}),
      ...(meta.zones?.length ? { zones: meta.zones } : {}),
      ...(meta.coverageM ? { coverageM: meta.coverageM } : {}),
      ...(meta.units && Object.keys(meta.units).length ? { units: meta.units } : {}),
      status: 'offline',
      lastSeen: null,
      values: {},
      valuesTs: null,
    };
  }
}

function addTo(index: Map<string, Set<string>>, id: string, key: string): void {
  const set = index.get(id);
  if (set) set.add(key);
  else index.set(id, new Set([key]));
}

function publicView(d: DeviceEntry): DeviceView {
  const { metaTs: _metaTs, availabilityTs: _availabilityTs, ...view } = d;
  return view;
}
