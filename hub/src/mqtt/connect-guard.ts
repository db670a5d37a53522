/**
 * How fast the embedded broker answers a failed MQTT CONNECT.
 *
 * The hostile pass: limiting attempts per *username* let a stranger who knew a gateway's id (it is in
 * every topic) lock the real gateway out — 35 bad CONNECTs, then one every 2 s kept it refused half
 * the time. A credential is not a stranger's to spend, so the broker checks the password first
 * (gateway credentials are salted SHA-256 of a long random secret: cheap to check, hopeless to
 * guess) and accepts a correct one whatever others did — even from the attacker's own address (a
 * gateway behind the same carrier NAT). Only failures are throttled, and only by *where they come
 * from*:
 *  - each source address (an IPv6 /64 counts as one: one host owns a whole prefix) has a budget of
 *    `failuresPerMinutePerAddress`; past it, its failures are answered after `maxFailureDelayMs`;
 *  - hub-wide, failures are answered at `failuresPerSecond` at most (a guesser spread over many
 *    addresses waits in one queue), never later than `maxFailureDelayMs`;
 *  - a connection waiting for its failure answer is held; past `maxHeldPerAddress` from one address
 *    (or `maxHeld` in all) a failed connection is dropped at once without an answer, so holding costs
 *    bounded memory.
 * Bounded tables: addresses come from outsiders.
 */
import { isIPv6 } from 'node:net';
import { TokenBucket } from '../services/token-bucket.ts';

export interface ConnectGuardOptions {
  failuresPerMinutePerAddress: number;
  failuresPerSecond: number;
  maxFailureDelayMs: number;
  maxHeldPerAddress?: number;
  maxHeld?: number;
  maxTracked?: number;
}

/** What to do with a failed CONNECT: answer it after `delayMs`, or drop the connection now. */
export type FailureVerdict =
  | { action: 'answer'; delayMs: number; overBudget: boolean; release: () => void }
  | { action: 'drop' };

export class ConnectGuard {
  private readonly addresses = new Map<string, { bucket: TokenBucket; held: number }>();
  private readonly global: TokenBucket;
  private held = 0;

  constructor(
    private readonly options: ConnectGuardOptions,
    private readonly now: () => number = Date.now,
  ) {
    this.global = new TokenBucket(options.failuresPerSecond, options.failuresPerSecond, now);
  }

  /** A wrong credential from `address`: when (and whether) to answer it. */
  failed(address: string): FailureVerdict {
    const key = addressKey(address);
    let entry = this.addresses.get(key);
    if (!entry) {
      if (this.addresses.size >= (this.options.maxTracked ?? 50_000)) this.prune();
      const perMinute = this.options.failuresPerMinutePerAddress;
      entry = { bucket: new TokenBucket(perMinute / 60, perMinute, this.now), held: 0 };
      this.addresses.set(key, entry);
    }
    if (entry.held >= (this.options.maxHeldPerAddress ?? 20) || this.held >= (this.options.maxHeld ?? 2000))
      return { action: 'drop' };
    const overBudget = !entry.bucket.take();
    const queued = this.global.delayFor(1, this.options.maxFailureDelayMs);
    const delayMs = overBudget
      ? this.options.maxFailureDelayMs
      : Number.isFinite(queued)
        ? queued
        : this.options.maxFailureDelayMs;
    entry.held += 1;
    this.held += 1;
    const held = entry;
    let released = false;
    return {
      action: 'answer',
      delayMs,
      overBudget,
      release: () => {
        if (released) return;
        released = true;
        held.held -= 1;
        this.held -= 1;
      },
    };
  }

  private prune(): void {
    for (const [k, e] of this.addresses)
      if (e.held === 0 && e.bucket.has(e.bucket.burst)) this.addresses.delete(k);
    if (this.addresses.size >= (this.options.maxTracked ?? 50_000))
      for (const [k, e] of this.addresses) if (e.held === 0) this.addresses.delete(k);
  }
}

/** An IPv4-mapped address as IPv4; an IPv6 address as its /64 (one host owns a whole prefix). */
export function addressKey(address: string): string {
  const plain = address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
  if (!isIPv6(plain)) return plain;
  const [head = '', tail = ''] = plain.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = plain.includes('::')
    ? [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right]
    : left;
  return `${groups
    .slice(0, 4)
    .map((g) => g.toLowerCase())
    .join(':')}::/64`;
}
