/**
 * Logs a line at most once per `intervalMs` per key (e.g. gateway and reason), so a client that
 * misbehaves thousands of times a second produces one line a second, not megabytes. Suppressed lines
 * are counted and reported with the next line of that key. Keys are bounded: an outsider chooses
 * part of them (a topic's gateway segment, a source address), so the table is pruned when it grows
 * past `maxKeys`. Shared by the hub and the edge agent.
 */
/** What it writes to: pino, and Fastify's logger (which is pino). */
export interface LevelLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

export class ThrottledLog {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly log: LevelLogger,
    private readonly intervalMs = 1000,
    private readonly maxKeys = 10_000,
  ) {}

  warn(key: string, fields: object, message: string): void {
    this.write('warn', key, fields, message);
  }

  error(key: string, fields: object, message: string): void {
    this.write('error', key, fields, message);
  }

  /** Writes the line unless the same key was written less than `intervalMs` ago. */
  write(level: 'info' | 'warn' | 'error', key: string, fields: object, message: string): void {
    const now = Date.now();
    const entry = this.last.get(key);
    if (entry && now - entry.at < this.intervalMs) {
      entry.suppressed += 1;
      return;
    }
    if (!entry && this.last.size >= this.maxKeys) this.prune(now);
    const suppressed = entry?.suppressed ?? 0;
    this.last.set(key, { at: now, suppressed: 0 });
    this.log[level](suppressed > 0 ? { ...fields, suppressed } : fields, message);
  }

  private prune(now: number): void {
    for (const [key, entry] of this.last) if (now - entry.at >= this.intervalMs) this.last.delete(key);
    // Everything is recent (a flood of distinct keys): start over rather than grow.
    if (this.last.size >= this.maxKeys) this.last.clear();
  }
}
