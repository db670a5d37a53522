/**
 * The one explicit map from a device config's `type` to its adapter. Only configured kinds start.
 * Production adapters only: each speaks its device's real protocol. The simulated test devices
 * (`sim-*`) are in `../dev-adapters/`, loaded by the entry only under `QLY_DEV_ADAPTERS=1`.
 */

import { ipSpeaker } from './ip-speaker/index.ts';
import { mavlinkDrone } from './mavlink-drone/index.ts';
import { modbusSensor } from './modbus-sensor/index.ts';
import { onvifCamera } from './onvif-camera/index.ts';
import type { AdapterDefinition } from './types.ts';

export type AdapterRegistry = Readonly<Record<string, AdapterDefinition<never>>>;

export const ADAPTERS: AdapterRegistry = {
  [mavlinkDrone.type]: mavlinkDrone as unknown as AdapterDefinition<never>,
  [onvifCamera.type]: onvifCamera as unknown as AdapterDefinition<never>,
  [ipSpeaker.type]: ipSpeaker as unknown as AdapterDefinition<never>,
  [modbusSensor.type]: modbusSensor as unknown as AdapterDefinition<never>,
};

/**
 * The simulated test devices' types, named here (not their code) so that a production config naming
 * one is refused with the reason, not as an unknown type. A test keeps this list equal to the
 * development registry's keys.
 */
export const DEV_ADAPTER_TYPES: readonly string[] = ['sim-sensor', 'sim-camera', 'sim-speaker', 'sim-drone'];

/** The environment switch that adds the simulated test devices (tests and development only). */
export const DEV_ADAPTERS_ENV = 'QLY_DEV_ADAPTERS';
