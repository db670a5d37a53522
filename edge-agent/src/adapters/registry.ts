/** The one explicit map from a device config's `type` to its adapter. Only configured kinds start. */
import { ipSpeaker } from './ip-speaker/index.ts';
import { mavlinkDrone } from './mavlink-drone/index.ts';
import { modbusSensor } from './modbus-sensor/index.ts';
import { onvifCamera } from './onvif-camera/index.ts';
import { simCamera } from './sim-camera/index.ts';
import { simDrone } from './sim-drone/index.ts';
import { simSensor } from './sim-sensor/index.ts';
import { simSpeaker } from './sim-speaker/index.ts';
import type { AdapterDefinition } from './types.ts';

export const ADAPTERS: Readonly<Record<string, AdapterDefinition<never>>> = {
  [simSensor.type]: simSensor as unknown as AdapterDefinition<never>,
  [simCamera.type]: simCamera as unknown as AdapterDefinition<never>,
  [simSpeaker.type]: simSpeaker as unknown as AdapterDefinition<never>,
  [simDrone.type]: simDrone as unknown as AdapterDefinition<never>,
  [mavlinkDrone.type]: mavlinkDrone as unknown as AdapterDefinition<never>,
  [onvifCamera.type]: onvifCamera as unknown as AdapterDefinition<never>,
  [ipSpeaker.type]: ipSpeaker as unknown as AdapterDefinition<never>,
  [modbusSensor.type]: modbusSensor as unknown as AdapterDefinition<never>,
};
