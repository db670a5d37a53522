/**
 * The field's worst day, part two: the broker restarts and every gateway of the county reconnects
 * at once. Real parts: Mosquitto (the shipped configuration: no connection limits, so none is
 * locked out), two hub processes, PostgreSQL, Redis and InfluxDB; the gateways are the edge
 * agent's own uplinks and outboxes (tests/support/gateway-fleet.ts), each with its credential and
 * the agent's default backoff.
 *
 * 300 gateways by default (`QLY_STORM_GATEWAYS` for more); bench:cluster runs 2,000
 * (`storm_2000_s`). Asserted: all back and publishing — a message each, sent after the restart,
 * stored — within 120 s; ingest lag (send → stored) under 30 s; no gateway refused a connection.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ClusterHub, clusterPartsAvailable, login, TestCluster } from './support/cluster.ts';
import { brokerRestartStorm, GatewayFleet, provisionFleet } from './support/gateway-fleet.ts';
import { waitForCredential } from './support/stack.ts';
import { waitFor } from './support/wait.ts';

const SITE = 'demo-village';
const GATEWAYS = Number(process.env.QLY_STORM_GATEWAYS ?? 300);
const ALL_BACK_LIMIT_MS = 120_000;
const LAG_LIMIT_MS = 30_000;
const HAVE_PARTS = clusterPartsAvailable();

describe.skipIf(!HAVE_PARTS)(`${GATEWAYS} gateways reconnecting at once after a broker restart`, () => {
  const cluster = new TestCluster({ hubs: 2, slots: 2 });
  let fleet: GatewayFleet;

  beforeAll(async () => {
    await cluster.start();
    const hub = cluster.hubs[0] as ClusterHub;
    const token = await login(hub.base);
    const gateways = await provisionFleet(hub.base, token, SITE, GATEWAYS);
    const last = gateways[gateways.length - 1] as { id: string; password: string };
    await waitForCredential(cluster.mosquitto.url, last.id, last.password);
    fleet = new GatewayFleet(cluster.mosquitto.url, SITE, gateways);
    fleet.start();
    await waitFor('every gateway connected', () => fleet.connected === GATEWAYS, 120_000);
  }, 600_000);

  afterAll(async () => {
    await fleet?.stop();
    await cluster.stop();
  }, 60_000);

  it('all back and publishing within 120 s, ingest lag under 30 s, none locked out', async () => {
    const { allBackMs, worstLagMs: worstLag } = await brokerRestartStorm(
      cluster,
      fleet,
      ALL_BACK_LIMIT_MS,
    ).catch((err) => {
      throw new Error(
        `${(err as Error).message}\nhub-1: ${cluster.hubs[0]?.process.output.slice(-2000)}\nmosquitto: ${cluster.mosquitto.log().slice(-2000)}`,
      );
    });
    console.log(
      `${GATEWAYS} gateways: all back and publishing ${allBackMs} ms after the broker restart; worst ingest lag ${worstLag} ms`,
    );
    expect(fleet.connected).toBe(GATEWAYS);
    expect(allBackMs).toBeLessThan(ALL_BACK_LIMIT_MS);
    expect(worstLag).toBeLessThan(LAG_LIMIT_MS);
    // Nobody refused: Mosquitto logs a refused CONNECT as "not authorised" or "connection refused".
    const refused = cluster.mosquitto.log().match(/not authori[sz]ed|refused/gi) ?? [];
    expect(refused).toEqual([]);
  }, 300_000);
});
