/**
 * The mavlink-drone adapter.
 *  - Golden replays of the recorded flight logs in ../shared/fixtures/mavlink-* (ArduCopter v1,
 *    ArduSub v2, PX4 mixed v1/v2) through the framer and the vehicle converters the adapter runs;
 *    the expected figures are those stated in each folder's SOURCE.md.
 *  - The adapter against the MAVLink simulator over real UDP (both link modes): telemetry at the
 *    uplink rate, route download, commands answered by COMMAND_ACK, link loss, corrupt bytes.
 *  - Trust: forged frames from another LAN address (127.0.0.2) are dropped and counted and move
 *    nothing; commands reach only the vehicle; with MAVLink 2 signing, unsigned, forged, replayed and
 *    stale frames are refused on both sides.
 *  - Vehicles as they are in the field: heartbeats seconds apart while the rest streams, a version
 *    that arrives after the first heartbeat, a QuadPlane, home position, damaged frames inside
 *    datagrams that carry several, bursts at a log replay's rate — through the simulator's
 *    misbehaviour modes and by replaying the recorded logs over real UDP.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { common, type MavLinkData, MavLinkProtocolV2, minimal } from 'node-mavlink';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { FIXTURES, fixturesAvailable } from '../../../tests/support/fixtures.ts';
import { freePort, waitFor } from '../../../tests/support/wait.ts';
import {
  type FramingCounts,
  framesIn,
  newCounts,
  tlogFrameBytes,
  tlogRecords,
} from '../../src/adapters/mavlink-drone/framing.ts';
import { mavlinkDrone } from '../../src/adapters/mavlink-drone/index.ts';
import { type LinkRefusal, MavlinkLink } from '../../src/adapters/mavlink-drone/link.ts';
import { SignedProtocol, signingNow } from '../../src/adapters/mavlink-drone/signing.ts';
import { MavlinkDroneSimulator } from '../../src/adapters/mavlink-drone/simulator.ts';
import { VehicleTracker } from '../../src/adapters/mavlink-drone/vehicle.ts';
import type { AdapterContext, DeviceAdapter } from '../../src/adapters/types.ts';

function replay(folder: string, file: string) {
  const counts = newCounts();
  const tracker = new VehicleTracker();
  let v1 = 0;
  let v2 = 0;
  for (const { timeUs, frame } of tlogRecords(readFileSync(join(FIXTURES, folder, file)), counts)) {
    if (frame.version === 1) v1 += 1;
    else v2 += 1;
    tracker.apply(frame, Number(timeUs / 1000n));
  }
  return { counts, vehicles: tracker.vehicles(), v1, v2 };
}

describe.skipIf(!fixturesAvailable('mavlink-dronekit-python'))('recorded flight logs', () => {
  it('ArduCopter (dronekit, MAVLink v1): every figure of its SOURCE.md', () => {
    const { counts, vehicles, v1, v2 } = replay('mavlink-dronekit-python', 'flight.tlog');
    expect(counts).toMatchObject({ frames: 75_477, crcErrors: 1_314, truncated: 1, unknown: 0 });
    expect([v1, v2]).toEqual([75_477, 0]);
    // The ground station (255) and the telemetry radio (51) are not vehicles.
    expect(vehicles.map((v) => v.sysid)).toEqual([1]);
    const v = vehicles[0] as (typeof vehicles)[number];
    expect(v.autopilotName).toBe('ArduPilot');
    expect(v.stats.positionsWithFix).toBe(2_684);
    expect(v.track[0]).toEqual({ lat: -35.3623302, lon: 149.165751 });
    expect([v.lat, v.lon]).toEqual([-35.3623295, 149.1657436]);
    expect(v.stats.maxRelAlt).toBe(13.26);
    expect(v.stats.minRelAlt).toBe(-1.78);
    expect(v.stats.modes).toEqual([
      'STABILIZE',
      'LOITER',
      'AUTO',
      'LOITER',
      'STABILIZE',
      'LOITER',
      'STABILIZE',
      'RTL',
      'STABILIZE',
    ]);
    expect([v.stats.arms, v.stats.disarms, v.armed]).toEqual([7, 7, false]);
    expect([v.stats.bestFix, v.stats.maxSatellites]).toEqual([3, 8]);
    expect(v.stats.statustexts).toBe(25);
    // Points more than 3 m from the last kept one (DroneKit's rule): 266.
    expect(v.track).toHaveLength(266);
  });

  it('ArduSub (BlueROV2, MAVLink v2): one vehicle of several components, at the dock', () => {
    const { counts, vehicles, v1 } = replay('mavlink-ardusub-log-tools', 'small.tlog');
    expect(counts).toMatchObject({ frames: 35_912, crcErrors: 4, truncated: 0 });
    expect(v1).toBe(0);
    expect(vehicles.map((v) => v.sysid)).toEqual([1]);
    const v = vehicles[0] as (typeof vehicles)[number];
    expect(v.vehicleType).toBe(12); // MAV_TYPE_SUBMARINE
    // flight_sw_version 0x04010180: the low byte says BETA (the boot text reads "V4.1.1 BETA5").
    expect(v.software).toBe('4.1.1-beta');
    expect(v.firmware).toBe('4.1.1-beta (66c674c1)');
    expect(v.description).toBe('ArduPilot submarine 4.1.1-beta');
    // HOME_POSITION, as SOURCE.md states it (altitude 160 mm above sea level).
    expect(v.home).toEqual({ lat: 48.3861417, lon: -124.630573, alt: 0.16 });
    expect(v.stats.positionsWithFix).toBe(792);
    expect(v.track[0]).toEqual({ lat: 48.3861421, lon: -124.6305728 });
    expect(v.stats.modes).toEqual(['MANUAL']);
    expect([v.stats.arms, v.stats.disarms]).toEqual([1, 1]);
    expect([v.stats.bestFix, v.stats.maxSatellites]).toEqual([3, 22]);
    // 792 updates of GPS jitter at the dock are not a track: nothing moved more than 3 m.
    expect(v.track).toHaveLength(1);
    expect(v.distanceM).toBe(0);
  });

  it('PX4 (MAVLink v1 and v2 mixed): identified, no position rather than (0, 0), battery unknown', () => {
    const { counts, vehicles, v1, v2 } = replay('mavlink-mavometer', 'test.tlog');
    expect(counts).toMatchObject({ frames: 2_116, crcErrors: 0, unknown: 0 });
    expect([v1, v2]).toEqual([81, 2_035]);
    expect(vehicles.map((v) => v.sysid)).toEqual([1]);
    const v = vehicles[0] as (typeof vehicles)[number];
    expect(v.autopilotName).toBe('PX4');
    // flight_sw_version 0x010A0000: type byte 0, a development build, not the 1.10.0 release.
    expect(v.software).toBe('1.10.0-dev');
    expect(v.description).toBe('PX4 quadrotor 1.10.0-dev');
    expect(v.mode).toBe('MANUAL');
    expect(v.armed).toBe(false);
    expect(v.hasFix).toBe(false);
    expect(v.stats.positionsWithFix).toBe(0);
    expect(v.battery).toBeNull();
    expect(v.voltage).toBeNull();
  });
});

/** A context that records what the adapter reports. */
function recorder() {
  const rec = {
    telemetry: [] as Array<{ ts: number; values: Record<string, unknown> }>,
    events: [] as Array<{ type: string; severity: string; data?: Record<string, unknown> }>,
    availability: [] as Array<{ online: boolean; reason?: string }>,
    metaChanges: 0,
  };
  const ctx: AdapterContext = {
    dataDir: '/nonexistent/qly-test-device',
    cacheDir: '/nonexistent/qly-test-cache',
    log: pino({ level: 'silent' }),
    telemetry: (values) => rec.telemetry.push({ ts: Date.now(), values }),
    event: (type, severity, data) => rec.events.push({ type, severity, ...(data ? { data } : {}) }),
    availability: (online, reason) => rec.availability.push({ online, ...(reason ? { reason } : {}) }),
    hub: undefined,
    metaChanged: () => {
      rec.metaChanges += 1;
    },
  };
  return { rec, ctx };
}

const HOME = { lat: 30.042, lon: 119.951 };
const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

async function flying(
  mode: 'udpin' | 'udpout',
  sim: Partial<ConstructorParameters<typeof MavlinkDroneSimulator>[0]> = {},
  adapter: Record<string, unknown> = {},
) {
  const { rec, ctx } = recorder();
  let simulator: MavlinkDroneSimulator;
  let link: string;
  if (mode === 'udpin') {
    const port = await freePort();
    link = `udpin://127.0.0.1:${port}`;
    simulator = new MavlinkDroneSimulator({
      sysid: 7,
      home: HOME,
      radiusM: 300,
      gcs: { host: '127.0.0.1', port },
      ...sim,
    });
  } else {
    simulator = new MavlinkDroneSimulator({ sysid: 7, home: HOME, radiusM: 300, ...sim });
  }
  await simulator.start();
  if (mode === 'udpout') link = `udpout://127.0.0.1:${simulator.port}`;
  const config = {
    // A listening link names the vehicle's address: the simulator's.
    ...(mode === 'udpin' ? { peer: `127.0.0.1:${simulator.port}` } : {}),
    type: 'mavlink-drone',
    id: 'uav-7',
    name: 'Drone 7',
    sysid: 7,
    link: link!,
    position: HOME,
    uplinkHz: 5,
    linkLossMs: 1500,
    ackTimeoutMs: 500,
    commandAttempts: 3,
    ...adapter,
  };
  const drone: DeviceAdapter = mavlinkDrone.create(config as never, ctx);
  drone.start();
  cleanups.push(
    () => drone.stop(),
    () => simulator.stop(),
  );
  await waitFor('first heartbeat', () => rec.availability.at(-1)?.online === true, 10_000);
  return { rec, drone, simulator };
}

describe('the adapter and the MAVLink simulator over UDP', () => {
  it.each(['udpin', 'udpout'] as const)(
    '%s: telemetry at the uplink rate, route downloaded, model known',
    async (mode) => {
      const { rec, drone, simulator } = await flying(mode);
      await waitFor('the route', () => (drone.describe().route?.length ?? 0) === 6, 10_000);
      expect(drone.describe().route?.[0]?.lat).toBeCloseTo(simulator.route[0]?.lat as number, 6);
      // AUTOPILOT_VERSION comes on request (ArduPilot sends it only when asked).
      await waitFor('the version', () => drone.describe().firmware === '4.5.7 (1a2b3c4d)', 5000);
      expect(drone.describe().model).toBe('ArduPilot quadrotor 4.5.7');
      expect(simulator.requested).toEqual(expect.arrayContaining([148, 242]));
      expect(rec.metaChanges).toBeGreaterThanOrEqual(3); // online, version, route
      const from = rec.telemetry.length;
      await new Promise((r) => setTimeout(r, 2000));
      const sent = rec.telemetry.length - from;
      expect(sent).toBeGreaterThanOrEqual(8); // 5 Hz up, while the vehicle streams at 10 Hz
      expect(sent).toBeLessThanOrEqual(11);
      const last = rec.telemetry.at(-1)?.values ?? {};
      expect(last).toMatchObject({ mode: 'AUTO', armed: true, gps_fix: 3, satellites: 14, link_lost: false });
      expect(Math.abs(Number(last.lat) - simulator.position.lat)).toBeLessThan(0.0005);
      expect(Number(last.battery)).toBeGreaterThan(90);
    },
  );

  it('return to launch, go to, hold, set mode: each answered by COMMAND_ACK; refusals are errors', async () => {
    const { drone, simulator } = await flying('udpin');
    const run = (action: string, params: Record<string, unknown> = {}) =>
      (
        (drone.actions ?? {})[action as keyof typeof drone.actions] as (
          p: Record<string, unknown>,
        ) => Promise<unknown>
      )(params);
    expect(await run('drone.rtl')).toMatchObject({ result: 'ACCEPTED' });
    expect(simulator.modeName).toBe('RTL');
    const target = { lat: HOME.lat + 0.002, lon: HOME.lon + 0.001, alt: 60 };
    expect(await run('drone.goto', target)).toMatchObject({ result: 'ACCEPTED' });
    expect(simulator.modeName).toBe('GUIDED');
    await waitFor(
      'on its way to the point',
      () => Math.abs(simulator.position.lat - target.lat) < 0.0015,
      10_000,
    );
    expect(await run('drone.hold')).toMatchObject({ result: 'ACCEPTED' });
    expect(simulator.modeName).toBe('LOITER');
    expect(await run('drone.mode', { mode: 'AUTO' })).toMatchObject({ result: 'ACCEPTED' });
    await expect(run('drone.mode', { mode: 'FLIP' })).rejects.toMatchObject({
      code: 'EDGE_ERR_MAV_UNSUPPORTED',
    });
    await expect(run('drone.mode', { mode: 'WARP' })).rejects.toMatchObject({ code: 'EDGE_ERR_UNSUPPORTED' });
    expect(await run('drone.land')).toMatchObject({ result: 'ACCEPTED' });
    expect(simulator.modeName).toBe('LAND');
    expect(simulator.commands).toEqual([20, 192, 176, 176, 176, 21]);
  });

  it('a vehicle that does not acknowledge: the command is resent, then times out', async () => {
    const { drone, simulator } = await flying('udpin', {}, { ackTimeoutMs: 200, commandAttempts: 3 });
    simulator.loseLink(3000);
    const started = Date.now();
    await expect(
      ((drone.actions ?? {})['drone.rtl'] as (p: Record<string, unknown>) => Promise<unknown>)({}),
    ).rejects.toMatchObject({ code: 'EDGE_ERR_TIMEOUT' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(550);
  });

  it('link loss: an event and unreachable within the limit, then restored', async () => {
    const { rec, simulator } = await flying('udpin');
    const lostAt = Date.now();
    simulator.loseLink(3000);
    await waitFor('link lost', () => rec.events.some((e) => e.type === 'link.lost'), 5000);
    expect(Date.now() - lostAt).toBeLessThan(2500);
    expect(rec.events.find((e) => e.type === 'link.lost')?.severity).toBe('alarm');
    expect(rec.availability.at(-1)).toMatchObject({
      online: false,
      reason: expect.stringContaining('no heartbeat'),
    });
    await waitFor('link restored', () => rec.events.some((e) => e.type === 'link.restored'), 8000);
    expect(rec.availability.at(-1)?.online).toBe(true);
  });

  it('corrupt bytes mixed into the stream are skipped and counted; good frames still decode', async () => {
    const { rec } = await flying('udpin', { corruptEvery: 3 });
    const before = rec.telemetry.length;
    await waitFor(
      'refused frames counted',
      () => Number(rec.telemetry.at(-1)?.values.link_errors ?? 0) > 5,
      8000,
    );
    expect(rec.telemetry.length).toBeGreaterThan(before);
    const last = rec.telemetry.at(-1)?.values ?? {};
    expect(typeof last.lat).toBe('number'); // positions still arrive
    expect(last.link_quality).toBeGreaterThan(50);
    expect(rec.events.some((e) => e.type === 'link.lost')).toBe(false);
  });
});

/**
 * The village LAN is not trusted: any host on it can send UDP to the gateway, from any source
 * address. (Every 127.x.y.z address is this machine, so 127.0.0.2 is "another host on the LAN".)
 */
describe('trust on the MAVLink link: only the configured vehicle, signed where it signs', () => {
  const FAR = { lat: HOME.lat + 0.05, lon: HOME.lon }; // 5.5 km north of the patrol

  /** A socket on another address of the LAN, sending forged frames of system 7. */
  async function lanHost(address: string) {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, address, () => resolve()));
    cleanups.push(() => socket.close());
    return socket;
  }

  /** What an attacker sends to move the drone on the map and answer its commands. */
  function spoofed(): MavLinkData[] {
    const hb = new minimal.Heartbeat();
    hb.type = 2 as never;
    hb.autopilot = 3 as never;
    hb.baseMode = 129 as never;
    hb.customMode = 3;
    hb.systemStatus = 4 as never;
    hb.mavlinkVersion = 3;
    const position = new common.GlobalPositionInt();
    position.lat = Math.round(FAR.lat * 1e7);
    position.lon = Math.round(FAR.lon * 1e7);
    position.relativeAlt = 120_000;
    const ack = new common.CommandAck();
    ack.command = 20 as never; // NAV_RETURN_TO_LAUNCH: "accepted", while the drone flies on
    ack.result = 0 as never;
    ack.targetSystem = 255;
    ack.targetComponent = 190;
    return [hb, position, ack];
  }

  /** Sends `frames()` every 50 ms until the test ends. */
  function flood(socket: ReturnType<typeof createSocket>, port: number, frames: () => Buffer) {
    const timer = setInterval(() => socket.send(frames(), port, '127.0.0.1'), 50);
    cleanups.push(() => clearInterval(timer));
  }

  const unsigned = new MavLinkProtocolV2(7, 1);
  let seq = 0;
  const plain = (messages: MavLinkData[]) =>
    Buffer.concat(messages.map((m) => unsigned.serialize(m, seq++ % 256)));

  /** A frame signed by hand: any key, link id and timestamp (a forger's or a recorder's). */
  function signedFrame(message: MavLinkData, key: Buffer, linkId: number, timestamp: number): Buffer {
    const body = new SignedProtocol(7, 1).serialize(message, seq++ % 256);
    const tail = Buffer.alloc(7);
    tail.writeUInt8(linkId, 0);
    tail.writeUIntLE(timestamp, 1, 6);
    const signature = createHash('sha256').update(key).update(body).update(tail).digest().subarray(0, 6);
    return Buffer.concat([body, tail, signature]);
  }

  const rtl = (drone: DeviceAdapter) =>
    ((drone.actions ?? {})['drone.rtl'] as (p: Record<string, unknown>) => Promise<unknown>)({});
  const refused = (drone: DeviceAdapter) =>
    (drone as unknown as { linkRefused: Record<LinkRefusal, number> }).linkRefused;
  const northmost = (rec: ReturnType<typeof recorder>['rec'], since: number) =>
    Math.max(...rec.telemetry.slice(since).map((t) => Number(t.values.lat ?? HOME.lat)));

  it('udpin: frames from another LAN address are dropped and counted; the drone stays put and RTL reaches it', async () => {
    const listen = await freePort();
    const { rec, drone, simulator } = await flying(
      'udpin',
      { gcs: { host: '127.0.0.1', port: listen } },
      { link: `udpin://127.0.0.1:${listen}` },
    );
    const attacker = await lanHost('127.0.0.2');
    const from = rec.telemetry.length;
    flood(attacker, listen, () => plain(spoofed()));
    await waitFor('forged datagrams refused', () => refused(drone).foreign_source >= 20, 5000);
    // The officer's return-to-launch goes to the vehicle, which acknowledges it (the forged ACKs do not count).
    expect(await rtl(drone)).toMatchObject({ result: 'ACCEPTED' });
    expect(simulator.commands).toContain(20);
    expect(simulator.modeName).toBe('RTL');
    const samples = rec.telemetry.length - from;
    expect(samples).toBeGreaterThan(3);
    expect(northmost(rec, from)).toBeLessThan(HOME.lat + 0.005);
    expect(Number(rec.telemetry.at(-1)?.values.link_refused)).toBeGreaterThan(0);
    expect(refused(drone)).toMatchObject({ unsigned: 0, bad_signature: 0 });
  });

  it('udpout: the vehicle is the link’s own address; another host’s frames move nothing', async () => {
    const { rec, drone, simulator } = await flying('udpout');
    const gatewayPort = await waitFor(
      'the vehicle heard its ground station',
      () => simulator.groundStation?.port,
    );
    const attacker = await lanHost('127.0.0.2');
    const from = rec.telemetry.length;
    flood(attacker, gatewayPort, () => plain(spoofed()));
    await waitFor('forged datagrams refused', () => refused(drone).foreign_source >= 20, 5000);
    expect(await rtl(drone)).toMatchObject({ result: 'ACCEPTED' });
    expect(simulator.modeName).toBe('RTL');
    expect(northmost(rec, from)).toBeLessThan(HOME.lat + 0.005);
  });

  it('signing: unsigned, forged, replayed and stale frames are refused and counted; signed commands are acknowledged', async () => {
    const key = randomBytes(32);
    const keyDir = mkdtempSync(join(tmpdir(), 'qly-mavkey-'));
    cleanups.push(() => rmSync(keyDir, { recursive: true, force: true }));
    const keyFile = join(keyDir, 'uav-7.key');
    writeFileSync(keyFile, `${key.toString('hex')}\n`, { mode: 0o600 });
    const listen = await freePort();
    // The vehicle's host is trusted by address (any port): a host that forges its source address
    // passes that check, so only the signature tells the vehicle from the forger.
    const { rec, drone, simulator } = await flying(
      'udpin',
      { gcs: { host: '127.0.0.1', port: listen }, signing: { key, linkId: 3 } },
      { link: `udpin://127.0.0.1:${listen}`, peer: '127.0.0.1', signing: { keyFile, linkId: 1 } },
    );
    const forger = await lanHost('127.0.0.1');
    const from = rec.telemetry.length;
    const [, position] = spoofed() as [MavLinkData, MavLinkData, MavLinkData];
    const now = signingNow();
    const send = (bytes: Buffer) => forger.send(bytes, listen, '127.0.0.1');
    send(plain([position])); // unsigned
    send(signedFrame(position, randomBytes(32), 3, now)); // signed with a guessed key
    send(signedFrame(position, key, 3, now - 500_000)); // a recording of the vehicle's stream, 5 s old
    send(signedFrame(position, key, 9, now - 12_000_000)); // a 2-minute-old recording of a new stream
    await waitFor(
      'each refused for its reason',
      () => {
        const r = refused(drone);
        return r.unsigned >= 1 && r.bad_signature >= 1 && r.replayed >= 1 && r.stale >= 1;
      },
      5000,
    );
    // The vehicle, too, takes no unsigned command.
    const command = new common.CommandLong();
    command.targetSystem = 7;
    command.targetComponent = 1;
    command.command = 21 as never; // NAV_LAND
    forger.send(new MavLinkProtocolV2(255, 190).serialize(command, 0), simulator.port, '127.0.0.1');
    await waitFor('the vehicle refused it', () => simulator.refused.unsigned >= 1, 5000);
    expect(simulator.commands).not.toContain(21);
    expect(await rtl(drone)).toMatchObject({ result: 'ACCEPTED' });
    expect(simulator.modeName).toBe('RTL');
    expect(simulator.refused.bad_signature).toBe(0); // the gateway's own frames verify
    await waitFor('telemetry since', () => rec.telemetry.length - from > 5, 5000);
    expect(northmost(rec, from)).toBeLessThan(HOME.lat + 0.005);
  });

  it('a listening link without the vehicle’s address is a configuration error, not an open door', () => {
    const { rec, ctx } = recorder();
    const drone = mavlinkDrone.create(
      {
        type: 'mavlink-drone',
        id: 'uav-x',
        name: 'x',
        sysid: 7,
        link: 'udpin://127.0.0.1:14550',
        position: HOME,
      } as never,
      ctx,
    );
    drone.start();
    cleanups.push(() => drone.stop());
    expect(rec.availability.at(-1)).toMatchObject({
      online: false,
      reason: expect.stringContaining('/peer'),
    });
    expect(mavlinkDrone.check?.({ link: 'udpin://127.0.0.1:14550', sysid: 7 } as never).join()).toContain(
      '/peer',
    );
    expect(mavlinkDrone.check?.({ link: 'udpin://127.0.0.1:14550', peer: 'first' } as never)).toEqual([]);
  });
});

/** The recorded frames of a log, `per` to a datagram (a router or a replay packs several), the cut-off tail last. */
function datagramsOf(folder: string, file: string, per: number): Buffer[] {
  const frames = [...tlogFrameBytes(readFileSync(join(FIXTURES, folder, file)))].map((r) => r.bytes);
  const out: Buffer[] = [];
  for (let i = 0; i < frames.length; i += per) out.push(Buffer.concat(frames.slice(i, i + per)));
  return out;
}

function logCounts(folder: string, file: string): FramingCounts {
  const counts = newCounts();
  for (const _ of tlogRecords(readFileSync(join(FIXTURES, folder, file)), counts));
  return counts;
}

/** A UDP socket on 127.0.0.1 for sending recorded bytes; closed after the test. */
async function sender() {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  cleanups.push(() => socket.close());
  return socket;
}

/**
 * Sends datagrams to `port` in order, a batch at a time, each batch only once the link has read the
 * one before (so the socket's buffer never overflows: this is about framing, not bursts).
 */
async function replayPaced(
  socket: ReturnType<typeof createSocket>,
  port: number,
  datagrams: Buffer[],
  read: () => number,
) {
  const start = read();
  for (let i = 0; i < datagrams.length; i += 100) {
    for (const d of datagrams.slice(i, i + 100)) socket.send(d, port, '127.0.0.1');
    const expected = start + Math.min(i + 100, datagrams.length);
    await waitFor(`datagram ${expected - start} read`, () => read() >= expected, 10_000, 2);
  }
}

const linkOf = (drone: DeviceAdapter) => (drone as unknown as { link: MavlinkLink }).link;

describe.skipIf(!fixturesAvailable('mavlink-dronekit-python'))(
  'bad frames: the live path counts like the log path',
  () => {
    const logs = [
      ['mavlink-dronekit-python', 'flight.tlog'],
      ['mavlink-ardusub-log-tools', 'small.tlog'],
      ['mavlink-mavometer', 'test.tlog'],
    ] as const;

    it.each(logs)(
      '%s: the same recorded bytes in datagrams of 1, 5 and 20 frames give the log’s counts',
      (folder, file) => {
        const expected = logCounts(folder, file);
        for (const per of [1, 5, 20]) {
          const counts = newCounts();
          let kept = 0;
          for (const d of datagramsOf(folder, file, per)) kept += framesIn(d, counts).length;
          // Every good frame kept, each bad one counted once (no phantom frames inside it), the cut-off
          // tail once; the same bytes set aside.
          expect({ per, ...counts }).toEqual({ per, ...expected });
          expect(kept).toBe(expected.frames);
        }
      },
    );

    it('the dronekit flight replayed over UDP, 5 frames a datagram, into a real link: 75,477 kept, 1,314 refused, 1 cut off', async () => {
      const port = await freePort();
      const socket = await sender();
      const link = MavlinkLink.acquire(`udpin://127.0.0.1:${port}`, pino({ level: 'silent' }));
      cleanups.push(() => link.release());
      link.register(1, { kind: 'fixed', host: '127.0.0.1', port: socket.address().port }, undefined);
      await link.bound;
      let emitted = 0;
      link.on('frame', () => {
        emitted += 1;
      });
      await replayPaced(
        socket,
        port,
        datagramsOf('mavlink-dronekit-python', 'flight.tlog', 5),
        () => link.datagrams,
      );
      const expected = logCounts('mavlink-dronekit-python', 'flight.tlog');
      expect(expected).toMatchObject({ frames: 75_477, crcErrors: 1_314, truncated: 1 });
      expect(link.counts).toEqual(expected);
      // Frames of the ground station (255) are not handed on; everything else is.
      expect(emitted).toBeGreaterThan(70_000);
    });

    it('the simulator’s damaged datagrams (noise in front, a flipped bit inside): every good frame in them kept', async () => {
      const port = await freePort();
      const simPort = await freePort();
      const { rec, ctx } = recorder();
      const drone = mavlinkDrone.create(
        {
          type: 'mavlink-drone',
          id: 'uav-7',
          name: 'Drone 7',
          sysid: 7,
          link: `udpin://127.0.0.1:${port}`,
          peer: `127.0.0.1:${simPort}`,
          position: HOME,
          uplinkHz: 5,
          linkLossMs: 1500,
          ackTimeoutMs: 500,
          commandAttempts: 3,
        } as never,
        ctx,
      );
      drone.start();
      cleanups.push(() => drone.stop());
      const link = linkOf(drone);
      await link.bound; // listening before the vehicle sends its first datagram
      const simulator = new MavlinkDroneSimulator({
        sysid: 7,
        home: HOME,
        radiusM: 300,
        bindPort: simPort,
        gcs: { host: '127.0.0.1', port },
        corruptEvery: 3,
      });
      await simulator.start();
      cleanups.push(() => simulator.stop());
      await waitFor('damaged datagrams sent', () => simulator.sentFrames.damaged >= 10, 10_000);
      simulator.stop();
      let last = -1;
      await waitFor(
        'the link has read everything',
        () => {
          const settled = link.datagrams === last;
          last = link.datagrams;
          return settled;
        },
        5000,
        200,
      );
      expect(link.counts.frames).toBe(simulator.sentFrames.total - simulator.sentFrames.damaged);
      expect(rec.events.some((e) => e.type === 'link.lost')).toBe(false);
    });
  },
);

describe('vehicles as they are in the field', () => {
  it('heartbeats 3–6 s apart while ~100 other frames flow in each gap: no link loss; real silence still is one', async () => {
    const { rec, simulator } = await flying('udpin', { heartbeatGapMs: [3000, 6000] });
    const onlineAt = Date.now();
    const heartbeats = () => simulator.sentFrames.total;
    const before = heartbeats();
    await new Promise((r) => setTimeout(r, 6500));
    // At least one gap of 3 s or more passed (linkLossMs is 1500 here), with frames flowing in it.
    expect(heartbeats() - before).toBeGreaterThan(100);
    expect(rec.events.filter((e) => e.type === 'link.lost')).toEqual([]);
    expect(rec.availability.filter((a) => !a.online && Date.now() - onlineAt < 60_000).slice(1)).toEqual([]);
    expect(rec.availability.at(-1)?.online).toBe(true);
    // Silence of everything is still link loss, named as such.
    simulator.loseLink(3000);
    await waitFor('link lost', () => rec.events.some((e) => e.type === 'link.lost'), 5000);
    expect(rec.availability.at(-1)).toMatchObject({
      online: false,
      reason: expect.stringMatching(/^nothing heard from the vehicle for \d+ s/),
    });
    await waitFor('restored', () => rec.availability.at(-1)?.online === true, 10_000);
  });

  it('a QuadPlane whose AUTOPILOT_VERSION comes after its first heartbeat: VTOL, then its full version', async () => {
    const { rec, drone } = await flying('udpin', {
      vehicleType: 22, // MAV_TYPE_VTOL_FIXEDROTOR: ArduPlane QuadPlane
      firmware: { swVersion: 0x030a0000, build: '9f8e7d6c' }, // 3.10.0, type 0: a development build
      announceVersionAfterMs: 1500,
      answersRequests: false,
    });
    expect(drone.describe().model).toBe('ArduPilot VTOL');
    const metaBefore = rec.metaChanges;
    await waitFor('the version in the descriptor', () => drone.describe().firmware, 5000);
    expect(drone.describe()).toMatchObject({
      model: 'ArduPilot VTOL 3.10.0-dev',
      firmware: '3.10.0-dev (9f8e7d6c)',
    });
    expect(rec.metaChanges).toBeGreaterThan(metaBefore);
  });

  it('home position goes up as home_lat / home_lon / home_alt', async () => {
    const { rec } = await flying('udpin');
    const sample = await waitFor(
      'home in telemetry',
      () => rec.telemetry.find((t) => 'home_lat' in t.values),
      5000,
    );
    expect(sample.values).toMatchObject({ home_lat: HOME.lat, home_lon: HOME.lon, home_alt: 30 });
  });
});

describe.skipIf(!fixturesAvailable('mavlink-mavometer'))(
  'recorded logs replayed over UDP into the adapter',
  () => {
    async function replayInto(folder: string, file: string) {
      const port = await freePort();
      const socket = await sender();
      const { rec, ctx } = recorder();
      const drone = mavlinkDrone.create(
        {
          type: 'mavlink-drone',
          id: 'uav-1',
          name: 'Recorded',
          sysid: 1,
          link: `udpin://127.0.0.1:${port}`,
          peer: `127.0.0.1:${socket.address().port}`,
          position: HOME,
          uplinkHz: 20,
          linkLossMs: 60_000,
          ackTimeoutMs: 500,
          commandAttempts: 1,
        } as never,
        ctx,
      );
      drone.start();
      cleanups.push(() => drone.stop());
      const link = linkOf(drone);
      await link.bound;
      await replayPaced(socket, port, datagramsOf(folder, file, 1), () => link.datagrams);
      return { rec, drone };
    }

    it('PX4: AUTOPILOT_VERSION 2.9 s after the first heartbeat updates the descriptor', async () => {
      const { rec, drone } = await replayInto('mavlink-mavometer', 'test.tlog');
      await waitFor('described', () => drone.describe().model === 'PX4 quadrotor 1.10.0-dev', 5000);
      expect(rec.metaChanges).toBeGreaterThanOrEqual(2);
    });

    it('ArduSub: its recorded home position is published', async () => {
      const { rec } = await replayInto('mavlink-ardusub-log-tools', 'small.tlog');
      const sample = await waitFor('home', () => rec.telemetry.findLast((t) => 'home_lat' in t.values), 5000);
      expect(sample.values).toMatchObject({ home_lat: 48.3861417, home_lon: -124.630573, home_alt: 0.2 });
    });
  },
);

/** net.core.rmem_max: what the kernel lets a process ask for (0 where it cannot be read). */
function rmemMax(): number {
  try {
    return Number(readFileSync('/proc/sys/net/core/rmem_max', 'utf8').trim()) || 0;
  } catch {
    return 0;
  }
}

describe('bursts at a log replay’s rate', () => {
  const BURST = 3000;

  /** The first frames of the dronekit flight, 5 to a datagram: what a replay sends. */
  const burst = () => datagramsOf('mavlink-dronekit-python', 'flight.tlog', 5).slice(0, BURST);

  async function listening(extra: Record<string, unknown>) {
    const port = await freePort();
    const socket = await sender();
    const { rec, ctx } = recorder();
    const drone = mavlinkDrone.create(
      {
        type: 'mavlink-drone',
        id: 'uav-1',
        name: 'Replay',
        sysid: 1,
        link: `udpin://127.0.0.1:${port}`,
        peer: `127.0.0.1:${socket.address().port}`,
        position: HOME,
        uplinkHz: 10,
        linkLossMs: 60_000,
        ackTimeoutMs: 500,
        commandAttempts: 1,
        ...extra,
      } as never,
      ctx,
    );
    drone.start();
    cleanups.push(() => drone.stop());
    const link = linkOf(drone);
    await link.bound;
    return {
      rec,
      link,
      send: () => {
        for (const d of burst()) socket.send(d, port, '127.0.0.1');
      },
    };
  }

  // Where net.core.rmem_max is below 4 MiB the kernel caps the buffer (the agent logs it; docs say how to raise it).
  it.skipIf(!fixturesAvailable('mavlink-dronekit-python') || rmemMax() < 4 * 1024 * 1024)(
    'the default 4 MiB receive buffer takes a burst of 3,000 datagrams whole',
    async () => {
      const { rec, link, send } = await listening({});
      send(); // all in one turn of the event loop: the agent reads nothing meanwhile
      await waitFor('every datagram read', () => link.datagrams === BURST, 20_000);
      expect(link.recvBuffer.effective).toBeGreaterThanOrEqual(4 * 1024 * 1024);
      const sample = await waitFor(
        'drops published',
        () => rec.telemetry.findLast((t) => 'link_drops' in t.values),
        10_000,
      );
      expect(sample.values.link_drops).toBe(0);
    },
  );

  it.skipIf(!fixturesAvailable('mavlink-dronekit-python'))(
    'a small buffer overflows: what the kernel dropped is counted from its statistics and published',
    async () => {
      const { rec, link, send } = await listening({ recvBufferBytes: 65_536 });
      send();
      let last = -1;
      await waitFor(
        'the link has read what it got',
        () => {
          const settled = link.datagrams === last;
          last = link.datagrams;
          return settled;
        },
        5000,
        200,
      );
      const lost = BURST - link.datagrams;
      expect(lost).toBeGreaterThan(0);
      await waitFor('the kernel’s count read', () => link.kernelDrops?.scope === 'socket', 5000);
      await waitFor(
        `link_drops ${lost} in telemetry`,
        () => rec.telemetry.some((t) => t.values.link_drops === lost),
        5000,
      );
    },
  );
});
