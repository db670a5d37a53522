/**
 * PTZ for the enlarged view: a joystick (press and hold to move; release stops), zoom in/out,
 * presets (go to; store the current position for roles that may). Moves are sent as short
 * continuous moves renewed while the button is held, so a lost "stop" leaves the camera still
 * within a second. Every control goes through the command path (and its audit).
 */
import { mayCommand, type Role } from '@qianliyan/protocols';
import { escapeHtml } from '../html.ts';
import { t } from '../i18n.ts';

type Send = (action: string, params: Record<string, unknown>) => Promise<unknown>;

const PAD: Array<[string, number, number]> = [
  ['↖', -1, 1],
  ['↑', 0, 1],
  ['↗', 1, 1],
  ['←', -1, 0],
  ['■', 0, 0],
  ['→', 1, 0],
  ['↙', -1, -1],
  ['↓', 0, -1],
  ['↘', 1, -1],
];
const SPEED = 0.5;
const MOVE_MS = 800;
const RENEW_MS = 500;

export class PtzControls {
  private holding: number | undefined;
  private readonly message: HTMLElement;

  constructor(
    private readonly root: HTMLElement,
    readonly device: string,
    role: Role,
    private readonly send: Send,
  ) {
    const mayStore = mayCommand(role, 'ptz.preset.set');
    root.innerHTML = `
      <h3>${t('ptz')}</h3>
      <div class="ptz-pad">${PAD.map(([glyph, x, y]) => `<button data-pan="${x}" data-tilt="${y}" ${x === 0 && y === 0 ? 'data-stop="1"' : ''}>${glyph}</button>`).join('')}</div>
      <div class="ptz-zoom"><button data-zoom="-1">－ ${t('zoomOut')}</button><button data-zoom="1">＋ ${t('zoomIn')}</button></div>
      <h3>${t('presets')}</h3>
      <div class="ptz-presets">
        <select data-role="presets"><option value="">${t('loading')}</option></select>
        <button data-role="goto">${t('gotoPreset')}</button>
      </div>
      ${mayStore ? `<div class="ptz-presets"><input data-role="preset-name" maxlength="32" placeholder="${t('presetName')}"><button data-role="store">${t('storePreset')}</button></div>` : ''}
      <p class="ptz-msg" data-role="msg"></p>`;
    this.message = root.querySelector('[data-role=msg]') as HTMLElement;
    for (const b of root.querySelectorAll<HTMLButtonElement>('[data-pan], [data-zoom]')) {
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
    root.querySelector('[data-role=goto]')?.addEventListener('click', () => {
      const preset = (root.querySelector('[data-role=presets]') as HTMLSelectElement).value;
      if (preset) void this.run('ptz.preset.goto', { preset });
    });
    root.querySelector('[data-role=store]')?.addEventListener('click', () => {
      const name = (root.querySelector('[data-role=preset-name]') as HTMLInputElement).value.trim();
      if (!name) return;
      const preset = `p${Date.now().toString(36)}`;
      void this.run('ptz.preset.set', { preset, name }).then(() => this.loadPresets());
    });
    void this.loadPresets();
  }

  dispose(): void {
    window.clearInterval(this.holding);
    this.holding = undefined;
  }

  private hold(velocity: { pan: number; tilt: number; zoom: number }): void {
    window.clearInterval(this.holding);
    const move = () => void this.run('ptz.move', { ...velocity, durationMs: MOVE_MS }, true);
    move();
    this.holding = window.setInterval(move, RENEW_MS);
  }

  private async stop(): Promise<void> {
    window.clearInterval(this.holding);
    this.holding = undefined;
    await this.run('ptz.stop', {});
  }

  private async loadPresets(): Promise<void> {
    const select = this.root.querySelector('[data-role=presets]') as HTMLSelectElement | null;
    try {
      const result = (await this.send('ptz.preset.list', {})) as {
        data?: { presets?: Array<{ preset: string; name: string }> };
      };
      const presets = result.data?.presets ?? [];
      if (select)
        select.innerHTML = presets.length
          ? presets
              .map((p) => `<option value="${escapeHtml(p.preset)}">${escapeHtml(p.name)}</option>`)
              .join('')
          : `<option value="">${t('noPresets')}</option>`;
    } catch (err) {
      if (select) select.innerHTML = `<option value="">${t('noPresets')}</option>`;
      this.say((err as Error).message);
    }
  }

  private async run(action: string, params: Record<string, unknown>, quiet = false): Promise<unknown> {
    try {
      const result = (await this.send(action, params)) as { status?: string; error?: { message: string } };
      if (result.status && result.status !== 'ok') this.say(result.error?.message ?? result.status);
      else if (!quiet) this.say(`${t('done')}: ${action}`);
      return result;
    } catch (err) {
      this.say((err as Error).message);
      return undefined;
    }
  }

  private say(text: string): void {
    this.message.textContent = text;
  }
}
