/**
 * Duplicate detection by `seq`, one window per (gateway, lane). The edge outbox sends each lane in
 * seq order and resends only what was not acknowledged, so a message whose seq is at or below its
 * window's high-water mark is a duplicate, and a jump past high-water + 1 is a gap (messages the
 * outbox dropped when full, or lost between the outbox and the hub).
 *
 * Every message names its outbox `epoch`. A message of an epoch the window has not seen opens a new
 * window from that message (a wiped or replaced outbox restarts at seq 1), and the old epoch is
 * retired; a message of a retired epoch is refused as `stale_epoch`, so a replayed old stream can
 * neither flip the window back nor be taken for new data. On first contact (no window yet) the first
 * message is accepted as it is and no gap is assumed.
 */
import type { Lane } from '@qianliyan/protocols';
import type { SeqMark } from '../stores/timeseries.ts';

export type SeqVerdict =
  | { accept: true; gap: number; newEpoch: boolean }
  | { accept: false; reason: 'duplicate' | 'stale_epoch' };

/** How many retired epochs a window remembers. */
const RETIRED_KEPT = 8;

const keyOf = (gateway: string, lane: Lane) => `${gateway}\u0000${lane}`;

export class SeqTracker {
  private readonly marks = new Map<string, SeqMark>();
  private readonly dirty = new Set<string>();

  constructor(initial: SeqMark[] = []) {
    for (const m of initial) this.marks.set(keyOf(m.gateway, m.lane), { ...m, retired: [...m.retired] });
  }

  check(gateway: string, lane: Lane, epoch: string, seq: number): SeqVerdict {
    const key = keyOf(gateway, lane);
    const mark = this.marks.get(key);
    if (!mark) {
      this.marks.set(key, { gateway, lane, epoch, highWater: seq, retired: [] });
      this.dirty.add(key);
      return { accept: true, gap: 0, newEpoch: true };
    }
    if (mark.epoch !== epoch) {
      if (mark.retired.includes(epoch)) return { accept: false, reason: 'stale_epoch' };
      mark.retired = [mark.epoch, ...mark.retired].slice(0, RETIRED_KEPT);
      mark.epoch = epoch;
      mark.highWater = seq;
      this.dirty.add(key);
      // A new outbox starts at 1: anything before this message of the new epoch never arrived.
      return { accept: true, gap: seq - 1, newEpoch: true };
    }
    if (seq <= mark.highWater) return { accept: false, reason: 'duplicate' };
    const gap = seq - mark.highWater - 1;
    mark.highWater = seq;
    this.dirty.add(key);
    return { accept: true, gap, newEpoch: false };
  }

  highWater(gateway: string, lane: Lane): number | undefined {
    return this.marks.get(keyOf(gateway, lane))?.highWater;
  }

  /** Forgets a deleted gateway's windows (its marks are deleted from the store with it). */
  forget(gateway: string): void {
    for (const lane of ['control', 'bulk'] as const) {
      this.marks.delete(keyOf(gateway, lane));
      this.dirty.delete(keyOf(gateway, lane));
    }
  }

  /** Marks changed since the last call, to store in the same transaction as the rows they cover. */
  takeDirty(): SeqMark[] {
    const out: SeqMark[] = [];
    for (const key of this.dirty) {
      const m = this.marks.get(key);
      if (m) out.push({ ...m, retired: [...m.retired] });
    }
    this.dirty.clear();
    return out;
  }

  /** Puts marks back to be stored with the next batch (their batch failed to store). */
  restoreDirty(marks: SeqMark[]): void {
    for (const m of marks) this.dirty.add(keyOf(m.gateway, m.lane));
  }
}
