/**
 * Rules on readings, notification subscriptions and deliveries, and the availability report
 * (documented in protocols/README.md, "Alarm centre"):
 *
 * - `GET /api/alarm-rules`, `POST /api/alarm-rules`, `PUT /api/alarm-rules/:id`,
 *   `DELETE /api/alarm-rules/:id`, `POST /api/alarm-rules/preview` — administrators only, changes
 *   audited;
 * - `GET /api/notifications/channels`, `GET|POST /api/notifications/subscriptions`,
 *   `PUT|DELETE /api/notifications/subscriptions/:id`, `GET /api/notifications/deliveries` —
 *   administrators only (subscriptions name people's addresses), changes audited;
 * - `GET /api/reports/availability?days=30&site=…&format=json|csv` — everyone, over their sites.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import {
  ACCESS,
  DELIVERY_STATUSES,
  DeliveryView,
  NotifyChannelView,
  REST_ANSWERS,
  ReadingRuleBody,
  RulePreviewRequest,
  Subscription,
  SubscriptionBody,
} from '@qianliyan/protocols';
import { Type } from '@sinclair/typebox';
import { HubError } from '../errors.ts';
import { availabilityCsv, availabilityReport } from '../services/availability.ts';
import { scopeOf } from './alarms.ts';
import { bearer, errorResponses } from './schemas.ts';

const IdParam = Type.Object({ id: Type.Integer({ minimum: 1 }) });

export const alarmCentreRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.addHook('onRequest', app.authenticate);
  const admin = app.requireRole(ACCESS.administer);

  /** A rule's scope must name what exists: a site of the tree, a known device. */
  function checkRule(body: ReadingRuleBody): void {
    if (body.scope.site && !app.siteTree.get(body.scope.site))
      throw new HubError('HUB_ERR_VALIDATION', `no site ${body.scope.site}`, {
        field: 'scope.site',
        reason: 'invalid',
      });
    if (body.scope.device && !app.registry.getDevice(body.scope.device))
      throw new HubError('HUB_ERR_VALIDATION', `no device ${body.scope.device}`, {
        field: 'scope.device',
        reason: 'invalid',
      });
    const c = body.condition;
    if (c.type === 'rate' && c.change === 0)
      throw new HubError('HUB_ERR_VALIDATION', 'a rate of change of 0 fires on every reading', {
        field: 'condition.change',
        reason: 'out_of_range',
      });
  }

  app.get(
    '/api/alarm-rules',
    {
      onRequest: admin,
      schema: {
        tags: ['alarm-rules'],
        security: bearer,
        response: { 200: REST_ANSWERS['GET /api/alarm-rules'], ...errorResponses },
      },
    },
    async () => app.readingRules.list(),
  );

  app.post(
    '/api/alarm-rules',
    {
      onRequest: admin,
      schema: {
        tags: ['alarm-rules'],
        security: bearer,
        body: ReadingRuleBody,
        response: { 201: REST_ANSWERS['POST /api/alarm-rules'], ...errorResponses },
      },
    },
    async (request, reply) => {
      checkRule(request.body);
      const rule = app.readingRules.create(request.body, request.user.username);
      app.audit.append({
        actor: request.user.username,
        action: 'alarm_rule.create',
        target: String(rule.id),
        outcome: 'ok',
        detail: { rule: request.body },
      });
      reply.code(201);
      return rule;
    },
  );

  app.put(
    '/api/alarm-rules/:id',
    {
      onRequest: admin,
      schema: {
        tags: ['alarm-rules'],
        security: bearer,
        params: IdParam,
        body: ReadingRuleBody,
        response: { 200: REST_ANSWERS['PUT /api/alarm-rules/:id'], ...errorResponses },
      },
    },
    async (request) => {
      checkRule(request.body);
      const rule = app.readingRules.update(request.params.id, request.body);
      if (!rule) throw new HubError('HUB_ERR_NOT_FOUND', 'no such rule');
      app.audit.append({
        actor: request.user.username,
        action: 'alarm_rule.update',
        target: String(rule.id),
        outcome: 'ok',
        detail: { rule: request.body },
      });
      return rule;
    },
  );

  app.delete(
    '/api/alarm-rules/:id',
    {
      onRequest: admin,
      schema: {
        tags: ['alarm-rules'],
        security: bearer,
        params: IdParam,
        response: { 204: REST_ANSWERS['DELETE /api/alarm-rules/:id'], ...errorResponses },
      },
    },
    async (request, reply) => {
      if (!app.readingRules.remove(request.params.id))
        throw new HubError('HUB_ERR_NOT_FOUND', 'no such rule');
      app.audit.append({
        actor: request.user.username,
        action: 'alarm_rule.delete',
        target: String(request.params.id),
        outcome: 'ok',
        detail: {},
      });
      reply.code(204);
    },
  );

  app.post(
    '/api/alarm-rules/preview',
    {
      onRequest: admin,
      schema: {
        tags: ['alarm-rules'],
        security: bearer,
        body: RulePreviewRequest,
        response: { 200: REST_ANSWERS['POST /api/alarm-rules/preview'], ...errorResponses },
      },
    },
    async (request) => {
      checkRule(request.body.rule);
      return app.readingRules.preview(request.body.rule, request.body.hours);
    },
  );

  app.get(
    '/api/notifications/channels',
    {
      onRequest: admin,
      schema: {
        tags: ['notifications'],
        security: bearer,
        response: { 200: Type.Array(NotifyChannelView), ...errorResponses },
      },
    },
    async () => app.notifications.channelList(),
  );

  app.get(
    '/api/notifications/subscriptions',
    {
      onRequest: admin,
      schema: {
        tags: ['notifications'],
        security: bearer,
        response: { 200: Type.Array(Subscription), ...errorResponses },
      },
    },
    async () => app.notifications.subscriptions(),
  );

  function checkSubscription(body: SubscriptionBody): void {
    if (!app.notifications.hasChannel(body.channel))
      throw new HubError('HUB_ERR_VALIDATION', `no channel ${body.channel} in the hub's configuration`, {
        field: 'channel',
        reason: 'invalid',
      });
    if (body.user && !app.stateDb.getUser(body.user))
      throw new HubError('HUB_ERR_VALIDATION', `no user ${body.user}`, { field: 'user', reason: 'invalid' });
    if (body.site && !app.siteTree.get(body.site))
      throw new HubError('HUB_ERR_VALIDATION', `no site ${body.site}`, { field: 'site', reason: 'invalid' });
  }

  app.post(
    '/api/notifications/subscriptions',
    {
      onRequest: admin,
      schema: {
        tags: ['notifications'],
        security: bearer,
        body: SubscriptionBody,
        response: { 201: Subscription, ...errorResponses },
      },
    },
    async (request, reply) => {
      checkSubscription(request.body);
      const sub = app.notifications.createSubscription(request.body, request.user.username);
      app.audit.append({
        actor: request.user.username,
        action: 'notify_subscription.create',
        target: String(sub.id),
        outcome: 'ok',
        detail: { channel: sub.channel, recipients: sub.to.length, minSeverity: sub.minSeverity },
      });
      reply.code(201);
      return sub;
    },
  );

  app.put(
    '/api/notifications/subscriptions/:id',
    {
      onRequest: admin,
      schema: {
        tags: ['notifications'],
        security: bearer,
        params: IdParam,
        body: SubscriptionBody,
        response: { 200: Subscription, ...errorResponses },
      },
    },
    async (request) => {
      checkSubscription(request.body);
      const sub = app.notifications.updateSubscription(request.params.id, request.body);
      if (!sub) throw new HubError('HUB_ERR_NOT_FOUND', 'no such subscription');
      app.audit.append({
        actor: request.user.username,
        action: 'notify_subscription.update',
        target: String(sub.id),
        outcome: 'ok',
        detail: { channel: sub.channel, recipients: sub.to.length, minSeverity: sub.minSeverity },
      });
      return sub;
    },
  );

  app.delete(
    '/api/notifications/subscriptions/:id',
    { onRequest: admin, schema: { tags: ['notifications'], security: bearer, params: IdParam } },
    async (request, reply) => {
      if (!app.notifications.deleteSubscription(request.params.id))
        throw new HubError('HUB_ERR_NOT_FOUND', 'no such subscription');
      app.audit.append({
        actor: request.user.username,
        action: 'notify_subscription.delete',
        target: String(request.params.id),
        outcome: 'ok',
        detail: {},
      });
      reply.code(204);
    },
  );

  app.get(
    '/api/notifications/deliveries',
    {
      onRequest: admin,
      schema: {
        tags: ['notifications'],
        security: bearer,
        querystring: Type.Object(
          {
            alarm: Type.Optional(Type.Integer({ minimum: 1 })),
            status: Type.Optional(Type.Union(DELIVERY_STATUSES.map((s) => Type.Literal(s)))),
            limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Array(DeliveryView), ...errorResponses },
      },
    },
    async (request) => app.notifications.deliveries(request.query),
  );

  app.get(
    '/api/reports/availability',
    {
      schema: {
        tags: ['reports'],
        security: bearer,
        querystring: Type.Object(
          {
            days: Type.Integer({ minimum: 1, maximum: 90, default: 30 }),
            site: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' })),
            format: Type.Union([Type.Literal('json'), Type.Literal('csv')], { default: 'json' }),
          },
          { additionalProperties: false },
        ),
        response: { 200: REST_ANSWERS['GET /api/reports/availability'], ...errorResponses },
      },
    },
    async (request, reply) => {
      const { days, site, format } = request.query;
      let sites = scopeOf(request.user);
      if (site) {
        const subtree = app.siteTree.subtree(site);
        sites = sites ? subtree.filter((s) => (sites as string[]).includes(s)) : subtree;
      }
      const report = availabilityReport(app.stateDb.handle, {
        now: app.alarmClock.now(),
        days,
        timeZoneOffsetMinutes: app.config.alarms.reportTimeZoneOffsetMinutes,
        ...(sites ? { sites } : {}),
      });
      if (format === 'csv') {
        reply.type('text/csv; charset=utf-8');
        reply.header('content-disposition', 'attachment; filename="availability.csv"');
        return availabilityCsv(report, (id) => app.siteTree.get(id)?.name ?? id);
      }
      return report;
    },
  );
};
