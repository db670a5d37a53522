/**
 * Exact deduplication across the hubs of a cluster.
 *
 * One hub keeps a high-water mark per (gateway, lane) (services/seq-tracker.ts): a lane arrives in
 * seq order, so anything at or below the mark is a duplicate. Behind a shared subscription the
 * broker deals one lane's messages out to several hubs, and a redelivery (a hub died before its
 * PUBACK; its MQTT session was taken over) reaches another hub after later messages were stored
 * there, so a mark would call a message a duplicate that was never stored. The cluster therefore
 * records each stored message's identity — (gateway, lane, epoch, seq) — in `ingest_claims` in
 * PostgreSQL.
 *
 * A batch is stored as: BEGIN; claim its messages (INSERT … ON CONFLICT DO NOTHING RETURNING: what
 * comes back is new, the rest was stored before, by this hub or another); write the new rows to the
 * time-series store (InfluxDB's spool commits them locally); COMMIT; then the PUBACKs go out.
 *   - A hub dying before COMMIT: PostgreSQL rolls the claims back, the broker redelivers (to the
 *     hub that takes over the session), it is claimed and stored then. A spool that committed
 *     before the crash holds points the redelivery writes again: InfluxDB keeps one point per
 *     series and timestamp (seq in the nanoseconds), so it is stored once.
 *   - Two hubs claiming one message at once: the second INSERT waits for the first transaction and
 *     then finds the row (or, after a rollback, claims it): never both.
 * The connection is this module's own, so the transaction stays open across the store's await
 * without catching other statements of the hub.
 *
 * Claims are pruned after `cluster.claimRetentionH` by the scheduled work (one hub): a redelivery
 * comes within minutes of a failure; one older than that is still written once to InfluxDB (same
 * point) but would be counted again by side effects not keyed by their own ids.
 */
import type { Lane } from '@qianliyan/protocols';
import type { SqlDatabase } from '../stores/sql.ts';

export interface MessageId {
  gateway: string;
  lane: Lane;
  epoch: string;
  seq: number;
}

export const claimKey = (m: MessageId): string => `${m.gateway}\u0000${m.lane}\u0000${m.epoch}\u0000${m.seq}`;

/** Rows per INSERT: 5 parameters each, far below PostgreSQL's 65,535 and SQLite's 32,766. */
const CHUNK = 500;

export class IngestClaims {
  constructor(
    private readonly db: SqlDatabase,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Claims `ids` (inside the caller's transaction) and returns the keys claimed now: those not
   * stored before. Ids repeated within `ids` are claimed once.
   */
  claim(ids: MessageId[]): Set<string> {
    const fresh = new Set<string>();
    const unique = new Map<string, MessageId>();
    for (const id of ids) unique.set(claimKey(id), id);
    const all = [...unique.values()];
    const now = this.now();
    for (let i = 0; i < all.length; i += CHUNK) {
      const chunk = all.slice(i, i + CHUNK);
      const rows = this.db
        .prepare<unknown[], { gateway: string; lane: Lane; epoch: string; seq: number }>(
          `INSERT INTO ingest_claims (gateway, lane, epoch, seq, claimed_at) VALUES ${chunk
            .map(() => '(?, ?, ?, ?, ?)')
            .join(', ')} ON CONFLICT DO NOTHING RETURNING gateway, lane, epoch, seq`,
        )
        .all(...chunk.flatMap((m) => [m.gateway, m.lane, m.epoch, m.seq, now]));
      for (const r of rows) fresh.add(claimKey({ ...r, seq: Number(r.seq) }));
    }
    return fresh;
  }

  /**
   * Runs `write` with the new keys between BEGIN and COMMIT of the claims: they are committed only
   * when the write succeeded, and rolled back when it failed (the batch is retried, nothing claimed).
   */
  async storeOnce(ids: MessageId[], write: (fresh: Set<string>) => Promise<void>): Promise<void> {
    this.db.exec('BEGIN');
    try {
      const fresh = this.claim(ids);
      await write(fresh);
      this.db.exec('COMMIT');
    } catch (err) {
      try {
        this.db.exec('ROLLBACK');
      } catch {
        /* the connection is gone, and the transaction with it */
      }
      throw err;
    }
  }

  /** Forgets claims made before `before` (ms epoch); returns how many. */
  prune(before: number): number {
    return this.db.prepare<[number]>('DELETE FROM ingest_claims WHERE claimed_at < ?').run(before).changes;
  }

  count(): number {
    return Number(
      this.db.prepare<[], { n: number }>('SELECT count(*) AS n FROM ingest_claims').get()?.n ?? 0,
    );
  }
}
