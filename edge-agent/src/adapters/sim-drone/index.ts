/**
 * Simulated patrol drone flying a closed loop (a circle) around its home point: position, altitude,
 * heading, ground speed and a battery that drains in flight and recharges when it lands at home.
 */
import { Type } from '@sinclair/typebox';
import { type SimulatedConfig, SimulatedDevice, simulatedSchema } from '../simulated-device.ts';
import type { AdapterDefinition, DeviceDescriptor } from '../types.ts';

const configSchema = simulatedSchema('sim-drone', {
  radiusM: Type.Number({
    minimum: 20,
    maximum: 20000,
    default: 600,
    description: 'patrol loop radius, metres',
  }),
  speedMps: Type.Number({ minimum: 1, maximum: 40, default: 12, description: 'ground speed, m/s' }),
  altitudeM: Type.Number({ minimum: 10, maximum: 500, default: 120, description: 'patrol altitude, metres' }),
});
interface SimDroneConfig extends SimulatedConfig {
  type: 'sim-drone';
  radiusM: number;
  speedMps: number;
  altitudeM: number;
}

const M_PER_DEG_LAT = 111_320;

class SimDrone extends SimulatedDevice<SimDroneConfig> {
  private angle = 0;
  private battery = 100;
  private lowBatteryReported = false;

  describe(): DeviceDescriptor {
    const { name, position } = this.config;
    return {
      kind: 'drone',
      name,
      model: 'QLY-SIM-QUAD',
      position,
      heading: 0,
      capabilities: ['telemetry.position', 'telemetry.battery', 'cmd.rtl', 'cmd.land', 'cmd.goto'],
    };
  }

  protected sample(): void {
    const { position, radiusM, speedMps, altitudeM, intervalMs } = this.config;
    // Advance along the circle by the distance flown in one interval.
    this.angle = (this.angle + (speedMps * intervalMs) / 1000 / radiusM) % (2 * Math.PI);
    const north = radiusM * Math.cos(this.angle);
    const east = radiusM * Math.sin(this.angle);
    const lat = position.lat + north / M_PER_DEG_LAT;
    const lon = position.lon + east / (M_PER_DEG_LAT * Math.cos((position.lat * Math.PI) / 180));
    // The bearing from home grows from north towards east, so the drone flies clockwise seen from
    // above and its heading is the tangent: 90° ahead of that bearing.
    const heading = ((this.angle * 180) / Math.PI + 90) % 360;
    this.battery = this.battery <= 15 ? 100 : this.battery - 0.05 * (intervalMs / 1000);
    if (this.battery < 25 && !this.lowBatteryReported) {
      this.lowBatteryReported = true;
      this.ctx.event('battery.low', 'warning', { battery: Math.round(this.battery) });
    } else if (this.battery >= 25) this.lowBatteryReported = false;
    this.ctx.telemetry({
      lat: Number(lat.toFixed(7)),
      lon: Number(lon.toFixed(7)),
      alt: altitudeM,
      heading: Number(heading.toFixed(1)),
      speed: speedMps,
      battery: Number(this.battery.toFixed(1)),
      mode: 'patrol',
    });
  }
}

export const simDrone: AdapterDefinition<SimDroneConfig> = {
  type: 'sim-drone',
  configSchema,
  capabilities: ['telemetry.position', 'telemetry.battery', 'cmd.rtl', 'cmd.land', 'cmd.goto'],
  create: (config, ctx) => new SimDrone(config, ctx),
};
