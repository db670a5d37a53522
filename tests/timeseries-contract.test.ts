/**
 * One contract, two stores: the embedded SQLite store and the InfluxDB store against a real `influxd`
 * (Debian's `influxdb`, started here with its own config and data dir on a free loopback port).
 * Round trip, downsampling, latest values, out-of-order and duplicate points, empty and huge ranges,
 * UTC storage, events, dedup marks. The SQLite store's rollups and retention have their own tests
 * below; the InfluxDB store's spool, outage and refused points too.
 */

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDeviceKey } from '@qianliyan/protocols';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type InfluxStoreOptions, InfluxTimeSeriesStore } from '../hub/src/stores/influx-timeseries.ts';
import { SqliteTimeSeriesStore } from '../hub/src/stores/sqlite-timeseries.ts';
import type { TelemetryRecord, TimeSeriesStore } from '../hub/src/stores/timeseries.ts';
import { InfluxServer, influxdAvailable } from './support/influxd.ts';
import { sleep, waitFor } from './support/wait.ts';

const HAVE_INFLUXD = influxdAvailable();
const dir = mkdtempSync(join(tmpdir(), 'qly-ts-contract-'));
const ADMIN = { username: 'qly-admin', password: 'influx-test-password' };
let influx: InfluxServer | undefined;
let stores = 0;

const silent = { warn() {}, error() {}, info() {} };
const influxOptions = (over: Partial<InfluxStoreOptions> = {}): InfluxStoreOptions => {
  stores += 1;
  writeFileSync(join(dir, 'influx.pw'), `${ADMIN.password}\n`);
  return {
    url: (influx as InfluxServer).url,
    database: `contract_${stores}`,
    username: ADMIN.username,
    passwordFile: join(dir, 'influx.pw'),
    spoolPath: join(dir, `spool-${stores}.db`),
    batchPoints: 5000,
    flushIntervalMs: 50,
    maxBufferPoints: 1_000_000,
    timeoutMs: 5000,
    retryMinMs: 50,
    retryMaxMs: 500,
    createDatabase: true,
    ...over,
  };
};

beforeAll(async () => {
  if (!HAVE_INFLUXD) return;
  influx = new InfluxServer(ADMIN);
  await influx.start();
}, 60_000);

afterAll(async () => {
  await influx?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

const backends: Array<{ name: string; skip: boolean; open: () => TimeSeriesStore }> = [
  {
    name: 'SQLite',
    skip: false,
    open: () => new SqliteTimeSeriesStore(join(dir, `sqlite-${++stores}.db`), { maintenance: false }),
  },
  {
    name: 'InfluxDB',
    skip: !HAVE_INFLUXD,
    open: () => new InfluxTimeSeriesStore(influxOptions(), { log: silent }),
  },
];

const T0 = Date.UTC(2026, 10, 27, 0, 0, 0); // 2026-11-27T00:00:00Z = 08:00 in Beijing
const rec = (
  device: string,
  seq: number,
  ts: number,
  values: TelemetryRecord['values'],
): TelemetryRecord => ({
  device,
  gateway: parseDeviceKey(device)?.gateway ?? '',
  site: 'contract-village',
  kind: 'sensor',
  seq,
  ts,
  values,
});
const write = async (store: TimeSeriesStore, telemetry: TelemetryRecord[]) => {
  for (let i = 0; i < telemetry.length; i += 5000)
    await store.write({ telemetry: telemetry.slice(i, i + 5000), events: [], marks: [] });
  await store.sync();
};

describe.each(backends)('time-series contract: $name', ({ skip, open }) => {
  it.skipIf(skip)('round trip: what is written comes back, numbers, text and booleans', async () => {
    const store = open();
    const rows = Array.from({ length: 10 }, (_, i) =>
      rec('gw-c.rt', i + 1, T0 + i * 1000, {
        temp: 20 + i / 2,
        mode: i < 5 ? 'auto' : 'manual',
        on: i % 2 === 0,
      }),
    );
    await write(store, rows);
    expect(await store.countTelemetry('gw-c.rt')).toBe(10);
    const points = await store.history({
      device: 'gw-c.rt',
      field: 'temp',
      from: T0,
      to: T0 + 10_000,
      bucketMs: 1000,
    });
    expect(points).toEqual(
      rows.map((r) => ({ ts: r.ts, avg: r.values.temp, min: r.values.temp, max: r.values.temp, count: 1 })),
    );
    expect(await store.latest('gw-c.rt')).toEqual({
      temp: { ts: T0 + 9000, value: 24.5 },
      mode: { ts: T0 + 9000, value: 'manual' },
      on: { ts: T0 + 9000, value: false },
    });
    // Text has no average: no points, not an error.
    expect(
      await store.history({ device: 'gw-c.rt', field: 'mode', from: T0, to: T0 + 10_000, bucketMs: 1000 }),
    ).toEqual([]);
    await store.close();
  });

  it.skipIf(skip)('downsampling: an hour of 1 Hz samples into minutes, avg/min/max/count exact', async () => {
    const store = open();
    await write(
      store,
      Array.from({ length: 3600 }, (_, i) => rec('gw-c.ds', i + 1, T0 + i * 1000, { v: i })),
    );
    for (const bucketMs of [60_000, 90_000]) {
      const points = await store.history({
        device: 'gw-c.ds',
        field: 'v',
        from: T0,
        to: T0 + 3_600_000,
        bucketMs,
      });
      expect(points).toHaveLength(Math.ceil(3_600_000 / bucketMs));
      const per = bucketMs / 1000;
      expect(points[1]).toEqual({
        ts: T0 + bucketMs,
        avg: per + (per - 1) / 2,
        min: per,
        max: 2 * per - 1,
        count: per,
      });
      expect(points.reduce((n, p) => n + p.count, 0)).toBe(3600);
    }
    await store.close();
  });

  it.skipIf(skip)('out-of-order and duplicate points: stored once, answered in time order', async () => {
    const store = open();
    const rows = Array.from({ length: 200 }, (_, i) => rec('gw-c.ooo', i + 1, T0 + i * 500, { v: i }));
    const shuffled = [...rows].sort((a, b) => ((a.seq * 7919) % 200) - ((b.seq * 7919) % 200));
    await write(store, shuffled.slice(0, 120));
    await write(store, shuffled.slice(80)); // 40 resent, 80 new
    await write(store, rows.slice(0, 10)); // resent again, as a redelivered batch after a crash
    expect(await store.countTelemetry('gw-c.ooo')).toBe(200);
    const points = await store.history({
      device: 'gw-c.ooo',
      field: 'v',
      from: T0,
      to: T0 + 100_000,
      bucketMs: 1000,
    });
    expect(points).toHaveLength(100);
    expect(points.map((p) => p.ts)).toEqual([...points.map((p) => p.ts)].sort((a, b) => a - b));
    expect(points.every((p, i) => p.count === 2 && p.min === 2 * i && p.max === 2 * i + 1)).toBe(true);
    // Two different messages in the same millisecond are two points.
    await write(store, [
      rec('gw-c.ooo', 1001, T0 + 200_000, { v: 1 }),
      rec('gw-c.ooo', 1002, T0 + 200_000, { v: 3 }),
    ]);
    expect(
      await store.history({
        device: 'gw-c.ooo',
        field: 'v',
        from: T0 + 200_000,
        to: T0 + 200_001,
        bucketMs: 1000,
      }),
    ).toEqual([{ ts: T0 + 200_000, avg: 2, min: 1, max: 3, count: 2 }]);
    await store.close();
  });

  it.skipIf(skip)('empty and huge ranges: nothing, an unknown device, ten years in day buckets', async () => {
    const store = open();
    await write(
      store,
      Array.from({ length: 48 }, (_, i) => rec('gw-c.rng', i + 1, T0 + i * 3_600_000, { v: i })),
    );
    expect(
      await store.history({ device: 'gw-c.rng', field: 'v', from: T0 - 1000, to: T0, bucketMs: 1000 }),
    ).toEqual([]);
    expect(await store.history({ device: 'gw-c.rng', field: 'v', from: T0, to: T0, bucketMs: 1000 })).toEqual(
      [],
    );
    expect(
      await store.history({ device: 'gw-c.none', field: 'v', from: T0, to: T0 + 1e9, bucketMs: 60_000 }),
    ).toEqual([]);
    expect(
      await store.history({ device: 'gw-c.rng', field: 'nope', from: T0, to: T0 + 1e9, bucketMs: 60_000 }),
    ).toEqual([]);
    expect(await store.latest('gw-c.none')).toEqual({});
    const started = Date.now();
    const days = await store.history({
      device: 'gw-c.rng',
      field: 'v',
      from: T0 - 5 * 365 * 86_400_000,
      to: T0 + 5 * 365 * 86_400_000,
      bucketMs: 86_400_000,
    });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(days).toEqual([
      { ts: T0, avg: 11.5, min: 0, max: 23, count: 24 },
      { ts: T0 + 86_400_000, avg: 35.5, min: 24, max: 47, count: 24 },
    ]);
    await store.close();
  });

  it.skipIf(skip)(
    'UTC storage: exact milliseconds back, buckets on UTC boundaries (local time is the display’s job)',
    async () => {
      const store = open();
      const edges = [T0 - 1, T0, T0 + 1, Date.UTC(2024, 1, 29, 23, 59, 59, 999), Date.UTC(2030, 0, 1)];
      await write(
        store,
        edges.map((ts, i) => rec('gw-c.utc', i + 1, ts, { v: i })),
      );
      const points = await store.history({
        device: 'gw-c.utc',
        field: 'v',
        from: 0,
        to: Date.UTC(2031, 0, 1),
        bucketMs: 1,
      });
      expect(points.map((p) => p.ts)).toEqual([...edges].sort((a, b) => a - b));
      const hours = await store.history({
        device: 'gw-c.utc',
        field: 'v',
        from: T0 - 3_600_000,
        to: T0 + 3_600_000,
        bucketMs: 3_600_000,
      });
      expect(hours).toEqual([
        { ts: T0 - 3_600_000, avg: 0, min: 0, max: 0, count: 1 },
        { ts: T0, avg: 1.5, min: 1, max: 2, count: 2 },
      ]);
      await store.close();
    },
  );

  it.skipIf(skip)('events: newest first, by device, limited, data kept', async () => {
    const store = open();
    await store.write({
      telemetry: [],
      marks: [],
      events: [
        {
          device: 'gw-e.cam',
          gateway: 'gw-e',
          seq: 1,
          ts: T0,
          type: 'motion',
          severity: 'warning',
          data: { zone: 'gate' },
        },
        {
          device: 'gw-e.cam',
          gateway: 'gw-e',
          seq: 2,
          ts: T0 + 10,
          type: 'tamper',
          severity: 'critical',
          data: null,
        },
        {
          device: 'gw-e.uav',
          gateway: 'gw-e',
          seq: 3,
          ts: T0 + 20,
          type: 'link.lost',
          severity: 'alarm',
          data: { s: 3 },
        },
      ],
    });
    await store.sync();
    const cam = await store.events({ device: 'gw-e.cam', from: T0, to: T0 + 100, limit: 10 });
    expect(cam.map((e) => [e.type, e.severity, e.ts, e.data])).toEqual([
      ['tamper', 'critical', T0 + 10, null],
      ['motion', 'warning', T0, { zone: 'gate' }],
    ]);
    expect((await store.events({ from: T0, to: T0 + 100, limit: 2 })).map((e) => e.type)).toEqual([
      'link.lost',
      'tamper',
    ]);
    expect(await store.events({ from: T0 + 21, to: T0 + 100, limit: 10 })).toEqual([]);
    await store.close();
  });

  it.skipIf(skip)('dedup marks: kept with the batch that carries them, forgotten per gateway', async () => {
    const store = open();
    await store.write({
      telemetry: [rec('gw-m.d', 1, T0, { v: 1 })],
      events: [],
      marks: [
        { gateway: 'gw-m', lane: 'bulk', epoch: 'e1', highWater: 1, retired: ['e0'] },
        { gateway: 'gw-n', lane: 'control', epoch: 'e9', highWater: 4, retired: [] },
      ],
    });
    expect((await store.loadMarks()).sort((a, b) => a.gateway.localeCompare(b.gateway))).toEqual([
      { gateway: 'gw-m', lane: 'bulk', epoch: 'e1', highWater: 1, retired: ['e0'] },
      { gateway: 'gw-n', lane: 'control', epoch: 'e9', highWater: 4, retired: [] },
    ]);
    await store.forgetGateway('gw-m');
    expect((await store.loadMarks()).map((m) => m.gateway)).toEqual(['gw-n']);
    await store.close();
  });
});

describe('SQLite store: rollups and retention', () => {
  it('a 30-day chart is answered from the hourly rollups after the raw samples are gone', async () => {
    const store = new SqliteTimeSeriesStore(join(dir, 'rollups.db'), {
      maintenance: false,
      retention: { rawDays: 1, minuteDays: 10, hourDays: 400 },
    });
    const now = T0 + 30 * 86_400_000;
    // 30 days of one sample a minute (v = the day number), the last day also at 1 Hz for an hour.
    const rows = Array.from({ length: 30 * 1440 }, (_, i) =>
      rec('gw-r.d', i + 1, T0 + i * 60_000, { v: Math.floor(i / 1440), s: 'x' }),
    );
    await write(store, rows);
    expect(store.rollUp(1_000_000)).toBe(rows.length);
    const removed = store.applyRetention(now);
    expect(removed.raw).toBe(29 * 1440);
    expect(removed.minute).toBe(20 * 1440);
    expect(await store.countTelemetry('gw-r.d')).toBe(1440);
    const days = await store.history({
      device: 'gw-r.d',
      field: 'v',
      from: T0,
      to: now,
      bucketMs: 86_400_000,
    });
    expect(days).toHaveLength(30);
    expect(days.every((d, i) => d.avg === i && d.count === 1440)).toBe(true);
    // Minute buckets exist for the last 10 days only.
    const minutes = await store.history({
      device: 'gw-r.d',
      field: 'v',
      from: T0,
      to: now,
      bucketMs: 60_000,
    });
    expect(minutes).toHaveLength(10 * 1440);
    await store.close();
  });

  it('late samples join their minute when they arrive; the unrolled tail is answered from raw rows', async () => {
    const store = new SqliteTimeSeriesStore(join(dir, 'late.db'), { maintenance: false });
    await write(
      store,
      Array.from({ length: 120 }, (_, i) => rec('gw-r.l', i + 1, T0 + i * 1000, { v: 1 })),
    );
    store.rollUp();
    await write(store, [
      rec('gw-r.l', 500, T0 + 30_500, { v: 4 }),
      rec('gw-r.l', 501, T0 + 150_000, { v: 7 }),
    ]);
    // Not rolled up yet: the rollup answer plus the raw tail.
    const before = await store.history({
      device: 'gw-r.l',
      field: 'v',
      from: T0,
      to: T0 + 180_000,
      bucketMs: 60_000,
    });
    expect(before).toEqual([
      { ts: T0, avg: 64 / 61, min: 1, max: 4, count: 61 },
      { ts: T0 + 60_000, avg: 1, min: 1, max: 1, count: 60 },
      { ts: T0 + 120_000, avg: 7, min: 7, max: 7, count: 1 },
    ]);
    expect(store.rollUp()).toBe(2);
    expect(
      await store.history({ device: 'gw-r.l', field: 'v', from: T0, to: T0 + 180_000, bucketMs: 60_000 }),
    ).toEqual(before);
    await store.close();
  });

  it('runs by itself: rollups every rollupIntervalMs', async () => {
    const store = new SqliteTimeSeriesStore(join(dir, 'auto.db'), { retention: { rollupIntervalMs: 500 } });
    await write(
      store,
      Array.from({ length: 100 }, (_, i) => rec('gw-r.a', i + 1, T0 + i * 1000, { v: i })),
    );
    await waitFor(
      'rolled up',
      () => store.rollUp(0) === 0 && (store as unknown as { watermark: number }).watermark >= 100,
      5000,
    );
    await store.close();
  });
});

describe.skipIf(!HAVE_INFLUXD)('InfluxDB store: spool, outage, refusals, credentials', () => {
  it('a field that changes type: those points are refused and counted, the rest of the batch stored', async () => {
    const dropped: Array<[string, number]> = [];
    const store = new InfluxTimeSeriesStore(influxOptions(), {
      log: silent,
      onDropped: (r, n) => dropped.push([r, n]),
    });
    await write(store, [rec('gw-t.d', 1, T0, { v: 1 })]);
    await write(store, [
      rec('gw-t.d', 2, T0 + 1000, { v: 'text now' }),
      rec('gw-t.d', 3, T0 + 2000, { v: 3 }),
    ]);
    expect(dropped).toEqual([['field_type_conflict', 1]]);
    expect(await store.countTelemetry('gw-t.d')).toBe(2);
    expect(store.buffered).toBe(0);
    await store.close();
  });

  it('wrong credentials: nothing lost, the spool keeps the points until the password is right', async () => {
    writeFileSync(join(dir, 'wrong.pw'), 'not-the-password');
    const errors: string[] = [];
    const options = influxOptions({ passwordFile: join(dir, 'wrong.pw') });
    const store = new InfluxTimeSeriesStore(options, { log: silent, onSendError: (r) => errors.push(r) });
    await store.write({ telemetry: [rec('gw-a.d', 1, T0, { v: 1 })], events: [], marks: [] });
    await waitFor('refused', () => errors.length > 0, 5000);
    expect(errors[0]).toBe('unauthorized');
    expect(store.buffered).toBe(1);
    await store.close();
    // The same spool with the right password sends what was waiting.
    const fixed = new InfluxTimeSeriesStore(
      { ...options, passwordFile: join(dir, 'influx.pw') },
      { log: silent },
    );
    expect(fixed.buffered).toBe(1);
    await fixed.sync();
    expect(await fixed.countTelemetry('gw-a.d')).toBe(1);
    await fixed.close();
  });

  it('a full spool refuses the write (the hub keeps those messages unacknowledged): nothing dropped', async () => {
    const overflow: number[] = [];
    const store = new InfluxTimeSeriesStore(
      influxOptions({ url: 'http://127.0.0.1:9', maxBufferPoints: 1000 }),
      {
        log: silent,
        onOverflow: (n) => overflow.push(n),
      },
    );
    await store.write({
      telemetry: Array.from({ length: 900 }, (_, i) => rec('gw-f.d', i + 1, T0 + i, { v: i })),
      events: [],
      marks: [],
    });
    await expect(
      store.write({
        telemetry: Array.from({ length: 200 }, (_, i) => rec('gw-f.d', 901 + i, T0 + 900 + i, { v: i })),
        events: [],
        marks: [],
      }),
    ).rejects.toThrow(/spool full/);
    expect(overflow).toEqual([200]);
    expect(store.buffered).toBe(900);
    await waitFor('InfluxDB unreachable', () => store.degraded, 5000);
    expect(store.buffered).toBe(900);
    await store.close();
  });

  it('spool survives a restart of the hub: points written before close are sent by the next start', async () => {
    const options = influxOptions({ url: 'http://127.0.0.1:9' });
    const down = new InfluxTimeSeriesStore(options, { log: silent });
    await down.write({
      telemetry: Array.from({ length: 50 }, (_, i) => rec('gw-s.d', i + 1, T0 + i, { v: i })),
      events: [],
      marks: [],
    });
    await sleep(100);
    await down.close();
    const up = new InfluxTimeSeriesStore({ ...options, url: (influx as InfluxServer).url }, { log: silent });
    await up.sync();
    expect(await up.countTelemetry('gw-s.d')).toBe(50);
    await up.close();
  });
});
