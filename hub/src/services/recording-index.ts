/**
 * The hub's index of what each gateway holds of each camera's recording: one row per camera, the
 * latest `…/dev/{device}/recordings` the gateway reported (time ranges, not segments), so the hub
 * knows what can be played or pulled without moving video. A retained copy older than the row is
 * ignored; the row is replaced whole (the gateway's report is the truth about its own disk).
 */
import {
  gapsOf,
  type RecorderState,
  type RecordingIndex,
  type RecordingIndexView,
  type RecordingRange,
  type StreamName,
} from '@qianliyan/protocols';
import type { SqlDatabase } from '../stores/sql.ts';

interface Row {
  gateway: string;
  device: string;
  site: string;
  stream: string;
  state: string;
  ranges: string;
  segments: number;
  bytes: number;
  deleted: number;
  ts: number;
  updated_at: number;
}

export class RecordingIndexStore {
  private readonly stmt;

  constructor(db: SqlDatabase) {
    this.stmt = {
      upsert: db.prepare<
        [string, string, string, string, string, string, number, number, number, number, number]
      >(
        `INSERT INTO recording_index (gateway, device, site, stream, state, ranges, segments, bytes, deleted, ts, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (gateway, device) DO UPDATE SET site = excluded.site, stream = excluded.stream,
           state = excluded.state, ranges = excluded.ranges, segments = excluded.segments,
           bytes = excluded.bytes, deleted = excluded.deleted, ts = excluded.ts, updated_at = excluded.updated_at
         WHERE excluded.ts >= recording_index.ts`,
      ),
      get: db.prepare<[string, string], Row>(
        'SELECT * FROM recording_index WHERE gateway = ? AND device = ?',
      ),
      forget: db.prepare<[string]>('DELETE FROM recording_index WHERE gateway = ?'),
    };
  }

  /** Stores a gateway's report (an older one than what is held changes nothing). */
  apply(site: string, gateway: string, device: string, index: RecordingIndex, now = Date.now()): void {
    this.stmt.upsert.run(
      gateway,
      device,
      site,
      index.stream,
      index.state,
      JSON.stringify(index.ranges),
      index.segments,
      index.bytes,
      index.deleted,
      index.ts,
      now,
    );
  }

  forgetGateway(gateway: string): void {
    this.stmt.forget.run(gateway);
  }

  /** What the gateway holds of a camera (empty when it never reported). */
  view(gateway: string, device: string, site: string): RecordingIndexView {
    const row = this.stmt.get.get(gateway, device);
    const ranges = row ? (JSON.parse(row.ranges) as RecordingRange[]) : [];
    return {
      device: `${gateway}.${device}`,
      site: row?.site ?? site,
      stream: (row?.stream as StreamName | undefined) ?? null,
      state: (row?.state as RecorderState | undefined) ?? null,
      ranges,
      gaps: gapsOf(ranges),
      segments: Number(row?.segments ?? 0),
      bytes: Number(row?.bytes ?? 0),
      deleted: Number(row?.deleted ?? 0),
      updatedAt: row ? Number(row.updated_at) : null,
    };
  }

  /** How much of [from, to] the gateway holds, in ms. */
  held(gateway: string, device: string, from: number, to: number): number {
    let covered = 0;
    for (const [a, b] of this.view(gateway, device, '').ranges)
      covered += Math.max(0, Math.min(b, to) - Math.max(a, from));
    return covered;
  }
}
