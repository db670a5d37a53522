/** The map side of the drone tools: picking a point, drawing a replayed flight. */
import L from 'leaflet';
import type { MapTools } from '../components/drone-tools.ts';

export function createMapTools(map: L.Map, container: HTMLElement): MapTools & { replayState(): unknown } {
  let replayPath: L.Polyline | undefined;
  let cursor: L.CircleMarker | undefined;
  return {
    pickPoint: () =>
      new Promise((resolve) => {
        container.classList.add('picking');
        const done = (value: { lat: number; lon: number } | null) => {
          container.classList.remove('picking');
          map.off('click', onClick);
          document.removeEventListener('keydown', onKey);
          resolve(value);
        };
        const onClick = (e: L.LeafletMouseEvent) => done({ lat: e.latlng.lat, lon: e.latlng.lng });
        const onKey = (e: KeyboardEvent) => {
          if (e.key === 'Escape') done(null);
        };
        map.once('click', onClick);
        document.addEventListener('keydown', onKey);
      }),
    showReplay: (points) => {
      replayPath?.remove();
      cursor?.remove();
      const latlngs = points.map((p) => L.latLng(p.lat, p.lon));
      replayPath = L.polyline(latlngs, {
        color: '#a78bfa',
        weight: 3,
        opacity: 0.8,
        interactive: false,
      }).addTo(map);
      cursor = L.circleMarker(latlngs[0] as L.LatLng, {
        radius: 8,
        color: '#f5f3ff',
        weight: 2,
        fillColor: '#8b5cf6',
        fillOpacity: 1,
        interactive: false,
      }).addTo(map);
      map.fitBounds(replayPath.getBounds(), { padding: [40, 40], maxZoom: 17 });
    },
    moveReplayCursor: (p) => cursor?.setLatLng([p.lat, p.lon]),
    clearReplay: () => {
      replayPath?.remove();
      cursor?.remove();
      replayPath = undefined;
      cursor = undefined;
    },
    replayState: () =>
      cursor && replayPath
        ? {
            points: (replayPath.getLatLngs() as L.LatLng[]).length,
            cursor: { lat: cursor.getLatLng().lat, lon: cursor.getLatLng().lng },
          }
        : null,
  };
}
