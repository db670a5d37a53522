/**
 * Durable on-disk outbox. Every edge message is written here first; it is deleted only when the
 * broker has acknowledged it (PUBACK). SQLite in WAL mode: a committed row survives SIGKILL
 * (synchronous=NORMAL) and, with `fsync: true`, power loss too.
 *
 * Two lanes, each with its own `seq` space (see `laneOf` in protocols):
 *  - **control** (state, descriptors, availability, events, command results) is sent first and is
 *    never dropped to make room for telemetry. Rows that describe current state (heartbeats,
 *    descriptors) replace their own unsent predecessor on the same topic instead of piling up while
 *    the uplink is down, keeping the predecessor's seq so the hub sees no gap.
 *  - **bulk** (telemetry) is bounded by `maxMessages` and `maxBytes`: beyond either the oldest rows
 *    are dropped and counted, so a long outage costs the oldest telemetry, not the gateway's disk.
 *
 * Every payload starts with `seq` and `epoch`. The epoch names this database: a wiped or new outbox
 * is a new epoch, and the hub restarts its dedup window for it. The database also holds the command
 * ledger that makes command execution at-most-once per id.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { type Lane, laneOf, parseTopic } from '@qianliyan/protocols';
import Database from 'better-sqlite3';

export interface OutboxRow {
  lane: Lane;
  seq: number;
  topic: string;
  payload: Buffer;
  retain: boolean;
}

export interface OutboxOptions {
  path: string;
  /** Bound on queued telemetry rows. */
  maxMessages: number;
  /** Upper bound on stored telemetry payload bytes; unbounded when omitted. */
  maxBytes?: number;
  /** Hard bound on control rows, for disk safety only (heartbeats coalesce, so it is rarely near). */
  maxControlMessages?: number;
  fsync: boolean;
}

export interface EnqueueOptions {
  retain?: boolean;
  /**
   * Current-state messages (heartbeat, descriptor, availability): replace the newest row on the same
   * topic whose seq is above `sentUpTo` (not yet handed to the broker) instead of adding a row.
   */
  coalesceAbove?: number;
}

/** A row key, as the uplink acknowledges it. */
export interface RowKey {
  lane: Lane;
  seq: number;
}

/** Schema generations of the file; version 1 (one lane, no epoch in payloads) is migrated on open. */
const SCHEMA_VERSION = 2;

export class Outbox {
  readonly epoch: string;
  private readonly db: Database.Database;
  private readonly nextSeq: Record<Lane, number> = { control: 1, bulk: 1 };
  private readonly count: Record<Lane, number> = { control: 0, bulk: 0 };
  private bulkBytes = 0;
  private readonly droppedTotal: Record<Lane, number> = { control: 0, bulk: 0 };
  private readonly statements;
  private readonly enqueueTx: (topic: string, body: object, options: EnqueueOptions) => number;
  private readonly ackTx: (keys: RowKey[]) => void;

  constructor(private readonly options: OutboxOptions) {
    if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true, mode: 0o700 });
    this.db = new Database(options.path);
    if (options.path !== ':memory:') chmodSync(options.path, 0o600);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${options.fsync ? 'FULL' : 'NORMAL'}`);
    const unsentOfOldFile = this.migrate();
    const meta = this.db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?');
    const setMeta = this.db.prepare(
      'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
    );
    this.epoch = meta.get('epoch')?.value ?? '';
    for (const lane of ['control', 'bulk'] as const) {
      this.nextSeq[lane] = Number(meta.get(`next_seq_${lane}`)?.value ?? 1);
      this.droppedTotal[lane] = Number(meta.get(`dropped_${lane}`)?.value ?? 0);
      const totals = this.db
        .prepare(
          'SELECT count(*) AS n, coalesce(sum(length(payload)), 0) AS bytes FROM outbox WHERE lane = ?',
        )
        .get(lane) as { n: number; bytes: number };
      this.count[lane] = totals.n;
      if (lane === 'bulk') this.bulkBytes = totals.bytes;
    }

    this.statements = {
      insert: this.db.prepare(
        'INSERT INTO outbox (lane, seq, topic, payload, retain) VALUES (?, ?, ?, ?, ?)',
      ),
      replace: this.db.prepare('UPDATE outbox SET payload = ?, retain = ? WHERE lane = ? AND seq = ?'),
      newestOnTopic: this.db.prepare<[Lane, string, number], { seq: number }>(
        'SELECT seq FROM outbox WHERE lane = ? AND topic = ? AND seq > ? ORDER BY seq DESC LIMIT 1',
      ),
      deleteOne: this.db.prepare(
        'DELETE FROM outbox WHERE lane = ? AND seq = ? RETURNING length(payload) AS bytes',
      ),
      selectAfter: this.db.prepare(
        'SELECT lane, seq, topic, payload, retain FROM outbox WHERE lane = ? AND seq > ? ORDER BY seq LIMIT ?',
      ),
      dropOldest: this.db.prepare(
        'DELETE FROM outbox WHERE lane = ? AND seq = (SELECT min(seq) FROM outbox WHERE lane = ?) RETURNING length(payload) AS bytes',
      ),
      setMeta,
      claimCommand: this.db.prepare('INSERT OR IGNORE INTO commands (id, deadline) VALUES (?, ?)'),
      pruneCommands: this.db.prepare('DELETE FROM commands WHERE deadline < ?'),
    };
    const maxBytes = options.maxBytes ?? Number.POSITIVE_INFINITY;
    const maxControl = options.maxControlMessages ?? 100_000;

    this.enqueueTx = this.db.transaction((topic: string, body: object, opts: EnqueueOptions) => {
      const kind = parseTopic(topic)?.kind;
      const lane: Lane = kind ? laneOf(kind) : 'control';
      const s = this.statements;
      if (opts.coalesceAbove !== undefined) {
        const unsent = s.newestOnTopic.get(lane, topic, opts.coalesceAbove);
        if (unsent) {
          s.replace.run(this.encode(unsent.seq, body), opts.retain ? 1 : 0, lane, unsent.seq);
          return unsent.seq;
        }
      }
      const seq = this.nextSeq[lane];
      const payload = this.encode(seq, body);
      s.insert.run(lane, seq, topic, payload, opts.retain ? 1 : 0);
      this.nextSeq[lane] = seq + 1;
      s.setMeta.run(`next_seq_${lane}`, String(this.nextSeq[lane]));
      this.count[lane] += 1;
      if (lane === 'bulk') this.bulkBytes += payload.length;
      const overBound = () =>
        lane === 'bulk'
          ? this.count.bulk > this.options.maxMessages || this.bulkBytes > maxBytes
          : this.count.control > maxControl;
      let dropped = 0;
      // The newest row is never dropped: a single message larger than maxBytes still goes out.
      while (this.count[lane] > 1 && overBound()) {
        const row = s.dropOldest.get(lane, lane) as { bytes: number } | undefined;
        if (!row) break;
        this.count[lane] -= 1;
        if (lane === 'bulk') this.bulkBytes -= row.bytes;
        dropped += 1;
      }
      if (dropped > 0) {
        this.droppedTotal[lane] += dropped;
        s.setMeta.run(`dropped_${lane}`, String(this.droppedTotal[lane]));
      }
      return seq;
    });
    this.ackTx = this.db.transaction((keys: RowKey[]) => {
      for (const { lane, seq } of keys) {
        const row = this.statements.deleteOne.get(lane, seq) as { bytes: number } | undefined;
        if (row) {
          this.count[lane] -= 1;
          if (lane === 'bulk') this.bulkBytes -= row.bytes;
        }
      }
    });
    // Rows of a version-1 file are re-sequenced into their lanes under the new epoch.
    for (const r of unsentOfOldFile) {
      const {
        seq: _seq,
        epoch: _epoch,
        ...body
      } = JSON.parse(r.payload.toString('utf8')) as Record<string, unknown>;
      this.enqueue(r.topic, body, { retain: r.retain === 1 });
    }
  }

  /** seq and epoch go first in the payload so a human reading a capture sees them at once. */
  private encode(seq: number, body: object): Buffer {
    return Buffer.from(JSON.stringify({ seq, epoch: this.epoch, ...body }));
  }

  /** Brings the file to SCHEMA_VERSION; returns the unsent rows of a version-1 file. */
  private migrate(): Array<{ topic: string; payload: Buffer; retain: number }> {
    const version = this.db.pragma('user_version', { simple: true }) as number;
    if (version >= SCHEMA_VERSION) return [];
    const hasOldTable =
      this.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'outbox'").get() !==
      undefined;
    const old = hasOldTable
      ? (this.db.prepare('SELECT topic, payload, retain FROM outbox ORDER BY seq').all() as Array<{
          topic: string;
          payload: Buffer;
          retain: number;
        }>)
      : [];
    this.db.transaction(() => {
      this.db.exec(`
        DROP TABLE IF EXISTS outbox;
        CREATE TABLE outbox (lane TEXT NOT NULL, seq INTEGER NOT NULL, topic TEXT NOT NULL,
          payload BLOB NOT NULL, retain INTEGER NOT NULL, PRIMARY KEY (lane, seq)) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS commands (id TEXT PRIMARY KEY, deadline INTEGER NOT NULL);
        DELETE FROM meta;
      `);
      // A new schema is a new epoch: the hub restarts its windows, whatever the old file held.
      this.db.prepare("INSERT INTO meta (key, value) VALUES ('epoch', ?)").run(newEpoch());
      this.db.pragma(`user_version = ${SCHEMA_VERSION}`);
    })();
    return old;
  }

  /** Stores a message durably and returns its seq in its lane. `body` must not hold `seq`/`epoch`. */
  enqueue(topic: string, body: object, options: EnqueueOptions = {}): number {
    return this.enqueueTx(topic, body, options);
  }

  /** Rows of one lane with seq greater than `afterSeq`, oldest first. */
  peek(lane: Lane, afterSeq: number, limit: number): OutboxRow[] {
    return (
      this.statements.selectAfter.all(lane, afterSeq, limit) as Array<{
        lane: Lane;
        seq: number;
        topic: string;
        payload: Buffer;
        retain: number;
      }>
    ).map((r) => ({ lane: r.lane, seq: r.seq, topic: r.topic, payload: r.payload, retain: r.retain === 1 }));
  }

  /** Deletes acknowledged rows. */
  ack(keys: RowKey[]): void {
    if (keys.length > 0) this.ackTx(keys);
  }

  /**
   * Records that a command id is being executed. Returns false when the id was seen before (an MQTT
   * redelivery): the caller must not execute it again. Ids are kept until their deadline has passed,
   * after which the edge refuses the command anyway.
   */
  claimCommand(id: string, deadline: number): boolean {
    return this.statements.claimCommand.run(id, deadline).changes === 1;
  }

  pruneCommands(now = Date.now()): void {
    this.statements.pruneCommands.run(now - 60_000);
  }

  /** Rows waiting in both lanes. */
  get depth(): number {
    return this.count.control + this.count.bulk;
  }

  laneDepth(lane: Lane): number {
    return this.count[lane];
  }

  /** Telemetry payload bytes waiting to be sent. */
  get size(): number {
    return this.bulkBytes;
  }

  /** Rows dropped over the outbox's life (both lanes). */
  get dropped(): number {
    return this.droppedTotal.control + this.droppedTotal.bulk;
  }

  laneDropped(lane: Lane): number {
    return this.droppedTotal[lane];
  }

  /** The seq the next enqueued message of a lane will get. */
  nextSeqOf(lane: Lane): number {
    return this.nextSeq[lane];
  }

  close(): void {
    this.db.close();
  }
}

/** 12 characters of base64url: 72 random bits, short enough to ride in every payload. */
function newEpoch(): string {
  return randomBytes(9).toString('base64url');
}
