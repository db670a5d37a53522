/**
 * Embedded time-series store on SQLite (better-sqlite3 12, WAL). One row per telemetry sample with
 * its values as JSON; history queries downsample into fixed buckets with SQL aggregates.
 */
import { chmodSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type {
  EventRecord,
  HistoryPoint,
  HistoryQuery,
  SeqMark,
  TimeSeriesStore,
  WriteBatch,
} from './timeseries.ts';

export class SqliteTimeSeriesStore implements TimeSeriesStore {
  private readonly db: Database.Database;
  private readonly insertTelemetry: Database.Statement;
  private readonly insertEvent: Database.Statement;
  private readonly upsertMark: Database.Statement;
  private readonly writeTx: (batch: WriteBatch) => void;

  /** `fsync`: FULL synchronous mode, so a committed batch also survives power loss (slower). */
  constructor(path: string, options: { fsync?: boolean } = {}) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    this.db = new Database(path);
    if (path !== ':memory:') chmodSync(path, 0o600);
    this.db.pragma('journal_mode = WAL');
    // NORMAL in WAL mode: a committed transaction survives a crash of the process (SIGKILL), which
    // is what acknowledging after the commit relies on; FULL adds survival of power loss.
    this.db.pragma(`synchronous = ${options.fsync ? 'FULL' : 'NORMAL'}`);
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
      CREATE TABLE IF NOT EXISTS seq_marks (
        gateway TEXT NOT NULL, lane TEXT NOT NULL, epoch TEXT NOT NULL, high_water INTEGER NOT NULL,
        retired TEXT NOT NULL DEFAULT '[]', PRIMARY KEY (gateway, lane));
    `);
    this.insertTelemetry = this.db.prepare(
      'INSERT INTO telemetry (device, gateway, seq, ts, "values") VALUES (?, ?, ?, ?, ?)',
    );
    this.insertEvent = this.db.prepare(
      'INSERT INTO events (device, gateway, seq, ts, type, severity, data) VALUES (?, ?, ?, ?, ?, ?, ?)',
    );
    this.upsertMark = this.db.prepare(
      `INSERT INTO seq_marks (gateway, lane, epoch, high_water, retired) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT(gateway, lane) DO UPDATE SET epoch = excluded.epoch, high_water = excluded.high_water,
         retired = excluded.retired`,
    );
    this.writeTx = this.db.transaction(({ telemetry, events, marks }: WriteBatch) => {
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
      for (const m of marks)
        this.upsertMark.run(m.gateway, m.lane, m.epoch, m.highWater, JSON.stringify(m.retired));
    });
  }

  async write(batch: WriteBatch): Promise<void> {
    this.writeTx(batch);
  }

  async loadMarks(): Promise<SeqMark[]> {
    return (
      this.db.prepare('SELECT gateway, lane, epoch, high_water, retired FROM seq_marks').all() as Array<{
        gateway: string;
        lane: SeqMark['lane'];
        epoch: string;
        high_water: number;
        retired: string;
      }>
    ).map((r) => ({
      gateway: r.gateway,
      lane: r.lane,
      epoch: r.epoch,
      highWater: r.high_water,
      retired: JSON.parse(r.retired) as string[],
    }));
  }

  async forgetGateway(gateway: string): Promise<void> {
    this.db.prepare('DELETE FROM seq_marks WHERE gateway = ?').run(gateway);
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
