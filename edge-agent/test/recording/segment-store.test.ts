/** The ring buffer and the directory-as-index, on a real directory (the free-disk figure is stood in). */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SegmentStore } from '../../src/recording/segment-store.ts';

const roots: string[] = [];
function root(): string {
  const dir = mkdtempSync(join(tmpdir(), 'qly-segments-'));
  roots.push(dir);
  return dir;
}
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

/** Writes a "segment" of `bytes` into the camera's partial directory and commits it. */
function record(store: SegmentStore, device: string, start: number, bytes: number, durationMs = 2000) {
  const file = join(store.partialDir(device), `seg-${start}.ts`);
  writeFileSync(file, Buffer.alloc(bytes, 1));
  return store.commit(device, file, start, durationMs);
}

const limits = { maxBytesPerCamera: 10_000, maxBytesTotal: 15_000, minFreeBytes: 0 };

describe('SegmentStore', () => {
  it('commits by rename under the start time, and reads the directory back as the index', () => {
    const dir = root();
    const store = new SegmentStore(dir, limits, () => 1e12);
    record(store, 'cam', 1_000_000, 100);
    record(store, 'cam', 1_002_000, 100);
    record(store, 'cam', 1_010_000, 100);
    expect(readdirSync(join(dir, 'cam')).sort()).toEqual([
      '1000000-2000.ts',
      '1002000-2000.ts',
      '1010000-2000.ts',
      'partial',
    ]);
    expect(store.ranges('cam')).toEqual([
      [1_000_000, 1_004_000],
      [1_010_000, 1_012_000],
    ]);
    // A crash left a half-written segment (and an empty file): gone on start, counted, never indexed.
    writeFileSync(join(dir, 'cam', 'partial', 'seg-000009.ts'), 'half');
    writeFileSync(join(dir, 'cam', '1020000-2000.ts'), '');
    const again = new SegmentStore(dir, limits, () => 1e12);
    again.open('cam');
    expect(again.segments('cam').map((s) => s.start)).toEqual([1_000_000, 1_002_000, 1_010_000]);
    expect(again.lostOnStart).toBe(1);
    expect(readdirSync(join(dir, 'cam', 'partial'))).toEqual([]);
  });

  it('deletes the oldest beyond the per-camera cap and counts it; the newest is never deleted', () => {
    const store = new SegmentStore(root(), limits, () => 1e12);
    for (let i = 0; i < 6; i++) record(store, 'cam', i * 2000, 3000);
    expect(store.segments('cam').map((s) => s.start)).toEqual([6000, 8000, 10000]);
    expect(store.stats('cam')).toEqual({ segments: 3, bytes: 9000, deleted: 3 });
    // One segment larger than the cap is kept: a camera always has its newest.
    record(store, 'cam', 12_000, 50_000);
    expect(store.segments('cam').map((s) => s.start)).toEqual([12_000]);
  });

  it('beyond the total, and below the free disk wanted, the oldest of any camera goes first', () => {
    let free = 1e12;
    const store = new SegmentStore(root(), { ...limits, minFreeBytes: 1000 }, () => free);
    record(store, 'a', 0, 4000);
    record(store, 'b', 1000, 4000);
    record(store, 'a', 2000, 4000);
    record(store, 'b', 3000, 4000); // 16,000 in total: a's first goes
    expect(store.segments('a').map((s) => s.start)).toEqual([2000]);
    expect(store.segments('b').map((s) => s.start)).toEqual([1000, 3000]);
    free = 500; // the disk is nearly full: the oldest go until each camera keeps only its newest
    store.enforce();
    expect(store.segments('a').map((s) => s.start)).toEqual([2000]);
    expect(store.segments('b').map((s) => s.start)).toEqual([3000]);
    expect(store.stats('a').deleted + store.stats('b').deleted).toBe(2);
  });

  it('bounds the index: beyond 200 ranges the oldest merge', () => {
    const store = new SegmentStore(
      root(),
      { ...limits, maxBytesPerCamera: 1e9, maxBytesTotal: 1e9 },
      () => 1e12,
    );
    mkdirSync(store.partialDir('cam'), { recursive: true });
    for (let i = 0; i < 210; i++) record(store, 'cam', i * 10_000, 10, 2000);
    const ranges = store.ranges('cam');
    expect(ranges).toHaveLength(200);
    expect(ranges[0]?.[0]).toBe(0);
    expect(ranges.at(-1)).toEqual([2_090_000, 2_092_000]);
  });
});
