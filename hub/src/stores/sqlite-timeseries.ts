/**
 * Embedded time-series store on SQLite (better-sqlite3 12, WAL). One row per telemetry sample with
 * its values as JSON; history queries downsample into fixed buckets with SQL aggregates.
 *
 * Layout, chosen by measurement (the write path is most of the hub's CPU per message): a `series`
 * table names each device once and telemetry rows carry its integer id, so the (series, ts) index
 * holds integers rather than repeated text (about 30 % cheaper per row than text keys); rows go in
 * by 64 per statement; a 64 MiB page cache cuts the cost of scattering rows of many devices over the
 * index. WAL checkpoints run every second on a worker thread with its own connection (PASSIVE, so
 * the writer is never blocked): inside a commit they stalled the event loop for 10–50 ms. The dedup
 * marks live here too, committed in the same transaction as the rows they cover.
 */
import { chmodSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { SeqMarkTable } from './seq-mark-table.ts';
import type {
  EventRecord,
  HistoryPoint,
  HistoryQuery,
  SeqMark,
  TelemetryRecord,
  TimeSeriesStore,
  WriteBatch,
} from './timeseries.ts';

/** Rows per multi-row INSERT. */
const CHUNK = 64;
/**
 * Schema generations: 1 had device and gateway text on every telemetry row; 2 series ids; 3 a unique
 * (series, ts, seq) index (a resent row is stored once) and the 1-minute and 1-hour rollups.
 */
const SCHEMA_VERSION = 3;

export interface RetentionOptions {
  /** Raw samples are kept this many days. */
  rawDays: number;
  /** 1-minute rollups. */
  minuteDays: number;
  /** 1-hour rollups. */
  hourDays: number;
  /** Device events. */
  eventDays: number;
  /** How often new raw rows are rolled up. */
  rollupIntervalMs: number;
}

export const DEFAULT_RETENTION: RetentionOptions = {
  rawDays: 30,
  minuteDays: 180,
  hourDays: 1825,
  eventDays: 365,
  rollupIntervalMs: 5000,
};

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
/** Raw rows rolled up per step (one transaction; a few ms). */
const ROLLUP_STEP_ROWS = 20_000;
type Rollup = 'rollup_1m' | 'rollup_1h';

export class SqliteTimeSeriesStore implements TimeSeriesStore {
  private readonly db: Database.Database;
  private readonly marks: SeqMarkTable;
  private readonly series = new Map<string, number>();
  private readonly statements;
  private readonly writeTx: (batch: WriteBatch) => void;
  private checkpointer: Worker | undefined;
  private readonly retention: RetentionOptions;
  private maintenanceTimer: NodeJS.Timeout | undefined;
  private lastRetentionAt = 0;
  /** Raw rows with an id at or below this are in the rollups. */
  private watermark = 0;

  /**
   * `fsync`: FULL synchronous mode, so a committed batch also survives power loss (slower).
   * `retention`: rollups and deletion of old rows run by themselves every `rollupIntervalMs` (off with
   * `maintenance: false`; tests call `rollUp()` and `applyRetention()`).
   */
  constructor(
    path: string,
    options: { fsync?: boolean; retention?: Partial<RetentionOptions>; maintenance?: boolean } = {},
  ) {
    this.retention = { ...DEFAULT_RETENTION, ...options.retention };
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    this.db = new Database(path);
    if (path !== ':memory:') chmodSync(path, 0o600);
    this.db.pragma('journal_mode = WAL');
    // NORMAL in WAL mode: a committed transaction survives a crash of the process (SIGKILL), which
    // is what acknowledging after the commit relies on; FULL adds survival of power loss.
    this.db.pragma(`synchronous = ${options.fsync ? 'FULL' : 'NORMAL'}`);
    this.db.pragma('cache_size = -65536');
    if (path === ':memory:') this.db.pragma('wal_autocheckpoint = 2000');
    else {
      // Checkpoints run on their own thread (wal-checkpointer.worker.mjs), never inside a commit.
      this.db.pragma('wal_autocheckpoint = 0');
      this.checkpointer = new Worker(new URL('./wal-checkpointer.worker.mjs', import.meta.url), {
        workerData: { path, intervalMs: 1000 },
      });
      this.checkpointer.unref();
    }
    this.migrate();
    this.marks = new SeqMarkTable(this.db);
    for (const r of this.db.prepare('SELECT id, device FROM series').all() as Array<{
      id: number;
      device: string;
    }>)
      this.series.set(r.device, r.id);

    const db = this.db;
    this.statements = {
      insertSeries: db.prepare('INSERT INTO series (device, gateway) VALUES (?, ?) RETURNING id'),
      insertOne: db.prepare(
        'INSERT OR IGNORE INTO telemetry (series, seq, ts, "values") VALUES (?, ?, ?, ?)',
      ),
      insertChunk: db.prepare(
        `INSERT OR IGNORE INTO telemetry (series, seq, ts, "values") VALUES ${Array(CHUNK).fill('(?, ?, ?, ?)').join(', ')}`,
      ),
      insertEvent: db.prepare(
        'INSERT INTO events (device, gateway, seq, ts, type, severity, data) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ),
    };
    const args: unknown[] = new Array(CHUNK * 4);
    this.writeTx = db.transaction(({ telemetry, events, marks }: WriteBatch) => {
      const s = this.statements;
      let i = 0;
      for (; i + CHUNK <= telemetry.length; i += CHUNK) {
        for (let k = 0; k < CHUNK; k++) {
          const r = telemetry[i + k] as TelemetryRecord;
          args[k * 4] = this.seriesId(r.device, r.gateway);
          args[k * 4 + 1] = r.seq;
          args[k * 4 + 2] = r.ts;
          args[k * 4 + 3] = JSON.stringify(r.values);
        }
        s.insertChunk.run(args);
      }
      for (; i < telemetry.length; i++) {
        const r = telemetry[i] as TelemetryRecord;
        s.insertOne.run(this.seriesId(r.device, r.gateway), r.seq, r.ts, JSON.stringify(r.values));
      }
      for (const e of events)
        s.insertEvent.run(
          e.device,
          e.gateway,
          e.seq,
          e.ts,
          e.type,
          e.severity,
          e.data ? JSON.stringify(e.data) : null,
        );
      this.marks.write(marks);
    });
    this.watermark =
      (
        db.prepare("SELECT value FROM rollup_state WHERE name = 'watermark'").get() as
          | { value: number }
          | undefined
      )?.value ?? 0;
    if (options.maintenance !== false) this.scheduleMaintenance();
  }

  private scheduleMaintenance(): void {
    this.maintenanceTimer = setTimeout(() => {
      try {
        // A backlog (a first start after an upgrade, a long stop) is worked off a step per turn.
        for (let i = 0; i < 5 && this.rollUp() === ROLLUP_STEP_ROWS; i++);
        if (Date.now() - this.lastRetentionAt > HOUR) this.applyRetention();
      } finally {
        if (this.db.open) this.scheduleMaintenance();
      }
    }, this.retention.rollupIntervalMs);
    this.maintenanceTimer.unref();
  }

  /**
   * Adds raw rows not yet rolled up (by insertion id, so late samples join their minute and hour
   * whenever they arrive) to the 1-minute and 1-hour rollups. Returns the number of rows taken.
   */
  rollUp(maxRows = ROLLUP_STEP_ROWS): number {
    const max =
      (this.db.prepare('SELECT max(id) AS id FROM telemetry').get() as { id: number | null }).id ?? 0;
    if (max <= this.watermark) return 0;
    const lo = this.watermark;
    const hi = Math.min(max, lo + maxRows);
    this.db.transaction(() => {
      for (const [table, size] of [
        ['rollup_1m', MINUTE],
        ['rollup_1h', HOUR],
      ] as const)
        this.db
          .prepare(
            `INSERT INTO ${table} (series, field, bucket, total, low, high, n)
             SELECT t.series, j.key, CAST(t.ts / ${size} AS INTEGER) * ${size}, sum(j.value), min(j.value), max(j.value), count(*)
             FROM telemetry t, json_each(t."values") j
             WHERE t.id > @lo AND t.id <= @hi AND j.type IN ('integer', 'real')
             GROUP BY 1, 2, 3
             ON CONFLICT (series, field, bucket) DO UPDATE SET total = total + excluded.total,
               low = min(low, excluded.low), high = max(high, excluded.high), n = n + excluded.n`,
          )
          .run({ lo, hi });
      this.db
        .prepare(
          "INSERT INTO rollup_state (name, value) VALUES ('watermark', ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value",
        )
        .run(hi);
    })();
    this.watermark = hi;
    return hi - lo;
  }

  /** Deletes raw rows (only those already rolled up), rollups and events past their retention. */
  applyRetention(now = Date.now()): { raw: number; minute: number; hour: number; events: number } {
    this.lastRetentionAt = now;
    const r = this.retention;
    const out = { raw: 0, minute: 0, hour: 0, events: 0 };
    const rawCut = now - r.rawDays * DAY;
    const delRaw = this.db.prepare('DELETE FROM telemetry WHERE series = ? AND ts < ? AND id <= ?');
    for (const id of this.series.values()) out.raw += delRaw.run(id, rawCut, this.watermark).changes;
    const pairs = this.db.prepare('SELECT DISTINCT series, field FROM rollup_1h').all() as Array<{
      series: number;
      field: string;
    }>;
    const delMinute = this.db.prepare('DELETE FROM rollup_1m WHERE series = ? AND field = ? AND bucket < ?');
    const delHour = this.db.prepare('DELETE FROM rollup_1h WHERE series = ? AND field = ? AND bucket < ?');
    for (const p of pairs) {
      out.minute += delMinute.run(p.series, p.field, now - r.minuteDays * DAY).changes;
      out.hour += delHour.run(p.series, p.field, now - r.hourDays * DAY).changes;
    }
    out.events = this.db.prepare('DELETE FROM events WHERE ts < ?').run(now - r.eventDays * DAY).changes;
    return out;
  }

  /** The series id of a device, created inside the current write transaction when new. */
  private seriesId(device: string, gateway: string): number {
    let id = this.series.get(device);
    if (id === undefined) {
      id = (this.statements.insertSeries.get(device, gateway) as { id: number }).id;
      this.series.set(device, id);
    }
    return id;
  }

  private migrate(): void {
    const version = this.db.pragma('user_version', { simple: true }) as number;
    if (version >= SCHEMA_VERSION) return;
    if (version === 2) {
      this.db.transaction(() => {
        this.migrateTo3();
        this.db.pragma(`user_version = ${SCHEMA_VERSION}`);
      })();
      return;
    }
    const hasV1 =
      this.db.prepare("SELECT 1 FROM pragma_table_info('telemetry') WHERE name = 'gateway'").get() !==
      undefined;
    this.db.transaction(() => {
      if (hasV1)
        this.db.exec(
          'ALTER TABLE telemetry RENAME TO telemetry_v1; DROP INDEX IF EXISTS telemetry_device_ts;',
        );
      this.db.exec(`
        CREATE TABLE IF NOT EXISTS series (id INTEGER PRIMARY KEY, device TEXT NOT NULL UNIQUE, gateway TEXT NOT NULL);
        CREATE INDEX IF NOT EXISTS series_gateway ON series (gateway);
        CREATE TABLE IF NOT EXISTS telemetry (
          id INTEGER PRIMARY KEY, series INTEGER NOT NULL, seq INTEGER NOT NULL, ts INTEGER NOT NULL,
          "values" TEXT NOT NULL);
        CREATE INDEX IF NOT EXISTS telemetry_series_ts ON telemetry (series, ts);
        CREATE TABLE IF NOT EXISTS events (
          id INTEGER PRIMARY KEY, device TEXT NOT NULL, gateway TEXT NOT NULL, seq INTEGER NOT NULL,
          ts INTEGER NOT NULL, type TEXT NOT NULL, severity TEXT NOT NULL, data TEXT);
        CREATE INDEX IF NOT EXISTS events_ts ON events (ts);
        CREATE INDEX IF NOT EXISTS events_device_ts ON events (device, ts);
        CREATE TABLE IF NOT EXISTS seq_marks (
          gateway TEXT NOT NULL, lane TEXT NOT NULL, epoch TEXT NOT NULL, high_water INTEGER NOT NULL,
          retired TEXT NOT NULL DEFAULT '[]', PRIMARY KEY (gateway, lane));
      `);
      if (hasV1)
        this.db.exec(`
          INSERT OR IGNORE INTO series (device, gateway) SELECT DISTINCT device, gateway FROM telemetry_v1;
          INSERT INTO telemetry (series, seq, ts, "values")
            SELECT s.id, t.seq, t.ts, t."values" FROM telemetry_v1 t JOIN series s ON s.device = t.device ORDER BY t.id;
          DROP TABLE telemetry_v1;`);
      this.migrateTo3();
      this.db.pragma(`user_version = ${SCHEMA_VERSION}`);
    })();
  }

  private migrateTo3(): void {
    this.db.exec(`
      DELETE FROM telemetry WHERE id NOT IN (SELECT min(id) FROM telemetry GROUP BY series, ts, seq);
      DROP INDEX IF EXISTS telemetry_series_ts;
      CREATE UNIQUE INDEX IF NOT EXISTS telemetry_series_ts_seq ON telemetry (series, ts, seq);
      CREATE TABLE IF NOT EXISTS rollup_1m (series INTEGER NOT NULL, field TEXT NOT NULL, bucket INTEGER NOT NULL,
        total REAL NOT NULL, low REAL NOT NULL, high REAL NOT NULL, n INTEGER NOT NULL,
        PRIMARY KEY (series, field, bucket)) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS rollup_1h (series INTEGER NOT NULL, field TEXT NOT NULL, bucket INTEGER NOT NULL,
        total REAL NOT NULL, low REAL NOT NULL, high REAL NOT NULL, n INTEGER NOT NULL,
        PRIMARY KEY (series, field, bucket)) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS rollup_state (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
    `);
  }

  async write(batch: WriteBatch): Promise<void> {
    this.writeTx(batch);
  }

  async loadMarks(): Promise<SeqMark[]> {
    return this.marks.load();
  }

  async forgetGateway(gateway: string): Promise<void> {
    this.marks.forget(gateway);
  }

  /**
   * Buckets of `bucketMs`. A bucket that is a whole number of hours (or minutes) is answered from the
   * 1-hour (or 1-minute) rollups, plus the raw rows not rolled up yet; anything finer from raw rows.
   */
  async history({ device, field, from, to, bucketMs }: HistoryQuery): Promise<HistoryPoint[]> {
    const series = this.series.get(device);
    if (series === undefined) return [];
    const rollup: Rollup | undefined =
      bucketMs % HOUR === 0 ? 'rollup_1h' : bucketMs % MINUTE === 0 ? 'rollup_1m' : undefined;
    // better-sqlite3 binds JS numbers as REAL: the bucket index is cast, or ts / bucket would not truncate.
    const path = `$.${field}`;
    if (!rollup)
      return this.db
        .prepare(
          // LIMIT -1 keeps the subquery from being flattened into the outer one, which would run
          // json_extract once per use of v (five times a row: twice as slow).
          `SELECT bucket * @bucket AS ts, avg(v) AS avg, min(v) AS min, max(v) AS max, count(v) AS count
           FROM (SELECT CAST(ts / @bucket AS INTEGER) AS bucket, json_extract("values", @path) AS v FROM telemetry
                 WHERE series = @series AND ts >= @from AND ts < @to LIMIT -1)
           WHERE typeof(v) IN ('integer', 'real')
           GROUP BY bucket ORDER BY bucket`,
        )
        .all({ bucket: bucketMs, path, series, from, to }) as HistoryPoint[];
    const size = rollup === 'rollup_1h' ? HOUR : MINUTE;
    // The raw tail (rows above the watermark) is read by rowid, not by the (series, ts) index.
    return this.db
      .prepare(
        `WITH tail AS (
           SELECT ts, json_extract("values", @path) AS v FROM telemetry
           WHERE id > @watermark AND +series = @series AND +ts >= @from AND +ts < @to LIMIT -1)
         SELECT b AS ts, sum(total) * 1.0 / sum(n) AS avg, min(low) AS min, max(high) AS max, sum(n) AS count FROM (
           SELECT CAST(bucket / @bucket AS INTEGER) * @bucket AS b, total, low, high, n FROM ${rollup}
           WHERE series = @series AND field = @field AND bucket >= @alignedFrom AND bucket < @to
           UNION ALL
           SELECT CAST(ts / @bucket AS INTEGER) * @bucket, v, v, v, 1 FROM tail
           WHERE typeof(v) IN ('integer', 'real'))
         GROUP BY b ORDER BY b`,
      )
      .all({
        bucket: bucketMs,
        path,
        field,
        series,
        from,
        to,
        alignedFrom: Math.floor(from / size) * size,
        watermark: this.watermark,
      }) as HistoryPoint[];
  }

  async latest(device: string): Promise<Record<string, { ts: number; value: number | string | boolean }>> {
    const series = this.series.get(device) ?? this.lookupSeries(device);
    if (series === undefined) return {};
    const out: Record<string, { ts: number; value: number | string | boolean }> = {};
    const rows = this.db
      .prepare('SELECT ts, "values" FROM telemetry WHERE series = ? ORDER BY ts DESC LIMIT 500')
      .all(series) as Array<{ ts: number; values: string }>;
    for (const row of rows)
      for (const [k, v] of Object.entries(
        JSON.parse(row.values) as Record<string, number | string | boolean>,
      ))
        if (!(k in out)) out[k] = { ts: row.ts, value: v };
    return out;
  }

  async sync(): Promise<void> {}

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
    if (device === undefined)
      return (this.db.prepare('SELECT count(*) AS n FROM telemetry').get() as { n: number }).n;
    const series = this.series.get(device) ?? this.lookupSeries(device);
    if (series === undefined) return 0;
    return (
      this.db.prepare('SELECT count(*) AS n FROM telemetry WHERE series = ?').get(series) as { n: number }
    ).n;
  }

  /** Raw rows of one gateway in storage order; tests use it to prove "once, in order". */
  seqsOf(gateway: string): number[] {
    return (
      this.db
        .prepare(
          'SELECT seq FROM telemetry WHERE series IN (SELECT id FROM series WHERE gateway = ?) ORDER BY id',
        )
        .all(gateway) as Array<{ seq: number }>
    ).map((r) => r.seq);
  }

  /** A series another connection created (a second reader of the same file, in tests). */
  private lookupSeries(device: string): number | undefined {
    return (
      this.db.prepare('SELECT id FROM series WHERE device = ?').get(device) as { id: number } | undefined
    )?.id;
  }

  /** Bytes the database uses (pages × page size), for disk-use figures. */
  diskBytes(): number {
    return (
      (this.db.pragma('page_count', { simple: true }) as number) *
      (this.db.pragma('page_size', { simple: true }) as number)
    );
  }

  async close(): Promise<void> {
    clearTimeout(this.maintenanceTimer);
    const worker = this.checkpointer;
    if (worker) {
      const exited = new Promise((resolve) => worker.once('exit', resolve));
      // Referenced again while it stops: an unreferenced worker would let a process with nothing else
      // to do exit (code 13) before the store has closed.
      worker.ref();
      worker.postMessage('stop');
      await exited;
    }
    // A last checkpoint on this connection leaves a small WAL behind.
    this.db.pragma('wal_checkpoint(TRUNCATE)');
    this.db.close();
  }
}
