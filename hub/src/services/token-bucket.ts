/**
 * A token bucket: `rate` tokens a second, at most `burst` saved up. `take` answers now or never;
 * `delayFor` reserves tokens on credit and says how long the caller must wait for them (a smooth
 * throttle), refusing (Infinity, nothing reserved) when that wait would exceed `maxWaitMs`.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly rate: number,
    readonly burst: number,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = burst;
    this.last = now();
  }

  private refill(): void {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
  }

  /** Whether `n` tokens are there now, without taking them. */
  has(n = 1): boolean {
    this.refill();
    return this.tokens >= n;
  }

  take(n = 1): boolean {
    this.refill();
    if (this.tokens < n) return false;
    this.tokens -= n;
    return true;
  }

  delayFor(n = 1, maxWaitMs = Number.POSITIVE_INFINITY): number {
    this.refill();
    const after = this.tokens - n;
    if (after >= 0) {
      this.tokens = after;
      return 0;
    }
    const wait = (-after / this.rate) * 1000;
    if (wait > maxWaitMs) return Number.POSITIVE_INFINITY;
    this.tokens = after;
    return wait;
  }
}
