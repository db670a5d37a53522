/**
 * The field's worst day, part one: a village's uplink cut while its gateways keep measuring at 50
 * messages a second each. Real parts: two hub processes on Mosquitto (shared subscriptions),
 * PostgreSQL (ingest claims), Redis and InfluxDB; each gateway is the edge agent's own outbox and
 * uplink, through a TCP proxy that resets every connection and refuses new ones while cut.
 *
 * Asserted: every message stored once and in the gateway's order (InfluxDB: 1…N, each seq once,
 * consecutive in time order; the claims in PostgreSQL: N distinct), the backlog stored within 2
 * minutes of reconnection while live data keeps flowing (the stored count catches up with what is
 * being sent now), and an event sent at reconnection stored at once, ahead of the backlog.
 *
 * The cut lasts 60 s by default; `QLY_UPLINK_CUT_S=600` runs the full 10 minutes of the issue
 * (docs/operations.md, "The field's worst days").
 */
import { topics } from '@qianliyan/protocols';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, type ClusterHub, clusterPartsAvailable, login, TestCluster } from './support/cluster.ts';
import { waitForCredential } from './support/stack.ts';
import { TcpProxy } from './support/tcp-proxy.ts';
import { startUplink } from './support/uplink.ts';
import { sleep, waitFor } from './support/wait.ts';

const SITE = 'demo-village';
const CUT_S = Number(process.env.QLY_UPLINK_CUT_S ?? 60);
const RATE = 50;
const GATEWAYS = ['gw-cut1', 'gw-cut2'];
const DRAIN_LIMIT_MS = 120_000;
const HAVE_PARTS = clusterPartsAvailable();

type Uplink = Awaited<ReturnType<typeof startUplink>>;

describe.skipIf(!HAVE_PARTS)(`an uplink cut for ${CUT_S} s at ${RATE} msg/s per gateway`, () => {
  const cluster = new TestCluster({ hubs: 2, slots: 2 });
  const proxies: TcpProxy[] = [];
  const uplinks: Uplink[] = [];
  let token = '';

  beforeAll(async () => {
    await cluster.start();
    const hub = cluster.hubs[0] as ClusterHub;
    token = await login(hub.base);
    for (const id of GATEWAYS) {
      const res = await api<{ password: string }>(hub.base, token, '/api/gateways', { id, site: SITE });
      expect(res.status).toBe(201);
      await waitForCredential(cluster.mosquitto.url, id, res.body.password);
      const proxy = new TcpProxy('127.0.0.1', cluster.mosquitto.port);
      await proxy.start();
      proxies.push(proxy);
      const uplink = await startUplink(`mqtt://127.0.0.1:${proxy.port}`, SITE, id, res.body.password);
      uplink.send(
        topics.meta(SITE, id, 'level'),
        {
          ts: Date.now(),
          kind: 'sensor',
          name: '水位',
          position: { lat: 30.04, lon: 119.95 },
          capabilities: [],
        },
        true,
      );
      uplinks.push(uplink);
    }
    for (const u of uplinks) await u.drained();
  }, 180_000);

  afterAll(async () => {
    for (const u of uplinks) await u.close().catch(() => {});
    for (const p of proxies) await p.stop();
    await cluster.stop();
  }, 60_000);

  /**
   * Per gateway, telemetry stored in the cluster (its claims: each message once) or, for the control
   * lane, the newest event stored (descriptors are not claimed).
   */
  const stored = (lane: 'bulk' | 'control') =>
    new Map(
      cluster
        .sql(
          `SELECT gateway, ${lane === 'bulk' ? 'count(*)' : 'max(seq)'} FROM ingest_claims WHERE lane = '${lane}' AND gateway LIKE 'gw-cut%' GROUP BY gateway`,
        )
        .map(([g, n]) => [g as string, Number(n)]),
    );

  it(
    'every message once and in order; the backlog stored within 2 minutes while live data flows',
    async () => {
      const sent = GATEWAYS.map(() => 0);
      /** How many each gateway had sent at a given time (for the catch-up check). */
      const sentAt: Array<{ at: number; counts: number[] }> = [];
      const started = Date.now();
      // Paced by the clock, not by the timer: a late tick sends what is due.
      const producer = setInterval(() => {
        const due = Math.floor(((Date.now() - started) / 1000) * RATE);
        uplinks.forEach((u, i) => {
          while ((sent[i] as number) < due) {
            sent[i] = (sent[i] as number) + 1;
            u.send(topics.telemetry(SITE, GATEWAYS[i] as string, 'level'), {
              ts: Date.now(),
              values: { n: sent[i] as number },
            });
          }
        });
        sentAt.push({ at: Date.now(), counts: [...sent] });
      }, 20);
      try {
        await sleep(5000);
        for (const p of proxies) p.cut();
        await sleep(CUT_S * 1000);
        const backlog = uplinks.map((u) => u.outbox.depth);
        const beforeRestore = [...sent];
        for (const p of proxies) p.restore();
        const restoredAt = Date.now();
        // Live news at reconnection: an event on the control lane.
        const eventSeqs = uplinks.map((u, i) =>
          u.send(topics.event(SITE, GATEWAYS[i] as string, 'level'), {
            ts: Date.now(),
            type: 'uplink_back',
            severity: 'info',
          }),
        );
        let eventMs: number | undefined;
        let drainMs: number | undefined;
        let caughtUpMs: number | undefined;
        await waitFor(
          'the backlog stored and the live data caught up',
          () => {
            const now = Date.now();
            const bulk = stored('bulk');
            if (eventMs === undefined) {
              const control = stored('control');
              if (GATEWAYS.every((g, i) => (control.get(g) ?? 0) >= (eventSeqs[i] as number)))
                eventMs = now - restoredAt;
            }
            if (
              drainMs === undefined &&
              GATEWAYS.every((g, i) => (bulk.get(g) ?? 0) >= (beforeRestore[i] as number))
            )
              drainMs = now - restoredAt;
            // Caught up: stored what had been sent two seconds before, with sending going on.
            const earlier = [...sentAt].reverse().find((s) => s.at <= now - 2000);
            if (
              caughtUpMs === undefined &&
              drainMs !== undefined &&
              earlier &&
              GATEWAYS.every((g, i) => (bulk.get(g) ?? 0) >= (earlier.counts[i] as number))
            )
              caughtUpMs = now - restoredAt;
            if (caughtUpMs !== undefined && eventMs !== undefined) return true;
            throw new Error(
              `event ${eventMs} ms, backlog ${drainMs} ms, caught up ${caughtUpMs} ms; stored ${JSON.stringify([...bulk])} control ${JSON.stringify([...stored('control')])}; sent ${sent} (${beforeRestore} before the restore); events ${eventSeqs}`,
            );
          },
          DRAIN_LIMIT_MS + 30_000,
          250,
        );
        console.log(
          `cut ${CUT_S} s: backlog ${backlog.join('+')} messages; after reconnection event stored in ${eventMs} ms, backlog in ${drainMs} ms, live caught up in ${caughtUpMs} ms`,
        );
        expect(Math.min(...backlog)).toBeGreaterThanOrEqual(CUT_S * RATE * 0.9);
        expect(drainMs).toBeLessThan(DRAIN_LIMIT_MS);
        expect(caughtUpMs).toBeLessThan(DRAIN_LIMIT_MS);
        expect(eventMs).toBeLessThan(15_000);
        await sleep(3000);
      } finally {
        clearInterval(producer);
      }
      for (const u of uplinks) await u.drained(60_000);
      // Every message once: the claims, then the points in InfluxDB, 1…N consecutive in time order.
      await waitFor(
        'every message claimed',
        () => GATEWAYS.every((g, i) => stored('bulk').get(g) === sent[i]),
        60_000,
      );
      for (const [i, g] of GATEWAYS.entries()) {
        await waitFor(
          `every point of ${g} in InfluxDB`,
          async () => {
            const r = (await cluster.influx.query(
              `SELECT count(qly_seq), min(qly_seq), max(qly_seq) FROM telemetry WHERE gateway = '${g}'`,
              'qianliyan',
            )) as { results: Array<{ series?: Array<{ values: Array<[string, number, number, number]> }> }> };
            const row = r.results[0]?.series?.[0]?.values[0];
            if (row?.[1] !== sent[i]) throw new Error(`${row?.[1]} of ${sent[i]}`);
            expect(row?.slice(1)).toEqual([sent[i], 1, sent[i]]);
            return true;
          },
          60_000,
        );
        const order = (await cluster.influx.query(
          `SELECT min(d), max(d) FROM (SELECT difference(qly_seq) AS d FROM telemetry WHERE gateway = '${g}')`,
          'qianliyan',
        )) as { results: Array<{ series?: Array<{ values: Array<[string, number, number]> }> }> };
        // In time order each point is the next seq: none missing, none twice, none out of order.
        expect(order.results[0]?.series?.[0]?.values[0]?.slice(1)).toEqual([1, 1]);
      }
    },
    (CUT_S + 360) * 1000,
  );
});
