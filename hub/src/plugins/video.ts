/** The video relay service and the WebSocket support its routes use; every relay stops with the hub. */
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { hostname } from 'node:os';
import type { Duplex } from 'node:stream';
import websocket from '@fastify/websocket';
import { MAX_PUSH_MESSAGE_BYTES, TALK_WS_PROTOCOL } from '@qianliyan/protocols';
import fp from 'fastify-plugin';
import { VideoHolders } from '../cluster/video-holders.ts';
import { VideoService } from '../video/video-service.ts';

declare module 'fastify' {
  interface FastifyInstance {
    video: VideoService;
  }
}

export const videoPlugin = fp(
  async (app) => {
    // socket.io answers upgrades on /socket.io itself; only the others go through Fastify's router
    // (were both to answer, the live channel's handshake would be corrupted).
    const upgrades = new EventEmitter();
    const route = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (!request.url?.startsWith('/socket.io/')) upgrades.emit('upgrade', request, socket, head);
    };
    app.server.on('upgrade', route);
    app.addHook('onClose', async () => {
      app.server.off('upgrade', route);
    });
    await app.register(websocket, {
      options: {
        maxPayload: MAX_PUSH_MESSAGE_BYTES,
        perMessageDeflate: false,
        server: upgrades as never,
        // The talk socket offers its protocol and the sender's login token (talkSocketProtocols): the
        // answer names the protocol, never echoes the token.
        handleProtocols: (offered: Set<string>) => (offered.has(TALK_WS_PROTOCOL) ? TALK_WS_PROTOCOL : false),
      },
    });
    // Several hubs: one streams each camera stream, the others relay it (cluster/video-holders.ts).
    const { cluster, tls, host, port } = app.config;
    const ownHost = host === '0.0.0.0' || host === '::' ? hostname() : host;
    const advertiseUrl = cluster.advertiseUrl ?? `${tls.certFile ? 'https' : 'http'}://${ownHost}:${port}`;
    if (app.cluster.enabled && !cluster.advertiseUrl)
      app.log.warn({ advertiseUrl }, 'cluster.advertiseUrl not set; gateways and hubs are sent this guess');
    const holders = app.cluster.enabled
      ? new VideoHolders(app.cluster.leases, app.stateDb, app.cluster.hubId, advertiseUrl)
      : undefined;
    const video = new VideoService(
      app.config.video,
      app.secrets.jwtSecret,
      app.registry,
      app.commands,
      app.sessions,
      app.stateDb,
      app.metrics,
      app.log.child({ module: 'video' }),
      holders,
      tls.caFile ? readFileSync(tls.caFile, 'utf8') : undefined,
    );
    video.start();
    app.decorate('video', video);
    // Every ffmpeg is stopped and reaped before the hub's close resolves.
    app.addHook('onClose', async () => video.stop());
  },
  { name: 'video', dependencies: ['commands', 'auth', 'cluster'] },
);
