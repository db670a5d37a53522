/**
 * The time-series store on InfluxDB, through the `influx` package (line-protocol writes and InfluxQL
 * queries: InfluxDB 1.x natively, 2.x and 3.x through their v1-compatible endpoints).
 *
 * InfluxDB cannot commit the ingest's dedup marks in the same transaction as the points, so the
 * hub does not write to it directly. A write goes into a local spool (SQLite, the points already in
 * line protocol) together with its marks, in one transaction: once `write()` resolves the batch is
 * on disk, and the hub may acknowledge it. A sender drains the spool in batches of `batchPoints`
 * lines (or every `flushIntervalMs`), deleting lines only after InfluxDB answered 204; errors and
 * timeouts are retried with backoff, so an InfluxDB outage costs nothing but spool space. The spool
 * is bounded (`maxBufferPoints`): beyond it `write()` fails with `BufferFullError` (counted, logged
 * as an alarm) and the ingest keeps those messages unacknowledged — backpressure to the broker and
 * the gateways' outboxes, never a dropped point.
 *
 * A point resent after a crash between "sent" and "deleted" is the same point again: its timestamp
 * is the sample's millisecond time with the message's seq in the nanoseconds below it, and InfluxDB
 * keeps one point per (series, timestamp). Lines InfluxDB refuses for good (a field's type changed,
 * HTTP 400) are dropped, counted by reason, and logged; the rest of the batch is stored.
 *
 * Points appear in queries when they have been sent (within `flushIntervalMs` normally); `sync()`
 * waits for that.
 *
 * Layout: measurement `telemetry`, tags `site`, `gateway`, `device`, `kind` (bounded by the number of
 * devices), one field per value (numbers as floats, strings, booleans) and `qly_seq`; measurement
 * `events`, tags `site`, `gateway`, `device`, `kind`, `type`, `severity`, fields `qly_seq` and `data`
 * (JSON).
 */
import { chmodSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { InfluxDB, escape as lineEscape } from 'influx';
import { SEQ_MARKS_DDL, SeqMarkTable } from './seq-mark-table.ts';
import type {
  EventRecord,
  HistoryPoint,
  HistoryQuery,
  SeqMark,
  TelemetryRecord,
  TimeSeriesStore,
  WriteBatch,
} from './timeseries.ts';

export interface InfluxStoreOptions {
  /** e.g. http://127.0.0.1:8086 */
  url: string;
  database: string;
  username?: string;
  /** File holding the password (never the password itself in config). */
  passwordFile?: string;
  retentionPolicy?: string;
  /** The local spool file. */
  spoolPath: string;
  batchPoints: number;
  flushIntervalMs: number;
  maxBufferPoints: number;
  timeoutMs: number;
  retryMinMs: number;
  retryMaxMs: number;
  /** CREATE DATABASE when it does not exist (needs the right on InfluxDB). */
  createDatabase: boolean;
}

export interface InfluxStoreHooks {
  log: {
    warn(obj: object, msg: string): void;
    error(obj: object, msg: string): void;
    info(obj: object, msg: string): void;
  };
  /** Counters the hub exports as metrics. */
  onSent?(points: number): void;
  onDropped?(reason: string, points: number): void;
  onOverflow?(points: number): void;
  onSendError?(reason: string): void;
}

export class BufferFullError extends Error {}

const CHUNK = 64;

/** The line-protocol timestamp (ns): the sample's ms, then the message's seq in the six digits below. */
export function pointTime(ts: number, seq: number): string {
  return `${Math.trunc(ts)}${String(Math.abs(Math.trunc(seq)) % 1_000_000).padStart(6, '0')}`;
}

function fieldValue(v: number | string | boolean): string | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : undefined;
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  return lineEscape.quoted(v);
}

function tagSet(tags: Record<string, string | undefined>): string {
  let out = '';
  // Line protocol wants tags sorted by key for the best write performance.
  for (const key of Object.keys(tags).sort()) {
    const value = tags[key];
    if (value) out += `,${key}=${lineEscape.tag(value)}`;
  }
  return out;
}

export function telemetryLine(r: TelemetryRecord): string | undefined {
  let fields = '';
  for (const [name, value] of Object.entries(r.values)) {
    const v = fieldValue(value);
    if (v !== undefined) fields += `${fields ? ',' : ''}${lineEscape.tag(name)}=${v}`;
  }
  if (!fields) return undefined;
  const tags = tagSet({ site: r.site, gateway: r.gateway, device: r.device, kind: r.kind });
  return `telemetry${tags} ${fields},qly_seq=${Math.trunc(r.seq)}i ${pointTime(r.ts, r.seq)}`;
}

let hubEventCounter = 0;
export function eventLine(e: EventRecord): string {
  const tags = tagSet({
    site: e.site,
    gateway: e.gateway,
    device: e.device,
    kind: e.kind,
    type: e.type,
    severity: e.severity,
  });
  // Hub events carry seq 0: a counter keeps two of them in one millisecond apart.
  const seq = e.seq || ++hubEventCounter;
  const data = e.data ? `,data=${lineEscape.quoted(JSON.stringify(e.data))}` : '';
  return `events${tags} qly_seq=${Math.trunc(e.seq)}i${data} ${pointTime(e.ts, seq)}`;
}

/** InfluxQL string literal. */
const lit = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
/** InfluxQL identifier. */
const ident = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

export class InfluxTimeSeriesStore implements TimeSeriesStore {
  readonly influx: InfluxDB;
  private readonly spool: Database.Database;
  private readonly marks: SeqMarkTable;
  private readonly writeTx: (lines: string[], marks: SeqMark[]) => void;
  private readonly statements;
  private pending: number;
  private sending: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private retryDelay: number;
  private failing = false;
  private stopped = false;
  private databaseReady = false;
  private readonly writeUrl: string;
  private readonly authorization: string | undefined;

  constructor(
    private readonly options: InfluxStoreOptions,
    private readonly hooks: InfluxStoreHooks,
  ) {
    const password = options.passwordFile ? readFileSync(options.passwordFile, 'utf8').trim() : undefined;
    const url = new URL(options.url);
    this.influx = new InfluxDB({
      host: url.hostname,
      port: Number(url.port || (url.protocol === 'https:' ? 443 : 8086)),
      protocol: url.protocol === 'https:' ? 'https' : 'http',
      database: options.database,
      ...(options.username ? { username: options.username, password: password ?? '' } : {}),
      options: { timeout: options.timeoutMs },
    });
    const query = new URLSearchParams({ db: options.database, precision: 'n' });
    if (options.retentionPolicy) query.set('rp', options.retentionPolicy);
    this.writeUrl = `${url.origin}/write?${query}`;
    this.authorization = options.username
      ? `Basic ${Buffer.from(`${options.username}:${password ?? ''}`).toString('base64')}`
      : undefined;
    this.retryDelay = options.retryMinMs;

    mkdirSync(dirname(options.spoolPath), { recursive: true, mode: 0o700 });
    this.spool = new Database(options.spoolPath);
    chmodSync(options.spoolPath, 0o600);
    this.spool.pragma('journal_mode = WAL');
    this.spool.pragma('synchronous = NORMAL');
    this.spool.exec(`
      CREATE TABLE IF NOT EXISTS spool (id INTEGER PRIMARY KEY, line TEXT NOT NULL);
      ${SEQ_MARKS_DDL}`);
    const db = this.spool;
    this.marks = new SeqMarkTable(db);
    this.statements = {
      insertOne: db.prepare('INSERT INTO spool (line) VALUES (?)'),
      insertChunk: db.prepare(`INSERT INTO spool (line) VALUES ${Array(CHUNK).fill('(?)').join(', ')}`),
      head: db.prepare('SELECT id, line FROM spool ORDER BY id LIMIT ?'),
      deleteUpTo: db.prepare('DELETE FROM spool WHERE id <= ?'),
    };
    const chunk: string[] = new Array(CHUNK);
    this.writeTx = db.transaction((lines: string[], marks: SeqMark[]) => {
      let i = 0;
      for (; i + CHUNK <= lines.length; i += CHUNK) {
        for (let k = 0; k < CHUNK; k++) chunk[k] = lines[i + k] as string;
        this.statements.insertChunk.run(chunk);
      }
      for (; i < lines.length; i++) this.statements.insertOne.run(lines[i]);
      this.marks.write(marks);
    });
    this.pending = (db.prepare('SELECT count(*) AS n FROM spool').get() as { n: number }).n;
    if (this.pending > 0) this.schedule(0);
  }

  /** Points waiting in the spool. */
  get buffered(): number {
    return this.pending;
  }

  /** True while InfluxDB is failing (the spool is growing). */
  get degraded(): boolean {
    return this.failing;
  }

  async write({ telemetry, events, marks }: WriteBatch): Promise<void> {
    const lines: string[] = [];
    for (const r of telemetry) {
      const line = telemetryLine(r);
      if (line) lines.push(line);
    }
    for (const e of events) lines.push(eventLine(e));
    if (this.pending + lines.length > this.options.maxBufferPoints) {
      this.hooks.onOverflow?.(lines.length);
      this.hooks.log.error(
        { buffered: this.pending, refused: lines.length, max: this.options.maxBufferPoints },
        'ALARM: the InfluxDB spool is full; the batch stays unacknowledged until InfluxDB takes points again',
      );
      throw new BufferFullError(`InfluxDB spool full (${this.pending} points waiting)`);
    }
    this.writeTx(lines, marks);
    this.pending += lines.length;
    if (this.pending >= this.options.batchPoints && !this.failing) this.schedule(0);
    else this.schedule(this.options.flushIntervalMs);
  }

  private schedule(delayMs: number): void {
    if (this.stopped || this.sending) return;
    if (this.timer) {
      if (delayMs > 0) return;
      clearTimeout(this.timer);
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.send();
    }, delayMs);
  }

  /** Sends the head of the spool; on success, the next batch at once while one is full. */
  private send(): Promise<void> {
    if (this.sending) return this.sending;
    this.sending = this.sendOnce()
      .then((next) => {
        this.sending = undefined;
        if (next === 'retry') {
          this.schedule(this.retryDelay);
          this.retryDelay = Math.min(this.options.retryMaxMs, this.retryDelay * 2);
        } else if (this.pending >= this.options.batchPoints) this.schedule(0);
        else if (this.pending > 0) this.schedule(this.options.flushIntervalMs);
      })
      .catch((err: unknown) => {
        this.sending = undefined;
        this.hooks.log.error({ err }, 'InfluxDB sender failed');
        this.schedule(this.retryDelay);
      });
    return this.sending;
  }

  private async sendOnce(): Promise<'ok' | 'retry' | 'idle'> {
    const rows = this.statements.head.all(this.options.batchPoints) as Array<{ id: number; line: string }>;
    if (rows.length === 0) return 'idle';
    const lastId = (rows.at(-1) as { id: number }).id;
    if (!this.databaseReady && this.options.createDatabase) {
      try {
        await this.ensureDatabase();
      } catch (err) {
        const message = (err as Error).message ?? '';
        return this.sendFailed(/\b40[13]\b|authoriz/i.test(message) ? 'unauthorized' : 'unreachable', err);
      }
    }
    let res: Response;
    try {
      res = await fetch(this.writeUrl, {
        method: 'POST',
        body: rows.map((r) => r.line).join('\n'),
        headers: {
          'content-type': 'text/plain; charset=utf-8',
          ...(this.authorization ? { authorization: this.authorization } : {}),
        },
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
    } catch (err) {
      return this.sendFailed((err as Error).name === 'TimeoutError' ? 'timeout' : 'unreachable', err);
    }
    const body = res.status === 204 ? '' : (await res.text().catch(() => '')).slice(0, 2000);
    if (res.status === 204 || res.status === 400) {
      if (res.status === 400) {
        // Refused for good (a field changed type, a line InfluxDB cannot parse): the rest is stored.
        const dropped = Number(/dropped=(\d+)/.exec(body)?.[1] ?? rows.length);
        const reason = /field type conflict/.test(body) ? 'field_type_conflict' : 'refused';
        this.hooks.onDropped?.(reason, dropped);
        this.hooks.log.warn({ dropped, reason, answer: body.slice(0, 300) }, 'InfluxDB refused points');
        this.hooks.onSent?.(rows.length - dropped);
      } else this.hooks.onSent?.(rows.length);
      this.statements.deleteUpTo.run(lastId);
      this.pending = Math.max(0, this.pending - rows.length);
      if (this.failing) this.hooks.log.info({ buffered: this.pending }, 'InfluxDB takes points again');
      this.failing = false;
      this.retryDelay = this.options.retryMinMs;
      return 'ok';
    }
    if (res.status === 404) this.databaseReady = false;
    return this.sendFailed(
      res.status === 401 || res.status === 403 ? 'unauthorized' : `http_${res.status}`,
      new Error(body),
    );
  }

  private sendFailed(reason: string, err: unknown): 'retry' {
    this.hooks.onSendError?.(reason);
    if (!this.failing)
      this.hooks.log.error(
        { reason, err: (err as Error)?.message?.slice(0, 300), buffered: this.pending },
        'InfluxDB write failed; points stay in the spool and are retried',
      );
    this.failing = true;
    return 'retry';
  }

  private async ensureDatabase(): Promise<void> {
    const names = await this.influx.getDatabaseNames();
    if (!names.includes(this.options.database)) await this.influx.createDatabase(this.options.database);
    this.databaseReady = true;
  }

  async sync(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.pending > 0) {
      if (Date.now() > deadline)
        throw new Error(`InfluxDB spool not drained: ${this.pending} points waiting`);
      if (this.timer) {
        clearTimeout(this.timer);
        this.timer = undefined;
      }
      await this.send();
      if (this.pending > 0 && this.failing) await new Promise((r) => setTimeout(r, 100));
    }
  }

  async loadMarks(): Promise<SeqMark[]> {
    return this.marks.load();
  }

  async forgetGateway(gateway: string): Promise<void> {
    this.marks.forget(gateway);
  }

  async history({ device, field, from, to, bucketMs }: HistoryQuery): Promise<HistoryPoint[]> {
    const f = `${ident(field)}::field`;
    const q = `SELECT mean(${f}) AS avg, min(${f}) AS min, max(${f}) AS max, count(${f}) AS count
      FROM telemetry WHERE device = ${lit(device)} AND time >= ${Math.trunc(from)}ms AND time < ${Math.trunc(to)}ms
      GROUP BY time(${Math.max(1, Math.trunc(bucketMs))}ms) fill(none)`;
    let rows: Array<{ time: Date; avg: number; min: number; max: number; count: number }>;
    try {
      rows = (await this.influx.query(q, { precision: 'ms' })) as unknown as typeof rows;
    } catch (err) {
      // A field that holds text has no mean: like the SQLite store, no numeric points.
      if (/unsupported (mean|min|max) (iterator )?type|not a number/i.test((err as Error).message)) return [];
      throw err;
    }
    return rows
      .filter((r) => typeof r.avg === 'number')
      .map((r) => ({ ts: r.time.getTime(), avg: r.avg, min: r.min, max: r.max, count: r.count }));
  }

  async events(query: { device?: string; from: number; to: number; limit: number }): Promise<EventRecord[]> {
    const where = [
      `time >= ${Math.trunc(query.from)}ms`,
      `time < ${Math.trunc(query.to)}ms`,
      ...(query.device ? [`device = ${lit(query.device)}`] : []),
    ].join(' AND ');
    const rows = (await this.influx.query(
      `SELECT * FROM events WHERE ${where} ORDER BY time DESC LIMIT ${Math.max(1, Math.trunc(query.limit))}`,
      { precision: 'ms' },
    )) as unknown as Array<Record<string, unknown> & { time: Date }>;
    return rows.map((r) => ({
      device: String(r.device),
      gateway: String(r.gateway),
      ...(r.site ? { site: String(r.site) } : {}),
      ...(r.kind ? { kind: String(r.kind) } : {}),
      seq: Number(r.qly_seq ?? 0),
      ts: r.time.getTime(),
      type: String(r.type),
      severity: r.severity as EventRecord['severity'],
      data: typeof r.data === 'string' ? (JSON.parse(r.data) as Record<string, unknown>) : null,
    }));
  }

  async latest(device: string): Promise<Record<string, { ts: number; value: number | string | boolean }>> {
    // One LAST() per field: each brings its own time.
    const keys = (await this.influx.query(`SHOW FIELD KEYS FROM telemetry`)) as unknown as Array<{
      fieldKey: string;
    }>;
    const fields = keys.map((k) => k.fieldKey).filter((k) => k !== 'qly_seq');
    if (fields.length === 0) return {};
    const results = (await this.influx.query(
      fields.map(
        (f) => `SELECT last(${ident(f)}::field) AS value FROM telemetry WHERE device = ${lit(device)}`,
      ),
      { precision: 'ms' },
    )) as unknown as Array<Array<{ time: Date; value: number | string | boolean }>>;
    const out: Record<string, { ts: number; value: number | string | boolean }> = {};
    (fields.length === 1 ? [results as unknown as Array<{ time: Date; value: number }>] : results).forEach(
      (rows, i) => {
        const row = rows[0];
        if (row && row.value !== null && row.value !== undefined)
          out[fields[i] as string] = { ts: row.time.getTime(), value: row.value };
      },
    );
    return out;
  }

  async countTelemetry(device?: string): Promise<number> {
    const where = device ? ` WHERE device = ${lit(device)}` : '';
    const rows = (await this.influx.query(
      `SELECT count(qly_seq) AS n FROM telemetry${where}`,
    )) as unknown as Array<{
      n: number;
    }>;
    return rows[0]?.n ?? 0;
  }

  /** Every stored seq of one gateway (tests prove "once"). */
  async seqsOf(gateway: string): Promise<number[]> {
    const rows = (await this.influx.query(
      `SELECT qly_seq FROM telemetry WHERE gateway = ${lit(gateway)}`,
    )) as unknown as Array<{ qly_seq: number }>;
    return rows.map((r) => r.qly_seq);
  }

  async close(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.sending?.catch(() => undefined);
    // What is still in the spool is sent by the next start.
    this.spool.pragma('wal_checkpoint(TRUNCATE)');
    this.spool.close();
  }
}
