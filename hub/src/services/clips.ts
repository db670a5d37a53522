/**
 * Uploaded audio clips. An upload is checked by its content (WAV, MP3 or Ogg by their magic bytes,
 * not by name or declared type), bounded in size and length, transcoded once with ffmpeg to 16 kHz
 * mono 16-bit WAV, and named by the SHA-256 of that file: gateways fetch it by hash, verify it and
 * cache it, so the same clip never crosses a village's uplink twice.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLIP_HASH_PATTERN, MAX_CLIP_SECONDS, type Principal, userMaySeeSites } from '@qianliyan/protocols';
import type { FastifyBaseLogger } from 'fastify';
import { HubError } from '../errors.ts';
import type { SqlDatabase } from '../stores/sql.ts';

export interface ClipView {
  hash: string;
  name: string;
  bytes: number;
  durationMs: number;
  uploadedBy: string;
  uploadedAt: number;
}

/** What the bytes are, by their first bytes; undefined for anything else. */
export function sniffAudio(data: Buffer): 'wav' | 'mp3' | 'ogg' | undefined {
  if (
    data.length >= 12 &&
    data.toString('latin1', 0, 4) === 'RIFF' &&
    data.toString('latin1', 8, 12) === 'WAVE'
  )
    return 'wav';
  if (data.length >= 4 && data.toString('latin1', 0, 4) === 'OggS') return 'ogg';
  if (data.length >= 3 && data.toString('latin1', 0, 3) === 'ID3') return 'mp3';
  // An MPEG audio frame header: 11 sync bits, then layer III.
  if (data.length >= 2 && data[0] === 0xff && ((data[1] as number) & 0xe6) === 0xe2) return 'mp3';
  return undefined;
}

/** What an uploader is told when ffmpeg cannot decode the file (its own messages go to the log). */
export const CLIP_NOT_DECODABLE = 'not decodable audio: send a playable WAV, MP3 or Ogg file';

export class ClipStore {
  private readonly dir: string;

  constructor(
    private readonly db: SqlDatabase,
    dataDir: string,
    private readonly ffmpeg: string,
    private readonly log: FastifyBaseLogger,
  ) {
    this.dir = join(dataDir, 'clips');
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
  }

  /**
   * `uploader.sites` — the sites the uploader's scope covers — become the clip's: a village's clips
   * are its own (and its town's and county's), not every village's. An unscoped officer's upload is
   * everyone's. The same sound uploaded by two villages is one file visible to both.
   */
  async add(data: Buffer, name: string, uploader: Pick<Principal, 'username' | 'sites'>): Promise<ClipView> {
    const username = uploader.username;
    const format = sniffAudio(data);
    if (!format) throw new HubError('HUB_ERR_UNSUPPORTED_MEDIA', 'not a WAV, MP3 or Ogg audio file');
    const tmp = join(this.dir, `.upload-${randomBytes(8).toString('hex')}`);
    writeFileSync(`${tmp}.${format}`, data, { mode: 0o600 });
    try {
      await new Promise<void>((resolve, reject) =>
        execFile(
          this.ffmpeg,
          [
            '-hide_banner',
            '-loglevel',
            'error',
            '-nostdin',
            '-y',
            '-i',
            `${tmp}.${format}`,
            '-vn',
            '-t',
            String(MAX_CLIP_SECONDS),
            '-ac',
            '1',
            '-ar',
            '16000',
            '-c:a',
            'pcm_s16le',
            '-map_metadata',
            '-1',
            '-fflags',
            '+bitexact',
            '-flags:a',
            '+bitexact',
            '-f',
            'wav',
            `${tmp}.out.wav`,
          ],
          { timeout: 60_000 },
          (err, _stdout, stderr) => {
            if (!err) return resolve();
            // ffmpeg's words stay in the log: they name the hub's files and its ffmpeg build, and
            // they change between versions. The uploader gets one stable code and sentence.
            this.log.warn(
              { uploadedBy: username, format, bytes: data.length, ffmpeg: String(stderr).trim().slice(-600) },
              'clip upload not decodable',
            );
            reject(new HubError('HUB_ERR_UNSUPPORTED_MEDIA', CLIP_NOT_DECODABLE));
          },
        ),
      );
      const out = readFileSync(`${tmp}.out.wav`);
      const durationMs = Math.round(((out.length - 44) / 32_000) * 1000);
      if (durationMs < 100) throw new HubError('HUB_ERR_UNSUPPORTED_MEDIA', 'the clip holds no sound');
      const hash = createHash('sha256').update(out).digest('hex');
      const path = this.path(hash);
      if (!existsSync(path)) renameSync(`${tmp}.out.wav`, path);
      const now = Date.now();
      const known = this.scopeOf(hash);
      const sites =
        known === undefined
          ? [...uploader.sites]
          : known.length === 0 || uploader.sites.length === 0
            ? []
            : [...new Set([...known, ...uploader.sites])];
      this.db
        .prepare(
          `INSERT INTO clips (hash, name, bytes, duration_ms, uploaded_by, uploaded_at, sites) VALUES (?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT(hash) DO UPDATE SET sites = excluded.sites`,
        )
        .run(
          hash,
          name.slice(0, 120) || 'clip',
          out.length,
          durationMs,
          username,
          now,
          JSON.stringify(sites),
        );
      return this.get(hash) as ClipView;
    } finally {
      rmSync(`${tmp}.${format}`, { force: true });
      rmSync(`${tmp}.out.wav`, { force: true });
    }
  }

  path(hash: string): string {
    if (!new RegExp(CLIP_HASH_PATTERN).test(hash)) throw new HubError('HUB_ERR_VALIDATION', 'bad clip hash');
    return join(this.dir, `${hash}.wav`);
  }

  get(hash: string): ClipView | undefined {
    const r = this.db.prepare('SELECT * FROM clips WHERE hash = ?').get(hash) as
      | {
          hash: string;
          name: string;
          bytes: number;
          duration_ms: number;
          uploaded_by: string;
          uploaded_at: number;
        }
      | undefined;
    if (!r || !existsSync(this.path(r.hash))) return undefined;
    return {
      hash: r.hash,
      name: r.name,
      bytes: r.bytes,
      durationMs: r.duration_ms,
      uploadedBy: r.uploaded_by,
      uploadedAt: r.uploaded_at,
    };
  }

  /** The sites a clip belongs to ([] = everyone's); undefined when there is no such clip. */
  private scopeOf(hash: string): string[] | undefined {
    const r = this.db.prepare('SELECT sites FROM clips WHERE hash = ?').get(hash) as
      | { sites: string }
      | undefined;
    return r ? (JSON.parse(r.sites) as string[]) : undefined;
  }

  /** Whether `user` may list and play a clip: it is everyone's, or one of its villages is in scope. */
  visibleTo(user: Pick<Principal, 'role' | 'sites'>, hash: string): boolean {
    const sites = this.scopeOf(hash);
    return sites !== undefined && (sites.length === 0 || userMaySeeSites(user, sites, 'any'));
  }

  /** The newest clips `user` may see. */
  list(user: Pick<Principal, 'role' | 'sites'>, limit = 200): ClipView[] {
    return (
      this.db.prepare('SELECT hash FROM clips ORDER BY uploaded_at DESC LIMIT ?').all(limit * 5) as Array<{
        hash: string;
      }>
    )
      .filter((r) => this.visibleTo(user, r.hash))
      .slice(0, limit)
      .map((r) => this.get(r.hash))
      .filter((c): c is ClipView => Boolean(c));
  }

  size(hash: string): number {
    return statSync(this.path(hash)).size;
  }
}
