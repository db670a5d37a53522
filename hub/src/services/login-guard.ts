/**
 * Slows password guessing without letting a guesser lock the real user out.
 *
 * A hostile pass showed that locking a username after 5 failures let anyone who knows it keep the
 * duty officer out of the hub from any address (5 wrong passwords every 5 minutes). So:
 *  - a lockout is per (address, username) pair: `maxFailures` failures in a row from one address
 *    lock that address out of that username for `lockoutMs`; the user elsewhere is unaffected;
 *  - per username, from anywhere, failures within `lockoutMs` beyond `slowAfter` delay every further
 *    attempt on that username by `stepMs` per failure, at most `maxDelayMs` — a delay, never a
 *    refusal, so the real user still gets in (a few seconds later) while a distributed guesser is
 *    held to a few guesses a minute per connection;
 *  - per address, the login route's request limit (@fastify/rate-limit) bounds how many attempts one
 *    address makes at all.
 * Tracked in memory for any username, existing or not, so the answer does not reveal which accounts
 * exist; bounded, because usernames and addresses come from outsiders.
 */
export interface LoginGuardOptions {
  maxFailures: number;
  lockoutMs: number;
  slowAfter: number;
  stepMs: number;
  maxDelayMs: number;
  maxTracked?: number;
}

interface Entry {
  count: number;
  /** Pairs: locked until. Users: when the window of counted failures began. */
  since: number;
}

export class LoginGuard {
  private readonly pairs = new Map<string, Entry>();
  private readonly users = new Map<string, Entry>();
  private readonly maxTracked: number;

  constructor(private readonly options: LoginGuardOptions) {
    this.maxTracked = options.maxTracked ?? 50_000;
  }

  /** Milliseconds until this address may try this username again, or 0. */
  lockedFor(address: string, username: string, now = Date.now()): number {
    const entry = this.pairs.get(pairKey(address, username));
    return entry && entry.since > now ? entry.since - now : 0;
  }

  /** How long an attempt on `username` waits before its password is checked (0 when unattacked). */
  delayFor(username: string, now = Date.now()): number {
    const entry = this.users.get(username);
    if (!entry || now - entry.since >= this.options.lockoutMs) return 0;
    const over = entry.count - this.options.slowAfter;
    return over > 0 ? Math.min(this.options.maxDelayMs, over * this.options.stepMs) : 0;
  }

  /** Records a failure; returns true when it locked this address out of this username. */
  failed(address: string, username: string, now = Date.now()): boolean {
    const user = this.users.get(username);
    if (!user || now - user.since >= this.options.lockoutMs)
      this.track(this.users, username, { count: 1, since: now }, now);
    else user.count += 1;
    const key = pairKey(address, username);
    const pair = this.pairs.get(key) ?? { count: 0, since: 0 };
    pair.count += 1;
    let locked = false;
    if (pair.count >= this.options.maxFailures) {
      pair.since = now + this.options.lockoutMs;
      pair.count = 0;
      locked = true;
    }
    this.track(this.pairs, key, pair, now);
    return locked;
  }

  /** A success clears this address's failures for the username (the failures elsewhere still count). */
  succeeded(address: string, username: string): void {
    this.pairs.delete(pairKey(address, username));
  }

  private track(map: Map<string, Entry>, key: string, entry: Entry, now: number): void {
    if (map.size >= this.maxTracked && !map.has(key)) {
      // Pairs no longer locked, users whose window of failures has passed.
      const stale = (e: Entry) =>
        map === this.pairs ? e.since <= now : now - e.since >= this.options.lockoutMs;
      for (const [k, e] of map) if (stale(e)) map.delete(k);
      // Everything is current (a flood of distinct names): start over rather than grow.
      if (map.size >= this.maxTracked) map.clear();
    }
    map.set(key, entry);
  }
}

const pairKey = (address: string, username: string) => `${address}\n${username}`;
