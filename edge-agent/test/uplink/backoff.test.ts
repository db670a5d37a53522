import { describe, expect, it } from 'vitest';
import { Backoff } from '../../src/uplink/backoff.ts';

describe('Backoff (exponential, full jitter)', () => {
  it('doubles the ceiling per attempt up to the maximum', () => {
    const b = new Backoff(100, 1000, () => 0.999999);
    expect([b.next(), b.next(), b.next(), b.next(), b.next(), b.next()]).toEqual([
      99, 199, 399, 799, 999, 999,
    ]);
  });

  it('spreads delays uniformly below the ceiling', () => {
    const b = new Backoff(100, 1000, () => 0);
    expect(b.next()).toBe(0);
    const seen = new Set<number>();
    const real = new Backoff(1000, 1000);
    for (let i = 0; i < 200; i++) seen.add(Math.floor(real.next() / 100));
    expect(seen.size).toBeGreaterThanOrEqual(8); // most of the ten 100 ms slots are hit
  });

  it('starts over after reset', () => {
    const b = new Backoff(100, 10_000, () => 0.5);
    b.next();
    b.next();
    b.next();
    b.reset();
    expect(b.next()).toBe(50);
  });
});
