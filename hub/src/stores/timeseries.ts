/**
 * The time-series store interface. The embedded default is SQLite; InfluxDB implements the same
 * interface in a later issue, and one shared contract suite runs against both.
 */
import type { Severity, TelemetryValues } from '@qianliyan/protocols';

export interface TelemetryRecord {
  device: string;
  gateway: string;
  seq: number;
  ts: number;
  values: TelemetryValues;
}

export interface EventRecord {
  device: string;
  gateway: string;
  seq: number;
  ts: number;
  type: string;
  severity: Severity;
  data: Record<string, unknown> | null;
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
  /** Writes one batch atomically: all of it or none of it. */
  write(telemetry: TelemetryRecord[], events: EventRecord[]): Promise<void>;
  history(query: HistoryQuery): Promise<HistoryPoint[]>;
  events(query: { device?: string; from: number; to: number; limit: number }): Promise<EventRecord[]>;
  /** Number of stored telemetry rows (optionally of one device); used by tests and benchmarks. */
  countTelemetry(device?: string): Promise<number>;
  close(): Promise<void>;
}
