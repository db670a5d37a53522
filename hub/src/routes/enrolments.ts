/**
 * Enrolment of a gateway with a one-time code (issue 22).
 * POST /api/enrolments (admin) `{gateway, site, ttlMinutes?}` — registers the gateway if new and
 *   answers a code (shown once: only its hash is kept), the command to type on the gateway and a
 *   QR code (SVG) of both. Earlier unused codes of that gateway are void.
 * POST /api/enrol (the gateway, no login: the code is its credential) `{code, publicKey, agentVersion}`
 *   — the gateway's MQTT identity; the code is spent. Refusals (unknown, used, expired, another
 *   hub's code, malformed, too many attempts from one address) are counted and audited.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { EnrolmentCreate, EnrolRequest, REST_ANSWERS } from '@qianliyan/protocols';
import type { FastifyRequest } from 'fastify';
import qrcode from 'qrcode-generator';
import { HubError } from '../errors.ts';
import { TokenBucket } from '../services/token-bucket.ts';
import { adminOnly } from './admin-guard.ts';
import { errorResponses } from './schemas.ts';

export const enrolmentRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { provisioning } = app.config;
  /** The hub as the caller reached it, unless the config names it. */
  const hubUrlOf = (request: FastifyRequest) =>
    provisioning.hubUrl ?? `${request.protocol}://${request.host}`;
  /** The broker as a gateway reaching the hub at this host name reaches it. */
  const mqttUrlOf = (request: FastifyRequest) => {
    if (provisioning.mqttUrl) return provisioning.mqttUrl;
    if (!app.brokerConnection.embedded) return app.config.mqtt.url ?? app.brokerConnection.url;
    const { plain, tls } = app.brokerPorts;
    return tls ? `mqtts://${request.hostname}:${tls}` : `mqtt://${request.hostname}:${plain}`;
  };

  app.post(
    '/api/enrolments',
    {
      onRequest: [app.authenticate, adminOnly(app)],
      schema: {
        body: EnrolmentCreate,
        response: { 201: REST_ANSWERS['POST /api/enrolments'], ...errorResponses },
      },
    },
    async (request, reply) => {
      const { gateway, site, ttlMinutes } = request.body;
      if (gateway === app.config.mqtt.username || gateway === app.config.mqtt.clientId)
        throw new HubError('HUB_ERR_CONFLICT', 'reserved id');
      const { code, expiresAt } = app.provisioning.createCode(
        request.user.username,
        gateway,
        site,
        ttlMinutes,
      );
      const hubUrl = hubUrlOf(request);
      const qr = qrcode(0, 'M');
      // What a phone or the gateway's camera reads: the same two arguments as the command.
      qr.addData(`${hubUrl}#enrol=${code}`);
      qr.make();
      return reply.code(201).send({
        gateway,
        site,
        code,
        expiresAt,
        hubUrl,
        command: `edge-agent enroll ${hubUrl} ${code}`,
        qrSvg: qr.createSvgTag({ cellSize: 4, margin: 8, scalable: true }),
      });
    },
  );

  const buckets = new Map<string, TokenBucket>();
  app.post(
    '/api/enrol',
    {
      schema: {
        body: EnrolRequest,
        response: {
          200: REST_ANSWERS['POST /api/enrol'],
          ...errorResponses,
          429: errorResponses[400],
        },
      },
    },
    async (request) => {
      let bucket = buckets.get(request.ip);
      if (!bucket) {
        if (buckets.size > 10_000) buckets.clear();
        bucket = new TokenBucket(
          provisioning.enrolAttemptsPerMinute / 60,
          provisioning.enrolAttemptsPerMinute,
        );
        buckets.set(request.ip, bucket);
      }
      if (!bucket.take()) {
        app.metrics.enrolRefused.inc({ reason: 'throttled' });
        throw new HubError(
          'HUB_ERR_RATE_LIMITED',
          'too many enrolment attempts from this address; wait a minute',
        );
      }
      const { code, publicKey, agentVersion } = request.body;
      const enrolled = await app.provisioning.enrol(code, publicKey, agentVersion, request.ip);
      return {
        gateway: { id: enrolled.gateway, site: enrolled.site },
        mqtt: { url: mqttUrlOf(request), username: enrolled.gateway, password: enrolled.password },
        hubUrl: hubUrlOf(request),
      };
    },
  );
};
