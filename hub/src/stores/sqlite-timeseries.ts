/**
 * Embedded time-series store on SQLite (better-sqlite3 12, WAL). One row per telemetry sample with
 * its values as JSON; history queries downsample into fixed buckets with SQL aggregates.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type {
  EventRecord,
  HistoryPoint,
  HistoryQuery,
  TelemetryRecord,
  TimeSeriesStore,
} from './timeseries.ts';

export class SqliteTimeSeriesStore implements TimeSeriesStore {
  private readonly db: Database.Database;
  private readonly insertTelemetry: Database.Statement;
  private readonly insertEvent: Database.Statement;
  private readonly writeTx: (t: TelemetryRecord[], e: EventRecord[]) => void;

  constructor(path: string) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS telemetry (
        id INTEGER PRIMARY KEY, device TEXT NOT NULL, gateway TEXT NOT NULL, seq INTEGER NOT NULL,
        ts INTEGER NOT NULL, "values" TEXT NOT NULL);
      CREATE INDEX IF NOT EXISTS telemetry_device_ts ON telemetry (device, ts);
      CREATE TABLE IF NOT EXISTS events (
        id INTEGER PRIMARY KEY, device TEXT NOT NULL, gateway TEXT NOT NULL, seq INTEGER NOT NULL,
        ts INTEGER NOT NULL, type TEXT NOT NULL, severity TEXT NOT NULL, data TEXT);
      CREATE INDEX IF NOT EXISTS events_ts ON events (ts);
      CREATE INDEX IF NOT EXISTS events_device_ts ON events (device, ts);
    `);
    this.insertTelemetry = this.db.prepare(
      'INSERT INTO telemetry (device, gateway, seq, ts, "values") VALUES (?, ?, ?, ?, ?)',
    );
    this.insertEvent = this.db.prepare(
      'INSERT INTO events (device, gateway, seq, ts, type, severity, data) VALUES (?, ?, ?, ?, ?, ?, ?)',
    );
    this.writeTx = this.db.transaction((telemetry: TelemetryRecord[], events: EventRecord[]) => {
      for (const r of telemetry)
        this.insertTelemetry.run(r.device, r.gateway, r.seq, r.ts, JSON.stringify(r.values));
      for (const e of events)
        this.insertEvent.run(
          e.device,
          e.gateway,
          e.seq,
          e.ts,
          e.type,
          e.severity,
          e.data ? JSON.stringify(e.data) : null,
        );
    });
  }

  async write(telemetry: TelemetryRecord[], events: EventRecord[]): Promise<void> {
    this.writeTx(telemetry, events);
  }

  async history({ device, field, from, to, bucketMs }: HistoryQuery): Promise<HistoryPoint[]> {
    // better-sqlite3 binds JS numbers as REAL: the bucket index is cast, or ts / bucket would not truncate.
    const path = `$.${field}`;
    return this.db
      .prepare(
        `SELECT bucket * @bucket AS ts, avg(v) AS avg, min(v) AS min, max(v) AS max, count(v) AS count
         FROM (SELECT CAST(ts / @bucket AS INTEGER) AS bucket, json_extract("values", @path) AS v FROM telemetry
               WHERE device = @device AND ts >= @from AND ts < @to)
         WHERE typeof(v) IN ('integer', 'real')
         GROUP BY bucket ORDER BY bucket`,
      )
      .all({ bucket: bucketMs, path, device, from, to }) as HistoryPoint[];
  }

  async events({
    device,
    from,
    to,
    limit,
  }: {
    device?: string;
    from: number;
    to: number;
    limit: number;
  }): Promise<EventRecord[]> {
    const rows = this.db
      .prepare(
        `SELECT device, gateway, seq, ts, type, severity, data FROM events
         WHERE ts >= @from AND ts < @to AND (@device IS NULL OR device = @device) ORDER BY ts DESC LIMIT @limit`,
      )
      .all({ device: device ?? null, from, to, limit }) as Array<EventRecord & { data: string | null }>;
    return rows.map((r) => ({ ...r, data: r.data ? JSON.parse(r.data as unknown as string) : null }));
  }

  async countTelemetry(device?: string): Promise<number> {
    const row = device
      ? this.db.prepare('SELECT count(*) AS n FROM telemetry WHERE device = ?').get(device)
      : this.db.prepare('SELECT count(*) AS n FROM telemetry').get();
    return (row as { n: number }).n;
  }

  /** Raw rows of one gateway ordered by seq; tests use it to prove "once, in order". */
  seqsOf(gateway: string): number[] {
    return (
      this.db.prepare('SELECT seq FROM telemetry WHERE gateway = ? ORDER BY id').all(gateway) as Array<{
        seq: number;
      }>
    ).map((r) => r.seq);
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
