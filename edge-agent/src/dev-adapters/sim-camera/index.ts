/**
 * Simulated fixed or PTZ camera: reports its pan/tilt/zoom, bitrate and occasional motion events; a
 * PTZ camera takes the PTZ actions, whose effect shows in its telemetry. It stands in until the
 * ONVIF adapter and camera simulator replace it.
 */
import type { PtzMoveParams } from '@qianliyan/protocols';
import { Type } from '@sinclair/typebox';
import {
  type ActionTable,
  type AdapterDefinition,
  CommandFailure,
  type DeviceDescriptor,
} from '../../adapters/types.ts';
import { respondAfter, type SimulatedConfig, SimulatedDevice, simulatedSchema } from '../simulated-device.ts';

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
  reachable: Type.Boolean({
    default: true,
    description: 'false: the simulated camera never answers (the gateway reports it unreachable)',
  }),
  responseMs: Type.Integer({
    minimum: 0,
    maximum: 600_000,
    default: 30,
    description: 'how long the simulated camera takes to answer a command',
  }),
});
interface SimCameraConfig extends SimulatedConfig {
  type: 'sim-camera';
  heading: number;
  fov: number;
  ptz: boolean;
  motionProbability: number;
  reachable: boolean;
  responseMs: number;
}

class SimCamera extends SimulatedDevice<SimCameraConfig> {
  private pan = 0;
  private tilt = 0;
  private zoom = 1;
  private readonly presets = new Map<string, { pan: number; tilt: number; zoom: number; name: string }>([
    ['home', { pan: 0, tilt: 0, zoom: 1, name: 'Home' }],
  ]);

  override readonly actions: ActionTable = this.config.ptz
    ? {
        'ptz.move': async (params) => {
          const p = params as PtzMoveParams;
          const seconds = p.durationMs / 1000;
          // 30°/s at full speed; zoom 1×–20×.
          this.pan = (((this.pan + p.pan * 30 * seconds) % 360) + 360) % 360;
          this.tilt = Math.max(-90, Math.min(30, this.tilt + p.tilt * 30 * seconds));
          this.zoom = Math.max(1, Math.min(20, this.zoom + p.zoom * 5 * seconds));
          this.report();
          return respondAfter(this.config.responseMs, this.position());
        },
        'ptz.stop': () => respondAfter(this.config.responseMs, this.position()),
        'ptz.preset.goto': async (params) => {
          const preset = this.presets.get(params.preset as string);
          if (!preset) throw new CommandFailure('EDGE_ERR_NO_SUCH_PRESET', `no preset ${params.preset}`);
          ({ pan: this.pan, tilt: this.tilt, zoom: this.zoom } = preset);
          this.report();
          return respondAfter(this.config.responseMs, this.position());
        },
        'ptz.preset.set': async (params) => {
          const token = params.preset as string;
          this.presets.set(token, { ...this.position(), name: (params.name as string | undefined) ?? token });
          return respondAfter(this.config.responseMs, { preset: token });
        },
        'ptz.preset.list': () =>
          respondAfter(this.config.responseMs, {
            presets: [...this.presets].map(([preset, p]) => ({ preset, name: p.name })),
          }),
      }
    : {};

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

  private position() {
    return { pan: round1(this.pan), tilt: round1(this.tilt), zoom: round1(this.zoom) };
  }

  private report(): void {
    if (this.config.ptz) this.ctx.telemetry(this.position());
  }

  override start(): void {
    if (this.config.reachable) super.start();
    else this.ctx.availability(false, 'simulated: the camera does not answer');
  }

  protected sample(): void {
    this.ctx.telemetry({
      bitrate_kbps: Math.round(1800 + Math.random() * 400),
      recording: true,
      ...(this.config.ptz ? this.position() : {}),
    });
    if (Math.random() < this.config.motionProbability)
      this.ctx.event('motion', 'warning', { region: 'default' });
  }
}

const round1 = (v: number) => Math.round(v * 10) / 10;

export const simCamera: AdapterDefinition<SimCameraConfig> = {
  type: 'sim-camera',
  configSchema,
  capabilities: ['video', 'ptz', 'event.motion'],
  create: (config, ctx) => new SimCamera(config, ctx),
};
