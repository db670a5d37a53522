/**
 * The live channel: socket.io on the hub's own HTTP server. The handshake must carry a valid JWT
 * (`auth.token`) of a live session; the socket is closed when that session is revoked or its token
 * expires. A client subscribes to a site and/or a map viewport, gets a snapshot of what is in
 * scope, then coalesced deltas every `live.flushIntervalMs`. A user limited to some sites only ever
 * sees those, and a subscribe costs what is in the caller's scope, not what the hub holds.
 * `subscribe` is rate-limited per socket; refusals are counted.
 */
import {
  ALWAYS_DETAILED_KINDS,
  type BBox,
  type ClientToServerEvents,
  type DeviceView,
  type GatewayView,
  inBBox,
  LIVE_TOPICS,
  type LiveDelta,
  type LivePayload,
  type LiveSubscribe,
  LiveSubscribe as LiveSubscribeSchema,
  type LiveTopic,
  type LiveTopicName,
  liveVisibleTo,
  type ServerToClientEvents,
  userMaySee,
} from '@qianliyan/protocols';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Server, type Socket } from 'socket.io';
import type { AuthUser } from '../services/sessions.ts';
import { TokenBucket } from '../services/token-bucket.ts';

interface SocketState {
  user: AuthUser;
  /** When the socket's token expires (ms epoch). */
  expiresAt: number;
  subscribes: TokenBucket;
  site?: string;
  bbox?: BBox;
  /** Values only for what is detailed (see LiveSubscribe). */
  brief: boolean;
  detail?: BBox;
  watch: Set<string>;
  /** Calls ringing for this socket (so a ring is sent once). */
  ringing?: Set<string>;
  /** Set by the first `subscribe`; until then the client gets nothing. */
  subscribed: boolean;
  /** Device keys this client currently has, to tell it when one leaves its viewport. */
  inScope: Set<string>;
  /**
   * A client that cannot keep up (its connection has not taken the previous delta yet) gets nothing
   * more queued: the keys of what changed meanwhile collect here (one entry per device, whatever the
   * rate), and it gets their latest state when it has caught up. Bounded by what is in its scope.
   */
  behind?: { devices: Set<string>; gateways: Set<string>; removed: Set<string>; since: number };
}
type LiveSocket = Socket<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketState>;

const checkSubscribe = TypeCompiler.Compile(LiveSubscribeSchema);

declare module 'fastify' {
  interface FastifyInstance {
    io: Server<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketState>;
    live: {
      /** Sends a payload of a live topic to every socket whose user may see it (see live-topics.ts). */
      publish(topic: string, payload: unknown, entry?: LiveTopic): void;
      /**
       * Set in a cluster (cluster-fanout.ts): what this hub publishes of the live table is also
       * handed to the other hubs, which publish it to their own sockets.
       */
      relay?: (topic: string, payload: unknown) => void;
    };
  }
}

export const livePlugin = fp(
  async (app) => {
    const io = new Server<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketState>(
      app.server,
      {
        path: '/socket.io',
        serveClient: false,
        // Other WebSocket routes (video) share the port: leave their upgrades alone.
        destroyUpgrade: false,
        // The largest message a dashboard sends is a call's SDP (≤ 20,000 characters); engine.io's
        // default (1 MB) let one socket push megabytes per message through the parser. A larger
        // message closes the socket.
        maxHttpBufferSize: 64 * 1024,
      },
    );
    const log = app.log.child({ module: 'live' });

    io.use((socket, next) => {
      const token = (socket.handshake.auth as { token?: unknown } | undefined)?.token;
      if (typeof token !== 'string')
        return next(
          Object.assign(new Error('HUB_ERR_UNAUTHORIZED'), { data: { code: 'HUB_ERR_UNAUTHORIZED' } }),
        );
      try {
        const claims = app.jwt.verify<{ sub: string; sid: string; exp: number }>(token);
        const user = app.sessions.resolve(claims);
        if (!user) throw new Error('no live session');
        socket.data = {
          user,
          expiresAt: claims.exp * 1000,
          subscribes: new TokenBucket(app.config.live.subscribesPerSecond, app.config.live.subscribeBurst),
          subscribed: false,
          inScope: new Set(),
          brief: false,
          watch: new Set(),
        };
        next();
      } catch {
        app.metrics.socketRefused.inc({ reason: 'unauthorized' });
        next(Object.assign(new Error('HUB_ERR_UNAUTHORIZED'), { data: { code: 'HUB_ERR_UNAUTHORIZED' } }));
      }
    });

    // Revoked sessions and expired tokens lose their sockets at once (expiry is checked every second).
    const closeWhere = (match: (s: SocketState) => boolean, reason: string) => {
      for (const socket of io.of('/').sockets.values()) {
        if (socket.data && match(socket.data)) {
          app.metrics.socketRefused.inc({ reason });
          socket.disconnect(true);
        }
      }
    };
    app.bus.on('sessionsRevoked', 'live', ({ sid, username }) =>
      closeWhere((s) => s.user.sid === sid || s.user.username === username, 'revoked'),
    );
    /**
     * The live table's fan-out (protocols/src/live-topics.ts): one scope check per socket, one
     * emit. `entry` defaults to the table's row for `topic`.
     */
    const publish = <N extends string>(topic: N, payload: unknown, entry?: LiveTopic): void => {
      const row = entry ?? (LIVE_TOPICS as Record<string, LiveTopic>)[topic];
      if (!row) throw new Error(`no live topic ${topic}`);
      for (const socket of io.of('/').sockets.values()) {
        const user = socket.data?.user;
        if (user && liveVisibleTo(row, payload, user))
          (socket as unknown as { emit(e: string, p: unknown): void }).emit(topic, payload);
      }
    };
    /** Where each topic of the table comes from on the hub's event bus: one line per topic. */
    const live: FastifyInstance['live'] = { publish };
    const feeds: { [N in LiveTopicName]: (send: (payload: LivePayload<N>) => void) => void } = {
      command: (send) =>
        app.bus.on('commandFinished', 'live', ({ id }) => {
          const view = app.commands.get(id);
          if (view) send(view);
        }),
      alarm: (send) => app.bus.on('alarmChanged', 'live', ({ alarm }) => send(alarm)),
      broadcast: (send) => app.bus.on('broadcastChanged', 'live', ({ broadcast }) => send(broadcast)),
      incident: (send) => app.bus.on('incidentChanged', 'live', ({ incident }) => send(incident)),
      linkage: (send) => app.bus.on('linkageExecuted', 'live', (linkage) => send(linkage)),
    };
    for (const topic of Object.keys(feeds) as LiveTopicName[])
      (feeds[topic] as (send: (p: unknown) => void) => void)((payload) => {
        publish(topic, payload);
        live.relay?.(topic, payload);
      });
    const expiry = setInterval(() => {
      const now = Date.now();
      closeWhere((s) => s.expiresAt <= now, 'expired');
    }, 1000);
    expiry.unref();

    const inScope = (s: SocketState, d: DeviceView) =>
      userMaySee(s.user, d.site) && (!s.site || d.site === s.site) && (!s.bbox || inBBox(d.position, s.bbox));
    /** Whether a socket gets every change of this device, values included. */
    const detailed = (s: SocketState, d: DeviceView) =>
      !s.brief ||
      ALWAYS_DETAILED_KINDS.includes(d.kind) ||
      s.watch.has(d.key) ||
      (s.detail !== undefined && inBBox(d.position, s.detail));
    const gatewayInScope = (s: SocketState, g: GatewayView) =>
      userMaySee(s.user, g.site) && (!s.site || g.site === s.site);

    let connected = 0;
    io.on('connection', (socket: LiveSocket) => {
      connected += 1;
      app.metrics.socketClients.set(connected);
      socket.on('disconnect', () => {
        connected -= 1;
        app.metrics.socketClients.set(connected);
        if (socket.data?.behind) {
          delete socket.data.behind;
          behindSockets -= 1;
        }
      });
      socket.on('subscribe', (subscription: LiveSubscribe) => {
        if (!socket.data.subscribes.take()) {
          app.metrics.socketRefused.inc({ reason: 'subscribe_rate' });
          socket.emit('subscribe:error', {
            code: 'HUB_ERR_RATE_LIMITED',
            message: 'too many subscriptions; slow down',
          });
          return;
        }
        if (!checkSubscribe.Check(subscription)) {
          socket.emit('subscribe:error', { code: 'HUB_ERR_VALIDATION', message: 'invalid subscription' });
          return;
        }
        const state = socket.data;
        if (subscription.site && !userMaySee(state.user, subscription.site)) {
          socket.emit('subscribe:error', { code: 'HUB_ERR_FORBIDDEN', message: 'site not in your scope' });
          return;
        }
        const sameScope =
          state.subscribed &&
          state.site === subscription.site &&
          JSON.stringify(state.bbox) === JSON.stringify(subscription.bbox) &&
          state.brief === (subscription.brief ?? false);
        if (subscription.site) state.site = subscription.site;
        else delete state.site;
        if (subscription.bbox) state.bbox = subscription.bbox;
        else delete state.bbox;
        state.brief = subscription.brief ?? false;
        if (subscription.detail) state.detail = subscription.detail;
        else delete state.detail;
        state.watch = new Set(subscription.watch ?? []);
        // A brief client that only moved its close-up viewport gets a delta; anything else a snapshot.
        if (sameScope && state.brief) sendDetail(socket);
        else sendSnapshot(socket);
      });
    });

    /** Only what the caller may see is looked at: a scoped user's sites, or the one site asked for. */
    function candidatesOf(state: SocketState): DeviceView[] {
      const sites = state.site ? [state.site] : state.user.sites.length > 0 ? state.user.sites : undefined;
      return sites ? app.registry.listDevicesOfSites(sites) : app.registry.listDevices();
    }

    /** The viewport moved or a panel opened: the latest state of what is detailed now, as a delta. */
    function sendDetail(socket: LiveSocket): void {
      const state = socket.data;
      if (!state.brief) return;
      // (Drones are always detailed: the client has their latest already.)
      const devices = candidatesOf(state).filter(
        (d) => inScope(state, d) && !ALWAYS_DETAILED_KINDS.includes(d.kind) && detailed(state, d),
      );
      if (devices.length > 0) socket.emit('delta', { devices, gateways: [], removed: [], ts: Date.now() });
    }

    function sendSnapshot(socket: LiveSocket): void {
      const state = socket.data;
      const devices = candidatesOf(state).filter((d) => inScope(state, d));
      state.inScope = new Set(devices.map((d) => d.key));
      state.subscribed = true;
      const gateways = app.registry.listGateways();
      socket.emit('snapshot', {
        devices,
        gateways: gateways.filter((g) => gatewayInScope(state, g)),
        // Sites gateways use but the tree does not know are shown too (as in GET /api/sites).
        sites: app.siteTree.nodesFor(state.user, new Map(gateways.map((g) => [g.site, g.site]))),
        ts: Date.now(),
      });
    }

    // The site tree changed (a village moved to another town…): every socket's scope is worked out
    // again, and a subscribed socket gets a fresh snapshot of what it may see now.
    app.siteTree.onChange(() => {
      for (const socket of io.of('/').sockets.values()) {
        const state = socket.data;
        if (!state?.user) continue;
        const user = app.sessions.resolve({ sub: state.user.username, sid: state.user.sid });
        if (!user) {
          socket.disconnect(true);
          continue;
        }
        state.user = user;
        if (state.site && !userMaySee(user, state.site)) delete state.site;
        if (state.subscribed) sendSnapshot(socket);
      }
    });

    // Coalescing: changes are collected as keys and sent as one delta per client per period.
    const dirtyDevices = new Set<string>();
    const dirtyGateways = new Set<string>();
    /**
     * Each device's last brief fingerprint — what a map or list shows of it — to tell a change worth
     * sending to a brief (zoomed-out) client from a telemetry sample.
     */
    const briefSigs = new Map<string, string>();
    const briefSig = (d: DeviceView) =>
      `${d.status}|${d.position.lat}|${d.position.lon}|${d.heading ?? ''}|${d.fov ?? ''}|${d.name}|${d.site}|${d.unreachable?.since ?? ''}|${d.lastEvent?.ts ?? ''}|${d.streams?.length ?? 0}|${d.capabilities.length}|${d.model ?? ''}`;
    app.bus.on('deviceChanged', 'live', ({ key }) => dirtyDevices.add(key));
    app.bus.on('gatewayChanged', 'live', ({ id }) => dirtyGateways.add(id));
    /** Sockets holding a conflated backlog (they get their catch-up even when nothing else changes). */
    let behindSockets = 0;
    const timer = setInterval(() => {
      if (dirtyDevices.size === 0 && dirtyGateways.size === 0 && behindSockets === 0) return;
      try {
        const devices: DeviceView[] = [];
        const briefChanged = new Set<string>();
        for (const key of dirtyDevices) {
          const d = app.registry.getDevice(key);
          if (!d) {
            briefSigs.delete(key);
            continue;
          }
          devices.push(d);
          const sig = briefSig(d);
          if (briefSigs.get(key) !== sig) {
            briefSigs.set(key, sig);
            briefChanged.add(key);
          }
        }
        const gateways = [...dirtyGateways]
          .map((id) => app.registry.getGateway(id))
          .filter((g): g is GatewayView => g !== undefined);
        dirtyDevices.clear();
        dirtyGateways.clear();
        const ts = Date.now();
        // Sockets whose deltas are identical (same scope) share one broadcast, encoded once.
        const groups = new Map<string, { delta: LiveDelta; ids: string[] }>();
        for (const socket of io.of('/').sockets.values()) {
          const state = socket.data;
          if (!state.subscribed) continue;
          const mine: DeviceView[] = [];
          const removed: string[] = [];
          for (const d of devices) {
            if (inScope(state, d)) {
              // New to this client, changed where it shows, or looked at up close.
              if (!state.inScope.has(d.key) || briefChanged.has(d.key) || detailed(state, d)) mine.push(d);
              state.inScope.add(d.key);
            } else if (state.inScope.delete(d.key)) removed.push(d.key);
          }
          const gws = gateways.filter((g) => gatewayInScope(state, g));
          if (!mine.length && !removed.length && !gws.length && !state.behind) continue;
          // Conflation: a socket whose previous writes are still queued gets nothing more queued.
          // (engine.io keeps packets in writeBuffer while the transport has not finished the last write.)
          const conn = socket.conn as unknown as { writeBuffer: unknown[]; transport: { writable: boolean } };
          const slow = conn.writeBuffer.length > 0 || !conn.transport.writable;
          if (slow) {
            if (!state.behind) behindSockets += 1;
            const b = state.behind ?? {
              devices: new Set(),
              gateways: new Set(),
              removed: new Set(),
              since: ts,
            };
            state.behind = b;
            for (const d of mine) {
              b.devices.add(d.key);
              b.removed.delete(d.key);
            }
            for (const k of removed) {
              b.removed.add(k);
              b.devices.delete(k);
            }
            for (const g of gws) b.gateways.add(g.id);
            app.metrics.socketConflated.inc();
            continue;
          }
          if (state.behind) {
            // Caught up: the latest state of everything that changed meanwhile, in one delta of its own.
            const b = state.behind;
            delete state.behind;
            behindSockets -= 1;
            for (const d of mine) b.devices.add(d.key);
            for (const k of removed) b.removed.add(k);
            for (const g of gws) b.gateways.add(g.id);
            const catchUp: LiveDelta = {
              devices: [...b.devices]
                .map((k) => app.registry.getDevice(k))
                .filter((d): d is DeviceView => d !== undefined && inScope(state, d)),
              gateways: [...b.gateways]
                .map((id) => app.registry.getGateway(id))
                .filter((g): g is GatewayView => g !== undefined && gatewayInScope(state, g)),
              removed: [...b.removed],
              ts,
            };
            socket.emit('delta', catchUp);
            continue;
          }
          if (!mine.length && !removed.length && !gws.length) continue;
          const key = `${mine.map((d) => d.key).join(',')}|${removed.join(',')}|${gws.map((g) => g.id).join(',')}`;
          const group = groups.get(key);
          if (group) group.ids.push(socket.id);
          else groups.set(key, { delta: { devices: mine, gateways: gws, removed, ts }, ids: [socket.id] });
        }
        for (const { delta, ids } of groups.values()) io.to(ids).emit('delta', delta);
      } catch (err) {
        log.error({ err }, 'live flush failed');
      }
    }, app.config.live.flushIntervalMs);

    app.decorate('io', io);
    app.decorate('live', live);
    // preClose, not onClose: open websockets would keep the HTTP server from closing. io.close()
    // is not used because it also closes the HTTP server, which Fastify owns.
    app.addHook('preClose', async () => {
      clearInterval(timer);
      clearInterval(expiry);
      io.disconnectSockets(true);
      io.engine.close();
    });
  },
  { name: 'live', dependencies: ['ingest', 'auth', 'commands'] },
);
