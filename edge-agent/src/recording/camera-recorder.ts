/**
 * Records one camera stream: one ffmpeg reading the camera's RTSP (through the agent's relay when
 * it needs credentials) and writing its H.264/H.265 untouched (`-c copy`) as MPEG-TS segments of
 * `segmentSeconds` into the camera's `partial/` directory. ffmpeg's segment list (CSV on stdout, one
 * line when a segment is closed) says when a file is complete; only then is it committed (renamed
 * into place) by the segment store.
 *
 * Time: a segment's wall-clock start is the run's anchor (the wall clock of the stream's time 0,
 * taken when the first segment closes) plus the segment's start in stream time, so the segments of
 * one run are contiguous; the anchor is taken again when the stream's clock and the wall clock drift
 * more than a second apart.
 *
 * Supervision: ffmpeg that exits, or produces no segment for `stallMs` (a camera that stops sending
 * without closing the connection), is stopped and started again with backoff. A recorder that has
 * completed no segment for `stallMs` is `stopped`: the service raises `recording_stopped`.
 *
 * ffmpeg's pid is written beside the partial segment: an agent killed without a chance to stop its
 * children (SIGKILL, a crash) finds the orphan on its next start and kills it before recording again.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { type RecorderState, rtspInputArgs, type StreamName } from '@qianliyan/protocols';
import type { Logger } from 'pino';
import { ffmpegPath } from '../video/ffmpeg.ts';
import { type PushInput, stopChild } from '../video/stream-pusher.ts';
import type { Segment, SegmentStore } from './segment-store.ts';

export interface RecorderOptions {
  segmentSeconds: number;
  /** No segment completed for this long: the recorder is stopped (and ffmpeg restarted). */
  stallMs: number;
  restartMinMs: number;
  restartMaxMs: number;
}

export interface RecorderEvents {
  segment(segment: Segment): void;
  stateChanged(state: RecorderState, reason: string | undefined): void;
}

const PID_FILE = 'ffmpeg.pid';
/** The stream's clock and the wall clock this far apart: anchor again. */
const MAX_DRIFT_MS = 1000;

export function ffmpegRecordArgs(rtspUrl: string, partialDir: string, segmentSeconds: number): string[] {
  return [
    '-hide_banner',
    '-loglevel',
    'error',
    '-nostdin',
    // A larger probe than live video's: the segment muxer needs the stream's parameters up front.
    ...rtspInputArgs(rtspUrl, 32_768),
    // Video only: camera audio is often G.711, which MPEG-TS does not carry.
    '-map',
    '0:v:0',
    '-c',
    'copy',
    '-f',
    'segment',
    '-segment_time',
    String(segmentSeconds),
    '-segment_format',
    'mpegts',
    '-reset_timestamps',
    '1',
    '-segment_list',
    'pipe:1',
    '-segment_list_type',
    'csv',
    '-segment_list_flags',
    'live',
    join(partialDir, 'seg-%06d.ts'),
  ];
}

export class CameraRecorder {
  private child: ChildProcess | undefined;
  private input: PushInput | undefined;
  private stopped = true;
  private retryTimer: NodeJS.Timeout | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private backoffMs: number;
  /** Wall clock of the stream's time 0 in the current run. */
  private anchor: number | undefined;
  private lastProgress = 0;
  /** When the running ffmpeg started: each run gets its own `stallMs` before it is judged stuck. */
  private runStartedAt = 0;
  private stderrTail = '';
  state: RecorderState = 'starting';
  reason: string | undefined;
  lastSegmentAt: number | undefined;
  /** ffmpeg runs started, and segments lost (ffmpeg died mid-segment). */
  runs = 0;
  lost = 0;

  constructor(
    readonly device: string,
    readonly stream: StreamName,
    private readonly openInput: () => Promise<PushInput>,
    private readonly store: SegmentStore,
    private readonly options: RecorderOptions,
    private readonly log: Logger,
    private readonly events: RecorderEvents,
  ) {
    this.backoffMs = options.restartMinMs;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(): void {
    this.stopped = false;
    this.lastProgress = Date.now();
    killOrphan(this.store.partialDir(this.device), this.log);
    this.watchdog = setInterval(() => this.checkProgress(), Math.min(1000, this.options.stallMs / 4));
    void this.attempt();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.watchdog);
    const child = this.child;
    // SIGTERM: ffmpeg closes the segment being written and lists it, so it is kept.
    if (child) await stopChild(child, 3000);
    this.release();
  }

  private setState(state: RecorderState, reason?: string): void {
    this.reason = reason?.slice(0, 256);
    if (state === this.state) return;
    this.state = state;
    this.events.stateChanged(state, this.reason);
  }

  private checkProgress(): void {
    if (this.stopped) return;
    const silentMs = Date.now() - this.lastProgress;
    if (silentMs <= this.options.stallMs) return;
    const reason = this.reason ?? `RECORDING_STALLED: no segment for ${Math.round(silentMs / 1000)} s`;
    this.setState('stopped', reason);
    // A running ffmpeg that produces nothing is stuck (a camera that stopped sending): start over.
    const runSilentMs = Date.now() - Math.max(this.lastProgress, this.runStartedAt);
    if (this.child && this.child.exitCode === null && runSilentMs > this.options.stallMs) {
      this.log.warn({ silentMs }, 'recording stalled; restarting ffmpeg');
      this.reason = `RECORDING_STALLED: no segment for ${Math.round(silentMs / 1000)} s`;
      void stopChild(this.child, 1000);
    }
  }

  private async attempt(): Promise<void> {
    if (this.stopped) return;
    const partial = this.store.partialDir(this.device);
    // What a previous run left half-written is not a segment.
    for (const name of readdirSync(partial))
      if (name.endsWith('.ts')) {
        rmSync(join(partial, name), { force: true });
        this.lost += 1;
      }
    try {
      this.input = await this.openInput();
    } catch (err) {
      this.retry(`RECORDING_NO_STREAM: ${(err as Error).message}`);
      return;
    }
    if (this.stopped) return this.release();
    this.runs += 1;
    this.runStartedAt = Date.now();
    this.anchor = undefined;
    this.stderrTail = '';
    const child = spawn(
      ffmpegPath(),
      ffmpegRecordArgs(this.input.url, partial, this.options.segmentSeconds),
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    this.child = child;
    if (child.pid) writeFileSync(join(partial, PID_FILE), `${child.pid}\n`);
    child.stderr?.on('data', (d: Buffer) => {
      this.stderrTail = (this.stderrTail + d.toString()).slice(-400);
    });
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    lines.on('line', (line) => this.onListLine(partial, line));
    child.on('error', (err) => this.log.error({ err }, 'recording ffmpeg failed to start'));
    child.on('exit', (code, signal) => {
      lines.close();
      if (this.child === child) this.child = undefined;
      this.release();
      if (this.stopped) return;
      const tail = this.stderrTail.trim().split('\n').at(-1) ?? '';
      this.retry(
        this.reason?.startsWith('RECORDING_STALLED')
          ? this.reason
          : `RECORDING_FFMPEG_EXIT: ffmpeg ended (${signal ?? code})${tail ? `: ${tail}` : ''}`,
      );
    });
  }

  private retry(reason: string): void {
    this.release();
    if (this.stopped) return;
    this.reason = reason.slice(0, 256);
    if (Date.now() - this.lastProgress > this.options.stallMs) this.setState('stopped', reason);
    this.log.warn({ reason, retryMs: this.backoffMs }, 'recording interrupted; starting again');
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => void this.attempt(), this.backoffMs);
    this.backoffMs = Math.min(this.options.restartMaxMs, this.backoffMs * 2);
  }

  private release(): void {
    this.input?.release?.();
    this.input = undefined;
  }

  /** `seg-000003.ts,6.200000,8.200000`: that file is complete. */
  private onListLine(partial: string, line: string): void {
    const m = /^(seg-\d{6}\.ts),(-?[\d.]+),(-?[\d.]+)$/.exec(line.trim());
    if (!m) return;
    const now = Date.now();
    const startS = Number(m[2]);
    const endS = Number(m[3]);
    const durationMs = (endS - startS) * 1000;
    if (this.anchor === undefined || Math.abs(this.anchor + endS * 1000 - now) > MAX_DRIFT_MS)
      this.anchor = now - endS * 1000;
    try {
      const segment = this.store.commit(
        this.device,
        join(partial, m[1] as string),
        this.anchor + startS * 1000,
        durationMs,
      );
      if (!segment) return;
      this.lastProgress = now;
      this.lastSegmentAt = now;
      this.backoffMs = this.options.restartMinMs;
      this.setState('recording');
      this.events.segment(segment);
    } catch (err) {
      this.log.error({ err, file: m[1] }, 'could not commit a recorded segment');
    }
  }
}

/** Kills an ffmpeg a killed agent left recording into `partial` (its pid file, checked by its command line). */
function killOrphan(partial: string, log: Logger): void {
  let pid: number;
  try {
    pid = Number(readFileSync(join(partial, PID_FILE), 'utf8').trim());
  } catch {
    return;
  }
  rmSync(join(partial, PID_FILE), { force: true });
  if (!Number.isInteger(pid) || pid <= 1) return;
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (!cmdline.includes(partial)) return;
    process.kill(pid, 'SIGKILL');
    log.warn({ pid }, 'killed the recording ffmpeg a previous agent left behind');
  } catch {
    // Gone already (or no /proc): nothing to do.
  }
}
