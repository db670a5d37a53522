/**
 * What every device adapter provides. One adapter per device kind; each exports a definition with
 * its `type`, a config schema whose `type` is fixed to that kind, its capabilities as data, and a
 * factory. Constructors do nothing: work starts in `start()` and ends in `stop()`.
 *
 * Commands: an adapter declares the actions it takes in one table (`actions`), keyed by names from
 * the protocols catalog, whose params schemas the agent checks before calling the handler. The
 * device advertises exactly those actions as `cmd.<action>` capabilities.
 */
import type {
  ActionNameKnown,
  DeviceMeta,
  Severity,
  StreamName,
  TelemetryValues,
} from '@qianliyan/protocols';
import type { TObject } from '@sinclair/typebox';
import type { Logger } from 'pino';
import type { HubLink } from '../video/hub-link.ts';
import type { RtspSource } from '../video/video-actions.ts';

/** The device descriptor an adapter reports; the agent adds `seq`, `epoch`, `ts` and `cmd.*` capabilities. */
export type DeviceDescriptor = Omit<DeviceMeta, 'seq' | 'epoch' | 'ts'>;

export interface AdapterContext {
  log: Logger;
  /** Queues one telemetry sample in the durable outbox. */
  telemetry(values: TelemetryValues, ts?: number): void;
  /** Queues one device event in the durable outbox. */
  event(type: string, severity: Severity, data?: Record<string, unknown>): void;
  /** Reports whether the gateway can reach the device; sent only when it changes. */
  availability(online: boolean, reason?: string): void;
  /** The device's descriptor changed (it learned its model, route…): announce it again. */
  metaChanged(): void;
  /** Where media goes (stream pushes, snapshots); undefined when the gateway has no `video.hubUrl`. */
  hub: HubLink | undefined;
  /** A directory of its own beside the outbox; created on first use. */
  dataDir: string;
  /** A cache every device of this gateway shares (clips, synthesised speech); created on first use. */
  cacheDir: string;
}

/** A handler gets params already validated (defaults filled) against the catalog. */
export type ActionHandler = (params: Record<string, unknown>) => Promise<unknown>;
export type ActionTable = Partial<Record<ActionNameKnown, ActionHandler>>;

export interface DeviceAdapter {
  readonly id: string;
  describe(): DeviceDescriptor;
  start(): void;
  stop(): void | Promise<void>;
  /** The actions this device takes; absent or empty means it takes no commands. */
  readonly actions?: ActionTable;
  /**
   * A camera the gateway can record: the RTSP address (and credentials) of one of its streams.
   * Rejects while the stream is not known yet (the camera not connected); the recorder retries.
   */
  recordingSource?(stream: StreamName): Promise<RtspSource>;
}

export interface AdapterDefinition<C extends { type: string; id: string } = { type: string; id: string }> {
  type: C['type'];
  configSchema: TObject;
  capabilities: readonly string[];
  /**
   * What the schema cannot say (unique names inside a list, ranges that depend on each other),
   * checked with the rest of the config before anything starts: one problem per line, JSON paths
   * relative to the device.
   */
  check?(config: C): string[];
  create(config: C, ctx: AdapterContext): DeviceAdapter;
}

/** Thrown by a handler to report an error result with a specific code. */
export class CommandFailure extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}
