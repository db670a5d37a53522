/**
 * The `modbus-sensor` adapter: a water-level gauge, rain gauge or environment sensor read over
 * Modbus TCP — the device itself, or an RS-485 sensor behind a serial-to-TCP gateway (`unitId` is
 * then its RS-485 address).
 *
 * Every `pollIntervalMs` the adapter reads its register map (`points`, grouped into as few reads as
 * the protocol allows, `registers.ts`) and publishes one telemetry sample of the scaled numbers.
 * The descriptor names each point as a `telemetry.<name>` capability and carries its unit
 * (`units`), so the hub can show "水位 2.41 m". Nothing is ever written to the device.
 *
 * Health: every failed poll has a cause (`health.ts`): unreachable, timeout, exception (named by
 * its code), garbage, closed, a value that is not a number. A device is reported offline once it
 * has given no complete reading for `offlineAfterPolls` poll intervals, with the latest cause as
 * the reason (or `MODBUS_STALE` when the polls themselves are slower than that), and online again
 * at its next complete reading. A changed reason while offline is reported again. Failures are
 * counted by kind (`counters`) and logged at most once a minute per kind. Connection-level failures
 * drop the connection; it is reopened with exponential backoff and jitter.
 */
import { ID_PATTERN, TelemetryUnit, type TelemetryValues } from '@qianliyan/protocols';
import { type Static, Type } from '@sinclair/typebox';
import { ThrottledLog } from '../../throttled-log.ts';
import type { AdapterContext, AdapterDefinition, DeviceAdapter, DeviceDescriptor } from '../types.ts';
import { ModbusConnection } from './client.ts';
import { FAILURE_KINDS, type FailureKind, ModbusFailure } from './health.ts';
import {
  DATA_TYPES,
  decodeBlock,
  MAX_ADDRESS,
  planBlocks,
  type ReadBlock,
  registerCount,
  WORD_ORDERS,
} from './registers.ts';

const literals = <T extends string>(values: readonly T[]) => values.map((v) => Type.Literal(v));

const PointSchema = Type.Object(
  {
    name: Type.String({
      // Lower case and ≤ 48 so that `telemetry.<name>` is a valid capability.
      pattern: '^[a-z][a-z0-9_]{0,47}$',
      description: 'the telemetry key of this reading, e.g. `water_level`, `rainfall`, `temperature`',
    }),
    address: Type.Integer({
      minimum: 0,
      maximum: MAX_ADDRESS,
      description:
        'first register, 0-based as sent on the wire (what a datasheet calls 40001 or 30001 is address 0)',
    }),
    function: Type.Union(literals(['holding', 'input'] as const), {
      default: 'holding',
      description: '`holding` registers (read with function 3) or `input` registers (function 4)',
    }),
    dataType: Type.Union(literals(DATA_TYPES), {
      default: 'uint16',
      description: '`int16`, `uint16` (one register); `int32`, `uint32`, `float32` (two registers)',
    }),
    wordOrder: Type.Union(literals(WORD_ORDERS), {
      default: 'ABCD',
      description:
        'for 32-bit types, the order the bytes of the big-endian value ABCD arrive in: `ABCD` high word first, `CDAB` low word first, `BADC`/`DCBA` with the bytes of each word swapped',
    }),
    scale: Type.Number({ default: 1, description: 'reading = raw × scale + offset (e.g. 0.1 for tenths)' }),
    offset: Type.Number({ default: 0, description: 'added after scaling (e.g. the gauge’s datum)' }),
    unit: Type.Optional(
      Type.String({
        pattern: TelemetryUnit.pattern, // the contract's: what DeviceMeta.units accepts
        description: 'unit shown beside the value, e.g. `m`, `mm`, `°C`, `%`',
      }),
    ),
  },
  { additionalProperties: false },
);

const configSchema = Type.Object(
  {
    type: Type.Literal('modbus-sensor', { description: 'the adapter: `modbus-sensor`' }),
    id: Type.String({ pattern: `^${ID_PATTERN}$`, description: 'device id, unique on this gateway' }),
    name: Type.String({ minLength: 1, maxLength: 128, description: 'name shown to officers' }),
    position: Type.Object(
      {
        lat: Type.Number({ minimum: -90, maximum: 90, description: 'where the sensor is: latitude, WGS-84' }),
        lon: Type.Number({ minimum: -180, maximum: 180, description: 'longitude, WGS-84' }),
      },
      { additionalProperties: false },
    ),
    model: Type.Optional(
      Type.String({ minLength: 1, maxLength: 128, description: 'make and model, shown in the device panel' }),
    ),
    host: Type.String({
      pattern: '^[A-Za-z0-9._:-]{1,253}$',
      description: 'the sensor (or its serial-to-TCP gateway) on the village LAN: an IP address or host name',
    }),
    port: Type.Integer({ minimum: 1, maximum: 65535, default: 502, description: 'Modbus TCP port' }),
    unitId: Type.Integer({
      minimum: 0,
      maximum: 255,
      default: 1,
      description: 'unit identifier: 1 for most devices, the RS-485 address behind a serial-to-TCP gateway',
    }),
    pollIntervalMs: Type.Integer({
      minimum: 200,
      maximum: 3_600_000,
      default: 5000,
      description: 'how often the register map is read',
    }),
    timeoutMs: Type.Integer({
      minimum: 100,
      maximum: 30_000,
      default: 1000,
      description: 'for the connection and for each read',
    }),
    offlineAfterPolls: Type.Integer({
      minimum: 1,
      maximum: 100,
      default: 3,
      description:
        'poll intervals without a complete reading before the sensor is reported offline (1: at the first failure)',
    }),
    reconnectMinMs: Type.Integer({ minimum: 50, default: 1000, description: 'reconnect backoff base' }),
    reconnectMaxMs: Type.Integer({ minimum: 100, default: 60_000, description: 'reconnect backoff ceiling' }),
    points: Type.Array(PointSchema, {
      minItems: 1,
      maxItems: 64,
      description: 'the register map: one entry per reading (`points[]` keys below)',
    }),
  },
  { additionalProperties: false },
);

export type ModbusSensorConfig = Static<typeof configSchema>;

/** Checks a schema cannot express: names unique, registers inside the address space, backoff range. */
function check(config: ModbusSensorConfig): string[] {
  const problems: string[] = [];
  const names = new Set<string>();
  config.points.forEach((point, i) => {
    if (names.has(point.name)) problems.push(`/points/${i}/name: duplicate point name ${point.name}`);
    names.add(point.name);
    const last = point.address + registerCount(point.dataType) - 1;
    if (last > MAX_ADDRESS)
      problems.push(
        `/points/${i}/address: a ${point.dataType} at ${point.address} ends past register ${MAX_ADDRESS}`,
      );
  });
  if (config.reconnectMinMs > config.reconnectMaxMs)
    problems.push('/reconnectMinMs: must not exceed reconnectMaxMs');
  return problems;
}

class ModbusSensor implements DeviceAdapter {
  readonly id: string;
  /** Polls, complete readings, connections opened and failures by kind, since start. */
  readonly counters = {
    polls: 0,
    readings: 0,
    connects: 0,
    failures: Object.fromEntries(FAILURE_KINDS.map((k) => [k, 0])) as Record<FailureKind, number>,
  };
  private readonly blocks: ReadBlock[];
  /** A sensor polled every second that stays broken for a night must not write 30,000 lines. */
  private readonly logs: ThrottledLog;
  private conn: ModbusConnection | undefined;
  private running = false;
  private loopDone: Promise<void> = Promise.resolve();
  private sleepTimer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private backoffMs: number;
  private nextConnectAt = 0;
  /** When the last complete reading came (or the adapter started). */
  private lastReadingAt = 0;
  /** The latest failure since that reading. */
  private lastFailure: ModbusFailure | undefined;
  private online: boolean | undefined;
  private reportedReason: string | undefined;
  private failuresSinceReading = 0;

  constructor(
    private readonly config: ModbusSensorConfig,
    private readonly ctx: AdapterContext,
  ) {
    this.id = config.id;
    this.blocks = planBlocks(config.points);
    this.backoffMs = config.reconnectMinMs;
    this.logs = new ThrottledLog(ctx.log, 60_000, 1000);
  }

  describe(): DeviceDescriptor {
    const { name, position, model, points } = this.config;
    const units = Object.fromEntries(points.filter((p) => p.unit).map((p) => [p.name, p.unit as string]));
    return {
      kind: 'sensor',
      name,
      model: model ?? 'Modbus TCP sensor',
      position,
      capabilities: points.map((p) => `telemetry.${p.name}`),
      ...(Object.keys(units).length ? { units } : {}),
    };
  }

  start(): void {
    this.running = true;
    this.lastReadingAt = Date.now();
    this.watchdog = setInterval(() => this.checkHealth(), this.config.pollIntervalMs);
    this.loopDone = this.loop();
  }

  async stop(): Promise<void> {
    this.running = false;
    clearInterval(this.watchdog);
    clearTimeout(this.sleepTimer);
    this.wake?.();
    this.conn?.close();
    this.conn = undefined;
    await this.loopDone;
  }

  private async loop(): Promise<void> {
    while (this.running) {
      const started = Date.now();
      try {
        await this.poll();
      } catch (err) {
        // poll() classifies every device failure itself; this is a bug, which must not stop polling.
        this.ctx.log.error({ err }, 'modbus poll failed unexpectedly');
      }
      if (!this.running) break;
      this.checkHealth();
      const next = Math.max(started + this.config.pollIntervalMs, this.conn ? 0 : this.nextConnectAt);
      await this.sleep(next - Date.now());
    }
  }

  private sleep(ms: number): Promise<void> {
    if (ms <= 0 || !this.running) return Promise.resolve();
    return new Promise((resolve) => {
      this.wake = resolve;
      this.sleepTimer = setTimeout(resolve, ms);
    });
  }

  private async poll(): Promise<void> {
    this.counters.polls += 1;
    if (this.conn?.closed) {
      // Ended between polls. Many devices close an idle connection: that alone is no failure, a
      // reconnect follows. Bytes sent out of turn are (the device is not speaking Modbus to us).
      const failure = this.conn.failure;
      if (failure && failure.kind !== 'closed') this.record(failure);
      this.conn = undefined;
    }
    if (!this.conn) {
      try {
        const { host, port, unitId, timeoutMs } = this.config;
        this.conn = await ModbusConnection.open({ host, port, unitId, timeoutMs });
        this.counters.connects += 1;
      } catch (err) {
        if (!this.running) return;
        this.record(err);
        this.scheduleReconnect();
        return;
      }
      if (!this.running) return this.conn.close();
    }
    const conn = this.conn;
    const values: TelemetryValues = {};
    let complete = true;
    for (const block of this.blocks) {
      let words: number[];
      try {
        words = await conn.read(block.table, block.address, block.count);
      } catch (err) {
        if (!this.running) return; // stop() closed the connection under this read
        complete = false;
        this.record(err);
        if (conn.closed) {
          // Timeout, garbage or closed: the rest of this poll would fail the same way.
          this.conn = undefined;
          this.scheduleReconnect();
          break;
        }
        continue; // an exception concerns this read only; the other points may still be read
      }
      for (const [point, value] of decodeBlock(block, words)) {
        if (Number.isFinite(value)) values[point.name] = value;
        else {
          complete = false;
          this.record(new ModbusFailure('bad_value', `${point.name} read as ${value}, not a number`));
        }
      }
    }
    // What was read is published even when another point failed: a good water level must not wait
    // for a broken humidity probe. The device stays unhealthy until a poll reads everything.
    if (Object.keys(values).length > 0) this.ctx.telemetry(values);
    if (complete && this.running) this.onReading();
  }

  private onReading(): void {
    this.counters.readings += 1;
    this.lastReadingAt = Date.now();
    this.backoffMs = this.config.reconnectMinMs;
    if (this.failuresSinceReading > 0)
      this.logs.write(
        'info',
        'recovered',
        { failures: this.failuresSinceReading },
        'modbus sensor reads again',
      );
    this.failuresSinceReading = 0;
    this.lastFailure = undefined;
    if (this.online !== true) {
      this.online = true;
      this.reportedReason = undefined;
      this.ctx.availability(true);
    }
  }

  private record(err: unknown): void {
    const failure =
      err instanceof ModbusFailure
        ? err
        : new ModbusFailure(
            'garbage',
            `unexpected error: ${String((err as Error)?.message ?? err).slice(0, 120)}`,
          );
    this.counters.failures[failure.kind] += 1;
    this.failuresSinceReading += 1;
    this.lastFailure = failure;
    this.ctx.log.debug({ kind: failure.kind, code: failure.code }, failure.sentence);
    this.logs.write(
      'warn',
      `${failure.kind}:${failure.exceptionCode ?? ''}`,
      {
        kind: failure.kind,
        code: failure.code,
        host: this.config.host,
        port: this.config.port,
        unitId: this.config.unitId,
        failures: this.counters.failures[failure.kind],
      },
      failure.sentence,
    );
  }

  private scheduleReconnect(): void {
    // Full jitter around the backoff, so sensors that went down together do not reconnect together.
    const delay = this.backoffMs * (0.5 + Math.random() * 0.5);
    this.nextConnectAt = Date.now() + delay;
    this.backoffMs = Math.min(this.config.reconnectMaxMs, this.backoffMs * 2);
  }

  /** Offline after `offlineAfterPolls` intervals without a complete reading; the reason kept current. */
  private checkHealth(): void {
    if (!this.running) return;
    const { offlineAfterPolls, pollIntervalMs } = this.config;
    const window = offlineAfterPolls * pollIntervalMs;
    if (Date.now() - this.lastReadingAt < window) return;
    const reason =
      this.lastFailure?.reason ??
      new ModbusFailure(
        'stale',
        `no reading for ${offlineAfterPolls} poll${offlineAfterPolls > 1 ? 's' : ''} (${Math.round(window / 100) / 10} s): the device is slow to answer`,
      ).reason;
    if (this.online === false && reason === this.reportedReason) return;
    if (!this.lastFailure) {
      this.counters.failures.stale += 1;
      this.logs.write('warn', 'stale', { kind: 'stale', code: 'MODBUS_STALE' }, reason);
    }
    this.online = false;
    this.reportedReason = reason;
    this.ctx.availability(false, reason);
  }
}

export const modbusSensor: AdapterDefinition<ModbusSensorConfig> = {
  type: 'modbus-sensor',
  configSchema,
  capabilities: ['telemetry.<point name>'],
  check,
  create: (config, ctx) => new ModbusSensor(config, ctx),
};
