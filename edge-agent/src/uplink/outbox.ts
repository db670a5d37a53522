/**
 * Durable on-disk outbox. Every edge message is written here first and gets the gateway's next
 * `seq`; it is deleted only when the broker has acknowledged it (PUBACK). SQLite in WAL mode: a
 * committed row survives SIGKILL (synchronous=NORMAL) and, with `fsync: true`, power loss too.
 *
 * Bounded by `maxMessages` and `maxBytes` (payload bytes): when either is exceeded, the oldest rows
 * are dropped and counted, so a long outage costs the oldest telemetry rather than the gateway's disk.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';

export interface OutboxRow {
  seq: number;
  topic: string;
  payload: Buffer;
  retain: boolean;
}

export interface OutboxOptions {
  path: string;
  maxMessages: number;
  /** Upper bound on stored payload bytes; unbounded when omitted. */
  maxBytes?: number;
  fsync: boolean;
}

export class Outbox {
  readonly epoch: string;
  private readonly db: Database.Database;
  private nextSeq: number;
  private count: number;
  private bytes: number;
  private droppedTotal: number;
  private readonly insert: Database.Statement;
  private readonly deleteOne: Database.Statement;
  private readonly selectAfter: Database.Statement;
  private readonly setMeta: Database.Statement;
  private readonly enqueueTx: (topic: string, body: object, retain: boolean) => number;
  private readonly ackTx: (seqs: number[]) => void;

  constructor(private readonly options: OutboxOptions) {
    if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true });
    this.db = new Database(options.path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${options.fsync ? 'FULL' : 'NORMAL'}`);
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY, topic TEXT NOT NULL, payload BLOB NOT NULL, retain INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    `);
    const getMeta = this.db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?');
    this.setMeta = this.db.prepare(
      'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
    );
    let epoch = getMeta.get('epoch')?.value;
    if (!epoch) {
      epoch = randomUUID();
      this.setMeta.run('epoch', epoch);
    }
    this.epoch = epoch;
    this.nextSeq = Number(getMeta.get('next_seq')?.value ?? 1);
    this.droppedTotal = Number(getMeta.get('dropped')?.value ?? 0);
    const totals = this.db
      .prepare('SELECT count(*) AS n, coalesce(sum(length(payload)), 0) AS bytes FROM outbox')
      .get() as {
      n: number;
      bytes: number;
    };
    this.count = totals.n;
    this.bytes = totals.bytes;

    this.insert = this.db.prepare('INSERT INTO outbox (seq, topic, payload, retain) VALUES (?, ?, ?, ?)');
    this.deleteOne = this.db.prepare('DELETE FROM outbox WHERE seq = ? RETURNING length(payload) AS bytes');
    this.selectAfter = this.db.prepare(
      'SELECT seq, topic, payload, retain FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?',
    );
    const dropOldest = this.db.prepare(
      'DELETE FROM outbox WHERE seq = (SELECT min(seq) FROM outbox) RETURNING length(payload) AS bytes',
    );
    const maxBytes = options.maxBytes ?? Number.POSITIVE_INFINITY;

    this.enqueueTx = this.db.transaction((topic: string, body: object, retain: boolean) => {
      const seq = this.nextSeq;
      // seq goes first in the payload so a human reading a capture sees it at once.
      const payload = Buffer.from(JSON.stringify({ seq, ...body }));
      this.insert.run(seq, topic, payload, retain ? 1 : 0);
      this.nextSeq = seq + 1;
      this.setMeta.run('next_seq', String(this.nextSeq));
      this.count += 1;
      this.bytes += payload.length;
      let dropped = 0;
      // The newest row is never dropped: a single message larger than maxBytes still goes out.
      while (this.count > 1 && (this.count > this.options.maxMessages || this.bytes > maxBytes)) {
        const row = dropOldest.get() as { bytes: number } | undefined;
        if (!row) break;
        this.count -= 1;
        this.bytes -= row.bytes;
        dropped += 1;
      }
      if (dropped > 0) {
        this.droppedTotal += dropped;
        this.setMeta.run('dropped', String(this.droppedTotal));
      }
      return seq;
    });
    this.ackTx = this.db.transaction((seqs: number[]) => {
      for (const seq of seqs) {
        const row = this.deleteOne.get(seq) as { bytes: number } | undefined;
        if (row) {
          this.count -= 1;
          this.bytes -= row.bytes;
        }
      }
    });
  }

  /** Stores a message durably and returns its seq. `body` must not contain `seq`: the outbox assigns it. */
  enqueue(topic: string, body: object, retain = false): number {
    return this.enqueueTx(topic, body, retain);
  }

  /** Rows with seq greater than `afterSeq`, oldest first. */
  peek(afterSeq: number, limit: number): OutboxRow[] {
    return (
      this.selectAfter.all(afterSeq, limit) as Array<{
        seq: number;
        topic: string;
        payload: Buffer;
        retain: number;
      }>
    ).map((r) => ({ seq: r.seq, topic: r.topic, payload: r.payload, retain: r.retain === 1 }));
  }

  /** Deletes acknowledged rows. */
  ack(seqs: number[]): void {
    if (seqs.length > 0) this.ackTx(seqs);
  }

  get depth(): number {
    return this.count;
  }

  /** Payload bytes waiting to be sent. */
  get size(): number {
    return this.bytes;
  }

  get dropped(): number {
    return this.droppedTotal;
  }

  /** The seq the next enqueued message will get. */
  get next(): number {
    return this.nextSeq;
  }

  close(): void {
    this.db.close();
  }
}
