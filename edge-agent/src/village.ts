/**
 * Expands `simulation` into device configs: cameras, loudspeakers, environmental sensors and patrol
 * drones at plausible positions around the village centre. A seeded generator keeps placement
 * stable across restarts, so devices do not jump on the map when the agent restarts.
 *
 * Devices whose protocol the project speaks are simulated by a peer speaking that protocol, driven by
 * the real adapter, the same code path a village runs: each drone is a MAVLink simulator on loopback
 * UDP and a `mavlink-drone` adapter connected to it (`udpout://`); each camera is an ONVIF camera
 * simulator (SOAP, RTSP with a live H.264 picture) and an `onvif-camera` adapter connected to it;
 * each loudspeaker is an RTP receiver (G.711 decoded, levels measured) driven by `ip-speaker`;
 * each sensor station is a Modbus TCP simulator (water level, rainfall, temperature, humidity on
 * slow curves) read by `modbus-sensor`. Readings carry no alarms of their own: thresholds on them
 * are the hub's to evaluate, the same for a simulated station as for a real one.
 * The simulated cameras' password is generated once and kept beside the outbox (mode 0600), as a
 * real gateway keeps camera passwords in files.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { SpeakerSimulator } from './adapters/ip-speaker/simulator.ts';
import { MavlinkDroneSimulator } from './adapters/mavlink-drone/simulator.ts';
import { ModbusSimulator, STATION_POINTS } from './adapters/modbus-sensor/simulator.ts';
import { CameraSimulator } from './adapters/onvif-camera/simulator/index.ts';
import type { VillageSimulation } from './config.ts';

export type DeviceConfig = { type: string; id: string } & Record<string, unknown>;

/** The village's protocol simulators, started, and the device configs that drive them. */
export interface Village {
  devices: DeviceConfig[];
  stop(): Promise<void>;
}

/** The simulated cameras' admin password, in a file beside the outbox. */
function cameraPasswordFile(outboxPath: string): { file: string; password: string } {
  const file = join(dirname(resolve(outboxPath)), 'sim-cameras.password');
  if (!existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, randomBytes(12).toString('base64url'), { mode: 0o600 });
  }
  return { file, password: readFileSync(file, 'utf8').trim() };
}

export async function startVillage(sim: VillageSimulation, outboxPath: string): Promise<Village> {
  const devices = villageDevices(sim);
  const simulators: { stop(): unknown }[] = [];
  const secret = sim.cameras > 0 ? cameraPasswordFile(outboxPath) : undefined;
  for (const [i, d] of devices.entries()) {
    if (d.type === 'onvif-camera' && secret) {
      const camera = new CameraSimulator({
        credentials: { username: 'admin', password: secret.password },
        ptz: d.ptz as boolean,
        serial: `QLY${String(i).padStart(6, '0')}`,
        motionEveryMs: 180_000,
        initialPan: (d.heading as number) ?? 0,
      });
      await camera.start();
      simulators.push(camera);
      const { ptz: _ptz, ...config } = d;
      devices[i] = { ...config, xaddr: camera.xaddr, username: 'admin', passwordFile: secret.file };
      continue;
    }
    if (d.type === 'ip-speaker') {
      // A real RTP receiver on loopback: what the gateway encodes is decoded and measured there.
      const speaker = new SpeakerSimulator({ volume: 80 });
      await speaker.start();
      simulators.push(speaker);
      devices[i] = { ...d, rtp: speaker.rtpUrl, controlUrl: speaker.controlUrl };
      continue;
    }
    if (d.type === 'modbus-sensor') {
      // A Modbus TCP station on loopback, its readings on slow curves of their own phase.
      const station = new ModbusSimulator({ curve: true, phase: i });
      await station.start();
      simulators.push(station);
      devices[i] = { ...d, port: station.port };
      continue;
    }
    if (d.type !== 'mavlink-drone') continue;
    const simulator = new MavlinkDroneSimulator({
      sysid: d.sysid as number,
      home: d.position as { lat: number; lon: number },
      radiusM: d.patrolRadiusM as number,
      rateHz: sim.droneRateHz,
    });
    await simulator.start();
    simulators.push(simulator);
    const { patrolRadiusM: _r, ...config } = d;
    devices[i] = { ...config, link: `udpout://127.0.0.1:${simulator.port}` };
  }
  return {
    devices,
    stop: async () => {
      await Promise.allSettled(simulators.map(async (s) => s.stop()));
    },
  };
}

const M_PER_DEG_LAT = 111_320;

function seededRandom(seed: number): () => number {
  // mulberry32: tiny, fast and good enough for placing simulated devices.
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function villageDevices(sim: VillageSimulation): DeviceConfig[] {
  const random = seededRandom(sim.seed);
  const place = (spread: number) => {
    const r = sim.radiusM * spread * Math.sqrt(random());
    const theta = random() * 2 * Math.PI;
    const lat = sim.center.lat + (r * Math.cos(theta)) / M_PER_DEG_LAT;
    const lon =
      sim.center.lon + (r * Math.sin(theta)) / (M_PER_DEG_LAT * Math.cos((sim.center.lat * Math.PI) / 180));
    return { lat: Number(lat.toFixed(6)), lon: Number(lon.toFixed(6)) };
  };
  const devices: DeviceConfig[] = [];
  const pad = (n: number) => String(n).padStart(2, '0');
  for (let i = 1; i <= sim.cameras; i++) {
    devices.push({
      type: 'onvif-camera',
      id: `cam-${pad(i)}`,
      name: `摄像头 ${pad(i)}`,
      position: place(1),
      heading: Math.round(random() * 360),
      fov: 60 + Math.round(random() * 50),
      ptz: i % 3 === 1,
    });
  }
  for (let i = 1; i <= sim.speakers; i++) {
    devices.push({
      type: 'ip-speaker',
      id: `spk-${pad(i)}`,
      name: `大喇叭 ${pad(i)}`,
      position: place(0.8),
      zones: [i % 2 === 1 ? 'east' : 'west'],
      coverageM: 250,
    });
  }
  for (let i = 1; i <= sim.sensors; i++) {
    devices.push({
      type: 'modbus-sensor',
      id: `env-${pad(i)}`,
      name: `环境监测 ${pad(i)}`,
      model: 'QLY-SIM Modbus TCP station',
      position: place(1),
      host: '127.0.0.1',
      unitId: 1,
      pollIntervalMs: Math.max(200, sim.intervalMs),
      points: STATION_POINTS,
    });
  }
  for (let i = 1; i <= sim.drones; i++) {
    devices.push({
      type: 'mavlink-drone',
      id: `uav-${pad(i)}`,
      name: `巡逻无人机 ${pad(i)}`,
      sysid: i,
      position: place(0.3),
      patrolRadiusM: Math.round(sim.radiusM * (0.4 + 0.3 * random())),
    });
  }
  return devices;
}
