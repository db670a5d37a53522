/** The side panel of one device: status, latest values and a small history chart per numeric field. */
import type { CommandView, DeviceView, Role } from '@qianliyan/protocols';
import { get } from '../api.ts';
import { escapeHtml } from '../html.ts';
import { eventLabel, fieldLabel, t, timeAgo, valueLabel } from '../i18n.ts';
import { CommandBar } from './command-bar.ts';
import { DroneTools, type MapTools } from './drone-tools.ts';
import { drawSparkline } from './sparkline.ts';

/** Fields worth a chart, per kind; the rest are shown as values only. */
const CHART_FIELDS: Record<DeviceView['kind'], string[]> = {
  sensor: ['water_level', 'temperature', 'pm25'],
  drone: ['battery', 'alt'],
  camera: ['bitrate_kbps'],
  speaker: [],
};

export class DevicePanel {
  private key: string | undefined;
  private historyTimer: number | undefined;
  private commands: CommandBar | undefined;
  private drone: DroneTools | undefined;

  constructor(
    private readonly root: HTMLElement,
    private readonly onClose: () => void,
    private readonly role: Role,
    private readonly mapTools: MapTools,
    /** A camera to the video wall, or into the wall's large view (with PTZ). */
    private readonly video: { play(key: string): void; large(key: string): void },
  ) {
    root.addEventListener('click', (ev) => {
      const action = (ev.target as HTMLElement).closest<HTMLElement>('[data-video]')?.dataset.video;
      if (!this.key) return;
      if (action === 'play') this.video.play(this.key);
      if (action === 'large') this.video.large(this.key);
    });
  }

  /** A command event from the live channel, for the command bar and the drone tools. */
  onCommand(c: CommandView): void {
    this.commands?.onCommand(c);
    this.drone?.onCommand(c);
  }

  get current(): string | undefined {
    return this.key;
  }

  /** Shows a device; `rebuild` re-renders it in full (e.g. after a language switch). */
  show(device: DeviceView, rebuild = false): void {
    const changed = this.key !== device.key;
    this.key = device.key;
    this.root.hidden = false;
    this.render(device, changed || rebuild);
    if (changed || rebuild) {
      window.clearInterval(this.historyTimer);
      void this.loadHistory(device);
      this.historyTimer = window.setInterval(() => void this.loadHistory(device), 15_000);
    }
  }

  hide(): void {
    this.drone?.dispose();
    this.drone = undefined;
    this.key = undefined;
    this.root.hidden = true;
    window.clearInterval(this.historyTimer);
  }

  /** Re-renders values in place (live updates) without reloading the charts. */
  update(device: DeviceView): void {
    if (device.key === this.key) this.render(device, false);
  }

  /** The language changed: every word again; the drone tools (a replay under way) are kept. */
  relabel(device: DeviceView): void {
    this.render(device, true, true);
    void this.loadHistory(device);
  }

  private render(d: DeviceView, rebuild: boolean, keepDrone = false): void {
    if (rebuild) {
      const kept =
        keepDrone && this.drone ? this.root.querySelector<HTMLElement>('[data-role=drone-tools]') : null;
      kept?.remove();
      this.root.innerHTML = `
        <header class="panel-head">
          <span class="dot" data-role="dot"></span>
          <h2 data-role="name" tabindex="-1"></h2>
          <button type="button" class="icon" data-role="close" title="${t('close')}" aria-label="${t('close')}">✕</button>
        </header>
        <dl class="meta" data-role="meta"></dl>
        ${
          d.capabilities.includes('video')
            ? `<div class="video-actions"><button type="button" class="primary" data-video="play">▶ ${t('playOnWall')}</button>
               <button type="button" data-video="large">⤢ ${t('enlarge')}</button></div>`
            : ''
        }
        <section class="commands" data-role="commands"></section>
        <section data-role="drone-tools"></section>
        <h3 class="latest-values">${t('latestValues')}</h3>
        <table class="values" data-role="values"></table>
        <div data-role="charts"></div>`;
      this.root.querySelector('[data-role=close]')?.addEventListener('click', () => {
        this.hide();
        this.onClose();
      });
      this.commands = new CommandBar(
        this.root.querySelector('[data-role=commands]') as HTMLElement,
        this.role,
      );
      if (kept && this.drone) {
        this.root.querySelector('[data-role=drone-tools]')?.replaceWith(kept);
        this.drone.relabel();
      } else {
        this.drone?.dispose();
        this.drone =
          d.kind === 'drone'
            ? new DroneTools(
                this.root.querySelector('[data-role=drone-tools]') as HTMLElement,
                this.mapTools,
                this.role,
              )
            : undefined;
      }
      const charts = this.root.querySelector('[data-role=charts]') as HTMLElement;
      for (const field of CHART_FIELDS[d.kind]) {
        charts.insertAdjacentHTML(
          'beforeend',
          `<h3>${escapeHtml(fieldLabel(field, d.units))} · ${t('history')} <button type="button" class="link" data-open-history="${escapeHtml(field)}" data-key="${escapeHtml(d.key)}">${t('historyOpen')}</button></h3><canvas class="spark" data-field="${field}" role="img" aria-label="${escapeHtml(`${fieldLabel(field, d.units)} · ${t('history')}`)}"></canvas>`,
        );
      }
    }
    (this.root.querySelector('[data-role=dot]') as HTMLElement).className = `dot status-${d.status}`;
    this.commands?.show(d);
    this.drone?.show(d);
    (this.root.querySelector('[data-role=name]') as HTMLElement).textContent = d.name;
    const meta = this.root.querySelector('[data-role=meta]') as HTMLElement;
    const ptz = d.capabilities.includes('cmd.ptz.move');
    meta.innerHTML = `
      <dt>${t(`kind_${d.kind}`)}</dt><dd>${t(d.status)}${ptz ? ` · <span class="ptz-badge">${t('ptzBadge')}</span>` : ''}</dd>
      <dt>${t('model')}</dt><dd>${escapeHtml(d.model ?? '—')}</dd>
      ${d.firmware ? `<dt>${t('firmware')}</dt><dd>${escapeHtml(d.firmware)}</dd>` : ''}
      <dt>${t('position')}</dt><dd>${d.position.lat.toFixed(5)}, ${d.position.lon.toFixed(5)}</dd>
      ${homeRow(d)}
      <dt>${t('lastSeen')}</dt><dd>${timeAgo(d.lastSeen)}</dd>
      ${d.unreachable ? `<dt>${t('offline')}</dt><dd class="sev-alarm" title="${escapeHtml(d.unreachable.reason)}">${t('unreachable')}</dd>` : ''}
      ${d.lastEvent ? `<dt>${t('lastEvent')}</dt><dd class="sev-${d.lastEvent.severity}">${escapeHtml(eventLabel(d.lastEvent.type))} · ${timeAgo(d.lastEvent.ts)}</dd>` : ''}`;
    const rows = Object.entries(d.values)
      .map(
        ([k, v]) =>
          `<tr><th scope="row">${escapeHtml(fieldLabel(k, d.units))}</th><td>${formatValue(k, v)}</td></tr>`,
      )
      .join('');
    (this.root.querySelector('[data-role=values]') as HTMLElement).innerHTML =
      rows || `<tr><td>${t('noData')}</td></tr>`;
  }

  private async loadHistory(d: DeviceView): Promise<void> {
    const to = Date.now();
    for (const canvas of this.root.querySelectorAll<HTMLCanvasElement>('canvas.spark')) {
      const field = canvas.dataset.field as string;
      try {
        const res = await get('/api/devices/:key/history', {
          params: { key: d.key },
          query: { field, from: to - 3600_000, to, bucketMs: 30_000 },
        });
        if (this.key === d.key) drawSparkline(canvas, res.points);
      } catch (err) {
        console.warn('history not loaded', err);
      }
    }
  }
}

/** Where a drone returns to (its HOME_POSITION, from telemetry), when it has reported one. */
function homeRow(d: DeviceView): string {
  const { home_lat: lat, home_lon: lon, home_alt: alt } = d.values;
  if (typeof lat !== 'number' || typeof lon !== 'number') return '';
  const altitude = typeof alt === 'number' ? ` · ${Math.round(alt)} ${t('metres')}` : '';
  return `<dt>${t('home')}</dt><dd data-role="home">${lat.toFixed(5)}, ${lon.toFixed(5)}${altitude}</dd>`;
}

function formatValue(field: string, v: string | number | boolean): string {
  if (typeof v === 'boolean') return v ? t('yes') : t('no');
  if (typeof v === 'number' && ['lat', 'lon', 'home_lat', 'home_lon'].includes(field)) return v.toFixed(6);
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toFixed(v < 10 ? 2 : 1);
  return escapeHtml(valueLabel(v));
}
