/**
 * H.265 to H.264 for the viewers whose browser cannot play H.265 (`MediaSource.isTypeSupported`
 * says no to `hvc1`, as Chromium without a hardware decoder does): one libx264 encoder per stream,
 * started with the first such viewer and stopped with the last, fed the camera's fMP4 from its last
 * keyframe on. Its output is fMP4 again and reaches those viewers only through their own fan-out;
 * viewers whose browser plays H.265 keep the camera's stream untouched.
 *
 * An encoder costs a good part of a core, so the hub runs at most `video.maxTranscodes` of them
 * (the relay asks the budget before starting one; a viewer refused one sees why on its tile). An
 * encoder that cannot keep up or dies is restarted with backoff rather than fed without bound.
 */
import { fmp4Fragments } from '@qianliyan/protocols';
import type { FastifyBaseLogger } from 'fastify';
import { FfmpegProcess } from './ffmpeg-process.ts';
import { Fmp4Reader } from './fmp4.ts';
import { MseFanout } from './mse-fanout.ts';

export class H264Transcode {
  readonly fanout: MseFanout;
  private process: FfmpegProcess | undefined;
  private restarts = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly ffmpeg: string,
    private readonly maxBufferBytes: number,
    private readonly log: FastifyBaseLogger,
    private readonly key: string,
    /** The source's init segment and fragments since its last keyframe. */
    private readonly replay: () => Iterable<Buffer>,
  ) {
    this.fanout = new MseFanout(maxBufferBytes, { transcoded: 'h265' });
  }

  get pid(): number | undefined {
    return this.process?.pid;
  }

  start(): void {
    if (this.process || this.stopped) return;
    const proc = new FfmpegProcess(
      this.ffmpeg,
      [
        '-hide_banner',
        '-loglevel',
        'error',
        '-fflags',
        'nobuffer',
        '-f',
        'mp4',
        '-i',
        'pipe:0',
        '-an',
        '-vf',
        "scale='min(1920,iw)':-2",
        '-c:v',
        'libx264',
        '-preset',
        'ultrafast',
        '-tune',
        'zerolatency',
        '-pix_fmt',
        'yuv420p',
        '-crf',
        '26',
        '-maxrate',
        '3M',
        '-bufsize',
        '3M',
        // A keyframe every ~2 s: a viewer joining the transcode waits at most that long.
        '-g',
        '50',
        ...fmp4Fragments(),
      ],
      'pipe',
    );
    this.process = proc;
    const reader = new Fmp4Reader(
      (init) => this.fanout.setInit(init),
      (fragment) => this.fanout.push(fragment),
    );
    proc.child.stdout?.on('data', (chunk: Buffer) => {
      try {
        reader.push(chunk);
      } catch (err) {
        this.log.warn({ relay: this.key, err: (err as Error).message }, 'transcoder output unreadable');
        void this.restart();
      }
    });
    void proc.exited.then(({ code, signal }) => {
      if (this.process !== proc || this.stopped) return;
      this.process = undefined;
      this.restarts += 1;
      this.log.warn({ relay: this.key, code, signal, err: proc.lastError }, 'H.264 transcoder exited');
      this.scheduleStart();
    });
    for (const data of this.replay()) proc.child.stdin?.write(data);
  }

  /** Media from the source, in order. */
  write(data: Buffer): void {
    const stdin = this.process?.child.stdin;
    if (!stdin || stdin.destroyed) return;
    if (stdin.writableLength > this.maxBufferBytes) void this.restart();
    else stdin.write(data);
  }

  /** A new source stream (new init segment): the encoder starts over with it. */
  async restart(): Promise<void> {
    const proc = this.process;
    this.process = undefined;
    await proc?.stop();
    this.scheduleStart();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    const proc = this.process;
    this.process = undefined;
    await proc?.stop();
  }

  private scheduleStart(): void {
    if (this.stopped) return;
    clearTimeout(this.restartTimer);
    const delay = this.restarts === 0 ? 0 : Math.min(10_000, 250 * 2 ** Math.min(this.restarts, 6));
    this.restartTimer = setTimeout(() => this.start(), delay);
  }
}
