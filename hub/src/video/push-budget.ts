/**
 * What one gateway's pushed media may cost the hub. A gateway is in the village and may be in an
 * attacker's hands: its credential lets it open push sessions the hub asked for, and whatever it
 * sends on them is parsed and fanned out by the hub's one event loop. So every push is bounded
 * per stream (bytes and messages per second: small messages cost per message, not per byte) and
 * per gateway (bytes per second over all its streams, and the CPU time its media took to parse and
 * fan out). Over the CPU budget the gateway's sockets are paused until the next second — TCP
 * backpressure slows it down without losing a stream that is merely busy; over a rate, the
 * stream's connection is closed.
 */
import type { VideoRefusal } from './refusals.ts';

export interface PushLimits {
  maxPushBytesPerSecond: number;
  maxPushMessagesPerSecond: number;
  maxGatewayPushBytesPerSecond: number;
  maxGatewayCpuMsPerSecond: number;
}

/** A one-second counting window. */
export interface RateWindow {
  start: number;
  bytes: number;
  messages: number;
}

export const newWindow = (now = Date.now()): RateWindow => ({ start: now, bytes: 0, messages: 0 });

interface GatewayUse {
  window: RateWindow;
  cpuNs: number;
}

export class PushBudget {
  private readonly gateways = new Map<string, GatewayUse>();

  constructor(private readonly limits: PushLimits) {}

  /** Counts one message of a stream; the refusal when it crosses a limit. */
  admit(gateway: string, stream: RateWindow, bytes: number, now = Date.now()): VideoRefusal | undefined {
    roll(stream, now);
    stream.bytes += bytes;
    stream.messages += 1;
    const use = this.use(gateway, now);
    use.window.bytes += bytes;
    use.window.messages += 1;
    if (stream.bytes > this.limits.maxPushBytesPerSecond) return 'push_rate';
    if (stream.messages > this.limits.maxPushMessagesPerSecond) return 'push_message_rate';
    if (use.window.bytes > this.limits.maxGatewayPushBytesPerSecond) return 'push_gateway_rate';
    return undefined;
  }

  /**
   * Charges CPU time spent on a gateway's media. Returns how long to pause the gateway (ms, until
   * its window ends) when it has used its budget, else 0.
   */
  chargeCpu(gateway: string, ns: number, now = Date.now()): number {
    const use = this.use(gateway, now);
    use.cpuNs += ns;
    if (use.cpuNs <= this.limits.maxGatewayCpuMsPerSecond * 1e6) return 0;
    return Math.max(1, use.window.start + 1000 - now);
  }

  forget(gateway: string): void {
    this.gateways.delete(gateway);
  }

  private use(gateway: string, now: number): GatewayUse {
    let use = this.gateways.get(gateway);
    if (!use) {
      use = { window: newWindow(now), cpuNs: 0 };
      this.gateways.set(gateway, use);
    } else if (roll(use.window, now)) use.cpuNs = 0;
    return use;
  }
}

/** Starts a new window when a second has passed; whether it did. */
function roll(w: RateWindow, now: number): boolean {
  if (now - w.start < 1000) return false;
  w.start = now;
  w.bytes = 0;
  w.messages = 0;
  return true;
}
