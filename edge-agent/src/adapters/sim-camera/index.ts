/** Simulated fixed or PTZ camera: reports its pan/tilt/zoom, bitrate and occasional motion events. */
import { Type } from '@sinclair/typebox';
import { type SimulatedConfig, SimulatedDevice, simulatedSchema } from '../simulated-device.ts';
import type { AdapterDefinition, DeviceDescriptor } from '../types.ts';

const configSchema = simulatedSchema('sim-camera', {
  heading: Type.Number({
    minimum: 0,
    maximum: 360,
    default: 0,
    description: 'where the lens points, degrees from north',
  }),
  fov: Type.Number({
    minimum: 1,
    maximum: 360,
    default: 90,
    description: 'horizontal field of view, degrees',
  }),
  ptz: Type.Boolean({ default: false, description: 'whether the camera can pan/tilt/zoom' }),
  motionProbability: Type.Number({
    minimum: 0,
    maximum: 1,
    default: 0.02,
    description: 'chance of a motion event per sample',
  }),
});
interface SimCameraConfig extends SimulatedConfig {
  type: 'sim-camera';
  heading: number;
  fov: number;
  ptz: boolean;
  motionProbability: number;
}

class SimCamera extends SimulatedDevice<SimCameraConfig> {
  describe(): DeviceDescriptor {
    const { name, position, heading, fov, ptz } = this.config;
    return {
      kind: 'camera',
      name,
      model: ptz ? 'QLY-SIM-PTZ' : 'QLY-SIM-BULLET',
      position,
      heading,
      fov,
      capabilities: ptz ? ['video', 'ptz', 'event.motion'] : ['video', 'event.motion'],
    };
  }

  protected sample(): void {
    this.ctx.telemetry({ bitrate_kbps: Math.round(1800 + Math.random() * 400), recording: true });
    if (Math.random() < this.config.motionProbability)
      this.ctx.event('motion', 'warning', { region: 'default' });
  }
}

export const simCamera: AdapterDefinition<SimCameraConfig> = {
  type: 'sim-camera',
  configSchema,
  capabilities: ['video', 'ptz', 'event.motion'],
  create: (config, ctx) => new SimCamera(config, ctx),
};
