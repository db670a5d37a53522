/**
 * Stage: the map (Leaflet; the shell creates it, every panel may draw on it). This panel adds what
 * explains it — the legend — and keeps it in the user's language.
 */
import { WATCH } from '@qianliyan/protocols';
import L from 'leaflet';
import { t } from '../i18n.ts';
import type { PanelDef } from '../shell/panel.ts';

export const mapPanel: PanelDef = {
  id: 'map',
  label: 'modeMap',
  roles: WATCH,
  slot: 'stage',
  mount(_el, ctx) {
    let legend = addLegend(ctx.map);
    return {
      activate: (on) => on && ctx.map.invalidateSize(),
      relabel: () => {
        legend.remove();
        legend = addLegend(ctx.map);
      },
      dispose: () => legend.remove(),
    };
  },
};

/** Status colours, kind outlines, the field-of-view sector and the drone track, explained. */
function addLegend(map: L.Map): L.Control {
  const legend = new L.Control({ position: 'bottomleft' });
  legend.onAdd = () => {
    const el = L.DomUtil.create('div', 'legend');
    // Classes, not style attributes: the dashboard runs under a CSP without 'unsafe-inline'.
    const dot = (cls: string) => `<span class="dot ${cls}"></span>`;
    el.innerHTML = `
      <strong>${t('legend')}</strong>
      <div>${dot('status-online')} ${t('online')} ${dot('status-offline')} ${t('offline')} ${dot('status-alarm')} ${t('alarm')}</div>
      <div>${dot('kind-camera')} ${t('kind_camera')} ${dot('kind-speaker')} ${t('kind_speaker')}
        ${dot('kind-sensor')} ${t('kind_sensor')}</div>
      <div><span class="swatch sector"></span> ${t('fieldOfView')} <span class="swatch track"></span> ${t('droneTrack')}</div>
      <div><span class="swatch route"></span> ${t('droneRoute')} ▲ ${t('kind_drone')}</div>`;
    return el;
  };
  legend.addTo(map);
  return legend;
}
