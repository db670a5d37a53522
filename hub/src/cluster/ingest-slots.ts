/**
 * Ingest slots: how several hubs share the gateways' traffic and take over a dead hub's share.
 *
 * The share group has `cluster.ingestSlots` members, each a persistent MQTT session named
 * `<mqtt.username>-<n>` (n = 1…slots; Mosquitto's `use_username_as_clientid` makes the username the
 * client id) subscribed to `$share/<group>/qly/v1/#`. The broker deals each message to one member,
 * and keeps what it dealt to a member whose connection is gone — unacknowledged and queued — in that
 * member's session. A slot is held by one live hub at a time through a lease (leases.ts, a PostgreSQL
 * advisory lock): when a hub dies its leases end with its database connection, a survivor's next poll
 * takes the slot and connects with `clean: false`, and the broker hands it the session and its queue.
 * Redelivered messages the dead hub had already stored are found by their claims (ingest-claims.ts).
 *
 * Sharing out: a hub takes its preferred slot (from the number in its hubId) first, then free slots
 * while it holds fewer than its fair share (slots / live hubs, rounded up); a hub holding more than
 * its share gives back a slot it does not prefer (flushing first, so what it stored is acknowledged,
 * then disconnecting gracefully: the session stays for the next holder).
 */
import type { FastifyBaseLogger } from 'fastify';
import type { Leases } from './leases.ts';

export interface SlotClient {
  /** Ends the connection; `graceful`: DISCONNECT after the acks in flight (the session stays). */
  end(graceful: boolean): Promise<void>;
}

export interface IngestSlotsOptions {
  slots: number;
  hubId: string;
  pollMs: number;
  leases: Leases;
  log: FastifyBaseLogger;
  /** Connects slot `n`'s session (subscribing when the broker holds none). */
  open(n: number): SlotClient;
  /** Stores what is buffered, so its PUBACKs leave before a slot is given back. */
  flush(): Promise<void>;
}

/** The slot a hub prefers: the number at the end of its id (hub-2 → 2), else a hash of it. */
export function preferredSlot(hubId: string, slots: number): number {
  const digits = /(\d+)$/.exec(hubId)?.[1];
  if (digits) return ((Number(digits) - 1 + slots) % slots) + 1;
  let h = 0;
  for (const c of hubId) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return (h % slots) + 1;
}

const leaseName = (n: number) => `ingest-slot-${n}`;

export class IngestSlots {
  private readonly clients = new Map<number, SlotClient>();
  private timer: NodeJS.Timeout | undefined;
  private polling = false;
  private stopped = false;
  readonly preferred: number;

  constructor(private readonly o: IngestSlotsOptions) {
    this.preferred = preferredSlot(o.hubId, o.slots);
  }

  /** The slots this hub holds now. */
  get held(): number[] {
    return [...this.clients.keys()].sort((a, b) => a - b);
  }

  start(): void {
    void this.poll();
    this.timer = setInterval(() => void this.poll(), this.o.pollMs);
    this.timer.unref();
  }

  async poll(): Promise<void> {
    if (this.polling || this.stopped) return;
    this.polling = true;
    try {
      const { leases, slots } = this.o;
      leases.check();
      // A slot whose lease was lost (the database connection broke) is dropped at once: another hub
      // may hold it already.
      for (const n of this.held)
        if (!leases.holds(leaseName(n))) {
          this.o.log.warn({ slot: n }, 'ingest slot lost with its lease');
          await this.drop(n, false);
        }
      const fair = Math.ceil(slots / leases.liveHubs());
      const order = [this.preferred, ...Array.from({ length: slots }, (_, i) => i + 1)].filter(
        (n, i, all) => all.indexOf(n) === i,
      );
      for (const n of order) {
        if (this.clients.size >= fair) break;
        if (this.clients.has(n) || !leases.tryTake(leaseName(n))) continue;
        this.o.log.info({ slot: n }, 'ingest slot taken');
        this.clients.set(n, this.o.open(n));
      }
      const extra = this.held.filter((n) => n !== this.preferred).reverse();
      while (this.clients.size > fair && extra.length > 0) {
        const n = extra.shift() as number;
        this.o.log.info({ slot: n, fair }, 'ingest slot given back (more hubs are alive)');
        await this.o.flush();
        await this.drop(n, true);
      }
    } catch (err) {
      this.o.log.error({ err }, 'ingest slot poll failed');
    } finally {
      this.polling = false;
    }
  }

  private async drop(n: number, graceful: boolean): Promise<void> {
    const client = this.clients.get(n);
    this.clients.delete(n);
    await client?.end(graceful);
    this.o.leases.release(leaseName(n));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    for (const n of this.held) await this.drop(n, true);
  }
}
