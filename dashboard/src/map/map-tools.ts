/** The map side of the drone tools: picking a point, a go-to's target, drawing a replayed flight. */
import type { DeviceView } from '@qianliyan/protocols';
import L from 'leaflet';
import type { MapTools } from '../components/drone-tools.ts';
import { t } from '../i18n.ts';

/** A drone this close to its go-to target has arrived: the target mark goes. */
const ARRIVED_M = 15;

export interface ShellMapTools extends MapTools {
  replayState(): unknown;
  /** A drone moved: its target mark goes once it is there. */
  droneMoved(d: DeviceView): void;
  /** Go-to targets on the map now (drone key → point). */
  targets(): Array<{ drone: string; lat: number; lon: number }>;
}

export function createMapTools(map: L.Map, container: HTMLElement): ShellMapTools {
  let replayPath: L.Polyline | undefined;
  let cursor: L.CircleMarker | undefined;
  const targets = new Map<string, { marker: L.Marker; lat: number; lon: number }>();
  const removeTarget = (drone: string) => {
    targets.get(drone)?.marker.remove();
    targets.delete(drone);
  };
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
    showTarget: (drone, point) => {
      removeTarget(drone);
      const label = `${t('droneTarget')}${point.alt !== undefined ? ` · ${Math.round(point.alt)} m` : ''}`;
      const marker = L.marker([point.lat, point.lon], {
        icon: L.divIcon({ className: 'qly-target', html: '<span>✛</span>', iconSize: [30, 30] }),
        title: label,
        alt: label,
        keyboard: false,
        interactive: false,
      })
        .bindTooltip(label, {
          permanent: true,
          direction: 'right',
          offset: [14, 0],
          className: 'qly-target-label',
        })
        .addTo(map);
      targets.set(drone, { marker, lat: point.lat, lon: point.lon });
    },
    droneMoved: (d) => {
      const target = targets.get(d.key);
      if (target && map.distance([d.position.lat, d.position.lon], [target.lat, target.lon]) < ARRIVED_M)
        removeTarget(d.key);
    },
    targets: () => [...targets].map(([drone, p]) => ({ drone, lat: p.lat, lon: p.lon })),
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
