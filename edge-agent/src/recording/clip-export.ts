/**
 * Cuts [from, to] of a camera's recording into one MP4 (`-c copy`: no decoding, the camera's own
 * H.264/H.265): the segments that cover it are hard-linked into a directory of the clip's own first,
 * so the ring buffer deleting one meanwhile cannot break the cut, then joined by ffmpeg's concat
 * demuxer, seeking to the keyframe at or before `from` (the clip starts up to one GOP early, never
 * late). ffmpeg runs at a low CPU priority: live video and the recorders come first. A gap inside
 * the range is skipped (the clip is shorter; what it covers is returned).
 */
import { spawn } from 'node:child_process';
import { linkSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { setPriority } from 'node:os';
import { join } from 'node:path';
import { ffmpegPath } from '../video/ffmpeg.ts';
import { type Segment, segmentEnd } from './segment-store.ts';

export interface CutClip {
  file: string;
  /** The recorded time the clip covers (ms), and where it starts and ends. */
  coveredMs: number;
  start: number;
  end: number;
  segments: number;
  /** Removes the clip's directory. */
  remove(): void;
}

export async function cutClip(
  segments: readonly Segment[],
  from: number,
  to: number,
  workDir: string,
  timeoutMs = 120_000,
): Promise<CutClip> {
  const first = segments[0] as Segment;
  const last = segments.at(-1) as Segment;
  mkdirSync(workDir, { recursive: true });
  const remove = () => rmSync(workDir, { recursive: true, force: true });
  try {
    const lines = ['ffconcat version 1.0'];
    segments.forEach((s, i) => {
      const pinned = join(workDir, `${String(i).padStart(5, '0')}.ts`);
      linkSync(s.file, pinned);
      lines.push(`file '${pinned}'`, `duration ${(s.durationMs / 1000).toFixed(3)}`);
    });
    const list = join(workDir, 'list.ffconcat');
    writeFileSync(list, `${lines.join('\n')}\n`);
    const start = Math.max(from, first.start);
    const end = Math.min(to, segmentEnd(last));
    const file = join(workDir, 'clip.mp4');
    const args = [
      '-hide_banner',
      '-loglevel',
      'error',
      '-nostdin',
      '-f',
      'concat',
      '-safe',
      '0',
      '-ss',
      ((start - first.start) / 1000).toFixed(3),
      '-i',
      list,
      '-t',
      ((end - start) / 1000).toFixed(3),
      '-map',
      '0:v:0',
      '-c',
      'copy',
      '-movflags',
      '+faststart',
      '-f',
      'mp4',
      file,
    ];
    await run(args, timeoutMs);
    let coveredMs = 0;
    for (const s of segments)
      coveredMs += Math.max(0, Math.min(segmentEnd(s), end) - Math.max(s.start, start));
    return { file, coveredMs, start, end, segments: segments.length, remove };
  } catch (err) {
    remove();
    throw err;
  }
}

function run(args: string[], timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(ffmpegPath(), args, { stdio: ['ignore', 'ignore', 'pipe'] });
    try {
      if (child.pid) setPriority(child.pid, 10);
    } catch {
      // Not permitted here: it runs at normal priority.
    }
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-400);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else
        reject(
          new Error(
            `ffmpeg could not cut the clip (${signal ?? code}): ${stderr.trim().split('\n').at(-1) ?? ''}`,
          ),
        );
    });
  });
}
