/**
 * Broadcasts and clips.
 *
 * Officers (a session token):
 *   POST /api/clips?name=…         upload audio (WAV/MP3/Ogg by content, ≤ 10 MiB); transcoded once
 *   GET  /api/clips                 uploaded clips
 *   POST /api/broadcasts            targets, content (text, clip, live), priority, repeats, schedule
 *   GET  /api/broadcasts            history (newest first), GET /api/broadcasts/:id one
 *   POST /api/broadcasts/:id/cancel stop it everywhere; POST /api/broadcasts/:id/replay send it again
 *   POST /api/broadcasts/:id/speakers/:key/stop  stop it on one loudspeaker (the others play on)
 *   GET  /api/broadcasts/talk?token (WebSocket) the microphone of a live broadcast: 16 kHz s16le PCM;
 *        the token is good once, for the login session that created the broadcast, which presents
 *        itself in the socket's subprotocols (`talkSocketProtocols`); the socket closes the moment
 *        that session ends (logout, password change, account disabled or deleted)
 * Gateways (their own credential, HTTP Basic):
 *   GET  /api/edge/clips/:hash      a clip's transcoded WAV
 *   GET  /api/edge/talk/:session    (WebSocket, outbound from the gateway) the live talk to play
 */

import { createReadStream } from 'node:fs';
import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox';
import {
  ACCESS,
  BEARER_WS_PROTOCOL_PREFIX,
  BroadcastRequest,
  CLIP_HASH_PATTERN,
  MAX_CLIP_UPLOAD_BYTES,
  MAX_TALK_MESSAGE_BYTES,
  REST_ANSWERS,
  TALK_SAMPLE_RATE,
  TALK_WS_PATH,
} from '@qianliyan/protocols';
import type { FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import { HubError } from '../errors.ts';
import type { AuthUser, TokenClaims } from '../services/sessions.ts';
import { ThrottledLog } from '../services/throttled-log.ts';
import { bearer, errorResponses } from './schemas.ts';

const IdParams = Type.Object({ id: Type.String({ maxLength: 64 }) });
const AUDIO_TYPES = [
  'audio/wav',
  'audio/x-wav',
  'audio/wave',
  'audio/mpeg',
  'audio/ogg',
  'application/octet-stream',
];
/** Audio buffered for gateways that have not dialled in yet (2 s). */
const TALK_BACKLOG_BYTES = TALK_SAMPLE_RATE * 2 * 2;

interface TalkRelay {
  gateways: Set<WebSocket>;
  backlog: Buffer[];
  backlogBytes: number;
  browser?: WebSocket;
  /** The login session speaking: the microphone lives only as long as it does. */
  speaker?: AuthUser;
  ended: boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    talk?: { session: string; user: AuthUser };
  }
}

export const broadcastRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { broadcasts, clips } = app;
  const relays = new Map<string, TalkRelay>();
  const relay = (session: string): TalkRelay => {
    let r = relays.get(session);
    if (!r) {
      r = { gateways: new Set(), backlog: [], backlogBytes: 0, ended: false };
      relays.set(session, r);
    }
    return r;
  };
  const OPERATORS = app.requireRole(ACCESS.broadcast);

  app.register(async (upload) => {
    upload.addContentTypeParser(
      AUDIO_TYPES,
      { parseAs: 'buffer', bodyLimit: MAX_CLIP_UPLOAD_BYTES },
      (_r, body, done) => done(null, body),
    );
    upload.post(
      '/api/clips',
      {
        bodyLimit: MAX_CLIP_UPLOAD_BYTES,
        onRequest: [app.authenticate, OPERATORS],
        onError: async (_request, _reply, error) => {
          if ((error as { statusCode?: number }).statusCode === 413)
            app.metrics.audioRefused.inc({ reason: 'clip_too_large' });
        },
        schema: {
          tags: ['broadcasts'],
          security: bearer,
          querystring: Type.Object(
            { name: Type.Optional(Type.String({ maxLength: 120 })) },
            { additionalProperties: false },
          ),
          response: { 201: REST_ANSWERS['POST /api/clips'], ...errorResponses },
        },
      },
      async (request, reply) => {
        if (!Buffer.isBuffer(request.body)) {
          app.metrics.audioRefused.inc({ reason: 'clip_not_audio' });
          throw new HubError(
            'HUB_ERR_UNSUPPORTED_MEDIA',
            'send the audio file as the body (audio/wav, audio/mpeg or audio/ogg)',
          );
        }
        const clip = await clips
          .add(request.body, (request.query as { name?: string }).name ?? 'clip', request.user)
          .catch((err: unknown) => {
            if (err instanceof HubError && err.statusCode === 415)
              app.metrics.audioRefused.inc({ reason: 'clip_not_audio' });
            throw err;
          });
        app.audit.append({
          actor: request.user.username,
          action: 'clip.upload',
          target: clip.hash,
          outcome: 'ok',
          detail: { name: clip.name, durationMs: clip.durationMs },
        });
        return reply.code(201).send(clip);
      },
    );
  });

  app.get(
    '/api/clips',
    {
      onRequest: app.authenticate,
      schema: {
        tags: ['broadcasts'],
        security: bearer,
        response: { 200: REST_ANSWERS['GET /api/clips'], ...errorResponses },
      },
    },
    async (request) => clips.list(request.user),
  );

  app.post(
    '/api/broadcasts',
    {
      onRequest: app.authenticate,
      schema: {
        tags: ['broadcasts'],
        security: bearer,
        body: BroadcastRequest,
        response: { 201: REST_ANSWERS['POST /api/broadcasts'], ...errorResponses },
      },
    },
    async (request, reply) => reply.code(201).send(broadcasts.create(request.user, request.body)),
  );

  app.get(
    '/api/broadcasts',
    {
      onRequest: app.authenticate,
      schema: {
        tags: ['broadcasts'],
        security: bearer,
        querystring: Type.Object(
          { limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }) },
          { additionalProperties: false },
        ),
        response: { 200: REST_ANSWERS['GET /api/broadcasts'], ...errorResponses },
      },
    },
    async (request) => broadcasts.list(request.user, request.query.limit),
  );

  app.get(
    '/api/broadcasts/:id',
    {
      onRequest: app.authenticate,
      schema: {
        tags: ['broadcasts'],
        security: bearer,
        params: IdParams,
        response: { 200: REST_ANSWERS['GET /api/broadcasts/:id'], ...errorResponses },
      },
    },
    async (request) => broadcasts.get(request.user, request.params.id),
  );

  app.post(
    '/api/broadcasts/:id/cancel',
    {
      onRequest: [app.authenticate, OPERATORS],
      schema: {
        tags: ['broadcasts'],
        security: bearer,
        params: IdParams,
        response: { 200: REST_ANSWERS['POST /api/broadcasts/:id/cancel'], ...errorResponses },
      },
    },
    async (request) => {
      const view = broadcasts.cancel(request.user, request.params.id);
      const session = (view.content as { live?: { session: string } }).live?.session;
      if (session) endTalk(session);
      return view;
    },
  );

  app.post(
    '/api/broadcasts/:id/speakers/:key/stop',
    {
      onRequest: [app.authenticate, OPERATORS],
      schema: {
        tags: ['broadcasts'],
        security: bearer,
        params: Type.Object({ id: Type.String({ maxLength: 64 }), key: Type.String({ maxLength: 200 }) }),
        response: { 200: REST_ANSWERS['POST /api/broadcasts/:id/speakers/:key/stop'], ...errorResponses },
      },
    },
    async (request) => broadcasts.stopSpeaker(request.user, request.params.id, request.params.key),
  );

  app.post(
    '/api/broadcasts/:id/replay',
    {
      onRequest: app.authenticate,
      schema: {
        tags: ['broadcasts'],
        security: bearer,
        params: IdParams,
        response: { 201: REST_ANSWERS['POST /api/broadcasts/:id/replay'], ...errorResponses },
      },
    },
    async (request, reply) => {
      const old = broadcasts.get(request.user, request.params.id);
      if ('live' in (old.content as object))
        throw new HubError('HUB_ERR_VALIDATION', 'live talk cannot be replayed', { reason: 'live_talk' });
      return reply.code(201).send(
        broadcasts.create(request.user, {
          targets: old.targets,
          content: old.content as BroadcastRequest['content'],
          priority: old.priority,
          repeat: old.repeat,
          ...(old.title ? { title: old.title } : {}),
        }),
      );
    },
  );

  function endTalk(session: string, code = 1000, reason = 'ended'): void {
    const r = relays.get(session);
    if (!r) return;
    r.ended = true;
    r.browser?.close(code, reason);
    for (const g of r.gateways) g.close(1000, 'talk ended');
    relays.delete(session);
    broadcasts.talkSessions.delete(session);
  }

  const log = new ThrottledLog(app.log.child({ module: 'talk' }), 1000);
  const refuseTalk = (reason: string, request: FastifyRequest, err: HubError): never => {
    app.metrics.audioRefused.inc({ reason });
    log.warn(`${request.ip}/${reason}`, { reason, address: request.ip }, 'live talk refused');
    throw err;
  };

  /** The live login session presenting itself in the talk socket's subprotocols, if any. */
  const talkPresenter = (request: FastifyRequest): AuthUser | undefined => {
    const offered = String(request.headers['sec-websocket-protocol'] ?? '')
      .split(',')
      .map((p) => p.trim());
    const login = offered.find((p) => p.startsWith(BEARER_WS_PROTOCOL_PREFIX));
    if (!login) return undefined;
    try {
      const claims = app.jwt.verify<TokenClaims>(login.slice(BEARER_WS_PROTOCOL_PREFIX.length));
      return app.sessions.resolve(claims);
    } catch {
      return undefined;
    }
  };

  // A session that ends takes its microphone with it at once (and the gateways' sockets: the
  // speakers stop) — logout, password change, account disabled or deleted, scope changed.
  const endTalksWhere = (match: (user: AuthUser) => boolean) => {
    for (const [session, r] of relays)
      if (r.speaker && match(r.speaker)) {
        app.metrics.audioRefused.inc({ reason: 'talk_session_ended' });
        endTalk(session, 4401, 'session ended');
      }
  };
  const unsubscribe = app.bus.on('sessionsRevoked', 'talk', ({ sid, username }) =>
    endTalksWhere((u) => u.sid === sid || u.username === username),
  );
  // Sessions also end by expiring, which nothing announces: checked every second.
  const expiry = setInterval(
    () => endTalksWhere((u) => !app.sessions.resolve({ sub: u.username, sid: u.sid })),
    1000,
  );
  expiry.unref();
  app.addHook('onClose', async () => {
    unsubscribe();
    clearInterval(expiry);
    for (const session of [...relays.keys()]) endTalk(session, 1001, 'hub stopping');
  });

  // The officer's microphone: a token issued with the broadcast to one login session, good once.
  app.get(
    TALK_WS_PATH,
    {
      websocket: true,
      schema: {
        tags: ['broadcasts'],
        querystring: Type.Object({ token: Type.String({ maxLength: 200 }) }, { additionalProperties: false }),
      },
      preValidation: async (request: FastifyRequest) => {
        const { token } = request.query as { token: string };
        const presenter = talkPresenter(request);
        if (!presenter)
          return refuseTalk('talk_unauthenticated', request, new HubError('HUB_ERR_UNAUTHORIZED'));
        const taken = app.broadcasts.takeTalkToken(token, presenter);
        if ('refused' in taken)
          return refuseTalk(
            taken.refused,
            request,
            taken.refused === 'talk_token'
              ? new HubError('HUB_ERR_UNAUTHORIZED') // good once, for a minute: like any missing credential
              : new HubError('HUB_ERR_FORBIDDEN', 'this talk token belongs to another session or place'),
          );
        request.talk = { session: taken.session, user: presenter };
      },
    },
    (socket: WebSocket, request) => {
      const { session, user } = request.talk as NonNullable<FastifyRequest['talk']>;
      const r = relay(session);
      r.browser = socket;
      r.speaker = user;
      const talk = broadcasts.talkSessions.get(session);
      if (talk) talk.connected = true;
      let window = { start: Date.now(), bytes: 0 };
      socket.on('message', (data: Buffer, binary: boolean) => {
        if (!binary || data.length > MAX_TALK_MESSAGE_BYTES || data.length % 2 !== 0) {
          app.metrics.audioRefused.inc({ reason: 'talk_frame' });
          socket.close(1008, 'send 16-bit PCM frames');
          return;
        }
        const now = Date.now();
        if (now - window.start >= 1000) window = { start: now, bytes: 0 };
        window.bytes += data.length;
        // Twice real time at most: a microphone cannot send faster.
        if (window.bytes > TALK_SAMPLE_RATE * 2 * 2) {
          app.metrics.audioRefused.inc({ reason: 'talk_rate' });
          socket.close(1008, 'faster than real time');
          return;
        }
        if (r.gateways.size === 0) {
          r.backlog.push(data);
          r.backlogBytes += data.length;
          while (r.backlogBytes > TALK_BACKLOG_BYTES) r.backlogBytes -= (r.backlog.shift() as Buffer).length;
        }
        for (const g of r.gateways) if (g.bufferedAmount < 256 * 1024) g.send(data);
      });
      socket.on('close', () => endTalk(session));
      socket.on('error', () => socket.terminate());
    },
  );

  app.get(
    '/api/edge/talk/:session',
    {
      websocket: true,
      schema: {
        tags: ['edge'],
        params: Type.Object({ session: Type.String({ pattern: '^[0-9a-f]{32}$' }) }),
      },
      preValidation: async (request: FastifyRequest) => {
        const gateway = await app.video.authenticateGateway(request.headers.authorization);
        if (!gateway) {
          app.metrics.audioRefused.inc({ reason: 'talk_gateway' });
          throw new HubError('HUB_ERR_UNAUTHORIZED');
        }
        const { session } = request.params as { session: string };
        const s = broadcasts.talkSessions.get(session);
        if (!s || !s.gateways.has(gateway)) {
          app.metrics.audioRefused.inc({ reason: 'talk_gateway' });
          throw new HubError('HUB_ERR_NOT_FOUND', 'no such talk session');
        }
      },
    },
    (socket: WebSocket, request) => {
      const r = relay((request.params as { session: string }).session);
      if (r.ended) return void socket.close(1000, 'talk ended');
      for (const chunk of r.backlog) socket.send(chunk);
      r.gateways.add(socket);
      socket.on('message', () => {
        app.metrics.audioRefused.inc({ reason: 'talk_gateway_sent' });
        socket.close(1008, 'gateways only listen');
      });
      socket.on('close', () => r.gateways.delete(socket));
      socket.on('error', () => socket.terminate());
    },
  );

  app.get(
    '/api/edge/clips/:hash',
    {
      schema: { tags: ['edge'], params: Type.Object({ hash: Type.String({ pattern: CLIP_HASH_PATTERN }) }) },
      onRequest: async (request) => {
        if (!(await app.video.authenticateGateway(request.headers.authorization))) {
          app.metrics.audioRefused.inc({ reason: 'clip_fetch' });
          throw new HubError('HUB_ERR_UNAUTHORIZED');
        }
      },
    },
    async (request, reply) => {
      const { hash } = request.params;
      if (!clips.get(hash)) throw new HubError('HUB_ERR_NOT_FOUND', 'no such clip');
      return reply
        .header('content-type', 'audio/wav')
        .header('content-length', clips.size(hash))
        .send(createReadStream(clips.path(hash)));
    },
  );
};
