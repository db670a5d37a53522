/**
 * fMP4 to Media Source Extensions viewers: the fan-out keeps the init segment and the fragments
 * since the last keyframe, so a viewer who joins a running stream starts decoding at once; each
 * viewer is sent fragments from a keyframe on, and one that cannot keep up skips to the next
 * keyframe instead of growing the hub's memory. The relay has one for the camera's own stream and
 * one for its H.264 transcode (an H.265 camera watched by a browser that cannot play H.265).
 */
import type { VideoServerMessage } from '@qianliyan/protocols';
import type { Fragment, InitSegment } from './fmp4.ts';
import type { Viewer } from './viewer.ts';

const MAX_GOP_BYTES = 8 * 1024 * 1024;

interface MseViewerState {
  needKey: boolean;
  initSent: boolean;
}

export class MseFanout {
  private readonly viewers = new Map<Viewer, MseViewerState>();
  private init: InitSegment | undefined;
  private gop: Fragment[] = [];
  private gopBytes = 0;
  /** Fragments a slow viewer skipped. */
  skipped = 0;

  constructor(
    private readonly maxViewerBufferBytes: number,
    /** What the init message adds for these viewers (e.g. that the picture is transcoded). */
    private readonly initExtras: Partial<Extract<VideoServerMessage, { type: 'init' }>> = {},
  ) {}

  get size(): number {
    return this.viewers.size;
  }

  /** The keyframe cache: what this fan-out holds in memory. */
  get bufferedBytes(): number {
    return this.gopBytes;
  }

  get initSegment(): InitSegment | undefined {
    return this.init;
  }

  /** The init segment and the fragments since the last keyframe (to start a decoder mid-stream). */
  *replay(): Generator<Buffer> {
    if (!this.init) return;
    yield this.init.data;
    for (const f of this.gop) yield f.data;
  }

  add(viewer: Viewer): void {
    const state: MseViewerState = { needKey: true, initSent: false };
    this.viewers.set(viewer, state);
    if (!this.init) return;
    this.sendInit(viewer, state);
    // Everything since the last keyframe: the picture appears at once.
    for (const f of this.gop) this.sendFragment(viewer, state, f);
  }

  remove(viewer: Viewer): boolean {
    return this.viewers.delete(viewer);
  }

  has(viewer: Viewer): boolean {
    return this.viewers.has(viewer);
  }

  /** A new stream (a new source connection or a restarted encoder) starts with its init segment. */
  setInit(init: InitSegment): void {
    this.init = init;
    this.gop = [];
    this.gopBytes = 0;
    for (const [viewer, state] of this.viewers) this.sendInit(viewer, state);
  }

  push(fragment: Fragment): void {
    if (fragment.keyframe) {
      this.gop = [];
      this.gopBytes = 0;
    }
    if (this.gopBytes + fragment.data.length <= MAX_GOP_BYTES) {
      this.gop.push(fragment);
      this.gopBytes += fragment.data.length;
    }
    for (const [viewer, state] of this.viewers) this.sendFragment(viewer, state, fragment);
  }

  private sendInit(viewer: Viewer, state: MseViewerState): void {
    const init = this.init as InitSegment;
    const message: VideoServerMessage = {
      type: 'init',
      mime: init.mime,
      ...(init.width ? { width: init.width } : {}),
      ...(init.height ? { height: init.height } : {}),
      ...this.initExtras,
    };
    viewer.send(JSON.stringify(message));
    viewer.send(init.data);
    state.initSent = true;
    state.needKey = true;
  }

  private sendFragment(viewer: Viewer, state: MseViewerState, fragment: Fragment): void {
    if (!state.initSent) return;
    if (state.needKey && !fragment.keyframe) return;
    if (viewer.buffered() > this.maxViewerBufferBytes) {
      this.skipped += 1;
      state.needKey = true;
      return;
    }
    state.needKey = false;
    viewer.send(fragment.data);
  }
}
