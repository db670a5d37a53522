/**
 * Simulated environmental sensor: temperature, humidity, PM2.5 and a river water level. Readings
 * only: thresholds on them are the hub's rules on readings (an alarm hard-coded here could not be
 * changed, scoped or previewed by anyone).
 */
import type { AdapterDefinition, DeviceDescriptor } from '../../adapters/types.ts';
import { type SimulatedConfig, SimulatedDevice, simulatedSchema, wave } from '../simulated-device.ts';

const configSchema = simulatedSchema('sim-sensor', {});
interface SimSensorConfig extends SimulatedConfig {
  type: 'sim-sensor';
}

const capabilities = [
  'telemetry.temperature',
  'telemetry.humidity',
  'telemetry.pm25',
  'telemetry.water_level',
] as const;

class SimSensor extends SimulatedDevice<SimSensorConfig> {
  private readonly phase = Math.random() * Math.PI * 2;

  describe(): DeviceDescriptor {
    const { name, position } = this.config;
    return { kind: 'sensor', name, model: 'QLY-SIM-ENV', position, capabilities: [...capabilities] };
  }

  protected sample(): void {
    const t = this.tick;
    const waterLevel = round(2.4 + 0.9 * wave(t, 180, this.phase) + 0.05 * Math.random(), 2);
    this.ctx.telemetry({
      temperature: round(18 + 6 * wave(t, 240, this.phase) + Math.random() * 0.3, 1),
      humidity: round(65 + 15 * wave(t, 300, this.phase + 1), 1),
      pm25: round(35 + 20 * wave(t, 120, this.phase + 2) + Math.random() * 3, 0),
      water_level: waterLevel,
    });
  }
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

export const simSensor: AdapterDefinition<SimSensorConfig> = {
  type: 'sim-sensor',
  configSchema,
  capabilities,
  create: (config, ctx) => new SimSensor(config, ctx),
};
