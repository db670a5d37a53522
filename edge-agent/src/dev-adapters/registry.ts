/**
 * Simulated devices for tests and development only: in-process stand-ins that produce contract
 * messages without a device protocol behind them (no ONVIF, no RTP, no MAVLink). They are not
 * production adapters — a gateway configured with one would report invented readings as real — so
 * the production registry (`adapters/registry.ts`) does not hold them and no production module
 * imports this file. The agent's entry (`main.ts`) loads it only when started with
 * `QLY_DEV_ADAPTERS=1` (the test harness, `tests/support/edge.ts`, sets it). The demo village
 * (`village.ts`) does not need them: it runs protocol simulators behind the real adapters.
 */
import type { AdapterRegistry } from '../adapters/registry.ts';
import type { AdapterDefinition } from '../adapters/types.ts';
import { simCamera } from './sim-camera/index.ts';
import { simDrone } from './sim-drone/index.ts';
import { simSensor } from './sim-sensor/index.ts';
import { simSpeaker } from './sim-speaker/index.ts';

export const DEV_ADAPTERS: AdapterRegistry = {
  [simSensor.type]: simSensor as unknown as AdapterDefinition<never>,
  [simCamera.type]: simCamera as unknown as AdapterDefinition<never>,
  [simSpeaker.type]: simSpeaker as unknown as AdapterDefinition<never>,
  [simDrone.type]: simDrone as unknown as AdapterDefinition<never>,
};
