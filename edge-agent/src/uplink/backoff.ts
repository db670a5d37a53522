/**
 * Exponential backoff with full jitter: the delay is uniform in [0, min(max, base·2^attempt)].
 * Full jitter spreads the reconnects of many gateways after a hub or uplink outage
 * (see the AWS Architecture Blog, "Exponential Backoff And Jitter").
 */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly baseMs: number,
    private readonly maxMs: number,
    private readonly random: () => number = Math.random,
  ) {}

  next(): number {
    const ceiling = Math.min(this.maxMs, this.baseMs * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 30);
    return Math.floor(this.random() * ceiling);
  }

  reset(): void {
    this.attempt = 0;
  }
}
