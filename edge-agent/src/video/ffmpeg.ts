/**
 * Which ffmpeg the gateway runs: `FFMPEG_PATH` when set, Debian's when installed, else the binary
 * npm installed with `@ffmpeg-installer/ffmpeg` (a 2018 static build), so a fresh machine needs
 * nothing beyond `npm install`.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';

let resolved: string | undefined;

export function ffmpegPath(): string {
  if (resolved) return resolved;
  if (process.env.FFMPEG_PATH) resolved = process.env.FFMPEG_PATH;
  else if (existsSync('/usr/bin/ffmpeg')) resolved = '/usr/bin/ffmpeg';
  else {
    const require = createRequire(import.meta.url);
    resolved = (require('@ffmpeg-installer/ffmpeg') as { path: string }).path;
  }
  return resolved;
}
