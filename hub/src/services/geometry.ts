/**
 * Checks a site boundary before it is stored: a GeoJSON Polygon or MultiPolygon (RFC 7946 §3.1.6–7)
 * whose positions are numbers in range, whose rings are closed and have at least four positions,
 * with bounded nesting and size. Walked by shape, never by recursion, so a body nested thousands of
 * levels deep is an error for the sender (400), not a stack overflow in the hub; strings where
 * numbers belong are refused instead of stored.
 */

export const MAX_BOUNDARY_POSITIONS = 100_000;
const MAX_RINGS = 1000;

export type Boundary = { type: 'Polygon' | 'MultiPolygon'; coordinates: unknown };

/** The problem with a boundary, in a sentence, or undefined when it is valid. */
export function boundaryProblem(b: Boundary): string | undefined {
  if (b.type !== 'Polygon' && b.type !== 'MultiPolygon')
    return 'the geometry must be a Polygon or MultiPolygon';
  const polygons = b.type === 'Polygon' ? [b.coordinates] : b.coordinates;
  if (!Array.isArray(polygons) || polygons.length === 0) return 'coordinates must be a non-empty array';
  if (polygons.length > MAX_RINGS) return `more than ${MAX_RINGS} polygons`;
  let positions = 0;
  for (const [p, polygon] of polygons.entries()) {
    if (!Array.isArray(polygon) || polygon.length === 0)
      return `polygon ${p + 1}: an array of rings is required`;
    if (polygon.length > MAX_RINGS) return `polygon ${p + 1}: more than ${MAX_RINGS} rings`;
    for (const [r, ring] of polygon.entries()) {
      const where = `polygon ${p + 1}, ring ${r + 1}`;
      if (!Array.isArray(ring) || ring.length < 4) return `${where}: at least four positions are required`;
      positions += ring.length;
      if (positions > MAX_BOUNDARY_POSITIONS) return `more than ${MAX_BOUNDARY_POSITIONS} positions`;
      for (const [i, pos] of ring.entries()) {
        if (!Array.isArray(pos) || pos.length < 2 || pos.length > 3)
          return `${where}, position ${i + 1}: [longitude, latitude] is required`;
        const [lon, lat] = pos as unknown[];
        if (
          typeof lon !== 'number' ||
          typeof lat !== 'number' ||
          !Number.isFinite(lon) ||
          !Number.isFinite(lat)
        )
          return `${where}, position ${i + 1}: longitude and latitude must be numbers`;
        if (Math.abs(lon) > 180 || Math.abs(lat) > 90)
          return `${where}, position ${i + 1}: out of range (longitude ±180, latitude ±90)`;
        if (pos.length === 3 && (typeof pos[2] !== 'number' || !Number.isFinite(pos[2])))
          return `${where}, position ${i + 1}: the altitude must be a number`;
      }
      const first = ring[0] as number[];
      const last = ring.at(-1) as number[];
      if (first[0] !== last[0] || first[1] !== last[1]) return `${where}: the ring must be closed`;
    }
  }
  return undefined;
}
