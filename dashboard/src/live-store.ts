/**
 * The live store: one socket.io connection (authenticated in the handshake) feeding maps of devices
 * and gateways keyed by id. Views subscribe to change notifications; nothing else talks to the socket.
 */
import type {
  AlarmView,
  BroadcastView,
  ClientToServerEvents,
  CommandView,
  DeviceView,
  GatewayView,
  LiveSubscribe,
  ServerToClientEvents,
} from '@qianliyan/protocols';
import { io, type Socket } from 'socket.io-client';

export interface LiveChange {
  devices: DeviceView[];
  removed: string[];
  gateways: GatewayView[];
  snapshot: boolean;
}

export class LiveStore {
  readonly devices = new Map<string, DeviceView>();
  readonly gateways = new Map<string, GatewayView>();
  connected = false;
  private socket: Socket<ServerToClientEvents, ClientToServerEvents> | undefined;
  /** Brief from the start: a county's page gets telemetry only for what it looks at close up. */
  private subscription: LiveSubscribe = { brief: true };
  private readonly listeners = new Set<(change: LiveChange) => void>();
  private readonly statusListeners = new Set<(connected: boolean) => void>();
  /** The age of the last delta when it arrived, ms: large when this page (or its link) falls behind. */
  lagMs = 0;
  private readonly commandListeners = new Set<(command: CommandView) => void>();
  private readonly alarmListeners = new Set<(alarm: AlarmView) => void>();
  private readonly broadcastListeners = new Set<(broadcast: BroadcastView) => void>();
  /** Each device's latest event time before the last delta (to tell a new event from a repeat). */
  private readonly previousEvents = new Map<string, number | undefined>();

  previousEvent(key: string): number | undefined {
    return this.previousEvents.get(key);
  }

  connect(token: string, onAuthError: () => void): void {
    const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io({
      path: '/socket.io',
      auth: { token },
      transports: ['websocket'],
    });
    this.socket = socket;
    socket.on('connect', () => {
      this.setConnected(true);
      socket.emit('subscribe', this.subscription);
    });
    socket.on('disconnect', () => this.setConnected(false));
    socket.on('connect_error', (err) => {
      if (err.message === 'HUB_ERR_UNAUTHORIZED') {
        socket.disconnect();
        onAuthError();
      }
    });
    socket.on('snapshot', (snap) => {
      this.devices.clear();
      this.gateways.clear();
      for (const d of snap.devices) this.devices.set(d.key, d);
      for (const g of snap.gateways) this.gateways.set(g.id, g);
      this.notify({ devices: snap.devices, gateways: snap.gateways, removed: [], snapshot: true });
    });
    socket.on('command', (command) => {
      for (const l of this.commandListeners) l(command);
    });
    socket.on('alarm', (alarm) => {
      for (const l of this.alarmListeners) l(alarm);
    });
    socket.on('broadcast', (broadcast) => {
      for (const l of this.broadcastListeners) l(broadcast);
    });
    socket.on('delta', (delta) => {
      // How far behind the hub this page is (the hub stamps each delta when it sends it).
      this.lagMs = Math.max(0, Date.now() - delta.ts);
      for (const d of delta.devices) {
        this.previousEvents.set(d.key, this.devices.get(d.key)?.lastEvent?.ts);
        this.devices.set(d.key, d);
      }
      for (const k of delta.removed) this.devices.delete(k);
      for (const g of delta.gateways) this.gateways.set(g.id, g);
      this.notify({
        devices: delta.devices,
        gateways: delta.gateways,
        removed: delta.removed,
        snapshot: false,
      });
    });
  }

  /** The socket itself, for components that speak their own events on it (calls). */
  get socketIo(): Socket<ServerToClientEvents, ClientToServerEvents> | undefined {
    return this.socket;
  }

  subscribe(subscription: LiveSubscribe): void {
    if (JSON.stringify(subscription) === JSON.stringify(this.subscription)) return;
    this.subscription = subscription;
    if (this.socket?.connected) this.socket.emit('subscribe', subscription);
  }

  disconnect(): void {
    this.socket?.disconnect();
    this.socket = undefined;
  }

  onChange(listener: (change: LiveChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onAlarm(listener: (alarm: AlarmView) => void): () => void {
    this.alarmListeners.add(listener);
    return () => this.alarmListeners.delete(listener);
  }

  onBroadcast(listener: (broadcast: BroadcastView) => void): () => void {
    this.broadcastListeners.add(listener);
    return () => this.broadcastListeners.delete(listener);
  }

  onCommand(listener: (command: CommandView) => void): () => void {
    this.commandListeners.add(listener);
    return () => this.commandListeners.delete(listener);
  }

  onStatus(listener: (connected: boolean) => void): () => void {
    this.statusListeners.add(listener);
    return () => this.statusListeners.delete(listener);
  }

  private setConnected(connected: boolean): void {
    this.connected = connected;
    for (const l of this.statusListeners) l(connected);
  }

  private notify(change: LiveChange): void {
    for (const l of this.listeners) {
      try {
        l(change);
      } catch (err) {
        console.error('live listener failed', err);
      }
    }
  }
}
