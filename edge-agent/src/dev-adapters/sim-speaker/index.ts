/** Simulated village loudspeaker (大喇叭): volume and whether it is playing; takes `speaker.volume`. */
import { Type } from '@sinclair/typebox';
import type { ActionTable, AdapterDefinition, DeviceDescriptor } from '../../adapters/types.ts';
import { respondAfter, type SimulatedConfig, SimulatedDevice, simulatedSchema } from '../simulated-device.ts';

const configSchema = simulatedSchema('sim-speaker', {
  volume: Type.Integer({ minimum: 0, maximum: 100, default: 70, description: 'initial volume, percent' }),
});
interface SimSpeakerConfig extends SimulatedConfig {
  type: 'sim-speaker';
  volume: number;
}

class SimSpeaker extends SimulatedDevice<SimSpeakerConfig> {
  private volume = this.config.volume;

  override readonly actions: ActionTable = {
    'speaker.volume': async (params) => {
      this.volume = params.volume as number;
      this.sample();
      return respondAfter(20, { volume: this.volume });
    },
  };

  describe(): DeviceDescriptor {
    const { name, position } = this.config;
    return {
      kind: 'speaker',
      name,
      model: 'QLY-SIM-SPK',
      position,
      capabilities: ['audio.broadcast', 'volume'],
    };
  }

  protected sample(): void {
    this.ctx.telemetry({ volume: this.volume, playing: false });
  }
}

export const simSpeaker: AdapterDefinition<SimSpeakerConfig> = {
  type: 'sim-speaker',
  configSchema,
  capabilities: ['audio.broadcast', 'volume'],
  create: (config, ctx) => new SimSpeaker(config, ctx),
};
