/**
 * Live video and snapshots (protocols/src/video.ts).
 *
 * Viewers (users):
 *  POST /api/video/tokens `{device, stream}` → a stream token for one camera stream (scope checked);
 *  GET  /api/video/ws?token=…&format=mse|jsmpeg — the viewer socket (WebSocket); refused before the
 *       upgrade (401/403/404/429) without a valid, unused token (one token opens one socket, once),
 *       and closed the moment the login session ends;
 *  GET  /api/devices/:key/snapshot — one JPEG;
 *  GET  /api/video/relays — the streams being relayed (command room).
 * Hubs of a cluster (a hub relay token, cluster-source.ts):
 *  GET  /api/cluster/video/ws?token=… — a stream this hub holds, relayed by another hub.
 * Gateways (their own credential, HTTP Basic):
 *  GET  /api/edge/streams/:session — the push socket for a session this hub named;
 *  POST /api/edge/snapshots/:upload — one JPEG for an upload this hub named.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import {
  ACCESS,
  ID_PATTERN,
  MAX_SNAPSHOT_BYTES,
  REST_ANSWERS,
  SESSION_PATTERN,
  VIDEO_WS_PATH,
  VideoTokenRequest,
} from '@qianliyan/protocols';
import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import { HubError } from '../errors.ts';
import type { AuthUser } from '../services/sessions.ts';
import { PEER_VIDEO_PATH } from '../video/cluster-source.ts';
import type { Viewer } from '../video/relay.ts';
import { VideoRefused } from '../video/video-service.ts';
import { bearer, errorResponses } from './schemas.ts';

const KeyParams = Type.Object({ key: Type.String({ pattern: `^${ID_PATTERN}\\.${ID_PATTERN}$` }) });
const SessionParams = Type.Object({ session: Type.String({ pattern: SESSION_PATTERN }) });
const UploadParams = Type.Object({ upload: Type.String({ pattern: SESSION_PATTERN }) });
const ViewerQuery = Type.Object({
  token: Type.Optional(Type.String({ maxLength: 1024 })),
  /** The camera the viewer means to watch: a token for another camera is refused. */
  device: Type.Optional(Type.String({ maxLength: 130 })),
  format: Type.Optional(Type.Union([Type.Literal('mse'), Type.Literal('jsmpeg')], { default: 'mse' })),
  /** `1`: the browser plays H.265 in MSE, so an H.265 camera reaches it untouched. */
  hevc: Type.Optional(Type.Union([Type.Literal('0'), Type.Literal('1')])),
});

const PeerQuery = Type.Object({ token: Type.Optional(Type.String({ maxLength: 1024 })) });

declare module 'fastify' {
  interface FastifyRequest {
    videoViewer?: { user: AuthUser; device: string; stream: 'main' | 'sub' };
    videoPeer?: { device: string; stream: 'main' | 'sub' };
    gatewayId?: string;
  }
}

/** Refusals before a WebSocket upgrade become HTTP errors, so a client sees a status, not a hang. */
function asHttp(err: unknown): HubError {
  if (!(err instanceof VideoRefused)) return err as HubError;
  switch (err.reason) {
    case 'too_many_viewers':
    case 'too_many_relays':
      return new HubError('HUB_ERR_RATE_LIMITED', err.message);
    case 'no_such_stream':
      return new HubError('HUB_ERR_NOT_FOUND', err.message);
    default:
      return new HubError('HUB_ERR_UNAUTHORIZED', err.message);
  }
}

export const videoRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const video = app.video;
  // Open viewer sockets by their login session: a session that ends closes them at once.
  const viewerSockets = new Map<WebSocket, AuthUser>();
  const unsubscribe = app.bus.on('sessionsRevoked', 'video', ({ sid, username }) => {
    for (const [socket, user] of viewerSockets)
      if (user.sid === sid || user.username === username) {
        video.refuse('session_ended', 'session ended');
        socket.close(4401, 'session ended');
      }
  });
  app.addHook('onClose', async () => unsubscribe());

  app.post(
    '/api/video/tokens',
    {
      onRequest: app.authenticate,
      schema: {
        tags: ['video'],
        security: bearer,
        body: VideoTokenRequest,
        response: { 200: REST_ANSWERS['POST /api/video/tokens'], ...errorResponses },
      },
    },
    async (request) => {
      const { token, expiresAt, stream } = video.issueToken(
        request.user,
        request.body.device,
        request.body.stream,
      );
      return { token, expiresAt, path: VIDEO_WS_PATH, stream };
    },
  );

  app.get(
    VIDEO_WS_PATH,
    {
      websocket: true,
      schema: { tags: ['video'], querystring: ViewerQuery },
      // Checked before the upgrade: a refused viewer gets an HTTP status and no socket.
      preValidation: async (request: FastifyRequest) => {
        const query = request.query as { token?: string; device?: string };
        try {
          request.videoViewer = video.authorizeViewer(query.token);
        } catch (err) {
          throw asHttp(err);
        }
        if (query.device !== undefined && query.device !== request.videoViewer.device) {
          video.refuse('other_camera', 'stream token for another camera');
          throw new HubError('HUB_ERR_FORBIDDEN', 'this stream token is for another camera');
        }
      },
    },
    (socket: WebSocket, request) => {
      const auth = request.videoViewer as NonNullable<FastifyRequest['videoViewer']>;
      const query = request.query as { format?: 'mse' | 'jsmpeg'; hevc?: '0' | '1' };
      const format = query.format ?? 'mse';
      const viewer: Viewer = {
        format,
        hevc: query.hevc === '1',
        username: auth.user.username,
        send: (data) => {
          if (socket.readyState !== socket.OPEN) return;
          socket.send(data);
          if (typeof data !== 'string') video.countBytesOut(data.length);
        },
        buffered: () => socket.bufferedAmount,
        close: (code, reason) => socket.close(code, reason),
      };
      let detach: () => void;
      try {
        detach = video.attachViewer(auth.user, auth.device, auth.stream, viewer);
      } catch (err) {
        socket.close(4429, (err as Error).message.slice(0, 120));
        return;
      }
      viewerSockets.set(socket, auth.user);
      // The session behind the token is checked while the socket lives: revocations close it at once
      // (above), an expiry within 2 s.
      const recheck = setInterval(() => {
        if (!app.sessions.resolve({ sub: auth.user.username, sid: auth.user.sid })) {
          video.refuse('session_ended', 'session ended');
          socket.close(4401, 'session ended');
        }
      }, 2000);
      socket.on('message', () => {
        // Viewers only listen; anything they send ends the socket.
        video.refuse('viewer_message', 'viewer sent a message');
        socket.close(1008, 'viewers do not send');
      });
      socket.on('close', () => {
        viewerSockets.delete(socket);
        clearInterval(recheck);
        detach();
      });
      socket.on('error', () => socket.terminate());
    },
  );

  // Several hubs: another hub relays a stream this one holds, for its own viewers (cluster-source.ts).
  app.get(
    PEER_VIDEO_PATH,
    {
      websocket: true,
      schema: { tags: ['cluster'], querystring: PeerQuery },
      preValidation: async (request: FastifyRequest) => {
        try {
          request.videoPeer = video.authorizePeer((request.query as { token?: string }).token);
        } catch (err) {
          throw (err as VideoRefused).reason === 'peer_not_holder'
            ? new HubError('HUB_ERR_CONFLICT', (err as Error).message)
            : new HubError('HUB_ERR_UNAUTHORIZED', (err as Error).message);
        }
      },
    },
    (socket: WebSocket, request) => {
      const { device, stream } = request.videoPeer as NonNullable<FastifyRequest['videoPeer']>;
      const viewer: Viewer = {
        format: 'mse',
        hevc: true,
        username: 'hub-peer',
        send: (data) => {
          if (socket.readyState === socket.OPEN) socket.send(data);
        },
        buffered: () => socket.bufferedAmount,
        close: (code, reason) => socket.close(code, reason),
      };
      let detach: () => void;
      try {
        detach = video.attachPeer(device, stream, viewer);
      } catch (err) {
        socket.close(4409, (err as Error).message.slice(0, 120));
        return;
      }
      socket.on('message', () => socket.close(1008, 'peers do not send'));
      socket.on('close', () => detach());
      socket.on('error', () => socket.terminate());
    },
  );

  /** The gateway's own credential (HTTP Basic), as its MQTT login. */
  const authenticateGateway = async (
    request: FastifyRequest,
    refusal: 'push_unauthorized' | 'snapshot_unauthorized',
  ) => {
    const gateway = await video.authenticateGateway(request.headers.authorization);
    if (!gateway) {
      video.refuse(refusal, 'gateway authentication failed');
      throw new HubError('HUB_ERR_UNAUTHORIZED');
    }
    request.gatewayId = gateway;
  };

  app.get(
    '/api/edge/streams/:session',
    {
      websocket: true,
      schema: { tags: ['edge'], params: SessionParams },
      preValidation: async (request: FastifyRequest) => {
        await authenticateGateway(request, 'push_unauthorized');
        const { session } = request.params as { session: string };
        const refusal = video.checkPush(session, request.gatewayId as string);
        if (refusal) {
          video.refuse(refusal, refusal);
          throw new HubError(
            refusal === 'push_wrong_gateway' ? 'HUB_ERR_FORBIDDEN' : 'HUB_ERR_NOT_FOUND',
            'no such stream session',
          );
        }
      },
    },
    (socket: WebSocket, request) => {
      video.acceptPush((request.params as { session: string }).session, request.gatewayId as string, socket);
    },
  );

  app.register(async (edge) => {
    edge.addContentTypeParser(
      'image/jpeg',
      { parseAs: 'buffer', bodyLimit: MAX_SNAPSHOT_BYTES },
      (_req, body, done) => done(null, body),
    );
    edge.post(
      '/api/edge/snapshots/:upload',
      {
        bodyLimit: MAX_SNAPSHOT_BYTES,
        schema: { tags: ['edge'], params: UploadParams },
        onRequest: async (request) => authenticateGateway(request, 'snapshot_unauthorized'),
      },
      async (request, reply) => {
        if (!Buffer.isBuffer(request.body))
          throw new HubError('HUB_ERR_UNSUPPORTED_MEDIA', 'send image/jpeg');
        const { upload } = request.params as { upload: string };
        const refusal = video.acceptSnapshot(upload, request.gatewayId as string, request.body);
        if (refusal) {
          video.refuse(refusal, refusal);
          throw refusal === 'snapshot_not_jpeg'
            ? new HubError('HUB_ERR_UNSUPPORTED_MEDIA', 'not a JPEG')
            : new HubError('HUB_ERR_NOT_FOUND', 'no such snapshot request');
        }
        return reply.code(204).send();
      },
    );
  });

  app.get(
    '/api/devices/:key/snapshot',
    {
      onRequest: app.authenticate,
      schema: { tags: ['video'], security: bearer, params: KeyParams },
    },
    async (request, reply) => {
      const jpeg = await video.snapshot(request.user, request.params.key);
      app.audit.append({
        actor: request.user.username,
        action: 'video.snapshot',
        target: request.params.key,
        outcome: 'ok',
        detail: { bytes: jpeg.length },
      });
      return reply.header('content-type', 'image/jpeg').header('cache-control', 'no-store').send(jpeg);
    },
  );

  app.get(
    '/api/video/relays',
    {
      onRequest: [app.authenticate, app.requireRole(ACCESS.inspectVideo)],
      schema: { tags: ['video'], security: bearer },
    },
    async () => ({ relays: video.list() }),
  );
};
