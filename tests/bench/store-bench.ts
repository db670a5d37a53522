/**
 * `npm run bench:store` — the two time-series stores, in one run:
 *  - SQLite: points/s through `SqliteTimeSeriesStore.write` (batches of 5,000 with their dedup marks,
 *    as the ingest writes them); a 24-hour history of one device (86,400 points at 1 Hz → 1,000
 *    buckets of 86.4 s, from raw rows) and the same day in 2-minute buckets (from the rollups);
 *  - InfluxDB (a real influxd started here): points/s through the hub's store (spool, then sent in
 *    5,000-line batches) until every point is in InfluxDB, against a bare `influx` client writing
 *    the same points in the same batches to the same influxd (the baseline); the 24-hour query;
 *  - disk use of the SQLite store per device per day (a sensor with 4 values every 10 s).
 * Last line: one JSON object.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InfluxDB, type IPoint } from 'influx';
import { InfluxTimeSeriesStore } from '../../hub/src/stores/influx-timeseries.ts';
import { SqliteTimeSeriesStore } from '../../hub/src/stores/sqlite-timeseries.ts';
import type { TelemetryRecord, TimeSeriesStore } from '../../hub/src/stores/timeseries.ts';
import { InfluxServer } from '../support/influxd.ts';

const POINTS = Number(process.env.BENCH_POINTS ?? 500_000);
const DEVICES = 100;
const BATCH = 5000;
const DAY = 86_400_000;
const T0 = Date.UTC(2026, 10, 1);
const dir = mkdtempSync(join(tmpdir(), 'qly-bench-store-'));
const round = (v: number, d = 1) => Math.round(v * 10 ** d) / 10 ** d;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const silent = { warn() {}, error() {}, info() {} };

/** The ingest's batches: DEVICES sensors, one sample each per second, two values. */
function* batches(): Generator<TelemetryRecord[]> {
  let batch: TelemetryRecord[] = [];
  for (let i = 0; i < POINTS; i++) {
    const device = i % DEVICES;
    const n = Math.floor(i / DEVICES);
    batch.push({
      device: `gw-bench.s${device}`,
      gateway: 'gw-bench',
      site: 'bench',
      kind: 'sensor',
      seq: n + 1,
      ts: T0 + n * 1000,
      values: { temperature: 20 + (n % 100) / 10, humidity: 50 + (device % 30) },
    });
    if (batch.length === BATCH) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length) yield batch;
}

async function writeAll(store: TimeSeriesStore): Promise<number> {
  const started = performance.now();
  let seq = 0;
  for (const telemetry of batches())
    await store.write({
      telemetry,
      events: [],
      marks: [{ gateway: 'gw-bench', lane: 'bulk', epoch: 'bench', highWater: ++seq, retired: [] }],
    });
  await store.sync(600_000);
  return POINTS / ((performance.now() - started) / 1000);
}

/** 24 hours of one device at 1 Hz. */
async function writeDay(store: TimeSeriesStore): Promise<void> {
  for (let i = 0; i < 86_400; i += BATCH)
    await store.write({
      telemetry: Array.from({ length: Math.min(BATCH, 86_400 - i) }, (_, k) => ({
        device: 'gw-bench.day',
        gateway: 'gw-bench',
        site: 'bench',
        kind: 'sensor',
        seq: i + k + 1,
        ts: T0 + (i + k) * 1000,
        values: { level: Math.sin((i + k) / 5000) },
      })),
      events: [],
      marks: [],
    });
  await store.sync(600_000);
}

async function queryMs(store: TimeSeriesStore, bucketMs: number): Promise<{ ms: number; buckets: number }> {
  const times: number[] = [];
  let buckets = 0;
  for (let i = 0; i < 11; i++) {
    const started = performance.now();
    const points = await store.history({
      device: 'gw-bench.day',
      field: 'level',
      from: T0,
      to: T0 + DAY,
      bucketMs,
    });
    times.push(performance.now() - started);
    buckets = points.length;
  }
  return { ms: round(median(times.slice(1)), 2), buckets };
}

const influxd = new InfluxServer();
try {
  // SQLite
  const sqlite = new SqliteTimeSeriesStore(join(dir, 'timeseries.db'), { maintenance: false });
  const sqliteRate = await writeAll(sqlite);
  process.stdout.write(
    `${JSON.stringify({ store: 'sqlite', points: POINTS, points_per_s: Math.round(sqliteRate) })}\n`,
  );
  await writeDay(sqlite);
  const sqliteRaw = await queryMs(sqlite, 86_400);
  sqlite.rollUp(10_000_000);
  const sqliteRollup = await queryMs(sqlite, 120_000);
  process.stdout.write(
    `${JSON.stringify({ store: 'sqlite', query_24h_raw: sqliteRaw, query_24h_rollup_2min: sqliteRollup })}\n`,
  );
  await sqlite.close();

  // InfluxDB: the hub's store, then the bare client, on the same influxd.
  await influxd.start();
  const store = new InfluxTimeSeriesStore(
    {
      url: influxd.url,
      database: 'bench_hub',
      spoolPath: join(dir, 'spool.db'),
      batchPoints: BATCH,
      flushIntervalMs: 1000,
      maxBufferPoints: POINTS * 2,
      timeoutMs: 30_000,
      retryMinMs: 100,
      retryMaxMs: 2000,
      createDatabase: true,
    },
    { log: silent },
  );
  const influxRate = await writeAll(store);
  const counted = await store.countTelemetry();
  process.stdout.write(
    `${JSON.stringify({ store: 'influxdb (hub store)', points: counted, points_per_s: Math.round(influxRate) })}\n`,
  );
  await writeDay(store);
  const influxQuery = await queryMs(store, 86_400);
  await store.close();

  const bare = new InfluxDB({ host: '127.0.0.1', port: influxd.port, database: 'bench_bare' });
  await bare.createDatabase('bench_bare');
  const started = performance.now();
  for (const batch of batches())
    await bare.writePoints(
      batch.map(
        (r): IPoint => ({
          measurement: 'telemetry',
          tags: { device: r.device, gateway: r.gateway, site: r.site as string, kind: r.kind as string },
          fields: { ...r.values, qly_seq: r.seq },
          timestamp: new Date(r.ts),
        }),
      ),
      { precision: 'ms' },
    );
  const bareRate = POINTS / ((performance.now() - started) / 1000);
  process.stdout.write(
    `${JSON.stringify({ store: 'influxdb (bare client)', points_per_s: Math.round(bareRate) })}\n`,
  );
  process.stdout.write(`${JSON.stringify({ store: 'influxdb', query_24h: influxQuery })}\n`);

  // Disk use per device per day: 10 sensors, 4 values every 10 s, one day; raw, then with rollups.
  const disk = new SqliteTimeSeriesStore(join(dir, 'disk.db'), { maintenance: false });
  const before = disk.diskBytes();
  for (let i = 0; i < 8640; i += 500)
    await disk.write({
      telemetry: Array.from({ length: 500 }, (_, k) => k + i)
        .filter((n) => n < 8640)
        .flatMap((n) =>
          Array.from({ length: 10 }, (_, d) => ({
            device: `gw-disk.s${d}`,
            gateway: 'gw-disk',
            seq: n + 1,
            ts: T0 + n * 10_000,
            values: {
              temperature: 20 + (n % 50) / 10,
              humidity: 60.5,
              water_level: 1.25 + (n % 7) / 100,
              battery: 98,
            },
          })),
        ),
      events: [],
      marks: [],
    });
  await disk.close();
  const reopened = new SqliteTimeSeriesStore(join(dir, 'disk.db'), { maintenance: false });
  const raw = reopened.diskBytes() - before;
  reopened.rollUp(10_000_000);
  await reopened.close();
  const last = new SqliteTimeSeriesStore(join(dir, 'disk.db'), { maintenance: false });
  const rollups = last.diskBytes() - before - raw;
  await last.close();
  const diskRow = {
    disk_per_device_day: {
      samples: 8640,
      values: 4,
      raw_kib: round(raw / 10 / 1024),
      rollups_kib: round(rollups / 10 / 1024),
    },
  };
  process.stdout.write(`${JSON.stringify(diskRow)}\n`);

  process.stdout.write(
    `${JSON.stringify({
      bench: 'store',
      sqlite_points_per_s: Math.round(sqliteRate),
      influx_points_per_s: Math.round(influxRate),
      influx_bare_points_per_s: Math.round(bareRate),
      influx_ratio: round(influxRate / bareRate, 2),
      sqlite_query_24h_ms: sqliteRaw.ms,
      sqlite_query_24h_rollup_ms: sqliteRollup.ms,
      influx_query_24h_ms: influxQuery.ms,
      points: POINTS,
    })}\n`,
  );
} finally {
  await influxd.destroy();
  rmSync(dir, { recursive: true, force: true });
}
