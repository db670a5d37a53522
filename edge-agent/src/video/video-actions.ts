/**
 * `stream.start`, `stream.stop` and `camera.snapshot` for any adapter whose device has RTSP video
 * (ONVIF cameras, drones with a camera): push sessions keyed by the hub's session id, a bounded
 * number per device, and snapshots from the camera's own snapshot URI or, failing that, one frame
 * grabbed from the stream. ffmpeg never gets a password: a stream with credentials is opened
 * through the agent's RTSP relay, one relay session (one token) per ffmpeg.
 */
import { spawn } from 'node:child_process';
import { MAX_SNAPSHOT_BYTES, type StreamName } from '@qianliyan/protocols';
import type { Logger } from 'pino';
import { type ActionTable, CommandFailure } from '../adapters/types.ts';
import { ffmpegPath } from './ffmpeg.ts';
import type { HubLink } from './hub-link.ts';
import { RtspAuthRelay } from './rtsp-relay.ts';
import { type PushInput, StreamPusher, stopChild } from './stream-pusher.ts';

/** A stream's RTSP address (no credentials in it) and the credentials it takes. */
export interface RtspSource {
  url: string;
  username?: string;
  password?: string;
}

export interface VideoSource {
  /**
   * A stream's address and credentials. They never leave the gateway and never reach a command
   * line: with credentials, ffmpeg opens the agent's RTSP relay (rtsp-relay.ts), which adds them.
   */
  rtspSource(stream: StreamName): Promise<RtspSource>;
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

  /** When any active push last carried media (ms epoch; 0: none has). */
  get lastMediaAt(): number {
    let last = 0;
    for (const pusher of this.pushers.values()) if (pusher.active) last = Math.max(last, pusher.lastMediaAt);
    return last;
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
      // A stream the gateway will not open (a refused address) fails here, with its own reason,
      // not after a pusher's retries.
      await this.source.rtspSource(stream);
      let target: ReturnType<HubLink['streamTarget']>;
      try {
        target = hub.streamTarget(session, params.hub as string | undefined);
      } catch (err) {
        throw new CommandFailure('EDGE_ERR_STREAM_FAILED', (err as Error).message);
      }
      const pusher = new StreamPusher(() => this.input(stream), target, this.log.child({ session, stream }));
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
        const input = await this.input(stream);
        try {
          jpeg = await grabFrame(input.url);
        } finally {
          input.release?.();
        }
      }
      await hub.uploadSnapshot(params.upload as string, jpeg);
      return { bytes: jpeg.length, from };
    },
  };

  /** What ffmpeg opens for `stream`: the camera itself, or a relay session that adds the credentials. */
  private async input(stream: StreamName): Promise<PushInput> {
    return ffmpegInput(await this.source.rtspSource(stream), this.log);
  }

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

/**
 * What one ffmpeg opens for a source: the camera itself, or (with credentials) a one-use session on
 * the agent's RTSP relay, which adds them; `release` ends that session.
 */
export async function ffmpegInput(source: RtspSource, log: Logger): Promise<PushInput> {
  if (!source.username) return { url: source.url };
  const relayed = await RtspAuthRelay.shared(log).open(
    { url: source.url, username: source.username, password: source.password ?? '' },
    log,
  );
  return { url: relayed.url, release: relayed.close };
}

/** One JPEG decoded from the stream's next keyframe (the fallback when a camera has no snapshot URI). */
export async function grabFrame(rtspUrl: string, timeoutMs = 10_000): Promise<Buffer> {
  // The URL carries no password (see VideoSessions.input): it is on ffmpeg's command line.
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
