/**
 * The video wall: 1, 4, 9 or 16 tiles of camera sub-streams. A camera gets onto the wall by a
 * click on its marker, by dragging it from the device list or from the map onto a tile; each tile
 * shows its camera's name and state (connecting / live / stalled / offline), a snapshot button, and
 * opens an enlarged view (the main stream, with PTZ) on a double click. The layout and what each
 * tile shows are kept per browser.
 */
import type { DeviceView, Role, StreamState } from '@qianliyan/protocols';
import { escapeHtml } from '../html.ts';
import { t } from '../i18n.ts';
import { PtzControls } from './ptz-controls.ts';
import { preferredFormat, StreamClient, type StreamStatus } from './stream-client.ts';

export const LAYOUTS = [1, 4, 9, 16] as const;
export type Layout = (typeof LAYOUTS)[number];
const STORAGE_KEY = 'qly.wall';
/** The drag payload of a camera (device list and map). */
export const DRAG_TYPE = 'application/x-qly-device';

interface Tile {
  el: HTMLElement;
  device: string | undefined;
  client: StreamClient | undefined;
}

export interface WallHooks {
  device(key: string): DeviceView | undefined;
  snapshot(key: string): Promise<void>;
  command(key: string, action: string, params: Record<string, unknown>): Promise<unknown>;
  role: Role;
}

export class VideoWall {
  private layout: Layout = 4;
  private tiles: Tile[] = [];
  /** What each of the 16 positions shows, also those hidden by a smaller layout. */
  private slots: Array<string | undefined> = new Array(16).fill(undefined);
  private focused = 0;
  private readonly grid: HTMLElement;
  private readonly toolbar: HTMLElement;
  private readonly enlarged: HTMLElement;
  private big: { client: StreamClient; ptz: PtzControls | undefined; device: string } | undefined;

  constructor(
    private readonly root: HTMLElement,
    private readonly hooks: WallHooks,
  ) {
    root.classList.add('wall');
    root.innerHTML = `
      <div class="wall-bar">
        <strong data-i18n="videoWall"></strong>
        <span class="wall-layouts">${LAYOUTS.map((n) => `<button data-layout="${n}" title="${n}">${layoutGlyph(n)}</button>`).join('')}</span>
        <span class="spacer"></span>
        <button class="link" data-role="clear-wall" data-i18n="clearWall"></button>
      </div>
      <div class="wall-grid" data-role="grid"></div>
      <div class="wall-big" data-role="big" hidden></div>`;
    this.grid = root.querySelector('[data-role=grid]') as HTMLElement;
    this.toolbar = root.querySelector('.wall-bar') as HTMLElement;
    this.enlarged = root.querySelector('[data-role=big]') as HTMLElement;
    this.toolbar.addEventListener('click', (ev) => {
      const b = (ev.target as HTMLElement).closest<HTMLElement>('[data-layout]');
      if (b) this.setLayout(Number(b.dataset.layout) as Layout);
      if ((ev.target as HTMLElement).closest('[data-role=clear-wall]'))
        for (let i = 0; i < this.tiles.length; i++) this.assign(i, undefined);
    });
    const saved = this.load();
    this.slots = Array.from({ length: 16 }, (_, i) => saved.devices[i] ?? undefined);
    this.setLayout(saved.layout);
    this.relabel();
  }

  /** Puts a camera on the wall: in the focused tile if empty, else the first empty one, else the focused one. */
  show(key: string): void {
    const existing = this.tiles.findIndex((tile) => tile.device === key);
    if (existing >= 0) {
      this.focus(existing);
      return;
    }
    const target =
      this.tiles[this.focused]?.device === undefined
        ? this.focused
        : this.tiles.findIndex((tile) => !tile.device);
    this.assign(target >= 0 ? target : this.focused, key);
  }

  /** Which tile is under a point (for drops from the map). */
  tileAt(x: number, y: number): number {
    const el = document.elementFromPoint(x, y)?.closest<HTMLElement>('[data-tile]');
    return el ? Number(el.dataset.tile) : -1;
  }

  assign(index: number, key: string | undefined): void {
    const tile = this.tiles[index];
    if (!tile) return;
    tile.client?.dispose();
    tile.client = undefined;
    tile.device = key;
    this.slots[index] = key;
    this.renderTile(index);
    if (key) {
      const body = tile.el.querySelector('.tile-body') as HTMLElement;
      const client = new StreamClient(body, key, 'sub', preferredFormat(), (s) => this.showStatus(tile, s));
      tile.client = client;
      client.start();
    }
    this.focus(index);
    this.save();
  }

  /** What each tile is doing (tests and the benchmark read this). */
  status(): Array<{
    tile: number;
    device: string;
    state: StreamState;
    format: string;
    frames: number;
    latencies: number[];
    firstFrameMs?: number;
  }> {
    const out = this.tiles.flatMap((tile, i) =>
      tile.client && tile.device ? [{ tile: i, device: tile.device, ...tile.client.status }] : [],
    );
    if (this.big) out.push({ tile: -1, device: this.big.device, ...this.big.client.status });
    return out;
  }

  /** Names and state labels after a language switch or a device update. */
  relabel(): void {
    for (const el of this.root.querySelectorAll<HTMLElement>('[data-i18n]'))
      el.textContent = t(el.dataset.i18n as never);
    for (let i = 0; i < this.tiles.length; i++) this.updateLabel(i);
  }

  deviceChanged(d: DeviceView): void {
    this.tiles.forEach((tile, i) => {
      if (tile.device === d.key) this.updateLabel(i);
    });
  }

  dispose(): void {
    this.closeBig();
    for (const tile of this.tiles) tile.client?.dispose();
    this.tiles = [];
  }

  setLayout(layout: Layout): void {
    const keep = this.slots.slice();
    for (const tile of this.tiles) tile.client?.dispose();
    this.layout = layout;
    this.grid.className = `wall-grid wall-${layout}`;
    this.grid.innerHTML = '';
    this.tiles = [];
    for (let i = 0; i < layout; i++) {
      const el = document.createElement('div');
      el.className = 'tile';
      el.dataset.tile = String(i);
      this.grid.append(el);
      this.tiles.push({ el, device: undefined, client: undefined });
      this.wireTile(i);
      this.renderTile(i);
    }
    for (const b of this.toolbar.querySelectorAll<HTMLElement>('[data-layout]'))
      b.classList.toggle('active', Number(b.dataset.layout) === layout);
    keep.slice(0, layout).forEach((key, i) => {
      if (key) this.assign(i, key);
    });
    this.focus(Math.min(this.focused, layout - 1));
    this.save();
  }

  private wireTile(index: number): void {
    const el = (this.tiles[index] as Tile).el;
    el.addEventListener('click', (ev) => {
      this.focus(index);
      const action = (ev.target as HTMLElement).closest<HTMLElement>('[data-action]')?.dataset.action;
      const key = this.tiles[index]?.device;
      if (!action || !key) return;
      if (action === 'close') this.assign(index, undefined);
      if (action === 'snapshot') void this.hooks.snapshot(key);
      if (action === 'enlarge') this.openBig(key);
    });
    el.addEventListener('dblclick', () => {
      const key = this.tiles[index]?.device;
      if (key) this.openBig(key);
    });
    el.addEventListener('dragover', (ev) => {
      if (ev.dataTransfer?.types.includes(DRAG_TYPE)) {
        ev.preventDefault();
        el.classList.add('drop');
      }
    });
    el.addEventListener('dragleave', () => el.classList.remove('drop'));
    el.addEventListener('drop', (ev) => {
      el.classList.remove('drop');
      const key = ev.dataTransfer?.getData(DRAG_TYPE);
      if (!key) return;
      ev.preventDefault();
      this.assign(index, key);
    });
  }

  private renderTile(index: number): void {
    const tile = this.tiles[index] as Tile;
    if (!tile.device) {
      tile.el.dataset.state = 'empty';
      tile.el.innerHTML = `<div class="tile-empty">${t('dropCameraHere')}</div>`;
      return;
    }
    tile.el.dataset.state = 'connecting';
    tile.el.innerHTML = `
      <div class="tile-body"></div>
      <div class="tile-bar">
        <span class="tile-name" data-role="name"></span>
        <span class="tile-state" data-role="state"></span>
        <button class="icon" data-action="snapshot" title="${t('snapshot')}">⤓</button>
        <button class="icon" data-action="enlarge" title="${t('enlarge')}">⤢</button>
        <button class="icon" data-action="close" title="${t('close')}">✕</button>
      </div>
      <div class="tile-overlay" data-role="overlay"></div>`;
    this.updateLabel(index);
  }

  private updateLabel(index: number): void {
    const tile = this.tiles[index];
    if (!tile?.device) return;
    const d = this.hooks.device(tile.device);
    const name = tile.el.querySelector('[data-role=name]');
    if (name) name.textContent = d?.name ?? tile.device;
    if (tile.client) this.showStatus(tile, tile.client.status);
  }

  private showStatus(tile: Tile, s: StreamStatus): void {
    tile.el.dataset.state = s.state;
    const state = tile.el.querySelector('[data-role=state]');
    if (state) state.textContent = t(`stream_${s.state}` as never);
    const overlay = tile.el.querySelector<HTMLElement>('[data-role=overlay]');
    if (overlay) {
      overlay.hidden = s.state === 'live';
      overlay.innerHTML =
        s.state === 'live'
          ? ''
          : `<span>${escapeHtml(t(`stream_${s.state}` as never))}</span>${s.reason ? `<small>${escapeHtml(s.reason)}</small>` : ''}`;
    }
  }

  private focus(index: number): void {
    this.focused = index;
    this.tiles.forEach((tile, i) => {
      tile.el.classList.toggle('focused', i === index);
    });
  }

  private openBig(key: string): void {
    this.closeBig();
    const d = this.hooks.device(key);
    this.enlarged.hidden = false;
    this.enlarged.innerHTML = `
      <div class="big-head">
        <strong>${escapeHtml(d?.name ?? key)}</strong>
        <span class="tile-state" data-role="state"></span>
        <span class="spacer"></span>
        <button class="icon" data-action="snapshot" title="${t('snapshot')}">⤓</button>
        <button class="icon" data-action="close-big" title="${t('close')}">✕</button>
      </div>
      <div class="big-main">
        <div class="big-video" data-state="connecting"><div class="tile-body"></div><div class="tile-overlay" data-role="overlay"></div></div>
        <div class="big-ptz" data-role="ptz"></div>
      </div>`;
    const videoEl = this.enlarged.querySelector('.big-video') as HTMLElement;
    const stateEl = this.enlarged.querySelector('[data-role=state]') as HTMLElement;
    const overlay = this.enlarged.querySelector('[data-role=overlay]') as HTMLElement;
    const client = new StreamClient(
      videoEl.querySelector('.tile-body') as HTMLElement,
      key,
      'main',
      preferredFormat(),
      (s) => {
        videoEl.dataset.state = s.state;
        stateEl.textContent = t(`stream_${s.state}` as never);
        overlay.hidden = s.state === 'live';
        overlay.innerHTML =
          s.state === 'live'
            ? ''
            : `<span>${escapeHtml(t(`stream_${s.state}` as never))}</span>${s.reason ? `<small>${escapeHtml(s.reason)}</small>` : ''}`;
      },
    );
    client.start();
    const ptzEl = this.enlarged.querySelector('[data-role=ptz]') as HTMLElement;
    const ptz = d?.capabilities.includes('cmd.ptz.move')
      ? new PtzControls(ptzEl, key, this.hooks.role, (action, params) =>
          this.hooks.command(key, action, params),
        )
      : undefined;
    if (!ptz) ptzEl.hidden = true;
    this.big = { client, ptz, device: key };
    this.enlarged.onclick = (ev) => {
      const action = (ev.target as HTMLElement).closest<HTMLElement>('[data-action]')?.dataset.action;
      if (action === 'close-big') this.closeBig();
      if (action === 'snapshot') void this.hooks.snapshot(key);
    };
  }

  private closeBig(): void {
    this.big?.client.dispose();
    this.big?.ptz?.dispose();
    this.big = undefined;
    this.enlarged.hidden = true;
    this.enlarged.innerHTML = '';
  }

  private save(): void {
    localStorage.setItem(
      STORAGE_KEY,
      JSON.stringify({ layout: this.layout, devices: this.slots.map((key) => key ?? null) }),
    );
  }

  private load(): { layout: Layout; devices: Array<string | null> } {
    try {
      const v = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? '') as {
        layout: Layout;
        devices: Array<string | null>;
      };
      if (LAYOUTS.includes(v.layout) && Array.isArray(v.devices))
        return {
          layout: v.layout,
          devices: v.devices.slice(0, 16).map((d) => (typeof d === 'string' ? d : null)),
        };
    } catch {
      /* nothing saved */
    }
    return { layout: 4, devices: [] };
  }
}

function layoutGlyph(n: Layout): string {
  return { 1: '▣', 4: '⊞', 9: '▦', 16: '▩' }[n];
}
