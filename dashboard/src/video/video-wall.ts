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
  /** Whether the wall is on screen: a hidden wall plays nothing (the villages' uplinks are thin). */
  private active = true;
  /** Where focus was before the large view opened (it returns there on close). */
  private returnFocus: HTMLElement | null = null;

  constructor(
    private readonly root: HTMLElement,
    private readonly hooks: WallHooks,
  ) {
    root.classList.add('wall');
    root.innerHTML = `
      <div class="wall-bar">
        <strong data-i18n="videoWall"></strong>
        <span class="wall-layouts">${LAYOUTS.map((n) => `<button type="button" data-layout="${n}">${layoutGlyph(n)}</button>`).join('')}</span>
        <span class="spacer"></span>
        <button type="button" class="link" data-role="clear-wall" data-i18n="clearWall"></button>
      </div>
      <div class="wall-grid" data-role="grid"></div>
      <div class="wall-big" data-role="big" hidden></div>`;
    this.grid = root.querySelector('[data-role=grid]') as HTMLElement;
    this.toolbar = root.querySelector('.wall-bar') as HTMLElement;
    this.enlarged = root.querySelector('[data-role=big]') as HTMLElement;
    this.toolbar.addEventListener('click', (ev) => {
      const b = (ev.target as HTMLElement).closest<HTMLElement>('.wall-layouts [data-layout]');
      if (b) this.setLayout(Number(b.dataset.layout) as Layout);
      if ((ev.target as HTMLElement).closest('[data-role=clear-wall]'))
        for (let i = 0; i < this.tiles.length; i++) this.assign(i, undefined);
    });
    // Escape closes the large view wherever focus is inside it.
    this.enlarged.addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape') {
        ev.preventDefault();
        this.closeBig();
      }
    });
    const saved = this.load();
    this.slots = Array.from({ length: 16 }, (_, i) => saved.devices[i] ?? undefined);
    this.setLayout(saved.layout);
    this.relabel();
  }

  /**
   * Shown or hidden with its view. Hidden, every stream stops (the tiles keep their cameras); shown
   * again, they start again.
   */
  setActive(active: boolean): void {
    if (active === this.active) return;
    this.active = active;
    if (!active) {
      this.closeBig();
      for (const tile of this.tiles) {
        tile.client?.dispose();
        tile.client = undefined;
      }
      return;
    }
    this.tiles.forEach((tile, i) => {
      if (tile.device && !tile.client) this.assign(i, tile.device);
    });
  }

  /** Focuses the wall's current tile (a skip link lands here). */
  focusTile(): boolean {
    const tile = this.tiles[this.focused] ?? this.tiles[0];
    tile?.el.focus();
    return tile !== undefined;
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
    if (key && this.active) {
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
    for (const b of this.toolbar.querySelectorAll<HTMLElement>('[data-layout]')) {
      const n = b.dataset.layout as string;
      b.title = t('wallLayout', { n });
      b.setAttribute('aria-label', t('wallLayout', { n }));
    }
    for (let i = 0; i < this.tiles.length; i++) {
      const tile = this.tiles[i] as Tile;
      if (!tile.device) this.renderTile(i);
      else this.relabelTile(i);
    }
    if (this.big) this.relabelBig();
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
      el.setAttribute('role', 'group');
      this.grid.append(el);
      this.tiles.push({ el, device: undefined, client: undefined });
      this.wireTile(i);
      this.renderTile(i);
    }
    for (const b of this.toolbar.querySelectorAll<HTMLElement>('[data-layout]')) {
      b.classList.toggle('active', Number(b.dataset.layout) === layout);
      b.setAttribute('aria-pressed', String(Number(b.dataset.layout) === layout));
    }
    keep.slice(0, layout).forEach((key, i) => {
      if (key) this.assign(i, key);
    });
    this.focus(Math.min(this.focused, layout - 1));
    this.save();
  }

  private wireTile(index: number): void {
    const el = (this.tiles[index] as Tile).el;
    // A tile is one tab stop: Enter opens its large view, Delete takes the camera off the wall.
    el.tabIndex = 0;
    el.addEventListener('keydown', (ev) => {
      if (ev.target !== el) return;
      const key = this.tiles[index]?.device;
      if (ev.key === 'Enter' && key) {
        ev.preventDefault();
        this.openBig(key);
      } else if (ev.key === 'Delete' && key) {
        ev.preventDefault();
        this.assign(index, undefined);
      }
    });
    el.addEventListener('focus', () => this.focus(index));
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
      tile.el.setAttribute('aria-label', t('emptyTile', { n: index + 1 }));
      return;
    }
    tile.el.dataset.state = 'connecting';
    tile.el.innerHTML = `
      <div class="tile-body"></div>
      <div class="tile-bar">
        <span class="tile-name" data-role="name"></span>
        <span class="tile-state" data-role="state"></span>
        <button type="button" class="icon" data-action="snapshot">⤓</button>
        <button type="button" class="icon" data-action="enlarge">⤢</button>
        <button type="button" class="icon" data-action="close">✕</button>
      </div>
      <div class="tile-overlay" data-role="overlay"></div>`;
    this.relabelTile(index);
  }

  /** A camera tile's words: its buttons' names, its state, its label for screen readers. */
  private relabelTile(index: number): void {
    const tile = this.tiles[index] as Tile;
    for (const [action, key] of [
      ['snapshot', 'snapshot'],
      ['enlarge', 'enlarge'],
      ['close', 'removeFromWall'],
    ] as const) {
      const b = tile.el.querySelector<HTMLElement>(`[data-action=${action}]`);
      if (b) {
        b.title = t(key);
        b.setAttribute('aria-label', t(key));
      }
    }
    this.updateLabel(index);
  }

  private updateLabel(index: number): void {
    const tile = this.tiles[index];
    if (!tile?.device) return;
    const d = this.hooks.device(tile.device);
    const name = tile.el.querySelector('[data-role=name]');
    if (name) name.textContent = d?.name ?? tile.device;
    tile.el.setAttribute('aria-label', t('cameraTile', { n: index + 1, name: d?.name ?? tile.device }));
    if (tile.client) this.showStatus(tile, tile.client.status);
  }

  private showStatus(tile: Tile, s: StreamStatus): void {
    tile.el.dataset.state = s.state;
    const state = tile.el.querySelector('[data-role=state]');
    if (state) state.textContent = streamStateText(s);
    const overlay = tile.el.querySelector<HTMLElement>('[data-role=overlay]');
    if (overlay) {
      overlay.hidden = s.state === 'live';
      overlay.innerHTML = s.state === 'live' ? '' : streamOverlay(s);
    }
  }

  private focus(index: number): void {
    this.focused = index;
    this.tiles.forEach((tile, i) => {
      tile.el.classList.toggle('focused', i === index);
    });
  }

  /** Opens a camera in the large view (its main stream, with PTZ): from a tile, or the device list. */
  openBig(key: string): void {
    const from = document.activeElement as HTMLElement | null;
    this.closeBig();
    this.returnFocus = from && !this.enlarged.contains(from) ? from : null;
    const d = this.hooks.device(key);
    this.enlarged.hidden = false;
    this.enlarged.setAttribute('role', 'dialog');
    this.enlarged.setAttribute('aria-label', d?.name ?? key);
    this.enlarged.innerHTML = `
      <div class="big-head">
        <strong>${escapeHtml(d?.name ?? key)}</strong>
        <span class="tile-state" data-role="state"></span>
        <span class="spacer"></span>
        <button type="button" class="icon" data-action="snapshot">⤓</button>
        <button type="button" class="icon" data-action="close-big">✕</button>
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
        stateEl.textContent = streamStateText(s);
        overlay.hidden = s.state === 'live';
        overlay.innerHTML = s.state === 'live' ? '' : streamOverlay(s);
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
    this.relabelBig();
    // Keyboard: the joystick takes focus (arrows, +/−, Esc); without PTZ the close button does.
    (ptz ? ptz.focusTarget : this.enlarged.querySelector<HTMLElement>('[data-action=close-big]'))?.focus();
    this.enlarged.onclick = (ev) => {
      const action = (ev.target as HTMLElement).closest<HTMLElement>('[data-action]')?.dataset.action;
      if (action === 'close-big') this.closeBig();
      if (action === 'snapshot') void this.hooks.snapshot(key);
    };
  }

  private relabelBig(): void {
    for (const [action, key] of [
      ['snapshot', 'snapshot'],
      ['close-big', 'closeLarge'],
    ] as const) {
      const b = this.enlarged.querySelector<HTMLElement>(`[data-action=${action}]`);
      if (b) {
        b.title = t(key);
        b.setAttribute('aria-label', t(key));
      }
    }
    this.big?.ptz?.relabel();
  }

  private closeBig(): void {
    const wasOpen = this.big !== undefined;
    this.big?.client.dispose();
    this.big?.ptz?.dispose();
    this.big = undefined;
    this.enlarged.hidden = true;
    this.enlarged.innerHTML = '';
    if (wasOpen && this.returnFocus?.isConnected) this.returnFocus.focus();
    this.returnFocus = null;
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

/** A stream's state in words, saying when the hub re-encodes an H.265 camera for this browser. */
function streamStateText(s: StreamStatus): string {
  const state = t(`stream_${s.state}` as never);
  return s.transcoded && s.state === 'live' ? `${state} · ${t('transcodedH265')}` : state;
}

/** What a tile shows over a picture that is not live: the state and why, in the user's words. */
function streamOverlay(s: StreamStatus): string {
  const reason = s.reason ? streamReason(s.reason) : '';
  return `<span>${escapeHtml(t(`stream_${s.state}` as never))}</span>${reason ? `<small>${escapeHtml(reason)}</small>` : ''}`;
}

/** The hub's reason codes in the user's language; other reasons (the camera's words) as they are. */
function streamReason(reason: string): string {
  return reason === 'transcode_limit' ? t('streamTranscodeLimit') : reason;
}
