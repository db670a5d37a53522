/**
 * Simulated patrol drone: flies a closed loop (a circle) around its home point, with position,
 * altitude, heading, ground speed and a battery that drains in flight and recharges when it lands
 * at home. It takes the drone actions: return to launch, hold, land, go to a point, set the mode.
 * It stands in until the MAVLink adapter and its simulator replace it.
 */
import type { GotoParams } from '@qianliyan/protocols';
import { Type } from '@sinclair/typebox';
import {
  type ActionTable,
  type AdapterDefinition,
  CommandFailure,
  type DeviceDescriptor,
} from '../../adapters/types.ts';
import { respondAfter, type SimulatedConfig, SimulatedDevice, simulatedSchema } from '../simulated-device.ts';

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
type Mode = 'PATROL' | 'RTL' | 'LOITER' | 'LAND' | 'GUIDED' | 'LANDED';

class SimDrone extends SimulatedDevice<SimDroneConfig> {
  private angle = 0;
  private battery = 100;
  private lowBatteryReported = false;
  private mode: Mode = 'PATROL';
  /** Metres north/east of home, and altitude above it. */
  private north = this.config.radiusM;
  private east = 0;
  private alt = this.config.altitudeM;
  private heading = 90;
  private target: { north: number; east: number; alt: number } | undefined;

  override readonly actions: ActionTable = {
    'drone.rtl': () => this.switchTo('RTL', { north: 0, east: 0, alt: this.config.altitudeM }),
    'drone.hold': () => this.switchTo('LOITER'),
    'drone.land': () => this.switchTo('LAND'),
    'drone.goto': (params) => {
      const p = params as GotoParams;
      const home = this.config.position;
      const north = (p.lat - home.lat) * M_PER_DEG_LAT;
      const east = (p.lon - home.lon) * M_PER_DEG_LAT * Math.cos((home.lat * Math.PI) / 180);
      if (Math.hypot(north, east) > 20_000)
        throw new CommandFailure('EDGE_ERR_OUT_OF_RANGE', 'the point is more than 20 km from home');
      return this.switchTo('GUIDED', { north, east, alt: p.alt });
    },
    'drone.mode': (params) => {
      const mode = params.mode as string;
      if (mode === 'PATROL' || mode === 'LOITER' || mode === 'LAND') return this.switchTo(mode);
      if (mode === 'RTL') return this.switchTo('RTL', { north: 0, east: 0, alt: this.config.altitudeM });
      throw new CommandFailure('EDGE_ERR_UNSUPPORTED', `mode ${mode} is not supported by this drone`);
    },
  };

  describe(): DeviceDescriptor {
    const { name, position } = this.config;
    return {
      kind: 'drone',
      name,
      model: 'QLY-SIM-QUAD',
      position,
      heading: 0,
      capabilities: ['telemetry.position', 'telemetry.battery'],
    };
  }

  private switchTo(mode: Mode, target?: { north: number; east: number; alt: number }) {
    this.mode = mode;
    this.target = target;
    return respondAfter(20, { mode });
  }

  /** Moves towards the target by at most `step` metres; true when there. */
  private flyTowards(t: { north: number; east: number; alt: number }, step: number): boolean {
    const dn = t.north - this.north;
    const de = t.east - this.east;
    const d = Math.hypot(dn, de);
    this.alt += Math.sign(t.alt - this.alt) * Math.min(Math.abs(t.alt - this.alt), step / 2);
    if (d <= step) {
      this.north = t.north;
      this.east = t.east;
      return Math.abs(t.alt - this.alt) < 0.5;
    }
    this.north += (dn / d) * step;
    this.east += (de / d) * step;
    this.heading = ((Math.atan2(de, dn) * 180) / Math.PI + 360) % 360;
    return false;
  }

  protected sample(): void {
    const { position, radiusM, speedMps, altitudeM, intervalMs } = this.config;
    const step = (speedMps * intervalMs) / 1000;
    let speed = speedMps;
    switch (this.mode) {
      case 'PATROL': {
        // Advance along the circle; the bearing from home grows from north towards east (clockwise
        // seen from above), so the heading is the tangent, 90° ahead of that bearing.
        this.angle = (this.angle + step / radiusM) % (2 * Math.PI);
        this.north = radiusM * Math.cos(this.angle);
        this.east = radiusM * Math.sin(this.angle);
        this.alt = altitudeM;
        this.heading = ((this.angle * 180) / Math.PI + 90) % 360;
        break;
      }
      case 'RTL':
      case 'GUIDED':
        if (this.target && this.flyTowards(this.target, step))
          this.mode = this.mode === 'RTL' ? 'LAND' : 'LOITER';
        break;
      case 'LAND':
        this.alt = Math.max(0, this.alt - 2 * (intervalMs / 1000));
        if (this.alt === 0) this.mode = 'LANDED';
        speed = 0;
        break;
      default:
        speed = 0;
    }
    const flying = this.mode !== 'LANDED';
    this.battery = flying
      ? Math.max(0, this.battery - 0.05 * (intervalMs / 1000))
      : Math.min(100, this.battery + 0.5);
    if (this.battery <= 15 && this.mode === 'PATROL') this.battery = 100; // a fresh pack, for the demo
    if (this.battery < 25 && !this.lowBatteryReported) {
      this.lowBatteryReported = true;
      this.ctx.event('battery.low', 'warning', { battery: Math.round(this.battery) });
    } else if (this.battery >= 25) this.lowBatteryReported = false;
    const lat = position.lat + this.north / M_PER_DEG_LAT;
    const lon = position.lon + this.east / (M_PER_DEG_LAT * Math.cos((position.lat * Math.PI) / 180));
    this.ctx.telemetry({
      lat: Number(lat.toFixed(7)),
      lon: Number(lon.toFixed(7)),
      alt: Number(this.alt.toFixed(1)),
      heading: Number(this.heading.toFixed(1)),
      speed,
      battery: Number(this.battery.toFixed(1)),
      mode: this.mode.toLowerCase(),
    });
  }
}

export const simDrone: AdapterDefinition<SimDroneConfig> = {
  type: 'sim-drone',
  configSchema,
  capabilities: ['telemetry.position', 'telemetry.battery'],
  create: (config, ctx) => new SimDrone(config, ctx),
};
