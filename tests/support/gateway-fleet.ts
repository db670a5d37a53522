/**
 * Many gateways in one process, each the edge agent's own outbox (in memory) and uplink with its
 * own credential and the agent's default reconnect backoff (full jitter, 500 ms … 30 s): what a
 * county's villages do when their broker comes back. Used by the reconnect-storm test and
 * bench:cluster (`storm_2000_s`).
 */
import { topics } from '@qianliyan/protocols';
import pino from 'pino';
import { Outbox } from '../../edge-agent/src/uplink/outbox.ts';
import { Uplink } from '../../edge-agent/src/uplink/uplink.ts';
import { api } from './cluster.ts';

export interface FleetGateway {
  id: string;
  password: string;
}

/** Registers `count` gateways through the hub's REST API (it writes Mosquitto's password file). */
export async function provisionFleet(
  base: string,
  token: string,
  site: string,
  count: number,
  prefix = 'gw-s',
): Promise<FleetGateway[]> {
  const fleet: FleetGateway[] = [];
  for (let i = 0; i < count; i++) {
    const id = `${prefix}${i}`;
    const res = await api<{ password: string }>(base, token, '/api/gateways', { id, site });
    if (res.status !== 201) throw new Error(`gateway ${id}: ${res.status} ${JSON.stringify(res.body)}`);
    fleet.push({ id, password: res.body.password });
  }
  return fleet;
}

export class GatewayFleet {
  readonly uplinks: Uplink[] = [];
  readonly outboxes: Outbox[] = [];
  /** When each message was handed to its outbox: `${gateway}/${seq}` → ms. */
  readonly sentAt = new Map<string, number>();

  constructor(
    private readonly url: string,
    private readonly site: string,
    readonly gateways: FleetGateway[],
  ) {}

  start(): void {
    const log = pino({ level: 'silent' });
    for (const g of this.gateways) {
      const outbox = new Outbox({ path: ':memory:', maxMessages: 100_000, fsync: false });
      const uplink = new Uplink(
        {
          url: this.url,
          username: g.id,
          password: g.password,
          site: this.site,
          gateway: g.id,
          keepaliveS: 30,
          // The edge agent's defaults (edge-agent/src/config.ts).
          reconnectMinMs: 500,
          reconnectMaxMs: 30_000,
          inflightWindow: 100,
        },
        outbox,
        log,
      );
      uplink.start();
      this.outboxes.push(outbox);
      this.uplinks.push(uplink);
    }
  }

  get connected(): number {
    return this.uplinks.filter((u) => u.connected).length;
  }

  /** One reading from every gateway; returns each gateway's seq. */
  sendAll(): number[] {
    const now = Date.now();
    return this.gateways.map((g, i) => {
      const outbox = this.outboxes[i] as Outbox;
      const seq = outbox.enqueue(topics.telemetry(this.site, g.id, 'm'), { ts: now, values: { v: 1 } }, {});
      this.sentAt.set(`${g.id}/${seq}`, now);
      this.uplinks[i]?.pump();
      return seq;
    });
  }

  async stop(): Promise<void> {
    await Promise.allSettled(this.uplinks.map((u) => u.stop()));
    for (const o of this.outboxes) o.close();
  }
}
