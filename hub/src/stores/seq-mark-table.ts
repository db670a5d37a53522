/**
 * The ingest's dedup marks in a SQLite table, shared by both time-series stores: SQLite keeps them
 * beside the rows, InfluxDB beside its spool — in either case written in the same transaction as the
 * batch they cover.
 */
import type Database from 'better-sqlite3';
import type { SeqMark } from './timeseries.ts';

export const SEQ_MARKS_DDL = `CREATE TABLE IF NOT EXISTS seq_marks (
  gateway TEXT NOT NULL, lane TEXT NOT NULL, epoch TEXT NOT NULL, high_water INTEGER NOT NULL,
  retired TEXT NOT NULL DEFAULT '[]', PRIMARY KEY (gateway, lane));`;

export class SeqMarkTable {
  private readonly upsert;

  constructor(private readonly db: Database.Database) {
    this.upsert = db.prepare(
      `INSERT INTO seq_marks (gateway, lane, epoch, high_water, retired) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT(gateway, lane) DO UPDATE SET epoch = excluded.epoch, high_water = excluded.high_water,
         retired = excluded.retired`,
    );
  }

  /** Call inside the batch's transaction. */
  write(marks: SeqMark[]): void {
    for (const m of marks)
      this.upsert.run(m.gateway, m.lane, m.epoch, m.highWater, JSON.stringify(m.retired));
  }

  load(): SeqMark[] {
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

  forget(gateway: string): void {
    this.db.prepare('DELETE FROM seq_marks WHERE gateway = ?').run(gateway);
  }
}
