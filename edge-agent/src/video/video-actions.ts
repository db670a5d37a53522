/**
 * `stream.start`, `stream.stop` and `camera.snapshot` for any adapter whose device has RTSP video
 * (ONVIF cameras, drones with a camera): push sessions keyed by the hub's session id, a bounded
 * number per device, and snapshots from the camera's own snapshot URI or, failing that, one frame
 * grabbed from the stream.
 */
import { spawn } from 'node:child_process';
import { MAX_SNAPSHOT_BYTES, type StreamName } from '@qianliyan/protocols';
import type { Logger } from 'pino';
import { type ActionTable, CommandFailure } from '../adapters/types.ts';
import { ffmpegPath } from './ffmpeg.ts';
import type { HubLink } from './hub-link.ts';
import { StreamPusher, stopChild } from './stream-pusher.ts';

export interface VideoSource {
  /** The RTSP URL of a stream, with credentials: it never leaves the gateway. */
  rtspUrl(stream: StreamName): Promise<string>;
  /** A JPEG from the camera's snapshot URI, or undefined when it has none. */
  snapshot?(stream: StreamName): Promise<Buffer | undefined>;
}

const MAX_SESSIONS_PER_DEVICE = 4;

export class VideoSessions {
  private readonly pushers = new Map<string, StreamPusher>();

  constructor(
    private readonly source: VideoSource,
    private readonly hub: HubLink | undefined,
    private readonly log: Logger,
  ) {}

  get active(): number {
    for (const [session, pusher] of this.pushers) if (!pusher.active) this.pushers.delete(session);
    return this.pushers.size;
  }

  /** The ffmpeg processes currently pushing (tests check none is left behind). */
  get ffmpegPids(): number[] {
    return [...this.pushers.values()]
      .map((p) => p.ffmpegPid)
      .filter((pid): pid is number => pid !== undefined);
  }

  readonly actions: ActionTable = {
    'stream.start': async (params) => {
      const hub = this.requireHub();
      const session = params.session as string;
      const stream = params.stream as StreamName;
      if (this.pushers.get(session)?.active) return { session, already: true };
      if (this.active >= MAX_SESSIONS_PER_DEVICE)
        throw new CommandFailure(
          'EDGE_ERR_BUSY',
          `already pushing ${MAX_SESSIONS_PER_DEVICE} streams from this device`,
        );
      const pusher = new StreamPusher(
        async () => ({ url: await this.source.rtspUrl(stream) }),
        hub.streamTarget(session),
        this.log.child({ session, stream }),
      );
      this.pushers.set(session, pusher);
      try {
        await pusher.start();
      } catch (err) {
        this.pushers.delete(session);
        throw new CommandFailure('EDGE_ERR_STREAM_FAILED', (err as Error).message);
      }
      return { session, stream };
    },
    'stream.stop': async (params) => {
      const session = params.session as string;
      const pusher = this.pushers.get(session);
      this.pushers.delete(session);
      await pusher?.stop();
      return { session, stopped: !!pusher };
    },
    'camera.snapshot': async (params) => {
      const hub = this.requireHub();
      const stream = (params.stream as StreamName | undefined) ?? 'main';
      let jpeg: Buffer | undefined;
      let from = 'snapshot-uri';
      try {
        jpeg = await this.source.snapshot?.(stream);
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'snapshot URI failed; grabbing a frame instead');
      }
      if (!jpeg) {
        from = 'frame-grab';
        jpeg = await grabFrame(await this.source.rtspUrl(stream));
      }
      await hub.uploadSnapshot(params.upload as string, jpeg);
      return { bytes: jpeg.length, from };
    },
  };

  async stopAll(): Promise<void> {
    await Promise.allSettled([...this.pushers.values()].map((p) => p.stop()));
    this.pushers.clear();
  }

  private requireHub(): HubLink {
    if (!this.hub)
      throw new CommandFailure('EDGE_ERR_NO_HUB_URL', 'this gateway has no video.hubUrl configured');
    return this.hub;
  }
}

/** One JPEG decoded from the stream's next keyframe (the fallback when a camera has no snapshot URI). */
export async function grabFrame(rtspUrl: string, timeoutMs = 10_000): Promise<Buffer> {
  const child = spawn(
    ffmpegPath(),
    [
      '-hide_banner',
      '-loglevel',
      'error',
      '-nostdin',
      '-rtsp_transport',
      'tcp',
      '-i',
      rtspUrl,
      '-frames:v',
      '1',
      '-f',
      'image2pipe',
      '-c:v',
      'mjpeg',
      '-q:v',
      '4',
      'pipe:1',
    ],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  );
  const chunks: Buffer[] = [];
  let size = 0;
  const timer = setTimeout(() => void stopChild(child), timeoutMs);
  child.stdout.on('data', (c: Buffer) => {
    size += c.length;
    if (size > MAX_SNAPSHOT_BYTES) void stopChild(child);
    else chunks.push(c);
  });
  const code = await new Promise<number | null>((resolve) => {
    child.on('error', () => resolve(-1));
    child.on('exit', (c) => resolve(c));
  });
  clearTimeout(timer);
  if (code !== 0 || size === 0 || size > MAX_SNAPSHOT_BYTES)
    throw new CommandFailure('EDGE_ERR_SNAPSHOT_FAILED', 'could not grab a frame from the stream');
  return Buffer.concat(chunks);
}
