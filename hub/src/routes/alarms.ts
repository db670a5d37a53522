/**
 * The alarm centre's REST routes (documented in protocols/README.md, "Alarm centre"):
 *
 * - `GET /api/alarms` — search and filter over the history (state, severity, source, type, site,
 *   device, words, time range, `owned` = handled at the user's own level), newest first, paged by
 *   `before`;
 * - `GET /api/alarms/:id` — one alarm with its timeline;
 * - `POST /api/alarms/:id/ack {note?}`, `POST /api/alarms/ack {ids, note?}` (bulk);
 * - `POST /api/alarms/:id/incident {category, title?, priority?, note?}` — acknowledge and open an
 *   incident in one action.
 *
 * Every route is authenticated; a user sees an alarm when its place or the level handling it is in
 * their scope (another village's alarms do not exist for them: 404). Acknowledging is for ACCESS.acknowledgeAlarm
 * roles and audited.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import {
  ACCESS,
  AckNote,
  ALARM_SEVERITIES,
  ALARM_SOURCES,
  ALARM_STATES,
  AlarmAck,
  AlarmBulkAck,
  type AlarmView,
  INCIDENT_PRIORITIES,
  IncidentCreate,
  REST_ANSWERS,
  userMaySee,
} from '@qianliyan/protocols';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { HubError } from '../errors.ts';
import { AlarmError } from '../services/alarms.ts';
import type { AuthUser } from '../services/sessions.ts';
import { bearer, errorResponses } from './schemas.ts';

const csv = (values: readonly string[]) =>
  Type.String({ pattern: `^(${values.join('|')})(,(${values.join('|')}))*$`, maxLength: 200 });

/** The sites a user sees, for a query: undefined when unlimited. */
export function scopeOf(user: AuthUser): string[] | undefined {
  if (user.sites.length > 0) return [...user.sites];
  return user.role === 'village_operator' ? [] : undefined;
}

function mayAlarm(user: AuthUser, alarm: AlarmView): boolean {
  return userMaySee(user, alarm.site) || userMaySee(user, alarm.owner);
}

/** The user's own level: the sites on their account (unexpanded); the tree's roots when unlimited. */
function ownLevel(app: FastifyInstance, user: AuthUser): string[] {
  const account = app.stateDb.getUser(user.username)?.sites ?? [];
  if (account.length > 0) return account;
  if (user.role === 'village_operator') return [];
  return app.siteTree
    .list()
    .filter((n) => !n.parent)
    .map((n) => n.id);
}

export const alarmRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.addHook('onRequest', app.authenticate);

  app.get(
    '/api/alarms',
    {
      schema: {
        tags: ['alarms'],
        security: bearer,
        querystring: Type.Object(
          {
            open: Type.Optional(Type.Boolean({ description: 'only alarms not acknowledged yet' })),
            state: Type.Optional(csv(ALARM_STATES)),
            severity: Type.Optional(csv(ALARM_SEVERITIES)),
            source: Type.Optional(csv(ALARM_SOURCES)),
            type: Type.Optional(Type.String({ maxLength: 80 })),
            site: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' })),
            device: Type.Optional(Type.String({ maxLength: 130 })),
            q: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
            from: Type.Optional(Type.Integer({ minimum: 0 })),
            to: Type.Optional(Type.Integer({ minimum: 0 })),
            owned: Type.Optional(
              Type.Boolean({ description: 'only alarms handled at the user’s own level (escalated to it)' }),
            ),
            before: Type.Optional(Type.Integer({ minimum: 1 })),
            limit: Type.Integer({ minimum: 1, maximum: 500, default: 100 }),
          },
          { additionalProperties: false },
        ),
        response: { 200: REST_ANSWERS['GET /api/alarms'], ...errorResponses },
      },
    },
    async (request) => {
      const q = request.query;
      if (q.from !== undefined && q.to !== undefined && q.from > q.to)
        throw new HubError('HUB_ERR_VALIDATION', 'from is after to', { field: 'from', reason: 'bad_range' });
      const sites = scopeOf(request.user);
      const split = <T extends string>(s: string | undefined) => (s ? (s.split(',') as T[]) : undefined);
      const site = q.site ? app.siteTree.subtree(q.site) : undefined;
      const states = split<(typeof ALARM_STATES)[number]>(q.state);
      const severities = split<(typeof ALARM_SEVERITIES)[number]>(q.severity);
      const sources = split<(typeof ALARM_SOURCES)[number]>(q.source);
      return {
        alarms: app.alarms.list({
          ...(sites ? { sites } : {}),
          ...(q.owned ? { owners: ownLevel(app, request.user) } : {}),
          open: q.open ?? false,
          ...(states ? { states } : {}),
          ...(severities ? { severities } : {}),
          ...(sources ? { sources } : {}),
          ...(q.type ? { type: q.type } : {}),
          ...(site ? { site } : {}),
          ...(q.device ? { device: q.device } : {}),
          ...(q.q ? { q: q.q } : {}),
          ...(q.from !== undefined ? { from: q.from } : {}),
          ...(q.to !== undefined ? { to: q.to } : {}),
          ...(q.before !== undefined ? { before: q.before } : {}),
          limit: q.limit,
        }),
      };
    },
  );

  app.get(
    '/api/alarms/:id',
    {
      schema: {
        tags: ['alarms'],
        security: bearer,
        params: Type.Object({ id: Type.Integer({ minimum: 1 }) }),
        response: { 200: REST_ANSWERS['GET /api/alarms/:id'], ...errorResponses },
      },
    },
    async (request) => {
      const alarm = app.alarms.get(request.params.id);
      if (!alarm || !mayAlarm(request.user, alarm)) throw new HubError('HUB_ERR_NOT_FOUND', 'no such alarm');
      return { alarm, timeline: app.alarms.timeline(alarm.id) };
    },
  );

  /** Acknowledges one alarm for the user (scope checked, audited); throws HubError. */
  function acknowledge(user: AuthUser, id: number, note: string | undefined, action: string): AlarmView {
    const alarm = app.alarms.get(id);
    if (!alarm || !mayAlarm(user, alarm)) throw new HubError('HUB_ERR_NOT_FOUND', 'no such alarm');
    try {
      const acked = app.alarms.acknowledge(id, user.username, note);
      app.audit.append({
        actor: user.username,
        action,
        target: alarm.device,
        outcome: 'ok',
        detail: { id, type: alarm.type, ...(note ? { note } : {}) },
      });
      return acked;
    } catch (err) {
      if (!(err instanceof AlarmError)) throw err;
      app.audit.append({
        actor: user.username,
        action,
        target: alarm.device,
        outcome: 'denied',
        detail: { id, type: alarm.type, reason: err.message },
      });
      if (err.code === 'not_found') throw new HubError('HUB_ERR_NOT_FOUND', 'no such alarm');
      throw new HubError('HUB_ERR_CONFLICT', `alarm ${id} is already acknowledged`, {
        reason: 'wrong_state',
      });
    }
  }

  app.post(
    '/api/alarms/:id/ack',
    {
      onRequest: app.requireRole(ACCESS.acknowledgeAlarm),
      // No body at all is an acknowledgement without a note (the dashboard's list sends none).
      preValidation: async (request) => {
        request.body ??= {};
      },
      schema: {
        tags: ['alarms'],
        security: bearer,
        params: Type.Object({ id: Type.Integer({ minimum: 1 }) }),
        body: AlarmAck,
        response: { 200: REST_ANSWERS['POST /api/alarms/:id/ack'], ...errorResponses },
      },
    },
    async (request) => acknowledge(request.user, request.params.id, request.body.note, 'alarm.ack'),
  );

  app.post(
    '/api/alarms/ack',
    {
      onRequest: app.requireRole(ACCESS.acknowledgeAlarm),
      schema: {
        tags: ['alarms'],
        security: bearer,
        body: AlarmBulkAck,
        response: { 200: REST_ANSWERS['POST /api/alarms/ack'], ...errorResponses },
      },
    },
    async (request) => {
      const acknowledged: AlarmView[] = [];
      const skipped: Array<{ id: number; code: string; message: string }> = [];
      for (const id of request.body.ids) {
        try {
          acknowledged.push(acknowledge(request.user, id, request.body.note, 'alarm.ack'));
        } catch (err) {
          if (!(err instanceof HubError)) throw err;
          skipped.push({ id, code: err.code, message: err.message });
        }
      }
      return { acknowledged, skipped };
    },
  );

  app.post(
    '/api/alarms/:id/incident',
    {
      onRequest: app.requireRole(ACCESS.acknowledgeAlarm),
      schema: {
        tags: ['alarms'],
        security: bearer,
        params: Type.Object({ id: Type.Integer({ minimum: 1 }) }),
        body: Type.Object(
          {
            category: IncidentCreate.properties.category,
            title: Type.Optional(Type.String({ minLength: 1, maxLength: 120 })),
            priority: Type.Optional(Type.Union(INCIDENT_PRIORITIES.map((p) => Type.Literal(p)))),
            note: Type.Optional(AckNote),
          },
          { additionalProperties: false },
        ),
        response: { 201: REST_ANSWERS['POST /api/alarms/:id/incident'], ...errorResponses },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const body = request.body;
      const alarm = app.alarms.get(id);
      if (!alarm || !mayAlarm(request.user, alarm)) throw new HubError('HUB_ERR_NOT_FOUND', 'no such alarm');
      // Acknowledge first (refused when already acknowledged by someone else: they handle it).
      if (alarm.ackedAt === null) acknowledge(request.user, id, body.note, 'alarm.ack');
      const device = app.registry.getDevice(alarm.device);
      const incident = app.incidents.create(request.user, {
        title: body.title ?? `${device?.name ?? alarm.device}: ${alarm.reason ?? alarm.type}`,
        category: body.category,
        ...(body.priority ? { priority: body.priority } : {}),
        site: alarm.site,
        ...(device ? { location: device.position } : {}),
        devices: [alarm.device],
        ...(body.note ? { description: body.note } : {}),
        source: 'alarm',
        alarm: id,
      });
      const linked = app.alarms.linkIncident(id, incident.id, request.user.username) ?? alarm;
      reply.code(201);
      return { alarm: linked, incident };
    },
  );
};
