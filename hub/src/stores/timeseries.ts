/**
 * The time-series store interface. The embedded default is SQLite; InfluxDB implements the same
 * interface in a later issue, and one shared contract suite runs against both.
 */
import type { Lane, Severity, TelemetryValues } from '@qianliyan/protocols';

export interface TelemetryRecord {
  device: string;
  gateway: string;
  /** The gateway's site and the device's kind, where known: tags in InfluxDB (not stored by SQLite). */
  site?: string;
  kind?: string;
  seq: number;
  ts: number;
  values: TelemetryValues;
}

export interface EventRecord {
  device: string;
  gateway: string;
  site?: string;
  kind?: string;
  seq: number;
  ts: number;
  type: string;
  severity: Severity;
  data: Record<string, unknown> | null;
}

/** A dedup window's high-water mark, stored with the rows it covers (see SeqTracker). */
export interface SeqMark {
  gateway: string;
  lane: Lane;
  epoch: string;
  highWater: number;
  /** Epochs this window moved past, newest first. */
  retired: string[];
}

/** One write: rows and the dedup marks that cover them, committed together or not at all. */
export interface WriteBatch {
  telemetry: TelemetryRecord[];
  events: EventRecord[];
  marks: SeqMark[];
}

export interface HistoryQuery {
  device: string;
  field: string;
  from: number;
  to: number;
  /** Width of a downsampling bucket in ms; each bucket yields avg/min/max/count. */
  bucketMs: number;
}

export interface HistoryPoint {
  ts: number;
  avg: number;
  min: number;
  max: number;
  count: number;
}

export interface TimeSeriesStore {
  /**
   * Writes one batch atomically, all of it or none of it, marks included: after a crash the marks
   * never claim rows that are not stored, and no stored row is outside the marks, so a message the
   * broker redelivers is stored exactly once. (A store that cannot commit marks with rows must make
   * its writes idempotent instead.)
   */
  write(batch: WriteBatch): Promise<void>;
  /** The dedup marks as last committed. */
  loadMarks(): Promise<SeqMark[]>;
  /** Deletes a gateway's marks (the gateway was deleted). Its rows stay as history. */
  forgetGateway(gateway: string): Promise<void>;
  history(query: HistoryQuery): Promise<HistoryPoint[]>;
  events(query: { device?: string; from: number; to: number; limit: number }): Promise<EventRecord[]>;
  /** The latest value of each field of a device (from its last `scanRows` samples at most), with its time. */
  latest(device: string): Promise<Record<string, { ts: number; value: number | string | boolean }>>;
  /** Resolves when everything written so far can be queried (a store that sends in the background drains). */
  sync(timeoutMs?: number): Promise<void>;
  /** Number of stored telemetry rows (optionally of one device); used by tests and benchmarks. */
  countTelemetry(device?: string): Promise<number>;
  close(): Promise<void>;
}
