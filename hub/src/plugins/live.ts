/**
 * The live channel: socket.io on the hub's own HTTP server. The handshake must carry a valid JWT
 * (`auth.token`). A client subscribes to a site and/or a map viewport, gets a snapshot of what is in
 * scope, then coalesced deltas every `live.flushIntervalMs`. A village operator only ever sees the
 * sites on their account.
 */
import {
  type BBox,
  type ClientToServerEvents,
  type DeviceView,
  type GatewayView,
  inBBox,
  type LiveSubscribe,
  LiveSubscribe as LiveSubscribeSchema,
  type ServerToClientEvents,
} from '@qianliyan/protocols';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import fp from 'fastify-plugin';
import { Server, type Socket } from 'socket.io';
import { type AuthUser, userMaySee } from './auth.ts';

interface SocketState {
  user: AuthUser;
  site?: string;
  bbox?: BBox;
  /** Set by the first `subscribe`; until then the client gets nothing. */
  subscribed: boolean;
  /** Device keys this client currently has, to tell it when one leaves its viewport. */
  inScope: Set<string>;
}
type LiveSocket = Socket<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketState>;

const checkSubscribe = TypeCompiler.Compile(LiveSubscribeSchema);

declare module 'fastify' {
  interface FastifyInstance {
    io: Server<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketState>;
  }
}

export const livePlugin = fp(
  async (app) => {
    const io = new Server<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketState>(
      app.server,
      {
        path: '/socket.io',
        serveClient: false,
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
        const user = app.jwt.verify<AuthUser>(token);
        socket.data = {
          user: { username: user.username, role: user.role, sites: user.sites },
          subscribed: false,
          inScope: new Set(),
        };
        next();
      } catch {
        next(Object.assign(new Error('HUB_ERR_UNAUTHORIZED'), { data: { code: 'HUB_ERR_UNAUTHORIZED' } }));
      }
    });

    const inScope = (s: SocketState, d: DeviceView) =>
      userMaySee(s.user, d.site) && (!s.site || d.site === s.site) && (!s.bbox || inBBox(d.position, s.bbox));
    const gatewayInScope = (s: SocketState, g: GatewayView) =>
      userMaySee(s.user, g.site) && (!s.site || g.site === s.site);

    io.on('connection', (socket: LiveSocket) => {
      app.metrics.socketClients.set(io.engine.clientsCount);
      socket.on('disconnect', () => app.metrics.socketClients.set(io.engine.clientsCount));
      socket.on('subscribe', (subscription: LiveSubscribe) => {
        if (!checkSubscribe.Check(subscription)) {
          socket.emit('subscribe:error', { code: 'HUB_ERR_VALIDATION', message: 'invalid subscription' });
          return;
        }
        const state = socket.data;
        if (subscription.site && !userMaySee(state.user, subscription.site)) {
          socket.emit('subscribe:error', { code: 'HUB_ERR_FORBIDDEN', message: 'site not in your scope' });
          return;
        }
        if (subscription.site) state.site = subscription.site;
        else delete state.site;
        if (subscription.bbox) state.bbox = subscription.bbox;
        else delete state.bbox;
        const devices = app.registry.listDevices().filter((d) => inScope(state, d));
        state.inScope = new Set(devices.map((d) => d.key));
        state.subscribed = true;
        socket.emit('snapshot', {
          devices,
          gateways: app.registry.listGateways().filter((g) => gatewayInScope(state, g)),
          ts: Date.now(),
        });
      });
    });

    // Coalescing: changes are collected as keys and sent as one delta per client per period.
    const dirtyDevices = new Set<string>();
    const dirtyGateways = new Set<string>();
    app.bus.on('deviceChanged', 'live', ({ key }) => dirtyDevices.add(key));
    app.bus.on('gatewayChanged', 'live', ({ id }) => dirtyGateways.add(id));
    const timer = setInterval(() => {
      if (dirtyDevices.size === 0 && dirtyGateways.size === 0) return;
      try {
        const devices = [...dirtyDevices]
          .map((k) => app.registry.getDevice(k))
          .filter((d): d is DeviceView => d !== undefined);
        const gateways = [...dirtyGateways]
          .map((id) => app.registry.getGateway(id))
          .filter((g): g is GatewayView => g !== undefined);
        dirtyDevices.clear();
        dirtyGateways.clear();
        const ts = Date.now();
        for (const socket of io.of('/').sockets.values()) {
          const state = socket.data;
          if (!state.subscribed) continue;
          const mine: DeviceView[] = [];
          const removed: string[] = [];
          for (const d of devices) {
            if (inScope(state, d)) {
              mine.push(d);
              state.inScope.add(d.key);
            } else if (state.inScope.delete(d.key)) removed.push(d.key);
          }
          const gws = gateways.filter((g) => gatewayInScope(state, g));
          if (mine.length || removed.length || gws.length)
            socket.emit('delta', { devices: mine, gateways: gws, removed, ts });
        }
      } catch (err) {
        log.error({ err }, 'live flush failed');
      }
    }, app.config.live.flushIntervalMs);

    app.decorate('io', io);
    // preClose, not onClose: open websockets would keep the HTTP server from closing. io.close()
    // is not used because it also closes the HTTP server, which Fastify owns.
    app.addHook('preClose', async () => {
      clearInterval(timer);
      io.disconnectSockets(true);
      io.engine.close();
    });
  },
  { name: 'live', dependencies: ['ingest', 'auth'] },
);
