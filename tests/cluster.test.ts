/**
 * Several hubs at once, through real parts: two hub processes on one PostgreSQL (state, leases,
 * ingest claims), Redis (socket.io adapter, hub-to-hub messages), Mosquitto (the shipped
 * configuration, `$share/` subscriptions) and InfluxDB (time series).
 */
import { topics } from '@qianliyan/protocols';
import { io, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, clusterPartsAvailable, login, TestCluster } from './support/cluster.ts';
import { startUplink } from './support/uplink.ts';
import { sleep, waitFor } from './support/wait.ts';

const SITE = 'village-c';
const CENTER = { lat: 31.5, lon: 121.2 };
const HAVE_PARTS = clusterPartsAvailable();

describe.skipIf(!HAVE_PARTS)('a cluster of two hubs', () => {
  const cluster = new TestCluster({
    hubs: 2,
    slots: 2,
    extra: {
      sites: [
        { id: 'county', name: '县', level: 'county' },
        { id: 'town', name: '镇', level: 'town', parent: 'county' },
        { id: SITE, name: '村', level: 'village', parent: 'town', center: CENTER },
      ],
      incidents: { acceptMs: 2000, warnBeforeMs: 0, sweepIntervalMs: 100 },
    },
  });
  const sockets: Socket[] = [];
  const closers: Array<() => Promise<unknown>> = [];
  let token = '';

  beforeAll(async () => {
    await cluster.start();
    token = await login(cluster.hubs[0]?.base as string);
  }, 120_000);

  afterAll(async () => {
    for (const s of sockets) s.close();
    for (const c of closers.reverse()) await c().catch(() => {});
    await cluster.stop();
  }, 60_000);

  const [a, b] = [
    () => cluster.hubs[0] as NonNullable<(typeof cluster.hubs)[0]>,
    () => cluster.hubs[1] as NonNullable<(typeof cluster.hubs)[0]>,
  ];

  async function gateway(id: string) {
    const res = await api<{ password: string }>(a().base, token, '/api/gateways', { id, site: SITE });
    expect(res.status).toBe(201);
    const { waitForCredential } = await import('./support/stack.ts');
    await waitForCredential(cluster.mosquitto.url, id, res.body.password);
    const uplink = await startUplink(cluster.mosquitto.url, SITE, id, res.body.password);
    closers.push(() => uplink.close());
    return uplink;
  }

  function socketOn(base: string, auth: string): Promise<Socket> {
    const socket = io(base, { path: '/socket.io', transports: ['websocket'], auth: { token: auth } });
    sockets.push(socket);
    return new Promise((resolve, reject) => {
      socket.once('connect', () => resolve(socket));
      socket.once('connect_error', reject);
    });
  }

  it('shares the ingest slots out: each hub holds one, one scheduler in the cluster', async () => {
    await waitFor('two ingest slots held by two hubs', () => {
      const held = cluster.sql(
        "SELECT count(DISTINCT pid) FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE l.locktype = 'advisory' AND a.application_name LIKE 'qlyleases-%'",
      );
      return held[0]?.[0] === '2';
    });
    // The scheduler lease is one advisory lock more, held by one connection only.
    const locks = Number(
      cluster.sql(
        "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE l.locktype = 'advisory' AND a.application_name LIKE 'qlyleases-%'",
      )[0]?.[0],
    );
    expect(locks).toBe(3);
  });

  it('a dashboard on either hub sees what the other ingested: alarms, device values', async () => {
    const uplink = await gateway('gw-live');
    const onA = await socketOn(a().base, token);
    const onB = await socketOn(b().base, token);
    const alarms: Array<Set<string>> = [new Set(), new Set()];
    onA.on('alarm', (al: { device: string }) => alarms[0]?.add(al.device));
    onB.on('alarm', (al: { device: string }) => alarms[1]?.add(al.device));
    const devices = Array.from({ length: 12 }, (_, i) => `s${i}`);
    for (const d of devices)
      uplink.send(topics.meta(SITE, 'gw-live', d), {
        ts: Date.now(),
        kind: 'sensor',
        name: d,
        position: CENTER,
        capabilities: [],
      });
    await uplink.drained();
    await waitFor('both hubs know the devices', async () => {
      const [la, lb] = await Promise.all(
        [a(), b()].map((h) => api<unknown[]>(h.base, token, '/api/devices').then((r) => r.body.length)),
      );
      return la === devices.length && lb === devices.length;
    });
    for (const d of devices)
      uplink.send(topics.event(SITE, 'gw-live', d), { ts: Date.now(), type: 'intrusion', severity: 'alarm' });
    await uplink.drained();
    await waitFor(
      'every alarm on both dashboards',
      () => alarms[0]?.size === devices.length && alarms[1]?.size === devices.length,
    );
    // The broker dealt the events to both hubs, and each relayed its own to the other.
    expect(
      await a().metric(token, 'qly_cluster_fanout_total', { event: 'qly:live', direction: 'in' }),
    ).toBeGreaterThan(0);
    expect(
      await b().metric(token, 'qly_cluster_fanout_total', { event: 'qly:live', direction: 'in' }),
    ).toBeGreaterThan(0);
    // Each alarm raised once in the shared database.
    expect(cluster.sql('SELECT count(*) FROM alarms')[0]?.[0]).toBe(String(devices.length));
    // A value sent now is on both hubs' registries (one ingested it, the other heard it over Redis).
    for (const d of devices)
      uplink.send(topics.telemetry(SITE, 'gw-live', d), { ts: Date.now(), values: { level: 7.5 } });
    await uplink.drained();
    for (const hub of [a(), b()])
      await waitFor(`values on ${hub.id}`, async () => {
        const list = (await api<Array<{ values: { level?: number } }>>(hub.base, token, '/api/devices')).body;
        return list.every((d) => d.values.level === 7.5);
      });
  });

  it('a session revoked on one hub is refused on the other at once, its socket closed', async () => {
    const session = await login(a().base);
    const socket = await socketOn(b().base, session);
    const closed = new Promise<void>((resolve) => socket.once('disconnect', () => resolve()));
    expect((await api(b().base, session, '/api/auth/me')).status).toBe(200);
    expect((await api(a().base, session, '/api/auth/logout', {})).status).toBeLessThan(300);
    expect((await api(b().base, session, '/api/auth/me')).status).toBe(401);
    await closed;
  });

  it('an SLA breach fires once in the cluster', async () => {
    const created = await api<{ id: number }>(a().base, token, '/api/incidents', {
      title: '堤坝渗水',
      category: 'flood',
      site: SITE,
    });
    expect(created.status).toBe(201);
    const id = created.body.id;
    await waitFor(
      'the accept SLA breached',
      () =>
        cluster.sql(
          `SELECT count(*) FROM incident_events WHERE incident = ${id} AND action = 'sla_breach'`,
        )[0]?.[0] === '1',
      10_000,
    );
    await sleep(1000);
    expect(
      cluster.sql(
        `SELECT count(*) FROM incident_events WHERE incident = ${id} AND action = 'sla_breach'`,
      )[0]?.[0],
    ).toBe('1');
  });

  it('SIGKILL of a hub mid-ingest: every message stored exactly once, the survivor takes its session', async () => {
    const gateways = ['gw-k1', 'gw-k2'];
    const uplinks = await Promise.all(gateways.map((id) => gateway(id)));
    const sent: number[][] = gateways.map(() => []);
    // 10 messages per gateway every 10 ms: 2,000 messages a second in all.
    const producer = setInterval(() => {
      uplinks.forEach((u, i) => {
        for (let k = 0; k < 10; k++)
          sent[i]?.push(
            u.send(topics.telemetry(SITE, gateways[i] as string, `d${k % 5}`), {
              ts: Date.now(),
              values: { k },
            }),
          );
      });
    }, 10);
    try {
      await sleep(2000);
      await a().process.stop('SIGKILL');
      await sleep(2000);
    } finally {
      clearInterval(producer);
    }
    for (const u of uplinks) await u.drained(60_000);
    const total = sent.reduce((n, s) => n + s.length, 0);
    // 2,000 a second when the machine keeps up; at least a thousand around the kill under load.
    expect(total).toBeGreaterThan(1000);
    // The survivor took the dead hub's slot (and with it the messages dealt to it, unacknowledged):
    // its lease connection holds both slots and the scheduler.
    await waitFor('the survivor holds every lease', () => {
      const held = cluster.sql(
        "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE l.locktype = 'advisory' AND a.application_name = 'qlyleases-hub-2'",
      );
      return held[0]?.[0] === '3';
    });
    await waitFor(
      `every message claimed (${total})`,
      () => {
        const n = Number(
          cluster.sql(`SELECT count(*) FROM ingest_claims WHERE gateway IN ('gw-k1', 'gw-k2')`)[0]?.[0],
        );
        return n >= total;
      },
      60_000,
    );
    const claims = cluster.sql(
      `SELECT gateway, count(*), count(DISTINCT seq), min(seq), max(seq) FROM ingest_claims WHERE gateway IN ('gw-k1', 'gw-k2') GROUP BY gateway ORDER BY gateway`,
    );
    expect(claims).toEqual(
      gateways.map((g, i) => [
        g,
        String(sent[i]?.length),
        String(sent[i]?.length),
        '1',
        String(sent[i]?.length),
      ]),
    );
    // The dead hub comes back and takes a share again.
    await a().process.start();
    await waitFor(
      'two hubs hold slots again',
      () => {
        const held = cluster.sql(
          "SELECT count(DISTINCT pid) FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE l.locktype = 'advisory' AND a.application_name LIKE 'qlyleases-%'",
        );
        return held[0]?.[0] === '2';
      },
      20_000,
    );
    // In InfluxDB: each seq once. What the killed hub had stored in its spool and not yet sent
    // reaches InfluxDB now that it is back on its data directory.
    await waitFor(
      'every point in InfluxDB',
      async () => {
        const r = (await cluster.influx.query(
          `SELECT count(qly_seq) FROM telemetry WHERE gateway = 'gw-k1' OR gateway = 'gw-k2'`,
          'qianliyan',
        )) as { results: Array<{ series?: Array<{ values: Array<[string, number]> }> }> };
        const n = r.results[0]?.series?.[0]?.values[0]?.[1];
        if (n !== total) throw new Error(`${n} of ${total}`);
        return true;
      },
      60_000,
    );
  }, 240_000);
});
