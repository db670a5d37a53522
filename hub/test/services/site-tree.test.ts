/**
 * The site hierarchy: subtrees and scopes, moves, and imports that are all-or-nothing with errors
 * naming the feature at fault.
 */

import type { SiteNode } from '@qianliyan/protocols';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { SiteTree } from '../../src/services/site-tree.ts';
import { SqliteDatabase } from '../../src/stores/sql.ts';

const open = () => {
  const db = new Database(':memory:');
  db.exec(`CREATE TABLE sites (id TEXT PRIMARY KEY, name TEXT NOT NULL, level TEXT NOT NULL, parent TEXT,
    center TEXT, boundary TEXT)`);
  return new SiteTree(new SqliteDatabase(db));
};
const square = (lon: number, lat: number) => ({
  type: 'Polygon',
  coordinates: [
    [
      [lon, lat],
      [lon + 0.01, lat],
      [lon + 0.01, lat + 0.01],
      [lon, lat + 0.01],
      [lon, lat],
    ],
  ],
});
const feature = (
  id: string,
  name: string,
  level: string,
  parent: string | null,
  geometry: unknown = null,
) => ({
  type: 'Feature',
  properties: { id, name, level, parent },
  geometry,
});
const county = {
  type: 'FeatureCollection',
  features: [
    feature('c', '示范县', 'county', null),
    feature('t1', '东镇', 'town', 'c'),
    feature('t2', '西镇', 'town', 'c'),
    feature('v1', '一村', 'village', 't1', square(120, 30)),
    feature('v2', '二村', 'village', 't1'),
    feature('v3', '三村', 'village', 't2'),
    feature('g1', '一村一网格', 'grid', 'v1'),
  ],
};

describe('SiteTree', () => {
  it('imports a county; a scope covers its subtree', () => {
    const tree = open();
    tree.importGeoJson(county);
    expect(tree.size).toBe(7);
    expect(tree.expand(['t1']).sort()).toEqual(['g1', 't1', 'v1', 'v2']);
    expect(tree.expand(['c']).length).toBe(7);
    expect(tree.expand(['v3', 'not-in-tree']).sort()).toEqual(['not-in-tree', 'v3']);
    expect(tree.ancestors('g1')).toEqual(['g1', 'v1', 't1', 'c']);
    expect(tree.get('v1')?.center).toEqual({ lat: 30.004, lon: 120.004 });
  });

  it('moving a village to another town changes which town covers it', () => {
    const tree = open();
    tree.importGeoJson(county);
    tree.upsert([{ ...(tree.get('v2') as SiteNode), parent: 't2' }]);
    expect(tree.expand(['t1']).sort()).toEqual(['g1', 't1', 'v1']);
    expect(tree.expand(['t2']).sort()).toEqual(['t2', 'v2', 'v3']);
  });

  it('refuses bad imports with the feature named, and writes nothing', () => {
    const tree = open();
    tree.importGeoJson({ type: 'FeatureCollection', features: county.features.slice(0, 2) });
    const cases: Array<[unknown, RegExp]> = [
      [{ type: 'Feature' }, /not a GeoJSON FeatureCollection/],
      ['{"type":"FeatureCollection"}', /not a GeoJSON FeatureCollection/],
      [
        { type: 'FeatureCollection', features: [feature('v9', '九村', 'village', null)] },
        /feature 1 \(v9 九村\): a village needs a parent/,
      ],
      [
        {
          type: 'FeatureCollection',
          features: [feature('t9', '九镇', 'town', 'c'), feature('v9', '九村', 'village', 'nowhere')],
        },
        /feature 2 \(v9 九村\): unknown parent nowhere/,
      ],
      [
        { type: 'FeatureCollection', features: [feature('v9', '九村', 'village', 'c')] },
        /a village's parent must be a town, not a county/,
      ],
      [
        {
          type: 'FeatureCollection',
          features: [feature('x', 'X', 'town', 'y'), feature('y', 'Y', 'town', 'x')],
        },
        /feature 1 \(x X\): a town's parent must be a county/,
      ],
      [
        {
          type: 'FeatureCollection',
          features: [feature('t9', '九镇', 'town', 'c', { type: 'Point', coordinates: [1, 2] })],
        },
        /must be a Polygon or MultiPolygon/,
      ],
      [
        { type: 'FeatureCollection', features: [feature('t9', '', 'town', 'c')] },
        /a name of 1–64 characters/,
      ],
      [
        {
          type: 'FeatureCollection',
          features: [feature('t9', '九镇', 'town', 'c'), feature('t9', '九镇', 'town', 'c')],
        },
        /appears twice/,
      ],
    ];
    for (const [doc, error] of cases) expect(() => tree.importGeoJson(doc), String(error)).toThrow(error);
    expect(tree.size).toBe(2);
  });

  it('removes only leaves', () => {
    const tree = open();
    tree.importGeoJson(county);
    expect(() => tree.remove('t1')).toThrow(/still has 2 sites under it/);
    tree.remove('g1');
    expect(tree.get('g1')).toBeUndefined();
  });
});
