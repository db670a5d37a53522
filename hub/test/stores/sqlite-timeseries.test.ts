import { describe, expect, it } from 'vitest';
import { SqliteTimeSeriesStore } from '../../src/stores/sqlite-timeseries.ts';

describe('SqliteTimeSeriesStore', () => {
  it('downsamples a range into buckets with avg/min/max/count, skipping non-numeric values', async () => {
    const store = new SqliteTimeSeriesStore(':memory:');
    const rows = Array.from({ length: 100 }, (_, i) => ({
      device: 'gw.d',
      gateway: 'gw',
      seq: i + 1,
      ts: 10_000 + i * 100, // 100 samples, 10 per second
      values: { t: i, mode: 'x' },
    }));
    await store.write({ telemetry: rows, events: [], marks: [] });
    const points = await store.history({
      device: 'gw.d',
      field: 't',
      from: 10_000,
      to: 20_000,
      bucketMs: 1000,
    });
    expect(points).toHaveLength(10);
    expect(points[0]).toEqual({ ts: 10_000, avg: 4.5, min: 0, max: 9, count: 10 });
    expect(points[9]).toEqual({ ts: 19_000, avg: 94.5, min: 90, max: 99, count: 10 });
    expect(
      await store.history({ device: 'gw.d', field: 'mode', from: 0, to: 30_000, bucketMs: 1000 }),
    ).toEqual([]);
    expect(
      await store.history({ device: 'gw.d', field: 't', from: 15_000, to: 15_500, bucketMs: 1000 }),
    ).toEqual([{ ts: 15_000, avg: 52, min: 50, max: 54, count: 5 }]);
    await store.close();
  });

  it('writes a batch atomically and returns events newest first', async () => {
    const store = new SqliteTimeSeriesStore(':memory:');
    await store.write({
      telemetry: [{ device: 'gw.d', gateway: 'gw', seq: 1, ts: 1, values: { a: 1 } }],
      marks: [{ gateway: 'gw', lane: 'bulk', epoch: 'e1', highWater: 1, retired: [] }],
      events: [
        {
          device: 'gw.d',
          gateway: 'gw',
          seq: 2,
          ts: 5,
          type: 'motion',
          severity: 'warning',
          data: { zone: 1 },
        },
        { device: 'gw.d', gateway: 'gw', seq: 3, ts: 6, type: 'tamper', severity: 'alarm', data: null },
      ],
    });
    expect(await store.countTelemetry('gw.d')).toBe(1);
    const events = await store.events({ device: 'gw.d', from: 0, to: 10, limit: 10 });
    expect(events.map((e) => [e.type, e.data])).toEqual([
      ['tamper', null],
      ['motion', { zone: 1 }],
    ]);
    // A row that violates the schema fails the whole batch, marks included: nothing of it is stored.
    await expect(
      store.write({
        telemetry: [
          { device: 'gw.d', gateway: 'gw', seq: 4, ts: 7, values: { a: 1 } },
          { device: null as never, gateway: 'gw', seq: 5, ts: 8, values: {} },
        ],
        events: [],
        marks: [{ gateway: 'gw', lane: 'bulk', epoch: 'e1', highWater: 5, retired: [] }],
      }),
    ).rejects.toThrow();
    expect(await store.countTelemetry()).toBe(1);
    expect(await store.loadMarks()).toEqual([
      { gateway: 'gw', lane: 'bulk', epoch: 'e1', highWater: 1, retired: [] },
    ]);
    await store.forgetGateway('gw');
    expect(await store.loadMarks()).toEqual([]);
    await store.close();
  });
});

describe('SqliteTimeSeriesStore migration', () => {
  it('moves a version-1 file (device text on every row) into series ids, keeping every row', async () => {
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const Database = (await import('better-sqlite3')).default;
    const path = join(mkdtempSync(join(tmpdir(), 'qly-ts-v1-')), 'timeseries.db');
    const v1 = new Database(path);
    v1.exec(`CREATE TABLE telemetry (id INTEGER PRIMARY KEY, device TEXT NOT NULL, gateway TEXT NOT NULL, seq INTEGER NOT NULL,
               ts INTEGER NOT NULL, "values" TEXT NOT NULL);
             CREATE INDEX telemetry_device_ts ON telemetry (device, ts);`);
    const insert = v1.prepare(
      'INSERT INTO telemetry (device, gateway, seq, ts, "values") VALUES (?, ?, ?, ?, ?)',
    );
    for (let i = 0; i < 10; i++) insert.run(`gw.d${i % 2}`, 'gw', i + 1, 1000 + i, JSON.stringify({ t: i }));
    v1.close();
    const store = new SqliteTimeSeriesStore(path);
    expect(await store.countTelemetry()).toBe(10);
    expect(await store.countTelemetry('gw.d0')).toBe(5);
    expect(store.seqsOf('gw')).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const points = await store.history({ device: 'gw.d1', field: 't', from: 0, to: 5000, bucketMs: 10_000 });
    expect(points).toEqual([{ ts: 0, avg: 5, min: 1, max: 9, count: 5 }]);
    await store.close();
  });
});
