import { describe, expect, it } from 'vitest';
import { SeqTracker } from '../../src/services/seq-tracker.ts';

describe('SeqTracker', () => {
  it('accepts increasing seqs, drops repeats, counts gaps', () => {
    const t = new SeqTracker();
    expect(t.check('gw', 5)).toEqual({ duplicate: false, gap: 0 }); // first ever: no gap assumed
    expect(t.check('gw', 6)).toEqual({ duplicate: false, gap: 0 });
    expect(t.check('gw', 6)).toEqual({ duplicate: true });
    expect(t.check('gw', 3)).toEqual({ duplicate: true });
    expect(t.check('gw', 10)).toEqual({ duplicate: false, gap: 3 });
    expect(t.check('other', 1)).toEqual({ duplicate: false, gap: 0 });
  });

  it('restarts the window when the gateway announces a new outbox epoch', () => {
    const t = new SeqTracker([{ gateway: 'gw', epoch: 'a', highWater: 500 }]);
    t.observeEpoch('gw', 'a', 501);
    expect(t.check('gw', 501)).toEqual({ duplicate: false, gap: 0 });
    t.observeEpoch('gw', 'b', 1);
    expect(t.check('gw', 1)).toEqual({ duplicate: false, gap: 0 });
    expect(t.check('gw', 2)).toEqual({ duplicate: false, gap: 0 });
  });

  it('hands out changed marks once, and again after a failed store', () => {
    const t = new SeqTracker();
    t.check('gw', 1);
    const marks = t.takeDirty();
    expect(marks).toEqual([{ gateway: 'gw', epoch: null, highWater: 1 }]);
    expect(t.takeDirty()).toEqual([]);
    t.restoreDirty(marks);
    expect(t.takeDirty()).toEqual(marks);
  });
});
