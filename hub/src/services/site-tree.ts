/**
 * The site hierarchy: county → town → village → grid (网格). Each node has a Chinese name, a level,
 * a parent (none for a county), a centre and optionally a boundary (a GeoJSON Polygon or
 * MultiPolygon). Kept in the state DB, held in memory for lookups.
 *
 * The scope rule every route, socket, command and broadcast uses: a user's scope is a set of nodes,
 * and covers their subtrees. `expand(scope)` turns it into the set of site ids the user may see (what
 * the rest of the hub compares a device's or gateway's site against). A site id the tree does not
 * know (a gateway registered before its village was added) is covered by naming it directly only.
 *
 * Changes are validated as a whole before anything is written: parents exist, levels go strictly
 * down (a village's parent is a town, a grid's a village), and there is no cycle; an import names the
 * feature at fault and writes nothing when any feature is wrong.
 */
import { type Principal, SITE_LEVELS, type SiteLevel, type SiteNode, userMaySee } from '@qianliyan/protocols';
import { HubError } from '../errors.ts';
import type { SqlDatabase } from '../stores/sql.ts';
import { boundaryProblem } from './geometry.ts';

const ID = /^[A-Za-z0-9_-]{1,64}$/;

interface Row {
  id: string;
  name: string;
  level: SiteLevel;
  parent: string | null;
  center: string | null;
  boundary: string | null;
}

export class SiteTreeError extends HubError {}

export class SiteTree {
  private nodes = new Map<string, SiteNode>();
  private children = new Map<string, string[]>();
  private readonly listeners = new Set<() => void>();

  constructor(private readonly db: SqlDatabase) {
    this.load();
  }

  private load(): void {
    const rows = this.db.prepare('SELECT * FROM sites').all() as Row[];
    this.nodes = new Map(
      rows.map((r) => [
        r.id,
        {
          id: r.id,
          name: r.name,
          level: r.level,
          parent: r.parent,
          ...(r.center ? { center: JSON.parse(r.center) } : {}),
          ...(r.boundary ? { boundary: JSON.parse(r.boundary) } : {}),
        },
      ]),
    );
    this.children = new Map();
    for (const n of this.nodes.values())
      if (n.parent) this.children.set(n.parent, [...(this.children.get(n.parent) ?? []), n.id]);
  }

  /** Called after every change (the live plugin re-checks sockets' scopes). */
  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  get size(): number {
    return this.nodes.size;
  }

  get(id: string): SiteNode | undefined {
    return this.nodes.get(id);
  }

  list(): SiteNode[] {
    return [...this.nodes.values()].sort(
      (a, b) => SITE_LEVELS.indexOf(a.level) - SITE_LEVELS.indexOf(b.level) || a.id.localeCompare(b.id),
    );
  }

  /** The node and everything under it. */
  subtree(id: string): string[] {
    const out: string[] = [];
    const stack = [id];
    while (stack.length) {
      const n = stack.pop() as string;
      out.push(n);
      stack.push(...(this.children.get(n) ?? []));
    }
    return out;
  }

  /** From the node up to its county. */
  ancestors(id: string): string[] {
    const out: string[] = [];
    let n = this.nodes.get(id);
    while (n && out.length < 16) {
      out.push(n.id);
      n = n.parent ? this.nodes.get(n.parent) : undefined;
    }
    return out;
  }

  /**
   * The nodes a user may see; `extra` names sites known elsewhere (a gateway registered at a site
   * the tree does not have yet, by id → name), shown as villages without a parent.
   */
  nodesFor(
    user: Pick<Principal, 'role' | 'sites'>,
    extra: ReadonlyMap<string, string> = new Map(),
  ): SiteNode[] {
    const nodes: SiteNode[] = this.list();
    const seen = new Set(nodes.map((n) => n.id));
    for (const [id, name] of extra)
      if (!seen.has(id)) {
        seen.add(id);
        nodes.push({ id, name, level: 'village', parent: null });
      }
    return nodes.filter((n) => userMaySee(user, n.id));
  }

  /** Every site id a scope (a set of nodes) covers. */
  expand(scope: readonly string[]): string[] {
    const out = new Set<string>();
    for (const id of scope) for (const s of this.subtree(id)) out.add(s);
    return [...out];
  }

  /** Adds or replaces nodes, all or none, after validating the tree they would make. */
  upsert(nodes: SiteNode[], label: (i: number) => string = (i) => nodes[i]?.id ?? `#${i}`): void {
    const next = new Map(this.nodes);
    nodes.forEach((n, i) => {
      const where = label(i);
      if (!ID.test(n.id))
        throw new SiteTreeError('HUB_ERR_VALIDATION', `${where}: id must be 1–64 letters, digits, - or _`);
      if (!n.name || n.name.length > 64)
        throw new SiteTreeError('HUB_ERR_VALIDATION', `${where}: a name of 1–64 characters is required`);
      if (!SITE_LEVELS.includes(n.level))
        throw new SiteTreeError(
          'HUB_ERR_VALIDATION',
          `${where}: level must be one of ${SITE_LEVELS.join(', ')}`,
        );
      const problem = n.boundary && boundaryProblem(n.boundary);
      if (problem) throw new SiteTreeError('HUB_ERR_VALIDATION', `${where}: ${problem}`);
      next.set(n.id, n);
    });
    this.check(next, label, nodes);
    const write = this.db.prepare(
      `INSERT INTO sites (id, name, level, parent, center, boundary) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT(id) DO UPDATE SET name = excluded.name, level = excluded.level, parent = excluded.parent,
         center = excluded.center, boundary = excluded.boundary`,
    );
    this.db.transaction(() => {
      for (const n of nodes)
        write.run(
          n.id,
          n.name,
          n.level,
          n.parent,
          n.center ? JSON.stringify(n.center) : null,
          n.boundary ? JSON.stringify(n.boundary) : null,
        );
    })();
    this.load();
    for (const fn of this.listeners) fn();
  }

  /** Removes a node that has no children. */
  remove(id: string): void {
    if (!this.nodes.has(id)) throw new SiteTreeError('HUB_ERR_NOT_FOUND', `no site ${id}`);
    if (this.children.get(id)?.length)
      throw new SiteTreeError(
        'HUB_ERR_CONFLICT',
        `${id} still has ${this.children.get(id)?.length} sites under it`,
      );
    this.db.prepare('DELETE FROM sites WHERE id = ?').run(id);
    this.load();
    for (const fn of this.listeners) fn();
  }

  private check(tree: Map<string, SiteNode>, label: (i: number) => string, changed: SiteNode[]): void {
    const where = (id: string) => {
      const i = changed.findIndex((n) => n.id === id);
      return i >= 0 ? label(i) : id;
    };
    for (const n of tree.values()) {
      const rank = SITE_LEVELS.indexOf(n.level);
      if (n.parent === null) {
        if (n.level !== 'county')
          throw new SiteTreeError(
            'HUB_ERR_VALIDATION',
            `${where(n.id)}: a ${n.level} needs a parent (only a county has none)`,
          );
        continue;
      }
      const parent = tree.get(n.parent);
      if (!parent)
        throw new SiteTreeError('HUB_ERR_VALIDATION', `${where(n.id)}: unknown parent ${n.parent}`);
      if (SITE_LEVELS.indexOf(parent.level) !== rank - 1)
        throw new SiteTreeError(
          'HUB_ERR_VALIDATION',
          `${where(n.id)}: a ${n.level}'s parent must be a ${SITE_LEVELS[rank - 1] ?? 'nothing'}, not a ${parent.level}`,
        );
    }
    // Levels strictly descend along every parent link, so a cycle cannot pass the check above; walk anyway.
    for (const n of tree.values()) {
      const seen = new Set<string>();
      let at: SiteNode | undefined = n;
      while (at?.parent) {
        if (seen.has(at.id))
          throw new SiteTreeError('HUB_ERR_VALIDATION', `${where(n.id)}: its parents form a cycle`);
        seen.add(at.id);
        at = tree.get(at.parent);
      }
    }
  }

  /**
   * Imports a GeoJSON FeatureCollection: each feature a site, `properties` {id, name, level, parent},
   * its geometry (Polygon/MultiPolygon) the boundary, the centre from `properties.center` or the
   * boundary's. All or nothing; an error names the feature.
   */
  importGeoJson(doc: unknown): SiteNode[] {
    const fc = doc as { type?: unknown; features?: unknown };
    if (!fc || typeof fc !== 'object' || fc.type !== 'FeatureCollection' || !Array.isArray(fc.features))
      throw new SiteTreeError('HUB_ERR_VALIDATION', 'not a GeoJSON FeatureCollection');
    if (fc.features.length > 5000) throw new SiteTreeError('HUB_ERR_VALIDATION', 'more than 5,000 features');
    const label = (i: number) => {
      const p = (fc.features as Array<{ properties?: { id?: unknown; name?: unknown } }>)[i]?.properties;
      return `feature ${i + 1}${p?.id ? ` (${String(p.id).slice(0, 64)}${p.name ? ` ${String(p.name).slice(0, 32)}` : ''})` : ''}`;
    };
    const nodes = (fc.features as unknown[]).map((f, i) => {
      const feature = f as {
        type?: unknown;
        properties?: Record<string, unknown>;
        geometry?: { type?: unknown; coordinates?: unknown } | null;
      };
      if (!feature || feature.type !== 'Feature' || !feature.properties)
        throw new SiteTreeError('HUB_ERR_VALIDATION', `${label(i)}: not a GeoJSON Feature with properties`);
      const p = feature.properties;
      const g = feature.geometry;
      let boundary: SiteNode['boundary'];
      if (g) {
        if ((g.type !== 'Polygon' && g.type !== 'MultiPolygon') || !Array.isArray(g.coordinates))
          throw new SiteTreeError(
            'HUB_ERR_VALIDATION',
            `${label(i)}: the geometry must be a Polygon or MultiPolygon`,
          );
        boundary = { type: g.type, coordinates: g.coordinates };
      }
      const center = validCenter(p.center) ?? (boundary ? centroid(boundary) : undefined);
      return {
        id: String(p.id ?? ''),
        name: String(p.name ?? ''),
        level: String(p.level ?? '') as SiteLevel,
        parent: p.parent === undefined || p.parent === null || p.parent === '' ? null : String(p.parent),
        ...(center ? { center } : {}),
        ...(boundary ? { boundary } : {}),
      } satisfies SiteNode;
    });
    const ids = new Set<string>();
    nodes.forEach((n, i) => {
      if (ids.has(n.id))
        throw new SiteTreeError('HUB_ERR_VALIDATION', `${label(i)}: id ${n.id} appears twice`);
      ids.add(n.id);
    });
    this.upsert(nodes, label);
    return nodes;
  }
}

function validCenter(c: unknown): { lat: number; lon: number } | undefined {
  const v = c as { lat?: unknown; lon?: unknown } | undefined;
  if (
    v &&
    typeof v.lat === 'number' &&
    typeof v.lon === 'number' &&
    Math.abs(v.lat) <= 90 &&
    Math.abs(v.lon) <= 180
  )
    return { lat: v.lat, lon: v.lon };
  return undefined;
}

/** The mean of a boundary's outer ring vertices: good enough to centre a map on a village. */
function centroid(b: NonNullable<SiteNode['boundary']>): { lat: number; lon: number } | undefined {
  const rings =
    b.type === 'Polygon'
      ? [(b.coordinates as number[][][])[0]]
      : (b.coordinates as number[][][][]).map((p) => p[0]);
  let lat = 0;
  let lon = 0;
  let n = 0;
  for (const ring of rings)
    for (const pt of ring ?? []) {
      if (!Array.isArray(pt) || typeof pt[0] !== 'number' || typeof pt[1] !== 'number') continue;
      lon += pt[0];
      lat += pt[1];
      n += 1;
    }
  return n ? { lat: Math.round((lat / n) * 1e6) / 1e6, lon: Math.round((lon / n) * 1e6) / 1e6 } : undefined;
}
