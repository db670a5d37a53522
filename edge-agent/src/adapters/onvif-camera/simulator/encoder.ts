/**
 * The simulated camera's encoder: one ffmpeg that takes the rendered frames on stdin and sends two
 * RTP streams (main and sub, like a real camera's two profiles) to loopback UDP ports, each H.264
 * (x264) or H.265 (x265) as configured. `zerolatency` (no B-frames, no lookahead), a keyframe every
 * second, parameter sets (SPS/PPS, and VPS for H.265) repeated before each keyframe so a player can
 * join at any keyframe. Restarted with backoff if it dies.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { ffmpegPath } from '../../../video/ffmpeg.ts';

export interface EncoderTarget {
  width: number;
  height: number;
  kbps: number;
  rtpPort: number;
  rtcpPort: number;
  codec?: 'h264' | 'h265';
}

export interface EncoderOptions {
  width: number;
  height: number;
  fps: number;
  main: EncoderTarget;
  sub: EncoderTarget;
  /** Overrides the ffmpeg binary (tests may pin one). */
  ffmpeg?: string;
}

export class Encoder {
  private child: ChildProcess | undefined;
  private stopped = true;
  private restartTimer: NodeJS.Timeout | undefined;
  private backoffMs = 250;
  private stderrTail = '';
  /** Frames handed to ffmpeg and frames skipped because it was behind. */
  written = 0;
  skipped = 0;
  restarts = 0;

  constructor(private readonly options: EncoderOptions) {}

  get running(): boolean {
    return !!this.child && this.child.exitCode === null;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(): void {
    this.stopped = false;
    this.spawn();
  }

  /** Hands one frame to ffmpeg, or skips it when ffmpeg has not taken the previous ones yet. */
  write(frame: Buffer): void {
    const stdin = this.child?.stdin;
    if (!stdin || stdin.destroyed || !stdin.writable) return;
    if (stdin.writableLength > frame.length * 2) {
      this.skipped += 1;
      return;
    }
    // Copy: the pattern renders into the same buffer for the next frame.
    stdin.write(Buffer.from(frame));
    this.written += 1;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.stdin?.end();
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
    await exited;
    clearTimeout(timer);
  }

  private spawn(): void {
    const { width, height, fps, main, sub } = this.options;
    const codec = (t: EncoderTarget) =>
      t.codec === 'h265'
        ? [
            '-c:v',
            'libx265',
            '-preset',
            'ultrafast',
            '-tune',
            'zerolatency',
            '-x265-params',
            `keyint=${fps}:min-keyint=${fps}:bframes=0:repeat-headers=1:log-level=error`,
          ]
        : [
            '-c:v',
            'libx264',
            '-preset',
            'ultrafast',
            '-tune',
            'zerolatency',
            '-profile:v',
            'baseline',
            '-g',
            String(fps),
            '-x264-params',
            'repeat-headers=1',
          ];
    const output = (t: EncoderTarget) => [
      ...codec(t),
      '-pix_fmt',
      'yuv420p',
      '-b:v',
      `${t.kbps}k`,
      '-maxrate',
      `${t.kbps}k`,
      '-bufsize',
      `${t.kbps}k`,
      '-an',
      '-f',
      'rtp',
      '-payload_type',
      '96',
      `rtp://127.0.0.1:${t.rtpPort}?rtcpport=${t.rtcpPort}&pkt_size=1200`,
    ];
    const args = [
      '-hide_banner',
      '-loglevel',
      'error',
      '-nostdin',
      '-f',
      'rawvideo',
      '-pix_fmt',
      'yuv420p',
      '-video_size',
      `${width}x${height}`,
      '-framerate',
      String(fps),
      '-i',
      'pipe:0',
      '-filter_complex',
      `[0:v]split=2[m0][s0];[m0]scale=${main.width}:${main.height}[m];[s0]scale=${sub.width}:${sub.height}[s]`,
      '-map',
      '[m]',
      ...output(main),
      '-map',
      '[s]',
      ...output(sub),
    ];
    const child = spawn(this.options.ffmpeg ?? ffmpegPath(), args, { stdio: ['pipe', 'ignore', 'pipe'] });
    this.child = child;
    child.stdin.on('error', () => {
      /* ffmpeg exited; the exit handler restarts it */
    });
    child.stderr.on('data', (chunk: Buffer) => {
      this.stderrTail = (this.stderrTail + chunk.toString()).slice(-2000);
    });
    child.on('error', () => {
      /* spawn failure: reported through exit */
    });
    child.on('exit', () => {
      if (this.child !== child || this.stopped) return;
      this.child = undefined;
      this.restarts += 1;
      this.restartTimer = setTimeout(() => this.spawn(), this.backoffMs);
      this.backoffMs = Math.min(10_000, this.backoffMs * 2);
    });
    const started = Date.now();
    child.once('exit', () => {
      if (Date.now() - started > 10_000) this.backoffMs = 250;
    });
  }

  /** The last lines ffmpeg wrote to stderr (for a test's failure message). */
  get lastError(): string {
    return this.stderrTail;
  }
}
