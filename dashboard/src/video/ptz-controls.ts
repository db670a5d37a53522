/**
 * PTZ for the large view: a joystick (press and hold to move; release stops), zoom (拉近 / 拉远 —
 * never "放大", which is the wall's word for a large view), presets (go to; store the current
 * position for roles that may). Moves are sent as short continuous moves renewed while held, so a
 * lost "stop" leaves the camera still within a second. Every control goes through the command path
 * (and its audit).
 *
 * Keyboard: the joystick is one tab stop; the arrow keys move while held (two at once move
 * diagonally), + and − zoom while held, Space stops, Escape closes the large view (the wall
 * handles it).
 */
import { mayCommand, type Role } from '@qianliyan/protocols';
import { escapeHtml } from '../html.ts';
import { errorMessage, type StringKey, t } from '../i18n.ts';

type Send = (action: string, params: Record<string, unknown>) => Promise<unknown>;

const PAD: Array<[string, number, number, StringKey]> = [
  ['↖', -1, 1, 'ptzUpLeft'],
  ['↑', 0, 1, 'ptzUp'],
  ['↗', 1, 1, 'ptzUpRight'],
  ['←', -1, 0, 'ptzLeft'],
  ['■', 0, 0, 'ptzStop'],
  ['→', 1, 0, 'ptzRight'],
  ['↙', -1, -1, 'ptzDownLeft'],
  ['↓', 0, -1, 'ptzDown'],
  ['↘', 1, -1, 'ptzDownRight'],
];
const SPEED = 0.5;
const MOVE_MS = 800;
const RENEW_MS = 500;

/** Keys of the joystick and what each adds to the move. */
const KEYS: Record<string, { pan?: number; tilt?: number; zoom?: number }> = {
  ArrowLeft: { pan: -1 },
  ArrowRight: { pan: 1 },
  ArrowUp: { tilt: 1 },
  ArrowDown: { tilt: -1 },
  '+': { zoom: 1 },
  '=': { zoom: 1 },
  '-': { zoom: -1 },
  _: { zoom: -1 },
};

export class PtzControls {
  private holding: number | undefined;
  /** The joystick keys held down now (keydown repeats are ignored; the move follows the set). */
  private readonly keys = new Set<string>();
  private lastMove = '';
  private readonly mayStore: boolean;

  constructor(
    private readonly root: HTMLElement,
    readonly device: string,
    role: Role,
    private readonly send: Send,
  ) {
    this.mayStore = mayCommand(role, 'ptz.preset.set');
    this.render();
    void this.loadPresets();
  }

  /** What takes focus when the large view opens. */
  get focusTarget(): HTMLElement | null {
    return this.root.querySelector<HTMLElement>('[data-role=pad]');
  }

  /** The language changed: every word again (the preset list is kept). */
  relabel(): void {
    const presets = this.root.querySelector('[data-role=presets]')?.innerHTML;
    const focused = this.root.contains(document.activeElement);
    this.render();
    const select = this.root.querySelector('[data-role=presets]');
    if (select && presets) select.innerHTML = presets;
    if (focused) this.focusTarget?.focus();
  }

  private render(): void {
    this.root.innerHTML = `
      <h3>${t('ptz')}</h3>
      <div class="ptz-pad" data-role="pad" tabindex="0" role="application" aria-roledescription="${t('ptzJoystick')}"
        aria-label="${escapeHtml(t('ptzKeysHelp'))}">${PAD.map(
          ([glyph, x, y, label]) =>
            `<button type="button" tabindex="-1" data-pan="${x}" data-tilt="${y}" ${x === 0 && y === 0 ? 'data-stop="1"' : ''} aria-label="${escapeHtml(t(label))}" title="${escapeHtml(t(label))}">${glyph}</button>`,
        ).join('')}</div>
      <p class="ptz-hint">${escapeHtml(t('ptzKeysHint'))}</p>
      <div class="ptz-zoom"><button type="button" data-zoom="-1">－ ${t('zoomOut')}</button><button type="button" data-zoom="1">＋ ${t('zoomIn')}</button></div>
      <h3>${t('presets')}</h3>
      <div class="ptz-presets">
        <select data-role="presets" aria-label="${t('presets')}"><option value="">${t('loading')}</option></select>
        <button type="button" data-role="goto">${t('gotoPreset')}</button>
      </div>
      ${this.mayStore ? `<div class="ptz-presets"><input data-role="preset-name" maxlength="32" placeholder="${t('presetName')}" aria-label="${t('presetName')}"><button type="button" data-role="store">${t('storePreset')}</button></div>` : ''}
      <p class="ptz-msg" data-role="msg" role="status"></p>`;
    for (const b of this.root.querySelectorAll<HTMLButtonElement>('[data-pan], [data-zoom]')) {
      b.addEventListener('pointerdown', (ev) => {
        ev.preventDefault();
        if (b.dataset.stop) return void this.stop();
        this.hold({
          pan: Number(b.dataset.pan ?? 0) * SPEED,
          tilt: Number(b.dataset.tilt ?? 0) * SPEED,
          zoom: Number(b.dataset.zoom ?? 0) * SPEED,
        });
      });
      for (const end of ['pointerup', 'pointerleave', 'pointercancel'])
        b.addEventListener(end, () => {
          if (this.holding !== undefined) void this.stop();
        });
    }
    const pad = this.focusTarget as HTMLElement;
    pad.addEventListener('keydown', (ev) => this.onKeyDown(ev));
    pad.addEventListener('keyup', (ev) => this.onKeyUp(ev));
    pad.addEventListener('blur', () => {
      if (this.keys.size > 0) {
        this.keys.clear();
        void this.stop();
      }
    });
    this.root.querySelector('[data-role=goto]')?.addEventListener('click', () => {
      const preset = (this.root.querySelector('[data-role=presets]') as HTMLSelectElement).value;
      if (preset) void this.run('ptz.preset.goto', { preset });
    });
    this.root.querySelector('[data-role=store]')?.addEventListener('click', () => {
      const name = (this.root.querySelector('[data-role=preset-name]') as HTMLInputElement).value.trim();
      if (!name) return;
      const preset = `p${Date.now().toString(36)}`;
      void this.run('ptz.preset.set', { preset, name }).then(() => this.loadPresets());
    });
  }

  private onKeyDown(ev: KeyboardEvent): void {
    if (ev.key === ' ') {
      ev.preventDefault();
      this.keys.clear();
      void this.stop();
      return;
    }
    if (!KEYS[ev.key]) return;
    ev.preventDefault();
    this.keys.add(ev.key);
    this.moveByKeys();
  }

  private onKeyUp(ev: KeyboardEvent): void {
    if (!KEYS[ev.key]) return;
    ev.preventDefault();
    this.keys.delete(ev.key);
    if (this.keys.size === 0) void this.stop();
    else this.moveByKeys();
  }

  /** The move the held keys make together (a held key's repeats change nothing). */
  private moveByKeys(): void {
    const v = { pan: 0, tilt: 0, zoom: 0 };
    for (const k of this.keys) {
      const d = KEYS[k] ?? {};
      v.pan += d.pan ?? 0;
      v.tilt += d.tilt ?? 0;
      v.zoom += d.zoom ?? 0;
    }
    const clamp = (n: number) => Math.max(-1, Math.min(1, n)) * SPEED;
    const velocity = { pan: clamp(v.pan), tilt: clamp(v.tilt), zoom: clamp(v.zoom) };
    const signature = JSON.stringify(velocity);
    if (signature === this.lastMove && this.holding !== undefined) return;
    this.hold(velocity);
  }

  dispose(): void {
    window.clearInterval(this.holding);
    this.holding = undefined;
  }

  private hold(velocity: { pan: number; tilt: number; zoom: number }): void {
    window.clearInterval(this.holding);
    this.lastMove = JSON.stringify(velocity);
    const move = () => void this.run('ptz.move', { ...velocity, durationMs: MOVE_MS }, true);
    move();
    this.holding = window.setInterval(move, RENEW_MS);
    this.say(t('ptzMoving'));
  }

  private async stop(): Promise<void> {
    window.clearInterval(this.holding);
    this.holding = undefined;
    this.lastMove = '';
    await this.run('ptz.stop', {}, true);
    this.say(t('ptzStopped'));
  }

  private async loadPresets(): Promise<void> {
    const select = this.root.querySelector('[data-role=presets]') as HTMLSelectElement | null;
    try {
      const result = (await this.send('ptz.preset.list', {})) as {
        data?: { presets?: Array<{ preset: string; name: string }> };
      };
      const presets = result.data?.presets ?? [];
      const el = this.root.querySelector('[data-role=presets]') as HTMLSelectElement | null;
      if (el)
        el.innerHTML = presets.length
          ? presets
              .map((p) => `<option value="${escapeHtml(p.preset)}">${escapeHtml(p.name)}</option>`)
              .join('')
          : `<option value="">${t('noPresets')}</option>`;
    } catch (err) {
      if (select) select.innerHTML = `<option value="">${t('noPresets')}</option>`;
      this.say(errorMessage(err));
    }
  }

  private async run(action: string, params: Record<string, unknown>, quiet = false): Promise<unknown> {
    try {
      const result = (await this.send(action, params)) as {
        status?: string;
        error?: { code?: string; message: string };
      };
      if (result.status && result.status !== 'ok')
        this.say(
          result.status === 'timeout'
            ? t('cmdTimeout')
            : t('cmdFailed', { message: result.error?.message ?? result.status }),
        );
      else if (!quiet) this.say(t('done'));
      return result;
    } catch (err) {
      this.say(errorMessage(err));
      return undefined;
    }
  }

  private say(text: string): void {
    const el = this.root.querySelector('[data-role=msg]');
    if (el) el.textContent = text;
  }
}
