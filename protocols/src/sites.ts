/**
 * The site tree as the hub answers it: county → town → village → grid, each node with a name, a
 * level, a parent, a centre and optionally a boundary (a GeoJSON Polygon or MultiPolygon). The
 * live snapshot carries the nodes in the user's scope; `GET /api/sites` adds counts per node.
 */
import { type Static, Type } from '@sinclair/typebox';

export const SITE_LEVELS = ['county', 'town', 'village', 'grid'] as const;
export type SiteLevel = (typeof SITE_LEVELS)[number];
export const SiteLevelSchema = Type.Union(SITE_LEVELS.map((l) => Type.Literal(l)));

export const SiteCenter = Type.Object(
  {
    lat: Type.Number({ minimum: -90, maximum: 90 }),
    lon: Type.Number({ minimum: -180, maximum: 180 }),
  },
  { additionalProperties: false },
);

export const SiteBoundary = Type.Object({
  type: Type.Union([Type.Literal('Polygon'), Type.Literal('MultiPolygon')]),
  coordinates: Type.Array(Type.Unknown()),
});
export type SiteBoundary = Static<typeof SiteBoundary>;

export const SiteNode = Type.Object({
  id: Type.String(),
  name: Type.String(),
  level: SiteLevelSchema,
  parent: Type.Union([Type.String(), Type.Null()]),
  center: Type.Optional(SiteCenter),
  boundary: Type.Optional(SiteBoundary),
});
export type SiteNode = Static<typeof SiteNode>;

/** `GET /api/sites`: each node with its counts over its subtree. */
export const SiteView = Type.Composite([
  SiteNode,
  Type.Object({
    gateways: Type.Integer(),
    gatewaysOnline: Type.Integer(),
    devices: Type.Integer(),
    offline: Type.Integer(),
    alarms: Type.Integer(),
  }),
]);
export type SiteView = Static<typeof SiteView>;
