/**
 * A drone simulator that speaks MAVLink v2 over UDP, like an ArduCopter quadrotor behind a telemetry
 * bridge. It flies its patrol route (a mission, mode AUTO) at a realistic speed, drains its battery
 * (returning home by itself below 15 %, as ArduCopter's battery failsafe does, then recharging and
 * taking off again so a demo runs for ever), and honours the ground station: RTL, LAND, mode changes
 * (MAV_CMD_DO_SET_MODE) and go-to (MAV_CMD_DO_REPOSITION) each answered with COMMAND_ACK, the mission
 * protocol for its route. For tests it can go silent (`loseLink`) and corrupt datagrams.
 *
 * With `signing` it behaves like ArduPilot with a signing key set (SETUP_SIGNING): every frame it
 * sends is a signed MAVLink 2 frame, and it takes only frames signed with its key (unsigned, forged
 * and replayed ones are dropped and counted in `refused`), so a ground station is learned only from
 * a frame that proves it holds the key.
 *
 * Streams: GLOBAL_POSITION_INT and ATTITUDE at `rateHz`; VFR_HUD and GPS_RAW_INT at half that;
 * HEARTBEAT, SYS_STATUS and BATTERY_STATUS at 1 Hz; HOME_POSITION every 10 s. MAV_CMD_REQUEST_MESSAGE
 * is answered for AUTOPILOT_VERSION and HOME_POSITION (as ArduPilot does).
 *
 * Field behaviour for tests, as recorded vehicles showed it:
 *  - `heartbeatGapMs`: heartbeats only every few seconds (a random gap in the range) while
 *    everything else keeps streaming, as an autopilot or radio under load lets them slip;
 *  - `announceVersionAfterMs`: AUTOPILOT_VERSION sent unasked that long after start (PX4 does, a few
 *    seconds after its first heartbeat), so it arrives after the ground station has met the vehicle;
 *  - `vehicleType` / `firmware`: another airframe (MAV_TYPE, e.g. 22 for a QuadPlane-style VTOL) and
 *    another version;
 *  - `corruptEvery`, `loseLink`: damaged datagrams and silence.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { common, type MavLinkData, MavLinkProtocolV2, minimal, standard } from 'node-mavlink';
import { framesIn, newCounts } from './framing.ts';
import { MavlinkSigning, SignedProtocol, type SigningRefusal } from './signing.ts';
import { decode, MSG } from './vehicle.ts';

export interface SimulatorOptions {
  sysid: number;
  home: { lat: number; lon: number };
  /** Patrol waypoints; a hexagon of `radiusM` around home when omitted. */
  route?: Array<{ lat: number; lon: number }>;
  radiusM?: number;
  speedMps?: number;
  altitudeM?: number;
  rateHz?: number;
  /** Where the ground station listens (its udpin); without it, the first ground station that sends here. */
  gcs?: { host: string; port: number };
  bindHost?: string;
  bindPort?: number;
  /** Battery used per minute of flight, percent. */
  drainPerMinute?: number;
  /** Corrupt every Nth datagram (noise and flipped bits mixed into the stream). */
  corruptEvery?: number;
  /** MAVLink 2 signing: the 32-byte secret key, and the link id this vehicle signs with. */
  signing?: { key: Buffer; linkId?: number };
  /** Heartbeats only every `[min, max]` ms (a random gap), the other streams unchanged. */
  heartbeatGapMs?: [number, number];
  /** MAV_TYPE in the heartbeat (2, quadrotor, by default). */
  vehicleType?: number;
  /** AUTOPILOT_VERSION: flight_sw_version (major<<24|minor<<16|patch<<8|type) and the build's git hash. */
  firmware?: { swVersion: number; build?: string };
  /** Send AUTOPILOT_VERSION unasked this long after start. */
  announceVersionAfterMs?: number;
  /** Answer MAV_CMD_REQUEST_MESSAGE (default true; older autopilots do not know it). */
  answersRequests?: boolean;
}

const M_PER_DEG = 111_320;
const MODE = {
  STABILIZE: 0,
  AUTO: 3,
  GUIDED: 4,
  LOITER: 5,
  RTL: 6,
  LAND: 9,
  POSHOLD: 16,
  BRAKE: 17,
} as const;
const MODE_NAMES = Object.fromEntries(Object.entries(MODE).map(([k, v]) => [v, k])) as Record<number, string>;
const ACCEPTED = 0;
const UNSUPPORTED = 3;

export class MavlinkDroneSimulator {
  private socket: Socket | undefined;
  private readonly protocol: MavLinkProtocolV2;
  private seq = 0;
  private tick = 0;
  private timer: NodeJS.Timeout | undefined;
  private gcs: { address: string; port: number } | undefined;
  private silentUntil = 0;
  private sent = 0;
  readonly route: Array<{ lat: number; lon: number }>;
  private readonly o: Required<
    Omit<
      SimulatorOptions,
      'gcs' | 'route' | 'corruptEvery' | 'signing' | 'heartbeatGapMs' | 'firmware' | 'announceVersionAfterMs'
    >
  > &
    Pick<SimulatorOptions, 'corruptEvery' | 'heartbeatGapMs' | 'firmware' | 'announceVersionAfterMs'>;
  private readonly signing: MavlinkSigning | undefined;
  /** Frames dropped by signing, by reason (with `signing`). */
  readonly refused: Record<SigningRefusal, number> = {
    unsigned: 0,
    bad_signature: 0,
    replayed: 0,
    stale: 0,
  };
  /** Metres east/north of home, and altitude above it. */
  private east = 0;
  private north = 0;
  alt = 0;
  heading = 0;
  battery = 100;
  armed = true;
  mode: number = MODE.AUTO;
  private waypoint = 0;
  private target: { east: number; north: number; alt: number } | undefined;
  private landedAt = 0;
  readonly received = newCounts();
  /** Commands received, by MAV_CMD (for tests); message requests are in `requested`. */
  readonly commands: number[] = [];
  /** Message ids asked for with MAV_CMD_REQUEST_MESSAGE. */
  readonly requested: number[] = [];
  /** Frames sent, and frames among them damaged by `corruptEvery` (for tests). */
  readonly sentFrames = { total: 0, damaged: 0 };
  private nextHeartbeatAt = 0;
  private versionTimer: NodeJS.Timeout | undefined;

  constructor(options: SimulatorOptions) {
    this.o = {
      radiusM: 500,
      speedMps: 12,
      altitudeM: 120,
      rateHz: 10,
      bindHost: '127.0.0.1',
      bindPort: 0,
      drainPerMinute: 1.5,
      vehicleType: 2,
      answersRequests: true,
      ...options,
    };
    this.signing = options.signing
      ? new MavlinkSigning(options.signing.key, options.signing.linkId ?? 0)
      : undefined;
    this.protocol = this.signing
      ? new SignedProtocol(options.sysid, 1)
      : new MavLinkProtocolV2(options.sysid, 1);
    this.gcs = options.gcs ? { address: options.gcs.host, port: options.gcs.port } : undefined;
    this.route =
      options.route ??
      Array.from({ length: 6 }, (_, i) => {
        const a = (i / 6) * 2 * Math.PI;
        return this.toLatLon(this.o.radiusM * Math.sin(a), this.o.radiusM * Math.cos(a));
      });
    // Start in the air on the first leg, as a patrol already under way.
    this.alt = this.o.altitudeM;
    const first = this.fromLatLon(this.route[0] ?? options.home);
    this.east = first.east;
    this.north = first.north;
  }

  /** The UDP port the simulator sends from and listens on. */
  get port(): number {
    return this.socket?.address().port ?? 0;
  }

  get modeName(): string {
    return MODE_NAMES[this.mode] ?? String(this.mode);
  }

  get position(): { lat: number; lon: number } {
    return this.toLatLon(this.east, this.north);
  }

  /** Where it sends to: the ground station it was given or learned. */
  get groundStation(): { address: string; port: number } | undefined {
    return this.gcs;
  }

  async start(): Promise<void> {
    const socket = createSocket('udp4');
    this.socket = socket;
    socket.on('message', (d: Buffer, from: RemoteInfo) => this.onDatagram(d, from));
    socket.on('error', () => {});
    await new Promise<void>((resolve) => socket.bind(this.o.bindPort, this.o.bindHost, () => resolve()));
    this.timer = setInterval(() => this.step(), 1000 / this.o.rateHz);
    if (this.o.announceVersionAfterMs !== undefined)
      this.versionTimer = setTimeout(() => this.send(this.autopilotVersion()), this.o.announceVersionAfterMs);
  }

  stop(): void {
    clearInterval(this.timer);
    clearTimeout(this.versionTimer);
    this.socket?.close();
    this.socket = undefined;
  }

  /** Sends nothing and hears nothing for `ms` (the radio link drops). */
  loseLink(ms: number): void {
    this.silentUntil = Date.now() + ms;
  }

  private toLatLon(east: number, north: number) {
    const { home } = this.o;
    return {
      lat: home.lat + north / M_PER_DEG,
      lon: home.lon + east / (M_PER_DEG * Math.cos((home.lat * Math.PI) / 180)),
    };
  }

  private fromLatLon(p: { lat: number; lon: number }) {
    const { home } = this.o;
    return {
      north: (p.lat - home.lat) * M_PER_DEG,
      east: (p.lon - home.lon) * M_PER_DEG * Math.cos((home.lat * Math.PI) / 180),
    };
  }

  private setMode(mode: number): void {
    if (mode === this.mode) return;
    this.mode = mode;
    this.queue.push(this.statusText(6, `Mode ${this.modeName}`));
  }

  /** Moves toward a point; true when there. */
  private flyTo(east: number, north: number, alt: number, dt: number): boolean {
    const step = this.o.speedMps * dt;
    const de = east - this.east;
    const dn = north - this.north;
    const d = Math.hypot(de, dn);
    this.alt += Math.sign(alt - this.alt) * Math.min(Math.abs(alt - this.alt), 3 * dt);
    if (d <= step) {
      this.east = east;
      this.north = north;
      return Math.abs(alt - this.alt) < 0.5;
    }
    this.east += (de / d) * step;
    this.north += (dn / d) * step;
    this.heading = ((Math.atan2(de, dn) * 180) / Math.PI + 360) % 360;
    return false;
  }

  private fly(dt: number): void {
    switch (this.mode) {
      case MODE.AUTO: {
        const wp = this.route[this.waypoint % this.route.length];
        if (!wp) break;
        const p = this.fromLatLon(wp);
        if (this.flyTo(p.east, p.north, this.o.altitudeM, dt))
          this.waypoint = (this.waypoint + 1) % this.route.length;
        break;
      }
      case MODE.GUIDED:
        if (this.target) this.flyTo(this.target.east, this.target.north, this.target.alt, dt);
        break;
      case MODE.RTL:
        if (this.flyTo(0, 0, Math.max(this.alt, 15), dt)) this.setMode(MODE.LAND);
        break;
      case MODE.LAND:
        this.alt = Math.max(0, this.alt - 1.5 * dt);
        if (this.alt === 0 && this.armed) {
          this.armed = false;
          this.landedAt = Date.now();
          this.queue.push(this.statusText(6, 'Disarming motors'));
        }
        break;
      default:
        break; // LOITER, POSHOLD, BRAKE: hold position
    }
    if (this.armed) this.battery = Math.max(0, this.battery - (this.o.drainPerMinute / 60) * dt);
    else if (this.alt === 0) {
      this.battery = Math.min(100, this.battery + 10 * dt); // a fresh pack
      // Back on patrol after a short stop on the ground (the demo never ends).
      if (this.battery >= 99 && Date.now() - this.landedAt > 15_000) {
        this.armed = true;
        this.setMode(MODE.AUTO);
      }
    }
    if (this.armed && this.battery < 15 && this.mode === MODE.AUTO) {
      this.queue.push(this.statusText(2, 'Battery failsafe: returning home'));
      this.setMode(MODE.RTL);
    }
  }

  private queue: MavLinkData[] = [];

  private step(): void {
    const dt = 1 / this.o.rateHz;
    this.fly(dt);
    this.tick += 1;
    const messages = [...this.queue, this.position_(), this.attitude()];
    this.queue = [];
    if (this.tick % 2 === 0) messages.push(this.vfrHud(), this.gpsRaw());
    if (this.tick % this.o.rateHz === 0 || this.tick === 1) {
      messages.push(this.sysStatus(), this.batteryStatus());
      if (this.heartbeatDue()) messages.push(this.heartbeat());
    }
    if (this.tick % (10 * this.o.rateHz) === 1) messages.push(this.homePosition());
    this.sendAll(messages);
  }

  /** Every second, or after a random gap with `heartbeatGapMs`. */
  private heartbeatDue(): boolean {
    const gap = this.o.heartbeatGapMs;
    if (!gap) return true;
    const now = Date.now();
    if (now < this.nextHeartbeatAt) return false;
    this.nextHeartbeatAt = now + gap[0] + Math.random() * (gap[1] - gap[0]);
    return true;
  }

  private sendAll(messages: MavLinkData[]): void {
    if (!this.socket || !this.gcs || Date.now() < this.silentUntil) return;
    const frames = messages.map((m) => this.serialize(m));
    let bytes: Buffer = Buffer.concat(frames);
    this.sent += 1;
    this.sentFrames.total += frames.length;
    if (this.o.corruptEvery && this.sent % this.o.corruptEvery === 0) {
      bytes = corrupt(bytes, this.sent);
      this.sentFrames.damaged += 1; // the one frame holding the flipped bit
    }
    this.socket.send(bytes, this.gcs.port, this.gcs.address);
  }

  private serialize(m: MavLinkData): Buffer {
    const b = this.signing
      ? this.signing.serialize(this.protocol, m, this.seq)
      : this.protocol.serialize(m, this.seq);
    this.seq = (this.seq + 1) % 256;
    return b;
  }

  private onDatagram(datagram: Buffer, from: RemoteInfo): void {
    if (Date.now() < this.silentUntil) return;
    for (const frame of framesIn(datagram, this.received)) {
      const refusal = this.signing?.check(frame);
      if (refusal) {
        this.refused[refusal] += 1;
        continue;
      }
      // The ground station is wherever (accepted) ground-station frames come from.
      this.gcs = { address: from.address, port: from.port };
      const d = decode(frame) as Record<string, number> | undefined;
      if (!d) continue;
      if ((frame.msgid === 76 || frame.msgid === 75) && Number(d.targetSystem) === this.o.sysid)
        this.onCommand(frame.msgid, d);
      else if (frame.msgid === 43 && Number(d.targetSystem) === this.o.sysid) this.send(this.missionCount());
      else if (frame.msgid === MSG.MISSION_REQUEST_INT && Number(d.targetSystem) === this.o.sysid) {
        const item = this.missionItem(Number(d.seq));
        if (item) this.send(item);
      }
    }
  }

  private send(m: MavLinkData): void {
    this.sendAll([m]);
  }

  private onCommand(msgid: number, d: Record<string, number>): void {
    const command = Number(d.command);
    if (command === 512) {
      this.onRequestMessage(Number(d._param1));
      return;
    }
    this.commands.push(command);
    let result = ACCEPTED;
    switch (command) {
      case 20: // NAV_RETURN_TO_LAUNCH
        this.setMode(MODE.RTL);
        break;
      case 21: // NAV_LAND
        this.setMode(MODE.LAND);
        break;
      case 176: {
        // DO_SET_MODE: param2 is the custom mode
        const mode = Math.round(Number(d._param2));
        if (MODE_NAMES[mode] === undefined) result = UNSUPPORTED;
        else {
          if (mode === MODE.GUIDED && !this.target)
            this.target = { east: this.east, north: this.north, alt: this.alt };
          this.setMode(mode);
        }
        break;
      }
      case 192: {
        // DO_REPOSITION (COMMAND_INT: x/y in 1e7 degrees, z metres above home)
        if (msgid !== 75) {
          result = UNSUPPORTED;
          break;
        }
        const p = this.fromLatLon({ lat: Number(d._param5) / 1e7, lon: Number(d._param6) / 1e7 });
        this.target = { east: p.east, north: p.north, alt: Number(d._param7) };
        this.setMode(MODE.GUIDED);
        break;
      }
      default:
        result = UNSUPPORTED;
    }
    this.acknowledge(command, result);
  }

  private acknowledge(command: number, result: number): void {
    const ack = new common.CommandAck();
    ack.command = command as never;
    ack.result = result as never;
    ack.progress = 0;
    ack.resultParam2 = 0;
    ack.targetSystem = 255;
    ack.targetComponent = 190;
    this.send(ack);
  }

  /** MAV_CMD_REQUEST_MESSAGE: the message, then the acknowledgement. */
  private onRequestMessage(msgid: number): void {
    this.requested.push(msgid);
    if (!this.o.answersRequests) {
      this.acknowledge(512, UNSUPPORTED);
      return;
    }
    const message =
      msgid === MSG.AUTOPILOT_VERSION
        ? this.autopilotVersion()
        : msgid === MSG.HOME_POSITION
          ? this.homePosition()
          : undefined;
    if (message) this.send(message);
    this.acknowledge(512, message ? ACCEPTED : UNSUPPORTED);
  }

  private autopilotVersion(): MavLinkData {
    const m = new standard.AutopilotVersion();
    const fw = this.o.firmware ?? { swVersion: 0x04050700 | 255, build: '1a2b3c4d' };
    m.capabilities = 0n as never;
    m.flightSwVersion = fw.swVersion;
    m.middlewareSwVersion = 0;
    m.osSwVersion = 0;
    m.boardVersion = 0;
    const build = Buffer.alloc(8);
    build.write((fw.build ?? '').slice(0, 8), 'latin1');
    m.flightCustomVersion = [...build];
    m.middlewareCustomVersion = [0, 0, 0, 0, 0, 0, 0, 0];
    m.osCustomVersion = [0, 0, 0, 0, 0, 0, 0, 0];
    m.vendorId = 0;
    m.productId = 0;
    m.uid = 0n;
    return m;
  }

  private heartbeat(): MavLinkData {
    const hb = new minimal.Heartbeat();
    hb.type = this.o.vehicleType as never; // MAV_TYPE_QUADROTOR unless told
    hb.autopilot = 3 as never; // MAV_AUTOPILOT_ARDUPILOTMEGA
    hb.baseMode = (1 | (this.armed ? 128 : 0)) as never; // custom mode enabled, armed
    hb.customMode = this.mode;
    hb.systemStatus = (this.armed ? 4 : 3) as never; // ACTIVE / STANDBY
    hb.mavlinkVersion = 3;
    return hb;
  }

  private position_(): MavLinkData {
    const m = new common.GlobalPositionInt();
    const p = this.position;
    const rad = (this.heading * Math.PI) / 180;
    const speed = this.mode === MODE.LAND || this.mode === MODE.LOITER || !this.armed ? 0 : this.o.speedMps;
    m.timeBootMs = (this.tick * 1000) / this.o.rateHz;
    m.lat = Math.round(p.lat * 1e7);
    m.lon = Math.round(p.lon * 1e7);
    m.alt = Math.round((this.alt + 30) * 1000); // AMSL: home at 30 m
    m.relativeAlt = Math.round(this.alt * 1000);
    m.vx = Math.round(speed * Math.cos(rad) * 100);
    m.vy = Math.round(speed * Math.sin(rad) * 100);
    m.vz = 0;
    m.hdg = Math.round(this.heading * 100);
    return m;
  }

  private attitude(): MavLinkData {
    const m = new common.Attitude();
    m.timeBootMs = (this.tick * 1000) / this.o.rateHz;
    m.roll = 0;
    m.pitch = this.mode === MODE.AUTO ? -0.05 : 0;
    m.yaw = (this.heading * Math.PI) / 180;
    m.rollspeed = 0;
    m.pitchspeed = 0;
    m.yawspeed = 0;
    return m;
  }

  private vfrHud(): MavLinkData {
    const m = new common.VfrHud();
    m.airspeed = this.armed ? this.o.speedMps : 0;
    m.groundspeed = this.armed && this.mode !== MODE.LOITER ? this.o.speedMps : 0;
    m.heading = Math.round(this.heading);
    m.throttle = this.armed ? 50 : 0;
    m.alt = this.alt;
    m.climb = 0;
    return m;
  }

  private gpsRaw(): MavLinkData {
    const m = new common.GpsRawInt();
    const p = this.position;
    m.timeUsec = BigInt(Date.now()) * 1000n;
    m.fixType = 3 as never; // 3D fix
    m.lat = Math.round(p.lat * 1e7);
    m.lon = Math.round(p.lon * 1e7);
    m.alt = Math.round((this.alt + 30) * 1000);
    m.eph = 80;
    m.epv = 120;
    m.vel = Math.round(this.o.speedMps * 100);
    m.cog = Math.round(this.heading * 100);
    m.satellitesVisible = 14;
    return m;
  }

  private sysStatus(): MavLinkData {
    const m = new common.SysStatus();
    m.voltageBattery = Math.round((14.0 + 2.8 * (this.battery / 100)) * 1000);
    m.currentBattery = this.armed ? 1500 : 0;
    m.batteryRemaining = Math.round(this.battery);
    m.load = 200;
    return m;
  }

  private batteryStatus(): MavLinkData {
    const m = new common.BatteryStatus();
    m.id = 0;
    m.batteryRemaining = Math.round(this.battery);
    m.voltages = [4200, 4200, 4200, 4200, 65535, 65535, 65535, 65535, 65535, 65535];
    m.currentBattery = this.armed ? 1500 : 0;
    m.temperature = 3000;
    return m;
  }

  private homePosition(): MavLinkData {
    const m = new common.HomePosition();
    m.latitude = Math.round(this.o.home.lat * 1e7);
    m.longitude = Math.round(this.o.home.lon * 1e7);
    m.altitude = 30_000;
    m.q = [1, 0, 0, 0];
    return m;
  }

  private statusText(severity: number, text: string): MavLinkData {
    const m = new common.StatusText();
    m.severity = severity as never;
    m.text = text;
    return m;
  }

  private missionCount(): MavLinkData {
    const m = new common.MissionCount();
    m.targetSystem = 255;
    m.targetComponent = 190;
    m.count = this.route.length;
    m.missionType = 0 as never;
    return m;
  }

  private missionItem(seq: number): MavLinkData | undefined {
    const wp = this.route[seq];
    if (!wp) return undefined;
    const m = new common.MissionItemInt();
    m.targetSystem = 255;
    m.targetComponent = 190;
    m.seq = seq;
    m.frame = 6 as never; // GLOBAL_RELATIVE_ALT_INT
    m.command = 16 as never; // NAV_WAYPOINT
    m.current = seq === this.waypoint ? 1 : 0;
    m.autocontinue = 1;
    m.x = Math.round(wp.lat * 1e7);
    m.y = Math.round(wp.lon * 1e7);
    m.z = this.o.altitudeM;
    m.missionType = 0 as never;
    return m;
  }
}

/** Mixes noise into a datagram: random bytes in front, and one flipped bit in the middle. */
function corrupt(bytes: Buffer, n: number): Buffer {
  const noise = Buffer.from([0x00, 0x13, n & 0xff, 0xfe, 0x03, 0xfd]);
  const copy = Buffer.from(bytes);
  const i = Math.floor(copy.length / 2);
  copy[i] = (copy[i] as number) ^ 0x10;
  return Buffer.concat([noise, copy]);
}
