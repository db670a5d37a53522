/**
 * One camera stream on the hub, shared by all its viewers: started by the first viewer, stopped
 * `idleStopMs` after the last one leaves.
 *
 * Its source (a gateway's push or the hub's own RTSP pull, see sources.ts) delivers fragmented MP4.
 * The relay keeps the init segment and the fragments since the last keyframe, so a viewer joining
 * a running stream starts decoding at once, and hands every fragment to:
 *  - `mse` viewers as is (no transcoding: H.264, or H.265 to a browser that plays it, into Media
 *    Source Extensions), through one MseFanout;
 *  - for an H.265 camera, one H.264 transcoder (h264-transcode.ts, started while `mse` viewers whose
 *    browser cannot play H.265 exist, within the hub's `video.maxTranscodes`), whose output goes to
 *    those viewers only;
 *  - one MPEG-1 transcoder (ffmpeg, started while `jsmpeg` viewers exist) whose MPEG-TS output goes
 *    to every `jsmpeg` viewer, in whole 188-byte packets.
 *
 * States, sent to every viewer: connecting → live; live → stalled after `stallMs` without media;
 * the watchdog restarts the source after `watchdogMs` without media (with backoff), and a source
 * that cannot start makes the stream offline until the next attempt. A viewer that cannot keep up
 * loses fragments up to the next keyframe instead of growing the hub's memory.
 */
import type { StreamName, StreamState, VideoFormat, VideoServerMessage } from '@qianliyan/protocols';
import type { FastifyBaseLogger } from 'fastify';
import { FfmpegProcess } from './ffmpeg-process.ts';
import { type Fmp4Error, Fmp4Reader, type Fragment, type InitSegment } from './fmp4.ts';
import { H264Transcode } from './h264-transcode.ts';
import { MseFanout } from './mse-fanout.ts';
import type { Viewer } from './viewer.ts';

export type { Viewer } from './viewer.ts';

export interface RelaySource {
  /** `peer`: relayed from the hub of the cluster that streams the camera (cluster-source.ts). */
  readonly kind: 'push' | 'pull' | 'peer';
  /** Starts delivering media to `relay.feed()`; rejects with a reason the viewers see. */
  start(relay: Relay): Promise<void>;
  stop(): Promise<void>;
}

export interface RelayOptions {
  ffmpeg: string;
  stallMs: number;
  watchdogMs: number;
  idleStopMs: number;
  jsmpegKbps: number;
  /** Per-viewer queue bound; beyond it the viewer skips to the next keyframe. */
  maxViewerBufferBytes: number;
  /** First retry after bad media (doubling to BAD_MEDIA_MAX_BACKOFF_MS). */
  badMediaBackoffMs: number;
  /** The hub-wide budget of H.264 transcoders (H.265 cameras to browsers without H.265). */
  transcodes: TranscodeBudget;
}

export interface TranscodeBudget {
  /** Takes a slot; false when the hub runs as many as it may. */
  acquire(relay: string): boolean;
  release(relay: string): void;
}

/**
 * Where a viewer's media comes from: the camera's own stream, its H.264 transcode, the MPEG-1
 * transcode; `waiting` until the stream's codec is known; `refused` when it needs a transcode the
 * hub has no room for.
 */
type Route = 'direct' | 'h264' | 'jsmpeg' | 'waiting' | 'refused';

export const TRANSCODE_LIMIT_REASON = 'transcode_limit';
const ROUTE_RETRY_MS = 10_000;
const TS_PACKET = 188;
const BAD_MEDIA_MAX_BACKOFF_MS = 600_000;
/** Backoff returns to its start only after media has flowed this long without a fault. */
const STABLE_MS = 60_000;

export class Relay {
  private readonly viewers = new Map<Viewer, Route>();
  private reader: Fmp4Reader | undefined;
  private init: InitSegment | undefined;
  private readonly direct: MseFanout;
  private h264: H264Transcode | undefined;
  private transcoder: FfmpegProcess | undefined;
  private tsRemainder = Buffer.alloc(0);
  private transcoderRestarts = 0;
  private checkTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private backoffMs = 1000;
  /** Bad media arrived: nothing more is read from this source until it is started again. */
  private discarding = false;
  /** Bad media arrived while the source was still starting: restart once it has. */
  private faultWhileStarting: string | undefined;
  /** The source sent bad media, and has not played cleanly for STABLE_MS since. */
  private faulted = false;
  /** Since when media has flowed without a fault (0: not since the last fault). */
  private healthySince = 0;
  private starting = false;
  private stopped = false;
  private lastDataAt = 0;
  private lastRouteRetry = 0;
  state: StreamState = 'connecting';
  reason: string | undefined;
  readonly startedAt = Date.now();
  private readonly counters = {
    bytesIn: 0,
    fragments: 0,
    keyframes: 0,
    restarts: 0,
    skipped: 0,
    badMedia: 0,
  };

  constructor(
    readonly device: string,
    readonly stream: StreamName,
    private readonly source: RelaySource,
    private readonly options: RelayOptions,
    private readonly log: FastifyBaseLogger,
    private readonly onIdle: (relay: Relay) => void,
  ) {
    this.direct = new MseFanout(options.maxViewerBufferBytes);
  }

  /** Counters for ops and tests; `skipped`: fragments slow viewers skipped, on every path. */
  get stats(): Record<string, number | string> {
    return {
      ...this.counters,
      skipped: this.counters.skipped + this.direct.skipped + (this.h264?.fanout.skipped ?? 0),
      ...(this.init ? { codec: this.init.codec } : {}),
      transcodedViewers: this.h264?.fanout.size ?? 0,
    };
  }

  get key(): string {
    return `${this.device}/${this.stream}`;
  }

  get viewerCount(): number {
    return this.viewers.size;
  }

  /** Media held: an unfinished box and the keyframe cache (what a gateway's push costs in memory). */
  get bufferedBytes(): number {
    return (this.reader?.bufferedBytes ?? 0) + this.direct.bufferedBytes;
  }

  get sourceKind(): 'push' | 'pull' | 'peer' {
    return this.source.kind;
  }

  /** PIDs of this relay's hub-side ffmpeg children (the transcoder; a pull source reports its own). */
  get transcoderPid(): number | undefined {
    return this.transcoder?.pid;
  }

  /** The H.264 transcoder's PID, while viewers without H.265 watch an H.265 camera. */
  get h264TranscoderPid(): number | undefined {
    return this.h264?.pid;
  }

  /** The stream's codec, once its init segment arrived. */
  get codec(): InitSegment['codec'] | undefined {
    return this.init?.codec;
  }

  start(): void {
    this.checkTimer = setInterval(() => this.check(), 500);
    void this.startSource();
  }

  addViewer(viewer: Viewer): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    this.viewers.set(viewer, viewer.format === 'jsmpeg' ? 'jsmpeg' : 'waiting');
    this.sendState(viewer);
    if (viewer.format === 'jsmpeg') this.ensureTranscoder();
    else if (this.init) this.route(viewer);
  }

  removeViewer(viewer: Viewer): void {
    const route = this.viewers.get(viewer);
    if (!this.viewers.delete(viewer)) return;
    if (route === 'direct') this.direct.remove(viewer);
    if (route === 'h264') {
      this.h264?.fanout.remove(viewer);
      this.dropH264IfUnwatched();
    }
    if (![...this.viewers.values()].includes('jsmpeg')) void this.stopTranscoder();
    if (this.viewers.size === 0 && !this.stopped) {
      this.idleTimer = setTimeout(() => this.onIdle(this), this.options.idleStopMs);
    }
  }

  /** Media from the source; a new source connection starts a new reader (it begins with ftyp/moov). */
  feed(chunk: Buffer): void {
    if (this.stopped || this.discarding) return;
    this.counters.bytesIn += chunk.length;
    if (!this.reader)
      this.reader = new Fmp4Reader(
        (init) => this.onInit(init),
        (f) => this.onFragment(f),
      );
    try {
      this.reader.push(chunk);
    } catch (err) {
      this.counters.badMedia += 1;
      this.reader = undefined;
      this.faulted = true;
      this.healthySince = 0;
      // Not video: a broken or hostile source. Retrying at once would only have it send again
      // (and, for a push, spend another round trip to the gateway): wait long, and longer each time.
      this.backoffMs = Math.min(
        BAD_MEDIA_MAX_BACKOFF_MS,
        Math.max(this.options.badMediaBackoffMs, this.backoffMs * 2),
      );
      this.log.warn(
        { err: (err as Fmp4Error).message, relay: this.key, retryInMs: this.backoffMs },
        'bad media from the source; stopping it',
      );
      this.discarding = true;
      const reason = 'the camera sent something that is not video';
      if (this.starting) this.faultWhileStarting = reason;
      else void this.restartSource(reason, 'offline');
    }
  }

  /** The source connection ended (uplink dropped, ffmpeg exited); the next one starts a new reader. */
  sourceEnded(reason: string): void {
    this.reader = undefined;
    this.log.info({ relay: this.key, reason }, 'stream source ended');
  }

  /** The source is gone for good (not a reconnect of the same one): start it again now. */
  sourceLost(reason: string): void {
    this.reader = undefined;
    this.lastDataAt = Date.now();
    void this.restartSource(reason);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.checkTimer);
    clearTimeout(this.idleTimer);
    clearTimeout(this.retryTimer);
    for (const v of this.viewers.keys()) v.close(1001, 'stream stopped');
    this.viewers.clear();
    await Promise.allSettled([this.source.stop(), this.stopTranscoder(), this.stopH264()]);
  }

  /**
   * Sends an `mse` viewer the camera's stream when its browser plays the codec, else the H.264
   * transcode — started for it if the hub's budget allows, refused (and told why) if not.
   */
  private route(viewer: Viewer): void {
    const current = this.viewers.get(viewer);
    if (current === undefined || current === 'jsmpeg' || !this.init) return;
    const wanted: Route = this.init.codec === 'h265' && !viewer.hevc ? 'h264' : 'direct';
    if (wanted === current) return;
    if (current === 'direct') this.direct.remove(viewer);
    if (current === 'h264') this.h264?.fanout.remove(viewer);
    if (wanted === 'h264' && !this.ensureH264()) {
      this.viewers.set(viewer, 'refused');
      viewer.send(
        JSON.stringify({
          type: 'state',
          state: 'offline',
          reason: TRANSCODE_LIMIT_REASON,
        } satisfies VideoServerMessage),
      );
      return;
    }
    this.viewers.set(viewer, wanted);
    if (wanted === 'direct') this.direct.add(viewer);
    else this.h264?.fanout.add(viewer);
    if (current === 'refused') this.sendState(viewer);
    this.dropH264IfUnwatched();
  }

  private ensureH264(): boolean {
    if (this.h264) return true;
    if (!this.options.transcodes.acquire(this.key)) return false;
    this.h264 = new H264Transcode(
      this.options.ffmpeg,
      this.options.maxViewerBufferBytes,
      this.log,
      this.key,
      () => this.direct.replay(),
    );
    this.h264.start();
    return true;
  }

  private dropH264IfUnwatched(): void {
    if (this.h264 && this.h264.fanout.size === 0) void this.stopH264();
  }

  private async stopH264(): Promise<void> {
    const t = this.h264;
    if (!t) return;
    this.h264 = undefined;
    this.options.transcodes.release(this.key);
    await t.stop();
  }

  private async startSource(): Promise<void> {
    if (this.stopped || this.starting) return;
    this.starting = true;
    this.setState('connecting');
    this.reader = undefined;
    this.discarding = false;
    this.faultWhileStarting = undefined;
    this.lastDataAt = Date.now();
    try {
      await this.source.start(this);
    } catch (err) {
      this.starting = false;
      if (this.stopped) return;
      const reason = (err as Error).message.slice(0, 200);
      this.log.warn({ relay: this.key, reason, retryInMs: this.backoffMs }, 'stream could not start');
      this.setState('offline', reason);
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => void this.startSource(), this.backoffMs);
      this.growBackoff();
      return;
    }
    this.starting = false;
    const fault = this.faultWhileStarting;
    this.faultWhileStarting = undefined;
    if (fault) void this.restartSource(fault, 'offline');
  }

  private async restartSource(reason: string, state: 'stalled' | 'offline' = 'stalled'): Promise<void> {
    if (this.stopped || this.starting) return;
    this.counters.restarts += 1;
    const delay = this.backoffMs;
    this.log.warn({ relay: this.key, reason, retryInMs: delay }, 'restarting the stream source');
    this.setState(state, reason);
    this.starting = true;
    await this.source.stop().catch(() => undefined);
    this.starting = false;
    // One pending start at most: a watchdog firing while an earlier restart waits must not start
    // the source twice (the first push session would leak, its gateway pushing into nothing).
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => void this.startSource(), delay);
    this.growBackoff();
  }

  private growBackoff(): void {
    this.backoffMs = Math.min(this.faulted ? BAD_MEDIA_MAX_BACKOFF_MS : 60_000, this.backoffMs * 2);
  }

  private check(): void {
    if (this.stopped) return;
    // Viewers refused a transcoder try again now and then: another stream may have freed a slot.
    if (Date.now() - this.lastRouteRetry >= ROUTE_RETRY_MS) {
      this.lastRouteRetry = Date.now();
      for (const [viewer, route] of this.viewers) if (route === 'refused') this.route(viewer);
    }
    if (this.starting || this.state === 'offline') return;
    const silent = Date.now() - this.lastDataAt;
    if (this.state === 'live' && silent > this.options.stallMs)
      this.setState('stalled', 'no video from the camera');
    if (silent > this.options.watchdogMs) {
      this.lastDataAt = Date.now();
      void this.restartSource(`no video for ${Math.round(silent / 1000)} s`);
    }
  }

  private onInit(init: InitSegment): void {
    this.init = init;
    this.direct.setInit(init);
    // The codec may have changed (a camera reconfigured): each MSE viewer goes where it can play.
    for (const viewer of [...this.viewers.keys()]) this.route(viewer);
    if (this.h264) void this.h264.restart();
    // A new stream (new source connection): the transcoder starts over with it.
    if (this.transcoder) void this.stopTranscoder().then(() => this.ensureTranscoder());
    else this.ensureTranscoder();
  }

  private onFragment(fragment: Fragment): void {
    this.lastDataAt = Date.now();
    this.counters.fragments += 1;
    if (fragment.keyframe) this.counters.keyframes += 1;
    // A keyframe ends a stall's backoff; after bad media one good keyframe proves nothing (a
    // hostile source sends one, then garbage): only a minute of clean media does.
    const now = this.lastDataAt;
    if (this.healthySince === 0) this.healthySince = now;
    if (!this.faulted && fragment.keyframe) this.backoffMs = 1000;
    else if (this.faulted && now - this.healthySince >= STABLE_MS) {
      this.faulted = false;
      this.backoffMs = 1000;
    }
    if (this.state !== 'live') this.setState('live');
    this.direct.push(fragment);
    this.h264?.write(fragment.data);
    const stdin = this.transcoder?.child.stdin;
    if (stdin && !stdin.destroyed) {
      // A transcoder that cannot keep up is restarted rather than fed without bound.
      if (stdin.writableLength > this.options.maxViewerBufferBytes)
        void this.stopTranscoder().then(() => this.ensureTranscoder());
      else stdin.write(fragment.data);
    }
  }

  private setState(state: StreamState, reason?: string): void {
    if (this.state === state && this.reason === reason) return;
    this.state = state;
    this.reason = reason;
    for (const [v, route] of this.viewers) if (route !== 'refused') this.sendState(v);
  }

  private sendState(viewer: Viewer): void {
    const message: VideoServerMessage = {
      type: 'state',
      state: this.state,
      ...(this.reason && this.state !== 'live' ? { reason: this.reason } : {}),
    };
    viewer.send(JSON.stringify(message));
  }

  /** MPEG-1 for JSMpeg: fMP4 in on stdin (init + the current GOP first), MPEG-TS out. */
  private ensureTranscoder(): void {
    if (this.transcoder || this.stopped || !this.init) return;
    if (![...this.viewers.values()].includes('jsmpeg')) return;
    const t = new FfmpegProcess(
      this.options.ffmpeg,
      [
        '-hide_banner',
        '-loglevel',
        'error',
        '-probesize',
        '32',
        '-analyzeduration',
        '1',
        '-fflags',
        'nobuffer',
        '-f',
        'mp4',
        '-i',
        'pipe:0',
        '-an',
        '-vf',
        "scale='min(1280,iw)':-2",
        '-c:v',
        'mpeg1video',
        // MPEG-1 knows only a few frame rates; cameras send 12.5, 15, 20… unchanged.
        '-strict',
        'unofficial',
        '-b:v',
        `${this.options.jsmpegKbps}k`,
        '-bf',
        '0',
        '-g',
        '10',
        '-muxdelay',
        '0',
        '-muxpreload',
        '0',
        '-flush_packets',
        '1',
        '-f',
        'mpegts',
        'pipe:1',
      ],
      'pipe',
    );
    this.transcoder = t;
    this.tsRemainder = Buffer.alloc(0);
    t.child.stdout?.on('data', (chunk: Buffer) => this.onTranscoded(chunk));
    void t.exited.then(({ code, signal }) => {
      if (this.transcoder !== t) return;
      this.transcoder = undefined;
      if (this.stopped || ![...this.viewers.values()].includes('jsmpeg')) return;
      this.transcoderRestarts += 1;
      this.log.warn({ relay: this.key, code, signal, err: t.lastError }, 'transcoder exited; restarting it');
      setTimeout(
        () => this.ensureTranscoder(),
        Math.min(10_000, 250 * 2 ** Math.min(this.transcoderRestarts, 6)),
      );
    });
    for (const data of this.direct.replay()) t.child.stdin?.write(data);
  }

  private async stopTranscoder(): Promise<void> {
    const t = this.transcoder;
    this.transcoder = undefined;
    await t?.stop();
  }

  private onTranscoded(chunk: Buffer): void {
    // Whole TS packets only, so a viewer never receives half a packet.
    const data = this.tsRemainder.length ? Buffer.concat([this.tsRemainder, chunk]) : chunk;
    const whole = data.length - (data.length % TS_PACKET);
    this.tsRemainder = Buffer.from(data.subarray(whole));
    if (whole === 0) return;
    const packets = data.subarray(0, whole);
    for (const [viewer, route] of this.viewers) {
      if (route !== 'jsmpeg') continue;
      if (viewer.buffered() > this.options.maxViewerBufferBytes) {
        this.counters.skipped += 1;
        continue;
      }
      viewer.send(packets);
    }
  }
}
