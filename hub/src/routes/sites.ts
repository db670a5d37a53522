/**
 * The site hierarchy (county → town → village → grid).
 *   GET    /api/sites         the nodes in the caller's scope, each with counts over its subtree
 *                             (gateways, online, devices, offline, alarms); sites that gateways use
 *                             but the tree does not know are listed as villages without a parent
 *   POST   /api/sites         (admin) add or change one node (a move is a change of `parent`)
 *   DELETE /api/sites/:id     (admin) remove a node without children
 *   POST   /api/sites/import  (admin) a GeoJSON FeatureCollection, all or nothing
 * Every change is audited; scopes follow at once (sessions and sockets are re-scoped).
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ACCESS, REST_ANSWERS, SITE_LEVELS, SiteBoundary, type SiteNode } from '@qianliyan/protocols';
import { Type } from '@sinclair/typebox';
import { bearer, errorResponses } from './schemas.ts';

const Level = Type.Union(SITE_LEVELS.map((l) => Type.Literal(l)));
const Center = Type.Object(
  { lat: Type.Number({ minimum: -90, maximum: 90 }), lon: Type.Number({ minimum: -180, maximum: 180 }) },
  { additionalProperties: false },
);
const SiteBody = Type.Object(
  {
    id: Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' }),
    name: Type.String({ minLength: 1, maxLength: 64 }),
    level: Level,
    parent: Type.Union([Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' }), Type.Null()]),
    center: Type.Optional(Center),
    boundary: Type.Optional(SiteBoundary),
  },
  { additionalProperties: false },
);

export const siteRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const tree = app.siteTree;
  const admin = [app.authenticate, app.requireRole(ACCESS.administer)];

  app.get(
    '/api/sites',
    {
      onRequest: app.authenticate,
      schema: {
        tags: ['sites'],
        security: bearer,
        response: { 200: REST_ANSWERS['GET /api/sites'], ...errorResponses },
      },
    },
    async (request) => {
      const names = new Map(app.config.sites.map((s) => [s.id, s.name]));
      const empty = () => ({ gateways: 0, gatewaysOnline: 0, devices: 0, offline: 0, alarms: 0 });
      const counts = new Map<string, ReturnType<typeof empty>>();
      // Each gateway and device counts at its site and at every node above it.
      const up = (site: string) => {
        const chain = tree.ancestors(site);
        return chain.length ? chain : [site];
      };
      const bump = (site: string, f: (c: ReturnType<typeof empty>) => void) => {
        for (const id of up(site)) {
          const c = counts.get(id) ?? empty();
          counts.set(id, c);
          f(c);
        }
      };
      for (const g of app.registry.listGateways())
        bump(g.site, (c) => {
          c.gateways += 1;
          if (g.online) c.gatewaysOnline += 1;
        });
      for (const d of app.registry.listDevices())
        bump(d.site, (c) => {
          c.devices += 1;
          if (d.status === 'offline') c.offline += 1;
          if (d.status === 'alarm') c.alarms += 1;
        });
      const known = new Map<string, string>();
      for (const id of counts.keys()) known.set(id, names.get(id) ?? id);
      return tree.nodesFor(request.user, known).map((n) => ({ ...n, ...(counts.get(n.id) ?? empty()) }));
    },
  );

  app.post(
    '/api/sites',
    {
      onRequest: admin,
      schema: {
        tags: ['sites'],
        security: bearer,
        body: SiteBody,
        response: { 200: SiteBody, ...errorResponses },
      },
    },
    async (request) => {
      const before = tree.get(request.body.id);
      tree.upsert([request.body as SiteNode]);
      app.audit.append({
        actor: request.user.username,
        action: before ? 'site.update' : 'site.create',
        target: request.body.id,
        outcome: 'ok',
        detail: {
          level: request.body.level,
          parent: request.body.parent,
          ...(before && before.parent !== request.body.parent ? { movedFrom: before.parent } : {}),
        },
      });
      return tree.get(request.body.id) as never;
    },
  );

  app.delete(
    '/api/sites/:id',
    {
      onRequest: admin,
      schema: {
        tags: ['sites'],
        security: bearer,
        params: Type.Object({ id: Type.String({ maxLength: 64 }) }),
      },
    },
    async (request, reply) => {
      tree.remove(request.params.id);
      app.audit.append({
        actor: request.user.username,
        action: 'site.delete',
        target: request.params.id,
        outcome: 'ok',
      });
      return reply.code(204).send();
    },
  );

  app.post(
    '/api/sites/import',
    {
      onRequest: admin,
      bodyLimit: 20 * 1024 * 1024,
      schema: {
        tags: ['sites'],
        security: bearer,
        response: { 200: Type.Object({ imported: Type.Integer() }), ...errorResponses },
      },
    },
    async (request) => {
      const nodes = tree.importGeoJson(request.body);
      app.audit.append({
        actor: request.user.username,
        action: 'site.import',
        target: null,
        outcome: 'ok',
        detail: { imported: nodes.length },
      });
      return { imported: nodes.length };
    },
  );
};
