/**
 * GET /api/devices — every device in the caller's scope (optionally by site/kind).
 * GET /api/devices/:key — one device; /latest — its latest values; /history — downsampled series;
 * /events — its recent events.
 */

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { DeviceKind, ID_PATTERN, REST_ANSWERS, userMaySee } from '@qianliyan/protocols';
import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import { HubError } from '../errors.ts';
import { errorResponses } from './schemas.ts';

const KeyParams = Type.Object({
  key: Type.String({ pattern: `^${ID_PATTERN}\\.${ID_PATTERN}$` }),
});
/** Buckets a history answer has by default, and at most (a chart asks for more to show every sample). */
const DEFAULT_POINTS = 1000;
const MAX_POINTS = 100_000;
/** Bucket widths a chart gets: round ones, so that minutes and hours come from the rollups. */
const NICE_BUCKETS_MS = [
  1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800,
].map((s) => s * 1000);

/** The smallest round bucket at least `ms` wide (whole days beyond a week). */
export function niceBucket(ms: number): number {
  return NICE_BUCKETS_MS.find((b) => b >= ms) ?? Math.ceil(ms / 86_400_000) * 86_400_000;
}

export const deviceRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.addHook('onRequest', app.authenticate);

  const deviceFor = (request: FastifyRequest) => {
    const { key } = request.params as { key: string };
    const device = app.registry.getDevice(key);
    if (!device || !userMaySee(request.user, device.site))
      throw new HubError('HUB_ERR_NOT_FOUND', `no device ${key}`);
    return device;
  };

  app.get(
    '/api/devices',
    {
      schema: {
        querystring: Type.Object(
          {
            site: Type.Optional(
              Type.String({
                pattern: '^[A-Za-z0-9_-]{1,64}$',
                description: 'a node of the site tree: its whole subtree',
              }),
            ),
            kind: Type.Optional(DeviceKind),
            status: Type.Optional(
              Type.Union([Type.Literal('online'), Type.Literal('offline'), Type.Literal('alarm')]),
            ),
            q: Type.Optional(Type.String({ maxLength: 64, description: 'search in name, key and model' })),
            bbox: Type.Optional(
              Type.String({
                pattern: '^-?[0-9.]+,-?[0-9.]+,-?[0-9.]+,-?[0-9.]+$',
                description: 'south,west,north,east',
              }),
            ),
            limit: Type.Optional(
              Type.Integer({ minimum: 1, maximum: 10_000, description: 'page size (all when absent)' }),
            ),
            offset: Type.Optional(Type.Integer({ minimum: 0, default: 0 })),
          },
          { additionalProperties: false },
        ),
        response: { 200: REST_ANSWERS['GET /api/devices'], ...errorResponses },
      },
    },
    async (request, reply) => {
      const { site, kind, status, q, bbox, limit, offset = 0 } = request.query;
      if (site && !userMaySee(request.user, site)) throw new HubError('HUB_ERR_NOT_FOUND', `no site ${site}`);
      // Only the sites asked for (a subtree) or the caller's are walked, not everything the hub holds.
      const sites = site
        ? app.siteTree.expand([site])
        : request.user.sites.length
          ? request.user.sites
          : undefined;
      const box = bbox?.split(',').map(Number) as [number, number, number, number] | undefined;
      const needle = q?.toLowerCase();
      const matches = (sites ? app.registry.listDevicesOfSites(sites) : app.registry.listDevices()).filter(
        (d) =>
          userMaySee(request.user, d.site) &&
          (!kind || d.kind === kind) &&
          (!status || d.status === status) &&
          (!box ||
            (d.position.lat >= box[0] &&
              d.position.lon >= box[1] &&
              d.position.lat <= box[2] &&
              d.position.lon <= box[3])) &&
          (!needle ||
            d.name.toLowerCase().includes(needle) ||
            d.key.toLowerCase().includes(needle) ||
            (d.model ?? '').toLowerCase().includes(needle)),
      );
      // Stable pages: by key. The total (before paging) in a header, the page in the body.
      matches.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      reply.header('x-total-count', String(matches.length));
      return limit === undefined ? matches : matches.slice(offset, offset + limit);
    },
  );

  app.get(
    '/api/devices/:key',
    {
      schema: {
        params: KeyParams,
        response: { 200: REST_ANSWERS['GET /api/devices/:key'], ...errorResponses },
      },
    },
    async (request) => deviceFor(request),
  );

  app.get(
    '/api/devices/:key/latest',
    {
      schema: {
        params: KeyParams,
        response: {
          200: REST_ANSWERS['GET /api/devices/:key/latest'],
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const d = deviceFor(request);
      return { key: d.key, ts: d.valuesTs, values: d.values };
    },
  );

  app.get(
    '/api/devices/:key/history',
    {
      schema: {
        params: KeyParams,
        querystring: Type.Object(
          {
            field: Type.String({ pattern: '^[A-Za-z][A-Za-z0-9_]{0,63}$' }),
            from: Type.Optional(Type.Integer({ minimum: 0 })),
            to: Type.Optional(Type.Integer({ minimum: 0 })),
            bucketMs: Type.Optional(Type.Integer({ minimum: 1000 })),
            maxPoints: Type.Optional(
              Type.Integer({
                minimum: 10,
                maximum: MAX_POINTS,
                description: `buckets at most (default ${DEFAULT_POINTS})`,
              }),
            ),
          },
          { additionalProperties: false },
        ),
        response: {
          200: REST_ANSWERS['GET /api/devices/:key/history'],
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const d = deviceFor(request);
      const q = request.query;
      const to = q.to ?? Date.now();
      const from = q.from ?? to - 3600_000;
      if (from >= to)
        throw new HubError('HUB_ERR_VALIDATION', '`from` must be before `to`', {
          field: 'from',
          reason: 'bad_range',
        });
      // Never more than maxPoints buckets: a wider, round bucket instead.
      const wanted = Math.ceil((to - from) / (q.maxPoints ?? DEFAULT_POINTS));
      const bucketMs = q.bucketMs ? Math.max(q.bucketMs, niceBucket(wanted)) : niceBucket(wanted);
      const points = await app.timeseries.history({ device: d.key, field: q.field, from, to, bucketMs });
      return { key: d.key, field: q.field, bucketMs, points };
    },
  );

  // A moving device's track for replay: position, altitude, heading, speed and battery per bucket.
  const TRACK_FIELDS = ['lat', 'lon', 'alt', 'heading', 'speed', 'battery'] as const;
  app.get(
    '/api/devices/:key/track',
    {
      schema: {
        params: KeyParams,
        querystring: Type.Object(
          {
            from: Type.Integer({ minimum: 0 }),
            to: Type.Integer({ minimum: 0 }),
            maxPoints: Type.Optional(Type.Integer({ minimum: 10, maximum: 10_000 })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: REST_ANSWERS['GET /api/devices/:key/track'],
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const d = deviceFor(request);
      const { from, to, maxPoints = 3600 } = request.query;
      if (from >= to)
        throw new HubError('HUB_ERR_VALIDATION', '`from` must be before `to`', {
          field: 'from',
          reason: 'bad_range',
        });
      const bucketMs = Math.max(1000, Math.ceil((to - from) / maxPoints));
      const series = await Promise.all(
        TRACK_FIELDS.map((field) => app.timeseries.history({ device: d.key, field, from, to, bucketMs })),
      );
      const byTs = TRACK_FIELDS.map((_, i) => new Map((series[i] ?? []).map((p) => [p.ts, p.avg])));
      const points = (series[0] ?? []).flatMap((p) => {
        const lon = byTs[1]?.get(p.ts);
        if (lon === undefined) return [];
        const point: Record<string, number> = { ts: p.ts, lat: p.avg, lon };
        TRACK_FIELDS.slice(2).forEach((field, i) => {
          const v = byTs[i + 2]?.get(p.ts);
          if (v !== undefined) point[field] = Number(v.toFixed(2));
        });
        return [point as { ts: number; lat: number; lon: number }];
      });
      return { key: d.key, bucketMs, points };
    },
  );

  app.get(
    '/api/devices/:key/events',
    {
      schema: {
        params: KeyParams,
        querystring: Type.Object(
          {
            from: Type.Optional(Type.Integer({ minimum: 0 })),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: REST_ANSWERS['GET /api/devices/:key/events'],
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const d = deviceFor(request);
      const q = request.query;
      const events = await app.timeseries.events({
        device: d.key,
        from: q.from ?? 0,
        to: Date.now() + 1,
        limit: q.limit ?? 100,
      });
      return events.map(({ ts, type, severity, data }) => ({ ts, type, severity, data }));
    },
  );
};
