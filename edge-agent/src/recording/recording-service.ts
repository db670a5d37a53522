/**
 * Continuous recording on the gateway: one CameraRecorder per camera that has an RTSP stream, one
 * SegmentStore (the ring buffer) for all of them. It tells the hub what it holds through the
 * retained `…/dev/{device}/recordings` index (compact: time ranges, not segments), reports the disk
 * and every recorder in the heartbeat, and raises `recording_stopped` on a camera whose recorder has
 * stopped (cleared, `state: 'end'`, when it records again). Everything it sends goes through the
 * outbox, so it keeps recording, and its reports wait, while the uplink is down.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  type GatewayRecording,
  MAX_CLIP_MS,
  RECORDING_STOPPED_EVENT,
  type RecordingClipParams,
  type RecordingIndex,
  type Severity,
  type StreamName,
} from '@qianliyan/protocols';
import type { Logger } from 'pino';
import { CommandFailure } from '../adapters/types.ts';
import type { RecordingConfig } from '../config.ts';
import type { HubLink } from '../video/hub-link.ts';
import type { RtspSource } from '../video/video-actions.ts';
import { ffmpegInput } from '../video/video-actions.ts';
import { CameraRecorder } from './camera-recorder.ts';
import { cutClip } from './clip-export.ts';
import { SegmentStore } from './segment-store.ts';

export interface RecordableCamera {
  device: string;
  source(stream: StreamName): Promise<RtspSource>;
}

export interface RecordingOutputs {
  /** Queues the camera's retained index (replacing its unsent predecessor). */
  index(device: string, index: Omit<RecordingIndex, 'seq' | 'epoch'>): void;
  event(device: string, type: string, severity: Severity, data: Record<string, unknown>): void;
}

export class RecordingService {
  readonly store: SegmentStore;
  private readonly recorders = new Map<string, CameraRecorder>();
  private readonly lastIndexAt = new Map<string, number>();
  /** Ranges and deletions at the last index sent: a change sends the index at once. */
  private readonly shape = new Map<string, string>();
  private readonly alarmed = new Set<string>();
  private indexTimer: NodeJS.Timeout | undefined;
  /** Clips are cut and uploaded one at a time: the uplink and the CPU are shared with live video. */
  private clipQueue: Promise<unknown> = Promise.resolve();
  private clipsWaiting = 0;

  constructor(
    private readonly config: RecordingConfig & { path: string },
    private readonly outputs: RecordingOutputs,
    private readonly log: Logger,
  ) {
    mkdirSync(config.path, { recursive: true });
    // Clips a previous run was cutting when it stopped.
    rmSync(join(config.path, '.clips'), { recursive: true, force: true });
    this.store = new SegmentStore(config.path, {
      maxBytesPerCamera: config.maxBytesPerCamera,
      maxBytesTotal: config.maxBytesTotal,
      minFreeBytes: config.minFreeBytes,
    });
  }

  /** Starts a recorder for each camera the config does not leave out. */
  start(cameras: RecordableCamera[]): void {
    for (const camera of cameras) {
      const own = this.config.cameras[camera.device];
      if (own?.enabled === false) continue;
      const stream = own?.stream ?? this.config.stream;
      this.store.open(camera.device);
      const log = this.log.child({ device: camera.device, stream });
      const recorder = new CameraRecorder(
        camera.device,
        stream,
        async () => ffmpegInput(await camera.source(stream), log),
        this.store,
        {
          segmentSeconds: this.config.segmentSeconds,
          stallMs: this.config.stallSeconds * 1000,
          restartMinMs: 1000,
          restartMaxMs: 30_000,
        },
        log,
        {
          segment: () => this.onSegment(camera.device),
          stateChanged: (state, reason) => this.onState(camera.device, state, reason),
        },
      );
      this.recorders.set(camera.device, recorder);
      recorder.start();
    }
    if (this.store.lostOnStart > 0)
      this.log.warn({ lost: this.store.lostOnStart }, 'partial segments of the previous run deleted');
    // What the gateway holds now, before anything new is recorded (the index rebuilt from the disk).
    for (const device of this.recorders.keys()) this.publishIndex(device);
    this.indexTimer = setInterval(() => {
      const now = Date.now();
      for (const device of this.recorders.keys())
        if (now - (this.lastIndexAt.get(device) ?? 0) >= this.config.indexIntervalMs)
          this.publishIndex(device);
    }, 1000);
    this.log.info(
      { cameras: this.recorders.size, path: this.config.path, lostOnStart: this.store.lostOnStart },
      'recording started',
    );
  }

  /**
   * `recording.clip`: cuts [from, to] of a camera into an MP4 and uploads it, paced, to the hub.
   * Queued behind any clip in progress (at most 8 waiting).
   */
  clip(params: RecordingClipParams, hub: HubLink | undefined): Promise<Record<string, unknown>> {
    if (!hub) throw new CommandFailure('EDGE_ERR_NO_HUB_URL', 'this gateway has no video.hubUrl configured');
    const { device, from, to, upload } = params;
    if (!this.recorders.has(device))
      throw new CommandFailure('EDGE_ERR_NOT_RECORDED', `camera ${device} is not recorded on this gateway`);
    if (to <= from || to - from > MAX_CLIP_MS)
      throw new CommandFailure('EDGE_ERR_BAD_PARAMS', `a clip lasts between 0 and ${MAX_CLIP_MS / 1000} s`);
    if (this.clipsWaiting >= 8) throw new CommandFailure('EDGE_ERR_BUSY', 'too many clips waiting');
    this.clipsWaiting += 1;
    const job = this.clipQueue.then(async () => {
      try {
        return await this.cutAndUpload(device, from, to, upload, hub);
      } finally {
        this.clipsWaiting -= 1;
      }
    });
    this.clipQueue = job.catch(() => undefined);
    return job;
  }

  private async cutAndUpload(
    device: string,
    from: number,
    to: number,
    upload: string,
    hub: HubLink,
  ): Promise<Record<string, unknown>> {
    const segments = this.store.covering(device, from, to);
    if (segments.length === 0)
      throw new CommandFailure(
        'EDGE_ERR_NO_RECORDING',
        `no recording of ${device} between ${from} and ${to}`,
      );
    const work = join(this.config.path, '.clips', `${Date.now()}-${randomBytes(6).toString('hex')}`);
    const clip = await cutClip(segments, from, to, work).catch((err: Error) => {
      throw new CommandFailure('EDGE_ERR_CLIP_FAILED', err.message);
    });
    try {
      const started = Date.now();
      await hub.uploadRecording(upload, clip.file, this.config.clipBytesPerSecond).catch((err: Error) => {
        throw new CommandFailure('EDGE_ERR_UPLOAD_FAILED', err.message);
      });
      this.log.info(
        { device, from: clip.start, to: clip.end, segments: clip.segments, ms: Date.now() - started },
        'clip uploaded',
      );
      return { device, from: clip.start, to: clip.end, coveredMs: clip.coveredMs, segments: clip.segments };
    } finally {
      clip.remove();
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.indexTimer);
    await Promise.allSettled([...this.recorders.values()].map((r) => r.stop()));
    for (const device of this.recorders.keys()) this.publishIndex(device);
  }

  get cameras(): string[] {
    return [...this.recorders.keys()];
  }

  recorder(device: string): CameraRecorder | undefined {
    return this.recorders.get(device);
  }

  /** The heartbeat's `recording` block. */
  health(): GatewayRecording {
    return {
      freeBytes: Math.max(0, Math.floor(this.store.free)),
      usedBytes: this.store.totalBytes,
      cameras: [...this.recorders.values()].slice(0, 512).map((r) => {
        const stats = this.store.stats(r.device);
        return {
          device: r.device,
          stream: r.stream,
          state: r.state,
          ...(r.reason && r.state !== 'recording' ? { reason: r.reason } : {}),
          ...(r.lastSegmentAt !== undefined ? { lastSegmentAt: r.lastSegmentAt } : {}),
          bytes: stats.bytes,
          deleted: stats.deleted,
        };
      }),
    };
  }

  /** A new segment: the index goes out at once when a range opened or the ring buffer deleted. */
  private onSegment(device: string): void {
    const ranges = this.store.ranges(device).length;
    const deleted = this.store.stats(device).deleted;
    const key = `${ranges}/${deleted}`;
    if (this.shape.get(device) !== key) this.publishIndex(device);
    this.shape.set(device, key);
  }

  private onState(device: string, state: string, reason: string | undefined): void {
    const recorder = this.recorders.get(device);
    if (!recorder) return;
    if (state === 'stopped' && !this.alarmed.has(device)) {
      this.alarmed.add(device);
      this.log.error({ device, reason }, 'camera recording stopped');
      this.outputs.event(device, RECORDING_STOPPED_EVENT, 'alarm', {
        stream: recorder.stream,
        ...(reason ? { reason } : {}),
      });
    } else if (state === 'recording' && this.alarmed.delete(device)) {
      this.log.info({ device }, 'camera recording again');
      this.outputs.event(device, RECORDING_STOPPED_EVENT, 'alarm', { stream: recorder.stream, state: 'end' });
    }
    this.publishIndex(device);
  }

  private publishIndex(device: string): void {
    const recorder = this.recorders.get(device);
    if (!recorder) return;
    const stats = this.store.stats(device);
    this.lastIndexAt.set(device, Date.now());
    this.outputs.index(device, {
      ts: Date.now(),
      stream: recorder.stream,
      state: recorder.state,
      ranges: this.store.ranges(device),
      segments: stats.segments,
      bytes: stats.bytes,
      deleted: stats.deleted,
    });
  }
}
