/**
 * Recordings and evidence (protocols/src/recording.ts).
 *
 * Users (scope: the camera's village, as for live video):
 *  GET  /api/cameras/:key/recordings — what the gateway holds of a camera: ranges, gaps, bytes;
 *  GET  /api/incidents/:id/evidence — the clips of an incident (and of the alarm it came from);
 *  GET  /api/evidence/:id — one clip;
 *  POST /api/evidence/:id/token — a one-use, short-lived download token for a stored clip;
 *  GET  /api/evidence/file?token=… — the MP4 (the token is the credential, so a `<video>` or a
 *       download link can use it; redeemed once; audited with the clip's SHA-256).
 * Gateways (their own credential, HTTP Basic):
 *  PUT  /api/edge/recordings/:upload — a clip this hub asked for (`video/mp4`, streamed, bounded).
 */
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ID_PATTERN, REST_ANSWERS, userMaySee } from '@qianliyan/protocols';
import { Type } from '@sinclair/typebox';
import { HubError } from '../errors.ts';
import { EVIDENCE_FILE_PATH, UploadRefused } from '../services/evidence.ts';
import { bearer, errorResponses } from './schemas.ts';

const KeyParams = Type.Object({ key: Type.String({ pattern: `^${ID_PATTERN}\\.${ID_PATTERN}$` }) });
const IdParams = Type.Object({ id: Type.Integer({ minimum: 1 }) });
const UploadParams = Type.Object({ upload: Type.String({ pattern: '^[A-Za-z0-9_-]{16,64}$' }) });
const TokenQuery = Type.Object({ token: Type.Optional(Type.String({ maxLength: 256 })) });

export const recordingRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/api/cameras/:key/recordings',
    {
      onRequest: app.authenticate,
      schema: {
        tags: ['recordings'],
        security: bearer,
        params: KeyParams,
        response: { 200: REST_ANSWERS['GET /api/cameras/:key/recordings'], ...errorResponses },
      },
    },
    async (request) => {
      const device = app.registry.getDevice(request.params.key);
      if (!device) throw new HubError('HUB_ERR_NOT_FOUND', `no device ${request.params.key}`);
      if (!userMaySee(request.user, device.site))
        throw new HubError('HUB_ERR_FORBIDDEN', `${request.params.key} is outside your sites`);
      return app.recordingIndex.view(device.gateway, device.device, device.site);
    },
  );

  app.get(
    '/api/incidents/:id/evidence',
    {
      onRequest: app.authenticate,
      schema: {
        tags: ['recordings'],
        security: bearer,
        params: IdParams,
        response: { 200: REST_ANSWERS['GET /api/incidents/:id/evidence'], ...errorResponses },
      },
    },
    async (request) => {
      const incident = app.incidents.get(request.user, request.params.id);
      return app.evidence.ofIncident(incident).filter((e) => userMaySee(request.user, e.site));
    },
  );

  app.get(
    '/api/evidence/:id',
    {
      onRequest: app.authenticate,
      schema: {
        tags: ['recordings'],
        security: bearer,
        params: IdParams,
        response: { 200: REST_ANSWERS['GET /api/evidence/:id'], ...errorResponses },
      },
    },
    async (request) => app.evidence.get(request.user, request.params.id),
  );

  app.post(
    '/api/evidence/:id/token',
    {
      onRequest: app.authenticate,
      schema: {
        tags: ['recordings'],
        security: bearer,
        params: IdParams,
        response: { 200: REST_ANSWERS['POST /api/evidence/:id/token'], ...errorResponses },
      },
    },
    async (request) => app.evidence.issueToken(request.user, request.params.id),
  );

  app.get(
    EVIDENCE_FILE_PATH,
    { schema: { tags: ['recordings'], querystring: TokenQuery } },
    async (request, reply) => {
      const { file, view } = app.evidence.redeem(request.query.token);
      const name = `${view.device}-${new Date(view.from).toISOString().replace(/[:.]/g, '-')}.mp4`;
      return reply
        .header('Content-Type', 'video/mp4')
        .header('Content-Length', String(view.bytes ?? 0))
        .header('Content-Disposition', `attachment; filename="${name}"`)
        .header('X-Content-SHA256', view.sha256 ?? '')
        .header('Cache-Control', 'no-store')
        .send(createReadStream(file));
    },
  );

  app.register(async (edge) => {
    // The body is streamed to disk (hashed and bounded by the evidence service), never buffered.
    edge.addContentTypeParser('video/mp4', (_request, payload, done) => done(null, payload));
    edge.put(
      '/api/edge/recordings/:upload',
      {
        schema: { tags: ['edge'], params: UploadParams },
        onRequest: async (request) => {
          const gateway = await app.video.authenticateGateway(request.headers.authorization);
          if (!gateway) {
            app.evidence.refused.upload_unauthorized = (app.evidence.refused.upload_unauthorized ?? 0) + 1;
            throw new HubError('HUB_ERR_UNAUTHORIZED');
          }
          request.gatewayId = gateway;
        },
      },
      async (request, reply) => {
        const body = request.body as NodeJS.ReadableStream | undefined;
        if (!body || typeof (body as { pipe?: unknown }).pipe !== 'function')
          throw new HubError('HUB_ERR_UNSUPPORTED_MEDIA', 'send video/mp4');
        try {
          await app.evidence.acceptUpload(
            (request.params as { upload: string }).upload,
            request.gatewayId as string,
            body as unknown as Readable,
          );
        } catch (err) {
          if (!(err instanceof UploadRefused)) throw err;
          throw err.reason === 'too_large'
            ? new HubError('HUB_ERR_TOO_LARGE', err.message)
            : err.reason === 'not_mp4'
              ? new HubError('HUB_ERR_UNSUPPORTED_MEDIA', err.message)
              : new HubError('HUB_ERR_NOT_FOUND', err.message);
        }
        return reply.code(204).send();
      },
    );
  });
};
