/**
 * The device and gateway registry: built from retained `state`/`meta` and live traffic, persisted to
 * the state DB, and the source of the map's live state. Online/offline comes from the gateway's last
 * will and from a heartbeat timeout; a device is red (alarm) while its latest alarm event is fresh.
 */
import { EventEmitter } from 'node:events';
import {
  type DeviceEvent,
  type DeviceMeta,
  type DeviceStatus,
  type DeviceView,
  deviceKey,
  type GatewayState,
  type GatewayView,
  type TelemetryValues,
} from '@qianliyan/protocols';
import type { StateDb } from '../stores/state-db.ts';

interface GatewayEntry {
  id: string;
  site: string;
  online: boolean;
  version: string | null;
  lastSeen: number | null;
  outboxDepth: number | null;
  outboxDropped: number | null;
  /** `ts` of the newest state applied, to ignore older retained copies. */
  stateTs: number;
}

interface RegistryEvents {
  device: [key: string];
  gateway: [id: string];
}

export interface RegistryOptions {
  heartbeatTimeoutMs: number;
  alarmHoldMs: number;
}

export class Registry extends EventEmitter<RegistryEvents> {
  /** `metaTs`: when the descriptor in force was made, to ignore older retained copies. */
  private readonly devices = new Map<string, DeviceView & { metaTs: number }>();
  private readonly gateways = new Map<string, GatewayEntry>();
  private sweepTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly db: StateDb,
    private readonly options: RegistryOptions,
  ) {
    super();
  }

  start(): void {
    for (const row of this.db.listDevices()) {
      this.devices.set(deviceKey(row.gateway, row.device), {
        ...this.viewFromMeta(row.site, row.gateway, row.device, row.meta),
        metaTs: row.updatedAt,
        status: 'offline',
      });
    }
    for (const gw of this.db.listGateways()) this.gatewayEntry(gw.id, gw.site);
    this.sweepTimer = setInterval(() => this.sweep(), Math.min(5000, this.options.heartbeatTimeoutMs / 3));
    this.sweepTimer.unref();
  }

  stop(): void {
    clearInterval(this.sweepTimer);
  }

  listDevices(): DeviceView[] {
    return [...this.devices.values()].map(publicView);
  }

  getDevice(key: string): DeviceView | undefined {
    const d = this.devices.get(key);
    return d ? publicView(d) : undefined;
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

  /** Makes a newly registered gateway known (offline until it connects). */
  registerGateway(id: string, site: string): void {
    const g = this.gatewayEntry(id, site);
    g.site = site;
    this.emit('gateway', id);
  }

  /** Any valid message from a gateway proves it is alive. */
  touch(site: string, gateway: string, now = Date.now()): void {
    const g = this.gatewayEntry(gateway, site);
    g.lastSeen = now;
    if (!g.online) this.setGatewayOnline(g, true);
  }

  applyState(site: string, gateway: string, state: GatewayState, retained: boolean): void {
    const g = this.gatewayEntry(gateway, site);
    // Live messages arrive in seq order (ingest drops anything older). A retained copy replayed on
    // subscribe is compared by timestamp, because seq restarts when a gateway gets a new outbox.
    if (retained && state.ts !== undefined && state.ts < g.stateTs) return;
    if (state.ts !== undefined) g.stateTs = Math.max(g.stateTs, state.ts);
    if (state.version) g.version = state.version;
    if (state.outbox) {
      g.outboxDepth = state.outbox.depth;
      g.outboxDropped = state.outbox.dropped;
    }
    if (!state.online) {
      this.setGatewayOnline(g, false);
      return;
    }
    // A retained "online" is only as fresh as its timestamp: the heartbeat decides from there.
    const seen = retained ? (state.ts ?? 0) : Date.now();
    g.lastSeen = Math.max(g.lastSeen ?? 0, seen);
    const alive = Date.now() - g.lastSeen < this.options.heartbeatTimeoutMs;
    if (alive !== g.online) this.setGatewayOnline(g, alive);
    else this.emit('gateway', g.id);
  }

  applyMeta(site: string, gateway: string, device: string, meta: DeviceMeta, retained: boolean): void {
    const key = deviceKey(gateway, device);
    const existing = this.devices.get(key);
    if (retained && existing && meta.ts < existing.metaTs) return; // an older retained copy
    const { seq, ts, ...descriptor } = meta;
    const g = this.gatewayEntry(gateway, site);
    const view = {
      ...this.viewFromMeta(site, gateway, device, descriptor),
      metaTs: ts,
      lastSeen: existing?.lastSeen ?? null,
      values: existing?.values ?? {},
      valuesTs: existing?.valuesTs ?? null,
      ...(existing?.lastEvent ? { lastEvent: existing.lastEvent } : {}),
      status: 'online' as DeviceStatus,
    };
    // A moving device (drone) keeps its live position over the static one in its descriptor.
    if (existing && typeof existing.values.lat === 'number' && typeof existing.values.lon === 'number') {
      view.position = existing.position;
    }
    view.status = this.statusOf(view, g);
    this.devices.set(key, view);
    this.db.upsertDevice({ gateway, device, site, meta: descriptor, metaSeq: seq, updatedAt: ts });
    this.emit('device', key);
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
    }
    if (typeof values.heading === 'number') d.heading = values.heading;
    d.status = this.statusOf(d, this.gateways.get(gateway));
    this.emit('device', d.key);
  }

  applyEvent(gateway: string, device: string, event: DeviceEvent): void {
    const d = this.devices.get(deviceKey(gateway, device));
    if (!d) return;
    d.lastSeen = Date.now();
    if (!d.lastEvent || event.ts >= d.lastEvent.ts)
      d.lastEvent = { ts: event.ts, type: event.type, severity: event.severity };
    d.status = this.statusOf(d, this.gateways.get(gateway));
    this.emit('device', d.key);
  }

  /** Turns silent gateways offline and expires stale alarms. */
  sweep(now = Date.now()): void {
    for (const g of this.gateways.values()) {
      if (g.online && (g.lastSeen === null || now - g.lastSeen > this.options.heartbeatTimeoutMs))
        this.setGatewayOnline(g, false);
    }
    for (const d of this.devices.values()) {
      const status = this.statusOf(d, this.gateways.get(d.gateway), now);
      if (status !== d.status) {
        d.status = status;
        this.emit('device', d.key);
      }
    }
  }

  private statusOf(d: DeviceView, g: GatewayEntry | undefined, now = Date.now()): DeviceStatus {
    if (!g?.online) return 'offline';
    const e = d.lastEvent;
    if (e && (e.severity === 'alarm' || e.severity === 'critical') && now - e.ts < this.options.alarmHoldMs)
      return 'alarm';
    return 'online';
  }

  private setGatewayOnline(g: GatewayEntry, online: boolean): void {
    g.online = online;
    this.emit('gateway', g.id);
    for (const d of this.devices.values()) {
      if (d.gateway !== g.id) continue;
      d.status = this.statusOf(d, g);
      this.emit('device', d.key);
    }
  }

  private gatewayEntry(id: string, site: string): GatewayEntry {
    let g = this.gateways.get(id);
    if (!g) {
      g = {
        id,
        site,
        online: false,
        version: null,
        lastSeen: null,
        outboxDepth: null,
        outboxDropped: null,
        stateTs: 0,
      };
      this.gateways.set(id, g);
    }
    return g;
  }

  private gatewayView(g: GatewayEntry): GatewayView {
    let deviceCount = 0;
    for (const d of this.devices.values()) if (d.gateway === g.id) deviceCount++;
    const { stateTs: _stateTs, ...view } = g;
    return { ...view, deviceCount };
  }

  private viewFromMeta(
    site: string,
    gateway: string,
    device: string,
    meta: Omit<DeviceMeta, 'seq' | 'ts'>,
  ): DeviceView {
    return {
      key: deviceKey(gateway, device),
      site,
      gateway,
      device,
      kind: meta.kind,
      name: meta.name,
      ...(meta.model !== undefined ? { model: meta.model } : {}),
      position: meta.position,
      ...(meta.heading !== undefined ? { heading: meta.heading } : {}),
      ...(meta.fov !== undefined ? { fov: meta.fov } : {}),
      capabilities: meta.capabilities,
      status: 'offline',
      lastSeen: null,
      values: {},
      valuesTs: null,
    };
  }
}

function publicView(d: DeviceView & { metaTs?: number }): DeviceView {
  const { metaTs: _metaTs, ...view } = d;
  return view;
}
