/**
 * Locks a username for `lockoutMs` after `maxFailures` failed logins in a row (a success resets
 * the count). Tracked in memory for any username, existing or not, so the answer does not reveal
 * which accounts exist; bounded, because the usernames come from outsiders. Works with the
 * per-address and per-username request limits on the login route (@fastify/rate-limit).
 */
export class LoginGuard {
  private readonly failures = new Map<string, { count: number; lockedUntil: number }>();

  constructor(
    private readonly maxFailures: number,
    private readonly lockoutMs: number,
    private readonly maxTracked = 50_000,
  ) {}

  /** Milliseconds until the username may try again, or 0. */
  lockedFor(username: string, now = Date.now()): number {
    const entry = this.failures.get(username);
    return entry && entry.lockedUntil > now ? entry.lockedUntil - now : 0;
  }

  /** Records a failure; returns true when it locked the username. */
  failed(username: string, now = Date.now()): boolean {
    if (this.failures.size >= this.maxTracked && !this.failures.has(username)) this.prune(now);
    const entry = this.failures.get(username) ?? { count: 0, lockedUntil: 0 };
    entry.count += 1;
    let locked = false;
    if (entry.count >= this.maxFailures) {
      entry.lockedUntil = now + this.lockoutMs;
      entry.count = 0;
      locked = true;
    }
    this.failures.set(username, entry);
    return locked;
  }

  succeeded(username: string): void {
    this.failures.delete(username);
  }

  private prune(now: number): void {
    for (const [name, e] of this.failures) if (e.lockedUntil <= now) this.failures.delete(name);
    if (this.failures.size >= this.maxTracked) this.failures.clear();
  }
}
