/**
 * Where a relay's media comes from; everything downstream is the same either way.
 *  - PushSource (the usual case: the village is behind NAT): the hub names a session and sends
 *    `stream.start` to the gateway; the gateway connects to the hub and pushes fMP4 (video-service
 *    accepts the connection and feeds the relay). Stopping closes the session (close code 4404 tells
 *    the gateway not to reconnect) and sends `stream.stop`.
 *  - PullSource (a camera the hub can reach, `video.pull`): the hub's own ffmpeg reads the RTSP and
 *    remuxes it (`-c copy`) to the same fMP4.
 */
import { randomBytes } from 'node:crypto';
import { FMP4_REMUX_OUTPUT, rtspInputArgs, type StreamName } from '@qianliyan/protocols';
import { FfmpegProcess } from './ffmpeg-process.ts';
import type { Relay, RelaySource } from './relay.ts';

export function newSessionId(): string {
  return randomBytes(18).toString('base64url');
}

export class PullSource implements RelaySource {
  readonly kind = 'pull';
  private process: FfmpegProcess | undefined;
  private attempts = 0;

  constructor(
    private readonly url: string,
    private readonly ffmpeg: string,
    private readonly startTimeoutMs: number,
  ) {}

  get pid(): number | undefined {
    return this.process?.pid;
  }

  async start(relay: Relay): Promise<void> {
    this.attempts += 1;
    // A camera whose SDP does not describe the stream needs a longer probe; retries use one.
    const probe = this.attempts > 1 ? 1_000_000 : 2048;
    const proc = new FfmpegProcess(
      this.ffmpeg,
      [
        '-hide_banner',
        '-loglevel',
        'error',
        '-nostdin',
        ...rtspInputArgs(this.url, probe),
        ...FMP4_REMUX_OUTPUT,
      ],
      'ignore',
    );
    this.process = proc;
    await new Promise<void>((resolve, reject) => {
      let started = false;
      const timer = setTimeout(() => {
        if (started) return;
        reject(new Error(`no video from the camera within ${this.startTimeoutMs} ms`));
        void proc.stop();
      }, this.startTimeoutMs);
      proc.child.stdout?.on('data', (chunk: Buffer) => {
        if (!started) {
          started = true;
          this.attempts = 0;
          clearTimeout(timer);
          resolve();
        }
        relay.feed(chunk);
      });
      void proc.exited.then(({ code, signal }) => {
        clearTimeout(timer);
        const reason = `the camera stream ended (${proc.lastError || code || signal})`;
        if (!started) reject(new Error(reason));
        else if (this.process === proc) relay.sourceEnded(reason);
      });
    });
  }

  async stop(): Promise<void> {
    const proc = this.process;
    this.process = undefined;
    await proc?.stop();
  }
}

/** What a push source needs from the video service. */
export interface PushChannel {
  /** Expects the gateway's connection for `session` and feeds it to `relay`. */
  open(session: string, relay: Relay): void;
  /** Forgets the session and closes its connection, telling the gateway it is over. */
  close(session: string): void;
  /** Sends a hub-internal command to the stream's device and waits for its result. */
  command(action: 'stream.start' | 'stream.stop', params: Record<string, unknown>): Promise<void>;
}

export class PushSource implements RelaySource {
  readonly kind = 'push';
  private session: string | undefined;

  constructor(
    private readonly channel: PushChannel,
    private readonly stream: StreamName,
  ) {}

  get sessionId(): string | undefined {
    return this.session;
  }

  async start(relay: Relay): Promise<void> {
    // One session at a time: a start while one is still open (the relay's watchdog firing while an
    // earlier restart's timer is pending starts it twice) would otherwise forget it, and the
    // gateway would push into it, unseen, long after the relay had stopped.
    const previous = this.session;
    if (previous) {
      this.channel.close(previous);
      void this.channel.command('stream.stop', { session: previous }).catch(() => undefined);
    }
    const session = newSessionId();
    this.session = session;
    this.channel.open(session, relay);
    try {
      // The gateway answers once its media is flowing to us.
      await this.channel.command('stream.start', { stream: this.stream, session });
    } catch (err) {
      if (this.session === session) {
        this.channel.close(session);
        this.session = undefined;
      }
      throw err;
    }
  }

  async stop(): Promise<void> {
    const session = this.session;
    if (!session) return;
    this.session = undefined;
    this.channel.close(session);
    await this.channel.command('stream.stop', { session }).catch(() => undefined);
  }
}
