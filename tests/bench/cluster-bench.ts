/**
 * `npm run bench:cluster` — ingest through 1, 2 and 3 hub processes (`BENCH_HUBS`, "1,2,3") on one
 * real Mosquitto (shared subscriptions), PostgreSQL, Redis and InfluxDB, a fresh set of each per
 * row. `BENCH_GATEWAYS` (4) in-process gateway uplinks (the edge agent's outbox and uplink) publish
 * `BENCH_MESSAGES` (20,000) telemetry messages as fast as the broker takes them. Per row:
 * messages/s (first publish → every message claimed in PostgreSQL), the hubs' CPU microseconds per
 * stored message (all hub processes, /proc/PID/stat), lost and duplicates (claims against what was
 * sent, InfluxDB's count against the claims). The figures are ratios against the one-hub row of the
 * same run (the baseline). With two hubs or more, one hub is SIGKILLed mid-run: failover is the gap
 * in storing around the kill (the last claim before it → the first claim by a survivor after it).
 * Then the reconnect storm: `BENCH_STORM_GATEWAYS` (2,000) gateways (the edge agent's uplinks, one
 * process) on a cluster of the last row's size, the broker restarted under them: seconds until every
 * one has a message sent after the restart stored (`storm_2000_s`; `BENCH_STORM_GATEWAYS=0` skips).
 * Last line: {"bench":"cluster",…}.
 */
import { readFileSync } from 'node:fs';
import { topics } from '@qianliyan/protocols';
import { api, clusterPartsAvailable, login, TestCluster } from '../support/cluster.ts';
import { brokerRestartStorm, GatewayFleet, provisionFleet } from '../support/gateway-fleet.ts';
import { waitForCredential } from '../support/stack.ts';
import { startUplink } from '../support/uplink.ts';
import { sleep, waitFor } from '../support/wait.ts';

const HUBS = (process.env.BENCH_HUBS ?? '1,2,3').split(',').map(Number);
const GATEWAYS = Number(process.env.BENCH_GATEWAYS ?? 4);
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 20_000);
const SITE = 'bench';
const TICK_US = 1e6 / 100; // USER_HZ
const STORM_GATEWAYS = Number(process.env.BENCH_STORM_GATEWAYS ?? 2000);

if (!clusterPartsAvailable()) process.exit(1);

function cpuUs(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[11]) + Number(fields[12])) * TICK_US;
  } catch {
    return 0;
  }
}

interface Row {
  hubs: number;
  msgsPerS: number;
  cpuUsPerMsg: number;
  lost: number;
  duplicates: number;
  failoverMs: number | null;
}

async function run(hubs: number): Promise<Row> {
  const cluster = new TestCluster({ hubs, slots: 3 });
  try {
    await cluster.start();
    const first = cluster.hubs[0] as NonNullable<(typeof cluster.hubs)[0]>;
    const token = await login(first.base);
    const uplinks = [];
    for (let g = 0; g < GATEWAYS; g++) {
      const id = `gw-${g}`;
      const res = await api<{ password: string }>(first.base, token, '/api/gateways', { id, site: SITE });
      await waitForCredential(cluster.mosquitto.url, id, res.body.password);
      uplinks.push(await startUplink(cluster.mosquitto.url, SITE, id, res.body.password));
    }
    await waitFor(
      'every slot held',
      () =>
        cluster.sql(
          "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE l.locktype = 'advisory' AND a.application_name LIKE 'qlyleases-%'",
        )[0]?.[0] === '4',
      20_000,
    );
    const pids = cluster.hubs.map((h) => h.process.pid);
    const cpuBefore = pids.map(cpuUs);
    const started = Date.now();
    const perGateway = Math.floor(MESSAGES / GATEWAYS);
    const total = perGateway * GATEWAYS;
    // Enqueued in slices so the outboxes and the hubs work at the same time.
    let killedAt: number | undefined;
    let killedCpu = 0;
    for (let i = 0; i < perGateway; i += 500) {
      uplinks.forEach((u, g) => {
        for (let k = i; k < Math.min(perGateway, i + 500); k++)
          u.send(topics.telemetry(SITE, `gw-${g}`, `d${k % 10}`), { ts: Date.now(), values: { k } });
      });
      if (hubs > 1 && killedAt === undefined && i >= perGateway / 2) {
        const victim = cluster.hubs[hubs - 1];
        killedCpu = cpuUs(victim?.process.pid) - (cpuBefore[hubs - 1] ?? 0);
        killedAt = Date.now();
        await victim?.process.stop('SIGKILL');
      }
      await sleep(5);
    }
    const claimed = () =>
      Number(cluster.sql("SELECT count(*) FROM ingest_claims WHERE gateway LIKE 'gw-%'")[0]?.[0]);
    await waitFor(`all ${total} claimed`, () => claimed() >= total, 300_000, 100);
    const elapsed = (Date.now() - started) / 1000;
    const cpu =
      cluster.hubs.reduce(
        // The killed hub's /proc entry is gone: its share was read just before the kill.
        (sum, h, i) =>
          killedAt !== undefined && i === hubs - 1 ? sum : sum + (cpuUs(h.process.pid) - (cpuBefore[i] ?? 0)),
        0,
      ) + killedCpu;
    const distinct = Number(
      cluster.sql(
        "SELECT count(*) FROM (SELECT DISTINCT gateway, seq FROM ingest_claims WHERE gateway LIKE 'gw-%') d",
      )[0]?.[0],
    );
    let failoverMs: number | null = null;
    if (killedAt !== undefined) {
      const before = Number(
        cluster.sql(`SELECT max(claimed_at) FROM ingest_claims WHERE claimed_at <= ${killedAt}`)[0]?.[0],
      );
      // The gap: the longest pause between consecutive claims after the kill.
      const after = cluster
        .sql(
          `SELECT claimed_at FROM ingest_claims WHERE claimed_at >= ${before} GROUP BY claimed_at ORDER BY claimed_at`,
        )
        .map((r) => Number(r[0]));
      failoverMs = 0;
      for (let i = 1; i < after.length; i++)
        failoverMs = Math.max(failoverMs, (after[i] as number) - (after[i - 1] as number));
    }
    for (const u of uplinks) await u.close();
    return {
      hubs,
      msgsPerS: Math.round(total / elapsed),
      cpuUsPerMsg: Math.round(cpu / total),
      lost: total - distinct,
      duplicates: claimed() - distinct,
      failoverMs,
    };
  } finally {
    await cluster.stop();
  }
}

const rows: Row[] = [];
for (const n of HUBS) {
  const row = await run(n);
  rows.push(row);
  process.stdout.write(
    `${n} hub(s): ${row.msgsPerS} msgs/s, ${row.cpuUsPerMsg} µs CPU per message (all hubs), lost ${row.lost}, duplicates ${row.duplicates}${row.failoverMs !== null ? `, failover ${row.failoverMs} ms (one hub SIGKILLed)` : ''}\n`,
  );
}
/** The broker restarted under STORM_GATEWAYS connected gateways: seconds until all are back and publishing. */
async function storm(hubs: number): Promise<{ seconds: number; worstLagMs: number }> {
  const cluster = new TestCluster({ hubs, slots: 3 });
  let fleet: GatewayFleet | undefined;
  try {
    await cluster.start();
    const first = cluster.hubs[0] as NonNullable<(typeof cluster.hubs)[0]>;
    const token = await login(first.base);
    const gateways = await provisionFleet(first.base, token, SITE, STORM_GATEWAYS);
    const last = gateways[gateways.length - 1] as { id: string; password: string };
    await waitForCredential(cluster.mosquitto.url, last.id, last.password);
    fleet = new GatewayFleet(cluster.mosquitto.url, SITE, gateways);
    fleet.start();
    const f = fleet;
    await waitFor('every gateway connected', () => f.connected === STORM_GATEWAYS, 300_000, 500);
    const { allBackMs, worstLagMs } = await brokerRestartStorm(cluster, fleet, 300_000);
    return { seconds: Number((allBackMs / 1000).toFixed(1)), worstLagMs };
  } finally {
    await fleet?.stop();
    await cluster.stop();
  }
}

let stormS: number | null = null;
if (STORM_GATEWAYS > 0) {
  const s = await storm(rows[rows.length - 1]?.hubs ?? 3);
  stormS = s.seconds;
  process.stdout.write(
    `reconnect storm: ${STORM_GATEWAYS} gateways all back and publishing ${s.seconds} s after a broker restart; worst ingest lag ${s.worstLagMs} ms\n`,
  );
}

const base = rows.find((r) => r.hubs === 1);
const last = rows[rows.length - 1] as Row;
if (base)
  for (const r of rows)
    process.stdout.write(
      `  ${r.hubs} hub(s) against one: throughput ×${(r.msgsPerS / base.msgsPerS).toFixed(2)}, CPU per message ×${(r.cpuUsPerMsg / base.cpuUsPerMsg).toFixed(2)}\n`,
    );
process.stdout.write(
  `${JSON.stringify({
    bench: 'cluster',
    hubs: last.hubs,
    lost: rows.reduce((n, r) => n + r.lost, 0),
    duplicates: rows.reduce((n, r) => n + r.duplicates, 0),
    failover_ms: Math.max(0, ...rows.map((r) => r.failoverMs ?? 0)),
    [`storm_${STORM_GATEWAYS}_s`]: stormS,
    cpu_us_per_msg_1: base?.cpuUsPerMsg ?? null,
    [`cpu_us_per_msg_${last.hubs}`]: last.cpuUsPerMsg,
    cpu_ratio: base ? Number((last.cpuUsPerMsg / base.cpuUsPerMsg).toFixed(2)) : null,
    msgs_per_s_1: base?.msgsPerS ?? null,
    [`msgs_per_s_${last.hubs}`]: last.msgsPerS,
  })}\n`,
);
process.exit(0);
