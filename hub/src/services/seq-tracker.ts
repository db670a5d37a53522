/**
 * Per-gateway duplicate detection by `seq`. The edge outbox sends in seq order and resends only
 * what was not acknowledged, so a live message whose seq is at or below the gateway's high-water
 * mark is a duplicate; a jump past high-water + 1 is a gap (messages the outbox dropped when full,
 * or lost before it). A new outbox epoch (announced in the gateway state) restarts the count.
 */
import type { SeqMark } from '../stores/state-db.ts';

export type SeqVerdict = { duplicate: true } | { duplicate: false; gap: number };

export class SeqTracker {
  private readonly marks = new Map<string, { epoch: string | null; highWater: number }>();
  private readonly dirty = new Set<string>();

  constructor(initial: SeqMark[] = []) {
    for (const m of initial) this.marks.set(m.gateway, { epoch: m.epoch, highWater: m.highWater });
  }

  /** Called for a live gateway state that names its outbox epoch, before `check` of that message. */
  observeEpoch(gateway: string, epoch: string, seq: number): void {
    const mark = this.marks.get(gateway);
    if (!mark) return;
    if (mark.epoch === null) mark.epoch = epoch;
    else if (mark.epoch !== epoch) {
      mark.epoch = epoch;
      mark.highWater = seq - 1;
    }
    this.dirty.add(gateway);
  }

  check(gateway: string, seq: number, epoch?: string): SeqVerdict {
    const mark = this.marks.get(gateway);
    if (!mark) {
      // First message ever seen from this gateway: nothing to compare with, so no gap is counted.
      this.marks.set(gateway, { epoch: epoch ?? null, highWater: seq });
      this.dirty.add(gateway);
      return { duplicate: false, gap: 0 };
    }
    if (seq <= mark.highWater) return { duplicate: true };
    const gap = seq - mark.highWater - 1;
    mark.highWater = seq;
    this.dirty.add(gateway);
    return { duplicate: false, gap };
  }

  highWater(gateway: string): number | undefined {
    return this.marks.get(gateway)?.highWater;
  }

  /** Puts marks back to be saved with the next batch (their batch failed to store). */
  restoreDirty(marks: SeqMark[]): void {
    for (const m of marks) this.dirty.add(m.gateway);
  }

  /** Marks changed since the last call, to persist after the batch that carried them is stored. */
  takeDirty(): SeqMark[] {
    const out: SeqMark[] = [];
    for (const gateway of this.dirty) {
      const m = this.marks.get(gateway);
      if (m) out.push({ gateway, epoch: m.epoch, highWater: m.highWater });
    }
    this.dirty.clear();
    return out;
  }
}
