/**
 * The message→device direction: a catalog action becomes a MAVLink command. Each is answered by
 * COMMAND_ACK (matched by command id from the vehicle), which the adapter waits for.
 *
 * - drone.rtl  → COMMAND_LONG MAV_CMD_NAV_RETURN_TO_LAUNCH
 * - drone.land → COMMAND_LONG MAV_CMD_NAV_LAND (here, at the current position)
 * - drone.hold → COMMAND_LONG MAV_CMD_DO_SET_MODE to the autopilot's position-hold mode
 * - drone.goto → COMMAND_INT MAV_CMD_DO_REPOSITION (lat/lon in 1e7 degrees, altitude above home),
 *                switching to guided mode as needed
 * - drone.mode → COMMAND_LONG MAV_CMD_DO_SET_MODE with the custom mode for the name
 */

import type { GotoParams } from '@qianliyan/protocols';
import { common, type MavLinkData } from 'node-mavlink';
import { CommandFailure } from '../types.ts';
import { holdMode, modeNumber } from './modes.ts';

export const MAV_CMD = {
  NAV_RETURN_TO_LAUNCH: 20,
  NAV_LAND: 21,
  DO_SET_MODE: 176,
  DO_REPOSITION: 192,
  REQUEST_MESSAGE: 512,
} as const;

const MAV_MODE_FLAG_CUSTOM_MODE_ENABLED = 1;
const MAV_FRAME_GLOBAL_RELATIVE_ALT_INT = 6;
const MAV_DO_REPOSITION_FLAGS_CHANGE_MODE = 1;

export const MAV_RESULT: Record<number, string> = {
  0: 'ACCEPTED',
  1: 'TEMPORARILY_REJECTED',
  2: 'DENIED',
  3: 'UNSUPPORTED',
  4: 'FAILED',
  5: 'IN_PROGRESS',
  6: 'CANCELLED',
};

export interface Target {
  sysid: number;
  compid: number;
  autopilot: number | null;
  vehicleType: number | null;
}

export interface MavCommand {
  message: MavLinkData;
  command: number;
}

function long(target: Target, command: number, params: number[] = []): MavCommand {
  const m = new common.CommandLong();
  m.targetSystem = target.sysid;
  m.targetComponent = target.compid;
  m.command = command as never;
  m.confirmation = 0;
  const p = [...params, 0, 0, 0, 0, 0, 0, 0];
  [m._param1, m._param2, m._param3, m._param4, m._param5, m._param6, m._param7] = p as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  return { message: m, command };
}

function setMode(target: Target, name: string): MavCommand {
  if (target.autopilot === null || target.vehicleType === null)
    throw new CommandFailure(
      'EDGE_ERR_NO_VEHICLE',
      'no heartbeat from the vehicle yet: its autopilot is unknown',
    );
  const numbers = modeNumber(target.autopilot, target.vehicleType, name);
  if (!numbers) throw new CommandFailure('EDGE_ERR_UNSUPPORTED', `this autopilot has no mode ${name}`);
  return long(target, MAV_CMD.DO_SET_MODE, [MAV_MODE_FLAG_CUSTOM_MODE_ENABLED, numbers[0], numbers[1]]);
}

/**
 * MAV_CMD_REQUEST_MESSAGE for one message id: ArduPilot sends AUTOPILOT_VERSION and HOME_POSITION
 * only when asked (or when home changes), so a ground station that joins a flight asks for them.
 */
export function requestMessage(target: Target, msgid: number): MavCommand {
  return long(target, MAV_CMD.REQUEST_MESSAGE, [msgid]);
}

export const TO_MAVLINK: Record<string, (target: Target, params: Record<string, unknown>) => MavCommand> = {
  'drone.rtl': (t) => long(t, MAV_CMD.NAV_RETURN_TO_LAUNCH),
  'drone.land': (t) => long(t, MAV_CMD.NAV_LAND),
  'drone.hold': (t) => setMode(t, holdMode(t.autopilot ?? 0, t.vehicleType ?? 0)),
  'drone.mode': (t, p) => setMode(t, String(p.mode)),
  'drone.goto': (t, params) => {
    const p = params as GotoParams;
    const m = new common.CommandInt();
    m.targetSystem = t.sysid;
    m.targetComponent = t.compid;
    m.frame = MAV_FRAME_GLOBAL_RELATIVE_ALT_INT as never;
    m.command = MAV_CMD.DO_REPOSITION as never;
    m.current = 0;
    m.autocontinue = 0;
    m._param1 = -1; // default ground speed
    m._param2 = MAV_DO_REPOSITION_FLAGS_CHANGE_MODE;
    m._param3 = 0;
    m._param4 = Number.NaN; // keep the current yaw
    m._param5 = Math.round(p.lat * 1e7);
    m._param6 = Math.round(p.lon * 1e7);
    m._param7 = p.alt;
    return { message: m, command: MAV_CMD.DO_REPOSITION };
  },
};
