/**
 * The live store: one socket.io connection (authenticated in the handshake) and the page's state,
 * per topic: devices and gateways (snapshot + coalesced deltas), the site tree in scope (sent with
 * every snapshot), and one collection per topic of the live table (`LIVE_TOPICS` in protocols:
 * alarms, incidents, broadcasts, linkage plans, the user's commands). Panels read and subscribe
 * here; none of them touches the socket. Calls get a narrow channel of their own (their
 * signalling is addressed to one socket, not state to keep).
 */
import {
  type ClientToServerEvents,
  type DeviceView,
  type GatewayView,
  LIVE_TOPICS,
  type LivePayload,
  type LiveSubscribe,
  type LiveTopic,
  type LiveTopicName,
  type ServerToClientEvents,
  type SiteNode,
} from '@qianliyan/protocols';
import { io, type Socket } from 'socket.io-client';

export interface LiveChange {
  devices: DeviceView[];
  removed: string[];
  gateways: GatewayView[];
  snapshot: boolean;
}

type LiveSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

/** One topic's payloads by key, newest last, bounded; listeners hear every arrival. */
export class TopicStore<T> {
  private readonly items = new Map<string, T>();
  private readonly listeners = new Set<(item: T) => void>();

  constructor(private readonly entry: LiveTopic) {}

  get(key: string): T | undefined {
    return this.items.get(key);
  }

  values(): T[] {
    return [...this.items.values()];
  }

  /** A payload arrived (or a panel loaded it over REST): kept under its key and announced. */
  put(item: T, announce = true): void {
    const key = this.entry.key(item as never);
    this.items.delete(key);
    this.items.set(key, item);
    while (this.items.size > this.entry.keep) this.items.delete(this.items.keys().next().value as string);
    if (announce) notifyAll(this.listeners, item);
  }

  /** What a panel loaded over REST when it opened (the socket says only what changes). */
  seed(items: T[]): void {
    for (const item of items) this.put(item, false);
  }

  on(listener: (item: T) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

type Topics = { [N in LiveTopicName]: TopicStore<LivePayload<N>> };

/** What the call panel may do on the socket: its own events, nothing else. */
export interface CallChannel {
  /** This page's socket id (participants are told apart by it). */
  readonly id: string | undefined;
  emit: LiveSocket['emit'];
  on<E extends 'call:ring' | 'call:update' | 'call:signal' | 'call:error'>(
    event: E,
    listener: ServerToClientEvents[E],
  ): () => void;
}

export class LiveStore {
  readonly devices = new Map<string, DeviceView>();
  readonly gateways = new Map<string, GatewayView>();
  /** The site tree in the user's scope, as of the last snapshot. */
  sites: SiteNode[] = [];
  readonly topics: Topics = Object.fromEntries(
    Object.entries(LIVE_TOPICS).map(([name, entry]) => [name, new TopicStore(entry as LiveTopic)]),
  ) as unknown as Topics;
  connected = false;
  /** A snapshot has arrived since the page opened: the store holds everything in scope. */
  synced = false;
  private socket: LiveSocket | undefined;
  /** Brief from the start: a county's page gets telemetry only for what it looks at close up. */
  private subscription: LiveSubscribe = { brief: true };
  private readonly listeners = new Set<(change: LiveChange) => void>();
  private readonly statusListeners = new Set<(connected: boolean) => void>();
  private readonly siteListeners = new Set<(sites: SiteNode[]) => void>();
  /** The age of the last delta when it arrived, ms: large when this page (or its link) falls behind. */
  lagMs = 0;
  /** Each device's latest event time before the last delta (to tell a new event from a repeat). */
  private readonly previousEvents = new Map<string, number | undefined>();

  previousEvent(key: string): number | undefined {
    return this.previousEvents.get(key);
  }

  connect(token: string, onAuthError: () => void): void {
    const socket: LiveSocket = io({ path: '/socket.io', auth: { token }, transports: ['websocket'] });
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
      this.synced = true;
      this.devices.clear();
      this.gateways.clear();
      for (const d of snap.devices) this.devices.set(d.key, d);
      for (const g of snap.gateways) this.gateways.set(g.id, g);
      this.sites = snap.sites;
      notifyAll(this.siteListeners, snap.sites);
      this.notify({ devices: snap.devices, gateways: snap.gateways, removed: [], snapshot: true });
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
    // Every topic of the live table, into its collection.
    for (const name of Object.keys(LIVE_TOPICS) as LiveTopicName[]) {
      const store = this.topics[name] as TopicStore<unknown>;
      (socket as unknown as Socket).on(name, (payload: unknown) => store.put(payload));
    }
  }

  /** The call panel's channel (its own events only). */
  get calls(): CallChannel | undefined {
    const socket = this.socket;
    if (!socket) return undefined;
    return {
      get id() {
        return socket.id;
      },
      emit: socket.emit.bind(socket) as LiveSocket['emit'],
      on: (event, listener) => {
        socket.on(event, listener as never);
        return () => socket.off(event, listener as never);
      },
    };
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

  onSites(listener: (sites: SiteNode[]) => void): () => void {
    this.siteListeners.add(listener);
    return () => this.siteListeners.delete(listener);
  }

  onStatus(listener: (connected: boolean) => void): () => void {
    this.statusListeners.add(listener);
    return () => this.statusListeners.delete(listener);
  }

  private setConnected(connected: boolean): void {
    this.connected = connected;
    notifyAll(this.statusListeners, connected);
  }

  private notify(change: LiveChange): void {
    notifyAll(this.listeners, change);
  }
}

/** Calls every listener; one that throws is reported and the others still run. */
function notifyAll<T>(listeners: Iterable<(value: T) => void>, value: T): void {
  for (const l of listeners) {
    try {
      l(value);
    } catch (err) {
      console.error('live listener failed', err);
    }
  }
}
