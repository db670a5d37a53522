/**
 * What every device adapter provides. One adapter per device kind; each exports a definition with
 * its `type`, a config schema whose `type` is fixed to that kind, its capabilities as data, and a
 * factory. Constructors do nothing: work starts in `start()` and ends in `stop()`.
 */
import type { DeviceMeta, Severity, TelemetryValues } from '@qianliyan/protocols';
import type { TObject } from '@sinclair/typebox';
import type { Logger } from 'pino';

/** The device descriptor an adapter reports; the agent adds `seq` and `ts`. */
export type DeviceDescriptor = Omit<DeviceMeta, 'seq' | 'ts'>;

export interface AdapterContext {
  log: Logger;
  /** Queues one telemetry sample in the durable outbox. */
  telemetry(values: TelemetryValues, ts?: number): void;
  /** Queues one device event in the durable outbox. */
  event(type: string, severity: Severity, data?: Record<string, unknown>): void;
}

export interface DeviceAdapter {
  readonly id: string;
  describe(): DeviceDescriptor;
  start(): void;
  stop(): void;
  /** Runs a device command; throws a CommandFailure (or any error) to report an error result. */
  execute?(action: string, params: Record<string, unknown>): Promise<unknown>;
}

export interface AdapterDefinition<C extends { type: string; id: string } = { type: string; id: string }> {
  type: C['type'];
  configSchema: TObject;
  capabilities: readonly string[];
  create(config: C, ctx: AdapterContext): DeviceAdapter;
}

export class CommandFailure extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}
