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
    const legend = new Legend(ctx.map);
    return {
      activate: (on) => {
        if (!on) return;
        ctx.map.invalidateSize();
        legend.fit();
      },
      relabel: () => legend.render(),
      dispose: () => legend.remove(),
    };
  },
};

const LEGEND_KEY = 'qly.legend';
/** Below this map size the legend starts folded: on a laptop's narrow map it would hide the map. */
const SMALL_MAP = { width: 640, height: 480 };

/**
 * Status colours, kind outlines, the field-of-view sector and the drone track, explained — folded
 * into its heading on a small map (one click or Enter opens it; the choice is remembered).
 */
class Legend {
  private readonly control = new L.Control({ position: 'bottomleft' });
  private readonly el = L.DomUtil.create('details', 'legend');
  /** The officer's own choice, once made; else folded on small maps. */
  private chosen: boolean | undefined;

  constructor(private readonly map: L.Map) {
    const saved = localStorage.getItem(LEGEND_KEY);
    this.chosen = saved === null ? undefined : saved === 'open';
    L.DomEvent.disableClickPropagation(this.el);
    this.el.addEventListener('toggle', () => {
      if (this.el.open === this.defaultOpen()) return;
      this.chosen = this.el.open;
      localStorage.setItem(LEGEND_KEY, this.el.open ? 'open' : 'closed');
    });
    this.control.onAdd = () => this.el;
    this.control.addTo(map);
    this.render();
    map.on('resize', () => this.fit());
  }

  private defaultOpen(): boolean {
    const size = this.map.getSize();
    return size.x >= SMALL_MAP.width && size.y >= SMALL_MAP.height;
  }

  /** Open or folded for the map's size now (unless the officer chose). */
  fit(): void {
    const open = this.chosen ?? this.defaultOpen();
    if (this.el.open !== open) this.el.open = open;
  }

  render(): void {
    // Classes, not style attributes: the dashboard runs under a CSP without 'unsafe-inline'.
    const dot = (cls: string) => `<span class="dot ${cls}" aria-hidden="true"></span>`;
    this.el.innerHTML = `
      <summary>${t('legend')}</summary>
      <div>${dot('status-online')} ${t('online')} ${dot('status-offline')} ${t('offline')} ${dot('status-alarm')} ${t('alarm')}</div>
      <div>${dot('kind-camera')} ${t('kind_camera')} ${dot('kind-speaker')} ${t('kind_speaker')}
        ${dot('kind-sensor')} ${t('kind_sensor')}</div>
      <div><span class="swatch sector" aria-hidden="true"></span> ${t('fieldOfView')} <span class="swatch track" aria-hidden="true"></span> ${t('droneTrack')}</div>
      <div><span class="swatch route" aria-hidden="true"></span> ${t('droneRoute')} <span aria-hidden="true">▲</span> ${t('kind_drone')}
        <span class="qly-target-swatch" aria-hidden="true">✛</span> ${t('droneTarget')}</div>`;
    this.fit();
  }

  remove(): void {
    this.control.remove();
  }
}
