/**
 * Incidents (protocols/src/incidents.ts):
 *   GET  /api/incidents                       in the caller's scope (status, site, priority, open, limit)
 *   POST /api/incidents                       report one (from an alarm, or by hand at a place)
 *   GET  /api/incidents/kpis                  acceptance, closure, on-time rates, MTTA, MTTR per village
 *   GET  /api/incidents/:id                   with its timeline
 *   POST /api/incidents/:id/transitions       accept, assign, start, resolve, close, reopen, escalate, return
 *   POST /api/incidents/:id/attachments       a camera snapshot attached ({device})
 *   GET  /api/incidents/:id/attachments/:n    the JPEG
 *   POST /api/incidents/:id/link              the one-click linkage: nearest cameras, speakers, drone
 *   POST /api/incidents/:id/link/broadcast    start the proposed warning broadcast
 *   POST /api/incidents/:id/link/drone        send the proposed drone to the spot (the click confirms)
 * A village operator reads and acts on their own village's incidents only (403/404 otherwise).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import {
  ACCESS,
  hasRole,
  INCIDENT_PRIORITIES,
  INCIDENT_STATUSES,
  IncidentCreate,
  IncidentTransition,
  parseDeviceKey,
  REST_ANSWERS,
  userMaySee,
  VILLAGE,
} from '@qianliyan/protocols';
import { Type } from '@sinclair/typebox';
import { HubError } from '../errors.ts';
import { MANUAL_LINK } from '../services/linkage.ts';
import { bearer, errorResponses } from './schemas.ts';

const IdParams = Type.Object({ id: Type.Integer({ minimum: 1 }) });

export const incidentRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.addHook('onRequest', app.authenticate);
  const dir = (id: number) => join(app.config.dataDir, 'incidents', String(id));

  app.get(
    '/api/incidents',
    {
      schema: {
        tags: ['incidents'],
        security: bearer,
        querystring: Type.Object({
          status: Type.Optional(Type.Union(INCIDENT_STATUSES.map((s) => Type.Literal(s)))),
          priority: Type.Optional(Type.Union(INCIDENT_PRIORITIES.map((p) => Type.Literal(p)))),
          site: Type.Optional(Type.String({ maxLength: 64 })),
          open: Type.Optional(Type.Boolean()),
          limit: Type.Integer({ minimum: 1, maximum: 1000, default: 200 }),
        }),
        response: { 200: REST_ANSWERS['GET /api/incidents'], ...errorResponses },
      },
    },
    async (request) => {
      const q = request.query;
      if (q.site && !userMaySee(request.user, q.site))
        throw new HubError('HUB_ERR_FORBIDDEN', `${q.site} is outside your sites`);
      return app.incidents.list(request.user, {
        limit: q.limit,
        ...(q.status ? { status: q.status } : {}),
        ...(q.priority ? { priority: q.priority } : {}),
        ...(q.site ? { site: q.site } : {}),
        ...(q.open ? { open: true } : {}),
      });
    },
  );

  app.post(
    '/api/incidents',
    {
      onRequest: app.requireRole(ACCESS.reportIncident),
      schema: {
        tags: ['incidents'],
        security: bearer,
        body: IncidentCreate,
        response: { 201: REST_ANSWERS['POST /api/incidents'], ...errorResponses },
      },
    },
    async (request, reply) => {
      const body = request.body;
      let { site, location, devices } = body;
      if (body.alarm !== undefined) {
        const alarm = app.alarms.get(body.alarm);
        if (!alarm || !userMaySee(request.user, alarm.site))
          throw new HubError('HUB_ERR_NOT_FOUND', 'no such alarm');
        site = alarm.site;
        location = location ?? app.registry.getDevice(alarm.device)?.position;
        devices = [...new Set([alarm.device, ...(devices ?? [])])];
      }
      if (!site)
        throw new HubError('HUB_ERR_VALIDATION', 'an incident needs a site (or the alarm it comes from)', {
          field: 'site',
          reason: 'required',
        });
      // Only devices the reporter may see: listing another village's camera here would let it be
      // snapshotted into this incident by someone who sees both, and read back by the reporter.
      for (const key of devices ?? []) {
        const device = app.registry.getDevice(key);
        if (!device || !userMaySee(request.user, device.site))
          throw new HubError('HUB_ERR_VALIDATION', `no device ${key} in your sites`, {
            field: 'devices',
            reason: 'out_of_scope',
          });
      }
      const incident = app.incidents.create(request.user, {
        ...body,
        site,
        ...(location ? { location } : {}),
        ...(devices ? { devices } : {}),
        source:
          body.alarm !== undefined ? 'alarm' : hasRole(request.user.role, VILLAGE) ? 'village' : 'officer',
      });
      reply.code(201);
      return incident;
    },
  );

  app.get(
    '/api/incidents/kpis',
    {
      schema: {
        tags: ['incidents'],
        security: bearer,
        querystring: Type.Object({
          from: Type.Integer({ minimum: 0 }),
          to: Type.Integer({ minimum: 0 }),
          site: Type.Optional(Type.String({ maxLength: 64 })),
        }),
        response: { 200: REST_ANSWERS['GET /api/incidents/kpis'], ...errorResponses },
      },
    },
    async (request) => {
      const { from, to, site } = request.query;
      if (to <= from)
        throw new HubError('HUB_ERR_VALIDATION', '`to` must be after `from`', {
          field: 'to',
          reason: 'bad_range',
        });
      if (site && !userMaySee(request.user, site))
        throw new HubError('HUB_ERR_FORBIDDEN', `${site} is outside your sites`);
      return app.incidents.kpis(request.user, from, to, site);
    },
  );

  app.get(
    '/api/incidents/:id',
    {
      schema: {
        tags: ['incidents'],
        security: bearer,
        params: IdParams,
        response: { 200: REST_ANSWERS['GET /api/incidents/:id'], ...errorResponses },
      },
    },
    async (request) => app.incidents.get(request.user, request.params.id),
  );

  app.post(
    '/api/incidents/:id/transitions',
    {
      onRequest: app.requireRole(ACCESS.actOnIncident),
      schema: {
        tags: ['incidents'],
        security: bearer,
        params: IdParams,
        body: IncidentTransition,
        response: { 200: REST_ANSWERS['POST /api/incidents/:id/transitions'], ...errorResponses },
      },
    },
    async (request) => app.incidents.transition(request.user, request.params.id, request.body),
  );

  app.post(
    '/api/incidents/:id/attachments',
    {
      onRequest: app.requireRole(ACCESS.actOnIncident),
      schema: {
        tags: ['incidents'],
        security: bearer,
        params: IdParams,
        body: Type.Object({ device: Type.String({ maxLength: 200 }) }, { additionalProperties: false }),
        response: { 201: REST_ANSWERS['POST /api/incidents/:id/attachments'], ...errorResponses },
      },
    },
    async (request, reply) => {
      const incident = app.incidents.get(request.user, request.params.id);
      const jpeg = await app.video.snapshot(request.user, request.body.device);
      mkdirSync(dir(incident.id), { recursive: true, mode: 0o700 });
      writeFileSync(join(dir(incident.id), `${incident.attachments.length}.jpg`), jpeg, { mode: 0o600 });
      const attachments = app.incidents.addAttachment(incident.id, {
        kind: 'snapshot',
        device: request.body.device,
        ts: Date.now(),
      });
      reply.code(201);
      return { attachments };
    },
  );

  app.get(
    '/api/incidents/:id/attachments/:n',
    {
      schema: {
        tags: ['incidents'],
        security: bearer,
        params: Type.Object({
          id: Type.Integer({ minimum: 1 }),
          n: Type.Integer({ minimum: 0, maximum: 19 }),
        }),
      },
    },
    async (request, reply) => {
      const incident = app.incidents.get(request.user, request.params.id);
      if (request.params.n >= incident.attachments.length)
        throw new HubError('HUB_ERR_NOT_FOUND', 'no such attachment');
      reply.type('image/jpeg');
      return readFileSync(join(dir(incident.id), `${request.params.n}.jpg`));
    },
  );

  app.post(
    '/api/incidents/:id/link',
    {
      onRequest: app.requireRole(ACCESS.linkIncident),
      schema: {
        tags: ['incidents'],
        security: bearer,
        params: IdParams,
        response: { 200: REST_ANSWERS['POST /api/incidents/:id/link'], ...errorResponses },
      },
    },
    async (request) => {
      const incident = app.incidents.get(request.user, request.params.id);
      if (!incident.location)
        throw new HubError('HUB_ERR_CONFLICT', 'the incident has no location: set one to link', {
          reason: 'no_location',
        });
      app.audit.append({
        actor: request.user.username,
        action: 'incident.link',
        target: String(incident.id),
        outcome: 'ok',
        detail: {},
      });
      return app.linkage.run(
        MANUAL_LINK,
        {
          location: incident.location,
          site: incident.site,
          incident: incident.id,
          rule: null,
          ...(incident.devices[0] ? { near: incident.devices[0] } : {}),
        },
        request.user,
      );
    },
  );

  app.post(
    '/api/incidents/:id/link/broadcast',
    {
      onRequest: app.requireRole(ACCESS.linkIncident),
      schema: {
        tags: ['incidents'],
        security: bearer,
        params: IdParams,
        body: Type.Object(
          {
            speakers: Type.Array(Type.String({ maxLength: 200 }), { minItems: 1, maxItems: 50 }),
            text: Type.String({ minLength: 1, maxLength: 500 }),
          },
          { additionalProperties: false },
        ),
        response: { 200: REST_ANSWERS['POST /api/incidents/:id/link/broadcast'], ...errorResponses },
      },
    },
    async (request) => {
      const incident = app.incidents.get(request.user, request.params.id);
      const b = app.broadcasts.create(request.user, {
        targets: { speakers: request.body.speakers },
        content: { tts: { text: request.body.text } },
        priority: 'emergency',
        title: `事件 ${incident.id} 预警`,
      });
      app.incidents.note(incident.id, request.user.username, 'linked', undefined, {
        broadcast: b.id,
        speakers: request.body.speakers,
      });
      return { broadcast: b.id };
    },
  );

  app.post(
    '/api/incidents/:id/link/drone',
    {
      onRequest: app.requireRole(ACCESS.dispatchDrone),
      schema: {
        tags: ['incidents'],
        security: bearer,
        params: IdParams,
        body: Type.Object(
          {
            drone: Type.String({ maxLength: 200 }),
            alt: Type.Optional(Type.Number({ minimum: 5, maximum: 500 })),
          },
          { additionalProperties: false },
        ),
        response: { 202: REST_ANSWERS['POST /api/incidents/:id/link/drone'], ...errorResponses },
      },
    },
    async (request, reply) => {
      const incident = app.incidents.get(request.user, request.params.id);
      if (!incident.location)
        throw new HubError('HUB_ERR_CONFLICT', 'the incident has no location', { reason: 'no_location' });
      const drone = parseDeviceKey(request.body.drone);
      if (!drone)
        throw new HubError('HUB_ERR_VALIDATION', `not a device key: ${request.body.drone}`, {
          field: 'drone',
          reason: 'invalid',
        });
      const row = app.commands.submit({
        user: request.user,
        gateway: drone.gateway,
        device: drone.device,
        action: 'drone.goto',
        params: { lat: incident.location.lat, lon: incident.location.lon, alt: request.body.alt ?? 60 },
        confirm: true, // sending it from the incident's panel is the officer's confirmation
      });
      app.incidents.note(incident.id, request.user.username, 'linked', undefined, {
        drone: request.body.drone,
        command: row.id,
      });
      reply.code(202);
      return { command: row.id };
    },
  );
};
