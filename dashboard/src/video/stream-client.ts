/**
 * One camera stream in one tile: asks the hub for a stream token, opens the video socket, and feeds
 * the player for its format (MSE when the browser can play H.264, else JSMpeg). State messages from
 * the hub (connecting / live / stalled / offline) come through; the tile is live only once a frame
 * has been decoded. A closed socket is reopened with backoff (and a fresh token) until disposed.
 */
import {
  readTimestampCode,
  type StreamName,
  type StreamState,
  type VideoFormat,
  type VideoServerMessage,
  type VideoTokenResponse,
} from '@qianliyan/protocols';
import { post } from '../api.ts';
import { JsmpegPlayer } from './jsmpeg-player.ts';
import { MsePlayer } from './mse-player.ts';

export interface StreamStatus {
  state: StreamState;
  reason?: string;
  format: VideoFormat;
  frames: number;
  /** Glass-to-glass latency samples (ms), when measuring. */
  latencies: number[];
  /** ms from start() to the first decoded frame. */
  firstFrameMs?: number;
  /**
   * ms from start() to each step of the first connection (the benchmark's breakdown of the first
   * frame): the token granted, the video socket open, the init segment, the first media fragment.
   */
  steps: {
    token?: number;
    open?: number;
    init?: number;
    media?: number;
    buffered?: number;
    playing?: number;
  };
  /** The camera sends H.265, which this browser cannot play: the hub re-encodes it to H.264. */
  transcoded?: boolean;
}

/** Set by tests and the benchmark: read the burnt-in timestamp code of every decoded frame. */
export const measurement = { enabled: false };

/** Whether this browser plays H.265 in MSE (then an H.265 camera reaches it untouched). */
export function playsHevc(): boolean {
  return MsePlayer.supports('video/mp4; codecs="hvc1.1.6.L93.B0"');
}

export function preferredFormat(): VideoFormat {
  const forced = new URLSearchParams(location.search).get('video');
  if (forced === 'jsmpeg' || forced === 'mse') return forced;
  return MsePlayer.supports() ? 'mse' : 'jsmpeg';
}

export class StreamClient {
  private ws: WebSocket | undefined;
  private player: MsePlayer | JsmpegPlayer | undefined;
  private disposed = false;
  private retryTimer: number | undefined;
  private backoffMs = 1000;
  private startedAt = 0;
  private serverState: StreamState = 'connecting';
  private readonly probe = document.createElement('canvas');
  readonly status: StreamStatus;

  constructor(
    private readonly container: HTMLElement,
    readonly device: string,
    readonly stream: StreamName,
    readonly format: VideoFormat,
    private readonly onStatus: (s: StreamStatus) => void,
  ) {
    this.status = { state: 'connecting', format, frames: 0, latencies: [], steps: {} };
  }

  start(): void {
    this.startedAt = performance.now();
    void this.open();
  }

  dispose(): void {
    this.disposed = true;
    window.clearTimeout(this.retryTimer);
    this.ws?.close(1000);
    this.player?.dispose();
    this.player = undefined;
  }

  private async open(): Promise<void> {
    if (this.disposed) return;
    let grant: VideoTokenResponse;
    try {
      grant = await post('/api/video/tokens', { body: { device: this.device, stream: this.stream } });
    } catch (err) {
      this.set('offline', (err as Error).message);
      return this.retry();
    }
    if (this.disposed) return;
    this.step('token');
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${grant.path}?token=${encodeURIComponent(grant.token)}&format=${this.format}${this.format === 'mse' ? `&hevc=${playsHevc() ? 1 : 0}` : ''}&device=${encodeURIComponent(this.device)}`;
    const ws = new WebSocket(url);
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    this.ensurePlayer();
    ws.onopen = () => this.step('open');
    ws.onmessage = (ev) => {
      if (typeof ev.data === 'string') return this.onControl(ev.data);
      this.step('media');
      if (this.player instanceof MsePlayer) this.player.append(ev.data as ArrayBuffer);
      else this.player?.write(ev.data as ArrayBuffer);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws || this.disposed) return;
      this.ws = undefined;
      this.set('offline', ev.reason || undefined);
      this.retry();
    };
  }

  private retry(): void {
    if (this.disposed) return;
    window.clearTimeout(this.retryTimer);
    this.retryTimer = window.setTimeout(() => void this.open(), this.backoffMs);
    this.backoffMs = Math.min(10_000, this.backoffMs * 2);
  }

  private ensurePlayer(): void {
    if (this.player) return;
    const onFrame = (source: HTMLVideoElement | HTMLCanvasElement) => {
      this.status.frames += 1;
      if (this.status.firstFrameMs === undefined)
        this.status.firstFrameMs = Math.round(performance.now() - this.startedAt);
      this.backoffMs = 1000;
      if (measurement.enabled) this.measure(source);
      if (this.status.state !== 'live' && this.serverState === 'live') this.set('live');
      else if (this.status.frames === 1) this.set(this.serverState === 'live' ? 'live' : this.status.state);
    };
    if (this.format === 'mse') {
      const p = new MsePlayer(this.container);
      p.onFrame = onFrame;
      p.onStep = (step) => this.step(step);
      this.player = p;
    } else {
      const p = new JsmpegPlayer(this.container);
      p.onFrame = onFrame;
      this.player = p;
    }
  }

  private onControl(text: string): void {
    let msg: VideoServerMessage;
    try {
      msg = JSON.parse(text) as VideoServerMessage;
    } catch {
      return;
    }
    if (msg.type === 'init') {
      this.step('init');
      if (this.player instanceof MsePlayer) this.player.init(msg.mime);
      if (msg.transcoded) this.status.transcoded = true;
      else delete this.status.transcoded;
      return;
    }
    this.serverState = msg.state;
    // "Live" is shown once a frame is on screen, not when the hub has data.
    if (msg.state === 'live' && this.status.frames === 0) this.set('connecting');
    else this.set(msg.state, msg.reason);
  }

  /** Records when a step of the first connection happened (later reconnects keep the first). */
  private step(name: keyof StreamStatus['steps']): void {
    this.status.steps[name] ??= Math.round(performance.now() - this.startedAt);
  }

  private set(state: StreamState, reason?: string): void {
    this.status.state = state;
    if (reason) this.status.reason = reason;
    else delete this.status.reason;
    this.onStatus(this.status);
  }

  /** Reads the frame's burnt-in capture time and records how long ago that was. */
  private measure(source: HTMLVideoElement | HTMLCanvasElement): void {
    const width = source instanceof HTMLVideoElement ? source.videoWidth : source.width;
    if (!width) return;
    const cell = width / 40;
    const w = Math.ceil(20 * cell);
    const h = Math.ceil(2 * cell);
    this.probe.width = w;
    this.probe.height = h;
    const ctx = this.probe.getContext('2d', { willReadFrequently: true });
    if (!ctx) return;
    ctx.drawImage(source, 0, 0, w, h, 0, 0, w, h);
    const pixels = ctx.getImageData(0, 0, w, h).data;
    const luma = (x: number, y: number) => {
      const i = (y * w + x) * 4;
      return 0.299 * (pixels[i] ?? 0) + 0.587 * (pixels[i + 1] ?? 0) + 0.114 * (pixels[i + 2] ?? 0);
    };
    const now = Date.now();
    const ts = readTimestampCode(luma, width, now);
    if (ts === undefined) return;
    this.status.latencies.push(now - ts);
    if (this.status.latencies.length > 600) this.status.latencies.shift();
  }
}
