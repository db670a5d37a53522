/**
 * H.264 in fragmented MP4 into Media Source Extensions, kept close to live: appends are queued
 * (a SourceBuffer takes one at a time), the playhead jumps to the live edge when it falls more than
 * `maxLagS` behind, and the buffer is trimmed behind the playhead. A new init segment (the source
 * restarted) rebuilds the pipeline, since its timestamps start over.
 */
export class MsePlayer {
  readonly video: HTMLVideoElement;
  private mediaSource: MediaSource | undefined;
  private buffer: SourceBuffer | undefined;
  private queue: ArrayBuffer[] = [];
  private mime = '';
  private objectUrl = '';
  private lastTrim = 0;
  frames = 0;
  private frameCallback: ((now: number, meta: VideoFrameCallbackMetadata) => void) | undefined;
  onFrame: ((video: HTMLVideoElement) => void) | undefined;
  /** The first media in the buffer, the element playing (the benchmark's first-frame breakdown). */
  onStep: ((step: 'buffered' | 'playing') => void) | undefined;

  constructor(
    container: HTMLElement,
    private readonly maxLagS = 0.6,
  ) {
    this.video = document.createElement('video');
    this.video.muted = true;
    this.video.autoplay = true;
    this.video.playsInline = true;
    container.append(this.video);
    this.video.addEventListener('playing', () => this.onStep?.('playing'));
    this.watchFrames();
  }

  static supports(mime = 'video/mp4; codecs="avc1.42E01E"'): boolean {
    return typeof MediaSource !== 'undefined' && MediaSource.isTypeSupported(mime);
  }

  /** An init message: (re)builds the MediaSource for this codec. */
  init(mime: string): void {
    this.mime = MediaSource.isTypeSupported(mime) ? mime : 'video/mp4; codecs="avc1.42E01E"';
    this.reset();
    const ms = new MediaSource();
    this.mediaSource = ms;
    this.objectUrl = URL.createObjectURL(ms);
    this.video.src = this.objectUrl;
    ms.addEventListener(
      'sourceopen',
      () => {
        if (this.mediaSource !== ms) return;
        ms.duration = Number.POSITIVE_INFINITY;
        const sb = ms.addSourceBuffer(this.mime);
        sb.mode = 'segments';
        sb.addEventListener('updateend', () => {
          if (sb.buffered.length > 0) this.onStep?.('buffered');
          this.pump();
        });
        this.buffer = sb;
        this.pump();
      },
      { once: true },
    );
  }

  append(data: ArrayBuffer): void {
    if (!this.mediaSource) return;
    // A player that cannot keep up drops what it cannot append rather than growing without bound.
    if (this.queue.length > 120) this.queue = [];
    this.queue.push(data);
    this.pump();
  }

  dispose(): void {
    this.reset();
    if (this.frameCallback) this.frameCallback = undefined;
    this.video.remove();
  }

  private reset(): void {
    this.queue = [];
    this.buffer = undefined;
    if (this.mediaSource?.readyState === 'open') {
      try {
        this.mediaSource.endOfStream();
      } catch {
        /* already ending */
      }
    }
    this.mediaSource = undefined;
    if (this.objectUrl) URL.revokeObjectURL(this.objectUrl);
    this.objectUrl = '';
    this.video.removeAttribute('src');
  }

  private pump(): void {
    const sb = this.buffer;
    if (!sb || sb.updating || this.queue.length === 0) return;
    const v = this.video;
    const now = performance.now();
    if (sb.buffered.length > 0 && now - this.lastTrim > 5000 && v.currentTime > 15) {
      this.lastTrim = now;
      try {
        sb.remove(0, v.currentTime - 10);
        return; // updateend resumes the queue
      } catch {
        /* nothing to trim */
      }
    }
    const next = this.queue.shift() as ArrayBuffer;
    try {
      sb.appendBuffer(next);
    } catch (err) {
      // QuotaExceeded or a decode error: start over at the next init.
      console.warn('video append failed', err);
      this.queue = [];
    }
    this.keepLive();
  }

  private keepLive(): void {
    const v = this.video;
    const ranges = v.buffered;
    if (ranges.length === 0) return;
    const end = ranges.end(ranges.length - 1);
    if (v.currentTime < ranges.start(ranges.length - 1) || end - v.currentTime > this.maxLagS)
      v.currentTime = Math.max(0, end - 0.05);
    if (v.paused) void v.play().catch(() => undefined);
  }

  private watchFrames(): void {
    const v = this.video as HTMLVideoElement & {
      requestVideoFrameCallback?: (cb: (now: number, meta: VideoFrameCallbackMetadata) => void) => number;
    };
    if (!v.requestVideoFrameCallback) return;
    const cb = () => {
      this.frames += 1;
      this.onFrame?.(this.video);
      if (this.frameCallback) v.requestVideoFrameCallback?.(this.frameCallback);
    };
    this.frameCallback = cb;
    v.requestVideoFrameCallback(cb);
  }
}
