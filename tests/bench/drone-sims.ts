/**
 * The benchmark's flying drones, in their own process so their CPU is not billed to the gateway or
 * the hub: COUNT MAVLink simulators (system ids 1…COUNT) streaming at RATE Hz to the ground station
 * at PORT. Prints `ready`; stops on SIGTERM.
 */
import { MavlinkDroneSimulator } from '../../edge-agent/src/adapters/mavlink-drone/simulator.ts';

const [portArg, countArg, rateArg] = process.argv.slice(2);
const sims: MavlinkDroneSimulator[] = [];
for (let i = 1; i <= Number(countArg); i++) {
  const sim = new MavlinkDroneSimulator({
    sysid: i,
    home: { lat: 30.042 + (i % 5) * 0.002, lon: 119.951 + Math.floor(i / 5) * 0.002 },
    radiusM: 200,
    rateHz: Number(rateArg),
    gcs: { host: '127.0.0.1', port: Number(portArg) },
  });
  await sim.start();
  sims.push(sim);
}
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  for (const s of sims) s.stop();
  process.exit(0);
});
