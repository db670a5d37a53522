/**
 * The gateway's recording on disk: one directory per camera, one MPEG-TS file per segment, named
 * `<start ms>-<duration ms>.ts`. ffmpeg writes into `<camera>/partial/`; a segment is moved into
 * the camera's directory by `rename()` only once ffmpeg has closed it, so the directory holds only
 * complete segments and *is* the index: on start it is read back (a power cut loses at most the
 * segment in `partial/`, which is deleted and counted), and nothing else needs to be consistent
 * with it.
 *
 * The ring buffer: a camera never holds more than `maxBytesPerCamera`, all cameras together never
 * more than `maxBytesTotal`, and the disk keeps `minFreeBytes` free; beyond any bound the oldest
 * segment goes first (of that camera, or of all cameras), and each deletion is counted. A camera's
 * newest segment is never deleted to make room.
 */
import { mkdirSync, readdirSync, renameSync, rmSync, statfsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { MAX_RECORDING_RANGES, RECORDING_GAP_TOLERANCE_MS, type RecordingRange } from '@qianliyan/protocols';

export interface Segment {
  start: number;
  durationMs: number;
  bytes: number;
  file: string;
}

export const segmentEnd = (s: Segment): number => s.start + s.durationMs;

const SEGMENT_NAME = /^(\d{1,15})-(\d{1,9})\.ts$/;

export interface RingLimits {
  maxBytesPerCamera: number;
  maxBytesTotal: number;
  minFreeBytes: number;
}

interface CameraStore {
  dir: string;
  partial: string;
  /** Oldest first. */
  segments: Segment[];
  bytes: number;
  deleted: number;
}

export class SegmentStore {
  private readonly cameras = new Map<string, CameraStore>();
  /** Partial segments found (and deleted) on start: what a crash or power cut cost. */
  lostOnStart = 0;

  constructor(
    readonly root: string,
    private readonly limits: RingLimits,
    /** The free bytes of the file system under `root` (a test may stand in a full disk). */
    private readonly freeBytes: () => number = () => freeBytesOf(root),
  ) {}

  /** Reads a camera's directory back: complete segments in order, partial ones deleted and counted. */
  open(device: string): CameraStore {
    const existing = this.cameras.get(device);
    if (existing) return existing;
    const dir = join(this.root, device);
    const partial = join(dir, 'partial');
    mkdirSync(partial, { recursive: true });
    const segments: Segment[] = [];
    for (const name of readdirSync(dir)) {
      const m = SEGMENT_NAME.exec(name);
      if (!m) continue;
      const file = join(dir, name);
      const bytes = statSync(file).size;
      if (bytes === 0) {
        rmSync(file, { force: true });
        continue;
      }
      segments.push({ start: Number(m[1]), durationMs: Number(m[2]), bytes, file });
    }
    segments.sort((a, b) => a.start - b.start);
    for (const name of readdirSync(partial)) {
      rmSync(join(partial, name), { force: true });
      this.lostOnStart += 1;
    }
    const store: CameraStore = {
      dir,
      partial,
      segments,
      bytes: segments.reduce((n, s) => n + s.bytes, 0),
      deleted: 0,
    };
    this.cameras.set(device, store);
    return store;
  }

  /** Where ffmpeg writes this camera's segment being recorded. */
  partialDir(device: string): string {
    return this.open(device).partial;
  }

  /**
   * Moves a segment ffmpeg has closed into place (rename: atomic on one file system), then applies
   * the ring buffer. Returns the segment, or undefined for an empty file (deleted).
   */
  commit(device: string, partialFile: string, start: number, durationMs: number): Segment | undefined {
    const store = this.open(device);
    const bytes = statSync(partialFile).size;
    if (bytes === 0 || durationMs <= 0) {
      rmSync(partialFile, { force: true });
      return undefined;
    }
    const file = join(store.dir, `${Math.round(start)}-${Math.round(durationMs)}.ts`);
    renameSync(partialFile, file);
    const segment: Segment = { start: Math.round(start), durationMs: Math.round(durationMs), bytes, file };
    store.segments.push(segment);
    store.segments.sort((a, b) => a.start - b.start);
    store.bytes += bytes;
    this.enforce(device);
    return segment;
  }

  /** Applies every bound; returns how many segments were deleted. */
  enforce(device?: string): number {
    let deleted = 0;
    const { maxBytesPerCamera, maxBytesTotal, minFreeBytes } = this.limits;
    for (const [id, store] of this.cameras)
      if (device === undefined || id === device)
        while (store.bytes > maxBytesPerCamera && store.segments.length > 1) {
          this.deleteOldest(store);
          deleted += 1;
        }
    while (this.totalBytes > maxBytesTotal || (this.freeBytes() < minFreeBytes && this.totalBytes > 0)) {
      const oldest = this.oldestDeletable();
      if (!oldest) break;
      this.deleteOldest(oldest);
      deleted += 1;
    }
    return deleted;
  }

  private oldestDeletable(): CameraStore | undefined {
    let found: CameraStore | undefined;
    for (const store of this.cameras.values()) {
      const first = store.segments[0];
      if (!first || store.segments.length <= 1) continue;
      if (!found || first.start < (found.segments[0] as Segment).start) found = store;
    }
    return found;
  }

  private deleteOldest(store: CameraStore): void {
    const oldest = store.segments.shift();
    if (!oldest) return;
    rmSync(oldest.file, { force: true });
    store.bytes -= oldest.bytes;
    store.deleted += 1;
  }

  get totalBytes(): number {
    let n = 0;
    for (const s of this.cameras.values()) n += s.bytes;
    return n;
  }

  get free(): number {
    return this.freeBytes();
  }

  segments(device: string): readonly Segment[] {
    return this.cameras.get(device)?.segments ?? [];
  }

  stats(device: string): { segments: number; bytes: number; deleted: number } {
    const s = this.cameras.get(device);
    return { segments: s?.segments.length ?? 0, bytes: s?.bytes ?? 0, deleted: s?.deleted ?? 0 };
  }

  /** The segments that overlap [from, to], oldest first. */
  covering(device: string, from: number, to: number): Segment[] {
    return this.segments(device).filter((s) => segmentEnd(s) > from && s.start < to);
  }

  /** The time ranges held, merged across segments that touch; at most MAX_RECORDING_RANGES (newest kept apart). */
  ranges(device: string): RecordingRange[] {
    const ranges: RecordingRange[] = [];
    for (const s of this.segments(device)) {
      const last = ranges.at(-1);
      if (last && s.start - last[1] <= RECORDING_GAP_TOLERANCE_MS) last[1] = Math.max(last[1], segmentEnd(s));
      else ranges.push([s.start, segmentEnd(s)]);
    }
    while (ranges.length > MAX_RECORDING_RANGES) {
      // The oldest two become one: the index stays bounded, and loses only the oldest gap.
      const [a, b] = ranges.splice(0, 2) as [RecordingRange, RecordingRange];
      ranges.unshift([a[0], b[1]]);
    }
    return ranges;
  }
}

export function freeBytesOf(path: string): number {
  try {
    const s = statfsSync(path);
    return s.bavail * s.bsize;
  } catch {
    return 0;
  }
}
