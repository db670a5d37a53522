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
import { api, type TestCluster } from './cluster.ts';
import { sleep, waitFor } from './wait.ts';

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

/**
 * Restarts the cluster's broker under a connected fleet publishing every 5 s, and measures the
 * storm: when every gateway has a message sent after the restart stored (claimed in PostgreSQL),
 * and the worst send → stored lag of those messages. Throws after `limitMs` + 30 s.
 */
export async function brokerRestartStorm(
  cluster: TestCluster,
  fleet: GatewayFleet,
  limitMs = 120_000,
): Promise<{ allBackMs: number; worstLagMs: number }> {
  const n = fleet.gateways.length;
  let ticker = setInterval(() => fleet.sendAll(), 5000);
  fleet.sendAll();
  await sleep(3000);
  await cluster.mosquitto.stop();
  await waitFor('every gateway disconnected', () => fleet.connected === 0, 30_000);
  await sleep(2000);
  clearInterval(ticker);
  await cluster.mosquitto.start();
  const restartedAt = Date.now();
  // What each gateway sends from now on shows it is back: its first seq after the restart.
  const firstAfter = new Map(fleet.sendAll().map((seq, i) => [fleet.gateways[i]?.id as string, seq]));
  ticker = setInterval(() => fleet.sendAll(), 5000);
  const back = new Set<string>();
  let worstLagMs = 0;
  let allBackMs = 0;
  try {
    await waitFor(
      'every gateway back and publishing',
      () => {
        const rows = cluster.sql(
          `SELECT gateway, seq, claimed_at FROM ingest_claims WHERE lane = 'bulk' AND claimed_at >= ${restartedAt}`,
        );
        for (const [gateway, seq, at] of rows) {
          const sent = fleet.sentAt.get(`${gateway}/${seq}`);
          if (sent !== undefined && sent >= restartedAt) worstLagMs = Math.max(worstLagMs, Number(at) - sent);
          if (Number(seq) >= (firstAfter.get(gateway as string) ?? Number.POSITIVE_INFINITY))
            back.add(gateway as string);
        }
        if (back.size < n)
          throw new Error(
            `${back.size} of ${n} back, ${fleet.connected} connected; ${rows.length} claims since the restart, ${cluster.sql("SELECT count(*) FROM ingest_claims WHERE lane = 'bulk'")[0]?.[0]} in all`,
          );
        allBackMs = Date.now() - restartedAt;
        return true;
      },
      limitMs + 30_000,
      1000,
    );
  } finally {
    clearInterval(ticker);
  }
  return { allBackMs, worstLagMs };
}
