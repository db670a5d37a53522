/**
 * One vehicle's state, built from MAVLink frames at full rate: the device→message converters, one
 * small function per message. Pure (no I/O, no timers): the adapter feeds it live frames, the tests
 * feed it recorded flight logs, and both see the same state and events.
 *
 * Identity: a vehicle is a system id whose autopilot component sends HEARTBEAT with a real autopilot
 * (not MAV_AUTOPILOT_INVALID) and is not a ground station; other components of the same system (a
 * camera, a companion computer) do not change its mode or armed state, and other systems (the ground
 * station, a telemetry radio) are not vehicles at all.
 */
import {
  ardupilotmega,
  common,
  type MavLinkData,
  type MavLinkDataConstructor,
  type MavLinkPacketRegistry,
  MavLinkProtocolV2,
  minimal,
  standard,
} from 'node-mavlink';
import type { Frame } from './framing.ts';
import { modeName } from './modes.ts';

const REGISTRY: MavLinkPacketRegistry = {
  ...minimal.REGISTRY,
  ...standard.REGISTRY,
  ...common.REGISTRY,
  ...ardupilotmega.REGISTRY,
};
const decoder = new MavLinkProtocolV2();

/** A frame's fields, or undefined for a message this build has no definition for. */
export function decode(frame: Frame): (MavLinkData & Record<string, unknown>) | undefined {
  const clazz = REGISTRY[frame.msgid] as MavLinkDataConstructor<MavLinkData> | undefined;
  return clazz ? (decoder.data(frame.payload, clazz) as MavLinkData & Record<string, unknown>) : undefined;
}

export const MSG = {
  HEARTBEAT: 0,
  SYS_STATUS: 1,
  GPS_RAW_INT: 24,
  ATTITUDE: 30,
  GLOBAL_POSITION_INT: 33,
  MISSION_ITEM_INT: 73,
  VFR_HUD: 74,
  COMMAND_ACK: 77,
  MISSION_COUNT: 44,
  MISSION_ACK: 47,
  MISSION_REQUEST_INT: 51,
  BATTERY_STATUS: 147,
  AUTOPILOT_VERSION: 148,
  HOME_POSITION: 242,
  STATUSTEXT: 253,
} as const;

const MAV_AUTOPILOT_INVALID = 8;
const NOT_VEHICLES = new Set([6, 18, 26, 27, 30, 31]); // GCS, onboard controller, gimbal, ADS-B, camera, charging station
const MAV_MODE_FLAG_SAFETY_ARMED = 128;
const MAV_AUTOPILOT_NAMES: Record<number, string> = { 3: 'ArduPilot', 12: 'PX4' };

/** MAV_TYPE as a person names the airframe; every VTOL type (19–25, e.g. an ArduPlane QuadPlane) is a VTOL. */
const MAV_TYPE_NAMES: Record<number, string> = {
  1: 'fixed wing',
  2: 'quadrotor',
  3: 'coaxial helicopter',
  4: 'helicopter',
  7: 'airship',
  10: 'ground rover',
  11: 'boat',
  12: 'submarine',
  13: 'hexarotor',
  14: 'octorotor',
  15: 'tricopter',
  16: 'flapping wing',
  19: 'VTOL',
  20: 'VTOL',
  21: 'VTOL',
  22: 'VTOL',
  23: 'VTOL',
  24: 'VTOL',
  25: 'VTOL',
  29: 'dodecarotor',
  35: 'decarotor',
};

/**
 * FIRMWARE_VERSION_TYPE, the low byte of AUTOPILOT_VERSION.flight_sw_version: a build that is not
 * an official release says so (`3.10.0-dev`, `4.1.1-beta`); keeping only major.minor.patch made a
 * development build look like the release.
 */
function versionType(byte: number): string {
  if (byte === 255) return '';
  if (byte >= 192) return '-rc';
  if (byte >= 128) return '-beta';
  if (byte >= 64) return '-alpha';
  return '-dev';
}

/** flight_sw_version as `major.minor.patch[-type]`. */
export function softwareVersion(sw: number): string {
  return `${(sw >>> 24) & 0xff}.${(sw >>> 16) & 0xff}.${(sw >>> 8) & 0xff}${versionType(sw & 0xff)}`;
}

/** flight_custom_version (commonly the git hash's first 8 characters) when it is printable text. */
export function customVersion(bytes: unknown): string | null {
  if (!Array.isArray(bytes) && !(bytes instanceof Uint8Array)) return null;
  const text = Buffer.from(bytes as number[])
    .toString('latin1')
    .replace(/\0+$/, '');
  return /^[0-9A-Za-z._-]{4,8}$/.test(text) ? text : null;
}
/** Points closer than this to the last kept one are GPS jitter, not movement (DroneKit's rule). */
const TRACK_MIN_STEP_M = 3;

export type VehicleEvent =
  | { type: 'armed' | 'disarmed'; severity: 'info'; data: { mode: string } }
  | { type: 'mode.changed'; severity: 'info'; data: { from: string | null; to: string } }
  | {
      type: 'statustext';
      severity: 'info' | 'warning' | 'alarm' | 'critical';
      data: { text: string; level: number };
    }
  | { type: 'battery.low' | 'battery.critical'; severity: 'warning' | 'critical'; data: { battery: number } };

export interface TrackPoint {
  lat: number;
  lon: number;
}

export class VehicleState {
  autopilot: number | null = null;
  vehicleType: number | null = null;
  autopilotCompid: number | null = null;
  armed = false;
  mode: string | null = null;
  lastHeartbeatAt: number | null = null;
  lat: number | null = null;
  lon: number | null = null;
  /** Metres above home (GLOBAL_POSITION_INT.relative_alt). */
  relAlt: number | null = null;
  heading: number | null = null;
  groundSpeed: number | null = null;
  climb: number | null = null;
  gpsFix = 0;
  satellites: number | null = null;
  battery: number | null = null;
  voltage: number | null = null;
  roll: number | null = null;
  pitch: number | null = null;
  /** The autopilot's version, `major.minor.patch[-dev|-alpha|-beta|-rc]` (AUTOPILOT_VERSION). */
  software: string | null = null;
  /** Its build (flight_custom_version, a git hash) when it sent a readable one. */
  softwareBuild: string | null = null;
  /** Where it returns to (HOME_POSITION), altitude in metres above mean sea level. */
  home: (TrackPoint & { alt: number }) | null = null;
  /** Jitter-filtered track and the distance along it. */
  readonly track: TrackPoint[] = [];
  distanceM = 0;
  /** Accumulated over the vehicle's life, for diagnostics and the replay tests. */
  readonly stats = {
    frames: 0,
    positionsWithFix: 0,
    maxRelAlt: Number.NEGATIVE_INFINITY,
    minRelAlt: Number.POSITIVE_INFINITY,
    modes: [] as string[],
    arms: 0,
    disarms: 0,
    statustexts: 0,
    bestFix: 0,
    maxSatellites: 0,
  };
  /** Link quality from MAVLink sequence numbers: frames received vs missing, decaying. */
  private received = 0;
  private missing = 0;
  private readonly lastSeq = new Map<number, number>();
  private batteryAlarm: 'none' | 'low' | 'critical' = 'none';

  constructor(readonly sysid: number) {}

  /** Whether this system's HEARTBEAT from this component makes it a vehicle. */
  static isVehicleHeartbeat(hb: { autopilot: number; type: number }): boolean {
    return hb.autopilot !== MAV_AUTOPILOT_INVALID && !NOT_VEHICLES.has(hb.type);
  }

  get linkQuality(): number {
    const total = this.received + this.missing;
    return total === 0 ? 1 : this.received / total;
  }

  get hasFix(): boolean {
    return this.lat !== null && this.lon !== null;
  }

  /** The airframe (MAV_TYPE) as a person names it, or null before the first heartbeat. */
  get vehicleTypeName(): string | null {
    return this.vehicleType === null ? null : (MAV_TYPE_NAMES[this.vehicleType] ?? 'vehicle');
  }

  /** What the map and the panel call it: autopilot, airframe and version (`ArduPilot VTOL 4.5.1`). */
  get description(): string {
    return [this.autopilotName ?? 'MAVLink', this.vehicleTypeName ?? 'vehicle', this.software]
      .filter(Boolean)
      .join(' ');
  }

  /** The firmware as the descriptor carries it: version and build (`4.1.1-beta (66c674c1)`). */
  get firmware(): string | null {
    if (!this.software) return null;
    return this.softwareBuild ? `${this.software} (${this.softwareBuild})` : this.software;
  }

  get autopilotName(): string | null {
    return this.autopilot === null
      ? null
      : (MAV_AUTOPILOT_NAMES[this.autopilot] ?? `autopilot ${this.autopilot}`);
  }

  /** Applies one frame of this system (its `sysid` already matched); `now` in ms. */
  apply(frame: Frame, now: number): VehicleEvent[] {
    this.stats.frames += 1;
    this.countSequence(frame);
    const data = decode(frame);
    if (!data) return [];
    const convert = FROM_MAVLINK[frame.msgid];
    return convert ? convert(this, data, frame, now) : [];
  }

  private countSequence(frame: Frame): void {
    const last = this.lastSeq.get(frame.compid);
    if (last !== undefined) this.missing += (frame.seq - last - 1 + 256) % 256;
    this.lastSeq.set(frame.compid, frame.seq);
    this.received += 1;
    // Decay, so the figure describes the last few hundred frames rather than the whole flight.
    if (this.received + this.missing > 500) {
      this.received *= 0.5;
      this.missing *= 0.5;
    }
  }

  /** Records a position; returns whether it moved the track (beyond GPS jitter). */
  notePosition(lat: number, lon: number): boolean {
    this.lat = lat;
    this.lon = lon;
    this.stats.positionsWithFix += 1;
    const last = this.track.at(-1);
    if (!last) {
      this.track.push({ lat, lon });
      return true;
    }
    const step = metresBetween(last, { lat, lon });
    if (step <= TRACK_MIN_STEP_M) return false;
    this.distanceM += step;
    this.track.push({ lat, lon });
    if (this.track.length > 5000) this.track.shift();
    return true;
  }

  noteBattery(percent: number): VehicleEvent[] {
    this.battery = percent;
    const level = percent <= 15 ? 'critical' : percent <= 25 ? 'low' : 'none';
    const rank = { none: 0, low: 1, critical: 2 } as const;
    const before = this.batteryAlarm;
    this.batteryAlarm = level;
    if (rank[level] <= rank[before]) return [];
    return level === 'critical'
      ? [{ type: 'battery.critical', severity: 'critical', data: { battery: percent } }]
      : [{ type: 'battery.low', severity: 'warning', data: { battery: percent } }];
  }
}

type Converter = (
  v: VehicleState,
  d: MavLinkData & Record<string, unknown>,
  f: Frame,
  now: number,
) => VehicleEvent[];
const num = (d: Record<string, unknown>, field: string) => Number(d[field]);

/** The device→message direction: one converter per MAVLink message the hub cares about. */
const FROM_MAVLINK: Record<number, Converter> = {
  [MSG.HEARTBEAT]: (v, d, f, now) => {
    const hb = { autopilot: num(d, 'autopilot'), type: num(d, 'type') };
    if (!VehicleState.isVehicleHeartbeat(hb)) return [];
    if (v.autopilotCompid === null) v.autopilotCompid = f.compid;
    if (v.autopilotCompid !== f.compid) return [];
    v.autopilot = hb.autopilot;
    v.vehicleType = hb.type;
    v.lastHeartbeatAt = now;
    const events: VehicleEvent[] = [];
    const mode = modeName(hb.autopilot, hb.type, num(d, 'customMode'));
    const armed = (num(d, 'baseMode') & MAV_MODE_FLAG_SAFETY_ARMED) !== 0;
    if (mode !== v.mode) {
      events.push({ type: 'mode.changed', severity: 'info', data: { from: v.mode, to: mode } });
      v.stats.modes.push(mode);
      v.mode = mode;
    }
    if (armed !== v.armed) {
      v.armed = armed;
      if (armed) v.stats.arms += 1;
      else v.stats.disarms += 1;
      events.push({ type: armed ? 'armed' : 'disarmed', severity: 'info', data: { mode } });
    }
    return events;
  },
  [MSG.GLOBAL_POSITION_INT]: (v, d) => {
    const lat = num(d, 'lat') / 1e7;
    const lon = num(d, 'lon') / 1e7;
    // 0,0 is what autopilots send before their first fix: "no position", never a point in the sea.
    if (lat === 0 && lon === 0) return [];
    const relAlt = num(d, 'relativeAlt') / 1000;
    v.relAlt = relAlt;
    v.stats.maxRelAlt = Math.max(v.stats.maxRelAlt, relAlt);
    v.stats.minRelAlt = Math.min(v.stats.minRelAlt, relAlt);
    const hdg = num(d, 'hdg');
    if (hdg !== 65535) v.heading = hdg / 100;
    v.groundSpeed = Math.hypot(num(d, 'vx'), num(d, 'vy')) / 100;
    v.notePosition(lat, lon);
    return [];
  },
  [MSG.GPS_RAW_INT]: (v, d) => {
    v.gpsFix = num(d, 'fixType');
    const sats = num(d, 'satellitesVisible');
    v.satellites = sats === 255 ? null : sats;
    v.stats.bestFix = Math.max(v.stats.bestFix, v.gpsFix);
    if (v.satellites !== null) v.stats.maxSatellites = Math.max(v.stats.maxSatellites, v.satellites);
    return [];
  },
  [MSG.SYS_STATUS]: (v, d) => {
    const mv = num(d, 'voltageBattery');
    if (mv !== 65535 && mv > 0) v.voltage = mv / 1000;
    const remaining = num(d, 'batteryRemaining');
    return remaining >= 0 && remaining <= 100 ? v.noteBattery(remaining) : []; // -1: unknown
  },
  [MSG.BATTERY_STATUS]: (v, d) => {
    const remaining = num(d, 'batteryRemaining');
    return remaining >= 0 && remaining <= 100 ? v.noteBattery(remaining) : [];
  },
  [MSG.VFR_HUD]: (v, d) => {
    v.groundSpeed = num(d, 'groundspeed');
    v.climb = num(d, 'climb');
    if (v.heading === null) v.heading = num(d, 'heading');
    return [];
  },
  [MSG.ATTITUDE]: (v, d) => {
    v.roll = (num(d, 'roll') * 180) / Math.PI;
    v.pitch = (num(d, 'pitch') * 180) / Math.PI;
    return [];
  },
  [MSG.HOME_POSITION]: (v, d, f) => {
    // Only the autopilot's own (a camera or companion may relay another idea of home).
    if (v.autopilotCompid !== null && f.compid !== v.autopilotCompid) return [];
    const lat = num(d, 'latitude') / 1e7;
    const lon = num(d, 'longitude') / 1e7;
    // Before home is set autopilots send zeros: no home rather than a point in the sea.
    if ((lat === 0 && lon === 0) || Math.abs(lat) > 90 || Math.abs(lon) > 180) return [];
    v.home = { lat, lon, alt: num(d, 'altitude') / 1000 };
    return [];
  },
  [MSG.AUTOPILOT_VERSION]: (v, d, f) => {
    if (v.autopilotCompid !== null && f.compid !== v.autopilotCompid) return [];
    const sw = num(d, 'flightSwVersion');
    if (!Number.isFinite(sw) || sw === 0) return [];
    v.software = softwareVersion(sw);
    v.softwareBuild = customVersion(d.flightCustomVersion);
    return [];
  },
  [MSG.STATUSTEXT]: (v, d) => {
    const level = num(d, 'severity');
    const text = String(d.text ?? '')
      .replace(/\0+$/, '')
      .slice(0, 200);
    v.stats.statustexts += 1;
    const severity = level <= 2 ? 'critical' : level === 3 ? 'alarm' : level === 4 ? 'warning' : 'info';
    return [{ type: 'statustext', severity, data: { text, level } }];
  },
};

const EARTH_RADIUS_M = 6_371_000;
/** Great-circle distance (haversine). */
export function metresBetween(a: TrackPoint, b: TrackPoint): number {
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLon = (b.lon - a.lon) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_RADIUS_M * Math.asin(Math.sqrt(h));
}

/**
 * Every system seen on a link, each with its state from its first frame; the vehicles among them
 * are those confirmed by an autopilot HEARTBEAT (positions sent before it still count).
 */
export class VehicleTracker {
  private readonly systems = new Map<number, VehicleState>();

  apply(frame: Frame, now: number): { vehicle: VehicleState; events: VehicleEvent[] } {
    let state = this.systems.get(frame.sysid);
    if (!state) {
      state = new VehicleState(frame.sysid);
      this.systems.set(frame.sysid, state);
    }
    return { vehicle: state, events: state.apply(frame, now) };
  }

  /** Systems that are vehicles (an autopilot heartbeat seen), by system id. */
  vehicles(): VehicleState[] {
    return [...this.systems.values()].filter((s) => s.autopilot !== null).sort((a, b) => a.sysid - b.sysid);
  }
}
