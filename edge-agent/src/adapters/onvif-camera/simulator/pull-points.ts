/**
 * The simulated camera's event service: PullPoint subscriptions (ONVIF Core §9.1) that queue
 * notifications, answer PullMessages as soon as something is queued or at the client's timeout,
 * and expire at their termination time unless renewed. Queues and subscriptions are bounded.
 */
import { randomBytes } from 'node:crypto';

export interface SimpleItem {
  name: string;
  value: string;
}

export interface Notification {
  utc: string;
  topic: string;
  /** Absent for a plain event (e.g. a line crossed); Initialized / Changed for a property. */
  operation?: 'Initialized' | 'Changed' | 'Deleted';
  source: SimpleItem[];
  data: SimpleItem[];
}

interface Subscription {
  id: string;
  queue: Notification[];
  expires: number;
  waiter: (() => void) | undefined;
}

const MAX_SUBSCRIPTIONS = 16;
const MAX_QUEUE = 100;

export class PullPoints {
  private readonly subscriptions = new Map<string, Subscription>();
  /** Properties with their current value, sent as Initialized to each new subscription. */
  private readonly properties = new Map<string, Notification>();
  dropped = 0;
  /** Subscriptions created so far (tests wait for their own adapter's). */
  created = 0;

  constructor(private readonly now: () => number) {}

  create(ttlMs: number): { id: string; expires: number } | undefined {
    this.expire();
    if (this.subscriptions.size >= MAX_SUBSCRIPTIONS) return undefined;
    const id = randomBytes(6).toString('hex');
    const expires = this.now() + ttlMs;
    const queue = [...this.properties.values()].map((n) => ({ ...n, operation: 'Initialized' as const }));
    this.subscriptions.set(id, { id, queue, expires, waiter: undefined });
    this.created += 1;
    return { id, expires };
  }

  renew(id: string, ttlMs: number): number | undefined {
    const sub = this.live(id);
    if (!sub) return undefined;
    sub.expires = this.now() + ttlMs;
    return sub.expires;
  }

  unsubscribe(id: string): boolean {
    const sub = this.subscriptions.get(id);
    sub?.waiter?.();
    return this.subscriptions.delete(id);
  }

  get count(): number {
    this.expire();
    return this.subscriptions.size;
  }

  /** Waits up to `timeoutMs` for notifications; undefined when the subscription does not exist. */
  async pull(id: string, timeoutMs: number, limit: number): Promise<Notification[] | undefined> {
    const sub = this.live(id);
    if (!sub) return undefined;
    if (sub.queue.length === 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.min(timeoutMs, 60_000));
        function done() {
          clearTimeout(timer);
          sub!.waiter = undefined;
          resolve();
        }
        sub.waiter?.();
        sub.waiter = done;
      });
    }
    return sub.queue.splice(0, Math.max(1, limit));
  }

  publish(notification: Notification, property: boolean): void {
    if (property)
      this.properties.set(`${notification.topic}|${JSON.stringify(notification.source)}`, notification);
    this.expire();
    for (const sub of this.subscriptions.values()) {
      if (sub.queue.length >= MAX_QUEUE) {
        sub.queue.shift();
        this.dropped += 1;
      }
      sub.queue.push(notification);
      sub.waiter?.();
    }
  }

  close(): void {
    for (const sub of this.subscriptions.values()) sub.waiter?.();
    this.subscriptions.clear();
  }

  private live(id: string): Subscription | undefined {
    this.expire();
    return this.subscriptions.get(id);
  }

  private expire(): void {
    const now = this.now();
    for (const [id, sub] of this.subscriptions)
      if (sub.expires < now) {
        sub.waiter?.();
        this.subscriptions.delete(id);
      }
  }
}
