/** Reading what a gateway recorded: its segment directory, and ffprobe on a file. */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readTimestampCode } from '../../protocols/src/timestamp-code.ts';

export interface SegmentFile {
  name: string;
  start: number;
  durationMs: number;
  bytes: number;
}

/** A camera's complete segments, oldest first (the names are the index). */
export function segmentFiles(root: string, device: string): SegmentFile[] {
  const dir = join(root, device);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .flatMap((name) => {
      const m = /^(\d+)-(\d+)\.ts$/.exec(name);
      return m
        ? [{ name, start: Number(m[1]), durationMs: Number(m[2]), bytes: statSync(join(dir, name)).size }]
        : [];
    })
    .sort((a, b) => a.start - b.start);
}

export const FFPROBE = '/usr/bin/ffprobe';

/** ffprobe's view of a media file: format, duration (s), the video codec and its frame count. */
export function probe(file: string): { format: string; duration: number; codec: string; frames: number } {
  const out = execFileSync(
    FFPROBE,
    [
      '-v',
      'error',
      '-count_packets',
      '-select_streams',
      'v:0',
      '-show_entries',
      'format=format_name,duration:stream=codec_name,nb_read_packets',
      '-of',
      'json',
      file,
    ],
    { encoding: 'utf8' },
  );
  const json = JSON.parse(out) as {
    format: { format_name: string; duration: string };
    streams: Array<{ codec_name: string; nb_read_packets: string }>;
  };
  return {
    format: json.format.format_name,
    duration: Number(json.format.duration),
    codec: json.streams[0]?.codec_name ?? '',
    frames: Number(json.streams[0]?.nb_read_packets ?? 0),
  };
}

/**
 * The burnt-in capture time (the camera simulator's timestamp code) of the first decodable frame of
 * a media file; undefined when the code cannot be read.
 */
export function firstFrameTime(file: string, nearMs: number): number | undefined {
  const { width, height } = JSON.parse(
    execFileSync(
      FFPROBE,
      ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=width,height', '-of', 'json', file],
      { encoding: 'utf8' },
    ),
  ).streams[0] as { width: number; height: number };
  const luma = execFileSync(
    '/usr/bin/ffmpeg',
    ['-v', 'error', '-i', file, '-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'gray', 'pipe:1'],
    { maxBuffer: 64 * 1024 * 1024 },
  );
  if (luma.length < width * height) return undefined;
  return readTimestampCode((x, y) => luma[y * width + x] as number, width, nearMs);
}
