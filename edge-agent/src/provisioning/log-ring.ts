/**
 * The agent's last log lines in memory, for `gateway.logs` (a bounded tail on demand). Lines are
 * what pino wrote, after its redaction (no password, no authorization header), each cut to 4 KiB;
 * the ring holds at most `capacity` lines and the answer at most MAX_LOG_TAIL_BYTES.
 */
import { MAX_LOG_TAIL_BYTES } from '@qianliyan/protocols';

const MAX_LINE = 4096;

export class LogRing {
  private readonly lines: string[] = [];
  private next = 0;

  constructor(private readonly capacity = 1000) {}

  /** pino's destination interface. */
  write(chunk: string): void {
    for (const line of chunk.split('\n')) {
      if (!line) continue;
      const cut = line.length > MAX_LINE ? `${line.slice(0, MAX_LINE)}…` : line;
      if (this.lines.length < this.capacity) this.lines.push(cut);
      else this.lines[this.next] = cut;
      this.next = (this.next + 1) % this.capacity;
    }
  }

  /** The newest `n` lines, oldest first, within the byte bound (newest kept). */
  tail(n: number): string[] {
    const ordered =
      this.lines.length < this.capacity
        ? this.lines
        : [...this.lines.slice(this.next), ...this.lines.slice(0, this.next)];
    const out: string[] = [];
    let bytes = 0;
    for (let i = ordered.length - 1; i >= 0 && out.length < n; i--) {
      const line = ordered[i] as string;
      bytes += Buffer.byteLength(line) + 8;
      if (bytes > MAX_LOG_TAIL_BYTES) break;
      out.push(line);
    }
    return out.reverse();
  }
}
