/**
 * The hub's ffmpeg supervisor for one child: spawned with pipes (so it dies with its pipe if the
 * hub dies: EOF on stdin, EPIPE on stdout), stopped with SIGTERM then SIGKILL, always reaped (Node
 * waits for every child; `exited` resolves only after the exit is seen), its stderr kept as a short
 * tail for the log. A process-wide set of live children lets the hub prove on shutdown that none is
 * left, and the metrics count them.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';

const live = new Set<FfmpegProcess>();

/** The ffmpeg children alive right now (all relays). */
export function liveFfmpegCount(): number {
  return live.size;
}

/** `video.ffmpegPath` if set, else Debian's ffmpeg when installed, else the npm-installed binary. */
export function resolveFfmpeg(configured: string): string {
  if (configured) return configured;
  if (process.env.FFMPEG_PATH) return process.env.FFMPEG_PATH;
  if (existsSync('/usr/bin/ffmpeg')) return '/usr/bin/ffmpeg';
  const require = createRequire(import.meta.url);
  return (require('@ffmpeg-installer/ffmpeg') as { path: string }).path;
}

export class FfmpegProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private stderrTail = '';

  constructor(binary: string, args: string[], stdin: 'pipe' | 'ignore') {
    this.child = spawn(binary, args, { stdio: [stdin, 'pipe', 'pipe'] });
    live.add(this);
    this.child.stderr?.on('data', (chunk: Buffer) => {
      this.stderrTail = (this.stderrTail + chunk.toString('utf8')).slice(-1500);
    });
    // A write to a dead child's stdin is reported through exit, not thrown.
    this.child.stdin?.on('error', () => {});
    this.exited = new Promise((resolve) => {
      this.child.once('error', () => {
        live.delete(this);
        resolve({ code: -1, signal: null });
      });
      this.child.once('exit', (code, signal) => {
        live.delete(this);
        resolve({ code, signal });
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The last line ffmpeg wrote, with any credentials in URLs masked. */
  get lastError(): string {
    const line = this.stderrTail.trim().split('\n').pop() ?? '';
    return line.replace(/[a-z]+:\/\/[^@\s/]*@/gi, (m) => `${m.split('//')[0]}//***@`).slice(0, 300);
  }

  /** SIGTERM, SIGKILL after `graceMs`; resolves once the child is reaped. */
  async stop(graceMs = 2000): Promise<void> {
    if (this.running) {
      this.child.stdin?.destroy();
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
      await this.exited;
      clearTimeout(timer);
    } else await this.exited;
  }
}
