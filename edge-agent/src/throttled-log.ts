/**
 * Logs a line at most once per `intervalMs` per key (a reason, a source address), so a LAN host
 * that sends thousands of forged datagrams a second produces one line per interval, not megabytes.
 * Suppressed lines are counted and reported with the next line of that key. Keys are bounded: an
 * outsider chooses part of them (its address), so the table is pruned when it grows past `maxKeys`.
 * (The hub's `services/throttled-log.ts` is the same idea over Fastify's logger.)
 */
import type { Logger } from 'pino';

export class ThrottledLog {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly log: Logger,
    private readonly intervalMs = 10_000,
    private readonly maxKeys = 1000,
  ) {}

  warn(key: string, fields: object, message: string): void {
    const now = Date.now();
    const entry = this.last.get(key);
    if (entry && now - entry.at < this.intervalMs) {
      entry.suppressed += 1;
      return;
    }
    if (!entry && this.last.size >= this.maxKeys) this.prune(now);
    const suppressed = entry?.suppressed ?? 0;
    this.last.set(key, { at: now, suppressed: 0 });
    this.log.warn(suppressed > 0 ? { ...fields, suppressed } : fields, message);
  }

  private prune(now: number): void {
    for (const [key, entry] of this.last) if (now - entry.at >= this.intervalMs) this.last.delete(key);
    if (this.last.size >= this.maxKeys) this.last.clear();
  }
}
