/**
 * The hub on InfluxDB, through real parts: a gateway's real outbox and uplink → the embedded broker →
 * the hub's ingest → the spool → a real `influxd` (password from a file). InfluxDB is stopped for
 * 60 s in the middle of a steady stream: the hub keeps acknowledging (the spool holds), then drains;
 * every message is stored once. History over REST is answered by InfluxDB.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { topics } from '@qianliyan/protocols';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InfluxTimeSeriesStore } from '../hub/src/stores/influx-timeseries.ts';
import { startTestHub, type TestHub } from './support/hub.ts';
import { InfluxServer, influxdAvailable } from './support/influxd.ts';
import { startUplink } from './support/uplink.ts';
import { sleep, waitFor } from './support/wait.ts';

const SITE = 'village-influx';
const GW = 'gw-influx';
const ADMIN = { username: 'hub', password: 'influx-hub-password' };

describe.skipIf(!influxdAvailable())('the hub on InfluxDB', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qly-influx-hub-'));
  let influx: InfluxServer;
  let hub: TestHub;
  const store = () => hub.app.timeseries as InfluxTimeSeriesStore;

  beforeAll(async () => {
    influx = new InfluxServer(ADMIN);
    await influx.start();
    writeFileSync(join(dir, 'influx.pw'), ADMIN.password);
    hub = await startTestHub({
      config: {
        timeseries: {
          backend: 'influxdb',
          influxdb: {
            url: influx.url,
            database: 'qly_hub',
            username: ADMIN.username,
            passwordFile: join(dir, 'influx.pw'),
            flushIntervalMs: 200,
            retryMinMs: 200,
            retryMaxMs: 2000,
            timeoutMs: 2000,
          },
        },
      },
    });
  }, 60_000);

  afterAll(async () => {
    await hub?.close();
    await influx?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('InfluxDB stopped for 60 s during ingest: the spool holds, then drains; no point lost, none twice', async () => {
    const password = await hub.provisionGateway(GW, SITE);
    const edge = await startUplink(hub.brokerUrl, SITE, GW, password);
    edge.send(topics.meta(SITE, GW, 'level'), {
      ts: Date.now(),
      kind: 'sensor',
      name: 'Water level',
      position: { lat: 30, lon: 120 },
      capabilities: [],
    });
    const topic = topics.telemetry(SITE, GW, 'level');
    let sent = 0;
    const started = Date.now();
    const ticker = setInterval(() => {
      sent += 1;
      edge.send(topic, { ts: Date.now(), values: { level: sent, ok: true } });
    }, 20);
    try {
      await sleep(3000);
      await influx.stop();
      const stoppedAt = Date.now();
      await waitFor('the hub notices', () => store().degraded, 10_000);
      await sleep(60_000 - (Date.now() - stoppedAt));
      // Everything sent during the outage was acknowledged by the hub: the gateway's outbox is empty.
      expect(edge.outbox.depth).toBeLessThan(50);
      expect(store().buffered).toBeGreaterThan(2000);
      expect(await hub.metric('qly_influx_send_errors_total', { reason: 'unreachable' })).toBeGreaterThan(0);
      await influx.start();
      await sleep(2000);
    } finally {
      clearInterval(ticker);
    }
    await edge.drained();
    await hub.app.ingest.flush();
    await store().sync(60_000);
    expect(store().degraded).toBe(false);
    const seqs = await store().seqsOf(GW);
    expect(seqs.length).toBe(sent);
    expect(new Set(seqs).size).toBe(sent);
    expect(await hub.metric('qly_influx_points_sent_total')).toBeGreaterThanOrEqual(sent);
    expect(await hub.metric('qly_influx_points_dropped_total', { reason: 'field_type_conflict' })).toBe(0);

    // History over REST comes from InfluxDB: one-second buckets of the stream.
    const res = await fetch(
      `${hub.baseUrl}/api/devices/${GW}.level/history?field=level&from=${started}&to=${Date.now()}&bucketMs=10000`,
      { headers: { authorization: `Bearer ${await hub.token()}` } },
    );
    expect(res.status).toBe(200);
    const body = (await res.json()) as { points: Array<{ count: number; max: number }> };
    expect(body.points.reduce((n, p) => n + p.count, 0)).toBe(sent);
    expect(Math.max(...body.points.map((p) => p.max))).toBe(sent);
    await edge.close();
  }, 150_000);
});
