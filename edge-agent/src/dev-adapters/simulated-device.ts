/**
 * Shared pieces of the in-process simulators: the common config fields and a timer-driven base.
 * These simulators stand in for real devices until the protocol-speaking peers (ONVIF, RTP,
 * MAVLink) replace them; they produce the same contract messages a real adapter would.
 */
import { ID_PATTERN } from '@qianliyan/protocols';
import { type TProperties, Type } from '@sinclair/typebox';
import type { ActionTable, AdapterContext, DeviceAdapter, DeviceDescriptor } from '../adapters/types.ts';

export const SimulatedBase = {
  id: Type.String({ pattern: `^${ID_PATTERN}$`, description: 'device id, unique on this gateway' }),
  name: Type.String({ minLength: 1, maxLength: 128 }),
  position: Type.Object(
    { lat: Type.Number({ minimum: -90, maximum: 90 }), lon: Type.Number({ minimum: -180, maximum: 180 }) },
    { additionalProperties: false },
  ),
  intervalMs: Type.Integer({ minimum: 50, default: 2000, description: 'telemetry period' }),
};

export function simulatedSchema<T extends string, P extends TProperties>(type: T, extra: P) {
  return Type.Object(
    { type: Type.Literal(type), ...SimulatedBase, ...extra },
    { additionalProperties: false },
  );
}

export interface SimulatedConfig {
  type: string;
  id: string;
  name: string;
  position: { lat: number; lon: number };
  intervalMs: number;
}

export abstract class SimulatedDevice<C extends SimulatedConfig> implements DeviceAdapter {
  private timer: NodeJS.Timeout | undefined;
  protected tick = 0;

  constructor(
    protected readonly config: C,
    protected readonly ctx: AdapterContext,
  ) {}

  get id(): string {
    return this.config.id;
  }

  abstract describe(): DeviceDescriptor;
  protected abstract sample(): void;
  readonly actions?: ActionTable;

  start(): void {
    this.ctx.availability(true);
    this.sample();
    this.timer = setInterval(() => {
      this.tick += 1;
      try {
        this.sample();
      } catch (err) {
        this.ctx.log.error({ err }, 'simulator sample failed');
      }
    }, this.config.intervalMs);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

/** Resolves after `ms`: a simulated device answers a command after its configured response time. */
export function respondAfter<T>(ms: number, value: T): Promise<T> {
  return new Promise((resolve) => setTimeout(() => resolve(value), ms));
}

/** A smooth pseudo-random wave so simulated values look like a day's readings, not noise. */
export function wave(t: number, period: number, phase = 0): number {
  return Math.sin((2 * Math.PI * t) / period + phase);
}
