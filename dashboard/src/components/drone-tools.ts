/**
 * Drone tools in the device panel:
 *  - fly to a point clicked on the map, at a chosen altitude, after an explicit confirmation;
 *  - set the flight mode, after an explicit confirmation;
 *  - flight replay: a period's track from the hub, played on the map with a time slider at 1×–20×.
 * The map work (picking a point, drawing the replay) is the command view's, through `MapTools`.
 */
import {
  type CommandView,
  type DeviceView,
  mayCommand,
  type Role,
  type TrackPoint,
} from '@qianliyan/protocols';
import { get, post } from '../api.ts';
import { escapeHtml } from '../html.ts';
import { errorMessage, getLang, type StringKey, t, valueLabel } from '../i18n.ts';

/** A replay point is the hub's track answer's point (`GET /api/devices/:key/track`). */
export type { TrackPoint };

export interface MapTools {
  /** Resolves with the next point clicked on the map, or null when the officer cancels (Esc). */
  pickPoint(): Promise<{ lat: number; lon: number } | null>;
  /** Marks where a drone was sent (a go-to), until it arrives or is sent elsewhere. */
  showTarget(drone: string, point: { lat: number; lon: number; alt?: number }): void;
  showReplay(points: TrackPoint[]): void;
  moveReplayCursor(point: TrackPoint): void;
  clearReplay(): void;
}

const MODES = ['AUTO', 'LOITER', 'GUIDED', 'RTL', 'LAND', 'POSHOLD', 'BRAKE'];
const RANGES: Array<[StringKey, number]> = [
  ['replayLast10m', 600_000],
  ['replayLast1h', 3_600_000],
  ['replayLast6h', 21_600_000],
];
const SPEEDS = [1, 2, 5, 10, 20];

export class DroneTools {
  private device: DeviceView | undefined;
  private lastId: string | undefined;
  private replay:
    | { points: TrackPoint[]; t: number; playing: boolean; speed: number; frame: number; last: number }
    | undefined;

  constructor(
    private readonly root: HTMLElement,
    private readonly map: MapTools,
    private readonly role: Role,
  ) {}

  show(device: DeviceView): void {
    const changed = this.device?.key !== device.key;
    this.device = device;
    if (changed) this.render();
    else this.showMode();
  }

  /** The mode selector shows the mode the drone is in (unless the officer is choosing one). */
  private showMode(): void {
    const select = this.root.querySelector<HTMLSelectElement>('[data-role=mode]');
    const mode = this.device?.values.mode;
    if (!select || typeof mode !== 'string' || document.activeElement === select) return;
    if (![...select.options].some((o) => o.value === mode))
      select.insertAdjacentHTML(
        'afterbegin',
        `<option value="${escapeHtml(mode)}">${escapeHtml(valueLabel(mode))}</option>`,
      );
    select.value = mode;
    const current = this.root.querySelector<HTMLElement>('[data-role=mode-now]');
    if (current) current.textContent = `${t('droneModeNow')}: ${valueLabel(mode)}`;
  }

  /** The language changed. */
  relabel(): void {
    const replay = this.replay;
    this.render();
    if (replay) {
      const player = this.root.querySelector<HTMLElement>('[data-role=player]');
      if (player) player.hidden = false;
      this.showPlayState();
      this.drawReplayAt();
    }
  }

  dispose(): void {
    this.stopReplay();
  }

  onCommand(c: CommandView): void {
    if (c.id !== this.lastId) return;
    if (c.status === 'ok') this.status('ok', t('cmdOk', { ms: c.durationMs ?? 0 }));
    else if (c.status === 'timeout') this.status('timeout', t('cmdTimeout'));
    else if (c.status === 'error') this.status('error', t('cmdFailed', { message: c.error?.message ?? '' }));
  }

  private render(): void {
    const d = this.device;
    if (!d || d.kind !== 'drone') {
      this.root.innerHTML = '';
      return;
    }
    const can = (action: string) => d.capabilities.includes(`cmd.${action}`);
    const fly = mayCommand(this.role, 'drone.goto') && can('drone.goto');
    const mode = mayCommand(this.role, 'drone.mode') && can('drone.mode');
    this.root.innerHTML = `
      <div class="drone-tools">
        ${
          fly || mode
            ? `<div class="row">
          ${fly ? `<button type="button" data-role="goto">${t('droneGoto')}</button>` : ''}
          ${
            mode
              ? `<select data-role="mode" aria-label="${t('droneMode')}">${MODES.map((m) => `<option value="${m}">${escapeHtml(valueLabel(m))}</option>`).join('')}</select>
            <button type="button" data-role="set-mode">${t('droneMode')}</button>`
              : ''
          }
        </div>
        <p class="muted" data-role="mode-now"></p>
        <div class="row" data-role="confirm" hidden></div>
        <p class="cmd-status" data-role="drone-status" role="status" aria-live="polite"></p>`
            : ''
        }
        <h3>${t('replay')}</h3>
        <div class="row">
          <select data-role="range" aria-label="${t('replay')}">${RANGES.map(([k, ms]) => `<option value="${ms}">${t(k)}</option>`).join('')}</select>
          <button type="button" data-role="load">${t('replayLoad')}</button>
        </div>
        <div class="row" data-role="player" hidden>
          <button type="button" data-role="play">${t('replayPlay')}</button>
          <select data-role="speed" aria-label="${t('replaySpeed')}">${SPEEDS.map((s) => `<option value="${s}"${s === 10 ? ' selected' : ''}>${s}×</option>`).join('')}</select>
          <input type="range" data-role="slider" min="0" max="1000" value="0" aria-label="${t('replay')}" />
          <button type="button" data-role="end">${t('replayClose')}</button>
        </div>
        <p class="replay-clock" data-role="clock"></p>
      </div>`;
    const $ = <T extends HTMLElement>(role: string) => this.root.querySelector<T>(`[data-role=${role}]`);
    $('goto')?.addEventListener('click', () => void this.pickAndFly());
    $('set-mode')?.addEventListener('click', () => {
      const mode = $<HTMLSelectElement>('mode')?.value ?? 'LOITER';
      this.confirm(escapeHtml(t('modeConfirm', { mode: valueLabel(mode) })), () =>
        this.send('drone.mode', { mode }),
      );
    });
    this.showMode();
    $('load')?.addEventListener(
      'click',
      () => void this.loadReplay(Number($<HTMLSelectElement>('range')?.value)),
    );
    $('play')?.addEventListener('click', () => this.togglePlay());
    $('speed')?.addEventListener('change', () => {
      if (this.replay) this.replay.speed = Number($<HTMLSelectElement>('speed')?.value ?? 10);
    });
    $('slider')?.addEventListener('input', () => {
      const r = this.replay;
      if (!r) return;
      r.t = (Number($<HTMLInputElement>('slider')?.value ?? 0) / 1000) * this.duration();
      this.drawReplayAt();
    });
    $('end')?.addEventListener('click', () => {
      this.stopReplay();
      ($('player') as HTMLElement).hidden = true;
      ($('clock') as HTMLElement).textContent = '';
    });
  }

  private async pickAndFly(): Promise<void> {
    this.status('sent', t('pickPoint'));
    const point = await this.map.pickPoint();
    if (!point) {
      this.status('', '');
      return;
    }
    const alt = Math.round(Math.max(20, Number(this.device?.values.alt ?? 60)));
    this.confirm(
      `${t('gotoConfirm', { lat: point.lat.toFixed(5), lon: point.lon.toFixed(5) })}
       <input type="number" data-role="alt" min="5" max="500" value="${alt}" aria-label="${t('field_alt')}" /> ${t('metres')}`,
      () => {
        const value = Number(this.root.querySelector<HTMLInputElement>('[data-role=alt]')?.value ?? alt);
        return this.send('drone.goto', { lat: point.lat, lon: point.lon, alt: value }).then((sent) => {
          if (sent && this.device) this.map.showTarget(this.device.key, { ...point, alt: value });
        });
      },
    );
  }

  /** The explicit second step of a harmful command. `html` is ours (numbers and translations only). */
  private confirm(html: string, run: () => Promise<unknown>): void {
    const row = this.root.querySelector<HTMLElement>('[data-role=confirm]');
    if (!row) return;
    row.hidden = false;
    row.innerHTML = `<span>${html}</span>
      <button type="button" class="danger" data-role="yes">${t('confirm')}</button>
      <button type="button" data-role="no">${t('cancel')}</button>`;
    const close = () => {
      row.hidden = true;
      row.innerHTML = '';
    };
    row.querySelector('[data-role=yes]')?.addEventListener('click', () => {
      void run();
      close();
    });
    row.querySelector('[data-role=no]')?.addEventListener('click', close);
  }

  /** Sends a drone command; whether the hub took it. */
  private async send(action: string, params: Record<string, unknown>): Promise<boolean> {
    const d = this.device;
    if (!d) return false;
    this.status('sent', t('cmdSent', { action: t(action === 'drone.goto' ? 'droneGoto' : 'droneMode') }));
    try {
      const view = await post('/api/devices/:key/commands', {
        params: { key: d.key },
        body: { action, params, confirm: true, wait: false },
      });
      this.lastId = view.id;
      return true;
    } catch (err) {
      this.status('error', t('cmdRefused', { message: errorMessage(err) }));
      return false;
    }
  }

  private status(state: string, text: string): void {
    const el = this.root.querySelector<HTMLElement>('[data-role=drone-status]');
    if (!el) return;
    el.dataset.state = state;
    el.innerHTML = escapeHtml(text);
  }

  private async loadReplay(periodMs: number): Promise<void> {
    const d = this.device;
    if (!d) return;
    this.stopReplay();
    const to = Date.now();
    const res = await get('/api/devices/:key/track', {
      params: { key: d.key },
      query: { from: to - periodMs, to, maxPoints: 3600 },
    });
    const clock = this.root.querySelector<HTMLElement>('[data-role=clock]');
    if (res.points.length < 2) {
      if (clock) clock.textContent = t('replayNoData');
      return;
    }
    const speed = Number(this.root.querySelector<HTMLSelectElement>('[data-role=speed]')?.value ?? 10);
    this.replay = { points: res.points, t: 0, playing: false, speed, frame: 0, last: 0 };
    this.map.showReplay(res.points);
    const player = this.root.querySelector<HTMLElement>('[data-role=player]');
    if (player) player.hidden = false;
    this.drawReplayAt();
    this.togglePlay();
  }

  private duration(): number {
    const p = this.replay?.points;
    return p && p.length > 1 ? (p.at(-1) as TrackPoint).ts - (p[0] as TrackPoint).ts : 0;
  }

  /** The play button says what pressing it does: "pause" while playing, "play" while paused. */
  private showPlayState(): void {
    const button = this.root.querySelector<HTMLElement>('[data-role=play]');
    if (!button) return;
    const playing = this.replay?.playing ?? false;
    button.textContent = playing ? `⏸ ${t('replayPause')}` : `▶ ${t('replayPlay')}`;
    button.setAttribute('aria-pressed', String(playing));
  }

  private togglePlay(): void {
    const r = this.replay;
    if (!r) return;
    r.playing = !r.playing;
    this.showPlayState();
    if (!r.playing) {
      cancelAnimationFrame(r.frame);
      return;
    }
    if (r.t >= this.duration()) r.t = 0;
    r.last = performance.now();
    const step = (now: number) => {
      if (!this.replay?.playing) return;
      this.replay.t = Math.min(this.duration(), this.replay.t + (now - this.replay.last) * this.replay.speed);
      this.replay.last = now;
      this.drawReplayAt();
      if (this.replay.t >= this.duration()) this.togglePlay();
      else this.replay.frame = requestAnimationFrame(step);
    };
    r.frame = requestAnimationFrame(step);
  }

  /** Moves the replay cursor to the point at the current replay time (binary search). */
  private drawReplayAt(): void {
    const r = this.replay;
    if (!r) return;
    const at = (r.points[0] as TrackPoint).ts + r.t;
    let lo = 0;
    let hi = r.points.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((r.points[mid] as TrackPoint).ts <= at) lo = mid;
      else hi = mid - 1;
    }
    const p = r.points[lo] as TrackPoint;
    this.map.moveReplayCursor(p);
    const slider = this.root.querySelector<HTMLInputElement>('[data-role=slider]');
    if (slider) slider.value = String(Math.round((r.t / Math.max(1, this.duration())) * 1000));
    const clock = this.root.querySelector<HTMLElement>('[data-role=clock]');
    if (clock)
      clock.textContent = `${new Date(p.ts).toLocaleTimeString(getLang() === 'zh' ? 'zh-CN' : 'en-GB', { hour12: false })} · ${p.alt !== undefined ? `${Math.round(p.alt)} m` : ''}${p.battery !== undefined ? ` · ${Math.round(p.battery)}%` : ''} · ${t('replayPoints', { n: r.points.length })}`;
  }

  private stopReplay(): void {
    if (this.replay) cancelAnimationFrame(this.replay.frame);
    this.replay = undefined;
    this.map.clearReplay();
  }
}
