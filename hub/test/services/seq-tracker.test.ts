import { describe, expect, it } from 'vitest';
import { SeqTracker } from '../../src/services/seq-tracker.ts';

const ok = (gap: number, newEpoch = false) => ({ accept: true, gap, newEpoch });

describe('SeqTracker', () => {
  it('accepts increasing seqs, drops repeats, counts gaps', () => {
    const t = new SeqTracker();
    expect(t.check('gw', 'bulk', 'e1', 5)).toEqual(ok(0, true)); // first contact: no gap assumed
    expect(t.check('gw', 'bulk', 'e1', 6)).toEqual(ok(0));
    expect(t.check('gw', 'bulk', 'e1', 6)).toEqual({ accept: false, reason: 'duplicate' });
    expect(t.check('gw', 'bulk', 'e1', 3)).toEqual({ accept: false, reason: 'duplicate' });
    expect(t.check('gw', 'bulk', 'e1', 10)).toEqual(ok(3));
    expect(t.check('other', 'bulk', 'x', 1)).toEqual(ok(0, true));
  });

  it('keeps one window per lane, so the control lane overtaking telemetry is not a duplicate', () => {
    const t = new SeqTracker();
    expect(t.check('gw', 'bulk', 'e1', 1).accept).toBe(true);
    expect(t.check('gw', 'bulk', 'e1', 2).accept).toBe(true);
    expect(t.check('gw', 'control', 'e1', 1).accept).toBe(true);
    expect(t.check('gw', 'bulk', 'e1', 3)).toEqual(ok(0));
    expect(t.check('gw', 'control', 'e1', 2)).toEqual(ok(0));
  });

  it('a fresh outbox on first contact is stored from its first message', () => {
    const t = new SeqTracker();
    for (let seq = 1; seq <= 20; seq++) expect(t.check('gw', 'bulk', 'fresh', seq).accept).toBe(true);
  });

  it('a wiped outbox (new epoch) restarts the window; the missing start of the new epoch is a gap', () => {
    const t = new SeqTracker();
    for (let seq = 1; seq <= 500; seq++) t.check('gw', 'bulk', 'old', seq);
    expect(t.check('gw', 'bulk', 'new', 1)).toEqual(ok(0, true));
    expect(t.check('gw', 'bulk', 'new', 2)).toEqual(ok(0));
    const u = new SeqTracker([{ gateway: 'gw', lane: 'bulk', epoch: 'old', highWater: 9, retired: [] }]);
    expect(u.check('gw', 'bulk', 'new', 4)).toEqual(ok(3, true)); // seqs 1–3 of the new epoch never came
  });

  it('refuses a retired epoch, so a replayed old stream cannot flip the window back', () => {
    const t = new SeqTracker();
    t.check('gw', 'bulk', 'old', 100);
    t.check('gw', 'bulk', 'new', 1);
    expect(t.check('gw', 'bulk', 'old', 101)).toEqual({ accept: false, reason: 'stale_epoch' });
    expect(t.check('gw', 'bulk', 'new', 2)).toEqual(ok(0));
  });

  it('survives a hub restart in between: marks reloaded, then the gateway is wiped', () => {
    const before = new SeqTracker();
    for (let seq = 1; seq <= 50; seq++) before.check('gw', 'bulk', 'old', seq);
    const stored = before.takeDirty();
    const after = new SeqTracker(stored);
    expect(after.check('gw', 'bulk', 'old', 50)).toEqual({ accept: false, reason: 'duplicate' });
    expect(after.check('gw', 'bulk', 'wiped', 1)).toEqual(ok(0, true));
    expect(after.highWater('gw', 'bulk')).toBe(1);
  });

  it('hands out changed marks once, again after a failed store, and forgets a deleted gateway', () => {
    const t = new SeqTracker();
    t.check('gw', 'bulk', 'e1', 1);
    const marks = t.takeDirty();
    expect(marks).toEqual([{ gateway: 'gw', lane: 'bulk', epoch: 'e1', highWater: 1, retired: [] }]);
    expect(t.takeDirty()).toEqual([]);
    t.restoreDirty(marks);
    expect(t.takeDirty()).toEqual(marks);
    t.forget('gw');
    expect(t.highWater('gw', 'bulk')).toBeUndefined();
  });
});
